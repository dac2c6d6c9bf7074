// SPDX-License-Identifier: GPL-2.0

//! Entry-point calls under the guard: the watchdog deadline each call gets (from the
//! running average of its execution time), how a call that ended badly is described
//! ([`Failure`]) and counted, and the calls of event entry points from interrupt,
//! timer and work-item context.

use super::{Class, Device};
use crate::detected::Detected;
use crate::guard::{self, Fault, FaultContext};
use crate::instance::{Event, InstanceState};
use crate::timeout::{self, Bounds};
use core::cell::Cell;
use core::sync::atomic::Ordering;
use kernel::prelude::*;

/// How a guarded entry-point call ended badly.
#[derive(Clone, Copy)]
pub(crate) struct Failure {
    /// How it was detected.
    pub(crate) detected: Detected,
    /// The negative errno of an error return (0 otherwise).
    pub(crate) errno: i64,
    /// Nanoseconds from the fault to the wrapper regaining control.
    pub(crate) contain_ns: u64,
    /// The device's kept faulting context of this failure (`Device::keep_context`), 0
    /// for none.
    pub(crate) ctx: u64,
    /// A fault was injected into this device while the failed call ran.
    pub(crate) injected: bool,
    /// A hang of a call that waited for a driver lock: when the lock's holder failed
    /// too, its failure is the cause the recovery reports ([`Device::note_cause`]).
    pub(crate) waiter: bool,
    /// An error return after which the instance's undo list was as before the call
    /// ([`Device::guarded_entry_hot`]): the hot rung's condition.
    pub(crate) unchanged: bool,
}

impl Failure {
    /// A failure without a faulting context (an error return, a refused start, ...).
    pub(crate) fn new(detected: Detected, errno: i64) -> Self {
        Self {
            detected,
            errno,
            contain_ns: 0,
            ctx: 0,
            injected: false,
            waiter: false,
            unchanged: false,
        }
    }
}

/// Monotonic time in nanoseconds.
pub(crate) fn now_ns() -> u64 {
    // SAFETY: `ktime_get` has no preconditions.
    unsafe { kernel::bindings::ktime_get() as u64 }
}

fn classify(f: &Fault) -> Detected {
    if f.in_kernel {
        Detected::KernelFault
    } else {
        f.class
    }
}

impl<C: Class> Device<C> {
    pub(super) fn bounds(&self) -> Bounds {
        Bounds {
            guard_ns: self.guard_ns.load(Ordering::Relaxed),
            floor_ns: self.floor_ns.load(Ordering::Relaxed),
            ceiling_ns: self.ceiling_ns.load(Ordering::Relaxed),
        }
    }

    /// The watchdog deadline of the next call of `entry`.
    pub(super) fn deadline(&self, entry: usize) -> u64 {
        timeout::deadline_ns(self.avg_ns[entry].load(Ordering::Relaxed), &self.bounds())
    }

    /// The tag this device's guarded calls carry (its address), so that a fault site
    /// armed on it fires only in its own calls.
    pub(crate) fn owner_tag(&self) -> usize {
        core::ptr::from_ref(self) as usize
    }

    fn learn(&self, entry: usize, ns: u64) {
        let a = &self.avg_ns[entry];
        a.store(
            timeout::update_average(a.load(Ordering::Relaxed), ns),
            Ordering::Relaxed,
        );
    }

    /// Runs one entry point (`f` calls it) under the guard, with `entry`'s deadline;
    /// learns its execution time and counts calls and failures. An error return (a
    /// negative value) is a failure.
    pub(crate) fn guarded_entry<F: FnOnce() -> i64>(
        &self,
        entry: usize,
        f: F,
    ) -> Result<i64, Failure> {
        self.guarded_entry_checked(entry, f, |_| ())
    }

    /// [`Device::guarded_entry`] for an entry point whose answer has a range: `check`
    /// sees a non-negative answer once the call returned, outside the guard, and marks
    /// the instance misused ([`InstanceState::misuse`]) if it is out of range, which
    /// fails the call as a `misuse`.
    pub(crate) fn guarded_entry_checked<F: FnOnce() -> i64, K: FnOnce(i64)>(
        &self,
        entry: usize,
        f: F,
        check: K,
    ) -> Result<i64, Failure> {
        self.guarded_entry_answering(entry, 0, f, check)
    }

