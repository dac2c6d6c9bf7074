// SPDX-License-Identifier: GPL-2.0

//! Deferred-execution callouts: hrtimers and work items owned by an instance, each
//! recorded in its undo action list. When one fires, the framework runs the
//! instance's `timer` (softirq context) or `work` (process context) entry point under
//! a guard, with the cookie the driver chose.
//!
//! These are raw `hrtimer` and `work_struct` objects rather than the kernel crate's
//! `HrTimer`/`Work`: those hand ownership to a handle that cancels on drop, while here
//! a driver re-arms its timer from its own callback and the framework cancels it from
//! the undo list, long after the driver's handles are gone.

use crate::abi;
use crate::instance::{Event, InstanceState, ServedDevice};
use crate::undo::action_list::{Action, Kind};
use crate::wrappers::callouts::{record, release, with_held};
use kernel::bindings;
use kernel::ffi::c_void;
use kernel::prelude::*;
use kernel::types::Opaque;

/// The placeholder an instance serves.
fn device_of(st: &InstanceState) -> &dyn ServedDevice {
    st.device()
}

/// One timer of an instance. `timer` is first, so the `hrtimer` pointer the core
/// passes back is the `DriverTimer` pointer.
///
/// # Invariants
///
/// Once `ndriver_timer_setup` has recorded it:
///
/// - it lives in a `KBox` given up with `KBox::into_raw`, does not move, and is the
///   `obj` of a `Timer` action in the undo list of the instance `st`; only that action's
///   undo (`undo_timer`) frees it, after `hrtimer_cancel`, so the timer is neither
///   queued nor running `timer_trampoline` when it goes;
/// - `timer` was set up by `hrtimer_setup` with `timer_trampoline` (monotonic,
///   relative, softirq) before it was recorded, so before any handle to it reached the
///   driver;
/// - `st` is the instance that set it up, which outlives its undo list and so this
///   timer.
#[repr(C)]
struct DriverTimer {
    timer: Opaque<bindings::hrtimer>,
    st: *const InstanceState,
    cookie: u64,
}

/// The callback of every instance timer.
///
/// # Safety
///
/// Called by the hrtimer core for the `timer` of a live `DriverTimer` (its undo
/// cancels the timer before freeing it).
unsafe extern "C" fn timer_trampoline(t: *mut bindings::hrtimer) -> bindings::hrtimer_restart {
    // SAFETY: per this function's contract; `timer` is the first field of a
    // `repr(C)` `DriverTimer`.
    let dt = unsafe { &*t.cast::<DriverTimer>() };
    // SAFETY: the instance outlives its undo list, which cancels this timer.
    let st = unsafe { &*dt.st };
    let _ = device_of(st).event(st, Event::Timer, dt.cookie);
    bindings::hrtimer_restart::HRTIMER_NORESTART
}

/// Undo of `ndriver_timer_setup`: cancel (waiting for a running callback), then free.
///
/// # Safety
///
/// `a` was recorded by `ndriver_timer_setup` and not undone yet.
unsafe fn undo_timer(a: &Action) {
    let dt = a.obj as *mut DriverTimer;
    // SAFETY: `dt` is the live `DriverTimer` of this action, from `KBox::into_raw`.
    unsafe { bindings::hrtimer_cancel((*dt).timer.get()) };
    // SAFETY: cancelled, so nothing refers to it any more.
    drop(unsafe { KBox::from_raw(dt) });
}

/// Creates a (stopped) timer whose expiry runs the instance's `timer` entry with
/// `cookie`; its handle, or NULL.
pub(crate) extern "C" fn ndriver_timer_setup(inst: *mut abi::Instance, cookie: u64) -> *mut c_void {
    // SAFETY: a callout's caller is the instance's code, which outlives the call.
    let Some(st) = (unsafe { InstanceState::from_handle(inst) }) else {
        return core::ptr::null_mut();
    };
    let Ok(b) = KBox::new(
        DriverTimer {
            timer: Opaque::uninit(),
            st,
            cookie,
        },
        GFP_KERNEL,
    ) else {
        return core::ptr::null_mut();
    };
    let dt = KBox::into_raw(b);
    // SAFETY: `dt` is a fresh allocation that does not move until freed by the undo.
    unsafe {
        bindings::hrtimer_setup(
            (*dt).timer.get(),
            Some(timer_trampoline),
            bindings::CLOCK_MONOTONIC as _,
            bindings::hrtimer_mode_HRTIMER_MODE_REL_SOFT,
        )
    };
    // INVARIANT: `dt` is boxed, set up, and recorded below (or, if that fails, undone
    // at once); only the undo frees it.
    let action = Action {
        kind: Kind::Timer,
        obj: dt as usize,
        arg: 0,
        aux: 0,
        ctx: 0,
        depends_on: 0,
        kept: None,
        undo: undo_timer,
    };
    if record(st, action) {
        dt.cast()
    } else {
        core::ptr::null_mut()
    }
}

/// (Re)arms `timer` to expire `delay_ns` from now. Any context, including the timer's
/// own callback.
pub(crate) extern "C" fn ndriver_timer_arm(
    inst: *mut abi::Instance,
    timer: *mut c_void,
    delay_ns: u64,
) {
    // SAFETY: a callout's caller is the instance's code, which outlives the call.
    let Some(st) = (unsafe { InstanceState::from_handle(inst) }) else {
        return;
    };
    with_held(st, Kind::Timer, timer as usize, "ndriver_timer_arm", || {
        let dt = timer.cast::<DriverTimer>();
        // SAFETY: `dt` is a timer of this instance's undo list, and stays alive while
        // `with_held` holds the list's lock: only an undo frees it, after removing it
        // from the list under that lock.
        unsafe {
            bindings::hrtimer_start_range_ns(
                (*dt).timer.get(),
                delay_ns.min(i64::MAX as u64) as i64,
                0,
                bindings::hrtimer_mode_HRTIMER_MODE_REL_SOFT,
            )
        };
    });
}

