// SPDX-License-Identifier: GPL-2.0

//! Which instructions of an implementation module a workload executes
//! (`<device>/trace`), so that `inject site=traced` draws its instruction from code that
//! runs. `site=random` draws from the whole text, most of which (error paths, set-up,
//! code of other entry points) a given workload never reaches.
//!
//! While a trace runs, every guarded call of the traced device (its owner tag,
//! `guard::guarded_owner`) runs with the trap flag set: the CPU raises a
//! debug exception after each instruction, and the die notifier's `DIE_DEBUG` hands it
//! here, where the instruction's offset is marked in a bitmap of the traced module's
//! text. Interrupts and exceptions clear the flag for their handlers and `iret` puts it
//! back, so only the guarded call and what it calls are stepped. x86-64 does not switch
//! `RFLAGS` with the task: when a traced call sleeps, or softirqs run inline at
//! `local_bh_enable`, the flag goes on in code that is no guarded call; the first step
//! there clears it (a "stray") and the rest of that call is not traced. Only while a
//! traced call is in flight are stray steps taken for ours; any other single step is
//! left to the kernel.
//!
//! A stepped call is hundreds of times slower: while a trace runs, deadlines are a
//! thousand times longer. A trace and an armed site exclude each other: a kprobe's
//! breakpoint inside a stepped instruction stream is a combination nothing here was
//! built or tested for.

use crate::pt_regs::PtRegs;
use crate::x86::{save_flags, user_mode};
use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use kernel::ffi::c_ulong;
use kernel::prelude::*;
use kernel::sync::GlobalGuard;

/// The trap flag in `RFLAGS`.
const X86_EFLAGS_TF: u64 = 1 << 8;
/// `DR_STEP` in `DR6`: the exception is a single step.
const DR_STEP: u64 = 0x4000;
/// Longest text a trace covers (a bitmap of 32 KiB).
const MAX_TEXT: usize = 256 * 8 * 1024;
/// How much longer a deadline is while a trace runs.
pub(crate) const DEADLINE_SCALE: u64 = 1000;

kernel::sync::global_lock! {
    // SAFETY: `init` initialises it from the module initialiser, before any use.
    unsafe(uninit) static LOCK: Mutex<()> = ();
}

/// Guarded calls are stepped.
static ACTIVE: AtomicBool = AtomicBool::new(false);
/// A trace ran since load: single steps may be ours.
static EVER: AtomicBool = AtomicBool::new(false);
/// The traced text: start address and length.
static START: AtomicUsize = AtomicUsize::new(0);
static LEN: AtomicUsize = AtomicUsize::new(0);
/// The bitmap, one bit per byte of the text (set: an instruction executed there), and
/// its length and capacity in words (for freeing it).
static MAP: AtomicPtr<AtomicU64> = AtomicPtr::new(core::ptr::null_mut());
static WORDS: AtomicUsize = AtomicUsize::new(0);
static CAP: AtomicUsize = AtomicUsize::new(0);
/// ndriver's own text: the guard's code around a traced call, stepped too (between
/// setting the flag and the call's frame being armed, and after it returns).
static OWN_START: AtomicUsize = AtomicUsize::new(0);
static OWN_LEN: AtomicUsize = AtomicUsize::new(0);
/// Owner tag of the traced device's guarded calls (`guard::guarded_owner`); stored
/// before `ACTIVE` is set (Release), read after it (Acquire).
static OWNER: AtomicUsize = AtomicUsize::new(0);
/// Guarded calls running with the trap flag this file set.
static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);
/// Steps taken in traced calls, and steps found outside them (the flag cleared).
static STEPS: AtomicU64 = AtomicU64::new(0);
static STRAYS: AtomicU64 = AtomicU64::new(0);

/// Initialises the lock and notes ndriver's own text, `own` (start and length).
///
/// # Safety
///
/// Called once, from ndriver's module initialiser, before anything else here.
pub(crate) unsafe fn init(own: (usize, usize)) {
    // SAFETY: called once before any use (this function's contract).
    unsafe { LOCK.init() };
    let (start, len) = own;
    OWN_START.store(start, Ordering::Relaxed);
    OWN_LEN.store(len, Ordering::Relaxed);
}

