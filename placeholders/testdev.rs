// SPDX-License-Identifier: GPL-2.0

//! `testdev`: the framework-owned placeholder of the guarded test device, with its
//! guard wrappers and recovery.
//!
//! Callers (the `call` debugfs file) only ever see a [`TestDev`]; which implementation
//! instance serves it changes underneath. Every entry point is called through the
//! guard. A failed call (exception, watchdog overrun or error return) is contained,
//! the device is recovered (quiesce, undo, instantiate, reconfigure, redirect) and the
//! failed request is re-issued to the new instance. `tick` runs in softirq context (a
//! soft hrtimer) and `irq` in hardirq context (a hard hrtimer): their faults are
//! contained where they happen, and recovery follows in the waiting caller's process
//! context, which then re-issues the request in the original context.
//!
//! The asynchronous entry points (`devirq`, `timer`, `work`: events of resources the
//! instance took through the callouts) have no waiting caller: a failure there marks
//! the instance failed and hands recovery to a work item. With a PCI function attached
//! (the `pci` debugfs file) instances drive real hardware through the device callouts.

use crate::abi::{ImplDesc, TestdevEntry, TestdevOps, TESTDEV_ENTRIES};
use crate::action_list::Kind;
use crate::callouts_device;
use crate::guard::{self, Fault, FaultClass as GuardClass};
use crate::inject_spec::Armed;
use crate::instance::InstanceState;
use crate::policy::{Decision, Ladder, Policy};
use crate::registry;
use crate::stats::{Cause, Counters, Detected, Phases, Record, RECORDS};
use crate::timeout::{self, Bounds};
use core::sync::atomic::{AtomicBool, AtomicI64, AtomicPtr, AtomicU32, AtomicU64, Ordering};
use kernel::bindings;
use kernel::prelude::*;
use kernel::sync::completion::Completion;
use kernel::sync::{Arc, ArcBorrow, Mutex, SpinLockIrq};
use kernel::time::hrtimer::{
    HrTimer, HrTimerCallback, HrTimerCallbackContext, HrTimerPointer, HrTimerRestart,
    RelativeHardMode, RelativeSoftMode,
};
use kernel::time::{Delta, Monotonic};
use kernel::workqueue::{self, DelayedWork, Work, WorkItem};
use kernel::{
    impl_has_delayed_work, impl_has_hr_timer, impl_has_work, new_delayed_work, new_mutex,
    new_spinlock_irq, new_work,
};

/// Entry point indices (see [`TESTDEV_ENTRIES`]).
const PROBE: usize = 0;
const CONFIGURE: usize = 1;
const OP: usize = 2;
const TICK: usize = 3;
const IRQ: usize = 4;
const REMOVE: usize = 5;
const DEVIRQ: usize = TestdevEntry::DevIrq as usize;
const TIMER: usize = TestdevEntry::Timer as usize;
const NR_ENTRIES: usize = TESTDEV_ENTRIES.len();

/// Attempts per request before it fails back to the caller (each failed attempt is
/// followed by a recovery, so this bounds work, not correctness).
const MAX_ATTEMPTS: u32 = 16;

/// How a guarded entry-point call ended badly.
#[derive(Clone, Copy)]
struct Failure {
    detected: Detected,
    /// The negative errno of an error return (0 otherwise).
    errno: i64,
    /// Nanoseconds from the fault to the wrapper regaining control.
    contain_ns: u64,
}

fn now_ns() -> u64 {
    // SAFETY: `ktime_get` has no preconditions.
    unsafe { kernel::bindings::ktime_get() as u64 }
}

fn classify(f: &Fault) -> Detected {
    match f.class {
        GuardClass::Bug => Detected::Bug,
        GuardClass::PageFault => Detected::PageFault,
        GuardClass::GeneralProtection => Detected::Gpf,
        GuardClass::DivideError => Detected::Divide,
        GuardClass::Hang => Detected::Hang,
        _ => Detected::OtherTrap,
    }
}

/// Process-context control state, under [`TestDev::ctl`].
struct Ctl {
    /// The instance serving the device, if any.
    instance: Option<Pin<KBox<InstanceState>>>,
    /// Its implementation.
    desc: *const ImplDesc,
    /// Generation of the newest instance (0: none yet).
    generation: u64,
    ladder: Ladder,
    policy: Policy,
    /// Logged configuration, replayed on every new instance.
    config: KVec<(u32, u64)>,
    /// The policy gave up: no instance until an operator swap.
    down: bool,
    /// Newest recoveries, a ring.
    records: KVec<Record>,
    seq: u64,
}

// SAFETY: `desc` points at a registered descriptor, valid while registered (the
// registry asks the device to swap away before withdrawing it).
unsafe impl Send for Ctl {}

