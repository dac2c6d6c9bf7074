// SPDX-License-Identifier: GPL-2.0

//! Counters and recovery records of one device (`stats` and `recoveries` in debugfs).

use crate::detected::{Detected, NR_DETECTED};
use crate::fault_class::NR_CLASSES;
use crate::slowest_step::SlowestStep;
use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Most entry points of a device class.
pub(crate) const MAX_ENTRIES: usize = 24;

/// Why an instance was replaced, as `recoveries` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cause {
    /// A guarded call failed.
    Failure(Detected),
    /// An operator (or a module unload) asked for another instance.
    Swap,
    /// The policy's rejuvenation period ran out.
    Rejuvenation,
}

impl Cause {
    /// Name in `recoveries`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Cause::Failure(d) => d.name(),
            Cause::Swap => "swap",
            Cause::Rejuvenation => "rejuvenation",
        }
    }
}

/// How a recovery went on (`level=` in `recoveries` and reports): the rung of the
/// ladder it took.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Level {
    /// The dead instance was undone entirely (DMA stopped first) and the new one probed
    /// the device afresh, with the configuration replayed.
    #[default]
    Cold,
    /// The new instance adopted what the dead one kept (rings, buffers, registers,
    /// interrupt line) without a device reset (`Documentation/design.rst`, "Warm
    /// restart").
    Warm,
    /// No new instance: the failed request was retried in place, on the same instance
    /// (an error return that changed nothing, `Policy::retries_hot`).
    Hot,
}

impl Level {
    /// Name in `recoveries` and reports.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Level::Cold => "cold",
            Level::Warm => "warm",
            Level::Hot => "hot",
        }
    }
}

/// Phase times of one recovery, in nanoseconds (nDriver's Table 1 phases).
#[derive(Clone, Copy, Default)]
pub(crate) struct Phases {
    /// Fault to the guard handing control back to the wrapper.
    pub(crate) contain: u64,
    /// Stopping new calls and waiting for calls in flight.
    pub(crate) quiesce: u64,
    /// Running the dead instance's undo list.
    pub(crate) undo: u64,
    /// Starting the new instance (its probe).
    pub(crate) instantiate: u64,
    /// Replaying the logged configuration.
    pub(crate) reconfigure: u64,
    /// Switching the placeholder to the new instance.
    pub(crate) redirect: u64,
    /// Re-issuing the failed request on the new instance.
    pub(crate) reissue: u64,
    /// Not a phase, not in the total: the softirq time on the recovering CPU when the
    /// redirect turned bottom halves back on, whatever raised it (mostly a NIC's
    /// transmit queue and receive poll, run by the new instance, which already serves),
    /// timed so that what the phases leave out is still seen. 0 for classes that
    /// redirect with bottom halves on.
    pub(crate) backlog: u64,
    /// Not a phase, not in the total: the class's tidying once the new instance
    /// serves ([`crate::device::Class::tidy`]: a NIC frees the skbs the dead instance's
    /// device had sent), put off so as not to delay the service.
    pub(crate) tidy: u64,
    /// Not a phase: the longest single step of the undo and instantiate phases (an
    /// undo action, the class's hooks, the new instance's `probe` or `adopt` call, ...),
    /// where a slow recovery's time went.
    pub(crate) slowest: SlowestStep,
}

/// The phases as `recoveries` and `reports` write them: `contain_ns=N ... total_ns=N
/// backlog_ns=N tidy_ns=N slowest=STEP:N`.
impl fmt::Display for Phases {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "contain_ns={} quiesce_ns={} undo_ns={} instantiate_ns={} reconfigure_ns={} \
             redirect_ns={} reissue_ns={} total_ns={} backlog_ns={} tidy_ns={} slowest={}",
            self.contain,
            self.quiesce,
            self.undo,
            self.instantiate,
            self.reconfigure,
            self.redirect,
            self.reissue,
            self.total(),
            self.backlog,
            self.tidy,
            self.slowest
        )
    }
}

impl Phases {
    /// Sum of all phases (not `backlog`).
    pub(crate) fn total(&self) -> u64 {
        self.contain
            + self.quiesce
            + self.undo
            + self.instantiate
            + self.reconfigure
            + self.redirect
            + self.reissue
    }
}

/// One recovery, as `recoveries` lists it.
#[derive(Clone, Copy)]
pub(crate) struct Record {
    /// Sequence number (1 for the device's first recovery).
    pub(crate) seq: u64,
    /// Why the instance was replaced (or, `Level::Hot`, the request retried on it).
    pub(crate) cause: Cause,
    /// Entry point that failed (out of range for swaps and rejuvenations).
    pub(crate) entry: usize,
    /// Generation started by the recovery (the same one for a hot retry).
    pub(crate) generation: u64,
    /// Undo actions run.
    pub(crate) undone: usize,
    /// Phase times.
    pub(crate) phases: Phases,
    /// How the new instance took over.
    pub(crate) level: Level,
}

/// Recoveries kept for `recoveries` (the newest).
pub(crate) const RECORDS: usize = 256;

