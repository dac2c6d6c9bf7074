// SPDX-License-Identifier: GPL-2.0

//! Hang detection: the per-CPU watchdog hrtimer (hangs with interrupts on, and the heartbeat
//! of the cross-CPU check), the NMI handler (hangs with interrupts off, kicked by another CPU
//! or by the i6300ESB), and [`end_if_overdue`] for guarded code that waits.

use core::arch::asm;
use core::ffi::{c_int, c_uint, c_void};
use core::ptr;
use core::sync::atomic::Ordering;

use kernel::bindings;

use crate::pt_regs::PtRegs;

use super::counters::{
    HANG_BY_ESB, HANG_BY_NMI, HANG_BY_TIMER, HANG_BY_WAIT, HANG_FORCED, HANG_HELD, NMI_KICKS,
};
use super::cpu::{ns_to_cycles, rdtsc, user_mode};
use super::entry::{guard_resume, redirect};
use super::frame::{find_frame, own_frame, OwnContext, CPUS};
use super::helpers::{
    ndg_cpu, ndg_cpu_online, ndg_hardirq_offset, ndg_holds_more, ndg_irq_regs, ndg_level_mask,
    ndg_nmi_offset, ndg_preempt_count, ndg_rcu_preempt_delta, ndg_send_nmi,
};
use super::text::{abort_point, capture, SPIN_TEXT};
use crate::detected::Detected;

const NMI_DONE: c_int = 0;
const NMI_HANDLED: c_int = 1;

/// Period of the per-CPU watchdog hrtimer.
const WATCHDOG_PERIOD_NS: u64 = 1_000_000;
/// A CPU whose watchdog did not tick for this long is sent an NMI (if it runs guarded code).
const NMI_GRACE_NS: u64 = 10_000_000;
/// How long after a kick an NMI that finds no kick pending is still taken as ours.
const NMI_LATE_NS: u64 = 100_000_000;
/// On the ESB's NMI (every CPU stuck), a call due within this long is waited for in the
/// NMI handler rather than left running: nothing else will interrupt it again.
const STALL_WAIT_MAX_NS: u64 = 1_000_000_000;
/// A hung call that stays outside abort points this long past its deadline is aborted anyway.
const FORCE_ABORT_NS: u64 = 500_000_000;
/// How long an overdue waiter keeps waiting while another CPU has stopped ticking (the
/// holder of its lock, hung with interrupts off, kicked meanwhile).
const WAITER_GRACE_NS: u64 = 20_000_000;

/// Ends the innermost guarded call of the current context as hung if it has overrun its
/// deadline; returns otherwise.
///
/// Called by guarded code that waits for something (a driver lock): when the holder hangs
/// with interrupts off and every other CPU waits for it with interrupts off too, no watchdog
/// tick runs anywhere and no NMI is sent, so the waiters must notice their own overrun. The
/// call is abandoned exactly as the die notifier abandons a faulting one: control resumes in
/// `guarded_call`, which restores the preempt count and the interrupt state of its entry.
pub(crate) fn end_if_overdue(ip: usize) {
    let OwnContext {
        frame: fp, sp, cpu, ..
    } = own_frame();
    if fp.is_null() {
        return;
    }
    // SAFETY: `fp` is non-null, so `own_frame` found a live, armed frame of this context,
    // which stays linked while we, its callee, run.
    let frame = unsafe { &mut *fp };
    // A call that holds a driver lock itself (a self-deadlock, one side of an ABBA) is a
    // cause of the hang, not only a waiter.
    let holds = frame.driver_locks.load(Ordering::Relaxed) != 0;
    frame.lock_wait.store(!holds, Ordering::Relaxed);
    let now = rdtsc();
    if frame.deadline_tsc.load(Ordering::Relaxed) > now {
        return;
    }
    // SAFETY: Plain read of an `int` the kernel updates with atomic ops.
    if unsafe { ptr::read_volatile(&raw const bindings::oops_in_progress) } != 0
        || CPUS
            .get(cpu)
            .is_some_and(|s| s.reporting.load(Ordering::Relaxed))
    {
        return;
    }
    // The lock's holder may be hung on another CPU with interrupts off: then its watchdog
    // stopped ticking and this CPU's, spinning here with interrupts off too, cannot kick
    // it. Kick it from here and wait a little longer, so that the holder's hang (the cause,
    // where it hangs) is the failure the recovery reports, not this wait for it.
    let overdue = now.wrapping_sub(frame.deadline_tsc.load(Ordering::Relaxed));
    if !holds && overdue < ns_to_cycles(WAITER_GRACE_NS) && kick_stalled_cpus(cpu, now, true) {
        return;
    }
    // SAFETY: `fp` is the armed frame of this context, found at our own stack pointer.
    unsafe { capture(fp, None, ip as u64, sp) };
    frame.fault_ip = ip as u64;
    frame.fault_tsc = now;
    frame.armed.store(0, Ordering::Relaxed);
    frame.fault.store(Detected::Hang as u32, Ordering::Release);
    HANG_BY_WAIT.fetch_add(1, Ordering::Relaxed);
    // A call rather than a jump keeps objtool's view of this function's stack frame simple.
    // SAFETY: `guard_resume` unwinds to the `guard_enter` of `frame`, an outer frame of this
    // context, and returns the failure from there; all in between (the pushed return address
    // too) is abandoned, which the callers of `guarded_call` agreed to.
    unsafe { asm!("call {resume}", resume = sym guard_resume, in("rdi") fp, options(noreturn)) }
}

