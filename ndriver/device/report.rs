// SPDX-License-Identifier: GPL-2.0

//! Crash reports: why an instance was replaced, one per recovery from a failure
//! (`reports` in debugfs, a line in the kernel log).
//!
//! The guard copies the faulting context (registers, return addresses into driver text)
//! into the call's frame where it ends the call; [`Device::guarded_entry`] hands it to
//! [`Device::keep_context`], which keeps the first one of each generation (a lock
//! waiter's gives way to the next that is not) until the recovery of that generation
//! takes it ([`Device::take_context`]). The recovery adds what it knows (cause, entry
//! point, instances, injection, what the dead instance held, phase times) and keeps
//! the newest [`REPORTS`] as raw data in a ring that was allocated with the device:
//! nothing is allocated or formatted on the recovery path but the one log line.
//! Reading `reports` symbolises the addresses.

use super::state::Ctl;
use super::{Class, Device, Failure};
use crate::abi::ImplDesc;
use crate::detected::Detected;
use crate::guard::FaultContext;
use crate::ksym::{symbol, KSYM_BUF};
use crate::names::NAME_MAX;
use crate::pt_regs::GPR_NAMES;
use crate::registry;
use crate::stats::{Level, Phases};
use crate::undo::action_list::Kind;
use core::fmt;
use core::sync::atomic::Ordering;
use kernel::prelude::*;

/// Crash reports kept per device (the newest).
pub(crate) const REPORTS: usize = 8;

/// Kinds of undo actions.
const KINDS: usize = Kind::ALL.len();

/// An implementation name, copied: the registry's string lives in the implementation's
/// module, which may be gone before the report is read.
///
/// # Invariants
///
/// `bytes[..len]` is valid UTF-8 and `len <= NAME_MAX`.
#[derive(Clone, Copy)]
pub(crate) struct Name {
    bytes: [u8; NAME_MAX],
    len: usize,
}

impl Name {
    const EMPTY: Self = Self {
        bytes: [0; NAME_MAX],
        len: 0,
    };

    /// `s`, cut at a character boundary to [`NAME_MAX`] bytes.
    fn new(s: &str) -> Self {
        let mut len = s.len().min(NAME_MAX);
        while !s.is_char_boundary(len) {
            len -= 1;
        }
        let mut n = Self::EMPTY;
        if let (Some(dst), Some(src)) = (n.bytes.get_mut(..len), s.as_bytes().get(..len)) {
            dst.copy_from_slice(src);
            // INVARIANT: `len <= NAME_MAX`, at a character boundary of `s`.
            n.len = len;
        }
        n
    }

    fn as_str(&self) -> &str {
        core::str::from_utf8(self.bytes.get(..self.len).unwrap_or(&[])).unwrap_or("?")
    }
}

/// What a dead instance held when it was discarded: its undo list by kind, and the
/// requests it had not finished, where its class counts them.
#[derive(Clone, Copy)]
pub(crate) struct Held {
    /// Undo actions by kind, in [`Kind::ALL`] order.
    pub(crate) kinds: [usize; KINDS],
    /// Unfinished requests (`Class::unfinished`), `None` where the class does not count them.
    pub(crate) unfinished: Option<usize>,
}

impl Held {
    pub(crate) const EMPTY: Self = Self {
        kinds: [0; KINDS],
        unfinished: None,
    };
}

/// A faulting context kept between a failed call and the recovery of its generation.
pub(crate) struct KeptContext {
    /// Non-zero; [`Failure::ctx`] names it.
    id: u64,
    /// Generation of the instance whose call failed.
    generation: u64,
    /// The call hung while it waited for a driver lock (`Fault::lock_wait`).
    waiter: bool,
    ctx: FaultContext,
}

/// One crash report, raw: formatted when `reports` is read.
#[derive(Clone, Copy)]
pub(crate) struct Report {
    /// Report number (1 for the device's first), 0 for an empty slot.
    seq: u64,
    /// The recovery's number in `recoveries`, 0 when the device went down instead.
    recovery: u64,
    detected: Detected,
    /// The entry point that failed.
    entry: usize,
    /// The instance that failed.
    generation: u64,
    implementation: Name,
    /// The instance that replaced it (generation 0: none, the device went down).
    new_generation: u64,
    new_implementation: Name,
    injected: bool,
    /// The negative errno of an error return (0 otherwise).
    errno: i64,
    /// The faulting context, and whether it is another failed call's of the same
    /// instance (this call's was not kept).
    ctx: Option<(FaultContext, bool)>,
    /// The failed implementation and its module text when it failed: addresses there
    /// are symbolised only while the same module is still registered.
    desc: *const ImplDesc,
    text: (usize, usize),
    held: Held,
    undone: usize,
    phases: Phases,
    /// How the instance that replaced it took over.
    level: Level,
}

