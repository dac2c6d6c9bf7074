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

use core::arch::{asm, naked_asm};
use core::ffi::{c_char, c_int, c_uint, c_ulong, c_void, CStr};
use core::mem::{offset_of, MaybeUninit};
use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use kernel::{bindings, prelude::*, types::Opaque};

use crate::pt_regs::PtRegs;

/// A function that can be run under a guard.
pub(crate) type GuardFn = unsafe extern "C" fn(*mut c_void) -> c_int;

/// What went wrong in a guarded call.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FaultClass {
    /// `BUG()`, Rust `panic!()` or another `#UD`.
    Bug = 1,
    /// Kernel-mode page fault (NULL or wild pointer to unmapped memory).
    PageFault = 2,
    /// General protection fault (non-canonical address, ...).
    GeneralProtection = 3,
    /// Divide error (`#DE`).
    DivideError = 4,
    /// Another trap reported through the die chain.
    OtherTrap = 5,
    /// The deadline passed (endless loop, deadlock), recovered from an interrupt or an NMI.
    Hang = 6,
    /// The guard could not be armed (runtime not started or no free task slot).
    Unavailable = 7,
}

/// Number of [`FaultClass`] values, plus one for index 0.
const FAULT_CLASSES: usize = 8;

impl FaultClass {
    /// Converts the raw value stored in a frame back into a class.
    pub(crate) fn from_raw(raw: u32) -> Self {
        match raw {
            1 => Self::Bug,
            2 => Self::PageFault,
            3 => Self::GeneralProtection,
            4 => Self::DivideError,
            6 => Self::Hang,
            7 => Self::Unavailable,
            _ => Self::OtherTrap,
        }
    }

    /// Short name for logs.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Bug => "bug/panic",
            Self::PageFault => "page-fault",
            Self::GeneralProtection => "general-protection",
            Self::DivideError => "divide-error",
            Self::OtherTrap => "other-trap",
            Self::Hang => "hang",
            Self::Unavailable => "unavailable",
        }
    }
}

/// A recovered fault.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Fault {
    /// Kind of fault.
    pub(crate) class: FaultClass,
    /// Instruction pointer at the time of the fault (0 if none).
    pub(crate) ip: usize,
    /// Time from guard entry to the fault, in nanoseconds.
    pub(crate) elapsed_ns: u64,
    /// The faulting instruction was in core kernel code (reached from the guarded call),
    /// not in driver text: a `kernel_fault`, reported in full.
    pub(crate) in_kernel: bool,
}

impl Fault {
    fn unavailable() -> Self {
        Self {
            class: FaultClass::Unavailable,
            ip: 0,
            elapsed_ns: 0,
            in_kernel: false,
        }
    }

    /// The kernel error code that best describes this fault.
    pub(crate) fn to_errno(&self) -> Error {
        match self.class {
            FaultClass::Hang => ETIMEDOUT,
            FaultClass::Unavailable => EBUSY,
            _ => EFAULT,
        }
    }
}

impl From<Fault> for Error {
    fn from(fault: Fault) -> Self {
        fault.to_errno()
    }
}

/// Task state that kernel code holds for a while and must give back (`struct ndg_marks`):
/// abandoning kernel code that changed it leaves it changed for good.
#[repr(C)]
#[derive(Clone, Copy, Default, PartialEq, Eq)]
struct Marks {
    /// Locks in lockdep's list for the task (0 without lockdep).
    lockdep_depth: c_uint,
    /// `pagefault_disable()` depth.
    pagefault: c_uint,
    /// The task's block plug (`blk_start_plug()`), 0 if none.
    plug: c_ulong,
}

/// Per-call guard state. Lives on the stack of [`guarded_call`].
///
/// The first fields are accessed by `guard_enter`/`guard_resume` through the `FRAME_*` offsets.
#[repr(C)]
struct Frame {
    /// rbx, rbp, r12-r15 of the caller, written by `guard_enter`, read only by `guard_resume`.
    callee_saved: MaybeUninit<[u64; 6]>,
    /// Stack pointer at `guard_enter` entry; points at its return address. 0 until entered.
    rsp: u64,
    /// Non-zero while the guarded function runs. Written by `guard_enter` and the handlers.
    armed: AtomicU32,
    /// [`FaultClass`] set by a handler before redirecting, 0 while no fault happened.
    fault: AtomicU32,
    /// Next outer frame on this CPU's chain (atomic frames only).
    prev: *mut Frame,
    /// Task that entered the guard.
    task: *mut c_void,
    /// `preempt_count()` at entry.
    entry_pc: u32,
    /// Locks lockdep saw the task hold at entry, and other task state, at entry.
    marks: Marks,
    /// Context level bits (NMI, hardirq, serving softirq) at entry.
    level: u32,
    /// IRQ flags at entry.
    entry_flags: u64,
    start_tsc: u64,
    /// TSC after which the call counts as hung, `u64::MAX` for none. Pushed back by the time
    /// spent in guarded calls of interrupts that nest inside this one (see [`credit_nested`]).
    deadline_tsc: AtomicU64,
    fault_ip: u64,
    fault_tsc: u64,
    /// Index in [`SLOTS`] for task frames, `usize::MAX` for per-CPU frames.
    slot: usize,
    /// CPU whose chain holds a per-CPU frame.
    cpu: usize,
    /// A `BUG()` in core kernel code reached from this call, or a fault in kernel code
    /// holding more than the call held at entry, is contained (policy `kernel_bug=1`)
    /// instead of being left to the kernel.
    contain_kernel_bug: bool,
    /// Set with `fault` when the faulting instruction was in core kernel code.
    fault_in_kernel: AtomicBool,
}

const FRAME_RBX: usize = offset_of!(Frame, callee_saved);
const FRAME_RBP: usize = FRAME_RBX + 8;
const FRAME_R12: usize = FRAME_RBX + 16;
const FRAME_R13: usize = FRAME_RBX + 24;
const FRAME_R14: usize = FRAME_RBX + 32;
const FRAME_R15: usize = FRAME_RBX + 40;
const FRAME_RSP: usize = offset_of!(Frame, rsp);
const FRAME_ARMED: usize = offset_of!(Frame, armed);
const FRAME_FAULT: usize = offset_of!(Frame, fault);

