// SPDX-License-Identifier: GPL-2.0

//! The C-facing side of a block implementation: the entry functions of its operation
//! table (`abi_blk::BlkOps`, filled in by
//! [`blk_implementation!`](super::blk_implementation)), each of which finds the
//! driver's state in callout memory, raises the fault `inject ... entry=` asks for
//! (`entry_faults.rs`) and calls the [`BlkDriver`] method. Part of `blk_driver.rs`.

use super::entry_faults;
use super::{BlkDriver, Request};
use crate::abi::Instance;
use crate::abi_blk::{BlkEntry, BlkRq};
use crate::callouts_api as api;
use crate::driver_dev::Dev;
use crate::driver_lock::DriverLock;
use core::ptr;
use kernel::ffi::{c_int, c_void};
use kernel::prelude::*;

/// The driver's state, in callout memory.
#[pin_data]
struct Slot<T: BlkDriver> {
    #[pin]
    state: DriverLock<T::State>,
    data: Option<T>,
}

/// The state of the instance behind `inst`, if probed.
///
/// # Safety
///
/// `inst` must be a live instance whose private data is NULL or a `Slot<T>`.
unsafe fn slot<'a, T: BlkDriver>(inst: *mut Instance) -> Option<(&'a DriverLock<T::State>, &'a T)> {
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

/// An entry function's answer for error `e`.
pub(super) fn errno(e: Error) -> i64 {
    e.to_errno() as i64
}

