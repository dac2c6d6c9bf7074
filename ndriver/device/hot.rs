// SPDX-License-Identifier: GPL-2.0

//! Hot restart: the ladder's first rung. A request with a waiting caller whose call
//! returned an error, having taken and given back nothing the framework holds for the
//! instance, is retried on the same instance instead of replacing it
//! (`Policy::retries_hot`): nothing is undone, started or replayed, and a driver whose
//! error was transient (a busy device, a lost race) answers the retry. A second
//! failure of the same request goes on to a warm or cold recovery. Faults, hangs,
//! leaks and misuse never go hot: they leave the instance in a state nothing vouches
//! for.
//!
//! "Nothing changed" is what the framework can see: the instance's undo list, whose
//! change count ([`ActionList::changes`]) is read before and after the call. What the
//! driver keeps in its own memory is its own: an error return that left it
//! inconsistent may fail the retry too (which escalates) or answer it wrongly. The rung
//! trusts a driver's error return that far; `hot=0` does not.
//!
//! [`ActionList::changes`]: crate::undo::action_list::ActionList::changes

use super::{Class, Device, Failure};
use crate::detected::Detected;
use crate::instance::InstanceState;
use crate::policy::HotCase;
use crate::stats::{Cause, Level, Phases, Record};
use core::sync::atomic::Ordering;

impl<C: Class> Device<C> {
    /// [`Device::guarded_entry`] for a request of the admitted instance `inst` that its
    /// caller re-issues on failure: an error return also says whether the instance's undo
    /// list saw no change while the call ran ([`Failure::unchanged`]; a change by another
    /// context of the instance counts too, which errs towards replacing it). The count
    /// is read without the list's lock before each call (a change another context has
    /// under way then shows as a change after) and under it after a failure: for
    /// requests and configuration, not the data path.
    pub(crate) fn guarded_entry_hot<F: FnOnce() -> i64>(
        &self,
        inst: &InstanceState,
        entry: usize,
        f: F,
    ) -> Result<i64, Failure> {
        let before = inst.undo.changes();
        self.guarded_entry(entry, f).map_err(|fail| Failure {
            unchanged: fail.detected == Detected::Error
                && fail.errno < 0
                && inst.undo.lock().changes() == before,
            ..fail
        })
    }

    /// Whether the failure `fail` of a request to `entry` on generation `gen` is retried
    /// in place (`retried`: this request was already): if so, records it as a hot
    /// recovery (`recoveries`, a crash report, the counters) and returns its number in
    /// `recoveries`, and the caller issues the request again to the same instance.
    /// `None`: the caller recovers as before.
    pub(crate) fn retry_hot(
        &self,
        gen: u64,
        entry: usize,
        fail: &Failure,
        retried: bool,
    ) -> Option<u64> {
        let case = HotCase {
            error_return: fail.detected == Detected::Error,
            unchanged: fail.unchanged,
            retried,
        };
        if !case.error_return || !case.unchanged {
            return None;
        }
        let mut ctl = self.ctl.lock();
        // Another caller's recovery may have replaced the instance meanwhile: that one
        // serves the retry anyway, but it is no retry in place.
        if ctl.generation != gen || ctl.down || !ctl.policy.retries_hot(case) {
            return None;
        }
        // Nor is a retry into an instance that failed otherwise meanwhile: an
        // asynchronous entry point's failure (`failed`, a pending recovery) or another
        // caller's fault noted for this generation. Its recovery comes first.
        if ctl
            .instance
            .as_ref()
            .is_none_or(|i| i.failed.load(Ordering::Acquire))
            || self
                .pending
                .lock()
                .as_ref()
                .is_some_and(|(g, _, _)| *g == gen)
            || self
                .cause
                .lock()
                .as_ref()
                .is_some_and(|(g, _, _)| *g == gen)
        {
            return None;
        }
        let p = Phases::default();
        let report = self.begin_report(&ctl, gen, entry, fail);
        ctl.seq += 1;
        let rec = Record {
            seq: ctl.seq,
            cause: Cause::Failure(fail.detected),
            entry,
            generation: gen,
            undone: 0,
            phases: p,
            level: Level::Hot,
        };
        ctl.push_record(rec);
        let seq = ctl.seq;
        self.end_report(&mut ctl, report, seq, p, Level::Hot);
        self.counters.recoveries.fetch_add(1, Ordering::Relaxed);
        self.counters.hot.fetch_add(1, Ordering::Relaxed);
        Some(seq)
    }
}
