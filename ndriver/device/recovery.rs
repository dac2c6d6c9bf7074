// SPDX-License-Identifier: GPL-2.0

//! Recovery from a failed entry point: a failure with a waiting caller is recovered
//! in its context ([`Device::recover`]), one without ([`Device::fail_async`]) is left
//! pending for the device's recovery work item. A recovery quiesces the device,
//! undoes the instance, starts a new one as the policy ladder says (with its back-off)
//! and replays the configuration into it, redirects calls to it, and records the time
//! of each phase ([`Phases`]).

use super::class::{ops_of, registration_of};
use super::state::Ctl;
use super::{now_ns, Admitted, Class, Device, Failure};
use crate::abi::ImplDesc;
use crate::bottom_halves::BottomHalvesOff;
use crate::detected::Detected;
use crate::instance::{InstanceState, ServedDevice};
use crate::policy::Decision;
use crate::recovery_queue;
use crate::registry;
use crate::slowest_step::SlowestStep;
use crate::stats::{Cause, Level, Phases, Record};
use crate::wrappers::callouts_device;
use core::sync::atomic::Ordering;
use kernel::impl_has_work;
use kernel::prelude::*;
use kernel::sync::{Arc, ArcBorrow};
use kernel::time::Delta;
use kernel::workqueue::WorkItem;

/// Attempts per request before it fails back to the caller (each failed attempt is
/// followed by a recovery, so this bounds work, not correctness).
pub(crate) const MAX_ATTEMPTS: u32 = 16;

impl_has_work! {
    impl{C: Class} HasWork<Self> for Device<C> { self.recovery_work }
}

impl<C: Class> WorkItem for Device<C> {
    type Pointer = Arc<Device<C>>;

    fn run(this: Arc<Device<C>>) {
        let _noio = recovery_queue::NoIo::new();
        this.recover_pending();
    }
}

impl<C: Class> Device<C> {
    /// Undoes and frees the current instance (after `quiesce`). Returns the number of
    /// undo actions run.
    ///
    /// `warm`: the caller found a warm restart allowed ([`Device::warm_allowed`], with
    /// what the class said); if what the instance holds still allows it, the actions it
    /// kept move to the kept set and the device keeps running, else (and always with
    /// `None`) the restart is cold: DMA is stopped and everything, the kept set
    /// included, is undone.
    pub(super) fn discard(&self, ctl: &mut Ctl, warm: Option<bool>) -> usize {
        self.current.store(core::ptr::null_mut(), Ordering::Release);
        self.ops.store(core::ptr::null_mut(), Ordering::Release);
        let Some(inst) = ctl.instance.take() else {
            // Nothing serves: nothing may survive.
            return self.drop_kept();
        };
        // Cold, with no class hook to run first, the list is taken at once and counted
        // out of the lock: one hold of it fewer.
        let taken = (warm.is_none() && C::DISCARDING.is_none()).then(|| inst.undo.lock().take());
        let kinds = match taken.as_ref() {
            Some(l) => l.kind_counts(),
            None => inst.undo.lock().kind_counts(),
        };
        let kept = warm.and_then(|lent| {
            ctl.steps
                .time("split_kept", || self.split_kept(&inst, lent))
        });
        // Steps with nothing to do are not timed: a recovery's clock reads are cold ones,
        // about a microsecond a step under TCG, which a test device's 60 us recovery
        // shows.
        if kept.is_none() && !self.pci_dev().is_null() {
            // Stop the device's DMA before any of the instance's memory goes back: a
            // dead instance leaves its device running, and a receive ring freed under a
            // device that still writes it corrupts whatever reuses the pages.
            ctl.steps.time("stop_dma", || self.stop_dma());
        }
        self.note_held(ctl, kinds);
        // The kept set first, so that the class finds the kept buffers there.
        let warm = match kept {
            Some((k, lent)) => {
                ctl.steps
                    .time("store_kept", || self.store_kept(&inst, k, lent));
                true
            }
            None => false,
        };
        if let Some(hook) = C::DISCARDING {
            ctl.steps.time("discarding", || hook(self, &inst, warm));
        }
        let mut list = taken.unwrap_or_else(|| inst.undo.lock().take());
        // A failed adopter's: the kept device resets first, while the mapping they write
        // through is still held (by the adopter, or in the kept set), and the kept
        // interrupt lines go before the adopter's undo may disable their function.
        // A class without `adopt` never fills the kept set (only a warm discard does).
        let mut n = if warm || C::ADOPT.is_none() || self.kept_empty() {
            0
        } else {
            ctl.steps.time("undo_kept_resets", || {
                self.undo_kept_resets_and_irqs(&mut list)
            })
        };
        // SAFETY: the device is quiesced and no longer points at the instance, so its
        // code never runs again on this instance; what it kept reaches it no more.
        let (undone, slowest) = unsafe { list.undo_all_timed() };
        ctl.undo_room = list.into_storage();
        n += undone;
        // The kind whose actions took longest in all is the undo's step (many small
        // actions of one kind add up as one).
        if let Some((k, ns)) = slowest.filter(|&(_, ns)| ns > 0) {
            ctl.steps.note(k.undo_step(), ns);
        }
        self.counters.undone.fetch_add(n as u64, Ordering::Relaxed);
        // What an earlier instance kept and this one (an adopter that failed) did not
        // adopt yet, or gave back while it was undone.
        if !warm && C::ADOPT.is_some() && !self.kept_empty() {
            n += ctl.steps.time("drop_kept", || self.drop_kept());
        }
        n
    }

