// SPDX-License-Identifier: GPL-2.0

//! Guard frames and where the handlers find them: the per-CPU chains of frames entered in
//! atomic context, the task slots of frames entered in preemptible context, and the lookups
//! and bookkeeping on both.

use core::arch::asm;
use core::ffi::c_void;
use core::mem::MaybeUninit;
use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, Ordering};

use kernel::prelude::kunit_tests;
use kernel::{bindings, types::Opaque};

use crate::pt_regs::PtRegs;

use super::cpu::{user_mode, with_irqs_off};
use super::fault::FaultContext;
use super::helpers::{
    ndg_cpu, ndg_current, ndg_here, ndg_level_mask, ndg_nmi_offset, ndg_preempt_count, Marks,
};

/// Maximal distance between a frame and a stack pointer inside the guarded call.
const STACK_WINDOW: u64 = (kernel::page::PAGE_SIZE as u64) << bindings::THREAD_SIZE_ORDER;

/// Number of task slots, i.e. of guarded calls that can be active at once in preemptible context.
const NR_SLOTS: usize = 64;
const MAX_CPUS: usize = bindings::NR_CPUS as usize;

/// Per-call guard state. Lives on the stack of [`guarded_call`].
///
/// The first fields are accessed by `guard_enter`/`guard_resume` through the `FRAME_*` offsets.
#[repr(C)]
pub(super) struct Frame {
    /// rbx, rbp, r12-r15 of the caller, written by `guard_enter`, read only by `guard_resume`.
    pub(super) callee_saved: MaybeUninit<[u64; 6]>,
    /// Stack pointer at `guard_enter` entry; points at its return address. 0 until entered.
    pub(super) rsp: u64,
    /// Non-zero while the guarded function runs. Written by `guard_enter` and the handlers.
    pub(super) armed: AtomicU32,
    /// [`Detected`] set by a handler before redirecting, 0 while no fault happened.
    pub(super) fault: AtomicU32,
    /// Next outer frame on this CPU's chain (atomic frames only).
    pub(super) prev: *mut Frame,
    /// Task that entered the guard.
    pub(super) task: *mut c_void,
    /// `preempt_count()` at entry.
    pub(super) entry_pc: u32,
    /// Driver locks the call holds now (`driver_locks.rs`).
    pub(super) driver_locks: AtomicU32,
    /// The call waits for a driver lock (it called the lock wait, and has not taken a
    /// lock since): its hang may be the holder's, which is reported first if it can be.
    pub(super) lock_wait: AtomicBool,
    /// Locks lockdep saw the task hold at entry, and other task state, at entry.
    pub(super) marks: Marks,
    /// Context level bits (NMI, hardirq, serving softirq) at entry.
    pub(super) level: u32,
    /// IRQ flags at entry.
    pub(super) entry_flags: u64,
    pub(super) start_tsc: u64,
    /// TSC after which the call counts as hung, `u64::MAX` for none. Pushed back by the time
    /// spent in guarded calls of interrupts that nest inside this one (see [`credit_nested`]).
    pub(super) deadline_tsc: AtomicU64,
    pub(super) fault_ip: u64,
    pub(super) fault_tsc: u64,
    /// Index in [`SLOTS`] for task frames, `usize::MAX` for per-CPU frames.
    pub(super) slot: usize,
    /// CPU whose chain holds a per-CPU frame.
    pub(super) cpu: usize,
    /// A `BUG()` in core kernel code reached from this call, or a fault in kernel code
    /// holding more than the call held at entry, is contained (policy `kernel_bug=1`)
    /// instead of being left to the kernel.
    pub(super) contain_kernel_bug: bool,
    /// Set with `fault` when the faulting instruction was in core kernel code.
    pub(super) fault_in_kernel: AtomicBool,
    /// The driver instruction a fault injected at a driver instruction is raised for
    /// ([`note_raised`]), 0 for none.
    pub(super) raised_ip: AtomicU64,
    /// Who made the call (an opaque tag, see [`guarded_owner`]); 0 for nobody in
    /// particular.
    pub(super) owner: usize,
    /// `ctx` was written (by the handler that ended the call, before `fault`).
    pub(super) captured: bool,
    /// The faulting context, for the crash report; initialised when `captured` is set.
    pub(super) ctx: MaybeUninit<FaultContext>,
}

