// SPDX-License-Identifier: GPL-2.0

//! The workqueue recoveries run on.
//!
//! A queue of ndriver's own rather than a system one, for three reasons:
//! - high priority (nice -20 workers): under load a recovery competes for the CPU with
//!   the traffic it restores (`netperf`, `ksoftirqd`); on a normal worker `ndeth0`'s
//!   warm recoveries under `TCP_STREAM` took 0.5 ms at best but 15 ms at p90;
//! - unbound: its workers are not the per-CPU high-priority pools that `kblockd` and
//!   other block-layer work share, which a CPU-bound stretch of a recovery (a cold
//!   probe) would hold up on that CPU;
//! - a rescuer (`WQ_MEM_RECLAIM`): writeback may be waiting on a disk whose recovery
//!   needs a worker while memory is short.

use core::ptr::null_mut;
use core::sync::atomic::{AtomicPtr, Ordering};
use kernel::bindings;
use kernel::prelude::*;
use kernel::workqueue::{self, Queue};

/// The queue [`RecoveryQueue::new`] made, NULL before and after.
static QUEUE: AtomicPtr<bindings::workqueue_struct> = AtomicPtr::new(null_mut());

/// Owns the recovery workqueue.
///
/// # Invariants
///
/// While a value exists, [`QUEUE`] holds the workqueue it allocated; the module keeps
/// it until every device is gone (a field dropped after the device set), so no work is
/// queued on it once it is destroyed.
pub(crate) struct RecoveryQueue(());

impl RecoveryQueue {
    /// Allocates the queue; once, at load, before any device exists.
    pub(crate) fn new() -> Result<Self> {
        let flags = bindings::wq_flags_WQ_UNBOUND
            | bindings::wq_flags_WQ_HIGHPRI
            | bindings::wq_flags_WQ_MEM_RECLAIM;
        // SAFETY: the name is a NUL-terminated string without format directives, so no
        // variadic argument is read; 0 asks for the default limit of active items.
        let wq = unsafe {
            bindings::alloc_workqueue_noprof(c"ndriver_recovery".as_ptr().cast(), flags, 0)
        };
        if wq.is_null() {
            return Err(ENOMEM);
        }
        QUEUE.store(wq, Ordering::Release);
        // INVARIANT: `QUEUE` holds the queue just allocated.
        Ok(Self(()))
    }
}

impl Drop for RecoveryQueue {
    fn drop(&mut self) {
        let wq = QUEUE.swap(null_mut(), Ordering::AcqRel);
        if !wq.is_null() {
            // SAFETY: allocated by `new`, not destroyed yet (taken out of `QUEUE` once);
            // `destroy_workqueue` drains what is still queued.
            unsafe { bindings::destroy_workqueue(wq) };
        }
    }
}

/// The queue recoveries go to: ndriver's own while the module holds it, else (never
/// expected: no device exists then) the system's long-running queue.
pub(crate) fn queue() -> &'static Queue {
    let wq = QUEUE.load(Ordering::Acquire);
    if wq.is_null() {
        return workqueue::system_long();
    }
    // SAFETY: a live workqueue that stays allocated until every device is gone
    // (`RecoveryQueue`'s invariant); only devices queue on it.
    unsafe { Queue::from_raw(wq) }
}