    /// Starts an instance of `desc` and replays the configuration: warm, by adopting
    /// what the dead instance kept, when it is of the same implementation and that has
    /// `adopt`; else, or when the adoption fails, cold (the kept set given back first,
    /// DMA stopped). Sets `ctl.level`. On failure the half-started instance is
    /// discarded.
    pub(super) fn instantiate(
        &self,
        ctl: &mut Ctl,
        desc: *const ImplDesc,
        p: &mut Phases,
    ) -> Result<(), Failure> {
        // Only an adopter of what its predecessor kept restarts warm: a class without
        // `adopt` and a device with nothing kept for `desc` need no look at its table.
        let warm = C::ADOPT.is_some()
            && self.kept_by(desc)
            // SAFETY: `desc` comes from the registry, registered under this class, and
            // stays registered while we hold `ctl` (withdrawal goes through `ctl`).
            && unsafe { ops_of::<C>(desc) }.is_some_and(C::has_adopt);
        // Only a warm discard fills the kept set: a class without `adopt` has none.
        if !warm && C::ADOPT.is_some() {
            let n = self.drop_kept();
            if n > 0 {
                pr_info!(
                    "{}: {} kept resources given back: the next instance is no adopter of them\n",
                    self.name,
                    n
                );
            }
        }
        ctl.level = Level::Cold;
        let t = now_ns();
        let r = self.start(ctl, desc, p, warm, t);
        let r = match r {
            Err(f) if warm => {
                // `start` discarded the adopter cold: the kept set is gone, DMA stopped.
                self.counters.warm_fallbacks.fetch_add(1, Ordering::Relaxed);
                pr_info!(
                    "{}: warm restart refused ({}, {}): cold restart\n",
                    self.name,
                    f.detected.name(),
                    f.errno
                );
                // Already given back if the adopter started; not if it never did.
                ctl.steps.time("drop_kept", || self.drop_kept());
                self.start(ctl, desc, p, false, now_ns())
            }
            r => r.map(|()| {
                if warm {
                    ctl.level = Level::Warm;
                }
            }),
        };
        p.instantiate = now_ns().saturating_sub(t).saturating_sub(p.reconfigure);
        r
    }