/// Per-CPU state, one cache line (or more) per CPU.
#[repr(C, align(64))]
pub(super) struct CpuState {
    /// Innermost frame entered in atomic context on this CPU.
    pub(super) top: AtomicPtr<Frame>,
    /// TSC of the last watchdog tick on this CPU, 0 if the watchdog does not run here.
    pub(super) heartbeat: AtomicU64,
    /// TSC of the last NMI sent to this CPU.
    pub(super) kick_tsc: AtomicU64,
    /// Set before an NMI is sent to this CPU, cleared by the NMI handler.
    pub(super) kick: AtomicU32,
    /// The watchdog hrtimer was started on this CPU.
    pub(super) started: AtomicBool,
    /// The die notifier is printing a kernel-fault report here: the printing code must not
    /// be taken for a hang and abandoned half-way (it may hold the console).
    pub(super) reporting: AtomicBool,
    pub(super) timer: Opaque<bindings::hrtimer>,
}

// SAFETY: All fields are atomics, except `timer`, which is only handed to the hrtimer core, which
// does its own locking.
unsafe impl Sync for CpuState {}

impl CpuState {
    const fn new() -> Self {
        Self {
            top: AtomicPtr::new(ptr::null_mut()),
            heartbeat: AtomicU64::new(0),
            kick_tsc: AtomicU64::new(0),
            kick: AtomicU32::new(0),
            started: AtomicBool::new(false),
            reporting: AtomicBool::new(false),
            timer: Opaque::uninit(),
        }
    }
}

/// A task slot: the frame of a guarded call entered in preemptible context.
///
/// Only the owning task (or an exception/interrupt/NMI running on top of it) dereferences
/// `frame`; other CPUs only ever compare `task`.
#[repr(C, align(64))]
pub(super) struct TaskSlot {
    pub(super) task: AtomicPtr<c_void>,
    frame: AtomicPtr<Frame>,
}

impl TaskSlot {
    const fn new() -> Self {
        Self {
            task: AtomicPtr::new(ptr::null_mut()),
            frame: AtomicPtr::new(ptr::null_mut()),
        }
    }
}

pub(super) static CPUS: [CpuState; MAX_CPUS] = [const { CpuState::new() }; MAX_CPUS];
pub(super) static SLOTS: [TaskSlot; NR_SLOTS] = [const { TaskSlot::new() }; NR_SLOTS];

/// Bit `i` is set while [`SLOTS`]`[i]` has a task: an interrupt-context call credits the
/// slots of the task it interrupted ([`credit_nested`]) by visiting the set bits, not
/// all the slots (a loop over 64 cache lines was a measurable part of every interrupt
/// and softirq call). Set right after a slot is taken, before its frame is stored;
/// cleared before the slot is given up, so a later owner's bit is never cleared.
static SLOTS_TAKEN: AtomicU64 = AtomicU64::new(0);
const _: () = assert!(NR_SLOTS <= u64::BITS as usize);

/// The slots taken when called, with their indices: those of the calling task (and of
/// a task the caller interrupted) among them, for it took them before, on this CPU or
/// on one it ran on before (a migration orders them).
fn taken_slots() -> impl Iterator<Item = (usize, &'static TaskSlot)> {
    let mut taken = SLOTS_TAKEN.load(Ordering::Acquire);
    core::iter::from_fn(move || {
        if taken == 0 {
            return None;
        }
        let idx = taken.trailing_zeros() as usize;
        taken &= taken - 1;
        SLOTS.get(idx).map(|slot| (idx, slot))
    })
}

pub(super) static LEVEL_MASK: AtomicU32 = AtomicU32::new(0);

pub(super) fn claim_slot(task: *mut c_void, frame: *mut Frame) -> Option<usize> {
    let start = (task as usize >> 6) % NR_SLOTS;
    for i in 0..NR_SLOTS {
        let idx = (start + i) % NR_SLOTS;
        let slot = &SLOTS[idx];
        if slot
            .task
            .compare_exchange(ptr::null_mut(), task, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            SLOTS_TAKEN.fetch_or(1 << idx, Ordering::AcqRel);
            slot.frame.store(frame, Ordering::Release);
            return Some(idx);
        }
    }
    None
}

