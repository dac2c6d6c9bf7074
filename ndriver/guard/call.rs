// SPDX-License-Identifier: GPL-2.0

//! Guarded calls: [`guarded_call`] runs a C function under a guard, [`guarded`] a closure.

use core::ffi::{c_uint, c_ulong, c_void};
use core::mem::MaybeUninit;
use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use super::counters::{STATS, UNAVAILABLE};
use super::cpu::{cycles_to_ns, ns_to_cycles, rdtsc, save_flags, X86_EFLAGS_IF};
use super::entry::{guard_enter, GuardFn};
use super::fault::{Fault, FaultContext};
use super::frame::{
    claim_slot, credit_nested, release_inner_slots, unlink, Frame, CPUS, LEVEL_MASK,
};
use super::helpers::{
    ndg_context, ndg_irq_disable, ndg_irq_restore, ndg_lockdep_unwind, ndg_preempt_count,
    ndg_preempt_count_set, ndg_printk_depth_set, Marks,
};
use crate::detected::Detected;

pub(super) static ACTIVE: AtomicBool = AtomicBool::new(false);

/// The failure of a call the guard could not arm (it did not run), counted.
fn unavailable() -> Fault {
    UNAVAILABLE.fetch_add(1, Ordering::Relaxed);
    Fault::unavailable()
}

/// Runs `f(arg)` under a guard.
///
/// Returns `Ok(f(arg))`, or `Err` if `f` raised an exception (BUG/panic, page fault, #GP, #DE)
/// or ran past `budget_ns` nanoseconds (0: no deadline). Works in task, softirq and hardirq
/// context and nests. After an `Err`, the preempt count and the IRQ flags are those at entry.
///
/// When the call failed in a way a handler saw (an exception or a hang), `sink` is given the
/// faulting context ([`FaultContext`]) before the fault is returned; it runs in the
/// caller's context. `owner` tags the call for [`guarded_owner`](super::guarded_owner)
/// (the device making it; 0 for none).
///
/// A fault whose instruction is in core kernel code (not in an implementation's text) is
/// reported in full and contained as a kernel fault ([`Fault::in_kernel`]), except a `BUG()`
/// there (a broken kernel invariant) or a fault while that code holds more than the call
/// held at entry (a lock that would stay taken): those are left to the kernel (an oops that
/// ends the task, a panic in interrupt context) unless `contain_kernel_bug` says otherwise.
///
/// # Safety
///
/// - `f(arg)` must be safe to call.
/// - When a fault is recovered, the frames of `f` and of everything it called are abandoned
///   without running any destructor or unlock. `f` must therefore not publish pointers to its own
///   stack (on-stack wait queue entries, list nodes, timers, completions, ...) and must not take
///   locks or resources outside the driver's own state that other code depends on; the caller
///   must treat all driver state touched by `f` (including driver-owned locks) as corrupt after an
///   `Err`.
pub(crate) unsafe fn guarded_call(
    f: GuardFn,
    arg: *mut c_void,
    budget_ns: u64,
    contain_kernel_bug: bool,
    sink: Option<&dyn Fn(&Fault, &FaultContext)>,
    owner: usize,
) -> Result<i64, Fault> {
    if !ACTIVE.load(Ordering::Relaxed) {
        return Err(unavailable());
    }

    let mut pc: c_uint = 0;
    let mut cpu: c_uint = 0;
    let mut marks = Marks::default();
    // SAFETY: FFI accessor; the pointers are valid for writes.
    let task = unsafe { ndg_context(&mut pc, &mut cpu, &mut marks) };
    let flags = save_flags();
    let start = rdtsc();
    // A call stepped for a trace runs hundreds of times slower.
    let traced = crate::trace::active_for(owner);
    let deadline = match budget_ns {
        0 => u64::MAX,
        ns if traced => start.saturating_add(ns_to_cycles(
            ns.saturating_mul(crate::trace::DEADLINE_SCALE),
        )),
        ns => start.saturating_add(ns_to_cycles(ns)),
    };
    let mut frame = Frame {
        callee_saved: MaybeUninit::uninit(),
        rsp: 0,
        armed: AtomicU32::new(0),
        fault: AtomicU32::new(0),
        prev: ptr::null_mut(),
        task,
        entry_pc: pc,
        driver_locks: AtomicU32::new(0),
        lock_wait: AtomicBool::new(false),
        marks,
        level: pc & LEVEL_MASK.load(Ordering::Relaxed),
        entry_flags: flags,
        start_tsc: start,
        deadline_tsc: AtomicU64::new(deadline),
        fault_ip: 0,
        fault_tsc: 0,
        slot: usize::MAX,
        cpu: cpu as usize,
        contain_kernel_bug,
        fault_in_kernel: AtomicBool::new(false),
        raised_ip: AtomicU64::new(0),
        owner,
        captured: false,
        ctx: MaybeUninit::uninit(),
    };
    let fp: *mut Frame = &mut frame;

    let atomic = pc != 0 || flags & X86_EFLAGS_IF == 0;
    if atomic {
        // Atomic context cannot migrate: `cpu` stays valid until the frame is unlinked.
        let Some(state) = CPUS.get(frame.cpu) else {
            return Err(unavailable());
        };
        frame.prev = state.top.load(Ordering::Relaxed);
        // Release: a handler on this CPU that sees the frame sees it fully initialised.
        state.top.store(fp, Ordering::Release);
    } else {
        match claim_slot(task, fp) {
            Some(idx) => frame.slot = idx,
            None => return Err(unavailable()),
        }
    }

    let stepped = traced.then(crate::trace::step_on);
    // SAFETY: `fp` is valid for the whole call and linked above; the caller guarantees `f(arg)`.
    let ret = unsafe { guard_enter(fp, f, arg) };
    if let Some(was) = stepped {
        // Also after an abort: the resumed context has the flag of the fault.
        crate::trace::step_off(was);
    }
    // SAFETY: `fp` points at `frame`, which is still alive. The read is volatile because a
    // handler may have written it behind the compiler's back.
    let mut class = unsafe { (*fp).fault.load(Ordering::Acquire) };
    if class == 0 {
        // A call that returns with another preempt count or interrupt flag than it entered
        // with (a lock released in part, an instruction skipped) would leave the kernel
        // running on that: it fails like a trap, and the restore below puts both back.
        // SAFETY: FFI accessor without preconditions.
        let pc_now = unsafe { ndg_preempt_count() };
        if pc_now != frame.entry_pc || (save_flags() ^ frame.entry_flags) & X86_EFLAGS_IF != 0 {
            frame.fault_ip = 0;
            frame.fault_tsc = rdtsc();
            class = Detected::OtherTrap as u32;
        }
    }

    if class != 0 {
        // A failure `guard_enter` finds itself (a callee-saved register changed) takes no
        // time stamp there: the call ended about now.
        // SAFETY: `fp` points at `frame`, still alive; volatile as for `fault`.
        if unsafe { core::ptr::read_volatile(&raw const (*fp).fault_tsc) } == 0 {
            frame.fault_tsc = rdtsc();
        }
    }

    if class == 0 {
        unlink(&frame);
        if frame.level != 0 {
            credit_nested(&frame, rdtsc().wrapping_sub(start));
        }
        return Ok(ret);
    }

    // Recovered fault: we run in the context that entered the guard, but with the preempt count
    // and the IRQ state of the fault. Restore both to their entry values.
    // Locks the abandoned code took stay taken (they die with the instance); lockdep is told
    // to forget them.
    // SAFETY: FFI calls. IRQs are disabled while the preempt count is rewritten, so no
    // interrupt sees a half-restored state.
    unsafe {
        ndg_irq_disable();
        ndg_preempt_count_set(frame.entry_pc);
        ndg_lockdep_unwind(frame.marks.lockdep_depth);
        // A fault inside `printk()` (a bad `%s` pointer) leaves its recursion depth
        // raised: past printk's limit the CPU's messages would be dropped for good.
        // After the preempt count: printk picks its counter by the context it shows.
        ndg_printk_depth_set(frame.marks.printk_depth);
    }
    unlink(&frame);
    if frame.slot != usize::MAX {
        release_inner_slots(task, frame.rsp);
    }
    // SAFETY: Restores the IRQ flags saved at entry, in the same context.
    unsafe { ndg_irq_restore(frame.entry_flags as c_ulong) };

    if frame.level != 0 {
        credit_nested(&frame, rdtsc().wrapping_sub(start));
    }

    let class = Detected::from_raw(class);
    if let Some(counter) = STATS.get(class as usize) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
    let fault = Fault {
        class,
        unavailable: false,
        ip: frame.fault_ip as usize,
        elapsed_ns: cycles_to_ns(frame.fault_tsc.wrapping_sub(frame.start_tsc)),
        in_kernel: frame.fault_in_kernel.load(Ordering::Relaxed),
        lock_wait: class == Detected::Hang && frame.lock_wait.load(Ordering::Relaxed),
    };
    if let Some(sink) = sink {
        if frame.captured {
            // SAFETY: `captured` is set only after `capture` wrote `ctx`, by the handler that
            // ended the call, before it published the fault we loaded with `Acquire`.
            sink(&fault, unsafe { frame.ctx.assume_init_ref() });
        }
    }
    Err(fault)
}

