// SPDX-License-Identifier: GPL-2.0

//! Fault injection at one instruction of a driver (`inject site=...`), in the style of the
//! Rio and Nooks injectors: a kprobe on the instruction raises the fault when a guarded
//! call reaches it, in the driver's own context, in the middle of its work.
//!
//! - Classes that stop the CPU (panic, NULL load, ..., endless loops): the probe handler
//!   pushes the instruction's address as a return address and resumes the driver's context
//!   at the class's stub in `site_raise.rs`.
//! - `skip_insn`: the context resumes after the instruction, which never runs.
//! - `corrupt_ptr`: a bit of a register that holds a kernel pointer is flipped, then the
//!   instruction runs.
//! - `flip_dest`: the instruction runs (kprobes single-steps it), then a bit is flipped in
//!   the first general-purpose register it changed, or else in a flag it changed. An
//!   instruction that changes neither (a store, a jump) has no destination register: the
//!   fault fires but changes nothing, and says so.
//!
//! Neither corruption touches the stack or frame pointer ([`frame_pointer`]): in kernel
//! mode that ends in a double fault, which nothing inside the kernel can contain.
//!
//! The site keeps its own evidence: hits inside guarded calls, hits outside them (never
//! fired: nothing would contain the fault), faults fired, faults that changed the
//! driver's state, and what the last one did; each one is also a line in the kernel log.

use core::fmt;
use core::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use kernel::ffi::{c_int, c_ulong};

use kernel::prelude::*;
use kernel::sync::Mutex;
use kernel::types::Opaque;
use kernel::{bindings, new_mutex};

use crate::abi::ImplDesc;
use crate::fault_class::FaultClass;
use crate::guard;
use crate::inject_spec::{xorshift32, Gate, SiteAt, SiteSpec, MAX_SYMBOL};
use crate::pt_regs::{PtRegs, GPR_NAMES};
use crate::site_raise;
use crate::trace;

/// Random offsets tried before `site=random` gives up.
const RANDOM_TRIES: u32 = 64;
/// Longest x86 instruction: how far back from a random byte its instruction may start.
const MAX_INSN: usize = 15;
/// Bits a pointer corruption may flip: the low 47, so that the address stays canonical
/// and a bad access is a page fault, which kprobes hands back to the probed instruction
/// when it happens in the single-step (a stack-segment fault would not be).
const POINTER_BITS: u32 = 47;
/// Lowest kernel address with 4-level paging: a register above it holds a kernel
/// pointer. With 5-level paging the heap and stacks lie below it, so only text and
/// module pointers count there (`Documentation/design.rst`, "Faults at driver instructions").
const KERNEL_HALF: u64 = 0xffff_8000_0000_0000;
/// Index of `rbp` in [`GPR_NAMES`].
const RBP: usize = 4;
/// How far above the stack pointer `rbp` may point and still be taken for the frame
/// pointer: more than any kernel stack (32 KiB with KASAN).
const FRAME_WINDOW: u64 = 64 * 1024;
/// The arithmetic flags (CF, PF, AF, ZF, SF, OF): what a compare or test writes.
const ARITH_FLAGS: u64 = 0x8d5;
/// Whether register `i` of `r` is the frame pointer: `rbp` pointing into the stack just
/// above `rsp`.
///
/// The corruption classes leave it alone. A function's epilogue moves it into the stack
/// pointer, and in kernel mode an exception on a stack pointer into unmapped memory
/// cannot push its frame: a double fault, which the kernel ends in a panic whatever a
/// notifier says. No guard inside the kernel can contain it, so it is outside the
/// fault model, like a corrupted `rsp` (never a candidate: [`GPR_NAMES`] lacks it).
fn frame_pointer(r: &PtRegs, i: usize) -> bool {
    i == RBP && r.bp.wrapping_sub(r.sp) < FRAME_WINDOW
}