    /// One start of an instance of `desc`, begun at `began` (a clock reading the caller
    /// just took): `adopt` (`warm`) or `probe`, then (cold only) the configuration
    /// replay. On failure the instance is discarded cold.
    fn start(
        &self,
        ctl: &mut Ctl,
        desc: *const ImplDesc,
        p: &mut Phases,
        warm: bool,
        began: u64,
    ) -> Result<(), Failure> {
        let view = match ctl.start_view {
            Some((d, v)) if core::ptr::eq(d, desc) => Some(v),
            _ => {
                let v = registry::start_view(desc, core::mem::size_of::<C::Ops>());
                // Not one being withdrawn: nothing starts it after its `on_unregister`.
                ctl.start_view = v.filter(|v| !v.leaving).map(|v| (desc, v));
                v
            }
        };
        let reg = view.map(|v| {
            // SAFETY: `desc` comes from the registry, registered under this class, and
            // stays registered while we hold `ctl` (withdrawal goes through `ctl`);
            // `v` is what the registry said of it (forgotten when it is withdrawn).
            unsafe { registration_of::<C>(&v) }
        });
        let Some(ops) = reg.as_ref().and_then(|r| r.ops) else {
            pr_warn!(
                "{}: implementation without an operation table in its module\n",
                self.name
            );
            // Charged to this implementation, as a failed probe would be.
            ctl.desc = desc;
            return Err(Failure::new(Detected::Error, EINVAL.to_errno() as i64));
        };
        let name = reg.map_or("?", |r| r.name);
        ctl.generation += 1;
        let api: *const dyn ServedDevice = core::ptr::from_ref(self);
        let (generation, mem) = (ctl.generation, ctl.policy.mem_kb as usize * 1024);
        let inst = KBox::pin_init(
            InstanceState::new(
                desc,
                name,
                generation,
                api,
                mem,
                core::mem::take(&mut ctl.undo_room),
            ),
            GFP_KERNEL,
        )
        .map_err(|_| Failure::new(Detected::Error, ENOMEM.to_errno() as i64))?;
        inst.as_ref()
            .make_live()
            .map_err(|e| Failure::new(Detected::Error, e.to_errno() as i64))?;
        // One clock reading ends this step and begins the driver's call (a step's clock
        // reads are a visible part of a test device's recovery).
        let created = now_ns();
        ctl.steps
            .note("new_instance", created.saturating_sub(began));
        let h = inst.handle();
        // Publish for the callouts' sake before probe (entry points stay blocked:
        // `running` is false).
        self.current.store(
            core::ptr::from_ref::<InstanceState>(&inst).cast_mut(),
            Ordering::Release,
        );
        self.ops
            .store(core::ptr::from_ref(ops).cast_mut(), Ordering::Release);
        ctl.instance = Some(inst);
        ctl.desc = desc;
        let r = match C::ADOPT {
            Some(e) if warm => {
                if let Some(i) = ctl.instance.as_ref() {
                    i.adopting.store(true, Ordering::Release);
                }
                let r = self.driver_timed(ctl, "adopt", created, || {
                    // SAFETY: `h` is the fresh instance of this implementation, `ops`
                    // its table, which has `adopt` (checked by the caller).
                    self.guarded_entry(e, || unsafe { C::adopt(ops, h) })
                });
                if let (Ok(_), Some(i)) = (&r, ctl.instance.as_ref()) {
                    i.adopting.store(false, Ordering::Release);
                }
                r
            }
            _ => self.driver_timed(ctl, "probe", created, || {
                // SAFETY: `h` is the fresh instance of this implementation, `ops` its
                // table.
                self.guarded_entry(C::PROBE, || unsafe { C::probe(ops, h) })
            }),
        };
        let r = r.and_then(|_| {
            // An adopter takes all that was kept or nothing: what it left would be
            // given back under a device it let run.
            let left = if warm { self.kept_len() } else { 0 };
            if left > 0 {
                pr_warn!(
                    "{}: {} left {} kept resources unadopted\n",
                    self.name,
                    name,
                    left
                );
                return Err(Failure::new(Detected::Error, EINVAL.to_errno() as i64));
            }
            Ok(())
        });
        r.inspect_err(|_| {
            self.discard(ctl, None);
        })?;
        if warm {
            if let Some(i) = ctl.instance.as_ref() {
                self.finish_adoption(i, &mut ctl.steps);
            }
            // The device runs as the logged configuration left it: nothing to replay.
            p.reconfigure = 0;
            return Ok(());
        }
        let t = now_ns();
        for i in 0..ctl.config.len() {
            let (k, v) = ctl.config[i];
            // SAFETY: `h` is the fresh instance of this implementation, `ops` its table.
            let r =
                self.guarded_entry(C::config_entry(k), || unsafe { C::configure(ops, h, k, v) });
            if let Err(f) = r {
                self.discard(ctl, None);
                return Err(f);
            }
        }
        if let Err(f) = C::replay(self, ops, h) {
            self.discard(ctl, None);
            return Err(f);
        }
        p.reconfigure = now_ns().saturating_sub(t);
        Ok(())
    }

