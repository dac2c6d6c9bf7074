// SPDX-License-Identifier: GPL-2.0

//! `blk::irq_done`: the requests an instance reports finished (`ndriver_blk_done`) from
//! its interrupt call (`devirq`, hard-interrupt context), ended in that interrupt right
//! after the call returns instead of through blk-mq's completion softirq.
//!
//! For a disk with one hardware queue `blk_mq_complete_request` raises `BLOCK_SOFTIRQ`
//! (unless the request was submitted on this very CPU and the queue maps only it):
//! a raise and a pass through the softirq loop per interrupt, and the request's
//! `complete` there. Ending the request from inside the driver's call would put the
//! block layer's work (and a fault in it) inside the driver's guard frame; so such
//! requests are only collected while the call runs, and completed (the driver's
//! `complete`, guarded on its own, then the end) once it is over, still in the
//! interrupt, on the CPU that took it -- as NVMe's batched completion does, without
//! blk-mq's steering to the submitting CPU (`rq_affinity` 1 steers only between CPUs
//! that share no cache; with `rq_affinity` 2, which forces it, nothing is collected).
//! Requests reported in any other context, past [`BUDGET`] in one interrupt, or from
//! an NMI go through blk-mq as before.
//!
//! `complete` then runs with interrupts off: an endless loop in it is ended by the
//! NMI path of the watchdog (`design.rst`, "Hangs"), as one in `devirq` always was.

use crate::guard::{in_hardirq, this_cpu};
use core::sync::atomic::{compiler_fence, AtomicPtr, AtomicU32, Ordering};
use kernel::bindings;
use kernel::prelude::*;

/// At most this many requests are ended in one interrupt; the rest go through blk-mq's
/// softirq (a bound on the work done with interrupts off).
const BUDGET: u32 = 32;

/// One CPU's list, on a cache line of its own (each CPU writes its own on every
/// interrupt).
#[repr(align(64))]
struct CpuList {
    /// 0: no interrupt call of the instance runs on this CPU; else 1 + the requests
    /// collected during the one that runs.
    open: AtomicU32,
    /// The requests collected on this CPU, newest first, linked through their PDUs
    /// ([`link`]).
    head: AtomicPtr<bindings::request>,
}

/// Requests finished during interrupt calls, waiting for those calls to return.
///
/// # Invariants
///
/// `cpus[c]` is written only on CPU `c` in hard-interrupt context, outside NMIs; its
/// `open` is non-zero only while [`IrqDone::run`] runs a call there, and every request
/// on its list is one the device finished, that the framework owns (its state `DONE`)
/// and nobody else completes, ends or requeues; the `run` that collected it takes it
/// off right after its call, before the interrupt ends.
pub(crate) struct IrqDone {
    /// One list per possible CPU.
    cpus: KVec<CpuList>,
}

/// Where collected request `rq` keeps its successor on the list.
///
/// # Safety
///
/// `rq` is a live request of the placeholder's tag set (its PDU initialised); the
/// reference is used only while it stays so.
unsafe fn link<'a>(rq: *mut bindings::request) -> &'a AtomicPtr<bindings::request> {
    // SAFETY: per this function's contract.
    unsafe { &super::pdu(rq).irq_next }
}

/// Whether `rq_affinity` is 2 for `rq`'s queue: its completion must run on the CPU
/// that submitted it.
///
/// # Safety
///
/// `rq` is a live request of a live queue.
unsafe fn forced_to_submitter(rq: *mut bindings::request) -> bool {
    // SAFETY: per this function's contract; a word sysfs may change under us, read once
    // as `test_bit` does.
    let flags = unsafe { core::ptr::read_volatile(&raw const (*(*rq).q).queue_flags) };
    flags & (1 << bindings::QUEUE_FLAG_SAME_FORCE) != 0
}

impl IrqDone {
    /// No call open, nothing collected.
    pub(crate) fn new() -> Result<Self> {
        // SAFETY: set once at boot, read-only afterwards.
        let n = unsafe { bindings::nr_cpu_ids } as usize;
        let mut cpus = KVec::with_capacity(n, GFP_KERNEL)?;
        for _ in 0..n {
            cpus.push(
                CpuList {
                    open: AtomicU32::new(0),
                    head: AtomicPtr::new(core::ptr::null_mut()),
                },
                GFP_KERNEL,
            )?;
        }
        // INVARIANT: nothing open, every list empty.
        Ok(Self { cpus })
    }

    /// This CPU's list, in hard-interrupt context (where the CPU cannot change).
    fn this_cpu_list(&self) -> Option<&CpuList> {
        if !in_hardirq() {
            return None;
        }
        self.cpus.get(this_cpu())
    }

    /// Runs `call`; in hard-interrupt context, the requests [`IrqDone::collect`] took
    /// meanwhile are then handed to `finish`, oldest first.
    pub(crate) fn run<R>(
        &self,
        call: impl FnOnce() -> R,
        mut finish: impl FnMut(*mut bindings::request),
    ) -> R {
        let Some(list) = self.this_cpu_list() else {
            return call();
        };
        // INVARIANT: opened in hard-interrupt context on this CPU (an interrupt does not
        // nest in another on one CPU), closed before the list is taken.
        list.open.store(1, Ordering::Relaxed);
        let r = call();
        list.open.store(0, Ordering::Relaxed);
        // Closed before taken: a request is on the list only while it is open.
        compiler_fence(Ordering::SeqCst);
        let mut rq = list.head.swap(core::ptr::null_mut(), Ordering::Relaxed);
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

    /// Takes finished request `rq` for the [`IrqDone::run`] of the interrupt call
    /// running on this CPU, if one runs and has room: whether it took it. The caller
    /// completes `rq` through blk-mq otherwise. A request taken is marked complete for
    /// blk-mq (as `blk_mq_complete_request` would), so that its timeout no longer
    /// fires.
    ///
    /// # Safety
    ///
    /// `rq` is a live, started request of the placeholder's tag set that the caller
    /// owns: the device finished it and nobody else completes, ends or requeues it.
    pub(crate) unsafe fn collect(&self, rq: *mut bindings::request) -> bool {
        let Some(list) = self.this_cpu_list() else {
            return false;
        };
        let n = list.open.load(Ordering::Relaxed);
        // SAFETY: `rq` is live, and so is its queue (per this function's contract).
        if n == 0 || n > BUDGET || unsafe { forced_to_submitter(rq) } {
            return false;
        }
        list.open.store(n + 1, Ordering::Relaxed);
        // SAFETY: per this function's contract.
        unsafe { link(rq) }.store(list.head.load(Ordering::Relaxed), Ordering::Relaxed);
        list.head.store(rq, Ordering::Relaxed);
        // SAFETY: a started request we own; `WRITE_ONCE(rq->state, MQ_RQ_COMPLETE)`,
        // `blk_mq_set_request_complete`, which C drivers that end requests themselves
        // use too.
        unsafe {
            core::ptr::write_volatile(&raw mut (*rq).state, bindings::mq_rq_state_MQ_RQ_COMPLETE)
        };
        true
    }
}