impl Report {
    /// Notes what the failed instance held when it was discarded, and how many undo
    /// actions ran.
    pub(super) fn discarded(&mut self, held: Held, undone: usize) {
        self.held = held;
        self.undone = undone;
    }

    /// Whether kallsyms still describes `addr` as it did at the fault: outside the failed
    /// implementation's text always; inside it while that module is still registered.
    fn symbolisable(&self, addr: u64) -> bool {
        let (start, len) = self.text;
        let a = addr as usize;
        if len == 0 || a < start || a - start >= len {
            return true;
        }
        registry::text_of(self.desc) == Some(self.text)
    }

    /// Writes `addr` as `SYMBOL+OFF/SIZE [module]`.
    fn write_symbol(&self, f: &mut fmt::Formatter<'_>, addr: u64) -> fmt::Result {
        if !self.symbolisable(addr) {
            return write!(f, "{:#x} [module unloaded]", addr);
        }
        let mut buf = [0u8; KSYM_BUF];
        f.write_str(symbol(addr, &mut buf))
    }

    /// Writes the report as `reports` shows it.
    fn show(&self, f: &mut fmt::Formatter<'_>, dev: &str, entries: &[&str]) -> fmt::Result {
        writeln!(
            f,
            "report {}: {} generation {} cause {} entry {} injected {}",
            self.seq,
            dev,
            self.generation,
            self.detected.name(),
            entries.get(self.entry).copied().unwrap_or("-"),
            if self.injected { "yes" } else { "no" }
        )?;
        match &self.ctx {
            Some((c, other)) => {
                f.write_str("ip: ")?;
                self.write_symbol(f, c.driver_ip())?;
                writeln!(f)?;
                if *other {
                    writeln!(f, "context: another failed call of this instance")?;
                }
                if c.raised_at != 0 {
                    f.write_str("raised: ")?;
                    self.write_symbol(f, c.ip)?;
                    writeln!(f, " (injected at the instruction above)")?;
                }
            }
            None if self.errno != 0 => writeln!(
                f,
                "ip: n/a (no fault: the entry point returned {})",
                self.errno
            )?,
            None => writeln!(f, "ip: n/a (no fault seen by the guard)")?,
        }
        if self.level == Level::Hot {
            writeln!(
                f,
                "instance: {} generation {}, retried in place (recovery {})",
                self.implementation.as_str(),
                self.generation,
                self.recovery
            )?;
        } else if self.new_generation == 0 {
            writeln!(
                f,
                "instance: {} generation {}, not replaced: device down",
                self.implementation.as_str(),
                self.generation
            )?;
        } else {
            writeln!(
                f,
                "instance: {} generation {}, replaced by {} generation {} (recovery {})",
                self.implementation.as_str(),
                self.generation,
                self.new_implementation.as_str(),
                self.new_generation,
                self.recovery
            )?;
        }
        match self.ctx.as_ref().map(|(c, _)| c) {
            None => writeln!(f, "stack: n/a")?,
            Some(c) if c.frames().is_empty() => {
                writeln!(f, "stack: no driver return address in {} words", c.scanned)?
            }
            Some(c) => {
                for (i, a) in c.frames().iter().enumerate() {
                    write!(f, "stack: #{} ", i)?;
                    self.write_symbol(f, *a)?;
                    writeln!(f)?;
                }
            }
        }
        match self.ctx.as_ref().map(|(c, _)| c) {
            Some(c) if c.has_regs => show_regs(f, c)?,
            Some(c) => writeln!(
                f,
                "regs: n/a (ended by its own wait) rip {:016x} rsp {:016x}",
                c.ip, c.sp
            )?,
            None => writeln!(f, "regs: n/a")?,
        }
        if self.level == Level::Hot {
            // Nothing was undone; what the instance holds is its own still.
            writeln!(f, "held: n/a (retried in place)")?;
            writeln!(f, "phases: {} level={}", self.phases, self.level.name())?;
            return writeln!(f);
        }
        f.write_str("held:")?;
        for (k, n) in Kind::ALL.iter().zip(self.held.kinds.iter()) {
            write!(f, " {}={}", k.name(), n)?;
        }
        write!(f, " undone={} unfinished=", self.undone)?;
        match self.held.unfinished {
            Some(n) => writeln!(f, "{}", n)?,
            None => writeln!(f, "n/a")?,
        }
        writeln!(f, "phases: {} level={}", self.phases, self.level.name())?;
        writeln!(f)
    }
}