/// Words in `struct pt_regs`. The NMI "iret" frame starts right after it (see the stack diagram
/// above `.Lnmi_from_kernel` in `arch/x86/entry/entry_64.S`).
const PT_REGS_WORDS: usize = core::mem::size_of::<PtRegs>() / 8;

const X86_EFLAGS_TF: u64 = 1 << 8;
const X86_EFLAGS_IF: u64 = 1 << 9;
const X86_EFLAGS_DF: u64 = 1 << 10;
const X86_EFLAGS_AC: u64 = 1 << 18;

const X86_TRAP_DE: c_ulong = 0;
const X86_TRAP_UD: c_ulong = 6;
const X86_TRAP_DF: c_ulong = 8;
const X86_TRAP_GP: c_ulong = 13;
const X86_TRAP_PF: c_ulong = 14;

const NOTIFY_DONE: c_int = 0;
const NOTIFY_STOP: c_int = 0x8001;
const NMI_DONE: c_int = 0;
const NMI_HANDLED: c_int = 1;

/// Maximal distance between a frame and a stack pointer inside the guarded call.
const STACK_WINDOW: u64 = (kernel::page::PAGE_SIZE as u64) << bindings::THREAD_SIZE_ORDER;

/// Number of task slots, i.e. of guarded calls that can be active at once in preemptible context.
const NR_SLOTS: usize = 64;
const MAX_CPUS: usize = bindings::NR_CPUS as usize;

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
/// Number of text ranges in which a hung guarded call may be aborted asynchronously.
const MAX_ABORT_RANGES: usize = 16;
/// Number of leaf memory and I/O functions whose faults are their caller's.
const MAX_SHIMS: usize = 24;

extern "C" {
    static ndg_level_mask: c_uint;
    static ndg_nmi_offset: c_uint;
    static ndg_hardirq_offset: c_uint;
    static ndg_die_oops: c_ulong;
    static ndg_die_trap: c_ulong;
    static ndg_die_gpf: c_ulong;
    static ndg_die_page_fault: c_ulong;
    static ndg_die_debug: c_ulong;

    static ndg_rcu_preempt_delta: c_uint;

    fn ndg_context(pc: *mut c_uint, cpu: *mut c_uint, marks: *mut Marks) -> *mut c_void;
    fn ndg_chain_context(pc: *mut c_uint, marks: *mut Marks);
    fn ndg_holds_more(pc: c_uint, entry_pc: c_uint) -> bool;
    fn ndg_lockdep_unwind(depth: c_uint);
    fn ndg_preempt_count() -> c_uint;
    fn ndg_preempt_count_set(pc: c_uint);
    fn ndg_cpu() -> c_uint;
    fn ndg_current() -> *mut c_void;
    fn ndg_irq_regs() -> *mut PtRegs;
    fn ndg_irq_disable();
    fn ndg_irq_restore(flags: c_ulong);
    fn ndg_send_nmi(cpu: c_uint);
    fn ndg_spin_functions(start: *mut c_ulong, size: *mut c_ulong, max: c_uint) -> c_uint;
    fn ndg_on_each_cpu(f: unsafe extern "C" fn(*mut c_void), info: *mut c_void);
    fn ndg_rust_bug_extent(start: *mut c_ulong, size: *mut c_ulong) -> c_int;
    fn ndg_report_kernel_fault(
        regs: *mut PtRegs,
        what: *const c_char,
        outcome: *const c_char,
        err: c_ulong,
        trapnr: c_ulong,
    );
    fn ndg_note_kernel_fault(regs: *mut PtRegs, what: *const c_char, outcome: *const c_char);
    fn ndg_shim_functions(start: *mut c_ulong, size: *mut c_ulong, max: c_uint) -> c_uint;
    fn ndg_hooks_register(
        die_cb: unsafe extern "C" fn(
            c_ulong,
            *mut PtRegs,
            c_ulong,
            c_ulong,
            *const c_char,
        ) -> c_int,
        nmi_cb: unsafe extern "C" fn(*mut PtRegs) -> c_int,
    ) -> c_int;
    fn ndg_hooks_unregister();
}

/// Per-CPU state, one cache line (or more) per CPU.
#[repr(C, align(64))]
struct CpuState {
    /// Innermost frame entered in atomic context on this CPU.
    top: AtomicPtr<Frame>,
    /// TSC of the last watchdog tick on this CPU, 0 if the watchdog does not run here.
    heartbeat: AtomicU64,
    /// TSC of the last NMI sent to this CPU.
    kick_tsc: AtomicU64,
    /// Set before an NMI is sent to this CPU, cleared by the NMI handler.
    kick: AtomicU32,
    /// The watchdog hrtimer was started on this CPU.
    started: AtomicBool,
    /// The die notifier is printing a kernel-fault report here: the printing code must not
    /// be taken for a hang and abandoned half-way (it may hold the console).
    reporting: AtomicBool,
    timer: Opaque<bindings::hrtimer>,
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
struct TaskSlot {
    task: AtomicPtr<c_void>,
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

static CPUS: [CpuState; MAX_CPUS] = [const { CpuState::new() }; MAX_CPUS];
static SLOTS: [TaskSlot; NR_SLOTS] = [const { TaskSlot::new() }; NR_SLOTS];

static ACTIVE: AtomicBool = AtomicBool::new(false);
static TSC_KHZ: AtomicU64 = AtomicU64::new(0);
static LEVEL_MASK: AtomicU32 = AtomicU32::new(0);
static STATS: [AtomicU64; FAULT_CLASSES] = [const { AtomicU64::new(0) }; FAULT_CLASSES];
static HANG_BY_TIMER: AtomicU64 = AtomicU64::new(0);
static HANG_FORCED: AtomicU64 = AtomicU64::new(0);
static HANG_HELD: AtomicU64 = AtomicU64::new(0);
/// Faults in core kernel code reached from guarded calls and contained (`kernel_fault`).
static KERNEL_FAULTS: AtomicU64 = AtomicU64::new(0);
/// Faults in core kernel code reached from guarded calls and left to the kernel (a `BUG()`,
/// or a fault while the kernel code held a lock).
static KERNEL_FAULTS_LEFT: AtomicU64 = AtomicU64::new(0);
static HANG_BY_WAIT: AtomicU64 = AtomicU64::new(0);

/// A text range `[start, end)`; `start == 0` if free, `usize::MAX` while being filled.
struct TextRange {
    start: AtomicUsize,
    end: AtomicUsize,
}

impl TextRange {
    const fn new() -> Self {
        Self {
            start: AtomicUsize::new(0),
            end: AtomicUsize::new(0),
        }
    }