/// Cancels and frees a timer from `ndriver_timer_setup`. Not from its own callback.
pub(crate) extern "C" fn ndriver_timer_cancel(inst: *mut abi::Instance, timer: *mut c_void) {
    release(inst, Kind::Timer, timer as usize, "ndriver_timer_cancel");
}

/// One work item of an instance; `work` is first (see [`DriverTimer`]).
///
/// # Invariants
///
/// Once `ndriver_work_setup` has recorded it:
///
/// - it lives in a `KBox` given up with `KBox::into_raw`, does not move, and is the
///   `obj` of a `Work` action in the undo list of the instance `st`; only that action's
///   undo (`undo_work`) frees it, after `cancel_work_sync`, so the item is neither
///   queued nor running `work_trampoline` when it goes;
/// - `work` was initialised by `init_work_with_key` with `work_trampoline` before it was
///   recorded, so before any handle to it reached the driver;
/// - `st` is the instance that set it up, which outlives its undo list and so this
///   item.
#[repr(C)]
struct DriverWork {
    work: Opaque<bindings::work_struct>,
    st: *const InstanceState,
    cookie: u64,
}

/// The function of every instance work item.
///
/// # Safety
///
/// Called by the workqueue core for the `work` of a live `DriverWork` (its undo
/// cancels the work before freeing it).
unsafe extern "C" fn work_trampoline(w: *mut bindings::work_struct) {
    // SAFETY: per this function's contract; `work` is the first field.
    let dw = unsafe { &*w.cast::<DriverWork>() };
    // SAFETY: the instance outlives its undo list, which cancels this work.
    let st = unsafe { &*dw.st };
    let _ = device_of(st).event(st, Event::Work, dw.cookie);
}

/// Undo of `ndriver_work_setup`: cancel (waiting for a running item), then free.
///
/// # Safety
///
/// `a` was recorded by `ndriver_work_setup` and not undone yet.
unsafe fn undo_work(a: &Action) {
    let dw = a.obj as *mut DriverWork;
    // SAFETY: `dw` is the live `DriverWork` of this action, from `KBox::into_raw`.
    unsafe { bindings::cancel_work_sync((*dw).work.get()) };
    // SAFETY: cancelled and not running, so nothing refers to it any more.
    drop(unsafe { KBox::from_raw(dw) });
}

/// Creates a work item whose execution runs the instance's `work` entry with `cookie`;
/// its handle, or NULL.
pub(crate) extern "C" fn ndriver_work_setup(inst: *mut abi::Instance, cookie: u64) -> *mut c_void {
    // SAFETY: a callout's caller is the instance's code, which outlives the call.
    let Some(st) = (unsafe { InstanceState::from_handle(inst) }) else {
        return core::ptr::null_mut();
    };
    let Ok(b) = KBox::new(
        DriverWork {
            work: Opaque::uninit(),
            st,
            cookie,
        },
        GFP_KERNEL,
    ) else {
        return core::ptr::null_mut();
    };
    let dw = KBox::into_raw(b);
    let key = kernel::static_lock_class!();
    // SAFETY: `dw` is a fresh allocation that does not move until freed by the undo;
    // the name and the lock class key are static.
    unsafe {
        bindings::init_work_with_key(
            (*dw).work.get(),
            Some(work_trampoline),
            false,
            c"ndriver_work".as_char_ptr(),
            key.as_ptr(),
        )
    };
    // INVARIANT: `dw` is boxed, initialised, and recorded below (or, if that fails,
    // undone at once); only the undo frees it.
    let action = Action {
        kind: Kind::Work,
        obj: dw as usize,
        arg: 0,
        aux: 0,
        ctx: 0,
        depends_on: 0,
        kept: None,
        undo: undo_work,
    };
    if record(st, action) {
        dw.cast()
    } else {
        core::ptr::null_mut()
    }
}

/// Queues `work` on the per-CPU system workqueue (a no-op if already queued). Any context.
pub(crate) extern "C" fn ndriver_work_queue(inst: *mut abi::Instance, work: *mut c_void) {
    // SAFETY: a callout's caller is the instance's code, which outlives the call.
    let Some(st) = (unsafe { InstanceState::from_handle(inst) }) else {
        return;
    };
    with_held(st, Kind::Work, work as usize, "ndriver_work_queue", || {
        let dw = work.cast::<DriverWork>();
        // SAFETY: `dw` is a work item of this instance's undo list, alive while
        // `with_held` holds the list's lock (see `ndriver_timer_arm`);
        // `system_percpu_wq` always exists (`system_wq` is deprecated).
        unsafe {
            bindings::queue_work_on(
                bindings::wq_misc_consts_WORK_CPU_UNBOUND as _,
                bindings::system_percpu_wq,
                (*dw).work.get(),
            )
        };
    });
}

/// Cancels and frees a work item from `ndriver_work_setup`. Not from the item itself.
pub(crate) extern "C" fn ndriver_work_cancel(inst: *mut abi::Instance, work: *mut c_void) {
    release(inst, Kind::Work, work as usize, "ndriver_work_cancel");
}
