// SPDX-License-Identifier: GPL-2.0

//! `testdev-b`: the alternative implementation of the guarded test device.
//!
//! Design, deliberately different from `testdev-a`: configuration is kept in a small
//! table (one slot per key, so unknown keys are refused by bounds, not by a match) in
//! the driver's state behind the instance lock, and a request is answered by folding the
//! whole table into the argument while holding that lock. Same results for the same configuration, so a swap between the two is
//! invisible to callers.

use crate::driver_lock::DriverLock;
use kernel::prelude::*;

#[path = "../ndriver/abi.rs"]
mod abi;
#[path = "../wrappers/callouts_api.rs"]
mod callouts_api;
#[path = "../wrappers/driver_dev.rs"]
mod driver_dev;
#[path = "../wrappers/driver_lock.rs"]
mod driver_lock;
#[path = "../wrappers/testdev_driver.rs"]
mod testdev_driver;
#[path = "testdev_hw.rs"]
mod testdev_hw;

use abi::TestdevEntry as E;
use testdev_driver::{Dev, TestdevDriver};
use testdev_hw::Hw;

/// Configuration keys this implementation knows.
const NR_KEYS: usize = 1;

struct TestdevB {
    hw: Option<Hw>,
}

/// What the instance changes while it runs, behind its lock.
#[derive(Default)]
struct Table {
    /// The value of each configuration key.
    values: [u64; NR_KEYS],
    /// Requests served.
    served: u64,
}

#[vtable]
impl TestdevDriver for TestdevB {
    const PCI_IDS: &'static [abi::PciId] = testdev_hw::PCI_IDS;

    type State = Table;

    fn probe(dev: &Dev, _table: &DriverLock<Table>) -> Result<Self> {
        pr_info!("testdev-b: probed, generation {}\n", dev.generation());
        Ok(Self {
            hw: Hw::probe(dev)?,
        })
    }

    fn configure(&self, _dev: &Dev, table: &DriverLock<Table>, key: u32, value: u64) -> Result {
        *table.lock().values.get_mut(key as usize).ok_or(EINVAL)? = value;
        Ok(())
    }

    fn request(&self, _dev: &Dev, table: &DriverLock<Table>, entry: E, arg: u64) -> Result<i64> {
        if let (E::Op, Some(hw)) = (entry, self.hw.as_ref()) {
            hw.kick();
        }
        let mut table = table.lock();
        let r = table.values.iter().fold(arg, |acc, v| acc.wrapping_add(*v));
        table.served += 1;
        Ok(r as i64)
    }

    fn devirq(&self, _dev: &Dev, _table: &DriverLock<Table>, _irq: u64) -> Result<bool> {
        Ok(self.hw.as_ref().is_some_and(Hw::interrupt))
    }

    fn timer(&self, _dev: &Dev, _table: &DriverLock<Table>, _cookie: u64) -> Result {
        if let Some(hw) = self.hw.as_ref() {
            hw.timer_expired();
        }
        Ok(())
    }

    fn work(&self, _dev: &Dev, _table: &DriverLock<Table>, _cookie: u64) -> Result {
        self.hw.as_ref().map_or(Ok(()), Hw::work_ran)
    }

    fn remove(&self, _dev: &Dev, table: &DriverLock<Table>) {
        testdev_hw::on_remove(self.hw.as_ref(), "testdev-b");
        // Read under the lock, printed outside it: printk is no work for a spinlock.
        let served = table.lock().served;
        pr_info!("testdev-b: removed after {served} requests\n");
    }
}

testdev_driver::testdev_implementation! {
    type: TestdevB,
    name: c"testdev-b",
    module: "ndriver_testdev_b",
    description: "ndriver test device, implementation B",
}
