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

use kernel::prelude::*;
use kernel::sync::Mutex;
use kernel::types::Opaque;
use kernel::{bindings, new_mutex};

use crate::abi::ImplDesc;
use crate::fault_class::FaultClass;
use crate::guard;
use crate::inject_spec::{mix, xorshift32, Gate, SiteAt, SiteSpec, MAX_SYMBOL};
use crate::ksym::{symbol, KSYM_BUF};
use crate::trace;

#[path = "site/effect.rs"]
mod effect;
#[path = "site/probe.rs"]
mod probe;

use effect::{Effect, EffectText};

/// Random offsets tried before `site=random` gives up.
const RANDOM_TRIES: u32 = 64;
/// Longest x86 instruction: how far back from a random byte its instruction may start.
const MAX_INSN: usize = 15;
/// No CPU.
const NO_CPU: usize = usize::MAX;

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
        // An instruction `skip_insn` must not skip is refused here, so that a random
        // draw looks further instead of placing a site that can only do nothing.
        if self.class == FaultClass::SkipInsn && !self.skippable() {
            self.unregister();
            return Err(EOPNOTSUPP);
        }
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

    /// The arrivals kprobes did not hand to the handlers (its `nmissed`: a probe hit
    /// while this CPU was already in a kprobe handler or single-step).
    fn missed(&self) -> u64 {
        // SAFETY: `nmissed` is a word of the site's own probe, which lives as long as the
        // site; kprobes updates it without a lock, so it is read volatile, for the record
        // only.
        unsafe { core::ptr::read_volatile(&raw const (*self.probe.get()).nmissed) as u64 }
    }

    /// The byte at the site's address now: `int3` (0xcc) while the probe is armed in the
    /// text, the instruction's first byte otherwise; 0 before the site is placed.
    fn text_byte(&self) -> u8 {
        let a = self.addr();
        if a == 0 {
            return 0;
        }
        // SAFETY: a placed site's address is an instruction of a loaded module's text
        // (a site goes before its module, `SiteSlot`), mapped and readable.
        unsafe { core::ptr::read_volatile(a as *const u8) }
    }

    /// Writes the site as `inject` shows it.
    fn show(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let w = self.gate.when();
        let mut sym = [0u8; KSYM_BUF];
        let name = symbol(self.addr() as u64, &mut sym);
        writeln!(
            f,
            "class={} site={:#x} offset={:#x} symbol={} after={} times={} probability={} \
             calls={} fired={} hits={} outside={} applied={} missed={} text={:#04x} last={}",
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
            self.missed(),
            self.text_byte(),
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
            SiteAt::Random { seed: Some(s) }
            | SiteAt::Traced { seed: Some(s) }
            | SiteAt::Symbol { seed: Some(s), .. } => s,
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
                 instruction start, code kprobes refuses, or (skip_insn) an instruction \
                 that changes the stack pointer or jumps\n",
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