/// Frees slot `idx` if it still holds `frame` (a slot given up by [`abandon_context`] may
/// belong to another task by the time its frame would be unlinked).
fn release_slot(idx: usize, frame: *mut Frame) {
    if let Some(slot) = SLOTS.get(idx) {
        if slot
            .frame
            .compare_exchange(frame, ptr::null_mut(), Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            SLOTS_TAKEN.fetch_and(!(1 << idx), Ordering::AcqRel);
            slot.task.store(ptr::null_mut(), Ordering::Release);
        }
    }
}

/// Releases the slots of frames of `task` nested inside the frame whose stack pointer is `rsp`.
///
/// Such frames are left behind when a fault hit one of them before it was armed and was handled
/// by an outer frame.
pub(super) fn release_inner_slots(task: *mut c_void, rsp: u64) {
    for (idx, slot) in taken_slots() {
        if slot.task.load(Ordering::Acquire) != task {
            continue;
        }
        let frame = slot.frame.load(Ordering::Acquire);
        // SAFETY: The slot belongs to the current task, so `frame` is a live frame on the current
        // task's stack (frames are unlinked before their `guarded_call` returns).
        if !frame.is_null() && unsafe { (*frame).rsp } < rsp {
            release_slot(idx, frame);
        }
    }
}

/// Pushes back the deadlines of the guarded calls that the interrupt-context call `frame`
/// interrupted on this CPU by `cycles`, the time it ran.
///
/// The watchdog measures a driver's own time: an entry point that was interrupted by another,
/// possibly hung, guarded entry point must not be blamed for that time too.
pub(super) fn credit_nested(frame: &Frame, cycles: u64) {
    let push = |deadline: &AtomicU64| {
        // Nested interrupts may credit the same frame: add atomically. `u64::MAX` (no deadline)
        // stays.
        let _ = deadline.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |d| {
            Some(d.saturating_add(cycles))
        });
    };
    let mut fp = frame.prev;
    while !fp.is_null() {
        // SAFETY: Frames below `frame` on this CPU's chain belong to contexts that `frame`'s
        // context interrupted; they stay alive and linked until it returns to them.
        let outer = unsafe { &*fp };
        push(&outer.deadline_tsc);
        fp = outer.prev;
    }
    // The interrupted task's guarded calls in preemptible context are paused too.
    for (_, slot) in taken_slots() {
        if slot.task.load(Ordering::Acquire) != frame.task {
            continue;
        }
        let fp = slot.frame.load(Ordering::Acquire);
        if !fp.is_null() {
            // SAFETY: The slot belongs to the task this interrupt runs on top of, which cannot
            // unlink its frames before the interrupt returns.
            push(unsafe { &(*fp).deadline_tsc });
        }
    }
}

pub(super) fn unlink(frame: &Frame) {
    if frame.slot == usize::MAX {
        // Atomic frames do not migrate: `frame.cpu` is the current CPU.
        if let Some(state) = CPUS.get(frame.cpu) {
            // Also drops inner frames abandoned by a fault handled by this frame.
            state.top.store(frame.prev, Ordering::Release);
        }
    } else {
        release_slot(frame.slot, ptr::from_ref(frame).cast_mut());
    }
}

/// Finds the innermost armed frame that owns code interrupted at stack pointer `sp`, at context
/// `level`, on `cpu`.
///
/// # Safety
///
/// Must run on `cpu`, in an exception, interrupt or NMI handler that interrupted the context
/// being checked, or in that context itself (so that the frames it finds cannot be unlinked
/// concurrently).
pub(super) unsafe fn find_frame(cpu: usize, level: u32, sp: u64) -> *mut Frame {
    // SAFETY: FFI accessor without preconditions; the rest is this function's contract.
    unsafe { find_frame_of(cpu, level, sp, ndg_current()) }
}

