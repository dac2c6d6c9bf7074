// SPDX-License-Identifier: GPL-2.0

//! Stack overflow in a guarded call. A call that runs its stack into the unmapped guard
//! page below it cannot take the page fault (the CPU has nowhere to push the exception
//! frame) and double-faults; the kernel then panics in `handle_stack_overflow()`. With
//! the kernel patch `0003` the die notifiers hear of it first, from the double-fault
//! handler (an NMI-like context on its own stack), and the guard moves the context back
//! to the frame where its call began: the guard page stopped the access, so nothing below
//! the stack was written. Without `CONFIG_VMAP_STACK` (the debug kernel: KASAN without
//! `KASAN_VMALLOC`) there is no guard page and an overflow silently runs into whatever
//! lies below the stack; the `stack_overflow` class is refused there.
//!
//! A wild access into a guard page with the stack pointer well inside the stack (a
//! corrupted pointer, no overflow) is an ordinary page fault: with the kernel patch `0004`
//! the die notifiers hear of it as `DIE_PAGE_FAULT` before `page_fault_oops()` takes it
//! for an overflow, and `trap.rs` contains it like any other (`page_fault`); nothing
//! here is needed for it but the status and the refusal of the class that tests it.

use super::helpers::{
    ndg_apic_in_service, ndg_is_stack_guard_die, ndg_nmi_offset, ndg_stack_guard_known,
    ndg_stack_guard_wild_known,
};
use super::text::read_stack_word;
use crate::pt_regs::PtRegs;
use core::ffi::{c_char, c_uint};

/// The interrupt flag in `RFLAGS`.
const X86_EFLAGS_IF: u64 = 1 << 9;

/// Size of the pages a stack and its guard page are made of.
const PAGE_SIZE: u64 = 4096;

/// Whether this kernel lets the guard contain a stack overflow.
pub(crate) fn stack_guard_known() -> bool {
    // SAFETY: Reading a constant defined by the C helpers.
    unsafe { ndg_stack_guard_known }
}

/// Whether this kernel lets the guard contain a wild access into a stack's guard page made
/// with the stack pointer well inside the stack (a page fault, not an overflow).
pub(crate) fn stack_guard_wild_known() -> bool {
    // SAFETY: Reading a constant defined by the C helpers.
    unsafe { ndg_stack_guard_wild_known }
}

/// Whether a double fault's die message says that a stack guard page was hit.
pub(super) fn is_stack_guard_hit(msg: *const c_char) -> bool {
    // SAFETY: `msg` is null or the NUL-terminated `die_args.str` of the notification.
    unsafe { ndg_is_stack_guard_die(msg) }
}

/// Whether the double fault for `r` may be an interrupt whose delivery hit the guard page
/// (interrupts on at the fault, and the local APIC has a vector in service, which only a
/// handler's EOI clears: that handler never ran). Moving such a context on would leave
/// the vector, and every one of lower priority, blocked on this CPU for good; it is left
/// to the kernel. With interrupts on, nothing else is in service: handlers run with
/// interrupts off and end with their EOI, before any softirq they let run.
pub(super) fn interrupt_lost(r: &PtRegs) -> bool {
    // SAFETY: reads this CPU's local APIC registers; no other precondition.
    r.flags & X86_EFLAGS_IF != 0 && unsafe { ndg_apic_in_service() }
}

/// The faulting context's preempt count, from the one seen in the double-fault handler,
/// which counts itself as an NMI.
pub(super) fn pc_outside_double_fault(pc: c_uint) -> c_uint {
    // SAFETY: Reading a constant defined by the C helpers.
    pc.wrapping_sub(unsafe { ndg_nmi_offset })
}

/// Where the crash report's stack scan starts for a context whose stack pointer `sp` ran
/// into the guard page: the first mapped page above it (the scan stops at the first word
/// it cannot read).
pub(super) fn scan_start(sp: u64) -> u64 {
    if read_stack_word(sp & !7).is_some() {
        sp
    } else {
        (sp | (PAGE_SIZE - 1)).saturating_add(1)
    }
}

/// The status line.
pub(super) fn show(f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
    writeln!(
        f,
        "guard stack_guard known={} wild={}",
        u8::from(stack_guard_known()),
        u8::from(stack_guard_wild_known())
    )
}