/// Writes the registers, four a line, in `show_regs()` order.
fn show_regs(f: &mut fmt::Formatter<'_>, c: &FaultContext) -> fmt::Result {
    const ORDER: [&str; 15] = [
        "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "r8", "r9", "r10", "r11", "r12", "r13",
        "r14", "r15",
    ];
    writeln!(
        f,
        "regs: rip {:016x} rsp {:016x} rflags {:08x}",
        c.ip, c.sp, c.flags
    )?;
    for line in ORDER.chunks(4) {
        f.write_str("regs:")?;
        for name in line {
            let v = GPR_NAMES
                .iter()
                .position(|n| n == name)
                .and_then(|i| c.gprs.get(i))
                .copied()
                .unwrap_or(0);
            write!(f, " {} {:016x}", name, v)?;
        }
        writeln!(f)?;
    }
    Ok(())
}

/// `SYMBOL+OFF/SIZE [module]` without `/SIZE`, for the kernel log.
struct Short<'a>(&'a str);

impl kernel::fmt::Display for Short<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Short<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.split_once('/') {
            None => f.write_str(self.0),
            Some((head, rest)) => {
                f.write_str(head)?;
                match rest.find(" [") {
                    Some(i) => f.write_str(rest.get(i..).unwrap_or("")),
                    None => Ok(()),
                }
            }
        }
    }
}

impl Ctl {
    /// Keeps `r` in the ring, numbered; the oldest goes once [`REPORTS`] are kept. Never
    /// allocates: the ring's room was reserved with the device.
    fn push_report(&mut self, mut r: Report) -> u64 {
        self.report_seq += 1;
        r.seq = self.report_seq;
        if self.reports.len() < REPORTS && self.reports.len() < self.reports.capacity() {
            // Within the capacity reserved with the device: no allocation.
            let _ = self.reports.push(r, GFP_KERNEL);
        } else if let Some(slot) = self.reports.iter_mut().min_by_key(|old| old.seq) {
            *slot = r;
        }
        r.seq
    }

    /// Adds the re-issue time to the report of recovery `seq`, if any.
    pub(super) fn note_report_reissue(&mut self, seq: u64, ns: u64) {
        if let Some(r) = self.reports.iter_mut().find(|r| r.recovery == seq) {
            r.phases.reissue = ns;
        }
    }
}

impl<C: Class> Device<C> {
    /// Keeps the faulting context `c` of a failed call of generation `gen` (`waiter`: a
    /// hang while it waited for a driver lock) for the recovery's report, unless one of
    /// this or a later generation is kept already (the first failure of an instance is
    /// the one its recovery usually handles; a lock waiter's gives way to its holder's,
    /// see [`Device::note_cause`]). Returns its id for [`Failure::ctx`], 0 when not kept.
    /// Any context but NMI.
    pub(super) fn keep_context(&self, gen: u64, c: &FaultContext, waiter: bool) -> u64 {
        let mut kept = self.fault_ctx.lock();
        if kept
            .as_ref()
            .is_some_and(|k| k.generation > gen || (k.generation == gen && (waiter || !k.waiter)))
        {
            return 0;
        }
        let id = self.next_ctx.fetch_add(1, Ordering::Relaxed) + 1;
        *kept = Some(KeptContext {
            id,
            generation: gen,
            waiter,
            ctx: *c,
        });
        id
    }