/// Whether the `size`-byte instruction at `addr`, whose first byte (under the
/// breakpoint) is `first`, copies the stack pointer into `rbp` (`mov %rsp,%rbp` in
/// either encoding, `lea d(%rsp),%rbp`).
///
/// `skip_insn` leaves it alone: skipped, `rbp` keeps the caller's value, which the
/// epilogue then moves into the stack pointer ([`frame_pointer`]).
///
/// # Safety
///
/// `addr..addr + size` must be mapped text.
unsafe fn sets_frame_pointer(first: u8, addr: u64, size: u8) -> bool {
    let at = |i: u64| {
        // SAFETY: `i < size` at every call below, inside the mapped instruction.
        unsafe { core::ptr::read_volatile((addr + i) as *const u8) }
    };
    match size {
        3 => first == 0x48 && matches!((at(1), at(2)), (0x89, 0xe5) | (0x8b, 0xec)),
        5 | 8 => {
            let modrm = if size == 5 { 0x6c } else { 0xac };
            first == 0x48 && at(1) == 0x8d && at(2) == modrm && at(3) == 0x24
        }
        _ => false,
    }
}

/// No CPU.
const NO_CPU: usize = usize::MAX;
/// An odd multiplier with well-mixed bits (2^32 / golden ratio).
const SEED_MIX: u32 = 0x9e37_79b9;

/// Probes registered now, in every device (a trace may not start while there are any).
static ARMED: AtomicUsize = AtomicUsize::new(0);

/// How many sites are registered now.
pub(crate) fn armed() -> usize {
    ARMED.load(Ordering::Relaxed)
}

/// Starts a trace of the text `start..start + len` for `dev`, unless a fault site is
/// armed ([`trace::Held::start`] checks, under the trace's lock).
pub(crate) fn start_trace(
    trace: &trace::Held,
    dev: &str,
    owner: usize,
    start: usize,
    len: usize,
) -> Result {
    trace.start(dev, owner, start, len, armed)
}

/// A non-zero generator state from `seed`, nearby seeds (1, 2, 3, ...) far apart.
fn mix(seed: u32) -> u32 {
    let mut x = seed.wrapping_add(SEED_MIX).wrapping_mul(SEED_MIX);
    for _ in 0..4 {
        x = xorshift32(x ^ (x >> 16));
    }
    if x == 0 {
        SEED_MIX
    } else {
        x
    }
}

/// What the last fault of a site did.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
enum Effect {
    /// Nothing fired yet.
    None = 0,
    /// The context went on at a stub that raises the class.
    Raised = 1,
    /// The instruction was skipped.
    Skipped = 2,
    /// A bit of a register was flipped.
    Register = 3,
    /// A flag was flipped.
    Flag = 4,
    /// The instruction changed no register or flag: nothing to flip.
    NoDestination = 5,
    /// No register held a kernel pointer: nothing to corrupt.
    NoPointer = 6,
    /// The register to corrupt was the frame pointer, which the fault model leaves alone.
    FramePointer = 7,
}

impl Effect {
    fn from_raw(raw: u32) -> Self {
        match raw {
            1 => Self::Raised,
            2 => Self::Skipped,
            3 => Self::Register,
            4 => Self::Flag,
            5 => Self::NoDestination,
            6 => Self::NoPointer,
            7 => Self::FramePointer,
            _ => Self::None,
        }
    }

    /// Whether the fault changed the driver's execution or state.
    fn applied(self) -> bool {
        matches!(
            self,
            Self::Raised | Self::Skipped | Self::Register | Self::Flag
        )
    }
}

/// One armed site: a kprobe and its evidence.
///
/// # Invariants
///
/// `probe` is registered with kprobes while `registered` is non-zero, with [`Site::pre`]
/// and [`Site::post`] as handlers; it is unregistered before the site is freed.
#[pin_data(PinnedDrop)]
pub(crate) struct Site {
    #[pin]
    probe: Opaque<bindings::kprobe>,
    /// The device, for the log.
    dev: &'static str,
    class: FaultClass,
    gate: Gate,
    /// Non-zero while `probe` is registered.
    registered: AtomicU32,
    /// NUL-terminated name for `site=SYMBOL+OFFSET`.
    symbol: [u8; MAX_SYMBOL + 1],
    /// The device's `injected` counter of `class` (see [`SiteSlot::arm`]).
    injected: *const AtomicU64,
    /// The device's count of all faults injected (see [`SiteSlot::arm`]).
    injected_total: *const AtomicU64,
    /// Start of the implementation's text (offsets in `show` are from here).
    text_start: AtomicUsize,
    /// Reached inside a guarded call.
    hits: AtomicU64,
    /// Reached outside any guarded call of the device it was armed for (never fired
    /// there): outside guarded calls, or in another device's calls of the same
    /// implementation.
    outside: AtomicU64,
    /// The owner tag of the device's guarded calls (`guard::guarded_owner`).
    owner: usize,
    /// Faults that changed the driver's execution or state.
    applied: AtomicU64,
    /// State of the draws (register, bit).
    rng: AtomicU32,
    /// `flip_dest`: the CPU whose single-step the post handler is to corrupt.
    flip_cpu: AtomicUsize,
    /// `flip_dest`: the registers and flags before the instruction ran on `flip_cpu`.
    before: [AtomicU64; 16],
    last_effect: AtomicU32,
    /// Register index ([`GPR_NAMES`]) or flag bit of the last fault.
    last_reg: AtomicU32,
    last_bit: AtomicU32,
    last_old: AtomicU64,
    last_new: AtomicU64,
    last_cpu: AtomicU32,
}