/// Redirects the context interrupted at `regs` if it is guarded code past its deadline.
/// Returns whether it did.
///
/// # Safety
///
/// Same as [`redirect`]; `level_offset` is what the current handler added to the preempt count.
unsafe fn check_hang(regs: *mut PtRegs, level_offset: u32, nmi: bool, now: u64) -> bool {
    if regs.is_null() {
        return false;
    }
    // SAFETY: `regs` are the live registers of the interrupted context.
    let r = unsafe { &*regs };
    if user_mode(r) {
        return false;
    }
    // SAFETY: FFI accessors without preconditions.
    let (cpu, pc) = unsafe { (ndg_cpu() as usize, ndg_preempt_count()) };
    // SAFETY: Reading a constant defined by the C helpers.
    let level = pc.wrapping_sub(level_offset) & unsafe { ndg_level_mask };
    // SAFETY: We run in an interrupt or NMI handler on top of the checked context.
    let frame = unsafe { find_frame(cpu, level, r.sp) };
    // SAFETY: `find_frame` returns null or a live frame of the interrupted context, which
    // cannot unlink it while this handler runs on top of it.
    if frame.is_null() || unsafe { (*frame).deadline_tsc.load(Ordering::Relaxed) } > now {
        return false;
    }
    // Never abort code that is printing an oops or a kernel-fault report (typically our own
    // fault being reported from inside this very frame: it holds the console).
    // SAFETY: Plain read of an `int` the kernel updates with atomic ops.
    if unsafe { ptr::read_volatile(&raw const bindings::oops_in_progress) } != 0
        || CPUS
            .get(cpu)
            .is_some_and(|s| s.reporting.load(Ordering::Relaxed))
    {
        return false;
    }
    // SAFETY: `frame` is non-null here, so a live frame of the interrupted context, which
    // cannot unlink it while we run on top of it.
    let overdue = now.wrapping_sub(unsafe { (*frame).deadline_tsc.load(Ordering::Relaxed) });
    let forced = !abort_point(r.ip);
    // The interrupted kernel code disabled preemption beyond what the call had at entry:
    // it holds a spinlock (a kernel lock such as the PCI config lock, or the driver's own
    // lock across a callout). Abandoning it there would leave the lock taken for good and
    // wedge every later user, which is worse than the hang; wait for it to return into
    // driver text instead, however long that takes.
    // SAFETY: `frame` is the live frame found above; its entry fields are written once, at
    // `guard_enter`, before it is armed.
    let (entry_pc, entry_level) = unsafe { ((*frame).entry_pc, (*frame).level) };
    // SAFETY: FFI call without preconditions.
    let held = unsafe { ndg_holds_more(pc.wrapping_sub(level_offset), entry_pc) };
    // A call in task context is never abandoned inside kernel code either: that code
    // may be half-way through a change (a mutex taken, a device's enable count raised
    // but its undo not yet recorded), and the CPU is not lost meanwhile (the task can
    // be preempted). Seen on the debug kernel: a probe forced out of its slow PCI
    // set-up left the e1000 unable to interrupt for every later instance.
    let task = entry_level == 0;
    // A delay loop is an abort point only when nothing between the driver and it holds
    // more than the call had at entry: `udelay()` under a kernel spinlock (a kernel
    // function the driver called) waits until the loop returns into driver text.
    // Driver text itself stays an abort point with more held: that is the driver's own
    // `DriverLock`, which dies with the instance.
    if !forced && held && SPIN_TEXT.contains(r.ip as usize) {
        return false;
    }
    // A call waiting for a driver lock whose holder may be hung on a CPU that stopped
    // ticking (interrupts off): kick that CPU and give the holder a little longer to be
    // ended first, so that its hang (the cause) is what the recovery reports, as a waiter
    // that ends itself does (`end_if_overdue`). An NMI handler only looks: an IPI sent
    // from NMI context could land between the two APIC writes of one the interrupted
    // code was sending.
    // SAFETY: `frame` is the live frame found above.
    if unsafe { (*frame).lock_wait.load(Ordering::Relaxed) }
        && overdue < ns_to_cycles(WAITER_GRACE_NS)
        && kick_stalled_cpus(cpu, now, !nmi)
    {
        return false;
    }
    if forced && (held || task || overdue < ns_to_cycles(FORCE_ABORT_NS)) {
        if held && overdue >= ns_to_cycles(FORCE_ABORT_NS) {
            HANG_HELD.fetch_add(1, Ordering::Relaxed);
        }
        // Busy in other kernel code: a later tick aborts it once it is back in driver
        // text. Nothing on its stack is touched meanwhile: an earlier version redirected
        // the innermost word that looked like a return address into driver text, and
        // with the guess unwinder that word was at times a register the kernel had saved
        // while it checked that very address (mod_find() under __module_address(), from
        // a KASAN stack trace), which turned the check into a BUG in core kernel code.
        return false;
    }
    // SAFETY: `frame` is the armed frame found for the interrupted context at `r.sp`, which
    // cannot unlink it while we run on top of it. Written again if the redirect below
    // does not happen and a later tick ends the call.
    unsafe { capture(frame, Some(r), r.ip, r.sp) };
    // SAFETY: See the function's safety requirements.
    if unsafe { redirect(regs, frame, Detected::Hang, nmi) } {
        let counter = if nmi { &HANG_BY_NMI } else { &HANG_BY_TIMER };
        counter.fetch_add(1, Ordering::Relaxed);
        if forced {
            HANG_FORCED.fetch_add(1, Ordering::Relaxed);
        }
        return true;
    }
    false
}

