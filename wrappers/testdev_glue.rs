// SPDX-License-Identifier: GPL-2.0

//! The C-facing side of a `testdev` implementation: the entry functions of its operation
//! table (`abi::TestdevOps`, filled in by
//! [`testdev_implementation!`](super::testdev_implementation)), each of which finds the
//! driver's state in callout memory, raises the fault `inject ... entry=` asks for
//! (`entry_faults.rs`) and calls the [`TestdevDriver`] method. What is the same in every
//! class is `driver_dev`'s, instantiated for [`Adapter`]: `probe` and `remove` are the
//! slot's (`driver_slot.rs`), `devirq`, `timer` and `work` the event entries
//! (`driver_events.rs`); this file holds the rest, and which class-trait method each
//! calls. Part of `testdev_driver.rs`.

use super::TestdevDriver;
use crate::abi::{Instance, TestdevEntry};
use crate::driver_dev::events::{errno, EventGlue};
use crate::driver_dev::slot::{self, SlotGlue};
use crate::driver_dev::Dev;
use crate::driver_lock::DriverLock;
use core::marker::PhantomData;
use kernel::ffi::c_int;
use kernel::prelude::*;

/// The class glue's view of `testdev` implementation `T`, for which the shared entry
/// functions (`driver_slot.rs`, `driver_events.rs`) are instantiated.
pub(crate) struct Adapter<T>(PhantomData<T>);

impl<T: TestdevDriver> SlotGlue for Adapter<T> {
    type Driver = T;
    type State = T::State;
    type Entry = TestdevEntry;
    const PROBE: TestdevEntry = TestdevEntry::Probe;
    const REMOVE: TestdevEntry = TestdevEntry::Remove;
    const LOCK_NAME: &'static CStr = c"testdev_driver_state";

    fn probe(dev: &Dev, state: &DriverLock<T::State>) -> Result<T> {
        T::probe(dev, state)
    }

    fn remove(driver: &T, dev: &Dev, state: &DriverLock<T::State>) {
        driver.remove(dev, state)
    }
}

impl<T: TestdevDriver> EventGlue for Adapter<T> {
    const DEVIRQ: TestdevEntry = TestdevEntry::DevIrq;
    const TIMER: TestdevEntry = TestdevEntry::Timer;
    const WORK: TestdevEntry = TestdevEntry::Work;
    const HAS_DEVIRQ: bool = T::HAS_DEVIRQ;
    const HAS_TIMER: bool = T::HAS_TIMER;
    const HAS_WORK: bool = T::HAS_WORK;

    fn devirq(d: &T, c: &slot::Call<'_, T::State>, irq: u64) -> Result<bool> {
        d.devirq(&c.dev, c.state, irq)
    }

    fn timer(d: &T, c: &slot::Call<'_, T::State>, cookie: u64) -> Result {
        d.timer(&c.dev, c.state, cookie)
    }

    fn work(d: &T, c: &slot::Call<'_, T::State>, cookie: u64) -> Result {
        d.work(&c.dev, c.state, cookie)
    }
}

/// # Safety
///
/// Called by the framework only, with a live, probed instance.
pub(crate) unsafe extern "C" fn configure<T: TestdevDriver>(
    inst: *mut Instance,
    key: u32,
    value: u64,
) -> c_int {
    if !T::HAS_CONFIGURE {
        return EINVAL.to_errno();
    }
    // SAFETY: the framework calls entry points only with their live instance, whose
    // private data is NULL or the slot that `probe` (`slot::probe::<Adapter<T>>`) set.
    match unsafe { slot::enter::<Adapter<T>>(inst, TestdevEntry::Configure) }
        .and_then(|(d, c)| d.configure(&c.dev, c.state, key, value))
    {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// The request entry functions (`op`, `tick`, `irq`): [`TestdevDriver::request`].
macro_rules! request_entry {
    ($name:ident, $entry:expr) => {
        /// # Safety
        ///
        /// Called by the framework only, with a live, probed instance.
        pub(crate) unsafe extern "C" fn $name<T: TestdevDriver>(
            inst: *mut Instance,
            arg: u64,
        ) -> i64 {
            // SAFETY: the framework calls entry points only with their live instance,
            // whose private data is NULL or the slot that `probe` set.
            match unsafe { slot::enter::<Adapter<T>>(inst, $entry) }
                .and_then(|(d, c)| d.request(&c.dev, c.state, $entry, arg))
            {
                Ok(v) => v,
                Err(e) => errno(e),
            }
        }
    };
}
request_entry!(op, TestdevEntry::Op);
request_entry!(tick, TestdevEntry::Tick);
request_entry!(irq, TestdevEntry::Irq);