impl Site {
    /// A site for `spec`, not yet placed.
    fn new(
        dev: &'static str,
        owner: usize,
        spec: &SiteSpec<'_>,
        seed: u32,
        injected: *const AtomicU64,
        injected_total: *const AtomicU64,
    ) -> impl PinInit<Self> {
        let mut symbol = [0u8; MAX_SYMBOL + 1];
        if let SiteAt::Symbol { symbol: s, .. } = spec.at {
            let n = s.len().min(MAX_SYMBOL);
            symbol[..n].copy_from_slice(&s.as_bytes()[..n]);
        }
        let (class, when) = (spec.class, spec.when);
        pin_init!(Self {
            probe: Opaque::zeroed(),
            dev,
            class,
            gate: Gate::new(when, seed),
            registered: AtomicU32::new(0),
            symbol,
            injected,
            injected_total,
            text_start: AtomicUsize::new(0),
            hits: AtomicU64::new(0),
            outside: AtomicU64::new(0),
            owner,
            applied: AtomicU64::new(0),
            rng: AtomicU32::new(mix(seed)),
            flip_cpu: AtomicUsize::new(NO_CPU),
            before: [const { AtomicU64::new(0) }; 16],
            last_effect: AtomicU32::new(Effect::None as u32),
            last_reg: AtomicU32::new(0),
            last_bit: AtomicU32::new(0),
            last_old: AtomicU64::new(0),
            last_new: AtomicU64::new(0),
            last_cpu: AtomicU32::new(0),
        })
    }

    /// The instruction's address (0 before the site is placed).
    fn addr(&self) -> usize {
        // SAFETY: `addr` is written by `register_kprobe` before handlers can run and not
        // changed afterwards.
        unsafe { (*self.probe.get()).addr as usize }
    }

