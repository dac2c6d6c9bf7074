// SPDX-License-Identifier: GPL-2.0

//! Where a block request is, in its PDU: with blk-mq (or nobody), issued to an
//! instance, reported done by it, or in its `complete`; and which issue of the request
//! that is.
//!
//! blk-mq reuses a request once it ended. A `queue_rq` call that fails or refuses
//! after its driver put the request on the device may return after the device
//! finished it, `complete` ended it and blk-mq issued it again, to the same instance
//! (which is not marked failed until the call returns): handing "it" back then would
//! hand back the new issue, which another CPU's `queue_rq` is working on. So the state
//! counts issues beside the state proper, in one word, and `queue_rq` hands back only
//! the issue it made.

use core::sync::atomic::{AtomicU32, Ordering};
use kernel::prelude::kunit_tests;

/// blk-mq has the request, or nobody does.
pub(crate) const RQ_IDLE: u32 = 0;
/// An instance holds it.
pub(crate) const RQ_ISSUED: u32 = 1;
/// The instance reported it done (`ndriver_blk_done`).
pub(crate) const RQ_DONE: u32 = 2;
/// Its `complete` runs.
pub(crate) const RQ_COMPLETING: u32 = 3;

/// The bits of the state proper; the others count issues.
const STATE: u32 = 0b11;

/// One issue of a request: what [`RqState::issue`] made, for [`RqState::release`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Issue(u32);

/// A request's state and issue count.
pub(crate) struct RqState(AtomicU32);

impl RqState {
    /// Idle, never issued.
    pub(crate) const fn new() -> Self {
        Self(AtomicU32::new(RQ_IDLE))
    }

    /// The state proper (`RQ_*`).
    pub(crate) fn get(&self) -> u32 {
        self.0.load(Ordering::Acquire) & STATE
    }

    /// Issues the request (blk-mq gave it to `queue_rq`, which owns it now): the next
    /// issue, `RQ_ISSUED`.
    pub(crate) fn issue(&self) -> Issue {
        let next = (self.0.load(Ordering::Relaxed) & !STATE).wrapping_add(STATE + 1) | RQ_ISSUED;
        self.0.store(next, Ordering::Release);
        Issue(next)
    }

    /// Issue `i`, still `RQ_ISSUED`, goes back to blk-mq (`RQ_IDLE`): false if it moved
    /// on (reported done, ended, issued again).
    pub(crate) fn release(&self, i: Issue) -> bool {
        self.0
            .compare_exchange(i.0, i.0 & !STATE, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// The current issue, if it is `RQ_ISSUED`.
    pub(crate) fn issued(&self) -> Option<Issue> {
        let v = self.0.load(Ordering::Acquire);
        (v & STATE == RQ_ISSUED).then_some(Issue(v))
    }

    /// From `from` to `to`, whichever issue: false if the state is not `from`. The one
    /// party that makes it moves the request on.
    pub(crate) fn advance(&self, from: u32, to: u32) -> bool {
        let mut v = self.0.load(Ordering::Acquire);
        loop {
            if v & STATE != from {
                return false;
            }
            match self.0.compare_exchange_weak(
                v,
                (v & !STATE) | to,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(now) => v = now,
            }
        }
    }

    /// Back to `RQ_IDLE` (by the party that moved it out of `RQ_ISSUED` or `RQ_DONE`,
    /// which owns it): to be ended or requeued.
    pub(crate) fn idle(&self) {
        self.0.fetch_and(!STATE, Ordering::Release);
    }
}

#[kunit_tests(ndriver_blk_rq_state)]
mod tests {
    use super::*;

    #[test]
    fn an_old_issue_is_not_handed_back() {
        let s = RqState::new();
        let first = s.issue();
        assert_eq!(s.get(), RQ_ISSUED);
        // Done, completed, ended, issued again: the first issue's call still running.
        assert!(s.advance(RQ_ISSUED, RQ_DONE));
        assert!(s.advance(RQ_DONE, RQ_COMPLETING));
        s.idle();
        let second = s.issue();
        assert!(first != second);
        assert_eq!(s.issued(), Some(second));
        assert!(s.issued() != Some(first));
        assert!(!s.release(first));
        assert_eq!(s.get(), RQ_ISSUED);
        assert!(s.release(second));
        assert_eq!(s.get(), RQ_IDLE);
        assert_eq!(s.issued(), None);
    }

    #[test]
    fn advance_only_from_the_state_named() {
        let s = RqState::new();
        assert!(!s.advance(RQ_ISSUED, RQ_DONE));
        let i = s.issue();
        assert!(!s.advance(RQ_DONE, RQ_COMPLETING));
        assert!(s.advance(RQ_ISSUED, RQ_IDLE));
        assert!(!s.release(i));
        assert_eq!(s.get(), RQ_IDLE);
    }

    #[test]
    fn issues_wrap() {
        let s = RqState(AtomicU32::new(u32::MAX & !STATE));
        let i = s.issue();
        assert_eq!(s.get(), RQ_ISSUED);
        assert!(s.release(i));
        assert_eq!(s.get(), RQ_IDLE);
    }
}