    fn contains(&self, ip: usize) -> bool {
        let start = self.start.load(Ordering::Acquire);
        start != 0 && start != usize::MAX && ip >= start && ip < self.end.load(Ordering::Relaxed)
    }

    fn clear(&self) {
        self.end.store(0, Ordering::Relaxed);
        self.start.store(0, Ordering::Release);
    }
}

/// A small lock-free set of `N` text ranges, read from exception and NMI context.
struct TextRanges<const N: usize>([TextRange; N]);

impl<const N: usize> TextRanges<N> {
    const fn new() -> Self {
        Self([const { TextRange::new() }; N])
    }

    fn add(&self, start: usize, len: usize) -> Result {
        if start == 0 || len == 0 {
            return Err(EINVAL);
        }
        for range in self.0.iter() {
            if range
                .start
                .compare_exchange(0, usize::MAX, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                range
                    .end
                    .store(start.saturating_add(len), Ordering::Relaxed);
                range.start.store(start, Ordering::Release);
                return Ok(());
            }
        }
        Err(ENOSPC)
    }

    fn remove(&self, start: usize) {
        for range in self.0.iter() {
            if range.start.load(Ordering::Acquire) == start {
                range.clear();
            }
        }
    }

    fn contains(&self, ip: usize) -> bool {
        self.0.iter().any(|range| range.contains(ip))
    }

