// SPDX-License-Identifier: GPL-2.0

//! The C side of the guard (`guard_helpers.c`): kernel state and calls that Rust cannot
//! reach through `bindings`, and the task state they report ([`Marks`]).

use core::ffi::{c_char, c_int, c_uint, c_ulong, c_void};

use crate::pt_regs::PtRegs;

/// Task state that kernel code holds for a while and must give back (`struct ndg_marks`):
/// abandoning kernel code that changed it leaves it changed for good.
#[repr(C)]
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Marks {
    /// Locks in lockdep's list for the task (0 without lockdep).
    pub(super) lockdep_depth: c_uint,
    /// `pagefault_disable()` depth.
    pub(super) pagefault: c_uint,
    /// The task's block plug (`blk_start_plug()`), 0 if none.
    pub(super) plug: c_ulong,
    /// This CPU's `printk()` recursion depth in this context, read at a call's entry
    /// only (0 on a kernel without patch 0005, and at a fault).
    pub(super) printk_depth: c_uint,
}

// The layout `guard_helpers.h` gives `struct ndg_marks`.
const _: () = assert!(
    core::mem::size_of::<Marks>() == 24 && core::mem::offset_of!(Marks, printk_depth) == 16
);

extern "C" {
    pub(super) static ndg_level_mask: c_uint;
    pub(super) static ndg_nmi_offset: c_uint;
    pub(super) static ndg_hardirq_offset: c_uint;
    pub(super) static ndg_hardirq_mask: c_uint;
    pub(super) static ndg_nmi_mask: c_uint;
    pub(super) static ndg_die_oops: c_ulong;
    pub(super) static ndg_die_trap: c_ulong;
    pub(super) static ndg_die_gpf: c_ulong;
    pub(super) static ndg_die_page_fault: c_ulong;
    pub(super) static ndg_die_debug: c_ulong;
    pub(super) static ndg_stack_guard_known: bool;
    pub(super) static ndg_stack_guard_wild_known: bool;

    pub(super) static ndg_rcu_preempt_delta: c_uint;

    pub(super) fn ndg_context(pc: *mut c_uint, cpu: *mut c_uint, marks: *mut Marks) -> *mut c_void;
    pub(super) fn ndg_chain_context(pc: *mut c_uint, marks: *mut Marks);
    pub(super) fn ndg_is_stack_guard_die(msg: *const c_char) -> bool;
    pub(super) fn ndg_apic_in_service() -> bool;
    pub(super) fn ndg_holds_more(pc: c_uint, entry_pc: c_uint) -> bool;
    pub(super) fn ndg_lockdep_unwind(depth: c_uint);
    pub(super) fn ndg_preempt_count() -> c_uint;
    pub(super) fn ndg_preempt_count_set(pc: c_uint);
    pub(super) fn ndg_printk_depth_set(depth: c_uint);
    pub(super) static ndg_printk_restorable: bool;
    pub(super) fn ndg_cpu() -> c_uint;
    pub(super) fn ndg_here(cpu: *mut c_uint, task: *mut *mut c_void) -> c_uint;
    pub(super) fn ndg_current() -> *mut c_void;
    pub(super) fn ndg_irq_regs() -> *mut PtRegs;
    pub(super) fn ndg_irq_disable();
    pub(super) fn ndg_irq_restore(flags: c_ulong);
    pub(super) fn ndg_send_nmi(cpu: c_uint);
    pub(super) fn ndg_cpu_online(cpu: c_uint) -> bool;
    pub(super) fn ndg_spin_functions(
        start: *mut c_ulong,
        size: *mut c_ulong,
        max: c_uint,
    ) -> c_uint;
    pub(super) fn ndg_on_each_cpu(f: unsafe extern "C" fn(*mut c_void), info: *mut c_void);
    pub(super) fn ndg_rust_bug_extent(start: *mut c_ulong, size: *mut c_ulong) -> c_int;
    pub(super) fn ndg_report_kernel_fault(
        regs: *mut PtRegs,
        what: *const c_char,
        outcome: *const c_char,
        err: c_ulong,
        trapnr: c_ulong,
    );
    pub(super) fn ndg_note_kernel_fault(
        regs: *mut PtRegs,
        what: *const c_char,
        outcome: *const c_char,
    );
    pub(super) fn ndg_shim_functions(
        start: *mut c_ulong,
        size: *mut c_ulong,
        max: c_uint,
    ) -> c_uint;
    pub(super) fn ndg_trylock_path(
        start: *mut c_ulong,
        size: *mut c_ulong,
        helper_ret: *mut c_ulong,
    ) -> c_int;
    pub(super) fn ndg_unlock_path(
        start: *mut c_ulong,
        size: *mut c_ulong,
        helper: *mut c_ulong,
    ) -> c_int;
    pub(super) fn ndg_lock_word_fault(regs: *const PtRegs, page_fault: bool) -> bool;
    pub(super) fn ndg_pc_without_lock_levels(pc: c_uint, entry_pc: c_uint, n: c_uint) -> c_uint;
    pub(super) fn ndg_hooks_register(
        die_cb: unsafe extern "C" fn(
            c_ulong,
            *mut PtRegs,
            c_ulong,
            c_ulong,
            *const c_char,
        ) -> c_int,
        nmi_cb: unsafe extern "C" fn(*mut PtRegs) -> c_int,
    ) -> c_int;
    pub(super) fn ndg_hooks_unregister();
}