/// [`find_frame`] for `task`, the task the checked context runs as (`current`).
///
/// # Safety
///
/// As for [`find_frame`], and `task` is `current` of the checked context: the frames of
/// that task's slots are read, which stay alive only while it is the one interrupted or
/// calling.
unsafe fn find_frame_of(cpu: usize, level: u32, sp: u64, task: *mut c_void) -> *mut Frame {
    let Some(state) = CPUS.get(cpu) else {
        return ptr::null_mut();
    };
    let below = |frame: &Frame| sp < frame.rsp && frame.rsp - sp < STACK_WINDOW;

    let mut fp = state.top.load(Ordering::Acquire);
    while !fp.is_null() {
        // SAFETY: Frames on this CPU's chain stay alive until their owner unlinks them, which
        // cannot happen while we interrupt it (see the function's safety requirements).
        let frame = unsafe { &*fp };
        if frame.armed.load(Ordering::Acquire) != 0 {
            let owner = frame.level != 0 || frame.task == task;
            return if frame.level == level && owner && below(frame) {
                fp
            } else {
                ptr::null_mut()
            };
        }
        fp = frame.prev;
    }

    if level != 0 {
        return ptr::null_mut();
    }
    let mut best: *mut Frame = ptr::null_mut();
    for (_, slot) in taken_slots() {
        if slot.task.load(Ordering::Acquire) != task {
            continue;
        }
        let fp = slot.frame.load(Ordering::Acquire);
        if fp.is_null() {
            continue;
        }
        // SAFETY: The slot belongs to the interrupted task, whose frames stay alive while it is
        // interrupted.
        let frame = unsafe { &*fp };
        if frame.armed.load(Ordering::Acquire) == 0 || !below(frame) {
            continue;
        }
        // SAFETY: `best` is null or a frame found the same way.
        if best.is_null() || frame.rsp < unsafe { (*best).rsp } {
            best = fp;
        }
    }
    best
}

/// The context a function of the guard was called from, as [`own_frame`] finds it.
pub(super) struct OwnContext {
    /// Its innermost armed frame, null if it runs no guarded call.
    pub(super) frame: *mut Frame,
    /// Its stack pointer (in the inlined caller of [`own_frame`]).
    pub(super) sp: u64,
    /// Its CPU.
    pub(super) cpu: usize,
    /// Its preempt count.
    pub(super) pc: u32,
}

/// The innermost armed frame of the context that calls this (code a guarded call runs:
/// a callout, the lock wait), which stays linked while the caller runs, as its callee.
#[inline(always)]
pub(super) fn own_frame() -> OwnContext {
    let sp: u64;
    // SAFETY: Only reads the stack pointer.
    unsafe { asm!("mov {}, rsp", out(reg) sp, options(nomem, nostack, preserves_flags)) };
    // With interrupts off the task cannot move to another CPU between reading its CPU and
    // walking that CPU's chain (the lock wait runs preemptible in a task's call).
    with_irqs_off(|| {
        let (mut cpu, mut task) = (0, ptr::null_mut());
        // SAFETY: FFI accessor; the pointers are valid for writes.
        let pc = unsafe { ndg_here(&mut cpu, &mut task) };
        let level = pc & LEVEL_MASK.load(Ordering::Relaxed);
        // SAFETY: We run inside the context that owns the frames searched (it called us),
        // on `cpu` until interrupts are on again, so none of them is unlinked while we look.
        let frame = unsafe { find_frame_of(cpu as usize, level, sp, task) };
        OwnContext {
            frame,
            sp,
            cpu: cpu as usize,
            pc,
        }
    })
}

/// Gives up every frame of the context interrupted on this CPU at context `level`, which
/// the kernel is about to end (an oops it does not contain): unlinks them, so that no
/// handler follows a pointer into a stack that goes away and no task slot stays taken.
/// Nothing is written into the frames themselves.
///
/// # Safety
///
/// Must run on `cpu`, in an exception handler on top of the ending context.
pub(super) unsafe fn abandon_context(cpu: usize, level: u32) {
    // SAFETY: FFI accessor without preconditions.
    let task = unsafe { ndg_current() };
    if let Some(state) = CPUS.get(cpu) {
        loop {
            let fp = state.top.load(Ordering::Acquire);
            if fp.is_null() {
                break;
            }
            // SAFETY: Frames on this CPU's chain stay alive until their context unlinks
            // them; the innermost ones belong to the context we run on top of.
            let frame = unsafe { &*fp };
            if frame.level != level || (level == 0 && frame.task != task) {
                break;
            }
            state.top.store(frame.prev, Ordering::Release);
        }
    }
    if level != 0 {
        return;
    }
    for (idx, slot) in taken_slots() {
        if slot.task.load(Ordering::Acquire) != task {
            continue;
        }
        let fp = slot.frame.load(Ordering::Acquire);
        if !fp.is_null() {
            release_slot(idx, fp);
        }
    }
}