/// The trace's lock, held: starting, stopping and reading a trace, and arming a site
/// (which must not happen while a trace runs), are serialised by it. Process context.
pub(crate) struct Held {
    _guard: GlobalGuard<LOCK>,
}

/// Takes the trace's lock.
pub(crate) fn hold() -> Held {
    Held {
        _guard: LOCK.lock(),
    }
}

/// Whether guarded calls are to be stepped now.
#[inline(always)]
pub(crate) fn active() -> bool {
    ACTIVE.load(Ordering::Relaxed)
}

/// Whether a trace runs for the guarded calls tagged `owner` (the traced device's):
/// other devices served by the same module run its text unstepped.
pub(crate) fn active_for(owner: usize) -> bool {
    ACTIVE.load(Ordering::Acquire) && OWNER.load(Ordering::Relaxed) == owner
}

/// Sets the trap flag for a guarded call: the CPU steps from the instruction after
/// next. Returns whether the flag was set already (a traced call that nests this one
/// in the same context), for [`step_off`].
#[inline(always)]
pub(crate) fn step_on() -> bool {
    let was = save_flags() & X86_EFLAGS_TF != 0;
    IN_FLIGHT.fetch_add(1, Ordering::Relaxed);
    // SAFETY: pushes RFLAGS, sets TF in the copy and pops it back; the stack is balanced.
    // The debug exceptions that follow are consumed by `on_debug`.
    unsafe {
        core::arch::asm!(
            "pushfq",
            "or qword ptr [rsp], {tf}",
            "popfq",
            tf = const X86_EFLAGS_TF,
        )
    };
    was
}

/// Ends what [`step_on`] began: clears the trap flag unless it was set before (`was`).
#[inline(always)]
pub(crate) fn step_off(was: bool) {
    if !was {
        // SAFETY: pushes RFLAGS, clears TF in the copy and pops it back; the stack is
        // balanced.
        unsafe {
            core::arch::asm!(
                "pushfq",
                "and qword ptr [rsp], {mask}",
                "popfq",
                mask = const !X86_EFLAGS_TF as i32,
            )
        };
    }
    IN_FLIGHT.fetch_sub(1, Ordering::Relaxed);
}

/// Frees the bitmap.
///
/// # Safety
///
/// The caller holds the lock, no trace runs, and no step handler is left that could
/// still read the old bitmap (`synchronize_rcu` after `ACTIVE` went false: debug
/// exceptions are NMI-like, and RCU waits for those).
unsafe fn free_map() {
    let map = MAP.swap(core::ptr::null_mut(), Ordering::AcqRel);
    LEN.store(0, Ordering::Relaxed);
    if !map.is_null() {
        // SAFETY: `map`, `WORDS` and `CAP` come from `into_raw_parts` of a `KVec` in
        // `start`, and nothing uses the bitmap any more (this function's contract).
        drop(unsafe {
            KVec::from_raw_parts(
                map,
                WORDS.load(Ordering::Relaxed),
                CAP.load(Ordering::Relaxed),
            )
        });
    }
}

/// What traces recorded, freed when dropped (at unload, after the devices and the die
/// notifier are gone).
pub(crate) struct Recorded;

impl Drop for Recorded {
    fn drop(&mut self) {
        ACTIVE.store(false, Ordering::Release);
        kernel::sync::rcu::synchronize_rcu();
        let _held = hold();
        // SAFETY: the lock is held, no trace runs, and a grace period passed since.
        unsafe { free_map() };
    }
}

