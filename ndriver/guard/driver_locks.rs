// SPDX-License-Identifier: GPL-2.0

//! The driver locks a guarded call holds: `DriverLock`s (`wrappers/driver_lock.rs`), kernel
//! spinlocks that live in an instance and die with it.
//!
//! Taking one raises the preempt count by a preemption and an interrupt-disable level,
//! the same as a kernel spinlock taken that way. The lock tells the framework as it takes
//! and releases it, and the count is kept in the call's own guard frame, so that it goes
//! with the call (an abandoned call's frame is gone with it) and cannot be skewed by another
//! context or CPU. The guard takes those levels off what kernel code that faults holds:
//! kernel code called by a driver that holds only its own locks holds no kernel lock.

use core::sync::atomic::Ordering;

use super::frame::own_frame;
use super::helpers::ndg_pc_without_lock_levels;

/// Counts a driver lock taken (`delta` 1) or about to be released (-1) by the guarded call
/// running here. A call the guard does not run (the measuring bypass) counts nothing. A
/// lock claimed taken must show in the preempt count: one more preemption and one more
/// interrupt-disable level above the call's entry than the locks already counted, else
/// the claim is ignored. That bounds what a driver's word can hide: levels its own code
/// raised, never more than it holds, though a kernel spinlock a driver took directly
/// and claimed as its own would pass (drivers only take `DriverLock`s; the framework's
/// callouts take and release theirs within the callout, not across driver code).
pub(crate) fn driver_lock_held(delta: i32) {
    let own = own_frame();
    if own.frame.is_null() {
        return;
    }
    // SAFETY: `own.frame` is a live, armed frame of this context, which stays linked while
    // we, its callee, run.
    let frame = unsafe { &*own.frame };
    let pc = own.pc;
    let held = frame.driver_locks.load(Ordering::Relaxed);
    match delta {
        1 => {
            frame.lock_wait.store(false, Ordering::Relaxed);
            // SAFETY: FFI call without preconditions.
            let shown = unsafe { ndg_pc_without_lock_levels(pc, frame.entry_pc, held + 1) };
            if shown != pc {
                frame.driver_locks.store(held + 1, Ordering::Relaxed);
            }
        }
        -1 => frame
            .driver_locks
            .store(held.saturating_sub(1), Ordering::Relaxed),
        _ => {}
    }
}

/// `pc`, the preempt count of a kernel fault in the call of `frame` (`entry_pc` its count
/// at entry, `held` the driver locks it counted), without the driver locks' levels.
pub(super) fn pc_without_driver_locks(pc: u32, entry_pc: u32, held: u32) -> u32 {
    // SAFETY: FFI call without preconditions.
    unsafe { ndg_pc_without_lock_levels(pc, entry_pc, held) }
}
