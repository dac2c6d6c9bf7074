// SPDX-License-Identifier: GPL-2.0

//! The driver locks held on each CPU: `DriverLock`s (`wrappers/driver_lock.rs`), kernel
//! spinlocks that live in an instance and die with it.
//!
//! Taking one raises the preempt count by a preemption and an interrupt-disable level,
//! the same as a kernel spinlock taken that way. Counted here (the lock tells the framework
//! as it takes and releases it), the guard can take them off what kernel code that faults
//! holds: kernel code called by a driver that holds only its own locks holds no kernel lock.
//! A call abandoned with locks held gets its entry count back, as its preempt count.

use core::ffi::c_int;

use super::helpers::{
    ndg_driver_locks, ndg_driver_locks_add, ndg_driver_locks_set, ndg_pc_without_driver_locks,
};

/// Counts a driver lock taken (`delta` 1) or about to be released (-1) on this CPU.
pub(crate) fn driver_lock_held(delta: i32) {
    // SAFETY: FFI call without preconditions.
    unsafe { ndg_driver_locks_add(delta as c_int) };
}

/// The driver locks held on this CPU now.
pub(super) fn held_now() -> u32 {
    // SAFETY: FFI call without preconditions.
    unsafe { ndg_driver_locks() }
}

/// Puts back the count of a call's entry, when the call is abandoned with locks held.
pub(super) fn restore(n: u32) {
    // SAFETY: FFI call without preconditions.
    unsafe { ndg_driver_locks_set(n) };
}

/// `pc`, the preempt count of a fault on this CPU in a call that entered with `entry`
/// driver locks held, without the levels of the driver locks taken since.
pub(super) fn pc_without_driver_locks(pc: u32, entry: u32) -> u32 {
    let taken = held_now().saturating_sub(entry);
    // SAFETY: FFI call without preconditions.
    unsafe { ndg_pc_without_driver_locks(pc, taken) }
}