    /// Runs `f`, the guarded `probe` or `adopt` call (`call`) of the instance of
    /// generation `ctl.generation`, as a timed step whose parts its driver may name (the
    /// `ndriver_step` callout): the longest part goes into the recovery's slowest step.
    /// `t` is the clock's reading the call is timed from.
    fn driver_timed<R>(
        &self,
        ctl: &mut Ctl,
        call: &'static str,
        t: u64,
        f: impl FnOnce() -> R,
    ) -> R {
        // The names lie in the read-only data of `ctl.desc`'s module, which the registry
        // said where it is. Without its bounds no name can be checked: the call is one
        // step.
        let rodata = ctl
            .start_view
            .filter(|(d, _)| core::ptr::eq(*d, ctl.desc))
            .and_then(|(_, v)| v.rodata);
        let Some(rodata) = rodata else {
            let r = f();
            ctl.steps.note(call, now_ns().saturating_sub(t));
            return r;
        };
        // This task, in task context (it holds the `ctl` mutex), makes the call and closes
        // the record below, still holding `ctl`, under which every `open` and `close` of
        // this device's record is made.
        // SAFETY: that; and `rodata` is `ctl.desc`'s module's (the registry's view,
        // forgotten at withdrawal, which goes through `ctl`): loaded until `close`.
        unsafe { self.driver_steps.open(ctl.generation, call, rodata, t) };
        let r = f();
        let end = now_ns();
        // SAFETY: this task opened the record above, in task context.
        match unsafe { self.driver_steps.close(end) } {
            Some(s) => ctl.steps.merge(&s),
            None => ctl.steps.note(call, end.saturating_sub(t)),
        }
        r
    }

    pub(super) fn redirect(&self, ctl: &Ctl, p: &mut Phases) {
        let t = now_ns();
        // Softirqs raised on this CPU from here on (the woken transmit queue, the poll of
        // an unmasked line whose interrupt comes here) run when this ends: the new
        // instance's service, timed apart (`backlog`).
        let bh_off = C::SERVES_IN_SOFTIRQ.then(|| {
            // SAFETY: task context (every caller holds the `ctl` mutex); the class's
            // `redirected` does not sleep (`SERVES_IN_SOFTIRQ`'s contract), and the
            // irq-off scope below ends before this value is dropped.
            unsafe { BottomHalvesOff::new() }
        });
        self.running.store(true, Ordering::Release);
        let unmasked = {
            // Local interrupts off across the unmask: an interrupt pending on a line
            // (a NIC's frames that arrived meanwhile) is taken when they come back on,
            // which is the new instance serving, not the recovery: left out of the
            // phase (with bottom halves on, the receive poll it schedules runs there
            // too).
            let _irqs_off = kernel::interrupt::local_interrupt_disable();
            if let Some(inst) = ctl.instance.as_ref() {
                // Lines masked while the instance was starting can interrupt it now.
                callouts_device::unmask_irqs(inst);
            }
            now_ns()
        };
        let t2 = now_ns();
        C::redirected(self);
        let end = now_ns();
        p.redirect = unmasked
            .saturating_sub(t)
            .saturating_add(end.saturating_sub(t2));
        // Tidying is timed from the end of the redirect, or of the backlog if there was
        // one (one clock reading fewer).
        let t = if bh_off.is_some() {
            drop(bh_off);
            let t = now_ns();
            p.backlog = t.saturating_sub(end);
            t
        } else {
            end
        };
        C::tidy(self);
        p.tidy = now_ns().saturating_sub(t);
    }