/// The placeholder device.
#[pin_data]
pub(crate) struct TestDev {
    /// Name in debugfs and logs.
    pub(crate) name: &'static str,
    #[pin]
    ctl: Mutex<Ctl>,
    /// The instance entry points go to; NULL when none.
    current: AtomicPtr<InstanceState>,
    /// Operation table of the current instance.
    ops: AtomicPtr<TestdevOps>,
    /// Whether entry points are admitted (cleared to quiesce).
    running: AtomicBool,
    /// Calls inside the current instance.
    inflight: AtomicU32,
    #[pin]
    inject: SpinLockIrq<Option<Armed>>,
    pub(crate) counters: Counters,
    /// Running average execution time per entry point, in ns.
    avg_ns: [AtomicU64; NR_ENTRIES],
    guard_ns: AtomicU64,
    floor_ns: AtomicU64,
    ceiling_ns: AtomicU64,
    /// Name of the device's interrupt handlers in `/proc/interrupts`.
    irq_name: &'static CStr,
    /// The PCI function instances drive (a reference from
    /// `pci_get_domain_bus_and_slot`), NULL when none; changed only with no instance.
    pci: AtomicPtr<bindings::pci_dev>,
    /// Its address as domain << 16 | bus << 8 | devfn, for `status`.
    pci_addr: AtomicU64,
    /// A failure of an asynchronous entry point: (generation, entry, failure),
    /// waiting for `recovery_work`.
    #[pin]
    pending: SpinLockIrq<Option<(u64, usize, Failure)>>,
    #[pin]
    recovery_work: Work<TestDev>,
    /// Periodic rejuvenation (policy `rejuvenate_ms`); while queued it owns a
    /// reference to the device.
    #[pin]
    rejuvenate_work: DelayedWork<TestDev, 1>,
    /// The device is being torn down: no new asynchronous recovery or rejuvenation.
    leaving: AtomicBool,
}

impl_has_work! {
    impl HasWork<Self> for TestDev { self.recovery_work }
}

impl WorkItem for TestDev {
    type Pointer = Arc<TestDev>;

    fn run(this: Arc<TestDev>) {
        this.recover_pending();
    }
}

impl_has_delayed_work! {
    impl HasDelayedWork<Self, 1> for TestDev { self.rejuvenate_work }
}

impl WorkItem<1> for TestDev {
    type Pointer = Arc<TestDev>;

    fn run(this: Arc<TestDev>) {
        this.rejuvenate();
    }
}

/// An admitted call: keeps the instance alive until dropped.
struct Admitted<'a> {
    dev: &'a TestDev,
    inst: &'a InstanceState,
    ops: &'a TestdevOps,
}

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        self.dev.inflight.fetch_sub(1, Ordering::Release);
    }
}

