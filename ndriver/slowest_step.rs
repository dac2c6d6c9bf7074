// SPDX-License-Identifier: GPL-2.0

//! The slowest step of one recovery: which part of its undo and instantiate phases took
//! longest (`slowest=` in `recoveries` and reports), so that the time of a slow
//! recovery can be placed without a tracer.

use core::fmt;
use kernel::prelude::kunit_tests;
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

#[kunit_tests(ndriver_slowest_step)]
mod tests {
    use super::*;
    use core::fmt::Write;
    use kernel::prelude::*;

    /// A `fmt::Write` into a fixed buffer, for checking [`SlowestStep`]'s text.
    struct Buf {
        bytes: [u8; 32],
        len: usize,
    }

    impl Write for Buf {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            let end = self.len + s.len();
            self.bytes
                .get_mut(self.len..end)
                .ok_or(fmt::Error)?
                .copy_from_slice(s.as_bytes());
            self.len = end;
            Ok(())
        }
    }

    fn text(s: &SlowestStep) -> Result<Buf> {
        let mut b = Buf {
            bytes: [0; 32],
            len: 0,
        };
        write!(b, "{s}").map_err(|_| EINVAL)?;
        Ok(b)
    }

    #[test]
    fn keeps_the_longest_step() -> Result {
        let mut s = SlowestStep::default();
        assert_eq!(&text(&s)?.bytes[..1], b"-");
        // The first step is kept even when it took no measurable time.
        s.note("probe", 0);
        assert_eq!(&text(&s)?.bytes[..7], b"probe:0");
        s.note("undo_irq", 20);
        s.note("discarding", 10);
        // A tie keeps the first.
        s.note("undone", 20);
        let t = text(&s)?;
        assert_eq!(&t.bytes[..t.len], b"undo_irq:20");
        Ok(())
    }
}
