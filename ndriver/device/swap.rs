// SPDX-License-Identifier: GPL-2.0

//! Orderly swaps (an operator's, or moving off an implementation being withdrawn)
//! and periodic rejuvenation, which starts a fresh instance through the same path;
//! the rejuvenation work item.

use super::state::Ctl;
use super::{now_ns, Class, Device};
use crate::abi::ImplDesc;
use crate::registry;
use crate::slowest_step::SlowestStep;
use crate::stats::{Cause, Phases, Record};
use core::sync::atomic::Ordering;
use kernel::bindings;
use kernel::impl_has_delayed_work;
use kernel::prelude::*;
use kernel::sync::Arc;
use kernel::workqueue::{self, WorkItem};

impl_has_delayed_work! {
    impl{C: Class} HasDelayedWork<Self, 1> for Device<C> { self.rejuvenate_work }
}

impl<C: Class> WorkItem<1> for Device<C> {
    type Pointer = Arc<Device<C>>;

    fn run(this: Arc<Device<C>>) {
        this.rejuvenate();
    }
}

impl<C: Class> Device<C> {
    /// Orderly swap to implementation `name` (or the next one): quiesce, let the old
    /// instance remove itself (guarded), undo whatever it left, start the new one.
    /// With a PCI function attached only the implementations that drive it are
    /// candidates: naming another is refused with `ENXIO` (no such name: `ENOENT`).
    pub(crate) fn swap_to(&self, name: Option<&str>) -> Result {
        let mut ctl = self.ctl.lock();
        let func = self.pci_func();
        let target = match name {
            Some(n) => {
                let d = registry::find(C::NAME, n).ok_or(ENOENT)?;
                if let Some(f) = func.filter(|f| !registry::drives(d, Some(f))) {
                    let mut buf = [0u8; 16];
                    pr_warn!(
                        "{}: swap to {} refused: it does not drive the attached {} ({})\n",
                        self.name,
                        n,
                        self.pci_text(&mut buf),
                        f
                    );
                    return Err(ENXIO);
                }
                d
            }
            None => {
                let impls = registry::impls_of(C::NAME, func.as_ref());
                if impls.is_empty() {
                    return Err(ENODEV);
                }
                let cur = impls.iter().position(|d| core::ptr::eq(*d, ctl.desc));
                impls[cur.map_or(0, |c| (c + 1) % impls.len())]
            }
        };
        self.swap_locked(&mut ctl, target, Some(Cause::Swap))
    }

    /// Replaces the current instance by a fresh one of `target` (none if NULL) at a
    /// quiescent point. `why`: what `recoveries` records (nothing for `None`). Only a
    /// rejuvenation keeps the failure history and leaves a device that is down alone.
    pub(super) fn swap_locked(
        &self,
        ctl: &mut Ctl,
        target: *const ImplDesc,
        why: Option<Cause>,
    ) -> Result {
        let mut p = Phases::default();
        ctl.steps = SlowestStep::default();
        let t = now_ns();
        self.quiesce();
        p.quiesce = now_ns().saturating_sub(t);
        let t = now_ns();
        if let Some(inst) = ctl.instance.as_ref() {
            let h = inst.handle();
            // SAFETY: NULL or the table of the current instance, which stays registered
            // while we hold `ctl` (withdrawal swaps away first, under `ctl`).
            let ops = unsafe { self.ops.load(Ordering::Acquire).as_ref() };
            if let Some(ops) = ops.filter(|_| !inst.failed.load(Ordering::Acquire)) {
                inst.removing.store(true, Ordering::Release);
                let _ = self.guarded_entry(C::REMOVE, || {
                    // SAFETY: `h` is the quiesced, live instance of this (still
                    // registered) table.
                    unsafe { C::remove(ops, h) };
                    0
                });
                // Timed from the phase's start (one clock reading fewer).
                ctl.steps.note("remove", now_ns().saturating_sub(t));
            }
        }
        let left = self.discard(ctl, None);
        p.undo = now_ns().saturating_sub(t);
        if left > 0 {
            pr_info!(
                "{}: undid {} resources the old instance left\n",
                self.name,
                left
            );
        }
        if why != Some(Cause::Rejuvenation) {
            ctl.ladder.reset();
            ctl.down = false;
        }
        if target.is_null() {
            // No instance will record into it.
            ctl.undo_room = KVec::new();
            C::tidy(self);
            return Ok(());
        }
        if let Err(f) = self.instantiate(ctl, target, &mut p) {
            // The new instance failed to start: recover as from any failure.
            self.restart(ctl, f.detected, C::PROBE, &mut p)?;
        }
        self.redirect(ctl, &mut p);
        match why {
            Some(Cause::Rejuvenation) => &self.counters.rejuvenations,
            _ => &self.counters.swaps,
        }
        .fetch_add(1, Ordering::Relaxed);
        if let Some(cause) = why {
            p.slowest = ctl.steps;
            ctl.seq += 1;
            let rec = Record {
                seq: ctl.seq,
                cause,
                entry: usize::MAX,
                generation: ctl.generation,
                undone: left,
                phases: p,
                level: ctl.level,
            };
            ctl.push_record(rec);
        }
        Ok(())
    }

    /// Periodic rejuvenation: a fresh instance of the current implementation, started
    /// through the same path as a swap, then the next period is armed.
    fn rejuvenate(self: &Arc<Self>) {
        let mut ctl = self.ctl.lock();
        let period = ctl.policy.rejuvenate_ms;
        if period == 0 || self.leaving.load(Ordering::Acquire) {
            return;
        }
        if !ctl.down && ctl.instance.is_some() {
            let desc = ctl.desc;
            if let Err(e) = self.swap_locked(&mut ctl, desc, Some(Cause::Rejuvenation)) {
                pr_err!("{}: rejuvenation failed: {:?}\n", self.name, e);
            }
        }
        drop(ctl);
        self.arm_rejuvenation(period);
    }

    /// Queues the next rejuvenation `ms` from now (0: none).
    pub(super) fn arm_rejuvenation(self: &Arc<Self>, ms: u32) {
        if ms == 0 || self.leaving.load(Ordering::Acquire) {
            return;
        }
        let delay = kernel::time::msecs_to_jiffies(ms);
        // Already queued: that run re-arms with the policy then in force.
        let _ = workqueue::system_long().enqueue_delayed::<_, 1>(self.clone(), delay);
    }

    /// Takes a queued rejuvenation off the queue (waiting for one that runs) and drops
    /// the device reference it held.
    pub(super) fn cancel_rejuvenation(&self) {
        // CAST: `DelayedWork` is a transparent wrapper of `struct delayed_work`.
        let dw = core::ptr::from_ref(&self.rejuvenate_work)
            .cast::<bindings::delayed_work>()
            .cast_mut();
        // SAFETY: `dw` is the initialised delayed work of this live, pinned device.
        if unsafe { bindings::cancel_delayed_work_sync(dw) } {
            // SAFETY: a queued `Arc` work item owns one reference, handed over with
            // `Arc::into_raw` when it was queued; cancelling it leaves that reference
            // to us, and `self` is the pointer it was made from.
            drop(unsafe { Arc::from_raw(core::ptr::from_ref(self)) });
        }
    }
}
