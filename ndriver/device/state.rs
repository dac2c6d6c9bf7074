// SPDX-License-Identifier: GPL-2.0

//! The device's state: [`Device<C>`] (what admission, the guard, fault injection,
//! statistics and the work items share, and the class's own state) and [`Ctl`], the
//! process-context control state under its mutex, with the accessors the classes use.

use super::report::{Held, KeptContext, Report, REPORTS};
use super::warm::Kept;
use super::{Class, Failure};
use crate::abi::pci_ids::FuncId;
use crate::abi::ImplDesc;
use crate::fault_class::FaultClass;
use crate::inject_spec::Armed;
use crate::instance::{InstanceState, ServedDevice};
use crate::pci_claim::PciClaim;
use crate::policy::{Ladder, Policy};
use crate::registry;
use crate::site::SiteSlot;
use crate::slowest_step::{OpenCall, SlowestStep};
use crate::stats::{Cause, Counters, Level, Record, MAX_ENTRIES, RECORDS};
use crate::undo::action_list::Action;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, Ordering};
use kernel::bindings;
use kernel::prelude::*;
use kernel::sync::{Arc, ArcBorrow, Mutex, SpinLockIrq};
use kernel::workqueue::{DelayedWork, Work};
use kernel::{new_delayed_work, new_mutex, new_spinlock_irq, new_work};

/// Process-context control state, under [`Device::ctl`].
pub(crate) struct Ctl {
    /// The instance serving the device, if any.
    pub(crate) instance: Option<Pin<KBox<InstanceState>>>,
    /// Its implementation.
    pub(crate) desc: *const ImplDesc,
    /// Generation of the newest instance (0: none yet).
    pub(crate) generation: u64,
    pub(super) ladder: Ladder,
    pub(super) policy: Policy,
    /// Logged configuration, replayed on every new instance in the order first set.
    pub(crate) config: KVec<(u32, u64)>,
    /// The policy gave up: no instance until an operator swap.
    pub(crate) down: bool,
    /// Newest recoveries, a ring.
    pub(super) records: KVec<Record>,
    pub(super) seq: u64,
    /// Newest crash reports, a ring whose room is reserved with the device.
    pub(super) reports: KVec<Report>,
    /// Number of the newest report.
    pub(super) report_seq: u64,
    /// What the instance discarded last held.
    pub(super) held: Held,
    /// The device's hold on `Device::pci`, so that no other device attaches it.
    pub(super) claim: Option<PciClaim>,
    /// How the newest instance took the device over (set by `instantiate`).
    pub(super) level: Level,
    /// The slowest step of the recovery under way (reset as it begins, copied into its
    /// phases as it ends).
    pub(super) steps: SlowestStep,
    /// What the registry said of the implementation started last
    /// ([`registry::start_view`]): a recovery restarts the same one without asking
    /// again. Forgotten when that implementation is withdrawn (`on_unregister`).
    pub(super) start_view: Option<(*const ImplDesc, registry::StartView)>,
    /// The room of the last discarded instance's undo list, emptied, for the next
    /// instance's ([`into_storage`](crate::undo::action_list::ActionList::into_storage)).
    pub(super) undo_room: KVec<Action>,
}

// SAFETY: `desc` and the descriptor in `start_view` point at registered descriptors,
// only read, valid while registered (the registry asks the device to swap away, which
// also forgets the view, before withdrawing one).
unsafe impl Send for Ctl {}