/// # Safety
///
/// Called by the framework only, with a live instance (so for every `extern "C"` below).
pub(crate) unsafe extern "C" fn probe<T: BlkDriver>(inst: *mut Instance) -> c_int {
    let size = core::mem::size_of::<Slot<T>>();
    // SAFETY: `inst` is live; the block is recorded in its undo list.
    let mem = unsafe { api::ndriver_alloc(inst, size, 0) }.cast::<Slot<T>>();
    if mem.is_null() {
        return ENOMEM.to_errno();
    }
    let state = DriverLock::new(kernel::new_spinlock_irq!(
        T::State::default(),
        "blk_driver_state"
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
    // SAFETY: `mem` is initialised above.
    let s = unsafe { &mut *mem };
    let dev = dev_of(inst);
    if let Err(e) = entry_faults::raise(&dev, BlkEntry::Probe, &s.state) {
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
/// Called by the framework only, with a live, probed instance and a valid request.
pub(crate) unsafe extern "C" fn queue_rq<T: BlkDriver>(
    inst: *mut Instance,
    rq: *const BlkRq,
    last: u32,
) -> i64 {
    // SAFETY: the framework calls entry points only on probed instances.
    let Some((state, d)) = (unsafe { slot::<T>(inst) }) else {
        return errno(ENODEV);
    };
    // SAFETY: `rq` is the descriptor of this call, of a request issued to `inst`; this
    // is the one handle made of it, handed to the driver.
    let rq = unsafe { Request::from_raw(rq) };
    let dev = dev_of(inst);
    // An injected fault drops `rq` unused: the framework takes the request back.
    match entry_faults::raise(&dev, BlkEntry::QueueRq, state)
        .and_then(|()| d.queue_rq(&dev, state, rq, last != 0))
    {
        Ok(()) => 0,
        Err(e) => errno(e),
    }
}

/// # Safety
///
/// Called by the framework only, with a live, probed instance.
pub(crate) unsafe extern "C" fn commit_rqs<T: BlkDriver>(inst: *mut Instance) -> i64 {
    // SAFETY: the framework calls entry points only on probed instances.
    let Some((state, d)) = (unsafe { slot::<T>(inst) }) else {
        return errno(ENODEV);
    };
    let dev = dev_of(inst);
    let r = entry_faults::raise(&dev, BlkEntry::CommitRqs, state).and_then(|()| {
        if T::HAS_COMMIT_RQS {
            d.commit_rqs(&dev, state)
        } else {
            Ok(())
        }
    });
    match r {
        Ok(()) => 0,
        Err(e) => errno(e),
    }
}

/// # Safety
///
/// Called by the framework only, with a live, probed instance and a valid request.
pub(crate) unsafe extern "C" fn complete<T: BlkDriver>(
    inst: *mut Instance,
    rq: *const BlkRq,
) -> i64 {
    // SAFETY: the framework calls entry points only on probed instances.
    let Some((state, d)) = (unsafe { slot::<T>(inst) }) else {
        return errno(ENODEV);
    };
    // SAFETY: `rq` is the descriptor of this call, of a request the instance reported
    // done; this is the one handle made of it, handed to the driver.
    let rq = unsafe { Request::from_raw(rq) };
    let (tag, name) = (rq.tag(), rq.rq);
    let dev = dev_of(inst);
    match entry_faults::raise(&dev, BlkEntry::Complete, state)
        .and_then(|()| d.complete(&dev, state, rq))
    {
        Ok(ended) => ended.answer(tag, name),
        Err(e) => errno(e),
    }
}

/// # Safety
///
/// Called by the framework only, with a live, probed instance and a valid request.
pub(crate) unsafe extern "C" fn timeout<T: BlkDriver>(
    inst: *mut Instance,
    rq: *const BlkRq,
) -> i64 {
    // SAFETY: the framework calls entry points only on probed instances.
    let Some((state, d)) = (unsafe { slot::<T>(inst) }) else {
        return errno(ENODEV);
    };
    // SAFETY: `rq` is the descriptor of this call, of a request issued to `inst`; the
    // handle is only lent to the driver, and dropped here.
    let rq = unsafe { Request::from_raw(rq) };
    let dev = dev_of(inst);
    match entry_faults::raise(&dev, BlkEntry::Timeout, state)
        .and_then(|()| d.timeout(&dev, state, &rq))
    {
        Ok(progressing) => progressing as i64,
        Err(e) => errno(e),
    }
}

/// # Safety
///
/// Called by the framework only, with a live, probed instance.
pub(crate) unsafe extern "C" fn devirq<T: BlkDriver>(inst: *mut Instance, arg: u64) -> i64 {
    if !T::HAS_DEVIRQ {
        return 0;
    }
    // SAFETY: the framework calls entry points only on probed instances.
    let Some((state, d)) = (unsafe { slot::<T>(inst) }) else {
        return errno(ENODEV);
    };
    let dev = dev_of(inst);
    match entry_faults::raise(&dev, BlkEntry::DevIrq, state)
        .and_then(|()| d.devirq(&dev, state, arg))
    {
        Ok(mine) => mine as i64,
        Err(e) => errno(e),
    }
}

/// # Safety
///
/// Called by the framework only, with a live, probed instance.
pub(crate) unsafe extern "C" fn timer<T: BlkDriver>(inst: *mut Instance, arg: u64) -> i64 {
    if !T::HAS_TIMER {
        return errno(ENOSYS);
    }
    // SAFETY: the framework calls entry points only on probed instances.
    let Some((state, d)) = (unsafe { slot::<T>(inst) }) else {
        return errno(ENODEV);
    };
    let dev = dev_of(inst);
    match entry_faults::raise(&dev, BlkEntry::Timer, state).and_then(|()| d.timer(&dev, state, arg))
    {
        Ok(()) => 0,
        Err(e) => errno(e),
    }
}

/// # Safety
///
/// Called by the framework only, with a live instance. Block implementations take no
/// work items, so none runs.
pub(crate) unsafe extern "C" fn work<T: BlkDriver>(_inst: *mut Instance, _arg: u64) -> i64 {
    0
}

/// # Safety
///
/// Called by the framework only, with a live instance, for an orderly stop.
pub(crate) unsafe extern "C" fn remove<T: BlkDriver>(inst: *mut Instance) {
    // SAFETY: `inst` is live; its private data is NULL or our `Slot<T>`.
    if let Some((state, d)) = unsafe { slot::<T>(inst) } {
        let dev = dev_of(inst);
        // A fault here is contained like any other; the framework then undoes.
        let _ = entry_faults::raise(&dev, BlkEntry::Remove, state);
        d.remove(&dev, state);
    }
    // SAFETY: `inst` is live and its private data NULL or the `Slot<T>` that `probe`
    // initialised in memory from `ndriver_alloc`; the borrows of it above have ended, and
    // nothing else runs on this instance during an orderly remove.
    unsafe { api::free_slot::<Slot<T>>(inst) };
}
