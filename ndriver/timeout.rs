// SPDX-License-Identifier: GPL-2.0

//! Per-entry-point watchdog deadlines, as nDriver sets them: the running average
//! execution time of the entry point plus a guard time, kept within a floor and a
//! ceiling that the operator can set. Free of kernel types: the host tests compile it.

/// Weight of a new sample in the running average is `1 / 2^AVG_SHIFT`.
pub(crate) const AVG_SHIFT: u32 = 3;

/// Operator-set bounds of every deadline, in nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Bounds {
    /// Added to the average execution time.
    pub(crate) guard_ns: u64,
    /// No deadline is shorter than this.
    pub(crate) floor_ns: u64,
    /// No deadline is longer than this.
    pub(crate) ceiling_ns: u64,
}

impl Bounds {
    /// Defaults sized for QEMU's TCG, where a vCPU can stall for milliseconds: a
    /// healthy call must never be taken for a hang.
    pub(crate) const DEFAULT: Self = Self {
        guard_ns: 10_000_000,
        floor_ns: 50_000_000,
        ceiling_ns: 500_000_000,
    };

    /// Checks an operator's request: every value positive, floor not above ceiling.
    pub(crate) fn valid(&self) -> bool {
        self.guard_ns > 0 && self.floor_ns > 0 && self.floor_ns <= self.ceiling_ns
    }
}

/// Folds one execution time into the running average (`avg == 0` means no sample yet).
pub(crate) fn update_average(avg_ns: u64, sample_ns: u64) -> u64 {
    if avg_ns == 0 {
        return sample_ns.max(1);
    }
    let avg = avg_ns as i128;
    let next = avg + ((sample_ns as i128 - avg) >> AVG_SHIFT);
    (next.max(1)) as u64
}

/// The deadline for the next call of an entry point whose average is `avg_ns`.
pub(crate) fn deadline_ns(avg_ns: u64, b: &Bounds) -> u64 {
    avg_ns
        .saturating_add(b.guard_ns)
        .clamp(b.floor_ns, b.ceiling_ns.max(b.floor_ns))
}