/// The ESB's NMI: no CPU ticked for both of its stages, so every CPU is stuck with
/// interrupts off and nothing else will interrupt the context below again until one
/// of them is freed. A guarded call there that is not due yet is waited for (its
/// deadline is at most [`STALL_WAIT_MAX_NS`] away), then ended as a hang.
///
/// # Safety
///
/// `regs` must be the live `pt_regs` saved by the NMI entry code on this CPU.
unsafe fn end_stall(regs: *mut PtRegs) {
    // SAFETY: Reading constants defined by the C helpers.
    let offset = unsafe { ndg_nmi_offset + ndg_rcu_preempt_delta };
    // SAFETY: `regs` are the live registers of the interrupted context.
    let r = unsafe { &*regs };
    if !user_mode(r) {
        // SAFETY: FFI accessors without preconditions.
        let (cpu, pc) = unsafe { (ndg_cpu() as usize, ndg_preempt_count()) };
        // SAFETY: Reading a constant defined by the C helpers.
        let level = pc.wrapping_sub(offset) & unsafe { ndg_level_mask };
        // SAFETY: We run in an NMI handler on top of the checked context.
        let frame = unsafe { find_frame(cpu, level, r.sp) };
        if !frame.is_null() {
            // SAFETY: `frame` is a live frame of the interrupted context, which cannot
            // unlink it while we run on top of it.
            let deadline = unsafe { (*frame).deadline_tsc.load(Ordering::Relaxed) };
            let now = rdtsc();
            if deadline > now && deadline - now <= ns_to_cycles(STALL_WAIT_MAX_NS) {
                while rdtsc() < deadline {
                    core::hint::spin_loop();
                }
            }
        }
    }
    // SAFETY: `regs` are the live `pt_regs` the NMI entry code saved on this CPU (the
    // contract), so `nmi` is true; the NMI entry added `ndg_nmi_offset` and `nmi_handle()` its
    // RCU read lock.
    if unsafe { check_hang(regs, offset, true, rdtsc()) } {
        HANG_BY_ESB.fetch_add(1, Ordering::Relaxed);
    }
}

/// `NMI_LOCAL` handler: aborts a hung guarded call on this CPU if another CPU kicked it,
/// or if the i6300ESB fired because every CPU is stuck.
///
/// # Safety
///
/// `regs` must be the live `pt_regs` saved by the NMI entry code on this CPU.
pub(super) unsafe extern "C" fn on_nmi(regs: *mut PtRegs) -> c_int {
    // SAFETY: FFI accessor without preconditions.
    let cpu = unsafe { ndg_cpu() } as usize;
    let Some(state) = CPUS.get(cpu) else {
        return NMI_DONE;
    };
    let kicked = state.kick.swap(0, Ordering::AcqRel) != 0;
    // Asked before the kick is acted on: a kick and the ESB's NMI that arrive together
    // are one NMI, and the ESB's is the stronger claim (nobody will kick again).
    if crate::esb::nmi_claim() {
        // SAFETY: `regs` are the NMI's `pt_regs`.
        unsafe { end_stall(regs) };
        return NMI_HANDLED;
    }
    if !kicked {
        // A second NMI of ours latched while the first was handled finds the kick
        // already taken: still ours, so claim it rather than let the kernel call it
        // an NMI of unknown reason.
        let since = rdtsc().wrapping_sub(state.kick_tsc.load(Ordering::Acquire)) as i64;
        return if (0..ns_to_cycles(NMI_LATE_NS) as i64).contains(&since) {
            NMI_HANDLED
        } else {
            NMI_DONE
        };
    }
    // SAFETY: `regs` are the NMI's `pt_regs`; the NMI entry added `ndg_nmi_offset` and
    // `nmi_handle()` its RCU read lock.
    unsafe { check_hang(regs, ndg_nmi_offset + ndg_rcu_preempt_delta, true, rdtsc()) };
    NMI_HANDLED
}