    /// A call admitted by `a`, with no waiting caller (an interrupt, timer, work item,
    /// or a request the class answered itself), failed: marks the instance failed, so
    /// nothing more is admitted into it, and hands recovery to `recovery_work`.
    ///
    /// It takes the admission, not the instance: the instance is written while the
    /// call still holds it, so a recovery waiting in `quiesce` cannot free it first.
    pub(crate) fn fail_async(&self, a: Admitted<'_, C>, entry: usize, fail: Failure) {
        crate::race::point(crate::race::FAIL_ASYNC, self.owner_tag());
        let st = a.inst;
        st.failed.store(true, Ordering::Release);
        let gen = st.generation;
        drop(a);
        {
            let mut p = self.pending.lock();
            // The newest instance's failure wins: `recover` ignores an older
            // generation, which would leave a newer failed instance refusing calls.
            if p.as_ref().is_none_or(|(g, _, _)| *g < gen) {
                *p = Some((gen, entry, fail));
            }
        }
        if self.leaving.load(Ordering::Acquire) {
            return;
        }
        // SAFETY: every `Device` is created in an `Arc` (`devices.rs`) that lives until
        // `shutdown` flushed `recovery_work`; `self` is its data.
        let this = unsafe { ArcBorrow::<Device<C>>::from_raw(self) };
        // Already queued: that run takes this failure too.
        let _ = recovery_queue::enqueue(Arc::<Device<C>>::from(this));
    }

    /// Recovers from a pending failure of an asynchronous entry point, if any.
    pub(crate) fn recover_pending(&self) {
        crate::race::point(crate::race::RECOVER_PENDING, self.owner_tag());
        let Some((gen, entry, fail)) = self.pending.lock().take() else {
            return;
        };
        if let Err(e) = self.recover(gen, entry, fail) {
            pr_err!(
                "{}: recovery from a failure in {} failed: {:?}\n",
                self.name,
                C::ENTRIES[entry],
                e
            );
        }
    }

