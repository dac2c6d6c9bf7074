// SPDX-License-Identifier: GPL-2.0

//! The class-independent part of every device ndriver serves: the instance lifecycle
//! and the recovery manager.
//!
//! A [`Device<C>`] is the framework-owned side of one placeholder device of class `C`
//! (`placeholders/testdev.rs`, `placeholders/nic.rs`, ...). It owns the instance
//! serving the device, admits calls into it, runs each entry point under the guard,
//! and on a failure contains it, recovers (quiesce, undo, instantiate, reconfigure,
//! redirect) as the policy ladder says, and records the phase times. Orderly swaps,
//! periodic rejuvenation, PCI attachment, fault injection, statistics and the debugfs
//! files are the same for every class.
//!
//! A class supplies, through [`Class`], its name, its entry point names, how the
//! lifecycle entry points (`probe`, `configure`, `remove`) and the events of callout
//! resources (device interrupt, timer, work item) are called in its operation table,
//! and optional hooks around a recovery (the NIC collects its unfinished transmits
//! when an instance dies and sends them again once a new one serves). The class's own
//! per-device state is the [`Device::class`] field; its request paths call
//! [`Device::admit`], [`Device::guarded_entry`] and [`Device::recover`] or
//! [`Device::fail_async`].
//!
//! Callouts and debugfs reach a device without knowing its class through the
//! [`DeviceApi`] trait object.

use crate::abi::{ImplDesc, Instance};
use crate::action_list::Kind;
use crate::callouts_device;
use crate::guard::{self, Fault, FaultClass as GuardClass};
use crate::inject_spec::{Armed, SiteSpec};
use crate::instance::InstanceState;
use crate::policy::{Decision, Ladder, Policy};
use crate::registry;
use crate::site::SiteSlot;
use crate::stats::{Cause, Counters, Detected, Phases, Record, MAX_ENTRIES, RECORDS};
use crate::timeout::{self, Bounds};
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, Ordering};
use kernel::bindings;
use kernel::ffi::c_void;
use kernel::prelude::*;
use kernel::sync::{Arc, ArcBorrow, Mutex, SpinLockIrq};
use kernel::time::Delta;
use kernel::workqueue::{self, DelayedWork, Work, WorkItem};
use kernel::{
    impl_has_delayed_work, impl_has_work, new_delayed_work, new_mutex, new_spinlock_irq, new_work,
};

/// Attempts per request before it fails back to the caller (each failed attempt is
/// followed by a recovery, so this bounds work, not correctness).
pub(crate) const MAX_ATTEMPTS: u32 = 16;

/// An event of a resource an instance took through the callouts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Event {
    /// The device's interrupt (hardirq context; the argument is the IRQ number).
    DevIrq,
    /// One of the instance's hrtimers expired (softirq; the argument is its cookie).
    Timer,
    /// One of the instance's work items runs (process context; its cookie).
    Work,
}

/// How a guarded entry-point call ended badly.
#[derive(Clone, Copy)]
pub(crate) struct Failure {
    /// How it was detected.
    pub(crate) detected: Detected,
    /// The negative errno of an error return (0 otherwise).
    pub(crate) errno: i64,
    /// Nanoseconds from the fault to the wrapper regaining control.
    pub(crate) contain_ns: u64,
}

/// Monotonic time in nanoseconds.
pub(crate) fn now_ns() -> u64 {
    // SAFETY: `ktime_get` has no preconditions.
    unsafe { kernel::bindings::ktime_get() as u64 }
}

fn classify(f: &Fault) -> Detected {
    if f.in_kernel {
        return Detected::KernelFault;
    }
    match f.class {
        GuardClass::Bug => Detected::Bug,
        GuardClass::PageFault => Detected::PageFault,
        GuardClass::GeneralProtection => Detected::Gpf,
        GuardClass::DivideError => Detected::Divide,
        GuardClass::Hang => Detected::Hang,
        _ => Detected::OtherTrap,
    }
}

/// Inverse of `Detected as u32`, for failures passed through atomics.
pub(crate) fn detected_from(v: u32) -> Detected {
    match v {
        0 => Detected::Bug,
        1 => Detected::PageFault,
        2 => Detected::Gpf,
        3 => Detected::Divide,
        5 => Detected::Hang,
        6 => Detected::Error,
        7 => Detected::Leak,
        8 => Detected::KernelFault,
        9 => Detected::Misuse,
        _ => Detected::OtherTrap,
    }
}