    /// Registers the probe at `addr`, or at `symbol`+`offset` when `addr` is 0.
    fn try_register(&self, addr: usize, offset: u32) -> Result {
        let p = self.probe.get();
        // SAFETY: `p` is this site's probe, not registered (callers check `registered`):
        // nothing else reads it. All-zero is the state `register_kprobe` expects besides
        // the fields set here.
        let ret = unsafe {
            core::ptr::write_bytes(p, 0, 1);
            if addr != 0 {
                (*p).addr = addr as *mut bindings::kprobe_opcode_t;
            } else {
                (*p).symbol_name = self.symbol.as_ptr().cast();
                (*p).offset = offset;
            }
            (*p).pre_handler = Some(Self::pre);
            // A probe with a post handler is never optimised into a jump, which would
            // not let the pre handler move the instruction pointer.
            (*p).post_handler = Some(Self::post);
            // Disabled until the address is known to be in the implementation's text: a
            // symbol may name any function of the kernel.
            (*p).flags = bindings::KPROBE_FLAG_DISABLED;
            bindings::register_kprobe(p)
        };
        if ret != 0 {
            return Err(Error::from_errno(ret));
        }
        // INVARIANT: registered just now, with `pre` and `post`.
        self.registered.store(1, Ordering::Release);
        ARMED.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Places the site in the text `start..start + len` of the serving implementation and
    /// enables it.
    fn place(&self, at: SiteAt<'_>, start: usize, len: usize, trace: &trace::Held) -> Result {
        self.text_start.store(start, Ordering::Relaxed);
        self.register_in(at, start, len, trace)?;
        // SAFETY: the probe is registered (by `register_in`) and not freed before its
        // unregistration.
        let ret = unsafe { bindings::enable_kprobe(self.probe.get()) };
        if ret != 0 {
            self.unregister();
            return Err(Error::from_errno(ret));
        }
        Ok(())
    }

    /// Registers the probe, disabled, at an instruction in `start..start + len`.
    fn register_in(&self, at: SiteAt<'_>, start: usize, len: usize, trace: &trace::Held) -> Result {
        match at {
            SiteAt::Traced { .. } => {
                let mut x = self.rng.load(Ordering::Relaxed);
                for _ in 0..RANDOM_TRIES {
                    x = xorshift32(x);
                    // Executed instructions are instruction starts; kprobes may still
                    // refuse some (another probe's, code it cannot step): draw again.
                    let Some(addr) = trace.pick(start, len, x) else {
                        pr_warn!(
                            "{}: inject: no trace of the serving implementation: write on \
                             to trace, run the workload, write off\n",
                            self.dev
                        );
                        return Err(ENOENT);
                    };
                    if self.try_register(addr, 0).is_ok() {
                        self.rng.store(x, Ordering::Relaxed);
                        return Ok(());
                    }
                }
                Err(ENOENT)
            }
            SiteAt::Random { .. } => {
                let mut x = self.rng.load(Ordering::Relaxed);
                for _ in 0..RANDOM_TRIES {
                    x = xorshift32(x);
                    let off = (x as usize) % len.max(1);
                    // The instruction holding byte `off` starts at most `MAX_INSN` bytes
                    // before it; kprobes refuses every address but instruction starts.
                    for back in 0..=MAX_INSN.min(off) {
                        match self.try_register(start + off - back, 0) {
                            Ok(()) => {
                                self.rng.store(x, Ordering::Relaxed);
                                return Ok(());
                            }
                            Err(e) if e == EILSEQ => continue,
                            Err(_) => break,
                        }
                    }
                }
                Err(ENOENT)
            }
            SiteAt::Symbol { offset, .. } => {
                self.try_register(0, offset)?;
                let a = self.addr();
                if a < start || a >= start + len {
                    pr_warn!(
                        "{}: inject: site {:#x} is not in the serving implementation's text\n",
                        self.dev,
                        a
                    );
                    self.unregister();
                    return Err(EINVAL);
                }
                Ok(())
            }
        }
    }

    fn unregister(&self) {
        if self.registered.swap(0, Ordering::AcqRel) != 0 {
            // SAFETY: registered (per the flag just cleared), by this site.
            unsafe { bindings::unregister_kprobe(self.probe.get()) };
            ARMED.fetch_sub(1, Ordering::Relaxed);
        }
    }

    fn draw(&self) -> u32 {
        let x = xorshift32(self.rng.load(Ordering::Relaxed));
        self.rng.store(x, Ordering::Relaxed);
        x
    }

    fn record(&self, effect: Effect, reg: u32, bit: u32, old: u64, new: u64) {
        self.last_reg.store(reg, Ordering::Relaxed);
        self.last_bit.store(bit, Ordering::Relaxed);
        self.last_old.store(old, Ordering::Relaxed);
        self.last_new.store(new, Ordering::Relaxed);
        self.last_cpu
            .store(guard::this_cpu() as u32, Ordering::Relaxed);
        self.last_effect.store(effect as u32, Ordering::Release);
        // SAFETY: the counters outlive the site (`SiteSlot::arm`'s contract).
        unsafe { (*self.injected).fetch_add(1, Ordering::Relaxed) };
        if effect.applied() {
            self.applied.fetch_add(1, Ordering::Relaxed);
            // A fault that changed nothing does not make the call's failure an injected
            // one (the crash report's `injected`).
            // SAFETY: the counters outlive the site (`SiteSlot::arm`'s contract).
            unsafe { (*self.injected_total).fetch_add(1, Ordering::Relaxed) };
        }
        pr_info!(
            "{}: site {:#x} fired {} on cpu {}: {}\n",
            self.dev,
            self.addr(),
            self.class.name(),
            guard::this_cpu(),
            EffectText(self)
        );
    }

    /// Recovers the site from its probe.
    ///
    /// # Safety
    ///
    /// `p` must be the `probe` of a live [`Site`].
    unsafe fn from_probe<'a>(p: *mut bindings::kprobe) -> &'a Site {
        // SAFETY: per the contract, `p` is the `probe` field (an `Opaque<kprobe>`, with the
        // same layout) of a live `Site`.
        unsafe { &*kernel::container_of!(p.cast::<Opaque<bindings::kprobe>>(), Site, probe) }
    }

    /// kprobe pre-handler: runs in the breakpoint handler, interrupts off, on the context
    /// that reached the instruction. Returns 1 when it moved the instruction pointer.
    ///
    /// # Safety
    ///
    /// Called by kprobes with this site's registered probe and the live registers.
    unsafe extern "C" fn pre(p: *mut bindings::kprobe, regs: *mut bindings::pt_regs) -> c_int {
        // SAFETY: kprobes passes the registered probe, which is a live site's (invariant).
        let site = unsafe { Self::from_probe(p) };
        // SAFETY: kprobes passes the live registers of the context; `PtRegs` has their
        // layout.
        let r = unsafe { &mut *regs.cast::<PtRegs>() };
        // Any arrival on this CPU means its previous single-step is over, whether or not
        // the post-handler ran (a fault in the step skips it). Cleared before the owner
        // check: an arrival that does not fire must not find a stale flip in `post`.
        let cpu = guard::this_cpu();
        let _ = site
            .flip_cpu
            .compare_exchange(cpu, NO_CPU, Ordering::AcqRel, Ordering::Relaxed);
        // SAFETY: we run in the breakpoint handler on top of that context.
        if unsafe { guard::guarded_owner(r) } != Some(site.owner) {
            site.outside.fetch_add(1, Ordering::Relaxed);
            return 0;
        }
        site.hits.fetch_add(1, Ordering::Relaxed);
        if site.class == FaultClass::FlipDest
            && site
                .flip_cpu
                .compare_exchange(NO_CPU, cpu, Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
        {
            // Another CPU's flip waits for its single-step: this hit is not one.
            return 0;
        }
        if !site.gate.on_call() {
            let _ =
                site.flip_cpu
                    .compare_exchange(cpu, NO_CPU, Ordering::AcqRel, Ordering::Relaxed);
            return 0;
        }
        let addr = site.addr() as u64;
        match site.class {
            FaultClass::SkipInsn => {
                // SAFETY: `ainsn` and `opcode` were filled in by `register_kprobe` and are
                // not changed.
                let (size, first) = unsafe { ((*p).ainsn.size, (*p).opcode) };
                // SAFETY: the instruction is in the text of a loaded module: its probe
                // is registered, and a site goes before its module (`SiteSlot`).
                if unsafe { sets_frame_pointer(first, addr, size) } {
                    site.record(Effect::FramePointer, RBP as u32, 0, r.bp, r.bp);
                    return 0;
                }
                r.ip = addr + u64::from(size);
                site.record(Effect::Skipped, 0, 0, addr, r.ip);
                1
            }
            FaultClass::CorruptPtr => {
                let gprs = r.gprs();
                let pointer = |i: usize, v: u64| v >= KERNEL_HALF && !frame_pointer(r, i);
                let n = gprs
                    .iter()
                    .enumerate()
                    .filter(|(i, v)| pointer(*i, **v))
                    .count();
                if n == 0 {
                    site.record(Effect::NoPointer, 0, 0, 0, 0);
                    return 0;
                }
                let pick = site.draw() as usize % n;
                let bit = site.draw() % POINTER_BITS;
                let Some(i) = gprs
                    .iter()
                    .enumerate()
                    .filter(|(i, v)| pointer(*i, **v))
                    .nth(pick)
                    .map(|(i, _)| i)
                else {
                    return 0;
                };
                if let Some(reg) = r.gpr_mut(i) {
                    let old = *reg;
                    *reg ^= 1 << bit;
                    site.record(Effect::Register, i as u32, bit, old, *reg);
                }
                0
            }
            FaultClass::FlipDest => {
                for (slot, v) in site.before.iter().zip(r.gprs()) {
                    slot.store(v, Ordering::Relaxed);
                }
                site.before[15].store(r.flags, Ordering::Relaxed);
                0
            }
            class => {
                let Some(stub) = site_raise::stub(class) else {
                    return 0;
                };
                // The crash report names this instruction, not the stub.
                // SAFETY: we run in the breakpoint handler on top of that context.
                unsafe { guard::note_raised(r, addr) };
                // The breakpoint entry leaves a gap below the interrupted stack pointer
                // for exactly this (the kernel's own `int3_emulate_call()`): push the
                // instruction's address as if it had called the stub.
                r.sp -= 8;
                // SAFETY: `r.sp` now points into the gap the `int3` entry leaves below the
                // interrupted kernel stack (no red zone in the kernel).
                unsafe { core::ptr::write_volatile(r.sp as *mut u64, addr) };
                r.ip = stub as u64;
                site.record(Effect::Raised, 0, 0, addr, stub as u64);
                1
            }
        }
    }

    /// kprobe post-handler: runs after the instruction was single-stepped.
    ///
    /// # Safety
    ///
    /// Called by kprobes with this site's registered probe and the live registers.
    unsafe extern "C" fn post(p: *mut bindings::kprobe, regs: *mut bindings::pt_regs, _f: c_ulong) {
        // SAFETY: `p` is this site's registered probe (this function's contract).
        let site = unsafe { Self::from_probe(p) };
        if site.flip_cpu.load(Ordering::Acquire) != guard::this_cpu() {
            return;
        }
        // SAFETY: `regs` are the live registers of the probed context (this function's
        // contract), ours to change until the handler returns; `PtRegs` has their layout.
        let r = unsafe { &mut *regs.cast::<PtRegs>() };
        let changed = site
            .before
            .iter()
            .zip(r.gprs())
            .position(|(b, v)| b.load(Ordering::Relaxed) != v);
        let bit = site.draw() % 64;
        if changed.is_some_and(|i| frame_pointer(r, i)) {
            site.record(Effect::FramePointer, RBP as u32, 0, r.bp, r.bp);
        } else if let Some(i) = changed {
            if let Some(reg) = r.gpr_mut(i) {
                let old = *reg;
                *reg ^= 1 << bit;
                site.record(Effect::Register, i as u32, bit, old, *reg);
            }
        } else {
            let flags = (site.before[15].load(Ordering::Relaxed) ^ r.flags) & ARITH_FLAGS;
            if flags != 0 {
                let flag = flags.trailing_zeros();
                let old = r.flags;
                r.flags ^= 1 << flag;
                site.record(Effect::Flag, flag, flag, old, r.flags);
            } else {
                site.record(Effect::NoDestination, 0, 0, 0, 0);
            }
        }
        site.flip_cpu.store(NO_CPU, Ordering::Release);
    }

    /// Writes the site as `inject` shows it.
    fn show(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let w = self.gate.when();
        let mut sym = [0u8; KSYM_BUF];
        let name = symbol(self.addr() as u64, &mut sym);
        writeln!(
            f,
            "class={} site={:#x} offset={:#x} symbol={} after={} times={} probability={} \
             calls={} fired={} hits={} outside={} applied={} last={}",
            self.class.name(),
            self.addr(),
            self.addr()
                .wrapping_sub(self.text_start.load(Ordering::Relaxed)),
            name,
            w.after,
            w.times,
            w.probability,
            self.gate.calls(),
            self.gate.fired(),
            self.hits.load(Ordering::Relaxed),
            self.outside.load(Ordering::Relaxed),
            self.applied.load(Ordering::Relaxed),
            EffectText(self)
        )
    }
}

#[pinned_drop]
impl PinnedDrop for Site {
    fn drop(self: Pin<&mut Self>) {
        // Unregistering waits until no handler runs any more.
        self.unregister();
    }
}

/// The last fault of a site, in words.
struct EffectText<'a>(&'a Site);

impl kernel::fmt::Display for EffectText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for EffectText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        let reg = s.last_reg.load(Ordering::Relaxed) as usize;
        let bit = s.last_bit.load(Ordering::Relaxed);
        let (old, new) = (
            s.last_old.load(Ordering::Relaxed),
            s.last_new.load(Ordering::Relaxed),
        );
        match Effect::from_raw(s.last_effect.load(Ordering::Acquire)) {
            Effect::None => f.write_str("none"),
            Effect::Raised => write!(f, "raised,stub={:#x}", new),
            Effect::Skipped => write!(f, "skipped,resume={:#x}", new),
            Effect::Register => write!(
                f,
                "{},bit={},{:#x}->{:#x}",
                GPR_NAMES.get(reg).copied().unwrap_or("?"),
                bit,
                old,
                new
            ),
            Effect::Flag => write!(f, "flags,bit={},{:#x}->{:#x}", bit, old, new),
            Effect::NoDestination => f.write_str("no-destination"),
            Effect::NoPointer => f.write_str("no-pointer"),
            Effect::FramePointer => f.write_str("frame-pointer"),
        }
    }
}

