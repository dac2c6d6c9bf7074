// SPDX-License-Identifier: GPL-2.0

//! What a device class supplies: [`Class`], implemented by the class's per-device
//! state. The [`Event`]s of the resources its instances take through the callouts are
//! the instance layer's (`instance.rs`).

use super::{Device, Failure};
use crate::abi::{AdoptFn, ImplDesc, Instance};
use crate::instance::{Event, InstanceState};
use crate::registry;
use crate::timeout::Bounds;
use kernel::prelude::*;
use kernel::sync::Arc;

/// What a device class supplies. Implemented by the class's per-device state (the
/// [`Device::class`] field); everything else about a device is generic.
pub(crate) trait Class: Send + Sync + Sized + 'static {
    /// The class name implementations register under (`ImplDesc::class`).
    const NAME: &'static str;
    /// The operation table an implementation of this class registers (`ImplDesc::ops`
    /// points at one: the class's layout in `abi`).
    type Ops: Sync + 'static;
    /// Entry point names, indexed by entry number (at most `stats::MAX_ENTRIES`);
    /// `inject`, `stats` and `recoveries` use them.
    const ENTRIES: &'static [&'static str];
    /// Entry numbers of the lifecycle entry points.
    const PROBE: usize;
    /// See [`Class::PROBE`].
    const CONFIGURE: usize;
    /// See [`Class::PROBE`].
    const REMOVE: usize;

    /// The entry number `configure(key, ..)` is accounted to (and injected at). A
    /// class that routes some keys to their own entry points (a NIC's `up` to
    /// `open`/`stop`) says so here.
    fn config_entry(_key: u32) -> usize {
        Self::CONFIGURE
    }

    /// The entry number of an event, `None` if the class has no such entry point.
    fn event_entry(ev: Event) -> Option<usize>;

    /// Calls `probe` in operation table `ops`.
    ///
    /// # Safety
    ///
    /// `h` is a live instance of the implementation `ops` is the table of; called under
    /// the guard.
    unsafe fn probe(ops: &Self::Ops, h: *mut Instance) -> i64;

    /// Entry number `adopt` is accounted to (and injected at); `None` for a class
    /// without warm restart.
    const ADOPT: Option<usize> = None;

    /// The `adopt` entry point of the implementation of table `ops`, if it has one.
    fn adopt_fn(_ops: &Self::Ops) -> Option<AdoptFn> {
        None
    }

    /// Whether the implementation of table `ops` has an `adopt` entry point.
    fn has_adopt(ops: &Self::Ops) -> bool {
        Self::adopt_fn(ops).is_some()
    }

    /// Calls `adopt`: the instance takes over the resources its predecessor kept
    /// (`ndriver_adopt`) and checks the device state it inherits, instead of probing.
    ///
    /// # Safety
    ///
    /// As for [`Class::probe`]; [`Class::has_adopt`] said yes for `ops`.
    unsafe fn adopt(ops: &Self::Ops, h: *mut Instance) -> i64 {
        match Self::adopt_fn(ops) {
            // SAFETY: per this function's contract, `h` is a live instance of `ops`.
            Some(f) => unsafe { f(h) as i64 },
            None => EOPNOTSUPP.to_errno() as i64,
        }
    }

    /// Whether a failure of `entry` in instance `st` may be recovered warm, as far as the
    /// class can tell (the framework checks the policy, the implementation and the
    /// resources `st` holds): `None` for no, `Some(lent_tracked)` for yes, where
    /// `lent_tracked` says the class settles the memory it lent the instance (a NIC's
    /// transmits, in [`Class::adopted`]), so that the instance's streaming mappings
    /// towards the device of that memory need not stop a warm restart. Only entry points
    /// that leave the device's programming as the logged configuration says belong
    /// here: a failure in the middle of a configuration change does not. Process
    /// context, under the control lock, with `st` quiesced.
    fn warm_ok(_dev: &Device<Self>, _st: &InstanceState, _entry: usize) -> Option<bool> {
        None
    }

    /// Instance `st` adopted everything the dead one kept and checked the device: what
    /// the class left pending at a warm [`Class::DISCARDING`] is settled now, before the
    /// dead instance's streaming mappings towards the device are undone (what it frees
    /// waits for [`Class::tidy`]). Process context, under the control lock.
    fn adopted(_dev: &Device<Self>, _st: &InstanceState) {}

    /// The kept set is given back (a cold restart after a warm discard): DMA is stopped,
    /// and the kept resources are still held; settle what a warm
    /// [`Class::DISCARDING`] left pending (what it frees waits for [`Class::tidy`]).
    /// Process context, under the control lock.
    fn dropping_kept(_dev: &Device<Self>) {}

    /// Calls `configure(key, value)` (for a key routed elsewhere by
    /// [`Class::config_entry`], that entry point).
    ///
    /// # Safety
    ///
    /// As for [`Class::probe`].
    unsafe fn configure(ops: &Self::Ops, h: *mut Instance, key: u32, value: u64) -> i64;

    /// Calls `remove`.
    ///
    /// # Safety
    ///
    /// As for [`Class::probe`].
    unsafe fn remove(ops: &Self::Ops, h: *mut Instance);

    /// Runs `call`, the guarded call of event `ev`'s entry point (admission, guard and
    /// failure handling included), in the event's context: a class that finishes, after
    /// the call and outside its guard frame, work the instance reported during it does
    /// so here.
    fn run_event(
        _dev: &Device<Self>,
        _ev: Event,
        call: impl FnOnce() -> Option<i64>,
    ) -> Option<i64> {
        call()
    }

    /// Calls the entry point of event `ev`.
    ///
    /// # Safety
    ///
    /// As for [`Class::probe`].
    unsafe fn event(ops: &Self::Ops, h: *mut Instance, ev: Event, arg: u64) -> i64;

    /// A hook called as instance `st` is about to be undone (after a failure, or after
    /// its orderly `remove`), `None` for a class without one: no call reaches the
    /// instance any more, and its resources are still held: in its undo list, or, for
    /// those it kept when `warm` (the hook's third argument), in the device's kept set
    /// ([`Device::kept_covers`]), which the next instance adopts with the device still
    /// running (nothing it was doing was stopped). Process context, under the device's
    /// control lock. A recovery times the hook as a step (`discarding`); without one,
    /// nothing is timed, and a cold discard takes the undo list at once.
    const DISCARDING: Option<fn(&Device<Self>, &InstanceState, bool)> = None;

    /// A recovery, swap or first bind is over: the new instance serves (its
    /// [`Class::redirected`] ran, bottom halves back on), or none will. Every instance
    /// discarded meanwhile had its undo list run (DMA mappings included), so what the
    /// class held back until then may go now: work put here rather than before the
    /// redirect does not delay the new instance's service (a NIC frees the skbs a dead
    /// instance's device had sent, which wakes their senders), though a caller waiting
    /// for the recovery itself (a replayed configuration item, anything waiting for the
    /// control lock) still waits for it. Also before a back-off of the policy ladder
    /// sleeps. After a redirect timed apart (`tidy`, not in the recovery's total).
    /// Process context, under the device's control lock.
    fn tidy(_dev: &Device<Self>) {}

    /// Replays class-specific state on a new instance (`h`, table `ops`), after the
    /// logged configuration items. Process context, under the control lock.
    fn replay(_dev: &Device<Self>, _ops: &Self::Ops, _h: *mut Instance) -> Result<(), Failure> {
        Ok(())
    }

    /// The policy gave up on every implementation: the device is `down` until an
    /// operator swap. Process context, under the device's control lock.
    fn gave_up(_dev: &Device<Self>) {}

    /// The device is going away (module unload), before its instance is removed.
    /// Process context.
    fn shutdown(_dev: &Device<Self>) {}

    /// Whether the class's service runs in softirqs (a NIC's receive poll and the stack's
    /// transmit queue). Then [`Class::redirected`] runs with bottom halves off and must
    /// not sleep: the softirq work it and the unmasked lines raise on this CPU runs when
    /// the phase has ended, as the new instance's work, timed apart as `backlog` (not
    /// inside the phase, nor in a `ksoftirqd` that preempts it); a line's interrupt
    /// taken on another CPU runs its work there meanwhile. What `redirected` itself
    /// sends (an idle, awake transmit queue sends at once) stays in the phase.
    const SERVES_IN_SOFTIRQ: bool = false;

    /// A new instance serves the device now (after a recovery, swap or first bind).
    /// Process context, under the device's control lock; with bottom halves off if
    /// [`Class::SERVES_IN_SOFTIRQ`].
    fn redirected(_dev: &Device<Self>) {}

    /// Requests the current instance was given and has not finished (for the crash
    /// report, taken before [`Class::DISCARDING`]), `None` where the class does not count
    /// them. Process context, under the device's control lock.
    fn unfinished(_dev: &Device<Self>) -> Option<usize> {
        None
    }

    /// Writes class-specific `status` lines.
    fn show_status(_dev: &Device<Self>, _f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        Ok(())
    }

    /// Writes class-specific `stats` lines.
    fn show_stats(_dev: &Device<Self>, _f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        Ok(())
    }

    /// Default watchdog bounds of the class's devices (policy `guard_ns`, `floor_ns`,
    /// `ceiling_ns`).
    const BOUNDS: Bounds = Bounds::DEFAULT;

    /// Whether the device has a `call` file (requests issued by hand).
    const HAS_CALL: bool = false;

    /// Handles a write to the device's `call` file.
    fn call(_dev: &Arc<Device<Self>>, _text: &str) -> Result<i64> {
        Err(ENOTTY)
    }
}