/// `DIE_DEBUG`: consumes a single step that is ours. Returns whether it was.
///
/// `guarded_owner` is the guard's `guarded_owner`: the owner tag of the guarded call
/// the context the step interrupted runs, if any (passed in, as the tracer sits below
/// the guard). Only steps in the traced device's calls are recorded.
///
/// # Safety
///
/// `regs` must be null or the live `pt_regs` of the debug exception being reported on
/// this CPU, and `dr6` null or that exception's pointer to its `DR6` value (what
/// `notify_debug()` passes as the die chain's `err`). `guarded_owner` may be called
/// from this debug exception's die notifier, on top of the context `regs` describes.
pub(crate) unsafe fn on_debug(
    regs: *mut PtRegs,
    dr6: *mut c_ulong,
    guarded_owner: unsafe fn(&PtRegs) -> Option<usize>,
) -> bool {
    if !EVER.load(Ordering::Relaxed) || regs.is_null() || dr6.is_null() {
        return false;
    }
    // SAFETY: the caller passes the exception's `DR6` value.
    if unsafe { *dr6 } as u64 & DR_STEP == 0 {
        return false;
    }
    // SAFETY: the caller passes the exception's live registers.
    let r = unsafe { &mut *regs };
    if user_mode(r) || IN_FLIGHT.load(Ordering::Relaxed) == 0 {
        // Not a step of a traced call: a debugger's, or the kernel's to warn about.
        return false;
    }
    let ip = r.ip as usize;
    if ip.wrapping_sub(OWN_START.load(Ordering::Relaxed)) < OWN_LEN.load(Ordering::Relaxed) {
        // The guard on its way into or out of a traced call: it clears the flag itself.
    } else if ACTIVE.load(Ordering::Acquire)
        // SAFETY: a debug exception enters as the breakpoint does (`irqentry_nmi_enter`),
        // on top of the context `r` describes.
        && unsafe { guarded_owner(r) } == Some(OWNER.load(Ordering::Relaxed))
    {
        STEPS.fetch_add(1, Ordering::Relaxed);
        let off = ip.wrapping_sub(START.load(Ordering::Relaxed));
        let map = MAP.load(Ordering::Acquire);
        if off < LEN.load(Ordering::Relaxed) && !map.is_null() {
            let w = off / 64;
            if w < WORDS.load(Ordering::Relaxed) {
                // SAFETY: `w` is within the bitmap, which stays allocated until a
                // grace period after the trace stops (`free_map`).
                unsafe { (*map.add(w)).fetch_or(1 << (off % 64), Ordering::Relaxed) };
            }
        }
    } else {
        // The flag went on where no guarded call runs (a traced call slept, or ran
        // softirqs inline), or the trace was stopped under a running call.
        r.flags &= !X86_EFLAGS_TF;
        STRAYS.fetch_add(1, Ordering::Relaxed);
    }
    // Consumed: `exc_debug_kernel()` would otherwise warn about a kernel single step.
    // SAFETY: `dr6` is non-null, so it is this debug exception's pointer to its `DR6` value
    // (this function's contract), which its die notifier may update.
    unsafe { *dr6 &= !(DR_STEP as c_ulong) };
    true
}

/// How many instructions `map` marks executed.
fn executed(map: &[AtomicU64]) -> u64 {
    map.iter()
        .map(|w| w.load(Ordering::Relaxed).count_ones() as u64)
        .sum()
}

/// The bitmap as a slice, if it covers `start..start + len`.
///
/// The lock, held, keeps the bitmap from being freed while the slice lives.
fn map_of(_held: &Held, start: usize, len: usize) -> Option<&[AtomicU64]> {
    let map = MAP.load(Ordering::Acquire);
    if map.is_null() || START.load(Ordering::Relaxed) != start || LEN.load(Ordering::Relaxed) != len
    {
        return None;
    }
    // SAFETY: `map` holds `WORDS` initialised words, not freed while the lock is held.
    Some(unsafe { core::slice::from_raw_parts(map, WORDS.load(Ordering::Relaxed)) })
}