/// What a device class supplies. Implemented by the class's per-device state (the
/// [`Device::class`] field); everything else about a device is generic.
pub(crate) trait Class: Send + Sync + Sized + 'static {
    /// The class name implementations register under (`ImplDesc::class`).
    const NAME: &'static str;
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
    /// `ops` is the table of a registered implementation of this class and `h` a live
    /// instance of it; called under the guard.
    unsafe fn probe(ops: *const c_void, h: *mut Instance) -> i64;

    /// Calls `configure(key, value)` (for a key routed elsewhere by
    /// [`Class::config_entry`], that entry point).
    ///
    /// # Safety
    ///
    /// As for [`Class::probe`].
    unsafe fn configure(ops: *const c_void, h: *mut Instance, key: u32, value: u64) -> i64;

    /// Calls `remove`.
    ///
    /// # Safety
    ///
    /// As for [`Class::probe`].
    unsafe fn remove(ops: *const c_void, h: *mut Instance);

    /// Calls the entry point of event `ev`.
    ///
    /// # Safety
    ///
    /// As for [`Class::probe`].
    unsafe fn event(ops: *const c_void, h: *mut Instance, ev: Event, arg: u64) -> i64;

    /// Instance `st` is about to be undone (after a failure, or after its orderly
    /// `remove`): no call reaches it any more, and its resources are still held.
    /// Process context, under the device's control lock.
    fn discarding(_dev: &Device<Self>, _st: &InstanceState) {}

    /// The discarded instance's undo list ran: its resources (DMA mappings included)
    /// are given back. Process context, under the device's control lock.
    fn undone(_dev: &Device<Self>) {}

    /// Replays class-specific state on a new instance (`h`, table `ops`), after the
    /// logged configuration items. Process context, under the control lock.
    fn replay(_dev: &Device<Self>, _ops: *const c_void, _h: *mut Instance) -> Result<(), Failure> {
        Ok(())
    }

    /// The policy gave up on every implementation: the device is `down` until an
    /// operator swap. Process context, under the device's control lock.
    fn gave_up(_dev: &Device<Self>) {}

    /// The device is going away (module unload), before its instance is removed.
    /// Process context.
    fn shutdown(_dev: &Device<Self>) {}

    /// A new instance serves the device now (after a recovery, swap or first bind).
    /// Process context, under the device's control lock.
    fn redirected(_dev: &Device<Self>) {}

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

