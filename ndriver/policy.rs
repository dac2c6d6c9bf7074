// SPDX-License-Identifier: GPL-2.0

//! The recovery policy: which implementation to start after a failure, and when.
//!
//! An escalation ladder in the manner of MINIX 3's reincarnation server: start the
//! failed implementation afresh until it has been started `restarts` times in the
//! current burst of failures, then move to the next alternative, wrapping round; once
//! every implementation has used its starts, give the device up. Repeated failures wait an exponentially
//! growing back-off before the restart. A failure that comes more than `calm_ms` after
//! the previous one starts a new burst. Free of kernel types: the host tests compile it.

/// Operator-set policy (`policy` in debugfs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Policy {
    /// Starts of one implementation per burst before moving to the next.
    pub(crate) restarts: u32,
    /// First back-off, in milliseconds; 0 restarts at once.
    pub(crate) backoff_ms: u32,
    /// Largest back-off, in milliseconds.
    pub(crate) backoff_max_ms: u32,
    /// Quiet time after which the failure count starts over.
    pub(crate) calm_ms: u32,
    /// Proactive rejuvenation: swap to a fresh instance of the current implementation
    /// every this many milliseconds, at a quiescent point; 0 never.
    pub(crate) rejuvenate_ms: u32,
    /// Run entry points under the guard (the default). `false` is for measurement
    /// only: entry points are called directly, with no fault containment and no
    /// watchdog, so a faulting driver takes the kernel down.
    pub(crate) guard: bool,
    /// Memory (`ndriver_alloc`) one instance may hold, in KiB. Going over it is taken
    /// as a leak: the allocation fails and the instance is replaced, which gives all
    /// of its memory back.
    pub(crate) mem_kb: u32,
    /// Contain a `BUG()` in core kernel code reached from a guarded call, and a fault in
    /// kernel code that holds more than the call held at entry (counted as
    /// `kernel_fault`). Off by default: a kernel BUG is a broken kernel invariant, and a
    /// lock taken by abandoned kernel code stays taken; both are left to the kernel (an
    /// oops that ends the calling task, or a panic in interrupt context).
    pub(crate) kernel_bug: bool,
    /// Recover a failure warm where the implementation, the failed entry point and what
    /// the instance held allow it: the next instance adopts the resources the dead one
    /// kept instead of resetting the device (`Documentation/design.rst`, "Warm
    /// restart"). Off: every recovery is cold.
    pub(crate) warm: bool,
    /// Retry a failed request in place, on the same instance, where the failure allows
    /// it ([`Policy::retries_hot`]): the cheapest rung of the ladder, before warm and
    /// cold. Off: every failure replaces the instance.
    pub(crate) hot: bool,
}

/// A failed call of a request with a waiting caller, as the hot rung judges it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct HotCase {
    /// The driver returned an error (no fault, hang, leak or misuse: those leave the
    /// instance in a state nothing can vouch for).
    pub(crate) error_return: bool,
    /// The call took and gave back nothing the framework holds for the instance (its
    /// undo list saw no change while the call ran).
    pub(crate) unchanged: bool,
    /// This request was retried hot already.
    pub(crate) retried: bool,
}

impl Policy {
    /// Defaults: two restarts per implementation, back-off from 0 (the first retry is
    /// immediate: request latency matters more than a storm of faults, which the
    /// burst limit ends anyway).
    pub(crate) const DEFAULT: Self = Self {
        restarts: 2,
        backoff_ms: 0,
        backoff_max_ms: 1000,
        calm_ms: 1000,
        rejuvenate_ms: 0,
        guard: true,
        mem_kb: 256,
        kernel_bug: false,
        warm: true,
        hot: true,
    };

    /// Shortest rejuvenation period: each one stops the device for a swap.
    pub(crate) const MIN_REJUVENATE_MS: u32 = 10;
    /// Longest rejuvenation period (a day).
    pub(crate) const MAX_REJUVENATE_MS: u32 = 86_400_000;
    /// Smallest and largest memory limit, in KiB (64 KiB to 1 GiB).
    pub(crate) const MEM_KB: core::ops::RangeInclusive<u32> = 64..=1_048_576;