/// Runs the closure `f` under a guard, see [`guarded_call`].
///
/// The closure's value comes back in a register, as the guarded function's: nothing
/// stores it through a pointer between the driver's return and the guard's check of the
/// callee-saved registers ([`GuardFn`]).
///
/// # Safety
///
/// Same as [`guarded_call`]: after an `Err` of a call that ran, `f` and its captures are
/// abandoned without being dropped (a call the guard could not start drops `f`), and `f`
/// must not have published pointers into its stack.
pub(crate) unsafe fn guarded<F: FnOnce() -> i64>(
    budget_ns: u64,
    contain_kernel_bug: bool,
    sink: Option<&dyn Fn(&Fault, &FaultContext)>,
    owner: usize,
    f: F,
) -> Result<i64, Fault> {
    /// Calls the closure stored in the `Option<F>` at `arg` (taking it) and returns its
    /// value; 0 if there is none.
    ///
    /// # Safety
    ///
    /// `arg` must point at a live, exclusively owned `Option<F>`.
    unsafe extern "C" fn trampoline<F: FnOnce() -> i64>(arg: *mut c_void) -> i64 {
        // SAFETY: `arg` is the `Option<F>` passed by `guarded` below, alive and exclusively
        // ours.
        let f = unsafe { &mut *arg.cast::<Option<F>>() }.take();
        f.map_or(0, |f| f())
    }

    let mut f = Some(f);
    // SAFETY: `trampoline` only uses `f`, which outlives the call; the rest is the caller's
    // responsibility.
    let v = unsafe {
        guarded_call(
            trampoline::<F>,
            (&raw mut f).cast::<c_void>(),
            budget_ns,
            contain_kernel_bug,
            sink,
            owner,
        )?
    };
    // The trampoline took the closure, or it did not run.
    match f {
        None => Ok(v),
        Some(_) => Err(unavailable()),
    }
}