/// The framework-owned device: the generic part of a placeholder of class `C`.
#[pin_data]
pub(crate) struct Device<C: Class> {
    /// Name in debugfs and logs.
    pub(crate) name: &'static str,
    /// The same, for debugfs.
    pub(super) cname: &'static CStr,
    #[pin]
    pub(super) ctl: Mutex<Ctl>,
    /// The instance entry points go to; NULL when none.
    pub(super) current: AtomicPtr<InstanceState>,
    /// Operation table of the current instance.
    pub(super) ops: AtomicPtr<C::Ops>,
    /// Whether entry points are admitted (cleared to quiesce).
    pub(super) running: AtomicBool,
    /// Calls inside the current instance.
    pub(super) inflight: AtomicU32,
    #[pin]
    pub(super) inject: SpinLockIrq<Injection>,
    /// Whether `inject` has a fault armed: written under its lock, read without it by
    /// every entry (`fault_point`), which takes the lock only when one is.
    pub(super) inject_armed: AtomicBool,
    /// Fault injection at an instruction (`inject site=`). Declared before `counters`,
    /// which its site counts into: dropped first.
    #[pin]
    pub(super) site: SiteSlot,
    /// Statistics.
    pub(crate) counters: Counters,
    /// Running average execution time per entry point, in ns.
    pub(super) avg_ns: [AtomicU64; MAX_ENTRIES],
    pub(super) guard_ns: AtomicU64,
    /// Policy `guard=0`: entry points are called directly (measurement only).
    pub(super) bypass: AtomicBool,
    /// Policy `kernel_bug=1`: a `BUG()` in core kernel code reached from an entry point,
    /// or a fault in kernel code holding a lock, is contained.
    pub(super) contain_kernel_bug: AtomicBool,
    pub(super) floor_ns: AtomicU64,
    pub(super) ceiling_ns: AtomicU64,
    /// Name of the device's interrupt handlers in `/proc/interrupts`.
    pub(super) irq_name: &'static CStr,
    /// The PCI function instances drive (a reference from
    /// `pci_get_domain_bus_and_slot`), NULL when none; changed only with no instance.
    pub(super) pci: AtomicPtr<bindings::pci_dev>,
    /// Its address as domain << 16 | bus << 8 | devfn, for `status`.
    pub(super) pci_addr: AtomicU64,
    /// A failure of an asynchronous entry point: (generation, entry, failure),
    /// waiting for `recovery_work`.
    #[pin]
    pub(super) pending: SpinLockIrq<Option<(u64, usize, Failure)>>,
    /// The first failure of the newest failed instance that is no lock waiter's hang:
    /// generation, entry, failure (`Device::note_cause`).
    #[pin]
    pub(super) cause: SpinLockIrq<Option<(u64, usize, Failure)>>,
    #[pin]
    pub(super) recovery_work: Work<Device<C>>,
    /// Periodic rejuvenation (policy `rejuvenate_ms`); while queued it owns a
    /// reference to the device.
    #[pin]
    pub(super) rejuvenate_work: DelayedWork<Device<C>, 1>,
    /// The device is being torn down: no new asynchronous recovery or rejuvenation.
    pub(super) leaving: AtomicBool,
    /// What a dead instance kept for the next one to adopt (warm restart). An IRQ-safe
    /// lock: the adopt callouts run under the guard, which may be in any context.
    #[pin]
    pub(super) kept: SpinLockIrq<Kept>,
    /// The test hook's damage for the kept set of the next warm restart
    /// (`warm_corrupt` in debugfs).
    #[pin]
    pub(super) corrupt: SpinLockIrq<Option<crate::warm_spec::Corrupt>>,
    /// The faulting context of a failed call, kept for the report of its recovery.
    #[pin]
    pub(super) fault_ctx: SpinLockIrq<Option<KeptContext>>,
    /// Id of the newest kept context.
    pub(super) next_ctx: AtomicU64,
    /// Where the driver of the `probe` or `adopt` call under way names its parts.
    pub(super) driver_steps: OpenCall,
    /// The class's per-device state.
    #[pin]
    pub(crate) class: C,
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
                reports: KVec::with_capacity(REPORTS, GFP_KERNEL)?,
                report_seq: 0,
                held: Held::EMPTY,
                claim: None,
                level: Level::Cold,
                steps: SlowestStep::default(),
                start_view: None,
                undo_room: KVec::new(),
            }),
            current: AtomicPtr::new(core::ptr::null_mut()),
            ops: AtomicPtr::new(core::ptr::null_mut()),
            running: AtomicBool::new(false),
            inflight: AtomicU32::new(0),
            inject <- new_spinlock_irq!(Injection::NONE),
            inject_armed: AtomicBool::new(false),
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
            cause <- new_spinlock_irq!(None),
            recovery_work <- new_work!("ndriver_recovery"),
            rejuvenate_work <- new_delayed_work!("ndriver_rejuvenate"),
            leaving: AtomicBool::new(false),
            kept <- new_spinlock_irq!(Kept::new(), "ndriver_kept"),
            corrupt <- new_spinlock_irq!(None),
            fault_ctx <- new_spinlock_irq!(None),
            next_ctx: AtomicU64::new(0),
            driver_steps: OpenCall::new(),
            class <- class,
        })
    }

    /// The control lock (process context).
    pub(crate) fn ctl(&self) -> kernel::sync::MutexGuard<'_, Ctl> {
        self.ctl.lock()
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

    /// The IDs of the attached PCI function, if any. Implementations that do not list
    /// them may not serve the device (see `registry::impls_of`). Called with `ctl`
    /// held: the function is detached only under it (or at `shutdown`, when nothing
    /// else reaches the device any more).
    pub(crate) fn pci_func(&self) -> Option<FuncId> {
        let p = self.pci_dev();
        if p.is_null() {
            return None;
        }
        // SAFETY: `p` is the attached function; its reference is dropped only when it
        // is detached, under `ctl`, which the caller holds (see above).
        Some(unsafe { func_id(p) })
    }

    /// Replaces the attached function by `new` (with address `addr`), drops the
    /// reference to the old one and keeps `claim` (the hold on `new`) in place of the
    /// old hold; `ctl` is the device's locked `ctl`.
    pub(super) fn put_pci(
        &self,
        ctl: &mut Ctl,
        new: *mut bindings::pci_dev,
        addr: u64,
        claim: Option<PciClaim>,
    ) {
        // The address first: whoever sees the new function also sees its address.
        self.pci_addr.store(addr, Ordering::Relaxed);
        let old = self.pci.swap(new, Ordering::AcqRel);
        // Released after the swap: no other device sees the function free while
        // this one still points at it.
        ctl.claim = claim;
        if !old.is_null() {
            // SAFETY: `old` held the reference taken when it was attached.
            unsafe { bindings::pci_dev_put(old) };
        }
    }
}

