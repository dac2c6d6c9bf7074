// SPDX-License-Identifier: GPL-2.0

//! The processor as the guard uses it: the time stamp counter and its conversions to time,
//! `RFLAGS`, local interrupts, the current CPU, user mode. Reading `RFLAGS` and telling
//! user mode come from `x86.rs`, which the tracer below the guard uses too.

use core::arch::asm;
use core::ffi::c_ulong;
use core::sync::atomic::{AtomicU64, Ordering};

pub(super) use crate::x86::{save_flags, user_mode};

use super::helpers::{
    ndg_cpu, ndg_hardirq_mask, ndg_irq_disable, ndg_irq_restore, ndg_level_mask, ndg_nmi_mask,
    ndg_preempt_count,
};

pub(super) const X86_EFLAGS_TF: u64 = 1 << 8;
pub(super) const X86_EFLAGS_IF: u64 = 1 << 9;
pub(super) const X86_EFLAGS_DF: u64 = 1 << 10;
pub(super) const X86_EFLAGS_AC: u64 = 1 << 18;

pub(super) static TSC_KHZ: AtomicU64 = AtomicU64::new(0);

/// Reads the time stamp counter.
#[inline(always)]
pub(crate) fn rdtsc() -> u64 {
    let lo: u32;
    let hi: u32;
    // SAFETY: `rdtsc` only reads the TSC into edx:eax; the kernel does not restrict it.
    unsafe {
        asm!("rdtsc", out("eax") lo, out("edx") hi, options(nomem, nostack, preserves_flags));
    }
    (u64::from(hi) << 32) | u64::from(lo)
}

/// Runs `f` with local interrupts off (atomic context). A caller that has them off
/// already (a driver lock's callouts) turns nothing off and back on.
pub(crate) fn with_irqs_off<R>(f: impl FnOnce() -> R) -> R {
    let flags = save_flags();
    if flags & X86_EFLAGS_IF == 0 {
        return f();
    }
    // SAFETY: FFI call without preconditions; the flags are restored below.
    unsafe { ndg_irq_disable() };
    let r = f();
    // SAFETY: restores the flags saved above, in the same context.
    unsafe { ndg_irq_restore(flags as c_ulong) };
    r
}

pub(super) fn ns_to_cycles(ns: u64) -> u64 {
    ns.saturating_mul(TSC_KHZ.load(Ordering::Relaxed)) / 1_000_000
}

pub(crate) fn cycles_to_ns(cycles: u64) -> u64 {
    match TSC_KHZ.load(Ordering::Relaxed) {
        0 => 0,
        khz => cycles.saturating_mul(1_000_000) / khz,
    }
}

/// The context this runs in: the bits of `preempt_count()` that tell task, softirq, hardirq
/// and NMI context apart (a task with bottom halves off is task context).
pub(crate) fn context_level() -> u32 {
    // SAFETY: an FFI accessor without preconditions, and a constant of the C side.
    unsafe { ndg_preempt_count() & ndg_level_mask }
}

/// Whether this runs in hard-interrupt context, not an NMI: nothing but an NMI runs on
/// this CPU until it returns, and it does not migrate.
pub(crate) fn in_hardirq() -> bool {
    // SAFETY: an FFI accessor without preconditions, and constants of the C side.
    let (pc, hardirq, nmi) = unsafe { (ndg_preempt_count(), ndg_hardirq_mask, ndg_nmi_mask) };
    pc & hardirq != 0 && pc & nmi == 0
}

/// The CPU this runs on (a stale answer unless migration is off, as in handlers).
pub(crate) fn this_cpu() -> usize {
    // SAFETY: FFI accessor without preconditions.
    unsafe { ndg_cpu() as usize }
}