/// Lock-free counters, updated from any context.
pub(crate) struct Counters {
    /// Calls per entry point.
    pub(crate) calls: [AtomicU64; MAX_ENTRIES],
    /// Failures per entry point.
    pub(crate) failures: [AtomicU64; MAX_ENTRIES],
    /// Failures by how they were detected.
    pub(crate) detected: [AtomicU64; NR_DETECTED],
    /// Faults injected, by class.
    pub(crate) injected: [AtomicU64; NR_CLASSES],
    /// Faults injected, all classes (a failed call that saw it move had one injected).
    pub(crate) injected_total: AtomicU64,
    /// Completed recoveries.
    pub(crate) recoveries: AtomicU64,
    /// Failed requests re-issued to a new instance.
    pub(crate) reissued: AtomicU64,
    /// Orderly swaps (operator, module unload).
    pub(crate) swaps: AtomicU64,
    /// Periodic swaps to a fresh instance (policy `rejuvenate_ms`).
    pub(crate) rejuvenations: AtomicU64,
    /// Times the policy gave the device up.
    pub(crate) giveups: AtomicU64,
    /// Undo actions run over all recoveries.
    pub(crate) undone: AtomicU64,
    /// Failed requests retried in place, on the same instance (hot).
    pub(crate) hot: AtomicU64,
    /// Recoveries from a failure whose new instance adopted the kept resources.
    pub(crate) warm: AtomicU64,
    /// Recoveries from a failure that undid everything and probed afresh.
    pub(crate) cold: AtomicU64,
    /// Adoptions refused (the driver's `adopt` failed, faulted, or left kept resources
    /// unadopted) and followed by a cold start.
    pub(crate) warm_fallbacks: AtomicU64,
}

/// The counters a device exports to the usual tools (`ethtool -S`) before the
/// failures by cause, in [`Counters::exported_value`]'s order.
const EXPORTED_NAMES: [&str; 7] = [
    "recoveries",
    "swaps",
    "rejuvenations",
    "giveups",
    "reissued",
    "undo_actions",
    "faults_injected",
];

/// How many of a device's counters it exports to the usual tools (`ethtool -S`).
pub(crate) const NR_EXPORTED: usize = EXPORTED_NAMES.len() + Detected::ALL.len();

/// The name of exported counter `i` (below [`NR_EXPORTED`]) as a prefix and a rest:
/// the failures by cause are `failures_` and the cause.
pub(crate) fn exported_name(i: usize) -> Option<(&'static str, &'static str)> {
    match EXPORTED_NAMES.get(i) {
        Some(n) => Some(("", n)),
        None => Some((
            "failures_",
            Detected::ALL.get(i - EXPORTED_NAMES.len())?.name(),
        )),
    }
}

impl Counters {
    /// The value of exported counter `i` (see [`exported_name`]). The counters are the
    /// device's, not an instance's: they never go backwards across recoveries.
    pub(crate) fn exported_value(&self, i: usize) -> Option<u64> {
        let a = match i {
            0 => &self.recoveries,
            1 => &self.swaps,
            2 => &self.rejuvenations,
            3 => &self.giveups,
            4 => &self.reissued,
            5 => &self.undone,
            6 => &self.injected_total,
            i => &self.detected[*Detected::ALL.get(i - EXPORTED_NAMES.len())? as usize],
        };
        Some(a.load(Relaxed))
    }

    pub(crate) const fn new() -> Self {
        Self {
            calls: [const { AtomicU64::new(0) }; MAX_ENTRIES],
            failures: [const { AtomicU64::new(0) }; MAX_ENTRIES],
            detected: [const { AtomicU64::new(0) }; NR_DETECTED],
            injected: [const { AtomicU64::new(0) }; NR_CLASSES],
            injected_total: AtomicU64::new(0),
            recoveries: AtomicU64::new(0),
            reissued: AtomicU64::new(0),
            swaps: AtomicU64::new(0),
            rejuvenations: AtomicU64::new(0),
            giveups: AtomicU64::new(0),
            undone: AtomicU64::new(0),
            hot: AtomicU64::new(0),
            warm: AtomicU64::new(0),
            cold: AtomicU64::new(0),
            warm_fallbacks: AtomicU64::new(0),
        }
    }

    /// Writes the counters as `stats` shows them; `entries` names the entry points.
    pub(crate) fn show(&self, f: &mut fmt::Formatter<'_>, entries: &[&str]) -> fmt::Result {
        for (i, e) in entries.iter().enumerate() {
            writeln!(
                f,
                "entry {} calls {} failures {}",
                e,
                self.calls[i].load(Relaxed),
                self.failures[i].load(Relaxed)
            )?;
        }
        for d in Detected::ALL {
            writeln!(
                f,
                "detected {} {}",
                d.name(),
                self.detected[d as usize].load(Relaxed)
            )?;
        }
        for c in crate::fault_class::FaultClass::ALL {
            writeln!(
                f,
                "injected {} {}",
                c.name(),
                self.injected[c as usize].load(Relaxed)
            )?;
        }
        writeln!(f, "recoveries {}", self.recoveries.load(Relaxed))?;
        writeln!(f, "reissued {}", self.reissued.load(Relaxed))?;
        writeln!(f, "swaps {}", self.swaps.load(Relaxed))?;
        writeln!(f, "rejuvenations {}", self.rejuvenations.load(Relaxed))?;
        writeln!(f, "giveups {}", self.giveups.load(Relaxed))?;
        writeln!(f, "undone_actions {}", self.undone.load(Relaxed))?;
        writeln!(f, "recoveries_hot {}", self.hot.load(Relaxed))?;
        writeln!(f, "recoveries_warm {}", self.warm.load(Relaxed))?;
        writeln!(f, "recoveries_cold {}", self.cold.load(Relaxed))?;
        writeln!(f, "warm_fallbacks {}", self.warm_fallbacks.load(Relaxed))
    }
}

/// Writes one record as a `recoveries` line.
pub(crate) fn show_record(f: &mut fmt::Formatter<'_>, r: &Record, entries: &[&str]) -> fmt::Result {
    writeln!(
        f,
        "{} cause={} entry={} gen={} undone={} {} level={}",
        r.seq,
        r.cause.name(),
        entries.get(r.entry).copied().unwrap_or("-"),
        r.generation,
        r.undone,
        r.phases,
        r.level.name()
    )
}