/// The IDs of PCI function `p`.
///
/// # Safety
///
/// `p` must be a referenced `pci_dev`.
pub(super) unsafe fn func_id(p: *mut bindings::pci_dev) -> FuncId {
    // SAFETY: referenced, by this function's contract; the IDs are read from
    // configuration space when the function is found and never change after.
    let d = unsafe { &*p };
    FuncId {
        vendor: d.vendor,
        device: d.device,
        subvendor: d.subsystem_vendor,
        subdevice: d.subsystem_device,
    }
}

impl Ctl {
    pub(super) fn push_record(&mut self, r: Record) {
        if self.records.len() < RECORDS {
            let _ = self.records.push(r, GFP_KERNEL);
        } else {
            // Sequence numbers start at 1 and filled the slots in order.
            let i = (r.seq.saturating_sub(1) as usize) % RECORDS;
            self.records[i] = r;
        }
    }

    pub(super) fn note_reissue(&mut self, seq: Option<u64>, ns: u64) {
        let seq = seq.unwrap_or(self.seq);
        let failed = |r: &Record| matches!(r.cause, Cause::Failure(_));
        if let Some(r) = self.records.iter_mut().find(|r| r.seq == seq && failed(r)) {
            r.phases.reissue = ns;
            self.note_report_reissue(seq, ns);
        }
    }
}

/// Fault injection at an entry point (`inject class=C entry=E`).
#[derive(Clone, Copy)]
pub(super) struct Injection {
    /// The armed request, until spent.
    pub(super) armed: Option<Armed>,
    /// The newest fault handed out (class and entry), until its code says it raises it.
    pub(super) handed: Option<(FaultClass, usize)>,
    /// The newest fault whose code said it raises it, since the request was armed.
    pub(super) raised: Option<Raised>,
}

impl Injection {
    pub(super) const NONE: Self = Self {
        armed: None,
        handed: None,
        raised: None,
    };
}

/// A fault handed out at an entry point whose code then said, from where it runs, that it
/// raises it (`ndriver_fault_raising`): the evidence `inject` shows that the fault was
/// raised in the implementation.
#[derive(Clone, Copy)]
pub(super) struct Raised {
    pub(super) class: FaultClass,
    pub(super) entry: usize,
    /// The address the raising code gave.
    pub(super) at: usize,
    /// Whether `at` lay in an implementation module's text when it was given.
    pub(super) in_text: bool,
}