    /// Whether the failed call `c` is retried in place (a *hot* restart) rather than
    /// the instance replaced: an error return that changed nothing the framework holds,
    /// once per request; a second failure of the same request goes on to warm or cold.
    /// Nothing is undone or started, so nothing is lost by trying: a driver whose error
    /// was transient answers the retry.
    pub(crate) fn retries_hot(&self, c: HotCase) -> bool {
        self.hot && c.error_return && c.unchanged && !c.retried
    }

    /// Checks an operator's request.
    pub(crate) fn valid(&self) -> bool {
        self.restarts >= 1
            && self.restarts <= 1000
            && self.backoff_ms <= self.backoff_max_ms
            && (self.rejuvenate_ms == 0
                || (Self::MIN_REJUVENATE_MS..=Self::MAX_REJUVENATE_MS)
                    .contains(&self.rejuvenate_ms))
            && Self::MEM_KB.contains(&self.mem_kb)
    }
}

/// Parses an on/off policy value: `1` on, `0` off, anything else refused.
pub(crate) fn parse_switch(v: &str) -> Option<bool> {
    match v {
        "1" => Some(true),
        "0" => Some(false),
        _ => None,
    }
}

/// What the recovery manager is to do after a failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Start implementation `index` (the failed one or another) after `delay_ms`.
    Start { index: usize, delay_ms: u32 },
    /// Every implementation failed too often: take the device down and report it.
    GiveUp,
}

/// Failure history of one device.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Ladder {
    /// Failures in the current burst.
    burst: u32,
    /// Restarts of the current implementation in this burst.
    on_current: u32,
    /// Implementations tried (moved away from) in this burst.
    moved: u32,
    /// Time of the previous failure; `None` before the first.
    last_ms: Option<u64>,
}

impl Ladder {
    /// A device with no failures.
    pub(crate) const fn new() -> Self {
        Self {
            burst: 0,
            on_current: 0,
            moved: 0,
            last_ms: None,
        }
    }

    /// Failures in the current burst.
    #[allow(dead_code)] // Read by the host tests.
    pub(crate) fn burst(&self) -> u32 {
        self.burst
    }

    /// Records a failure of implementation `current` (of `count`) at `now_ms` and
    /// decides what to start.
    pub(crate) fn on_failure(
        &mut self,
        p: &Policy,
        current: usize,
        count: usize,
        now_ms: u64,
    ) -> Decision {
        if let Some(last) = self.last_ms {
            if now_ms.saturating_sub(last) > p.calm_ms as u64 {
                *self = Self::new();
            }
        }
        self.last_ms = Some(now_ms);
        self.burst = self.burst.saturating_add(1);
        let delay_ms = backoff(p, self.burst);
        if count == 0 {
            return Decision::GiveUp;
        }
        if self.on_current < p.restarts {
            self.on_current += 1;
            return Decision::Start {
                index: current,
                delay_ms,
            };
        }
        // This implementation used its restarts: move on, unless all have.
        self.moved += 1;
        if self.moved as usize >= count {
            return Decision::GiveUp;
        }
        self.on_current = 1;
        Decision::Start {
            index: (current + 1) % count,
            delay_ms,
        }
    }

    /// Forgets the history (after a manual swap, or when the operator revives a device).
    pub(crate) fn reset(&mut self) {
        *self = Self::new();
    }
}

/// Back-off before the restart that follows the `burst`-th failure of a burst.
pub(crate) fn backoff(p: &Policy, burst: u32) -> u32 {
    if burst <= 1 || p.backoff_ms == 0 {
        return 0;
    }
    let shift = (burst - 2).min(20);
    p.backoff_ms
        .saturating_mul(1u32 << shift)
        .min(p.backoff_max_ms)
}