    /// Recovers from `fail` of `entry` seen on generation `gen`; a no-op if another
    /// caller already replaced that generation. A lock waiter's hang (`fail.waiter`) is
    /// reported and recorded as the failure noted for `gen` ([`Device::note_cause`]), if
    /// any. Process context.
    pub(crate) fn recover(&self, gen: u64, mut entry: usize, mut fail: Failure) -> Result {
        let mut ctl = self.ctl.lock();
        if ctl.generation != gen || ctl.instance.is_none() {
            return if ctl.down { Err(EIO) } else { Ok(()) };
        }
        let t = now_ns();
        self.quiesce();
        let quiesce_ns = now_ns().saturating_sub(t);
        // Every call of the instance has left: a lock holder that failed after its waiter
        // (ended first) noted its failure by now, and it is the cause.
        if fail.waiter {
            if let Some((e, f)) = self.take_cause(gen) {
                entry = e;
                fail = f;
            }
        }
        let mut p = Phases {
            contain: fail.contain_ns,
            quiesce: quiesce_ns,
            ..Phases::default()
        };
        ctl.steps = SlowestStep::default();
        let mut report = self.begin_report(&ctl, gen, entry, &fail);
        crate::race::point(crate::race::RECOVER_QUIESCED, self.owner_tag());
        let t = now_ns();
        let warm = self.warm_allowed(&ctl, entry);
        let undone = self.discard(&mut ctl, warm);
        p.undo = now_ns().saturating_sub(t);
        report.discarded(ctl.held, undone);
        if let Err(e) = self.restart(&mut ctl, fail.detected, entry, &mut p) {
            p.slowest = ctl.steps;
            self.end_report(&mut ctl, report, 0, p, Level::Cold);
            return Err(e);
        }
        self.redirect(&ctl, &mut p);
        p.slowest = ctl.steps;
        ctl.seq += 1;
        let rec = Record {
            seq: ctl.seq,
            cause: Cause::Failure(fail.detected),
            entry,
            generation: ctl.generation,
            undone,
            phases: p,
            level: ctl.level,
        };
        ctl.push_record(rec);
        let seq = ctl.seq;
        let level = ctl.level;
        self.end_report(&mut ctl, report, seq, p, level);
        self.counters.recoveries.fetch_add(1, Ordering::Relaxed);
        match ctl.level {
            Level::Warm => &self.counters.warm,
            Level::Cold => &self.counters.cold,
            Level::Hot => &self.counters.hot,
        }
        .fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Records the re-issue time of recovery `seq` (its number in `recoveries`), or of
    /// the newest with `None`.
    pub(crate) fn note_reissue(&self, seq: Option<u64>, ns: u64) {
        self.ctl.lock().note_reissue(seq, ns);
    }

    /// Starts a new instance after a failure (`cause` in `entry`), as the policy ladder
    /// says: the same implementation afresh or the next alternative, after a back-off.
    /// Alternatives are the implementations that drive the attached PCI function (all
    /// of the class without one). A new instance that fails to start is the next
    /// failure. Gives the device up when the ladder does (then lets the class tidy:
    /// nothing will be redirected to).
    pub(super) fn restart(
        &self,
        ctl: &mut Ctl,
        mut cause: Detected,
        entry: usize,
        p: &mut Phases,
    ) -> Result {
        let func = self.pci_func();
        loop {
            let impls = registry::impls_of(C::NAME, func.as_ref());
            let cur = impls
                .iter()
                .position(|d| core::ptr::eq(*d, ctl.desc))
                .unwrap_or(0);
            let policy = ctl.policy;
            let now_ms = now_ns() / 1_000_000;
            match ctl.ladder.on_failure(&policy, cur, impls.len(), now_ms) {
                Decision::GiveUp => {
                    ctl.down = true;
                    // No instance will record into it.
                    ctl.undo_room = KVec::new();
                    // No instance will adopt it.
                    self.drop_kept();
                    self.counters.giveups.fetch_add(1, Ordering::Relaxed);
                    C::gave_up(self);
                    pr_err!(
                        "{}: {} in {}, and every implementation failed too often: device down\n",
                        self.name,
                        cause.name(),
                        C::ENTRIES.get(entry).copied().unwrap_or("-")
                    );
                    // Nothing will be redirected to: every discarded instance was undone.
                    C::tidy(self);
                    return Err(EIO);
                }
                Decision::Start { index, delay_ms } => {
                    if delay_ms > 0 {
                        // The device would run on the kept rings, bus mastering on, for
                        // the whole back-off: give them back first (DMA stopped). The
                        // restart is cold.
                        let n = self.drop_kept();
                        if n > 0 {
                            pr_info!(
                                "{}: {} kept resources given back: a back-off of {} ms \
                                 precedes the next instance\n",
                                self.name,
                                n,
                                delay_ms
                            );
                        }
                        // Every instance discarded so far was undone: what it sent need
                        // not wait out the back-off.
                        C::tidy(self);
                        kernel::time::delay::fsleep(Delta::from_millis(delay_ms as i64));
                    }
                    let Some(desc) = impls.get(index).copied() else {
                        continue;
                    };
                    match self.instantiate(ctl, desc, p) {
                        Ok(()) => return Ok(()),
                        Err(f) => cause = f.detected,
                    }
                }
            }
        }
    }
}