/// Per-CPU watchdog hrtimer callback (hardirq context).
///
/// # Safety
///
/// Must only be called by the hrtimer core for one of the [`CPUS`] timers.
pub(super) unsafe extern "C" fn watchdog_tick(
    timer: *mut bindings::hrtimer,
) -> bindings::hrtimer_restart {
    // SAFETY: FFI accessor without preconditions.
    let cpu = unsafe { ndg_cpu() } as usize;
    let now = rdtsc();
    if let Some(state) = CPUS.get(cpu) {
        state.heartbeat.store(now, Ordering::Relaxed);
    }

    // IRQs-on hang on this CPU: the hrtimer runs in hardirq context on top of it.
    // SAFETY: `get_irq_regs()` are the registers of the context this interrupt interrupted;
    // the hardirq entry added `ndg_hardirq_offset`.
    unsafe { check_hang(ndg_irq_regs(), ndg_hardirq_offset, false, now) };

    // This CPU runs: the machine is not stuck. Tell the i6300ESB (rate-limited).
    crate::esb::tick();

    // IRQs-off hang on another CPU: its watchdog stopped ticking. Kick it with an NMI; its NMI
    // handler decides whether guarded code is stuck there.
    kick_stalled_cpus(cpu, now, true);

    // SAFETY: `timer` is the running hrtimer; forwarding it from its callback is allowed.
    unsafe {
        bindings::hrtimer_forward(timer, bindings::ktime_get(), WATCHDOG_PERIOD_NS as i64);
    }
    bindings::hrtimer_restart::HRTIMER_RESTART
}

/// With `kick`, sends an NMI to every other CPU whose watchdog has not ticked for
/// [`NMI_GRACE_NS`] and that was not kicked within that time; its NMI handler decides
/// whether guarded code is stuck there. Returns whether any other CPU has stopped ticking
/// (kicked now or before).
fn kick_stalled_cpus(cpu: usize, now: u64, kick: bool) -> bool {
    let grace = ns_to_cycles(NMI_GRACE_NS);
    let mut stalled = false;
    for (other, state) in CPUS.iter().enumerate() {
        if other == cpu || !state.started.load(Ordering::Relaxed) {
            continue;
        }
        let beat = state.heartbeat.load(Ordering::Relaxed);
        if (now.wrapping_sub(beat) as i64) < grace as i64 {
            continue;
        }
        // An offline CPU does not tick either (CPU hotplug is not handled otherwise).
        // SAFETY: FFI call without preconditions; `other` indexes `CPUS`, a valid CPU.
        if !unsafe { ndg_cpu_online(other as c_uint) } {
            continue;
        }
        stalled = true;
        if !kick {
            continue;
        }
        let last_kick = state.kick_tsc.load(Ordering::Relaxed);
        if (now.wrapping_sub(last_kick) as i64) < grace as i64 {
            continue;
        }
        if state
            .kick_tsc
            .compare_exchange(last_kick, now, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            state.kick.store(1, Ordering::Release);
            NMI_KICKS.fetch_add(1, Ordering::Relaxed);
            // SAFETY: `other` is a CPU on which the watchdog was started, hence a valid CPU.
            unsafe { ndg_send_nmi(other as c_uint) };
        }
    }
    stalled
}

/// Starts this CPU's watchdog hrtimer; run on every CPU by `on_each_cpu()`.
///
/// # Safety
///
/// The timers must have been set up with `hrtimer_setup()` and not be running.
pub(super) unsafe extern "C" fn start_watchdog_on_this_cpu(_info: *mut c_void) {
    // SAFETY: FFI accessor without preconditions.
    let cpu = unsafe { ndg_cpu() } as usize;
    let Some(state) = CPUS.get(cpu) else {
        return;
    };
    state.heartbeat.store(rdtsc(), Ordering::Relaxed);
    // SAFETY: The timer was set up by `Runtime::new()` and is not running yet.
    unsafe {
        bindings::hrtimer_start_range_ns(
            state.timer.get(),
            WATCHDOG_PERIOD_NS as i64,
            0,
            bindings::hrtimer_mode_HRTIMER_MODE_REL_PINNED_HARD,
        );
    }
    state.started.store(true, Ordering::Release);
}
