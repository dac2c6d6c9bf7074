// SPDX-License-Identifier: GPL-2.0

//! `testdev-b`: the alternative implementation of the guarded test device.
//!
//! Design, deliberately different from `testdev-a`: configuration is kept in a small
//! table (one slot per key, so unknown keys are refused by bounds, not by a match), and
//! a request is answered by folding the whole table into the argument while holding the
//! instance lock. Same results for the same configuration, so a swap between the two is
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
use core::sync::atomic::{AtomicU64, Ordering};
use testdev_driver::{Dev, TestdevDriver};
use testdev_hw::Hw;

/// Configuration keys this implementation knows.
const NR_KEYS: usize = 1;

struct TestdevB {
    table: [AtomicU64; NR_KEYS],
    hw: Option<Hw>,
}

impl TestdevDriver for TestdevB {
    const PCI_IDS: &'static [abi::PciId] = testdev_hw::PCI_IDS;

    fn probe(dev: &Dev, _lock: &DriverLock<u64>) -> Result<Self> {
        pr_info!("testdev-b: probed, generation {}\n", dev.generation());
        Ok(Self {
            table: [const { AtomicU64::new(0) }; NR_KEYS],
            hw: Hw::probe(dev)?,
        })
    }

    fn configure(&self, _dev: &Dev, lock: &DriverLock<u64>, key: u32, value: u64) -> Result {
        let _held = lock.lock();
        self.table
            .get(key as usize)
            .ok_or(EINVAL)?
            .store(value, Ordering::Relaxed);
        Ok(())
    }

    fn request(&self, _dev: &Dev, lock: &DriverLock<u64>, entry: E, arg: u64) -> Result<i64> {
        if let Some(r) = testdev_hw::on_entry(self.hw.as_ref(), entry) {
            return Ok(r);
        }
        let mut served = lock.lock();
        let r = self
            .table
            .iter()
            .fold(arg, |acc, v| acc.wrapping_add(v.load(Ordering::Relaxed)));
        *served += 1;
        Ok(r as i64)
    }

    fn remove(&self, _dev: &Dev, lock: &DriverLock<u64>) {
        testdev_hw::on_remove(self.hw.as_ref(), "testdev-b");
        // Read under the lock, printed outside it: printk is no work for a spinlock.
        let served = *lock.lock();
        pr_info!("testdev-b: removed after {served} requests\n");
    }
}

testdev_driver::testdev_implementation! {
    type: TestdevB,
    name: c"testdev-b",
    module: "ndriver_testdev_b",
    description: "ndriver test device, implementation B",
}