/// A device as callouts and debugfs see it, whatever its class.
pub(crate) trait DeviceApi: Send + Sync {
    /// Name in debugfs and logs.
    fn name(&self) -> &'static str;
    /// The same, as a C string.
    fn cname(&self) -> &'static CStr;
    /// The `Device<C>` itself (for a class's callouts, after checking the class).
    fn as_ptr(&self) -> *const c_void;
    /// The class name.
    fn class_name(&self) -> &'static str;
    /// Entry point names.
    fn entries(&self) -> &'static [&'static str];
    /// Runs event `ev` of instance `st` (see [`Device::async_entry`]).
    fn event(&self, st: &InstanceState, ev: Event, arg: u64) -> Option<i64>;
    /// Whether `st` is the instance the device admits calls into now.
    fn serves(&self, st: &InstanceState) -> bool;
    /// The fault-injection decision for a call of `entry`.
    fn fault_point(&self, entry: usize) -> u32;
    /// The attached PCI function, or NULL.
    fn pci_dev(&self) -> *mut bindings::pci_dev;
    /// The name of the device's interrupt handlers.
    fn irq_name(&self) -> &'static CStr;
    /// An implementation of the device's class registered.
    fn on_register(&self, desc: *const ImplDesc);
    /// An implementation of the device's class is being withdrawn.
    fn on_unregister(&self, desc: *const ImplDesc);
    /// Stops the device for good.
    fn shutdown(&self);
    /// Writes `status`.
    fn show_status(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result;
    /// Writes `stats`.
    fn show_stats(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result;
    /// Writes `recoveries`.
    fn show_recoveries(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result;
    /// Writes `inject`.
    fn show_inject(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result;
    /// Arms (or disarms) fault injection at an entry point; disarms any site.
    fn set_inject(&self, armed: Option<Armed>);
    /// Arms fault injection at an instruction of the serving implementation; disarms any
    /// entry-point request.
    fn set_site(&self, spec: &SiteSpec<'_>) -> Result;
    /// The text (start, length) of the serving implementation's module, if any.
    fn serving_text(&self) -> Option<(usize, usize)>;
    /// Orderly swap to `name` (or the next implementation).
    fn swap(&self, name: Option<&str>) -> Result;
    /// The policy and watchdog bounds.
    fn policy(&self) -> (Policy, Bounds);
    /// Sets the policy and watchdog bounds.
    fn set_policy(&self, p: Policy, b: Bounds);
    /// Writes the attached function's address (or `none`) and a newline.
    fn show_pci(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result;
    /// Attaches a PCI function (`None`: detaches).
    fn set_pci(&self, addr: Option<u64>) -> Result;
    /// Whether the class has a `call` file.
    fn has_call(&self) -> bool;
    /// A write to the `call` file.
    fn call(&self, text: &str) -> Result<i64>;
}

/// Process-context control state, under [`Device::ctl`].
pub(crate) struct Ctl {
    /// The instance serving the device, if any.
    pub(crate) instance: Option<Pin<KBox<InstanceState>>>,
    /// Its implementation.
    pub(crate) desc: *const ImplDesc,
    /// Generation of the newest instance (0: none yet).
    pub(crate) generation: u64,
    ladder: Ladder,
    policy: Policy,
    /// Logged configuration, replayed on every new instance in the order first set.
    pub(crate) config: KVec<(u32, u64)>,
    /// The policy gave up: no instance until an operator swap.
    pub(crate) down: bool,
    /// Newest recoveries, a ring.
    records: KVec<Record>,
    seq: u64,
}

// SAFETY: `desc` points at a registered descriptor, valid while registered (the
// registry asks the device to swap away before withdrawing it).
unsafe impl Send for Ctl {}

/// The framework-owned device: the generic part of a placeholder of class `C`.
#[pin_data]
pub(crate) struct Device<C: Class> {
    /// Name in debugfs and logs.
    pub(crate) name: &'static str,
    /// The same, for debugfs.
    cname: &'static CStr,
    #[pin]
    ctl: Mutex<Ctl>,
    /// The instance entry points go to; NULL when none.
    current: AtomicPtr<InstanceState>,
    /// Operation table of the current instance.
    ops: AtomicPtr<c_void>,
    /// Whether entry points are admitted (cleared to quiesce).
    running: AtomicBool,
    /// Calls inside the current instance.
    inflight: AtomicU32,
    #[pin]
    inject: SpinLockIrq<Option<Armed>>,
    /// Fault injection at an instruction (`inject site=`). Declared before `counters`,
    /// which its site counts into: dropped first.
    #[pin]
    site: SiteSlot,
    /// Statistics.
    pub(crate) counters: Counters,
    /// Running average execution time per entry point, in ns.
    avg_ns: [AtomicU64; MAX_ENTRIES],
    guard_ns: AtomicU64,
    /// Policy `guard=0`: entry points are called directly (measurement only).
    bypass: AtomicBool,
    /// Policy `kernel_bug=1`: a `BUG()` in core kernel code reached from an entry point,
    /// or a fault in kernel code holding a lock, is contained.
    contain_kernel_bug: AtomicBool,
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
    recovery_work: Work<Device<C>>,
    /// Periodic rejuvenation (policy `rejuvenate_ms`); while queued it owns a
    /// reference to the device.
    #[pin]
    rejuvenate_work: DelayedWork<Device<C>, 1>,
    /// The device is being torn down: no new asynchronous recovery or rejuvenation.
    leaving: AtomicBool,
    /// The class's per-device state.
    #[pin]
    pub(crate) class: C,
}

impl_has_work! {
    impl{C: Class} HasWork<Self> for Device<C> { self.recovery_work }
}

impl<C: Class> WorkItem for Device<C> {
    type Pointer = Arc<Device<C>>;

    fn run(this: Arc<Device<C>>) {
        this.recover_pending();
    }
}

impl_has_delayed_work! {
    impl{C: Class} HasDelayedWork<Self, 1> for Device<C> { self.rejuvenate_work }
}

impl<C: Class> WorkItem<1> for Device<C> {
    type Pointer = Arc<Device<C>>;

    fn run(this: Arc<Device<C>>) {
        this.rejuvenate();
    }
}

/// An admitted call: keeps the instance alive until dropped.
pub(crate) struct Admitted<'a, C: Class> {
    dev: &'a Device<C>,
    /// The instance the call goes to.
    pub(crate) inst: &'a InstanceState,
    /// Its operation table (the class's layout).
    pub(crate) ops: *const c_void,
}

impl<C: Class> Admitted<'_, C> {
    /// The driver's handle of the instance.
    pub(crate) fn handle(&self) -> *mut Instance {
        self.inst.handle()
    }
}

impl<C: Class> Drop for Admitted<'_, C> {
    fn drop(&mut self) {
        self.dev.inflight.fetch_sub(1, Ordering::Release);
    }
}

impl<C: Class> Device<C> {
    /// A device with no instance yet; it binds when an implementation registers.
    pub(crate) fn new(
        cname: &'static CStr,
        irq_name: &'static CStr,
        class: impl PinInit<C, Error>,
    ) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            name: cname.to_str().unwrap_or("?"),
            cname,
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
            site <- SiteSlot::new(),
            counters: Counters::new(),
            avg_ns: [const { AtomicU64::new(0) }; MAX_ENTRIES],
            guard_ns: AtomicU64::new(C::BOUNDS.guard_ns),
            bypass: AtomicBool::new(!Policy::DEFAULT.guard),
            contain_kernel_bug: AtomicBool::new(Policy::DEFAULT.kernel_bug),
            floor_ns: AtomicU64::new(C::BOUNDS.floor_ns),
            ceiling_ns: AtomicU64::new(C::BOUNDS.ceiling_ns),
            irq_name,
            pci: AtomicPtr::new(core::ptr::null_mut()),
            pci_addr: AtomicU64::new(0),
            pending <- new_spinlock_irq!(None),
            recovery_work <- new_work!("ndriver_recovery"),
            rejuvenate_work <- new_delayed_work!("ndriver_rejuvenate"),
            leaving: AtomicBool::new(false),
            class <- class,
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

    /// The control lock (process context).
    pub(crate) fn ctl(&self) -> kernel::sync::MutexGuard<'_, Ctl> {
        self.ctl.lock()
    }

    /// Generation of the newest instance.
    pub(crate) fn generation(&self) -> u64 {
        self.ctl.lock().generation
    }

    /// Whether calls are admitted now.
    pub(crate) fn is_running(&self) -> bool {
        self.running.load(Ordering::Acquire)
    }

    /// Whether `st` is the instance calls go to.
    pub(crate) fn is_current(&self, st: &InstanceState) -> bool {
        core::ptr::eq(self.current.load(Ordering::Acquire), st)
    }

    /// A new reference to the device.
    pub(crate) fn arc(&self) -> Arc<Self> {
        // SAFETY: every `Device` lives in an `Arc` (`devices.rs`); `self` is its data,
        // borrowed for this call.
        let this = unsafe { ArcBorrow::<Device<C>>::from_raw(self) };
        Arc::<Device<C>>::from(this)
    }

    /// The name of the implementation serving the device (`-` if none).
    pub(crate) fn impl_name(&self) -> &'static str {
        self.ctl
            .lock()
            .instance
            .as_ref()
            .map_or("-", |i| i.impl_name)
    }

    /// The attached PCI function's address (`DDDD:BB:SS.F`), or `none`, in `buf`.
    pub(crate) fn pci_text<'b>(&self, buf: &'b mut [u8; 16]) -> &'b str {
        if self.pci_dev().is_null() {
            return "none";
        }
        let a = self.pci_addr.load(Ordering::Relaxed);
        let hex = |v: u64| b"0123456789abcdef"[(v & 0xf) as usize];
        let digits = [
            hex(a >> 28),
            hex(a >> 24),
            hex(a >> 20),
            hex(a >> 16),
            b':',
            hex(a >> 12),
            hex(a >> 8),
            b':',
            hex((a >> 7) & 1),
            hex(a >> 3),
            b'.',
            b'0' + (a & 7) as u8,
        ];
        buf[..12].copy_from_slice(&digits);
        core::str::from_utf8(&buf[..12]).unwrap_or("none")
    }

    /// Admits a call into the current instance, from any context.
    ///
    /// `SeqCst` on `inflight` and `running`, here and in [`Self::quiesce`]: each side
    /// stores one and then loads the other, so either this call sees `running` cleared
    /// or `quiesce` sees this call counted.
    ///
    /// `current` and `ops` are loaded only after `running` was seen set: loaded before,
    /// a caller that stalls between the loads could pair an instance a recovery freed
    /// meanwhile with the next instance's table.
    pub(crate) fn admit(&self) -> Option<Admitted<'_, C>> {
        self.inflight.fetch_add(1, Ordering::SeqCst);
        if !self.running.load(Ordering::SeqCst) {
            self.inflight.fetch_sub(1, Ordering::Release);
            return None;
        }
        let inst = self.current.load(Ordering::Acquire);
        crate::race::point(crate::race::ADMIT);
        let ops = self.ops.load(Ordering::Acquire);
        if inst.is_null() || ops.is_null() {
            self.inflight.fetch_sub(1, Ordering::Release);
            return None;
        }
        // SAFETY: `running` was seen set after we were counted in `inflight`, so no
        // `quiesce` has finished since: the instance and table published before it
        // was set stay alive, and together, until the `Admitted` drops.
        let inst = unsafe { &*inst };
        if inst.failed.load(Ordering::Acquire) {
            self.inflight.fetch_sub(1, Ordering::Release);
            return None;
        }
        Some(Admitted {
            dev: self,
            inst,
            ops: ops.cast_const(),
        })
    }

    /// Runs one entry point (`f` calls it) under the guard, with `entry`'s deadline;
    /// learns its execution time and counts calls and failures. An error return (a
    /// negative value) is a failure.
    pub(crate) fn guarded_entry<F: FnOnce() -> i64>(
        &self,
        entry: usize,
        f: F,
    ) -> Result<i64, Failure> {
        self.counters.calls[entry].fetch_add(1, Ordering::Relaxed);
        if self.bypass.load(Ordering::Relaxed) {
            // Policy `guard=0`, for measurement: no guard frame, no watchdog, no
            // timing. An error return is still a failure; a fault is not contained.
            let v = f();
            if v >= 0 && self.taint().is_none() {
                return Ok(v);
            }
            let failure = Failure {
                detected: Detected::Error,
                errno: v,
                contain_ns: 0,
            };
            self.counters.failures[entry].fetch_add(1, Ordering::Relaxed);
            self.counters.detected[failure.detected as usize].fetch_add(1, Ordering::Relaxed);
            return Err(failure);
        }
        let start = now_ns();
        // SAFETY: the closure calls the driver's entry point, which publishes no pointer
        // into this stack; after a fault the instance is treated as dead and undone.
        let r = unsafe {
            guard::guarded(
                self.deadline(entry),
                self.contain_kernel_bug.load(Ordering::Relaxed),
                f,
            )
        };
        let end = now_ns();
        let taint = self.taint();
        let failure = match r {
            Ok(v) if v >= 0 && taint.is_none() => {
                self.learn(entry, end.saturating_sub(start));
                return Ok(v);
            }
            Ok(_) if taint == Some(Detected::Leak) => Failure {
                detected: Detected::Leak,
                errno: ENOMEM.to_errno() as i64,
                contain_ns: 0,
            },
            Ok(_) if taint == Some(Detected::Misuse) => Failure {
                detected: Detected::Misuse,
                errno: EIO.to_errno() as i64,
                contain_ns: 0,
            },
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
                    C::ENTRIES[entry],
                    fault.ip
                );
                Failure {
                    detected: classify(&fault),
                    errno: 0,
                    contain_ns: end.saturating_sub(start).saturating_sub(fault.elapsed_ns),
                }
            }
        };
        // Every call that returns while the instance is over its limit or misused a
        // callout fails (so that it is retried on the next instance), but the leak or
        // misuse is one failure.
        if matches!(failure.detected, Detected::Leak | Detected::Misuse) && !self.count_taint() {
            return Err(failure);
        }
        self.counters.failures[entry].fetch_add(1, Ordering::Relaxed);
        self.counters.detected[failure.detected as usize].fetch_add(1, Ordering::Relaxed);
        Err(failure)
    }

    /// The current instance, from `guarded_entry`.
    fn current_instance(&self) -> Option<&InstanceState> {
        let inst = self.current.load(Ordering::Acquire);
        // SAFETY: called from `guarded_entry`, whose caller keeps the current instance
        // alive (admitted, or holding `ctl`).
        (!inst.is_null()).then(|| unsafe { &*inst })
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

    /// Sets configuration item `key` on the current instance and logs it for replay.
    /// `-EINVAL` from the driver refuses the value (not a failure); other failures are
    /// recovered and the item retried. `ENODEV`: no instance.
    pub(crate) fn configure(self: &Arc<Self>, key: u32, value: u64) -> Result {
        let entry = C::config_entry(key);
        for _ in 0..MAX_ATTEMPTS {
            self.recover_pending();
            let mut ctl = self.ctl.lock();
            let gen = ctl.generation;
            let r = match self.admit() {
                None => {
                    if ctl.instance.is_none() || ctl.down {
                        return Err(ENODEV);
                    }
                    // Starting or recovering: retry after the pending recovery.
                    drop(ctl);
                    kernel::time::delay::fsleep(Delta::from_millis(1));
                    continue;
                }
                Some(a) => {
                    let h = a.handle();
                    let ops = a.ops;
                    // SAFETY: `h` is the live instance `ops` belongs to.
                    self.guarded_entry(entry, || unsafe { C::configure(ops, h, key, value) })
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
                Err(fail)
                    if fail.detected == Detected::Error
                        && fail.errno == EINVAL.to_errno() as i64 =>
                {
                    // The driver refused the value: an answer, not a failure.
                    self.uncount_failure(entry, &fail);
                    return Err(EINVAL);
                }
                Err(fail) => {
                    drop(ctl);
                    self.recover(gen, entry, fail)?;
                }
            }
        }
        Err(EIO)
    }

    /// Logs configuration item `key` without calling the driver (a value the
    /// framework knows before any instance runs, e.g. a NIC's MAC address).
    pub(crate) fn log_config(&self, key: u32, value: u64) -> Result {
        let mut ctl = self.ctl.lock();
        match ctl.config.iter_mut().find(|(k, _)| *k == key) {
            Some(item) => item.1 = value,
            None => ctl.config.push((key, value), GFP_KERNEL)?,
        }
        Ok(())
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
        // Stop the device's DMA before any of the instance's memory goes back: a dead
        // instance leaves its device running, and a receive ring freed under a device
        // that still writes it corrupts whatever reuses the pages.
        let p = self.pci_dev();
        if !p.is_null() {
            // SAFETY: `p` is the attached function, referenced until detached (which
            // happens only with no instance).
            unsafe { bindings::pci_clear_master(p) };
        }
        C::discarding(self, &inst);
        let mut list = inst.undo.lock().take();
        // SAFETY: the device is quiesced and no longer points at the instance, so its
        // code never runs again on this instance.
        let n = unsafe { list.undo_all() };
        self.counters.undone.fetch_add(n as u64, Ordering::Relaxed);
        C::undone(self);
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
        let ops = d.ops.cast_mut();
        let name = registry::name_of(desc).unwrap_or("?");
        ctl.generation += 1;
        let t = now_ns();
        let api: *const dyn DeviceApi = core::ptr::from_ref(self);
        let inst = KBox::pin_init(
            InstanceState::new(
                desc,
                name,
                ctl.generation,
                api,
                ctl.policy.mem_kb as usize * 1024,
            ),
            GFP_KERNEL,
        )
        .map_err(|_| Failure {
            detected: Detected::Error,
            errno: ENOMEM.to_errno() as i64,
            contain_ns: 0,
        })?;
        inst.as_ref().make_live().map_err(|e| Failure {
            detected: Detected::Error,
            errno: e.to_errno() as i64,
            contain_ns: 0,
        })?;
        let h = inst.handle();
        // Publish for the callouts' sake before probe (entry points stay blocked:
        // `running` is false).
        self.current.store(
            core::ptr::from_ref::<InstanceState>(&inst).cast_mut(),
            Ordering::Release,
        );
        self.ops.store(ops, Ordering::Release);
        ctl.instance = Some(inst);
        ctl.desc = desc;
        // SAFETY: `h` is the fresh instance of this implementation, `ops` its table.
        let r = self.guarded_entry(C::PROBE, || unsafe { C::probe(ops, h) });
        p.instantiate = now_ns().saturating_sub(t);
        r.inspect_err(|_| {
            self.discard(ctl);
        })?;
        let t = now_ns();
        for i in 0..ctl.config.len() {
            let (k, v) = ctl.config[i];
            // SAFETY: as for `probe`.
            let r =
                self.guarded_entry(C::config_entry(k), || unsafe { C::configure(ops, h, k, v) });
            if let Err(f) = r {
                self.discard(ctl);
                return Err(f);
            }
        }
        if let Err(f) = C::replay(self, ops, h) {
            self.discard(ctl);
            return Err(f);
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
        C::redirected(self);
        p.redirect = now_ns().saturating_sub(t);
    }

    /// Runs event `ev` of instance `st` from the context of its event (an interrupt,
    /// timer or work item `st` took through the callouts). `None`: `st` does not serve
    /// the device now (it is starting, quiesced, failed or replaced) and the event is
    /// not passed on. A failure is contained here and recovery handed to process
    /// context.
    pub(crate) fn async_entry(&self, st: &InstanceState, ev: Event, arg: u64) -> Option<i64> {
        let entry = C::event_entry(ev)?;
        let a = self.admit()?;
        if !core::ptr::eq(a.inst, st) {
            return None;
        }
        let h = a.handle();
        let ops = a.ops;
        // SAFETY: `h` is the live instance `ops` belongs to.
        match self.guarded_entry(entry, || unsafe { C::event(ops, h, ev, arg) }) {
            Ok(v) => Some(v),
            Err(fail) => {
                self.fail_async(a, entry, fail);
                None
            }
        }
    }

    /// A hang of the device itself, found at `entry` (its driver answered, the device
    /// made no progress): counted here, since no guarded call failed.
    pub(crate) fn device_hang(&self, entry: usize) -> Failure {
        if let Some(f) = self.counters.failures.get(entry) {
            f.fetch_add(1, Ordering::Relaxed);
        }
        self.counters.detected[Detected::Hang as usize].fetch_add(1, Ordering::Relaxed);
        Failure {
            detected: Detected::Hang,
            errno: 0,
            contain_ns: 0,
        }
    }

    /// A call admitted by `a`, with no waiting caller (an interrupt, timer, work item,
    /// or a request the class answered itself), failed: marks the instance failed, so
    /// nothing more is admitted into it, and hands recovery to `recovery_work`.
    ///
    /// It takes the admission, not the instance: the instance is written while the
    /// call still holds it, so a recovery waiting in `quiesce` cannot free it first.
    pub(crate) fn fail_async(&self, a: Admitted<'_, C>, entry: usize, fail: Failure) {
        crate::race::point(crate::race::FAIL_ASYNC);
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
        let _ = workqueue::system_long().enqueue::<_, 0>(Arc::<Device<C>>::from(this));
    }

    /// Recovers from a pending failure of an asynchronous entry point, if any.
    pub(crate) fn recover_pending(&self) {
        crate::race::point(crate::race::RECOVER_PENDING);
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
    /// caller already replaced that generation. Process context.
    pub(crate) fn recover(&self, gen: u64, entry: usize, fail: Failure) -> Result {
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
        crate::race::point(crate::race::RECOVER_QUIESCED);
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

    /// Records the re-issue time of the newest recovery.
    pub(crate) fn note_reissue(&self, ns: u64) {
        self.ctl.lock().note_reissue(ns);
    }

    /// Starts a new instance after a failure (`cause` in `entry`), as the policy ladder
    /// says: the same implementation afresh or the next alternative, after a back-off.
    /// A new instance that fails to start is the next failure. Gives the device up
    /// when the ladder does.
    fn restart(&self, ctl: &mut Ctl, mut cause: Detected, entry: usize, p: &mut Phases) -> Result {
        loop {
            let impls = registry::impls_of(C::NAME);
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
                    C::gave_up(self);
                    pr_err!(
                        "{}: {} in {}, and every implementation failed too often: device down\n",
                        self.name,
                        cause.name(),
                        C::ENTRIES.get(entry).copied().unwrap_or("-")
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
    pub(crate) fn swap_to(&self, name: Option<&str>) -> Result {
        let mut ctl = self.ctl.lock();
        let impls = registry::impls_of(C::NAME);
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
            if !ops.is_null() && !inst.failed.load(Ordering::Acquire) {
                // SAFETY: `h` is the quiesced, live instance of this (still registered)
                // table.
                let _ = self.guarded_entry(C::REMOVE, || {
                    unsafe { C::remove(ops, h) };
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
            self.restart(ctl, f.detected, C::PROBE, &mut p)?;
        }
        self.redirect(ctl, &mut p);
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
        let _ = workqueue::system_long().enqueue_delayed::<_, 1>(self.clone(), delay);
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
}

impl<C: Class> DeviceApi for Device<C> {
    fn name(&self) -> &'static str {
        self.name
    }

    fn cname(&self) -> &'static CStr {
        self.cname
    }

    fn as_ptr(&self) -> *const c_void {
        core::ptr::from_ref(self).cast()
    }

    fn class_name(&self) -> &'static str {
        C::NAME
    }

    fn entries(&self) -> &'static [&'static str] {
        C::ENTRIES
    }

    fn event(&self, st: &InstanceState, ev: Event, arg: u64) -> Option<i64> {
        self.async_entry(st, ev, arg)
    }

    fn serves(&self, st: &InstanceState) -> bool {
        self.running.load(Ordering::SeqCst)
            && core::ptr::eq(self.current.load(Ordering::Acquire), st)
            && !st.failed.load(Ordering::Acquire)
    }

    fn fault_point(&self, entry: usize) -> u32 {
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

    fn pci_dev(&self) -> *mut bindings::pci_dev {
        self.pci.load(Ordering::Acquire)
    }

    fn irq_name(&self) -> &'static CStr {
        self.irq_name
    }

    /// Binds to the new implementation if the device has none.
    fn on_register(&self, desc: *const ImplDesc) {
        let mut ctl = self.ctl.lock();
        if ctl.instance.is_some() {
            return;
        }
        let mut p = Phases::default();
        let started = match self.instantiate(&mut ctl, desc, &mut p) {
            Ok(()) => Ok(()),
            Err(f) => self.restart(&mut ctl, f.detected, C::PROBE, &mut p),
        };
        if started.is_ok() {
            ctl.down = false;
            self.redirect(&ctl, &mut p);
        }
    }

    /// Moves off `desc` (to another implementation, if any).
    fn on_unregister(&self, desc: *const ImplDesc) {
        self.site.disarm_in(desc);
        let mut ctl = self.ctl.lock();
        if !core::ptr::eq(ctl.desc, desc) {
            return;
        }
        let other = registry::impls_of(C::NAME)
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

    /// Undoes the current instance, waits for a queued recovery and lets go of the
    /// PCI function.
    fn shutdown(&self) {
        self.site.disarm();
        C::shutdown(self);
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

    fn show_status(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
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
        writeln!(f, "class {}", C::NAME)?;
        writeln!(f, "state {}", state)?;
        writeln!(f, "implementation {}", name)?;
        writeln!(f, "generation {}", ctl.generation)?;
        write!(f, "pci ")?;
        self.show_pci(f)?;
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
        drop(ctl);
        for (e, name) in C::ENTRIES.iter().enumerate() {
            writeln!(f, "deadline_ns {} {}", name, self.deadline(e))?;
        }
        C::show_status(self, f)
    }

    fn show_stats(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.counters.show(f, C::ENTRIES)?;
        C::show_stats(self, f)
    }

    fn show_recoveries(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let ctl = self.ctl.lock();
        let mut recs: KVec<&Record> = KVec::new();
        for r in ctl.records.iter() {
            if recs.push(r, GFP_KERNEL).is_err() {
                break;
            }
        }
        recs.sort_unstable_by_key(|r| r.seq);
        for r in recs {
            crate::stats::show_record(f, r, C::ENTRIES)?;
        }
        Ok(())
    }

    fn show_inject(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        if self.site.show(f)? {
            return Ok(());
        }
        match *self.inject.lock() {
            None => writeln!(f, "off"),
            Some(a) => writeln!(
                f,
                "class={} entry={} after={} times={} probability={} calls={} fired={}",
                a.spec.class.name(),
                C::ENTRIES[a.spec.entry],
                a.spec.after,
                a.spec.times,
                a.spec.probability,
                a.calls,
                a.fired
            ),
        }
    }

    fn set_inject(&self, armed: Option<Armed>) {
        self.site.disarm();
        *self.inject.lock() = armed;
    }

    fn set_site(&self, spec: &SiteSpec<'_>) -> Result {
        *self.inject.lock() = None;
        let desc = self.ctl.lock().desc;
        let injected: *const AtomicU64 = &self.counters.injected[spec.class as usize];
        // SAFETY: `counters` is a field of this device declared after `site`, so it is
        // dropped after the slot; `shutdown` disarms the slot before that anyway.
        unsafe { self.site.arm(self.name, spec, desc, injected) }
    }

    fn serving_text(&self) -> Option<(usize, usize)> {
        crate::registry::text_of(self.ctl.lock().desc)
    }

    fn swap(&self, name: Option<&str>) -> Result {
        self.swap_to(name)
    }

    fn policy(&self) -> (Policy, Bounds) {
        (self.ctl.lock().policy, self.bounds())
    }

    fn set_policy(&self, p: Policy, b: Bounds) {
        let mut ctl = self.ctl.lock();
        let period_changed = ctl.policy.rejuvenate_ms != p.rejuvenate_ms;
        ctl.policy = p;
        ctl.ladder.reset();
        self.guard_ns.store(b.guard_ns, Ordering::Relaxed);
        self.bypass.store(!p.guard, Ordering::Relaxed);
        self.contain_kernel_bug
            .store(p.kernel_bug, Ordering::Relaxed);
        self.floor_ns.store(b.floor_ns, Ordering::Relaxed);
        self.ceiling_ns.store(b.ceiling_ns, Ordering::Relaxed);
        drop(ctl);
        if period_changed {
            // The new period counts from now (outside `ctl`: a running rejuvenation
            // takes it, and cancelling waits for that).
            self.cancel_rejuvenation();
            self.arc().arm_rejuvenation(p.rejuvenate_ms);
        }
    }

    fn show_pci(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        if self.pci_dev().is_null() {
            return writeln!(f, "none");
        }
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

    /// Attaches the PCI function at `addr` (domain << 16 | bus << 8 | devfn; `None`
    /// detaches): the current instance is removed and a fresh one of the same
    /// implementation probes with the new function. `ENODEV`: no such function;
    /// `EBUSY`: a kernel driver is bound to it.
    fn set_pci(&self, addr: Option<u64>) -> Result {
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

    fn has_call(&self) -> bool {
        C::HAS_CALL
    }

    fn call(&self, text: &str) -> Result<i64> {
        C::call(&self.arc(), text)
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
