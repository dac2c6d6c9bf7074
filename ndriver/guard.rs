// SPDX-License-Identifier: GPL-2.0

//! Guard runtime (x86-64): run driver code so that a crash or a hang of that code becomes an
//! error return to the caller instead of an oops, a panic or a stuck CPU.
//!
//! # How it works
//!
//! [`guarded_call`] saves a resume context (callee-saved registers and the stack pointer, like
//! `setjmp`) in a [`Frame`] that lives on the caller's stack, links the frame where the fault
//! handlers can find it and calls the guarded function. The frame also records the preempt
//! count, the IRQ flags, the context level (task, softirq, hardirq, NMI) and a deadline.
//!
//! Frames entered in atomic context (preempt count non-zero or IRQs off) cannot migrate and are
//! pushed on a per-CPU chain. Frames entered in preemptible task context can sleep and migrate;
//! they are kept in a small table of task slots keyed by the task.
//!
//! Recovery always works the same way: a handler running on the faulting CPU checks that the
//! interrupted context belongs to the innermost armed frame (same CPU or task, same context level,
//! stack pointer below the frame), then rewrites the interrupted `pt_regs` so that the exception,
//! interrupt or NMI returns to [`guard_resume`] on the guarded call's stack. `guard_resume` restores
//! the callee-saved registers and returns from `guard_enter` a second time; [`guarded_call`] sees
//! the fault mark and, now in ordinary context, restores the preempt count and IRQ flags.
//!
//! Handlers:
//! - die notifier (priority `INT_MAX`): `DIE_TRAP` (#UD from `BUG()`/Rust panic, #DE), `DIE_GPF`
//!   (#GP, before any oops output), `DIE_OOPS` (page faults, reached from `page_fault_oops()` after
//!   `oops_begin()`; returning `NOTIFY_STOP` makes `__die()` return 1, so `oops_end()` runs with
//!   `signr == 0`, releases the die lock and restores IRQs, but the oops is printed, the kernel is
//!   tainted `D`, tracing and lock debugging are switched off and the console stays verbose), and
//!   `DIE_PAGE_FAULT` (sent before `oops_begin()` with the kernel patch in `scripts/kernel/patches/`).
//! - a per-CPU periodic `HARD` hrtimer: hangs with IRQs on (the interrupted `pt_regs` come from
//!   `get_irq_regs()`), and a heartbeat for the cross-CPU check.
//! - an `NMI_LOCAL` handler: hangs with IRQs off. Another CPU's hrtimer sees a stale heartbeat and
//!   sends an NMI; the NMI handler rewrites both `pt_regs` and the "iret" copy of the hardware frame
//!   that the x86-64 NMI exit path really returns through. When every CPU hangs at once, no hrtimer
//!   runs anywhere: the NMI then comes from the i6300ESB watchdog the ticks pet (`esb.rs`).
//!
//! # Files
//!
//! One concept per file under `guard/`, listed lowest layer first: a file uses only files
//! listed before it.
//! - `fault.rs`: [`Fault`], what a failed guarded call reports (what ended it, a
//!   [`Detected`](crate::detected::Detected), and where), and
//!   [`FaultContext`], what the guard saw of the faulting context (registers, driver
//!   return addresses on the stack), for crash reports.
//! - `helpers.rs`: the C side (`guard_helpers.c`): context accessors and the task state
//!   they report (`Marks`), hook registration, kallsyms lookups, kernel-fault reports.
//! - `cpu.rs`: the processor: TSC and its conversions, `RFLAGS`, interrupts, current CPU
//!   (reading `RFLAGS` and telling user mode are `x86.rs`'s, shared with `trace.rs`).
//! - `frame.rs`: the [`Frame`](frame::Frame), the per-CPU chains and the task slots that
//!   hold frames; finding, unlinking and giving up frames; [`guarded_owner`], and
//!   [`note_raised`] for a fault injected at a driver instruction.
//! - `driver_locks.rs`: the `DriverLock`s a guarded call holds, counted in its frame,
//!   which the guard does not take for kernel locks.
//! - `entry.rs`: the naked `guard_enter` and `guard_resume` with the frame offsets they use,
//!   and `redirect`, which makes an interrupted context return to `guard_resume`.
//! - `text.rs`: text ranges (driver text, delay loops, leaf memory and I/O functions, the
//!   panic `BUG()`): where a hang may be aborted, and whether a fault is the driver's;
//!   `capture`, which copies the faulting context into the frame for [`FaultContext`].
//! - `lock_paths.rs`: the paths of `DriverLock` into the kernel's try-lock and unlock, and
//!   what a fault on a bad lock word there holds.
//! - `counters.rs`: the counters and [`show`].
//! - `call.rs`: [`guarded_call`] and [`guarded`].
//! - `trap.rs`: the die notifier: classifies exceptions, decides what is contained, redirects.
//! - `watchdog.rs`: hangs: the per-CPU hrtimer, the NMI handler, [`end_if_overdue`].
//! - `runtime.rs`: [`Runtime`], which installs all of it and removes it again.

#[path = "guard/call.rs"]
mod call;
#[path = "guard/counters.rs"]
mod counters;
#[path = "guard/cpu.rs"]
mod cpu;
#[path = "guard/driver_locks.rs"]
mod driver_locks;
#[path = "guard/entry.rs"]
mod entry;
#[path = "guard/fault.rs"]
mod fault;
#[path = "guard/frame.rs"]
mod frame;
#[path = "guard/helpers.rs"]
mod helpers;
#[path = "guard/lock_paths.rs"]
mod lock_paths;
#[path = "guard/runtime.rs"]
mod runtime;
#[path = "guard/stack_guard.rs"]
mod stack_guard;
#[path = "guard/text.rs"]
mod text;
#[path = "guard/trap.rs"]
mod trap;
#[path = "guard/watchdog.rs"]
mod watchdog;

pub(crate) use call::{guarded, guarded_call};
pub(crate) use counters::show;
pub(crate) use cpu::{context_level, cycles_to_ns, in_hardirq, rdtsc, this_cpu, with_irqs_off};
pub(crate) use driver_locks::driver_lock_held;
pub(crate) use entry::GuardFn;
pub(crate) use fault::{Fault, FaultContext};
pub(crate) use frame::{guarded_owner, note_raised};
pub(crate) use lock_paths::{trylock_path_known, unlock_path_known};
pub(crate) use runtime::Runtime;
pub(crate) use stack_guard::{stack_guard_known, stack_guard_wild_known};
pub(crate) use text::{module_text, register_module_text, unregister_module_text};
pub(crate) use watchdog::end_if_overdue;

/// Whether the kernel lets the guard give an abandoned call's `printk()` recursion
/// depth back (kernel patch 0005): else a fault inside `printk()` leaves it raised.
pub(crate) fn printk_depth_restorable() -> bool {
    // SAFETY: a constant the C helpers define.
    unsafe { helpers::ndg_printk_restorable }
}

/// Whether `ip` lies in the text of a registered implementation module.
pub(crate) fn in_driver_text(ip: usize) -> bool {
    text::DRIVER_TEXT.contains(ip)
}

// Under preemptible RCU a read-side section is counted in the task, not in the preempt
// count the guard restores: a call abandoned inside one would leave the task in it for
// good. `scripts/build-kernel.sh` refuses such a tree too.
#[cfg(CONFIG_PREEMPT_RCU)]
compile_error!(
    "ndriver does not support CONFIG_PREEMPT_RCU kernels: an abandoned call's RCU read-side nesting cannot be restored"
);