    fn clear(&self) {
        for range in self.0.iter() {
            range.clear();
        }
    }
}

/// Text of the implementation modules: faults there are driver faults, and a hung guarded
/// call found there may be aborted at once.
static DRIVER_TEXT: TextRanges<MAX_ABORT_RANGES> = TextRanges::new();
/// Kernel functions that only delay (`__udelay`): hung driver code may be aborted there too.
static SPIN_TEXT: TextRanges<4> = TextRanges::new();
/// Leaf kernel functions that only move memory or do I/O for their caller (`memcpy`,
/// `readl`, `ioread32`, ...): a fault there is the caller's, found at the stack pointer.
static SHIM_TEXT: TextRanges<MAX_SHIMS> = TextRanges::new();
/// The code that raises a Rust panic's `BUG()` (`rust_helper_BUG`), shared by every Rust
/// panic: a trap there belongs to the code that panicked.
static PANIC_TEXT: TextRange = TextRange::new();

/// Whether hung guarded code interrupted at `ip` may be aborted right away.
///
/// Aborting asynchronously is only safe where the code holds no kernel-owned state: in driver
/// text (registered with [`register_module_text`]) and in kernel functions that only spin or
/// delay. Elsewhere (printk, allocator, ...) the abort waits for a watchdog tick that finds the
/// call back in driver text, or, outside task context and with no kernel lock taken, for
/// `FORCE_ABORT_NS` past the deadline.
fn abort_point(ip: u64) -> bool {
    let ip = ip as usize;
    DRIVER_TEXT.contains(ip) || SPIN_TEXT.contains(ip)
}

/// Whether the fault at `r.ip` is the driver's own: in implementation text, a Rust panic
/// (whose `BUG()` is shared kernel code), or a memory or I/O access that the driver asked a
/// leaf kernel function for (`memcpy`, `readl`): then the caller, whose return address is
/// at the stack pointer, decides. Anything else is core kernel code (or ndriver's) that
/// the driver called into.
///
/// # Safety
///
/// `r` must be the registers of a kernel-mode fault on the current CPU's current stack.
unsafe fn driver_fault_site(r: &PtRegs) -> bool {
    let ip = r.ip as usize;
    if DRIVER_TEXT.contains(ip) || PANIC_TEXT.contains(ip) {
        return true;
    }
    if !SHIM_TEXT.contains(ip) {
        return false;
    }
    // SAFETY: A shim pushes nothing before its access: the word at the stack pointer of
    // the fault is its return address, on the live stack of the faulting context.
    let caller = unsafe { ptr::read_volatile(r.sp as *const usize) };
    DRIVER_TEXT.contains(caller)
}

/// Declares the text of `module` (a driver) as a place where its hung guarded calls may be
/// aborted. Undo with [`unregister_module_text`] before the module goes away.
///
/// # Safety
///
/// `module` must be NULL or a loaded module that stays loaded until
/// [`unregister_module_text`] is called for it.
pub(crate) unsafe fn register_module_text(module: *mut bindings::module) -> Result {
    // SAFETY: per this function's contract.
    let (start, len) = unsafe { module_text(module) };
    DRIVER_TEXT.add(start, len)
}

/// Undoes [`register_module_text`].
///
/// # Safety
///
/// As for [`register_module_text`], for the same module.
pub(crate) unsafe fn unregister_module_text(module: *mut bindings::module) {
    // SAFETY: per this function's contract.
    DRIVER_TEXT.remove(unsafe { module_text(module) }.0);
}

/// Start and length of a module's text.
///
/// # Safety
///
/// `ptr` must be NULL or a loaded module.
pub(crate) unsafe fn module_text(ptr: *mut bindings::module) -> (usize, usize) {
    if ptr.is_null() {
        return (0, 0);
    }
    // SAFETY: `ptr` is the live `struct module` of a loaded module.
    let text = unsafe { &(*ptr).mem[bindings::mod_mem_type_MOD_TEXT as usize] };
    (text.base as usize, text.size as usize)
}
static HANG_BY_NMI: AtomicU64 = AtomicU64::new(0);
static NMI_KICKS: AtomicU64 = AtomicU64::new(0);
/// Hangs ended from the ESB's NMI (counted in `HANG_BY_NMI` too).
static HANG_BY_ESB: AtomicU64 = AtomicU64::new(0);

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

/// Runs `f` with local interrupts off (atomic context, for the benchmark).
pub(crate) fn with_irqs_off<R>(f: impl FnOnce() -> R) -> R {
    let flags = save_flags();
    // SAFETY: FFI call without preconditions; the flags are restored below.
    unsafe { ndg_irq_disable() };
    let r = f();
    // SAFETY: restores the flags saved above, in the same context.
    unsafe { ndg_irq_restore(flags as c_ulong) };
    r
}

/// Reads `RFLAGS`.
#[inline(always)]
pub(crate) fn save_flags() -> u64 {
    let flags: u64;
    // SAFETY: Pushes RFLAGS and pops it into a register; the stack is balanced and nothing else
    // is touched.
    unsafe {
        asm!("pushfq", "pop {}", out(reg) flags, options(nomem, preserves_flags));
    }
    flags
}

fn ns_to_cycles(ns: u64) -> u64 {
    ns.saturating_mul(TSC_KHZ.load(Ordering::Relaxed)) / 1_000_000
}

fn cycles_to_ns(cycles: u64) -> u64 {
    match TSC_KHZ.load(Ordering::Relaxed) {
        0 => 0,
        khz => cycles.saturating_mul(1_000_000) / khz,
    }
}

/// Writes the runtime's counters (for the top-level `status` file).
pub(crate) fn show(f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
    write!(f, "guard faults")?;
    for class in [
        FaultClass::Bug,
        FaultClass::PageFault,
        FaultClass::GeneralProtection,
        FaultClass::DivideError,
        FaultClass::OtherTrap,
        FaultClass::Hang,
        FaultClass::Unavailable,
    ] {
        write!(
            f,
            " {}={}",
            class.name(),
            STATS[class as usize].load(Ordering::Relaxed)
        )?;
    }
    writeln!(f)?;
    writeln!(
        f,
        "guard hangs by_timer={} by_nmi={} by_wait={} forced={} held={} nmi_kicks={} by_esb={}",
        HANG_BY_TIMER.load(Ordering::Relaxed),
        HANG_BY_NMI.load(Ordering::Relaxed),
        HANG_BY_WAIT.load(Ordering::Relaxed),
        HANG_FORCED.load(Ordering::Relaxed),
        HANG_HELD.load(Ordering::Relaxed),
        NMI_KICKS.load(Ordering::Relaxed),
        HANG_BY_ESB.load(Ordering::Relaxed)
    )?;
    crate::esb::show(f)?;
    let slots = SLOTS
        .iter()
        .filter(|s| !s.task.load(Ordering::Relaxed).is_null())
        .count();
    let chained = CPUS
        .iter()
        .filter(|s| !s.top.load(Ordering::Relaxed).is_null())
        .count();
    writeln!(f, "guard frames task_slots={slots} cpu_chains={chained}")?;
    writeln!(
        f,
        "guard kernel_faults contained={} left_to_kernel={}",
        KERNEL_FAULTS.load(Ordering::Relaxed),
        KERNEL_FAULTS_LEFT.load(Ordering::Relaxed)
    )
}

/// Saves the resume context in `frame`, arms it and calls `f(arg)`.
///
/// Returns `f`'s return value, or, when a handler redirected the guarded code to
/// [`guard_resume`], `-EFAULT` with `frame.fault` set; also `-EFAULT`, with
/// `frame.fault` [`FaultClass::OtherTrap`], when `f` returned with a callee-saved
/// register changed (they are restored).
///
/// # Safety
///
/// `frame` must be valid and linked where the handlers find it, and `f(arg)` must be safe to call.
#[unsafe(naked)]
unsafe extern "C" fn guard_enter(frame: *mut Frame, f: GuardFn, arg: *mut c_void) -> c_int {
    naked_asm!(
        "mov [rdi + {rbx}], rbx",
        "mov [rdi + {rbp}], rbp",
        "mov [rdi + {r12}], r12",
        "mov [rdi + {r13}], r13",
        "mov [rdi + {r14}], r14",
        "mov [rdi + {r15}], r15",
        "mov [rdi + {rsp}], rsp",
        // Keeps the frame's address on this stack across the call (which also aligns the
        // stack to 16 bytes): the callee may return with any register corrupted.
        "push rdi",
        "mov dword ptr [rdi + {armed}], 1",
        "mov rdi, rdx",
        "call rsi",
        "pop rdi",
        "mov dword ptr [rdi + {armed}], 0",
        // A callee that returns with a callee-saved register changed broke the calling
        // convention (a corrupted register, a skipped push or pop): the caller would run
        // on it. Restore them from the frame and report the call as failed instead.
        "cmp rbx, [rdi + {rbx}]",
        "jne 2f",
        "cmp rbp, [rdi + {rbp}]",
        "jne 2f",
        "cmp r12, [rdi + {r12}]",
        "jne 2f",
        "cmp r13, [rdi + {r13}]",
        "jne 2f",
        "cmp r14, [rdi + {r14}]",
        "jne 2f",
        "cmp r15, [rdi + {r15}]",
        "jne 2f",
        "ret",
        // `guard_resume` restores them and returns -EFAULT (the stack pointer is the one
        // it restores, too).
        "2:",
        "mov dword ptr [rdi + {fault}], {clobbered}",
        "jmp {resume}",
        rbx = const FRAME_RBX,
        rbp = const FRAME_RBP,
        r12 = const FRAME_R12,
        r13 = const FRAME_R13,
        r14 = const FRAME_R14,
        r15 = const FRAME_R15,
        rsp = const FRAME_RSP,
        fault = const FRAME_FAULT,
        clobbered = const FaultClass::OtherTrap as u32,
        resume = sym guard_resume,
        armed = const FRAME_ARMED,
    )
}

/// Landing point of a recovered fault: returns from `guard_enter` once more.
///
/// Entered only through an exception, interrupt or NMI return whose `pt_regs` were rewritten by
/// [`redirect`], with `rdi` pointing at the frame.
///
/// # Safety
///
/// Must never be called; only used as a return address.
#[unsafe(naked)]
unsafe extern "C" fn guard_resume() -> ! {
    naked_asm!(
        "endbr64",
        "mov rbx, [rdi + {rbx}]",
        "mov rbp, [rdi + {rbp}]",
        "mov r12, [rdi + {r12}]",
        "mov r13, [rdi + {r13}]",
        "mov r14, [rdi + {r14}]",
        "mov r15, [rdi + {r15}]",
        "mov rsp, [rdi + {rsp}]",
        "mov eax, -14",
        "ret",
        rbx = const FRAME_RBX,
        rbp = const FRAME_RBP,
        r12 = const FRAME_R12,
        r13 = const FRAME_R13,
        r14 = const FRAME_R14,
        r15 = const FRAME_R15,
        rsp = const FRAME_RSP,
    )
}

/// Ends the innermost guarded call of the current context as hung if it has overrun its
/// deadline; returns otherwise.
///
/// Called by guarded code that waits for something (a driver lock): when the holder hangs
/// with interrupts off and every other CPU waits for it with interrupts off too, no watchdog
/// tick runs anywhere and no NMI is sent, so the waiters must notice their own overrun. The
/// call is abandoned exactly as the die notifier abandons a faulting one: control resumes in
/// `guarded_call`, which restores the preempt count and the interrupt state of its entry.
pub(crate) fn end_if_overdue(ip: usize) {
    let sp: u64;
    // SAFETY: Only reads the stack pointer.
    unsafe { asm!("mov {}, rsp", out(reg) sp, options(nomem, nostack, preserves_flags)) };
    // SAFETY: FFI accessors without preconditions.
    let (cpu, pc) = unsafe { (ndg_cpu() as usize, ndg_preempt_count()) };
    let level = pc & LEVEL_MASK.load(Ordering::Relaxed);
    // SAFETY: We run inside the context that owns the frames searched (it is our caller), so
    // none of them is unlinked while we look.
    let fp = unsafe { find_frame(cpu, level, sp) };
    if fp.is_null() {
        return;
    }
    // SAFETY: `fp` is a live, armed frame of this context (see above).
    let frame = unsafe { &mut *fp };
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
    frame.fault_ip = ip as u64;
    frame.fault_tsc = now;
    frame.armed.store(0, Ordering::Relaxed);
    frame
        .fault
        .store(FaultClass::Hang as u32, Ordering::Release);
    HANG_BY_WAIT.fetch_add(1, Ordering::Relaxed);
    // A call rather than a jump keeps objtool's view of this function's stack frame simple.
    // SAFETY: `guard_resume` unwinds to the `guard_enter` of `frame`, an outer frame of this
    // context, and returns the failure from there; all in between (the pushed return address
    // too) is abandoned, which the callers of `guarded_call` agreed to.
    unsafe { asm!("call {resume}", resume = sym guard_resume, in("rdi") fp, options(noreturn)) }
}

fn claim_slot(task: *mut c_void, frame: *mut Frame) -> Option<usize> {
    let start = (task as usize >> 6) % NR_SLOTS;
    for i in 0..NR_SLOTS {
        let idx = (start + i) % NR_SLOTS;
        let slot = &SLOTS[idx];
        if slot
            .task
            .compare_exchange(ptr::null_mut(), task, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
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
            slot.task.store(ptr::null_mut(), Ordering::Release);
        }
    }
}

/// Releases the slots of frames of `task` nested inside the frame whose stack pointer is `rsp`.
///
/// Such frames are left behind when a fault hit one of them before it was armed and was handled
/// by an outer frame.
fn release_inner_slots(task: *mut c_void, rsp: u64) {
    for (idx, slot) in SLOTS.iter().enumerate() {
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

/// Runs `f(arg)` under a guard.
///
/// Returns `Ok(f(arg))`, or `Err` if `f` raised an exception (BUG/panic, page fault, #GP, #DE)
/// or ran past `budget_ns` nanoseconds (0: no deadline). Works in task, softirq and hardirq
/// context and nests. After an `Err`, the preempt count and the IRQ flags are those at entry.
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
) -> Result<c_int, Fault> {
    if !ACTIVE.load(Ordering::Relaxed) {
        return Err(Fault::unavailable());
    }

    let mut pc: c_uint = 0;
    let mut cpu: c_uint = 0;
    let mut marks = Marks::default();
    // SAFETY: FFI accessor; the pointers are valid for writes.
    let task = unsafe { ndg_context(&mut pc, &mut cpu, &mut marks) };
    let flags = save_flags();
    let start = rdtsc();
    // A call stepped for a trace runs hundreds of times slower.
    let traced = crate::trace::active();
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
    };
    let fp: *mut Frame = &mut frame;

    let atomic = pc != 0 || flags & X86_EFLAGS_IF == 0;
    if atomic {
        // Atomic context cannot migrate: `cpu` stays valid until the frame is unlinked.
        let Some(state) = CPUS.get(frame.cpu) else {
            return Err(Fault::unavailable());
        };
        frame.prev = state.top.load(Ordering::Relaxed);
        // Release: a handler on this CPU that sees the frame sees it fully initialised.
        state.top.store(fp, Ordering::Release);
    } else {
        match claim_slot(task, fp) {
            Some(idx) => frame.slot = idx,
            None => return Err(Fault::unavailable()),
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
    let class = unsafe { (*fp).fault.load(Ordering::Acquire) };

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

    let class = FaultClass::from_raw(class);
    if let Some(counter) = STATS.get(class as usize) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
    Err(Fault {
        class,
        ip: frame.fault_ip as usize,
        elapsed_ns: cycles_to_ns(frame.fault_tsc.wrapping_sub(frame.start_tsc)),
        in_kernel: frame.fault_in_kernel.load(Ordering::Relaxed),
    })
}

/// Pushes back the deadlines of the guarded calls that the interrupt-context call `frame`
/// interrupted on this CPU by `cycles`, the time it ran.
///
/// The watchdog measures a driver's own time: an entry point that was interrupted by another,
/// possibly hung, guarded entry point must not be blamed for that time too.
fn credit_nested(frame: &Frame, cycles: u64) {
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
    for slot in SLOTS.iter() {
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

fn unlink(frame: &Frame) {
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

/// Runs the closure `f` under a guard, see [`guarded_call`].
///
/// # Safety
///
/// Same as [`guarded_call`]: after an `Err`, `f` and its captures are abandoned without being
/// dropped, and `f` must not have published pointers into its stack.
pub(crate) unsafe fn guarded<R, F: FnOnce() -> R>(
    budget_ns: u64,
    contain_kernel_bug: bool,
    f: F,
) -> Result<R, Fault> {
    struct Ctx<F, R> {
        f: Option<F>,
        ret: Option<R>,
    }

    /// Calls the closure stored in the `Ctx` at `arg` and stores its result there.
    ///
    /// # Safety
    ///
    /// `arg` must point at a live, exclusively owned `Ctx<F, R>`.
    unsafe extern "C" fn trampoline<R, F: FnOnce() -> R>(arg: *mut c_void) -> c_int {
        // SAFETY: `arg` is the `Ctx` passed by `guarded` below, alive and exclusively ours.
        let ctx = unsafe { &mut *arg.cast::<Ctx<F, R>>() };
        if let Some(f) = ctx.f.take() {
            ctx.ret = Some(f());
        }
        0
    }

    let mut ctx = Ctx::<F, R> {
        f: Some(f),
        ret: None,
    };
    // SAFETY: `trampoline` only uses `ctx`, which outlives the call; the rest is the caller's
    // responsibility.
    unsafe {
        guarded_call(
            trampoline::<R, F>,
            (&raw mut ctx).cast::<c_void>(),
            budget_ns,
            contain_kernel_bug,
        )?
    };
    ctx.ret.ok_or_else(Fault::unavailable)
}

/// Finds the innermost armed frame that owns code interrupted at stack pointer `sp`, at context
/// `level`, on `cpu`.
///
/// # Safety
///
/// Must run on `cpu`, in an exception, interrupt or NMI handler that interrupted the context
/// being checked, or in that context itself (so that the frames it finds cannot be unlinked
/// concurrently).
unsafe fn find_frame(cpu: usize, level: u32, sp: u64) -> *mut Frame {
    let Some(state) = CPUS.get(cpu) else {
        return ptr::null_mut();
    };
    // SAFETY: FFI accessor without preconditions.
    let task = unsafe { ndg_current() };
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
    for slot in SLOTS.iter() {
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

/// Makes the interrupted context return to [`guard_resume`] for `frame`.
///
/// For an NMI, the hardware frame the NMI exit path returns through is a copy ("iret" frame)
/// that sits right above `pt_regs`; it must be updated too, or the rewrite is silently lost.
///
/// # Safety
///
/// `regs` must be the live `pt_regs` of the context interrupted on this CPU, `frame` the frame
/// returned by [`find_frame`] for it, and `nmi` must tell whether `regs` was saved by the NMI
/// entry code for an NMI that interrupted kernel mode.
unsafe fn redirect(regs: *mut PtRegs, frame: *mut Frame, class: FaultClass, nmi: bool) -> bool {
    let new_ip = guard_resume as *const () as u64;
    let iret = regs.cast::<u64>().wrapping_add(PT_REGS_WORDS);
    // SAFETY: See the function's safety requirements.
    let (regs, frame) = unsafe { (&mut *regs, &mut *frame) };
    let new_sp = frame.rsp;
    // Clear AC (an open user access section), DF and TF; keep IF as at the fault so that the
    // exit path of the handler stays consistent with its own IRQ bookkeeping.
    let new_flags = regs.flags & !(X86_EFLAGS_AC | X86_EFLAGS_DF | X86_EFLAGS_TF);

    if nmi {
        // SAFETY: For an NMI from kernel mode, the five words after `pt_regs` are the "iret"
        // frame (ip, cs, flags, sp, ss) on the NMI stack.
        let copy = unsafe {
            [
                *iret,
                *iret.add(1),
                *iret.add(2),
                *iret.add(3),
                *iret.add(4),
            ]
        };
        if copy != [regs.ip, regs.cs, regs.flags, regs.sp, regs.ss] {
            // A nested NMI already retargeted the iret frame (or the layout is not the one we
            // know): touch nothing, the next kick retries.
            return false;
        }
        // SAFETY: Same words as above, checked to be the iret frame.
        unsafe {
            *iret = new_ip;
            *iret.add(2) = new_flags;
            *iret.add(3) = new_sp;
        }
    }

    frame.fault_ip = regs.ip;
    frame.fault_tsc = rdtsc();
    frame.armed.store(0, Ordering::Relaxed);
    frame.fault.store(class as u32, Ordering::Release);

    regs.ip = new_ip;
    regs.sp = new_sp;
    regs.flags = new_flags;
    regs.di = core::ptr::from_mut(frame) as u64;
    true
}

/// Whether `regs` are a user-mode context's.
pub(crate) fn user_mode(regs: &PtRegs) -> bool {
    regs.cs & 3 != 0
}

fn classify(val: c_ulong, trapnr: c_ulong, msg: *const c_char) -> Option<FaultClass> {
    // SAFETY: Reading constants defined by the C helpers.
    let (die_oops, die_trap, die_gpf, die_pf) =
        unsafe { (ndg_die_oops, ndg_die_trap, ndg_die_gpf, ndg_die_page_fault) };
    let by_trap = |trapnr| match trapnr {
        X86_TRAP_UD => FaultClass::Bug,
        X86_TRAP_DE => FaultClass::DivideError,
        X86_TRAP_GP => FaultClass::GeneralProtection,
        X86_TRAP_PF => FaultClass::PageFault,
        _ => FaultClass::OtherTrap,
    };
    if val == die_trap {
        Some(by_trap(trapnr))
    } else if val == die_gpf {
        Some(FaultClass::GeneralProtection)
    } else if val == die_pf {
        // Only sent with kernel-patch-die-page-fault.diff: before `oops_begin()`, no oops at all.
        Some(FaultClass::PageFault)
    } else if val == die_oops {
        // `page_fault_oops()` does not set `thread.trap_nr`; recognise it by its message.
        let is_pf = !msg.is_null() && {
            // SAFETY: `die_args.str` is a NUL-terminated string.
            let s = unsafe { CStr::from_ptr(msg) };
            s == c"Oops" || s == c"Bad pagetable"
        };
        Some(if is_pf {
            FaultClass::PageFault
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
unsafe extern "C" fn on_die(
    val: c_ulong,
    regs: *mut PtRegs,
    trapnr: c_ulong,
    err: c_ulong,
    msg: *const c_char,
) -> c_int {
    // SAFETY: Reading a constant defined by the C helpers.
    if val == unsafe { ndg_die_debug } {
        // SAFETY: `regs` is null or the live registers of this debug exception; for
        // `DIE_DEBUG`, `notify_debug()` passes the address of its `DR6` value as `err`.
        return if unsafe { crate::trace::on_debug(regs, err as usize as *mut _) } {
            NOTIFY_STOP
        } else {
            NOTIFY_DONE
        };
    }
    let Some(class) = classify(val, trapnr, msg) else {
        return NOTIFY_DONE;
    };
    // A double fault always ends in a panic, whatever a notifier answers.
    if regs.is_null() || trapnr == X86_TRAP_DF {
        return NOTIFY_DONE;
    }
    // SAFETY: The die chain passes the live `pt_regs` of the exception.
    let r = unsafe { &*regs };
    if user_mode(r) {
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
    // SAFETY: Reading a constant defined by the C helpers.
    let level = pc & unsafe { ndg_level_mask };
    // SAFETY: We run in the exception handler on the faulting CPU.
    let fp = unsafe { find_frame(cpu, level, r.sp) };
    if fp.is_null() {
        return NOTIFY_DONE;
    }
    // SAFETY: `fp` is the live, armed frame of the faulting context.
    let frame = unsafe { &*fp };
    // SAFETY: `r` are the registers of this CPU's kernel-mode fault.
    let in_kernel = !unsafe { driver_fault_site(r) };
    let held = in_kernel && holds_more_than_at_entry(frame, pc, &marks);
    let containable = !in_kernel || (class != FaultClass::Bug && !held) || frame.contain_kernel_bug;
    // SAFETY: Reading a constant defined by the C helpers.
    let oops = val == unsafe { ndg_die_oops };
    if oops && (class != FaultClass::PageFault || !containable) {
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
            // SAFETY: As above.
            unsafe { ndg_report_kernel_fault(regs, what.as_ptr(), outcome.as_ptr(), err, trapnr) };
            state.inspect(|s| s.reporting.store(false, Ordering::Relaxed));
        }
        KERNEL_FAULTS.fetch_add(1, Ordering::Relaxed);
        frame.fault_in_kernel.store(true, Ordering::Relaxed);
    }
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
/// own `DriverLock` counts too: a fault in kernel code called with it held is not told
/// apart from one inside a kernel lock.
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
    class: FaultClass,
    contain: bool,
    held: bool,
) -> (&'static CStr, &'static CStr) {
    let what = match class {
        FaultClass::Bug => c"BUG",
        FaultClass::PageFault => c"page fault",
        FaultClass::GeneralProtection => c"general protection fault",
        FaultClass::DivideError => c"divide error",
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

/// Gives up every frame of the context interrupted on this CPU at context `level`, which
/// the kernel is about to end (an oops it does not contain): unlinks them, so that no
/// handler follows a pointer into a stack that goes away and no task slot stays taken.
/// Nothing is written into the frames themselves.
///
/// # Safety
///
/// Must run on `cpu`, in an exception handler on top of the ending context.
unsafe fn abandon_context(cpu: usize, level: u32) {
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
    for (idx, slot) in SLOTS.iter().enumerate() {
        if slot.task.load(Ordering::Acquire) != task {
            continue;
        }
        let fp = slot.frame.load(Ordering::Acquire);
        if !fp.is_null() {
            release_slot(idx, fp);
        }
    }
}

/// The CPU this runs on (a stale answer unless migration is off, as in handlers).
pub(crate) fn this_cpu() -> usize {
    // SAFETY: FFI accessor without preconditions.
    unsafe { ndg_cpu() as usize }
}

/// Whether the kernel context that hit a breakpoint or a single step at `regs` runs a
/// guarded call (its guard frame is armed): a fault raised there is contained.
///
/// # Safety
///
/// Must be called from the `int3` handler (a kprobe pre-handler) or the debug exception's
/// die notifier, on top of the context `regs` describes: both entries
/// (`irqentry_nmi_enter`) added `ndg_nmi_offset` to the preempt count (the notifier
/// chain's RCU read lock adds to the preemption bits, outside the level mask).
pub(crate) unsafe fn in_guarded_call(regs: &PtRegs) -> bool {
    if user_mode(regs) {
        return false;
    }
    // SAFETY: FFI accessors without preconditions.
    let (cpu, pc) = unsafe { (ndg_cpu() as usize, ndg_preempt_count()) };
    // SAFETY: Reading constants defined by the C helpers.
    let level = pc.wrapping_sub(unsafe { ndg_nmi_offset }) & unsafe { ndg_level_mask };
    // SAFETY: We run in the breakpoint handler on top of the checked context, which cannot
    // unlink its frame meanwhile.
    !unsafe { find_frame(cpu, level, regs.sp) }.is_null()
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
    // SAFETY: `frame` is null or a live frame (see above).
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
    // SAFETY: As above.
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
    // SAFETY: See the function's safety requirements.
    if unsafe { redirect(regs, frame, FaultClass::Hang, nmi) } {
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
    // SAFETY: As above; the NMI entry added `ndg_nmi_offset` and `nmi_handle()` its RCU
    // read lock.
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
unsafe extern "C" fn on_nmi(regs: *mut PtRegs) -> c_int {
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
unsafe extern "C" fn watchdog_tick(timer: *mut bindings::hrtimer) -> bindings::hrtimer_restart {
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
    let grace = ns_to_cycles(NMI_GRACE_NS);
    for (other, state) in CPUS.iter().enumerate() {
        if other == cpu || !state.started.load(Ordering::Relaxed) {
            continue;
        }
        let beat = state.heartbeat.load(Ordering::Relaxed);
        let last_kick = state.kick_tsc.load(Ordering::Relaxed);
        if (now.wrapping_sub(beat) as i64) < grace as i64
            || (now.wrapping_sub(last_kick) as i64) < grace as i64
        {
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

    // SAFETY: `timer` is the running hrtimer; forwarding it from its callback is allowed.
    unsafe {
        bindings::hrtimer_forward(timer, bindings::ktime_get(), WATCHDOG_PERIOD_NS as i64);
    }
    bindings::hrtimer_restart::HRTIMER_RESTART
}

/// Starts this CPU's watchdog hrtimer; run on every CPU by `on_each_cpu()`.
///
/// # Safety
///
/// The timers must have been set up with `hrtimer_setup()` and not be running.
unsafe extern "C" fn start_watchdog_on_this_cpu(_info: *mut c_void) {
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

/// Finds the kernel functions the guard treats apart: the delay loops (abort points), the
/// leaf memory and I/O functions (faults there are their caller's) and the code that raises
/// every Rust panic's `BUG()`. Without the last, every driver panic would look like a
/// core-kernel BUG: then the runtime does not start.
fn fill_kernel_text_ranges() -> Result {
    let mut starts: [c_ulong; MAX_SHIMS] = [0; MAX_SHIMS];
    let mut sizes: [c_ulong; MAX_SHIMS] = [0; MAX_SHIMS];
    // SAFETY: Both arrays hold `MAX_SHIMS` elements, more than the 4 asked for.
    let n = unsafe { ndg_spin_functions(starts.as_mut_ptr(), sizes.as_mut_ptr(), 4) };
    for (start, size) in starts.iter().zip(sizes.iter()).take(n as usize) {
        SPIN_TEXT.add(*start as usize, *size as usize)?;
    }
    // SAFETY: Both arrays hold `MAX_SHIMS` elements.
    let n =
        unsafe { ndg_shim_functions(starts.as_mut_ptr(), sizes.as_mut_ptr(), MAX_SHIMS as c_uint) };
    for (start, size) in starts.iter().zip(sizes.iter()).take(n as usize) {
        SHIM_TEXT.add(*start as usize, *size as usize)?;
    }
    let (mut start, mut size): (c_ulong, c_ulong) = (0, 0);
    // SAFETY: Both pointers are valid for writes.
    if unsafe { ndg_rust_bug_extent(&mut start, &mut size) } != 0 || size == 0 {
        pr_err!("guard: cannot find rust_helper_BUG in kallsyms; CONFIG_KALLSYMS is needed\n");
        return Err(ENOENT);
    }
    PANIC_TEXT
        .end
        .store((start + size) as usize, Ordering::Relaxed);
    PANIC_TEXT.start.store(start as usize, Ordering::Release);
    // Faults raised at a driver instruction run ndriver's raising code on the driver's
    // behalf, in its context: they are the driver's (and its hangs may be aborted there).
    let (start, len) = crate::site_raise::text();
    DRIVER_TEXT.add(start, len)
}

// Under preemptible RCU a read-side section is counted in the task, not in the preempt
// count the guard restores: a call abandoned inside one would leave the task in it for
// good. `scripts/build-kernel.sh` refuses such a tree too.
#[cfg(CONFIG_PREEMPT_RCU)]
compile_error!(
    "ndriver does not support CONFIG_PREEMPT_RCU kernels: an abandoned call's RCU read-side nesting cannot be restored"
);

/// Owner of the guard runtime: installs the handlers on creation, removes them on drop.
///
/// Only one runtime can exist at a time.
pub(crate) struct Runtime(());

impl Runtime {
    /// Starts the guard runtime.
    pub(crate) fn new() -> Result<Self> {
        if ACTIVE.load(Ordering::Acquire) || CPUS.iter().any(|s| s.started.load(Ordering::Relaxed))
        {
            return Err(EBUSY);
        }
        // SAFETY: Plain reads of values set once at boot / constants of the C helpers.
        let khz = u64::from(unsafe { bindings::tsc_khz });
        if khz == 0 {
            return Err(ENODEV);
        }
        TSC_KHZ.store(khz, Ordering::Relaxed);
        // SAFETY: Reading a constant defined by the C helpers.
        LEVEL_MASK.store(unsafe { ndg_level_mask }, Ordering::Relaxed);

        for state in CPUS.iter() {
            // SAFETY: The timers are not in use (checked above); `hrtimer_setup` initialises them.
            unsafe {
                bindings::hrtimer_setup(
                    state.timer.get(),
                    Some(watchdog_tick),
                    bindings::CLOCK_MONOTONIC as bindings::clockid_t,
                    bindings::hrtimer_mode_HRTIMER_MODE_REL_PINNED_HARD,
                );
            }
        }

        if let Err(e) = fill_kernel_text_ranges() {
            DRIVER_TEXT.clear();
            SPIN_TEXT.clear();
            SHIM_TEXT.clear();
            PANIC_TEXT.clear();
            return Err(e);
        }

        // SAFETY: The callbacks are valid for as long as the hooks are registered; `Drop`
        // unregisters them.
        let ret = unsafe { ndg_hooks_register(on_die, on_nmi) };
        if ret != 0 {
            DRIVER_TEXT.clear();
            SPIN_TEXT.clear();
            SHIM_TEXT.clear();
            PANIC_TEXT.clear();
            return Err(Error::from_errno(ret));
        }
        // SAFETY: `start_watchdog_on_this_cpu` ignores its argument.
        unsafe { ndg_on_each_cpu(start_watchdog_on_this_cpu, ptr::null_mut()) };
        ACTIVE.store(true, Ordering::Release);
        Ok(Self(()))
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        ACTIVE.store(false, Ordering::Release);
        for state in CPUS.iter() {
            if state.started.swap(false, Ordering::AcqRel) {
                // SAFETY: The timer was set up and started in `new()`.
                unsafe { bindings::hrtimer_cancel(state.timer.get()) };
            }
            state.heartbeat.store(0, Ordering::Relaxed);
        }
        // SAFETY: Registered in `new()`. Unregistering waits for running handlers.
        unsafe { ndg_hooks_unregister() };
        DRIVER_TEXT.clear();
        SPIN_TEXT.clear();
        SHIM_TEXT.clear();
        PANIC_TEXT.clear();
    }
}
