// SPDX-License-Identifier: GPL-2.0

//! The C-facing side of a `testdev` implementation: the entry functions of its operation
//! table (`abi::TestdevOps`, filled in by
//! [`testdev_implementation!`](super::testdev_implementation)), each of which finds the
//! driver's state in callout memory, raises the fault `inject ... entry=` asks for
//! (`entry_faults.rs`) and calls the [`TestdevDriver`] method. Part of
//! `testdev_driver.rs`.

use super::entry_faults;
use super::TestdevDriver;
use crate::abi::{Instance, TestdevEntry};
use crate::callouts_api as api;
use crate::driver_dev::Dev;
use crate::driver_lock::DriverLock;
use core::ptr;
use kernel::ffi::{c_int, c_void};
use kernel::prelude::*;

/// The driver's state, in callout memory.
#[pin_data]
struct Slot<T: TestdevDriver> {
    #[pin]
    state: DriverLock<T::State>,
    data: Option<T>,
}

/// The state of the instance behind `inst`, if probed.
///
/// # Safety
///
/// `inst` must be a live instance whose private data is NULL or a `Slot<T>`.
unsafe fn slot<'a, T: TestdevDriver>(
    inst: *mut Instance,
) -> Option<(&'a DriverLock<T::State>, &'a T)> {
    // SAFETY: per this function's contract.
    let p = unsafe { api::ndriver_get_priv(inst) }.cast::<Slot<T>>();
    // SAFETY: set by `probe` below to an initialised `Slot<T>` that lives until
    // `remove` (or the framework's undo after a fault, after which no call comes).
    let s = unsafe { p.as_ref() }?;
    s.data.as_ref().map(|d| (&s.state, d))
}

/// The driver's handle for the instance an entry point was called for.
fn dev_of(inst: *mut Instance) -> Dev {
    // SAFETY: the glue's entry points are called by the framework with their live
    // instance only, and each uses the handle only during its call.
    unsafe { Dev::from_handle(inst) }
}

/// The start of every entry function but `probe` and `remove`: the probed driver of
/// `inst`, its state and handle, once the fault `inject ... entry=` asks for at `entry`
/// is raised (and returned). `ENODEV` if the instance is not probed.
///
/// # Safety
///
/// `inst` is a live instance of implementation `T` (the framework calls entry functions
/// only so).
unsafe fn enter<'a, T: TestdevDriver>(
    inst: *mut Instance,
    entry: TestdevEntry,
) -> Result<(&'a T, &'a DriverLock<T::State>, Dev)> {
    // SAFETY: per this function's contract, `inst`'s private data is NULL or the
    // `Slot<T>` that `probe` set.
    let (state, d) = unsafe { slot::<T>(inst) }.ok_or(ENODEV)?;
    let dev = dev_of(inst);
    entry_faults::raise(&dev, entry, state)?;
    Ok((d, state, dev))
}

/// An entry function's answer for error `e`.
fn errno(e: Error) -> i64 {
    e.to_errno() as i64
}

/// # Safety
///
/// Called by the framework only, with a live instance (so for every `extern "C"` below).
pub(crate) unsafe extern "C" fn probe<T: TestdevDriver>(inst: *mut Instance) -> c_int {
    let size = core::mem::size_of::<Slot<T>>();
    // SAFETY: `inst` is live; the block is recorded in its undo list.
    let mem = unsafe { api::ndriver_alloc(inst, size, 0) }.cast::<Slot<T>>();
    if mem.is_null() {
        return ENOMEM.to_errno();
    }
    let state = DriverLock::new(kernel::new_spinlock_irq!(
        T::State::default(),
        "testdev_driver_state"
    ));
    // SAFETY: `mem` is a fresh, suitably aligned block of the right size; the lock is
    // pinned there for the block's life. `data` is written before anyone reads it.
    unsafe {
        if state.__init(&raw mut (*mem).state).is_err() {
            api::ndriver_free(inst, mem.cast());
            return ENOMEM.to_errno();
        }
        ptr::write(&raw mut (*mem).data, None);
        api::ndriver_set_priv(inst, mem.cast::<c_void>());
    }
    let dev = dev_of(inst);
    // SAFETY: `mem` is initialised above.
    let s = unsafe { &mut *mem };
    if let Err(e) = entry_faults::raise(&dev, TestdevEntry::Probe, &s.state) {
        return e.to_errno();
    }
    match T::probe(&dev, &s.state) {
        Ok(d) => {
            s.data = Some(d);
            0
        }
        Err(e) => e.to_errno(),
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
    // SAFETY: the framework calls entry points only with their live instance.
    match unsafe { enter::<T>(inst, TestdevEntry::Configure) }
        .and_then(|(d, state, dev)| d.configure(&dev, state, key, value))
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
            // SAFETY: the framework calls entry points only with their live instance.
            match unsafe { enter::<T>(inst, $entry) }
                .and_then(|(d, state, dev)| d.request(&dev, state, $entry, arg))
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

/// # Safety
///
/// Called by the framework only, with a live, probed instance.
pub(crate) unsafe extern "C" fn devirq<T: TestdevDriver>(inst: *mut Instance, arg: u64) -> i64 {
    if !T::HAS_DEVIRQ {
        return 0;
    }
    // SAFETY: the framework calls entry points only with their live instance.
    match unsafe { enter::<T>(inst, TestdevEntry::DevIrq) }
        .and_then(|(d, state, dev)| d.devirq(&dev, state, arg))
    {
        Ok(mine) => mine as i64,
        Err(e) => errno(e),
    }
}

/// # Safety
///
/// Called by the framework only, with a live, probed instance.
pub(crate) unsafe extern "C" fn timer<T: TestdevDriver>(inst: *mut Instance, arg: u64) -> i64 {
    if !T::HAS_TIMER {
        return errno(ENOSYS);
    }
    // SAFETY: the framework calls entry points only with their live instance.
    match unsafe { enter::<T>(inst, TestdevEntry::Timer) }
        .and_then(|(d, state, dev)| d.timer(&dev, state, arg))
    {
        Ok(()) => 0,
        Err(e) => errno(e),
    }
}

/// # Safety
///
/// Called by the framework only, with a live, probed instance.
pub(crate) unsafe extern "C" fn work<T: TestdevDriver>(inst: *mut Instance, arg: u64) -> i64 {
    if !T::HAS_WORK {
        return errno(ENOSYS);
    }
    // SAFETY: the framework calls entry points only with their live instance.
    match unsafe { enter::<T>(inst, TestdevEntry::Work) }
        .and_then(|(d, state, dev)| d.work(&dev, state, arg))
    {
        Ok(()) => 0,
        Err(e) => errno(e),
    }
}

/// # Safety
///
/// Called by the framework only, with a live instance, for an orderly stop.
pub(crate) unsafe extern "C" fn remove<T: TestdevDriver>(inst: *mut Instance) {
    // SAFETY: `inst` is live; its private data is NULL or our `Slot<T>`.
    if let Some((state, d)) = unsafe { slot::<T>(inst) } {
        let dev = dev_of(inst);
        // A fault here is contained like any other; the framework then undoes.
        let _ = entry_faults::raise(&dev, TestdevEntry::Remove, state);
        d.remove(&dev, state);
    }
    // SAFETY: `inst` is live and its private data NULL or the `Slot<T>` that `probe`
    // initialised in memory from `ndriver_alloc`; the borrows of it above have ended, and
    // nothing else runs on this instance during an orderly remove.
    unsafe { api::free_slot::<Slot<T>>(inst) };
}