    /// [`Device::guarded_entry_checked`] for an entry point that may also answer with
    /// `answer`, a negative errno that is no failure (`queue_rq`'s `-EBUSY`: no room
    /// now, dispatch it again later): returned as `Ok(answer)`.
    pub(crate) fn guarded_entry_answering<F: FnOnce() -> i64, K: FnOnce(i64)>(
        &self,
        entry: usize,
        answer: i64,
        f: F,
        check: K,
    ) -> Result<i64, Failure> {
        let answered = |v: i64| v >= 0 || v == answer;
        self.counters.calls[entry].fetch_add(1, Ordering::Relaxed);
        let injected0 = self.counters.injected_total.load(Ordering::Relaxed);
        let injected = || self.counters.injected_total.load(Ordering::Relaxed) != injected0;
        if self.bypass.load(Ordering::Relaxed) {
            // Policy `guard=0`, for measurement: no guard frame, no watchdog, no
            // timing. An error return is still a failure; a fault is not contained.
            let v = f();
            if v >= 0 {
                check(v);
            }
            let taint = self.taint();
            if answered(v) && taint.is_none() {
                return Ok(v);
            }
            let failure = Failure {
                injected: injected(),
                ..Self::returned_failure(v, taint)
            };
            self.counters.failures[entry].fetch_add(1, Ordering::Relaxed);
            self.counters.detected[failure.detected as usize].fetch_add(1, Ordering::Relaxed);
            return Err(failure);
        }
        // Only on a failure the guard saw: the faulting context, kept for the report of
        // the recovery of this instance (still the current one: the caller holds it).
        let ctx = Cell::new(0u64);
        let sink = |f: &Fault, c: &FaultContext| {
            let gen = self.current_instance().map_or(0, |i| i.generation);
            ctx.set(self.keep_context(gen, c, f.lock_wait));
        };
        // The TSC, not `ktime_get` (six clock reads per block request were a measurable
        // part of its cost): the guard's own deadlines are in TSC cycles too.
        let start = guard::rdtsc();
        // SAFETY: the closure calls the driver's entry point, which publishes no pointer
        // into this stack; after a fault the instance is treated as dead and undone.
        let r = unsafe {
            guard::guarded(
                self.deadline(entry),
                self.contain_kernel_bug.load(Ordering::Relaxed),
                Some(&sink),
                self.owner_tag(),
                f,
            )
        };
        let elapsed = guard::cycles_to_ns(guard::rdtsc().saturating_sub(start));
        if let Ok(v) = r {
            if v >= 0 {
                check(v);
            }
        }
        let taint = self.taint();
        let failure = match r {
            Ok(v) if answered(v) && taint.is_none() => {
                self.learn(entry, elapsed);
                return Ok(v);
            }
            Ok(v) => Self::returned_failure(v, taint),
            Err(fault) => {
                pr_debug!(
                    "{}: {} in {} at {:#x}\n",
                    self.name,
                    fault.class.name(),
                    C::ENTRIES[entry],
                    fault.ip
                );
                Failure {
                    contain_ns: elapsed.saturating_sub(fault.elapsed_ns),
                    ctx: ctx.get(),
                    waiter: fault.lock_wait,
                    ..Failure::new(classify(&fault), 0)
                }
            }
        };
        let failure = Failure {
            injected: injected(),
            ..failure
        };
        // Every call that returns while the instance is over its limit or misused a
        // callout fails (so that it is retried on the next instance), but the leak or
        // misuse is one failure.
        if matches!(failure.detected, Detected::Leak | Detected::Misuse) && !self.count_taint() {
            return Err(failure);
        }
        self.counters.failures[entry].fetch_add(1, Ordering::Relaxed);
        self.counters.detected[failure.detected as usize].fetch_add(1, Ordering::Relaxed);
        self.note_cause(entry, &failure);
        Err(failure)
    }

