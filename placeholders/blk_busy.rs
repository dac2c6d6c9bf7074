// SPDX-License-Identifier: GPL-2.0

//! [`BusyWatch`]: tells when a block instance refuses requests (`EBUSY`) while it holds
//! none.
//!
//! A refusal is normally answered by the next completion, which runs the queue again
//! (`BLK_STS_DEV_RESOURCE`). An instance that holds no request has no completion to
//! come: its refusal is either a short wait for something of its own or a driver that
//! believes its queue full when it is empty (a lost "slot free" store: a campaign's
//! `skip_insn` in vblk-b's `complete` left it refusing every request, and fio waited
//! until the harness swapped; blk-mq's request timeout never fires for it, as blk-mq
//! takes a refused request back as not started). The placeholder answers such a refusal with
//! `BLK_STS_RESOURCE` (blk-mq dispatches again after a short delay), and when the
//! instance has refused this way without a break for longer than the limit, the watch
//! says it is stuck: the placeholder fails it as a hang.

use core::sync::atomic::{AtomicU64, Ordering};
use kernel::prelude::kunit_tests;

/// How long an instance that holds nothing may keep refusing before it counts as hung:
/// the NIC's transmit stall limit, far above any short wait of a sound driver.
pub(crate) const BUSY_STALL_NS: u64 = 5_000_000_000;

/// Watches one device's refusals while its instance holds no request.
///
/// # Invariants
///
/// `since` is 0 or the time (`now_ns` clock, never 0 in practice) of the first refusal
/// of an unbroken run of refusals while idle; anything the instance accepts, or a
/// refusal while it holds requests, ends the run.
pub(crate) struct BusyWatch {
    since: AtomicU64,
}

impl BusyWatch {
    /// A watch with no refusal seen.
    pub(crate) const fn new() -> Self {
        // INVARIANT: no run of refusals yet.
        Self {
            since: AtomicU64::new(0),
        }
    }

    /// The instance took a request, or refused while it held some (a completion will
    /// run the queue again): any run of idle refusals is over.
    pub(crate) fn progress(&self) {
        if self.since.load(Ordering::Relaxed) != 0 {
            self.since.store(0, Ordering::Relaxed);
        }
    }

    /// The instance refused a request while it held none, at `now_ns`. Whether it has
    /// refused this way for longer than `limit_ns` without a break; the run starts
    /// again after it said so, so that one stuck instance is reported once.
    pub(crate) fn refused_idle(&self, now_ns: u64, limit_ns: u64) -> bool {
        let since = self.since.load(Ordering::Relaxed);
        if since == 0 {
            // Only the first of several CPUs refusing at once starts the run.
            let _ =
                self.since
                    .compare_exchange(0, now_ns.max(1), Ordering::Relaxed, Ordering::Relaxed);
            return false;
        }
        if now_ns.saturating_sub(since) <= limit_ns {
            return false;
        }
        // Only one CPU reports a run.
        self.since
            .compare_exchange(since, 0, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    }
}

#[kunit_tests(ndriver_blk_busy)]
mod tests {
    use super::*;
    use kernel::prelude::*;

    #[test]
    fn idle_refusals_count_after_the_limit_only() -> Result {
        let w = BusyWatch::new();
        assert!(!w.refused_idle(1000, 100));
        assert!(!w.refused_idle(1050, 100));
        assert!(!w.refused_idle(1100, 100));
        assert!(w.refused_idle(1101, 100));
        // Reported once: the next refusal starts a new run.
        assert!(!w.refused_idle(1102, 100));
        assert!(!w.refused_idle(1200, 100));
        assert!(w.refused_idle(1203, 100));
        Ok(())
    }

    #[test]
    fn progress_ends_the_run() -> Result {
        let w = BusyWatch::new();
        assert!(!w.refused_idle(1000, 100));
        w.progress();
        assert!(!w.refused_idle(1150, 100));
        assert!(!w.refused_idle(1200, 100));
        w.progress();
        assert!(!w.refused_idle(5000, 100));
        assert!(w.refused_idle(5101, 100));
        Ok(())
    }

    #[test]
    fn a_clock_at_zero_still_starts_a_run() -> Result {
        let w = BusyWatch::new();
        assert!(!w.refused_idle(0, 100));
        assert!(!w.refused_idle(101, 100));
        assert!(w.refused_idle(102, 100));
        Ok(())
    }
}
