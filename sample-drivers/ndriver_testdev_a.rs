// SPDX-License-Identifier: GPL-2.0

//! `testdev-a`: the first implementation of the guarded test device.
//!
//! Design: keeps its configuration in one atomic field and computes each request
//! directly (`arg + offset`); its state behind the instance lock is the count of
//! requests served.

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

struct TestdevA {
    offset: AtomicU64,
    hw: Option<Hw>,
}

#[vtable]
impl TestdevDriver for TestdevA {
    const PCI_IDS: &'static [abi::PciId] = testdev_hw::PCI_IDS;

    /// Requests served.
    type State = u64;

    fn probe(dev: &Dev, _served: &DriverLock<u64>) -> Result<Self> {
        pr_info!("testdev-a: probed, generation {}\n", dev.generation());
        Ok(Self {
            offset: AtomicU64::new(0),
            hw: Hw::probe(dev)?,
        })
    }

    fn configure(&self, _dev: &Dev, _served: &DriverLock<u64>, key: u32, value: u64) -> Result {
        match key {
            0 => self.offset.store(value, Ordering::Relaxed),
            _ => return Err(EINVAL),
        }
        Ok(())
    }

    fn request(&self, _dev: &Dev, served: &DriverLock<u64>, entry: E, arg: u64) -> Result<i64> {
        if let (E::Op, Some(hw)) = (entry, self.hw.as_ref()) {
            hw.kick();
        }
        *served.lock() += 1;
        Ok(arg.wrapping_add(self.offset.load(Ordering::Relaxed)) as i64)
    }

    fn devirq(&self, _dev: &Dev, _served: &DriverLock<u64>, _irq: u64) -> Result<bool> {
        Ok(self.hw.as_ref().is_some_and(Hw::interrupt))
    }

    fn timer(&self, _dev: &Dev, _served: &DriverLock<u64>, _cookie: u64) -> Result {
        if let Some(hw) = self.hw.as_ref() {
            hw.timer_expired();
        }
        Ok(())
    }

    fn work(&self, _dev: &Dev, _served: &DriverLock<u64>, _cookie: u64) -> Result {
        self.hw.as_ref().map_or(Ok(()), Hw::work_ran)
    }

    fn remove(&self, _dev: &Dev, served: &DriverLock<u64>) {
        testdev_hw::on_remove(self.hw.as_ref(), "testdev-a");
        // Read under the lock, printed outside it: printk is no work for a spinlock.
        let served = *served.lock();
        pr_info!("testdev-a: removed after {served} requests\n");
    }
}

testdev_driver::testdev_implementation! {
    type: TestdevA,
    name: c"testdev-a",
    module: "ndriver_testdev_a",
    description: "ndriver test device, implementation A",
}
