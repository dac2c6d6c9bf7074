// SPDX-License-Identifier: GPL-2.0

//! The workqueue recoveries run on, and what they run under.
//!
//! A queue of ndriver's own rather than a system one:
//! - high priority (nice -20 workers): under load a recovery competes for the CPU with
//!   the traffic it restores (`netperf`, `ksoftirqd`); on a normal worker `ndeth0`'s
//!   warm recoveries under `TCP_STREAM` took 0.5 ms at best but 15 ms at p90;
//! - unbound: its workers are not the per-CPU high-priority pools that `kblockd` and
//!   other block-layer work share, which a CPU-bound stretch of a recovery (a cold
//!   probe) would hold up on that CPU, and a neighbour device's traffic keeps the other
//!   CPUs;
//! - a rescuer (`WQ_MEM_RECLAIM`), so that a recovery starts when no new worker can be
//!   made for lack of memory; and a recovery's allocations (its own and the new
//!   instance's) start no I/O ([`NoIo`]): writeback may be waiting on the very disk
//!   being recovered.

use core::ptr::null_mut;
use core::sync::atomic::{AtomicPtr, Ordering};
use kernel::bindings;
use kernel::prelude::*;
use kernel::workqueue::{Queue, RawWorkItem};

extern "C" {
    fn ndriver_memalloc_noio_save() -> u32;
    fn ndriver_memalloc_noio_restore(flags: u32);
}

/// The queue [`RecoveryQueue::new`] made; NULL before, and from the start of its drop.
static QUEUE: AtomicPtr<bindings::workqueue_struct> = AtomicPtr::new(null_mut());

/// Owns the recovery workqueue.
///
/// # Invariants
///
/// While a value exists and has not begun dropping, [`QUEUE`] holds the live workqueue it
/// allocated. The module keeps it until every device is gone (a field dropped after the
/// device set, whose shutdown flushes each device's recovery work).
pub(crate) struct RecoveryQueue(());

impl RecoveryQueue {
    /// Allocates the queue; once, at load, before any device exists.
    pub(crate) fn new() -> Result<Self> {
        let flags = bindings::wq_flags_WQ_UNBOUND
            | bindings::wq_flags_WQ_HIGHPRI
            | bindings::wq_flags_WQ_MEM_RECLAIM;
        // SAFETY: the name is a NUL-terminated string without format directives, so no
        // variadic argument is read (the kernel copies it); 0 asks for the default limit
        // of active items.
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
        // Cleared first: a (never expected) late `enqueue` then queues nothing rather
        // than onto a queue being freed.
        let wq = QUEUE.swap(null_mut(), Ordering::AcqRel);
        if !wq.is_null() {
            // SAFETY: allocated by `new`, not destroyed yet (taken out of `QUEUE` once);
            // `destroy_workqueue` drains what is still queued.
            unsafe { bindings::destroy_workqueue(wq) };
        }
    }
}

/// Queues `w` on the recovery queue: what [`Queue::enqueue`] answers, or `None` if
/// there is no queue (never expected: only devices queue, and the module holds the
/// queue until every device is gone; warned, and nothing queued).
pub(crate) fn enqueue<W: RawWorkItem<0> + Send + 'static>(w: W) -> Option<W::EnqueueOutput> {
    let wq = QUEUE.load(Ordering::Acquire);
    if wq.is_null() {
        pr_warn!("ndriver: a recovery was queued after the recovery queue went away\n");
        return None;
    }
    // SAFETY: a live workqueue until every device is gone (`RecoveryQueue`'s invariant),
    // and this caller is a device; the reference ends with this call.
    let q = unsafe { Queue::from_raw(wq) };
    Some(q.enqueue::<W, 0>(w))
}

/// A scope in which the task's allocations behave as `GFP_NOIO` (`memalloc_noio_save()`):
/// a recovery's, whose reclaim must not wait on writeback to the device it restores.
///
/// # Invariants
///
/// `self.0` is what `memalloc_noio_save()` returned when the value was made, on this
/// task; the value is not `Send`, so the same task restores it.
pub(crate) struct NoIo(u32, core::marker::PhantomData<*mut ()>);

impl NoIo {
    /// Starts the scope for the current task.
    pub(crate) fn new() -> Self {
        // SAFETY: any task may start a no-I/O scope; the drop below ends it.
        let flags = unsafe { ndriver_memalloc_noio_save() };
        // INVARIANT: `flags` from `memalloc_noio_save()` on this task, just now.
        Self(flags, core::marker::PhantomData)
    }
}

impl Drop for NoIo {
    fn drop(&mut self) {
        // SAFETY: `self.0` came from `memalloc_noio_save()` on this task (type invariant),
        // and scopes nest: this ends the one `new` started.
        unsafe { ndriver_memalloc_noio_restore(self.0) };
    }
}