/// Larger than the kernel's `KSYM_SYMBOL_LEN`.
pub(crate) const KSYM_BUF: usize = 1024;

/// `addr` as `sprint_symbol()` writes it into `buf`: `SYMBOL+OFF/SIZE [module]` (no
/// `[module]` in the kernel image), or the address in hex when kallsyms does not know it.
/// Process context (kallsyms may take the module list's RCU read lock).
pub(crate) fn symbol(addr: u64, buf: &mut [u8; KSYM_BUF]) -> &str {
    // SAFETY: `buf` is larger than `KSYM_SYMBOL_LEN`; the address is only looked up.
    unsafe { sprint_symbol(buf.as_mut_ptr(), addr as c_ulong) };
    let end = buf.iter().position(|b| *b == 0).unwrap_or(0);
    core::str::from_utf8(&buf[..end]).unwrap_or("?")
}

extern "C" {
    fn sprint_symbol(buffer: *mut u8, address: c_ulong) -> c_int;
}

/// A device's armed site, if any, and the implementation whose text it is in.
#[pin_data]
pub(crate) struct SiteSlot {
    #[pin]
    inner: Mutex<Option<(*const ImplDesc, Pin<KBox<Site>>)>>,
}

// SAFETY: the descriptor pointer is only compared, never dereferenced; `Site` is shared
// with handlers on every CPU through atomics only.
unsafe impl Send for SiteSlot {}
// SAFETY: a `&SiteSlot` reaches its contents only under the `Mutex`; the descriptor pointer
// is only compared, and the `Site` is shared with handlers through atomics only.
unsafe impl Sync for SiteSlot {}