impl TestDev {
    /// A device with no instance yet; it binds when an implementation registers.
    pub(crate) fn new(name: &'static str, irq_name: &'static CStr) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            name,
            ctl <- new_mutex!(Ctl {
                instance: None,
                desc: core::ptr::null(),
                generation: 0,
                ladder: Ladder::new(),
                policy: Policy::DEFAULT,
                config: KVec::new(),
                down: false,
                records: KVec::new(),
                seq: 0,
            }),
            current: AtomicPtr::new(core::ptr::null_mut()),
            ops: AtomicPtr::new(core::ptr::null_mut()),
            running: AtomicBool::new(false),
            inflight: AtomicU32::new(0),
            inject <- new_spinlock_irq!(None),
            counters: Counters::new(),
            avg_ns: [const { AtomicU64::new(0) }; NR_ENTRIES],
            guard_ns: AtomicU64::new(Bounds::DEFAULT.guard_ns),
            floor_ns: AtomicU64::new(Bounds::DEFAULT.floor_ns),
            ceiling_ns: AtomicU64::new(Bounds::DEFAULT.ceiling_ns),
            irq_name,
            pci: AtomicPtr::new(core::ptr::null_mut()),
            pci_addr: AtomicU64::new(0),
            pending <- new_spinlock_irq!(None),
            recovery_work <- new_work!("testdev_recovery"),
            rejuvenate_work <- new_delayed_work!("testdev_rejuvenate"),
            leaving: AtomicBool::new(false),
        })
    }

    fn bounds(&self) -> Bounds {
        Bounds {
            guard_ns: self.guard_ns.load(Ordering::Relaxed),
            floor_ns: self.floor_ns.load(Ordering::Relaxed),
            ceiling_ns: self.ceiling_ns.load(Ordering::Relaxed),
        }
    }

    /// The watchdog deadline of the next call of `entry`.
    fn deadline(&self, entry: usize) -> u64 {
        timeout::deadline_ns(self.avg_ns[entry].load(Ordering::Relaxed), &self.bounds())
    }

    fn learn(&self, entry: usize, ns: u64) {
        let a = &self.avg_ns[entry];
        a.store(
            timeout::update_average(a.load(Ordering::Relaxed), ns),
            Ordering::Relaxed,
        );
    }

    /// Admits a call into the current instance, from any context.
    ///
    /// `SeqCst` on `inflight` and `running`, here and in [`Self::quiesce`]: each side
    /// stores one and then loads the other, so either this call sees `running` cleared
    /// or `quiesce` sees this call counted.
    fn admit(&self) -> Option<Admitted<'_>> {
        self.inflight.fetch_add(1, Ordering::SeqCst);
        let inst = self.current.load(Ordering::Acquire);
        let ops = self.ops.load(Ordering::Acquire);
        if !self.running.load(Ordering::SeqCst) || inst.is_null() || ops.is_null() {
            self.inflight.fetch_sub(1, Ordering::Release);
            return None;
        }
        // SAFETY: while `inflight` counts us and `running` was set, `quiesce` has not
        // finished, so the instance stays alive until the `Admitted` drops.
        let inst = unsafe { &*inst };
        if inst.failed.load(Ordering::Acquire) {
            self.inflight.fetch_sub(1, Ordering::Release);
            return None;
        }
        // SAFETY: as above, for the instance's operation table.
        let ops = unsafe { &*ops };
        Some(Admitted {
            dev: self,
            inst,
            ops,
        })
    }

    /// Runs one entry point of `a`'s instance under the guard.
    fn guarded_entry<F: FnOnce() -> i64>(&self, entry: usize, f: F) -> Result<i64, Failure> {
        self.counters.calls[entry].fetch_add(1, Ordering::Relaxed);
        let start = now_ns();
        // SAFETY: the closure calls the driver's entry point, which publishes no pointer
        // into this stack; after a fault the instance is treated as dead and undone.
        let r = unsafe { guard::guarded(self.deadline(entry), f) };
        let end = now_ns();
        let failure = match r {
            Ok(v) if v >= 0 => {
                self.learn(entry, end.saturating_sub(start));
                return Ok(v);
            }
            Ok(v) => Failure {
                detected: Detected::Error,
                errno: v,
                contain_ns: 0,
            },
            Err(fault) => {
                pr_debug!(
                    "{}: {} in {} at {:#x}\n",
                    self.name,
                    fault.class.name(),
                    TESTDEV_ENTRIES[entry],
                    fault.ip
                );
                Failure {
                    detected: classify(&fault),
                    errno: 0,
                    contain_ns: end.saturating_sub(start).saturating_sub(fault.elapsed_ns),
                }
            }
        };
        self.counters.failures[entry].fetch_add(1, Ordering::Relaxed);
        self.counters.detected[failure.detected as usize].fetch_add(1, Ordering::Relaxed);
        Err(failure)
    }

    /// Issues request `entry(arg)` once, in its own context. `Ok(None)`: no instance.
    fn issue(self: &Arc<Self>, entry: usize, arg: u64) -> Result<Option<i64>, Failure> {
        match entry {
            OP => {
                let Some(a) = self.admit() else {
                    return Ok(None);
                };
                let h = a.inst.handle();
                let f = a.ops.op;
                // SAFETY: `h` is the live instance `f` belongs to.
                self.guarded_entry(OP, || unsafe { f(h, arg) }).map(Some)
            }
            TICK | IRQ => Trigger::run(self, entry, arg),
            _ => Ok(None),
        }
    }

    /// A request from process context: issued, and on failure recovered and re-issued
    /// until it succeeds. Returns the driver's result.
    pub(crate) fn call(self: &Arc<Self>, entry: usize, arg: u64) -> Result<i64> {
        // When the last recovery finished: the re-issue phase runs from there.
        let mut recovered_at = None;
        for _ in 0..MAX_ATTEMPTS {
            let gen = self.ctl.lock().generation;
            match self.issue(entry, arg) {
                Ok(Some(v)) => {
                    if let Some(t) = recovered_at {
                        self.ctl.lock().note_reissue(now_ns().saturating_sub(t));
                    }
                    return Ok(v);
                }
                Ok(None) => {
                    // Nothing admitted the call: recover from a failure of an
                    // asynchronous entry point, wait for a recovery in progress (it
                    // holds `ctl`), or report that the device has no instance.
                    self.recover_pending();
                    let ctl = self.ctl.lock();
                    if ctl.instance.is_none() || ctl.down {
                        return Err(ENODEV);
                    }
                }
                Err(fail) => {
                    self.recover(gen, entry, fail)?;
                    self.counters.reissued.fetch_add(1, Ordering::Relaxed);
                    recovered_at = Some(now_ns());
                }
            }
        }
        Err(EIO)
    }

    /// Sets configuration item `key` and logs it for replay.
    pub(crate) fn configure(self: &Arc<Self>, key: u32, value: u64) -> Result {
        for _ in 0..MAX_ATTEMPTS {
            self.recover_pending();
            let mut ctl = self.ctl.lock();
            let gen = ctl.generation;
            let r = match self.admit() {
                None => return Err(ENODEV),
                Some(a) => {
                    let h = a.inst.handle();
                    let f = a.ops.configure;
                    // SAFETY: `h` is the live instance `f` belongs to.
                    self.guarded_entry(CONFIGURE, || unsafe { f(h, key, value) } as i64)
                }
            };
            match r {
                Ok(_) => {
                    match ctl.config.iter_mut().find(|(k, _)| *k == key) {
                        Some(item) => item.1 = value,
                        None => ctl.config.push((key, value), GFP_KERNEL)?,
                    }
                    return Ok(());
                }
                Err(fail) if fail.errno == EINVAL.to_errno() as i64 => {
                    // The driver refused the value: an answer, not a failure.
                    self.counters.failures[CONFIGURE].fetch_sub(1, Ordering::Relaxed);
                    self.counters.detected[Detected::Error as usize]
                        .fetch_sub(1, Ordering::Relaxed);
                    return Err(EINVAL);
                }
                Err(fail) => {
                    drop(ctl);
                    self.recover(gen, CONFIGURE, fail)?;
                }
            }
        }
        Err(EIO)
    }

    /// Stops admitting calls and waits for those in flight to leave.
    fn quiesce(&self) {
        self.running.store(false, Ordering::SeqCst);
        while self.inflight.load(Ordering::SeqCst) != 0 {
            kernel::time::delay::fsleep(Delta::from_micros(100));
        }
    }

    /// Undoes and frees the current instance (after `quiesce`). Returns the number of
    /// undo actions run.
    fn discard(&self, ctl: &mut Ctl) -> usize {
        self.current.store(core::ptr::null_mut(), Ordering::Release);
        self.ops.store(core::ptr::null_mut(), Ordering::Release);
        let Some(inst) = ctl.instance.take() else {
            return 0;
        };
        let mut list = inst.undo.lock().take();
        // SAFETY: the device is quiesced and no longer points at the instance, so its
        // code never runs again on this instance.
        let n = unsafe { list.undo_all() };
        self.counters.undone.fetch_add(n as u64, Ordering::Relaxed);
        n
    }

    /// Starts an instance of `desc` and replays the configuration. On failure the
    /// half-started instance is discarded.
    fn instantiate(
        &self,
        ctl: &mut Ctl,
        desc: *const ImplDesc,
        p: &mut Phases,
    ) -> Result<(), Failure> {
        // SAFETY: `desc` comes from the registry and stays registered while we hold
        // `ctl` (withdrawal goes through `ctl`).
        let d = unsafe { &*desc };
        let ops = d.ops.cast::<TestdevOps>().cast_mut();
        let name = registry::name_of(desc).unwrap_or("?");
        ctl.generation += 1;
        let t = now_ns();
        let inst = KBox::pin_init(
            InstanceState::new(desc, name, ctl.generation, core::ptr::from_ref(self).cast()),
            GFP_KERNEL,
        )
        .map_err(|_| Failure {
            detected: Detected::Error,
            errno: ENOMEM.to_errno() as i64,
            contain_ns: 0,
        })?;
        let h = inst.handle();
        // SAFETY: `ops` is the class table of a registered `testdev` implementation.
        let o = unsafe { &*ops };
        let probe = o.probe;
        // Publish for the callouts' sake before probe (entry points stay blocked:
        // `running` is false).
        self.current.store(
            core::ptr::from_ref::<InstanceState>(&inst).cast_mut(),
            Ordering::Release,
        );
        self.ops.store(ops, Ordering::Release);
        ctl.instance = Some(inst);
        ctl.desc = desc;
        // SAFETY: `h` is the fresh instance of this implementation.
        let r = self.guarded_entry(PROBE, || unsafe { probe(h) } as i64);
        p.instantiate = now_ns().saturating_sub(t);
        r.inspect_err(|_| {
            self.discard(ctl);
        })?;
        let t = now_ns();
        let configure = o.configure;
        for i in 0..ctl.config.len() {
            let (k, v) = ctl.config[i];
            // SAFETY: as for `probe`.
            let r = self.guarded_entry(CONFIGURE, || unsafe { configure(h, k, v) } as i64);
            if let Err(f) = r {
                self.discard(ctl);
                return Err(f);
            }
        }
        p.reconfigure = now_ns().saturating_sub(t);
        Ok(())
    }

    fn redirect(&self, ctl: &Ctl, p: &mut Phases) {
        let t = now_ns();
        self.running.store(true, Ordering::Release);
        if let Some(inst) = ctl.instance.as_ref() {
            // Lines masked while the instance was starting can interrupt it now.
            callouts_device::unmask_irqs(inst);
        }
        p.redirect = now_ns().saturating_sub(t);
    }

    /// Runs asynchronous entry `entry(arg)` of instance `st` from the context of its
    /// event (an interrupt, timer or work item `st` took through the callouts).
    /// `None`: `st` does not serve the device now (it is starting, quiesced, failed or
    /// replaced) and the event is not passed on. A failure is contained here and
    /// recovery handed to process context.
    pub(crate) fn async_entry(&self, st: &InstanceState, entry: usize, arg: u64) -> Option<i64> {
        let a = self.admit()?;
        if !core::ptr::eq(a.inst, st) {
            return None;
        }
        let h = a.inst.handle();
        let f = match entry {
            DEVIRQ => a.ops.devirq,
            TIMER => a.ops.timer,
            _ => a.ops.work,
        };
        // SAFETY: `h` is the live instance `f` belongs to.
        match self.guarded_entry(entry, || unsafe { f(h, arg) }) {
            Ok(v) => Some(v),
            Err(fail) => {
                st.failed.store(true, Ordering::Release);
                drop(a);
                self.fail_async(st.generation, entry, fail);
                None
            }
        }
    }

    /// Hands the failure of an asynchronous entry point to `recovery_work`.
    fn fail_async(&self, gen: u64, entry: usize, fail: Failure) {
        {
            let mut p = self.pending.lock();
            if p.is_none() {
                *p = Some((gen, entry, fail));
            }
        }
        if self.leaving.load(Ordering::Acquire) {
            return;
        }
        // SAFETY: every `TestDev` is created in an `Arc` (`devices.rs`) that lives until
        // `shutdown` flushed `recovery_work`; `self` is its data.
        let this = unsafe { ArcBorrow::<TestDev>::from_raw(self) };
        // Already queued: that run takes this failure too.
        let _ = workqueue::system().enqueue::<_, 0>(Arc::<TestDev>::from(this));
    }

    /// Recovers from a pending failure of an asynchronous entry point, if any.
    fn recover_pending(&self) {
        let Some((gen, entry, fail)) = self.pending.lock().take() else {
            return;
        };
        if let Err(e) = self.recover(gen, entry, fail) {
            pr_err!(
                "{}: recovery from a failure in {} failed: {:?}\n",
                self.name,
                TESTDEV_ENTRIES[entry],
                e
            );
        }
    }

    /// Recovers from `fail` of `entry` seen on generation `gen`; a no-op if another
    /// caller already replaced that generation.
    fn recover(&self, gen: u64, entry: usize, fail: Failure) -> Result {
        let mut ctl = self.ctl.lock();
        if ctl.generation != gen || ctl.instance.is_none() {
            return if ctl.down { Err(EIO) } else { Ok(()) };
        }
        let mut p = Phases {
            contain: fail.contain_ns,
            ..Phases::default()
        };
        let t = now_ns();
        self.quiesce();
        p.quiesce = now_ns().saturating_sub(t);
        let t = now_ns();
        let undone = self.discard(&mut ctl);
        p.undo = now_ns().saturating_sub(t);
        self.restart(&mut ctl, fail.detected, entry, &mut p)?;
        self.redirect(&ctl, &mut p);
        ctl.seq += 1;
        let rec = Record {
            seq: ctl.seq,
            cause: Cause::Failure(fail.detected),
            entry,
            generation: ctl.generation,
            undone,
            phases: p,
        };
        ctl.push_record(rec);
        self.counters.recoveries.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Starts a new instance after a failure (`cause` in `entry`), as the policy ladder
    /// says: the same implementation afresh or the next alternative, after a back-off.
    /// A new instance that fails to start is the next failure. Gives the device up
    /// when the ladder does.
    fn restart(&self, ctl: &mut Ctl, mut cause: Detected, entry: usize, p: &mut Phases) -> Result {
        loop {
            let impls = registry::impls_of("testdev");
            let cur = impls
                .iter()
                .position(|d| core::ptr::eq(*d, ctl.desc))
                .unwrap_or(0);
            let policy = ctl.policy;
            let now_ms = now_ns() / 1_000_000;
            match ctl.ladder.on_failure(&policy, cur, impls.len(), now_ms) {
                Decision::GiveUp => {
                    ctl.down = true;
                    self.counters.giveups.fetch_add(1, Ordering::Relaxed);
                    pr_err!(
                        "{}: {} in {}, and every implementation failed too often: device down\n",
                        self.name,
                        cause.name(),
                        TESTDEV_ENTRIES[entry]
                    );
                    return Err(EIO);
                }
                Decision::Start { index, delay_ms } => {
                    if delay_ms > 0 {
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

    /// Orderly swap to implementation `name` (or the next one): quiesce, let the old
    /// instance remove itself (guarded), undo whatever it left, start the new one.
    pub(crate) fn swap(&self, name: Option<&str>) -> Result {
        let mut ctl = self.ctl.lock();
        let impls = registry::impls_of("testdev");
        if impls.is_empty() {
            return Err(ENODEV);
        }
        let cur = impls.iter().position(|d| core::ptr::eq(*d, ctl.desc));
        let target = match name {
            Some(n) => impls
                .iter()
                .copied()
                .find(|d| registry::name_of(*d) == Some(n))
                .ok_or(ENOENT)?,
            None => impls[cur.map_or(0, |c| (c + 1) % impls.len())],
        };
        self.swap_locked(&mut ctl, target, Some(Cause::Swap))
    }

    /// Replaces the current instance by a fresh one of `target` (none if NULL) at a
    /// quiescent point. `why`: what `recoveries` records (nothing for `None`). Only a
    /// rejuvenation keeps the failure history and leaves a device that is down alone.
    fn swap_locked(&self, ctl: &mut Ctl, target: *const ImplDesc, why: Option<Cause>) -> Result {
        let mut p = Phases::default();
        let t = now_ns();
        self.quiesce();
        p.quiesce = now_ns().saturating_sub(t);
        let t = now_ns();
        if let Some(inst) = ctl.instance.as_ref() {
            let h = inst.handle();
            let ops = self.ops.load(Ordering::Acquire);
            if !ops.is_null() {
                // SAFETY: the table of the instance being removed, still registered.
                let remove = unsafe { (*ops).remove };
                // SAFETY: `h` is the quiesced, live instance of this table.
                let _ = self.guarded_entry(REMOVE, || {
                    unsafe { remove(h) };
                    0
                });
            }
        }
        let left = self.discard(ctl);
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
            return Ok(());
        }
        if let Err(f) = self.instantiate(ctl, target, &mut p) {
            // The new instance failed to start: recover as from any failure.
            self.restart(ctl, f.detected, PROBE, &mut p)?;
        }
        self.redirect(&ctl, &mut p);
        match why {
            Some(Cause::Rejuvenation) => &self.counters.rejuvenations,
            _ => &self.counters.swaps,
        }
        .fetch_add(1, Ordering::Relaxed);
        if let Some(cause) = why {
            ctl.seq += 1;
            let rec = Record {
                seq: ctl.seq,
                cause,
                entry: usize::MAX,
                generation: ctl.generation,
                undone: left,
                phases: p,
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
    fn arm_rejuvenation(self: &Arc<Self>, ms: u32) {
        if ms == 0 || self.leaving.load(Ordering::Acquire) {
            return;
        }
        let delay = kernel::time::msecs_to_jiffies(ms);
        // Already queued: that run re-arms with the policy then in force.
        let _ = workqueue::system().enqueue_delayed::<_, 1>(self.clone(), delay);
    }

    /// Takes a queued rejuvenation off the queue (waiting for one that runs) and drops
    /// the device reference it held.
    fn cancel_rejuvenation(&self) {
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

    /// A `testdev` implementation registered: bind to it if the device has none.
    pub(crate) fn on_register(&self, desc: *const ImplDesc) {
        let mut ctl = self.ctl.lock();
        if ctl.instance.is_some() {
            return;
        }
        let mut p = Phases::default();
        let started = match self.instantiate(&mut ctl, desc, &mut p) {
            Ok(()) => Ok(()),
            Err(f) => self.restart(&mut ctl, f.detected, PROBE, &mut p),
        };
        if started.is_ok() {
            ctl.down = false;
            self.redirect(&ctl, &mut p);
        }
    }

    /// `desc` is being withdrawn: move off it (to another implementation, if any).
    pub(crate) fn on_unregister(&self, desc: *const ImplDesc) {
        let mut ctl = self.ctl.lock();
        if !core::ptr::eq(ctl.desc, desc) {
            return;
        }
        let other = registry::impls_of("testdev")
            .iter()
            .copied()
            .find(|d| !core::ptr::eq(*d, desc))
            .unwrap_or(core::ptr::null());
        if self
            .swap_locked(&mut ctl, other, Some(Cause::Swap))
            .is_err()
        {
            pr_err!("{}: no implementation could take over\n", self.name);
        }
        if other.is_null() {
            ctl.desc = core::ptr::null();
        }
    }

    /// The fault-injection decision for a call of `entry` (from the driver's site).
    pub(crate) fn fault_point(&self, entry: usize) -> u32 {
        let mut inj = self.inject.lock();
        let Some(mut armed) = *inj else {
            return 0;
        };
        let fired = armed.on_call(entry);
        *inj = if armed.spent() { None } else { Some(armed) };
        let Some(class) = fired else {
            return 0;
        };
        self.counters.injected[class as usize].fetch_add(1, Ordering::Relaxed);
        class as u32
    }

    /// Arms (or with `None` disarms) fault injection.
    pub(crate) fn set_inject(&self, armed: Option<Armed>) {
        *self.inject.lock() = armed;
    }

    /// Writes `inject` as read back.
    pub(crate) fn show_inject(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self.inject.lock() {
            None => writeln!(f, "off"),
            Some(a) => writeln!(
                f,
                "class={} entry={} after={} times={} probability={} calls={} fired={}",
                a.spec.class.name(),
                TESTDEV_ENTRIES[a.spec.entry],
                a.spec.after,
                a.spec.times,
                a.spec.probability,
                a.calls,
                a.fired
            ),
        }
    }

    /// Sets the policy and watchdog bounds.
    pub(crate) fn set_policy(self: &Arc<Self>, p: Policy, b: Bounds) {
        let mut ctl = self.ctl.lock();
        let period_changed = ctl.policy.rejuvenate_ms != p.rejuvenate_ms;
        ctl.policy = p;
        ctl.ladder.reset();
        self.guard_ns.store(b.guard_ns, Ordering::Relaxed);
        self.floor_ns.store(b.floor_ns, Ordering::Relaxed);
        self.ceiling_ns.store(b.ceiling_ns, Ordering::Relaxed);
        drop(ctl);
        if period_changed {
            // The new period counts from now (outside `ctl`: a running rejuvenation
            // takes it, and cancelling waits for that).
            self.cancel_rejuvenation();
            self.arm_rejuvenation(p.rejuvenate_ms);
        }
    }

    /// The current policy and bounds.
    pub(crate) fn policy(&self) -> (Policy, Bounds) {
        (self.ctl.lock().policy, self.bounds())
    }

    /// Writes `status`.
    pub(crate) fn show_status(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let ctl = self.ctl.lock();
        let state = if ctl.down {
            "down"
        } else if ctl.instance.is_none() {
            "unbound"
        } else if self.running.load(Ordering::Relaxed) {
            "running"
        } else {
            "recovering"
        };
        let name = ctl.instance.as_ref().map_or("-", |i| i.impl_name);
        writeln!(f, "device {}", self.name)?;
        writeln!(f, "class testdev")?;
        writeln!(f, "state {}", state)?;
        writeln!(f, "implementation {}", name)?;
        writeln!(f, "generation {}", ctl.generation)?;
        write!(f, "pci ")?;
        match self.pci_dev().is_null() {
            true => writeln!(f, "none")?,
            false => self.show_pci(f)?,
        }
        let held = ctl.instance.as_ref().map_or(0, |i| i.undo.lock().len());
        writeln!(f, "resources_held {}", held)?;
        if let Some(i) = ctl.instance.as_ref() {
            let list = i.undo.lock();
            write!(f, "resources")?;
            for k in Kind::ALL {
                write!(f, " {}={}", k.name(), list.count(k))?;
            }
            writeln!(f)?;
        }
        for (e, name) in TESTDEV_ENTRIES.iter().enumerate() {
            writeln!(f, "deadline_ns {} {}", name, self.deadline(e))?;
        }
        Ok(())
    }

    /// Writes `recoveries`.
    pub(crate) fn show_recoveries(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let ctl = self.ctl.lock();
        let mut recs: KVec<&Record> = KVec::new();
        for r in ctl.records.iter() {
            if recs.push(r, GFP_KERNEL).is_err() {
                break;
            }
        }
        recs.sort_unstable_by_key(|r| r.seq);
        for r in recs {
            crate::stats::show_record(f, r, &TESTDEV_ENTRIES)?;
        }
        Ok(())
    }

    /// Stops the device for good (module unload): undoes the current instance, waits
    /// for a queued recovery and lets go of the PCI function.
    pub(crate) fn shutdown(&self) {
        self.leaving.store(true, Ordering::Release);
        {
            let mut ctl = self.ctl.lock();
            let _ = self.swap_locked(&mut ctl, core::ptr::null(), None);
        }
        self.cancel_rejuvenation();
        // SAFETY: `recovery_work` is a field of this live, pinned device.
        unsafe { bindings::flush_work(Work::raw_get(&self.recovery_work)) };
        self.pending.lock().take();
        self.put_pci(core::ptr::null_mut(), 0);
    }

    /// Writes the attached function's address and a newline.
    pub(crate) fn show_pci(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let a = self.pci_addr.load(Ordering::Relaxed);
        writeln!(
            f,
            "{:04x}:{:02x}:{:02x}.{}",
            a >> 16,
            (a >> 8) & 0xff,
            (a >> 3) & 0x1f,
            a & 7
        )
    }

    /// The attached PCI function, or NULL.
    pub(crate) fn pci_dev(&self) -> *mut bindings::pci_dev {
        self.pci.load(Ordering::Acquire)
    }

    /// The name of the device's interrupt handlers.
    pub(crate) fn irq_name(&self) -> &'static CStr {
        self.irq_name
    }

    /// Replaces the attached function by `new` (with address `addr`) and drops the
    /// reference to the old one.
    fn put_pci(&self, new: *mut bindings::pci_dev, addr: u64) {
        let old = self.pci.swap(new, Ordering::AcqRel);
        self.pci_addr.store(addr, Ordering::Relaxed);
        if !old.is_null() {
            // SAFETY: `old` held the reference taken when it was attached.
            unsafe { bindings::pci_dev_put(old) };
        }
    }

    /// Attaches the PCI function at `addr` (domain << 16 | bus << 8 | devfn; `None`
    /// detaches): the current instance is removed and a fresh one of the same
    /// implementation probes with the new function. `ENODEV`: no such function;
    /// `EBUSY`: a kernel driver is bound to it.
    pub(crate) fn set_pci(&self, addr: Option<u64>) -> Result {
        let new = match addr {
            None => core::ptr::null_mut(),
            Some(a) => {
                // SAFETY: a lookup; it returns a referenced function or NULL.
                let p = unsafe {
                    bindings::pci_get_domain_bus_and_slot(
                        (a >> 16) as i32,
                        ((a >> 8) & 0xff) as u32,
                        (a & 0xff) as u32,
                    )
                };
                if p.is_null() {
                    return Err(ENODEV);
                }
                // SAFETY: `p` is referenced; reading its driver pointer is a snapshot.
                if !unsafe { (*p).driver }.is_null() {
                    // SAFETY: drops the lookup's reference.
                    unsafe { bindings::pci_dev_put(p) };
                    return Err(EBUSY);
                }
                p
            }
        };
        let mut ctl = self.ctl.lock();
        let target = ctl.desc;
        if let Err(e) = self.swap_locked(&mut ctl, core::ptr::null(), None) {
            if !new.is_null() {
                // SAFETY: drops the lookup's reference.
                unsafe { bindings::pci_dev_put(new) };
            }
            return Err(e);
        }
        self.put_pci(new, addr.unwrap_or(0));
        if target.is_null() {
            return Ok(());
        }
        self.swap_locked(&mut ctl, target, None)
    }
}

impl Ctl {
    fn push_record(&mut self, r: Record) {
        if self.records.len() < RECORDS {
            let _ = self.records.push(r, GFP_KERNEL);
        } else {
            // Sequence numbers start at 1 and filled the slots in order.
            let i = (r.seq.saturating_sub(1) as usize) % RECORDS;
            self.records[i] = r;
        }
    }

    fn note_reissue(&mut self, ns: u64) {
        let seq = self.seq;
        let failed = |r: &Record| matches!(r.cause, Cause::Failure(_));
        if let Some(r) = self.records.iter_mut().find(|r| r.seq == seq && failed(r)) {
            r.phases.reissue = ns;
        }
    }
}

/// Checks that an entry index names a request entry (`op`, `tick`, `irq`).
pub(crate) fn request_entry(name: &str) -> Option<usize> {
    match name {
        "op" => Some(OP),
        "tick" => Some(TICK),
        "irq" => Some(IRQ),
        _ => None,
    }
}

/// One request run from a timer, in softirq (`tick`) or hardirq (`irq`) context.
macro_rules! trigger {
    ($t:ident, $mode:ty) => {
        #[pin_data]
        struct $t {
            #[pin]
            timer: HrTimer<Self>,
            dev: Arc<TestDev>,
            entry: usize,
            arg: u64,
            /// 0: no instance; 1: ok; 2: failed.
            outcome: AtomicU32,
            value: AtomicI64,
            errno: AtomicI64,
            detected: AtomicU32,
            contain_ns: AtomicU64,
            #[pin]
            done: Completion,
        }

        impl_has_hr_timer! {
            impl HasHrTimer<Self> for $t { mode: $mode, field: self.timer }
        }

        impl HrTimerCallback for $t {
            type Pointer<'a> = Arc<Self>;

            fn run(this: ArcBorrow<'_, Self>, _ctx: HrTimerCallbackContext<'_, Self>) -> HrTimerRestart {
                this.fire();
                HrTimerRestart::NoRestart
            }
        }

        impl $t {
            fn fire(&self) {
                let dev = &*self.dev;
                match dev.admit() {
                    None => self.outcome.store(0, Ordering::Relaxed),
                    Some(a) => {
                        let h = a.inst.handle();
                        let arg = self.arg;
                        let f = if self.entry == TICK { a.ops.tick } else { a.ops.irq };
                        // SAFETY: `h` is the live instance `f` belongs to.
                        match dev.guarded_entry(self.entry, || unsafe { f(h, arg) }) {
                            Ok(v) => {
                                self.value.store(v, Ordering::Relaxed);
                                self.outcome.store(1, Ordering::Relaxed);
                            }
                            Err(fail) => {
                                self.detected.store(fail.detected as u32, Ordering::Relaxed);
                                self.errno.store(fail.errno, Ordering::Relaxed);
                                self.contain_ns.store(fail.contain_ns, Ordering::Relaxed);
                                self.outcome.store(2, Ordering::Relaxed);
                            }
                        }
                    }
                }
                self.done.complete_all();
            }

            fn go(dev: &Arc<TestDev>, entry: usize, arg: u64) -> Result<Option<i64>, Failure> {
                let init = pin_init!(Self {
                    timer <- HrTimer::new(),
                    dev: dev.clone(),
                    entry,
                    arg,
                    outcome: AtomicU32::new(0),
                    value: AtomicI64::new(0),
                    errno: AtomicI64::new(0),
                    detected: AtomicU32::new(0),
                    contain_ns: AtomicU64::new(0),
                    done <- Completion::new(),
                });
                let Ok(t) = Arc::pin_init(init, GFP_KERNEL) else {
                    return Ok(None);
                };
                let handle = t.clone().start(Delta::from_micros(10));
                t.done.wait_for_completion();
                drop(handle);
                match t.outcome.load(Ordering::Relaxed) {
                    1 => Ok(Some(t.value.load(Ordering::Relaxed))),
                    2 => Err(Failure {
                        detected: detected_from(t.detected.load(Ordering::Relaxed)),
                        errno: t.errno.load(Ordering::Relaxed),
                        contain_ns: t.contain_ns.load(Ordering::Relaxed),
                    }),
                    _ => Ok(None),
                }
            }
        }
    };
}

trigger!(SoftTrigger, RelativeSoftMode<Monotonic>);
trigger!(HardTrigger, RelativeHardMode<Monotonic>);

fn detected_from(v: u32) -> Detected {
    match v {
        0 => Detected::Bug,
        1 => Detected::PageFault,
        2 => Detected::Gpf,
        3 => Detected::Divide,
        5 => Detected::Hang,
        6 => Detected::Error,
        _ => Detected::OtherTrap,
    }
}

/// Dispatches a timer-context request.
struct Trigger;

impl Trigger {
    fn run(dev: &Arc<TestDev>, entry: usize, arg: u64) -> Result<Option<i64>, Failure> {
        if entry == TICK {
            SoftTrigger::go(dev, entry, arg)
        } else {
            HardTrigger::go(dev, entry, arg)
        }
    }
}
