// SPDX-License-Identifier: GPL-2.0

//! The die notifier: classifies the exceptions of guarded code, decides what is contained
//! (a driver fault, or a kernel fault and the locks it holds) and redirects the faulting
//! context to its guard.

use core::ffi::{c_char, c_int, c_uint, c_ulong, CStr};
use core::sync::atomic::Ordering;

use crate::pt_regs::PtRegs;

use super::counters::{KERNEL_FAULTS, KERNEL_FAULTS_LEFT};
use super::cpu::user_mode;
use super::driver_locks::pc_without_driver_locks;
use super::entry::redirect;
use super::frame::{abandon_context, find_frame, guarded_owner, Frame, CPUS};
use super::helpers::{
    ndg_chain_context, ndg_cpu, ndg_die_debug, ndg_die_gpf, ndg_die_oops, ndg_die_page_fault,
    ndg_die_trap, ndg_holds_more, ndg_level_mask, ndg_note_kernel_fault, ndg_report_kernel_fault,
    Marks,
};
use super::lock_paths::{lock_attempt_pc, lock_release_fault_is_drivers};
use super::stack_guard::{interrupt_lost, is_stack_guard_hit, pc_outside_double_fault, scan_start};
use super::text::{capture, driver_fault_site};
use crate::detected::Detected;

const X86_TRAP_DE: c_ulong = 0;
const X86_TRAP_UD: c_ulong = 6;
const X86_TRAP_DF: c_ulong = 8;
const X86_TRAP_GP: c_ulong = 13;
const X86_TRAP_PF: c_ulong = 14;

const NOTIFY_DONE: c_int = 0;
const NOTIFY_STOP: c_int = 0x8001;

fn classify(val: c_ulong, trapnr: c_ulong, msg: *const c_char) -> Option<Detected> {
    // SAFETY: Reading constants defined by the C helpers.
    let (die_oops, die_trap, die_gpf, die_pf) =
        unsafe { (ndg_die_oops, ndg_die_trap, ndg_die_gpf, ndg_die_page_fault) };
    let by_trap = |trapnr| match trapnr {
        X86_TRAP_UD => Detected::Bug,
        X86_TRAP_DE => Detected::Divide,
        X86_TRAP_GP => Detected::Gpf,
        X86_TRAP_PF => Detected::PageFault,
        _ => Detected::OtherTrap,
    };
    if val == die_trap && trapnr == X86_TRAP_DF && is_stack_guard_hit(msg) {
        Some(Detected::StackOverflow)
    } else if val == die_trap {
        Some(by_trap(trapnr))
    } else if val == die_gpf {
        Some(Detected::Gpf)
    } else if val == die_pf {
        // Only sent with kernel-patch-die-page-fault.diff: before `oops_begin()`, no oops at all.
        Some(Detected::PageFault)
    } else if val == die_oops {
        // `page_fault_oops()` does not set `thread.trap_nr`; recognise it by its message.
        let is_pf = !msg.is_null() && {
            // SAFETY: `die_args.str` is a NUL-terminated string.
            let s = unsafe { CStr::from_ptr(msg) };
            s == c"Oops" || s == c"Bad pagetable"
        };
        Some(if is_pf {
            Detected::PageFault
        } else {
            by_trap(trapnr)
        })
    } else {
        None
    }
}