    /// Takes the kept context `id` ([`Failure::ctx`]) if it is still kept, as `(context,
    /// false)`. A fault whose context was not kept (another call of the same instance
    /// failed first and kept its own; `fault` says whether the guard saw one) gets that
    /// other call's context of generation `gen`, as `(context, true)`.
    fn take_context(&self, id: u64, gen: u64, fault: bool) -> Option<(FaultContext, bool)> {
        let mut kept = self.fault_ctx.lock();
        let k = kept.as_ref()?;
        let other = if id != 0 && k.id == id {
            false
        } else if fault && k.generation == gen {
            true
        } else {
            return None;
        };
        kept.take().map(|k| (k.ctx, other))
    }

    /// Records what the instance being discarded holds: `kinds` (its undo list's
    /// [`crate::undo::action_list::ActionList::kind_counts`]),
    /// and its unfinished requests, asked of the class with no lock but `ctl` held.
    pub(super) fn note_held(&self, ctl: &mut Ctl, kinds: [usize; KINDS]) {
        let mut held = Held::EMPTY;
        held.kinds = kinds;
        held.unfinished = C::unfinished(self);
        ctl.held = held;
    }

    /// Starts the report of a failure of `entry` on the current instance (generation
    /// `gen`), before the recovery discards it.
    pub(super) fn begin_report(&self, ctl: &Ctl, gen: u64, entry: usize, fail: &Failure) -> Report {
        Report {
            seq: 0,
            recovery: 0,
            detected: fail.detected,
            entry,
            generation: gen,
            implementation: Name::new(ctl.instance.as_ref().map_or("-", |i| i.impl_name)),
            new_generation: 0,
            new_implementation: Name::EMPTY,
            injected: fail.injected,
            errno: fail.errno,
            ctx: self.take_context(fail.ctx, gen, fail.errno == 0),
            desc: ctl.desc,
            text: registry::text_of(ctl.desc).unwrap_or((0, 0)),
            held: Held::EMPTY,
            undone: 0,
            phases: Phases::default(),
            level: Level::Cold,
        }
    }

    /// Completes report `r` once the recovery is over (`recovery`: its number in
    /// `recoveries`, 0 when the device went down; `level`: the rung it took), keeps it,
    /// and logs one line.
    pub(super) fn end_report(
        &self,
        ctl: &mut Ctl,
        mut r: Report,
        recovery: u64,
        phases: Phases,
        level: Level,
    ) {
        r.recovery = recovery;
        r.phases = phases;
        if recovery != 0 {
            r.level = level;
            r.new_generation = ctl.generation;
            r.new_implementation = Name::new(ctl.instance.as_ref().map_or("-", |i| i.impl_name));
        }
        let n = ctl.push_report(r);
        if recovery == 0 {
            // The give-up has its own line.
            return;
        }
        let mut buf = [0u8; KSYM_BUF];
        let at = match r.ctx {
            Some((c, _)) => symbol(c.driver_ip(), &mut buf),
            None => "-",
        };
        if level == Level::Hot {
            pr_info!(
                "{}: retried {} generation {} in place after {} ({}) in {}{} (report {}) level=hot\n",
                self.name,
                r.implementation.as_str(),
                r.generation,
                r.detected.name(),
                r.errno,
                C::ENTRIES.get(r.entry).copied().unwrap_or("-"),
                if r.injected { ", injected" } else { "" },
                n
            );
            return;
        }
        pr_info!(
            "{}: replaced {} generation {} after {} in {} at {}{}: now {} generation {} (report {}) level={}\n",
            self.name,
            r.implementation.as_str(),
            r.generation,
            r.detected.name(),
            C::ENTRIES.get(r.entry).copied().unwrap_or("-"),
            Short(at),
            if r.injected { ", injected" } else { "" },
            r.new_implementation.as_str(),
            r.new_generation,
            n,
            r.level.name()
        );
    }

    /// Writes `reports`: the kept reports, oldest first.
    pub(super) fn write_reports(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ctl = self.ctl.lock();
        let mut order = [(u64::MAX, 0usize); REPORTS];
        for (slot, (i, r)) in order.iter_mut().zip(ctl.reports.iter().enumerate()) {
            *slot = (r.seq, i);
        }
        order.sort_unstable();
        for (_, i) in order.iter().filter(|(seq, _)| *seq != u64::MAX) {
            if let Some(r) = ctl.reports.get(*i) {
                r.show(f, self.name, C::ENTRIES)?;
            }
        }
        Ok(())
    }
}
