// SPDX-License-Identifier: GPL-2.0

//! The slowest step of one recovery: which part of its undo and instantiate phases took
//! longest (`slowest=` in `recoveries` and reports), so that the time of a slow
//! recovery can be placed without a tracer.

use core::fmt;
use kernel::time::{Instant, Monotonic};

/// The longest of the steps timed so far in one recovery.
#[derive(Clone, Copy, Default)]
pub(crate) struct SlowestStep {
    /// The step's name ("" while none was timed).
    name: &'static str,
    /// How long it took, in nanoseconds.
    ns: u64,
}

impl SlowestStep {
    /// Notes step `name` that took `ns`: kept if it is the longest so far.
    pub(crate) fn note(&mut self, name: &'static str, ns: u64) {
        if self.name.is_empty() || ns > self.ns {
            *self = Self { name, ns };
        }
    }

    /// Runs `f` as step `name`, timed.
    pub(crate) fn time<R>(&mut self, name: &'static str, f: impl FnOnce() -> R) -> R {
        let t = Instant::<Monotonic>::now();
        let r = f();
        self.note(name, u64::try_from(t.elapsed().as_nanos()).unwrap_or(0));
        r
    }
}

/// `NAME:NS`, or `-` when no step was timed.
impl fmt::Display for SlowestStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.name.is_empty() {
            f.write_str("-")
        } else {
            write!(f, "{}:{}", self.name, self.ns)
        }
    }
}
