// SPDX-License-Identifier: GPL-2.0

//! `blk_irq_done`: the requests an instance reports finished (`ndriver_blk_done`) from
//! a call in hard-interrupt context (its `devirq`), ended in that interrupt right after
//! the call returns instead of through blk-mq's completion softirq.
//!
//! The disk has one hardware queue, for which `blk_mq_complete_request` always raises
//! `BLOCK_SOFTIRQ`: a softirq raise and a pass through the softirq loop per interrupt,
//! and the request's `complete` there. Ending the request from inside the driver's
//! call would put the block layer's work (and a fault in it) inside the driver's guard
//! frame; so such requests are only collected while the call runs, and completed (the
//! driver's `complete`, guarded on its own, then the end) once it is over, still in
//! the interrupt. Requests reported in any other context go through blk-mq as before.

use crate::guard::{in_hardirq, this_cpu};
use core::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use kernel::bindings;

/// One flag per possible CPU.
const MAX_CPUS: usize = bindings::NR_CPUS as usize;

/// Requests finished during hard-interrupt calls, waiting for those calls to return.
///
/// # Invariants
///
/// `open[cpu]` is set only while [`IrqDone::run`] runs a call in hard-interrupt context
/// on `cpu`; every request on the list was pushed by [`IrqDone::collect`] while some
/// CPU's flag was set, and that CPU's `run` takes the whole list after its call, so no
/// request stays on it past the interrupt that put it there.
pub(crate) struct IrqDone {
    /// Per CPU: a hard-interrupt call runs there whose finished requests are collected.
    open: [AtomicBool; MAX_CPUS],
    /// The collected requests, newest first, linked through their PDUs
    /// ([`link`]).
    head: AtomicPtr<bindings::request>,
}

/// Where collected request `rq` keeps its successor on the list.
///
/// # Safety
///
/// `rq` is a live request of the placeholder's tag set (its PDU initialised).
unsafe fn link<'a>(rq: *mut bindings::request) -> &'a AtomicPtr<bindings::request> {
    // SAFETY: per this function's contract.
    unsafe { &super::blk::pdu(rq).irq_next }
}

impl IrqDone {
    /// No call open, nothing collected.
    pub(crate) const fn new() -> Self {
        // INVARIANT: no flag set, the list empty.
        Self {
            open: [const { AtomicBool::new(false) }; MAX_CPUS],
            head: AtomicPtr::new(core::ptr::null_mut()),
        }
    }

    /// Runs `call`; in hard-interrupt context, the requests [`IrqDone::collect`] took
    /// meanwhile (on any CPU) are then handed to `finish`, oldest first.
    pub(crate) fn run<R>(
        &self,
        call: impl FnOnce() -> R,
        mut finish: impl FnMut(*mut bindings::request),
    ) -> R {
        // A task may migrate: its CPU's flag could be another call's. Only an interrupt
        // handler stays where it is until it returns.
        let flag = match in_hardirq().then(|| self.open.get(this_cpu())).flatten() {
            Some(flag) => flag,
            None => return call(),
        };
        // INVARIANT: set in hard-interrupt context on this CPU, cleared before the
        // list is taken.
        flag.store(true, Ordering::Relaxed);
        let r = call();
        flag.store(false, Ordering::Relaxed);
        let mut rq = self.head.swap(core::ptr::null_mut(), Ordering::Acquire);
        // Oldest first, as the device finished them.
        let mut oldest = core::ptr::null_mut();
        while !rq.is_null() {
            // SAFETY: a collected request: finished by the device, not ended, ours.
            let next = unsafe { link(rq) }.swap(oldest, Ordering::Relaxed);
            oldest = rq;
            rq = next;
        }
        while !oldest.is_null() {
            // Read before `finish` ends the request (its PDU is then blk-mq's again).
            // SAFETY: a collected request, not yet handed to `finish`.
            let next = unsafe { link(oldest) }.swap(core::ptr::null_mut(), Ordering::Relaxed);
            finish(oldest);
            oldest = next;
        }
        r
    }

    /// Takes finished request `rq` for the [`IrqDone::run`] of a hard-interrupt call
    /// running on this CPU, if one is: whether it took it. The caller ends `rq` itself
    /// otherwise.
    ///
    /// # Safety
    ///
    /// `rq` is a live request of the placeholder's tag set that the caller owns: the
    /// device finished it and nobody else completes, ends or requeues it.
    pub(crate) unsafe fn collect(&self, rq: *mut bindings::request) -> bool {
        if !in_hardirq()
            || !self
                .open
                .get(this_cpu())
                .is_some_and(|f| f.load(Ordering::Relaxed))
        {
            return false;
        }
        // SAFETY: per this function's contract.
        let next = unsafe { link(rq) };
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            next.store(head, Ordering::Relaxed);
            match self
                .head
                .compare_exchange_weak(head, rq, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(now) => head = now,
            }
        }
    }
}
