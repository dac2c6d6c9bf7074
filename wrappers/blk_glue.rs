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

/// The start of every entry function but `probe`, `remove` and `work` (which calls no
/// driver code: block implementations take no work items): the probed driver of
/// `inst`, its state and handle, once the fault `inject ... entry=` asks for at `entry`
/// is raised (and returned). `ENODEV` if the instance is not probed.
///
/// # Safety
///
/// `inst` is a live instance of implementation `T` (the framework calls entry functions
/// only so).
unsafe fn enter<'a, T: BlkDriver>(
    inst: *mut Instance,
    entry: BlkEntry,
) -> Result<(&'a T, &'a DriverLock<T::State>, Dev)> {
    // SAFETY: per this function's contract, `inst`'s private data is NULL or the
    // `Slot<T>` that `probe` set.
    let (state, d) = unsafe { slot::<T>(inst) }.ok_or(ENODEV)?;
    let dev = dev_of(inst);
    entry_faults::raise(&dev, entry, state)?;
    Ok((d, state, dev))
}

/// [`enter`] for an entry function given a request: also the handle for the request `rq`
/// describes. A fault raised at `entry` drops the handle unused: the framework takes the
/// request back.
///
/// # Safety
///
/// As for [`enter`]; and `rq` is the descriptor the framework passed to this call, for a
/// request it issued to `inst`, of which the caller makes no other [`Request`].
unsafe fn enter_rq<'a, T: BlkDriver>(
    inst: *mut Instance,
    rq: *const BlkRq,
    entry: BlkEntry,
) -> Result<(&'a T, &'a DriverLock<T::State>, Dev, Request)> {
    // SAFETY: per this function's contract.
    let (d, state, dev) = unsafe { enter::<T>(inst, entry) }?;
    // SAFETY: `rq` is this call's descriptor of a request issued to `inst`; this is the
    // one handle made of it (this function's contract).
    let rq = unsafe { Request::from_raw(rq) };
    Ok((d, state, dev, rq))
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
    // SAFETY: the framework calls entry points only with their live instance, and
    // `rq` is this call's, of a request issued to `inst`; its one handle is handed to
    // the driver.
    match unsafe { enter_rq::<T>(inst, rq, BlkEntry::QueueRq) }
        .and_then(|(d, state, dev, rq)| d.queue_rq(&dev, state, rq, last != 0))
    {
        Ok(()) => 0,
        Err(e) => errno(e),
    }
}

/// # Safety
///
/// Called by the framework only, with a live, probed instance.
pub(crate) unsafe extern "C" fn commit_rqs<T: BlkDriver>(inst: *mut Instance) -> i64 {
    // SAFETY: the framework calls entry points only with their live instance.
    let r = unsafe { enter::<T>(inst, BlkEntry::CommitRqs) }.and_then(|(d, state, dev)| {
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
    // SAFETY: the framework calls entry points only with their live instance, and
    // `rq` is this call's, of a request the instance reported done; its one handle is
    // handed to the driver.
    let entered = unsafe { enter_rq::<T>(inst, rq, BlkEntry::Complete) };
    entered
        .and_then(|(d, state, dev, rq)| {
            let (tag, name) = (rq.tag(), rq.rq);
            Ok(d.complete(&dev, state, rq)?.answer(tag, name))
        })
        .unwrap_or_else(errno)
}

/// # Safety
///
/// Called by the framework only, with a live, probed instance and a valid request.
pub(crate) unsafe extern "C" fn timeout<T: BlkDriver>(
    inst: *mut Instance,
    rq: *const BlkRq,
) -> i64 {
    // SAFETY: the framework calls entry points only with their live instance, and
    // `rq` is this call's, of a request issued to `inst`; its one handle is only lent to
    // the driver, and dropped here.
    match unsafe { enter_rq::<T>(inst, rq, BlkEntry::Timeout) }
        .and_then(|(d, state, dev, rq)| d.timeout(&dev, state, &rq))
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
    // SAFETY: the framework calls entry points only with their live instance.
    match unsafe { enter::<T>(inst, BlkEntry::DevIrq) }
        .and_then(|(d, state, dev)| d.devirq(&dev, state, arg))
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
    // SAFETY: the framework calls entry points only with their live instance.
    match unsafe { enter::<T>(inst, BlkEntry::Timer) }
        .and_then(|(d, state, dev)| d.timer(&dev, state, arg))
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