    /// Notes `fail` of `entry` as the cause of its instance's failure if it is the first
    /// fault the guard saw in the instance that is no lock waiter's hang. Called while the
    /// failed call is still admitted, so a recovery of the instance (which quiesces first)
    /// finds it: a waiter can be ended before the holder it waits for, which hangs with
    /// interrupts off where only an NMI ends it; the holder's hang is the cause to report.
    /// A returned error (`errno` set: an error return, a leak, a misuse) is never a
    /// holder's (a call that returns holding a driver lock fails as `other_trap`), and may
    /// be an answer its caller takes back (`configure`'s `-EINVAL`): not noted.
    fn note_cause(&self, entry: usize, fail: &Failure) {
        if fail.waiter || fail.errno != 0 {
            return;
        }
        let Some(gen) = self.current_instance().map(|i| i.generation) else {
            return;
        };
        let mut c = self.cause.lock();
        if c.as_ref().is_none_or(|(g, _, _)| *g < gen) {
            *c = Some((gen, entry, *fail));
        }
    }

    /// The cause noted for generation `gen` ([`Device::note_cause`]), taken.
    pub(super) fn take_cause(&self, gen: u64) -> Option<(usize, Failure)> {
        let mut c = self.cause.lock();
        match *c {
            Some((g, entry, fail)) if g == gen => {
                *c = None;
                Some((entry, fail))
            }
            _ => None,
        }
    }

    /// The current instance, from `guarded_entry`.
    fn current_instance(&self) -> Option<&InstanceState> {
        let inst = self.current.load(Ordering::Acquire);
        // SAFETY: called from `guarded_entry`, whose caller keeps the current instance
        // alive (admitted, or holding `ctl`).
        (!inst.is_null()).then(|| unsafe { &*inst })
    }

    /// The failure of a call that returned `v` from an instance with `taint`: the leak
    /// or misuse if any (whatever it returned), else an error return.
    fn returned_failure(v: i64, taint: Option<Detected>) -> Failure {
        match taint {
            Some(Detected::Leak) => Failure::new(Detected::Leak, ENOMEM.to_errno() as i64),
            Some(Detected::Misuse) => Failure::new(Detected::Misuse, EIO.to_errno() as i64),
            _ => Failure::new(Detected::Error, v),
        }
    }

    /// Whether the current instance went over its memory limit (a leak) or handed a
    /// callout a value it does not hold (a misuse).
    fn taint(&self) -> Option<Detected> {
        let i = self.current_instance()?;
        if i.misused.load(Ordering::Acquire) {
            Some(Detected::Misuse)
        } else if i.over_limit.load(Ordering::Relaxed) {
            Some(Detected::Leak)
        } else {
            None
        }
    }

    /// True for the first report of the current instance's leak or misuse.
    fn count_taint(&self) -> bool {
        self.current_instance()
            .is_some_and(|i| !i.taint_counted.swap(true, Ordering::Relaxed))
    }

    /// Takes back the counting of a failure that was an answer (a refused value).
    pub(crate) fn uncount_failure(&self, entry: usize, fail: &Failure) {
        self.counters.failures[entry].fetch_sub(1, Ordering::Relaxed);
        self.counters.detected[fail.detected as usize].fetch_sub(1, Ordering::Relaxed);
    }

    /// Runs event `ev` of instance `st` from the context of its event (an interrupt,
    /// timer or work item `st` took through the callouts). `None`: `st` does not serve
    /// the device now (it is starting, quiesced, failed or replaced) and the event is
    /// not passed on. A failure is contained here and recovery handed to process
    /// context.
    pub(crate) fn async_entry(&self, st: &InstanceState, ev: Event, arg: u64) -> Option<i64> {
        let entry = C::event_entry(ev)?;
        C::run_event(self, ev, || {
            let a = self.admit()?;
            if !core::ptr::eq(a.inst, st) {
                return None;
            }
            let h = a.handle();
            let ops = a.ops();
            // SAFETY: `h` is the live instance `ops` belongs to.
            match self.guarded_entry(entry, || unsafe { C::event(ops, h, ev, arg) }) {
                Ok(v) => Some(v),
                Err(fail) => {
                    self.fail_async(a, entry, fail);
                    None
                }
            }
        })
    }

    /// A hang of the device itself, found at `entry` (its driver answered, the device
    /// made no progress): counted here, since no guarded call failed.
    pub(crate) fn device_hang(&self, entry: usize) -> Failure {
        if let Some(f) = self.counters.failures.get(entry) {
            f.fetch_add(1, Ordering::Relaxed);
        }
        self.counters.detected[Detected::Hang as usize].fetch_add(1, Ordering::Relaxed);
        Failure::new(Detected::Hang, 0)
    }
}