/// The owner tag of the guarded call the kernel context that hit a breakpoint or a
/// single step at `regs` runs (what its caller passed to
/// [`guarded_call`](super::call::guarded_call)), `None` when it runs none (no armed
/// guard frame): a fault raised in a guarded call is contained. A fault site or trace
/// armed for one device acts only in that device's calls: two devices served by one
/// implementation run the same instructions.
///
/// # Safety
///
/// Must be called from the `int3` handler (a kprobe pre-handler) or the debug exception's
/// die notifier, on top of the context `regs` describes: both entries
/// (`irqentry_nmi_enter`) added `ndg_nmi_offset` to the preempt count (the notifier
/// chain's RCU read lock adds to the preemption bits, outside the level mask).
pub(crate) unsafe fn guarded_owner(regs: &PtRegs) -> Option<usize> {
    // SAFETY: the caller runs in one of the handlers this function's contract names, on
    // top of the context `regs` describes, which is what `guarded_frame` requires.
    let fp = unsafe { guarded_frame(regs) };
    // SAFETY: a non-NULL `fp` is the armed frame of the context we run on top of, which
    // cannot unlink it meanwhile; `owner` is written before the frame is linked.
    (!fp.is_null()).then(|| unsafe { (*fp).owner })
}

/// Records that the fault a kprobe is about to raise at `regs` (a fault injected at a
/// driver instruction) is raised for the driver instruction at `at`: the crash report of
/// the call names that instruction, not the code that raises the fault. Returns whether
/// `regs` is in a guarded call.
///
/// # Safety
///
/// As for [`guarded_owner`], from a kprobe pre-handler.
pub(crate) unsafe fn note_raised(regs: &PtRegs, at: u64) -> bool {
    // SAFETY: called from a kprobe pre-handler on top of the context `regs` describes,
    // which is what `guarded_frame` requires.
    let fp = unsafe { guarded_frame(regs) };
    if fp.is_null() {
        return false;
    }
    // SAFETY: `fp` is the armed frame of the context we run on top of, which cannot
    // unlink it meanwhile.
    unsafe { (*fp).raised_ip.store(at, Ordering::Relaxed) };
    true
}

/// The frame of the guarded call the context at `regs` runs, or NULL.
///
/// # Safety
///
/// As for [`guarded_owner`].
unsafe fn guarded_frame(regs: &PtRegs) -> *mut Frame {
    if user_mode(regs) {
        return ptr::null_mut();
    }
    // SAFETY: FFI accessors without preconditions.
    let (cpu, pc) = unsafe { (ndg_cpu() as usize, ndg_preempt_count()) };
    // SAFETY: Reading constants defined by the C helpers.
    let level = pc.wrapping_sub(unsafe { ndg_nmi_offset }) & unsafe { ndg_level_mask };
    // SAFETY: We run in the breakpoint handler on top of the checked context, which cannot
    // unlink its frame meanwhile.
    unsafe { find_frame(cpu, level, regs.sp) }
}

#[kunit_tests(ndriver_guard_slots)]
mod tests {
    use super::*;
    use kernel::prelude::*;

    /// Whether `taken_slots` shows slot `idx` held by `task`.
    fn shown(idx: usize, task: *mut c_void) -> bool {
        taken_slots().any(|(i, s)| i == idx && s.task.load(Ordering::Acquire) == task)
    }

    /// A slot shows among the taken ones from its claim until its own frame gives it
    /// back; a stale frame's release leaves it. (The task and frames are addresses no
    /// real call has: guarded calls only ever look at their own task's slots.)
    #[test]
    fn taken_slots_follow_claims() -> Result {
        let task = 0x40usize as *mut c_void;
        let frame = 0x80usize as *mut Frame;
        let stale = 0xc0usize as *mut Frame;
        let idx = claim_slot(task, frame).ok_or(EBUSY)?;
        assert!(shown(idx, task));
        release_slot(idx, stale);
        assert!(shown(idx, task));
        release_slot(idx, frame);
        assert!(!shown(idx, task));
        Ok(())
    }
}