impl Held {
    /// Starts a trace of the text `start..start + len` for the device `dev` (owner tag
    /// `owner`), dropping the previous one; `EBUSY` while another device's trace runs.
    ///
    /// `sites_armed` counts the fault sites armed now (the sites sit above the tracer,
    /// so the count is passed in): kprobes do not expect the trap flag a trace sets,
    /// so a trace and an armed site exclude each other, both checked under this lock.
    pub(crate) fn start(
        &self,
        dev: &str,
        owner: usize,
        start: usize,
        len: usize,
        sites_armed: fn() -> usize,
    ) -> Result {
        if sites_armed() != 0 {
            pr_warn!(
                "{}: trace: a fault site is armed; write off to inject first\n",
                dev
            );
            return Err(EBUSY);
        }
        if active() && OWNER.load(Ordering::Relaxed) != owner {
            pr_warn!(
                "{}: trace: another device's trace runs; write off to its trace first\n",
                dev
            );
            return Err(EBUSY);
        }
        if len == 0 || len > MAX_TEXT {
            pr_warn!("{}: trace: a text of {} bytes cannot be traced\n", dev, len);
            return Err(EINVAL);
        }
        ACTIVE.store(false, Ordering::Release);
        kernel::sync::rcu::synchronize_rcu();
        // SAFETY: the lock is held (`self`), no trace runs, and a grace period passed
        // since.
        unsafe { free_map() };
        let words = len.div_ceil(64);
        let mut v = KVec::with_capacity(words, GFP_KERNEL)?;
        for _ in 0..words {
            v.push(AtomicU64::new(0), GFP_KERNEL)?;
        }
        let (ptr, n, cap) = v.into_raw_parts();
        WORDS.store(n, Ordering::Relaxed);
        CAP.store(cap, Ordering::Relaxed);
        START.store(start, Ordering::Relaxed);
        LEN.store(len, Ordering::Relaxed);
        OWNER.store(owner, Ordering::Relaxed);
        MAP.store(ptr, Ordering::Release);
        STEPS.store(0, Ordering::Relaxed);
        STRAYS.store(0, Ordering::Relaxed);
        EVER.store(true, Ordering::Relaxed);
        // Release: a step handler that sees the trace active sees its bitmap.
        ACTIVE.store(true, Ordering::Release);
        Ok(())
    }

    /// Ends the trace of the device `dev` (owner tag `owner`); what it recorded stays
    /// for `pick` until the next `start`. `EBUSY`, and nothing changes, while the trace
    /// that runs is another device's.
    pub(crate) fn stop(&self, dev: &str, owner: usize) -> Result {
        if active() && OWNER.load(Ordering::Relaxed) != owner {
            pr_warn!("{}: trace: the trace that runs is another device's\n", dev);
            return Err(EBUSY);
        }
        ACTIVE.store(false, Ordering::Release);
        Ok(())
    }

    /// The `k % n`-th of the `n` instructions the trace of `start..start + len` saw
    /// executed: `None` without such a trace or with nothing in it.
    pub(crate) fn pick(&self, start: usize, len: usize, k: u32) -> Option<usize> {
        let map = map_of(self, start, len)?;
        let n = executed(map);
        if n == 0 {
            return None;
        }
        let mut k = k as u64 % n;
        for (i, w) in map.iter().enumerate() {
            let mut bits = w.load(Ordering::Relaxed);
            let c = bits.count_ones() as u64;
            if k >= c {
                k -= c;
                continue;
            }
            for _ in 0..k {
                bits &= bits - 1;
            }
            return Some(start + i * 64 + bits.trailing_zeros() as usize);
        }
        None
    }

    /// Writes the trace's state for the `trace` file of the device with owner tag
    /// `owner`, whose serving implementation's text is `text`: whether its trace runs
    /// (`other` while another device's does), the traced text, the instructions seen
    /// executed, steps taken in traced calls and stray steps. Another device's trace
    /// shows as empty.
    pub(crate) fn show(
        &self,
        f: &mut fmt::Formatter<'_>,
        text: Option<(usize, usize)>,
        owner: usize,
    ) -> fmt::Result {
        let ours = EVER.load(Ordering::Relaxed) && OWNER.load(Ordering::Relaxed) == owner;
        let state = match (active(), ours) {
            (true, true) => "on",
            (true, false) => "other",
            (false, _) => "off",
        };
        if !ours {
            return writeln!(
                f,
                "{} text=0x0+0x0 serving=0 executed=0 steps=0 strays=0",
                state
            );
        }
        let covered = text.and_then(|(s, l)| map_of(self, s, l));
        let n = covered.map_or(0, executed);
        writeln!(
            f,
            "{} text={:#x}+{:#x} serving={} executed={} steps={} strays={}",
            state,
            START.load(Ordering::Relaxed),
            LEN.load(Ordering::Relaxed),
            covered.is_some() as u32,
            n,
            STEPS.load(Ordering::Relaxed),
            STRAYS.load(Ordering::Relaxed)
        )
    }
}