/// Die notifier callback (called by `ndg_die_notify`).
///
/// A fault in driver code is contained. A fault in core kernel code is contained as a
/// kernel fault, with a full report, unless it is a `BUG()` or the kernel code held more
/// than the guarded call held at entry (a spinlock, disabled bottom halves, a lock lockdep
/// sees): those are left to the kernel unless the frame's policy says otherwise. Once the
/// oops machinery runs (`DIE_OOPS`), only a page fault is still contained (kernels without
/// the page-fault patch report nothing earlier); otherwise the faulting context is about to
/// end and its frames are given up.
///
/// # Safety
///
/// `regs` must be null or the live `pt_regs` of the exception being reported on this CPU, and
/// `msg` null or a NUL-terminated string.
pub(super) unsafe extern "C" fn on_die(
    val: c_ulong,
    regs: *mut PtRegs,
    trapnr: c_ulong,
    err: c_ulong,
    msg: *const c_char,
) -> c_int {
    // SAFETY: Reading a constant defined by the C helpers.
    if val == unsafe { ndg_die_debug } {
        // SAFETY: `regs` is null or the live registers of this debug exception; for
        // `DIE_DEBUG`, `notify_debug()` passes the address of its `DR6` value as `err`;
        // this is the debug exception's die notifier, as `guarded_owner` needs.
        return if unsafe { crate::trace::on_debug(regs, err as usize as *mut _, guarded_owner) } {
            NOTIFY_STOP
        } else {
            NOTIFY_DONE
        };
    }
    let Some(class) = classify(val, trapnr, msg) else {
        return NOTIFY_DONE;
    };
    // A double fault ends in a panic, whatever a notifier answers; but for a hit stack
    // guard page, told separately where the kernel can return from it (`stack_guard.rs`).
    let overflow = class == Detected::StackOverflow;
    if regs.is_null() || (trapnr == X86_TRAP_DF && !overflow) {
        return NOTIFY_DONE;
    }
    // SAFETY: The die chain passes the live `pt_regs` of the exception.
    let r = unsafe { &*regs };
    if user_mode(r) || (overflow && interrupt_lost(r)) {
        return NOTIFY_DONE;
    }
    // Exceptions do not change the preempt count; the notifier chain's RCU read lock
    // does, and is taken out: this is the faulting context's.
    let mut pc: c_uint = 0;
    let mut marks = Marks::default();
    // SAFETY: FFI accessors; the pointers are valid for writes.
    let cpu = unsafe {
        ndg_chain_context(&mut pc, &mut marks);
        ndg_cpu() as usize
    };
    // The double-fault handler counts itself as an NMI.
    let pc = if overflow {
        pc_outside_double_fault(pc)
    } else {
        pc
    };
    // SAFETY: Reading a constant defined by the C helpers.
    let level = pc & unsafe { ndg_level_mask };
    // An overflowing stack pointer may lie in the guard page, below the stack: the frame
    // is looked up, and the report's stack scanned, from the first mapped page above it.
    let sp = if overflow { scan_start(r.sp) } else { r.sp };
    // SAFETY: We run in the exception handler on the faulting CPU.
    let fp = unsafe { find_frame(cpu, level, sp) };
    if fp.is_null() {
        return NOTIFY_DONE;
    }
    // SAFETY: `fp` is the live, armed frame of the faulting context.
    let frame = unsafe { &*fp };
    let access = matches!(class, Detected::PageFault | Detected::Gpf);
    let page_fault = class == Detected::PageFault;
    // SAFETY: `r` are the registers of this CPU's kernel-mode fault.
    let in_kernel = !unsafe { driver_fault_site(r) }
        && !(access && lock_release_fault_is_drivers(r, page_fault));
    // A lock being taken is not held yet: the counts the try-lock path raised before its
    // access to a bad lock word are no kernel lock.
    let pc = if in_kernel && access {
        lock_attempt_pc(r, page_fault, pc)
    } else {
        pc
    };
    // Nor is the driver's own lock, which dies with the instance.
    let pc = if in_kernel {
        let held = frame.driver_locks.load(Ordering::Relaxed);
        pc_without_driver_locks(pc, frame.entry_pc, held)
    } else {
        pc
    };
    let held = in_kernel && holds_more_than_at_entry(frame, pc, &marks);
    let containable = !in_kernel || (class != Detected::Bug && !held) || frame.contain_kernel_bug;
    // SAFETY: Reading a constant defined by the C helpers.
    let oops = val == unsafe { ndg_die_oops };
    if oops && (class != Detected::PageFault || !containable) {
        if in_kernel {
            KERNEL_FAULTS_LEFT.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: We run on top of the faulting context, which the kernel now ends (or
        // panics, in interrupt context).
        unsafe { abandon_context(cpu, level) };
        return NOTIFY_DONE;
    }
    if in_kernel {
        let (what, outcome) = kernel_fault_words(class, containable, held);
        if !containable {
            // One line: the oops that follows is the report.
            // SAFETY: `regs` are the live registers of the fault; the strings are static.
            unsafe { ndg_note_kernel_fault(regs, what.as_ptr(), outcome.as_ptr()) };
            return NOTIFY_DONE;
        }
        if !oops {
            let state = CPUS.get(cpu);
            state.inspect(|s| s.reporting.store(true, Ordering::Relaxed));
            // SAFETY: `regs` are the live registers of the fault; `what` and `outcome` are static
            // NUL-terminated strings.
            unsafe { ndg_report_kernel_fault(regs, what.as_ptr(), outcome.as_ptr(), err, trapnr) };
            state.inspect(|s| s.reporting.store(false, Ordering::Relaxed));
        }
        KERNEL_FAULTS.fetch_add(1, Ordering::Relaxed);
        frame.fault_in_kernel.store(true, Ordering::Relaxed);
    }
    // SAFETY: `fp` is the armed frame found for the faulting context at `sp`, which
    // cannot unlink it while we run on top of it; `frame` is not used any more.
    unsafe { capture(fp, Some(r), r.ip, sp) };
    // SAFETY: `regs` and `fp` satisfy `redirect`'s requirements; not an NMI.
    if unsafe { redirect(regs, fp, class, false) } {
        NOTIFY_STOP
    } else {
        NOTIFY_DONE
    }
}

/// Whether the faulting context, with preempt count `pc` and task state `marks`, holds more
/// than `frame`'s call held at entry: deeper disabled preemption (a spinlock, an RCU read
/// section on this kernel's RCU), more disabled bottom halves or hard interrupts, more locks
/// in lockdep's list (a mutex, on lockdep kernels), deeper `pagefault_disable()`, a block
/// plug of its own. Abandoning such code leaves the lock taken for good. The driver's
/// own `DriverLock`s are taken off `pc` first (`driver_locks.rs`): they die with the
/// instance.
fn holds_more_than_at_entry(frame: &Frame, pc: u32, marks: &Marks) -> bool {
    // SAFETY: FFI call without preconditions.
    let preempt = unsafe { ndg_holds_more(pc, frame.entry_pc) };
    preempt
        || marks.lockdep_depth > frame.marks.lockdep_depth
        || marks.pagefault > frame.marks.pagefault
        || marks.plug != frame.marks.plug
}

/// What the kernel-fault report says: the fault, and what the guard does with it.
fn kernel_fault_words(
    class: Detected,
    contain: bool,
    held: bool,
) -> (&'static CStr, &'static CStr) {
    let what = match class {
        Detected::Bug => c"BUG",
        Detected::PageFault => c"page fault",
        Detected::Gpf => c"general protection fault",
        Detected::Divide => c"divide error",
        Detected::StackOverflow => c"stack overflow",
        _ => c"trap",
    };
    let outcome = match (contain, held) {
        (true, false) => c"contained as kernel_fault, the instance is replaced",
        (true, true) => {
            c"with a lock held; contained as kernel_fault only because policy kernel_bug=1"
        }
        (false, false) => c"not contained: policy kernel_bug=0 leaves a kernel BUG to the kernel",
        (false, true) => {
            c"with a lock held: not contained (policy kernel_bug=0), left to the kernel"
        }
    };
    (what, outcome)
}