/// The operation table of `desc`, an implementation registered under class `C`; `None`
/// for a descriptor whose table is NULL or does not lie, whole, in its module.
///
/// # Safety
///
/// `desc` is registered under `C::NAME` (the registry hands a device only the
/// implementations of its class) and stays registered for `'a`: the caller holds the
/// device's control lock, under which withdrawal swaps away first, and does not let the
/// reference outlive that.
pub(super) unsafe fn ops_of<'a, C: Class>(desc: *const ImplDesc) -> Option<&'a C::Ops> {
    // An implementation of class `C` registers a `C::Ops` (the layout `abi` gives it);
    // the registry checks it lies whole, not NULL, in the module, which stays loaded
    // while registered.
    let ops = registry::checked_ops(desc, core::mem::size_of::<C::Ops>());
    // SAFETY: per this function's contract; `ops` is what the registry checked.
    unsafe { table::<C>(ops) }
}

/// A registered implementation of class `C` as starting an instance of it sees it.
pub(super) struct Registration<'a, C: Class> {
    /// Its operation table, as [`ops_of`] gives it.
    pub(super) ops: Option<&'a C::Ops>,
    /// Its name.
    pub(super) name: &'static str,
}

/// The table [`ops_of`] would give and the name of an implementation, from `view`.
///
/// # Safety
///
/// `view` is what [`registry::start_view`] said (with `C::Ops`'s size) of a `desc` that
/// has been registered since, without a break, and is as [`ops_of`] requires it.
pub(super) unsafe fn registration_of<'a, C: Class>(
    view: &registry::StartView,
) -> Registration<'a, C> {
    Registration {
        // SAFETY: per this function's contract; `view.ops` is what the registry checked.
        ops: unsafe { table::<C>(view.ops) },
        name: view.name,
    }
}

/// The one cast to a class's operation table: the table at `ops`, an address the
/// registry checked ([`registry::checked_ops`]; 0: none).
///
/// # Safety
///
/// `ops` is 0 or the checked table of a `desc` as [`ops_of`] requires it, with that
/// function's lifetime.
unsafe fn table<'a, C: Class>(ops: usize) -> Option<&'a C::Ops> {
    // SAFETY: NULL, or a class-`C` table that lies whole in its module (contract), which
    // stays loaded for `'a`.
    unsafe { (ops as *const C::Ops).as_ref() }
}