impl SiteSlot {
    /// An empty slot.
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            inner <- new_mutex!(None),
        })
    }

    /// Arms `spec` in the text of `desc`, the serving implementation, replacing any site;
    /// it fires only in guarded calls tagged `owner` (the device's). Faults fired are
    /// also counted in `injected` and `injected_total`.
    ///
    /// # Safety
    ///
    /// `injected` and `injected_total` must stay valid until the slot is dropped or
    /// disarmed (the device's own counters, a field dropped after the slot).
    pub(crate) unsafe fn arm(
        &self,
        dev: &'static str,
        owner: usize,
        spec: &SiteSpec<'_>,
        desc: *const ImplDesc,
        injected: *const AtomicU64,
        injected_total: *const AtomicU64,
    ) -> Result {
        let mut slot = self.inner.lock();
        // The old probe goes first: one site per device at a time.
        slot.take();
        // Kprobes do not expect the trap flag a trace sets.
        let trace = trace::hold();
        if trace::active() {
            pr_warn!("{}: inject: a trace runs; write off to trace first\n", dev);
            return Err(EBUSY);
        }
        let Some((start, len)) = crate::registry::text_of(desc) else {
            pr_warn!("{}: inject: no implementation serves the device\n", dev);
            return Err(ENODEV);
        };
        let seed = match spec.at {
            SiteAt::Random { seed: Some(s) } | SiteAt::Traced { seed: Some(s) } => s,
            // SAFETY: `ktime_get` has no preconditions; it only seeds the draws.
            _ => (unsafe { bindings::ktime_get() }) as u32,
        };
        let site = KBox::pin_init(
            Site::new(dev, owner, spec, seed, injected, injected_total),
            GFP_KERNEL,
        )?;
        if let Err(e) = site.place(spec.at, start, len, &trace) {
            pr_warn!(
                "{}: inject: cannot place a probe there (error {}): no such symbol, not an \
                 instruction start, or code kprobes refuses\n",
                dev,
                e.to_errno()
            );
            return Err(e);
        }
        *slot = Some((desc, site));
        Ok(())
    }

    /// Removes the site.
    pub(crate) fn disarm(&self) {
        self.inner.lock().take();
    }

    /// Removes the site if it is in the text of `desc` (which is going away).
    pub(crate) fn disarm_in(&self, desc: *const ImplDesc) {
        let mut slot = self.inner.lock();
        if slot.as_ref().is_some_and(|(d, _)| core::ptr::eq(*d, desc)) {
            slot.take();
        }
    }

    /// Writes the site as `inject` shows it; `false` when there is none.
    pub(crate) fn show(&self, f: &mut fmt::Formatter<'_>) -> Result<bool, fmt::Error> {
        match self.inner.lock().as_ref() {
            None => Ok(false),
            Some((_, site)) => site.show(f).map(|()| true),
        }
    }
}
