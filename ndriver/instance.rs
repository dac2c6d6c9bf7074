// SPDX-License-Identifier: GPL-2.0

//! One running instance of an implementation: the framework's side of it.
//!
//! The address of an [`InstanceState`] is the opaque `*mut abi::Instance` handle the
//! driver receives in every entry point and passes back to the callouts. It owns the
//! instance's undo action list and its private-data pointer; the driver owns nothing
//! the framework cannot take back.

use crate::abi::{self, ImplDesc};
use crate::undo::action_list::{Action, Kind};
use crate::undo::locked_list::LockedList;
use core::any::Any;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};
use kernel::bindings;
use kernel::prelude::*;

/// Most instances alive at once (two per device during a swap).
const MAX_LIVE: usize = 64;

/// The handles of the live instances. A callout looks a handle up here before it
/// touches anything behind it: a driver that passes a forged or wild pointer (a
/// corrupted register) is refused, not trusted. (A stale handle whose memory a new
/// instance reuses is that instance's handle again.)
///
/// # Invariants
///
/// A non-null entry points at a pinned [`InstanceState`] that is alive: entered by
/// [`InstanceState::make_live`] and removed by its drop, before it is freed.
static LIVE: [AtomicPtr<InstanceState>; MAX_LIVE] =
    [const { AtomicPtr::new(core::ptr::null_mut()) }; MAX_LIVE];

/// Where a lookup of `p` starts (instances are at least 64 bytes apart).
fn live_hint(p: *const InstanceState) -> usize {
    (p as usize >> 6) % MAX_LIVE
}

/// XORed into an instance's address to make its handle: bit 62 of a kernel address is
/// set (the top bits of a canonical kernel address all are), so a handle is a
/// non-canonical address. A driver that dereferences its handle, or a pointer a
/// corruption turned into its handle, takes a general protection fault in its own
/// code, which the guard contains, instead of writing into the framework's state of the
/// instance (seen in the campaign of 2026-12-05: a skipped instruction made
/// `testdev-a` store a request's value through the handle, over the instance's
/// implementation name, and the recovery that read it oopsed).
const HANDLE_MASK: usize = 1 << 62;

/// Handles refused for not naming a live instance.
pub(crate) static FORGED_HANDLES: AtomicUsize = AtomicUsize::new(0);

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

/// The device an instance serves, as the callouts and the classes reach it through
/// [`InstanceState::device`], whatever its class. Every `device::Device<C>` implements
/// it; `device::DeviceApi` extends it with what debugfs and the device set use.
pub(crate) trait ServedDevice: Send + Sync {
    /// The `Device<C>` itself, for a class's callouts to reach their own class's state
    /// (`downcast_ref::<Device<C>>()`: `None` for a device of another class).
    fn as_any(&self) -> &dyn Any;
    /// The class name.
    fn class_name(&self) -> &'static str;
    /// Runs event `ev` of instance `st` (see `device::Device::async_entry`).
    fn event(&self, st: &InstanceState, ev: Event, arg: u64) -> Option<i64>;
    /// Whether `st` is the instance the device admits calls into now.
    fn serves(&self, st: &InstanceState) -> bool;
    /// The fault-injection decision for a call of `entry`.
    fn fault_point(&self, entry: usize) -> u32;
    /// The code of the instance's module raises `class`, the fault last handed out, at
    /// address `at` (recorded for `inject`).
    fn fault_raising(&self, class: u32, at: usize);
    /// Instance `st` ended the part of its `probe` or `adopt` call named by the `len`
    /// bytes at address `name` (the `ndriver_step` callout): timed for the recovery's
    /// slowest step; ignored at any other time or in any other context, and for a name
    /// outside the instance's module's constants (not read).
    fn step(&self, st: &InstanceState, name: usize, len: usize);
    /// The attached PCI function, or NULL.
    fn pci_dev(&self) -> *mut bindings::pci_dev;
    /// The name of the device's interrupt handlers.
    fn irq_name(&self) -> &'static CStr;
    /// The action of `kind` the device's previous instance kept under `role`, taken
    /// out of the kept set for `st`, which adopts it (the caller records it in `st`'s
    /// undo list); `None` unless `st` is the device's starting instance, of the
    /// implementation that kept it, and such an action is kept (warm restart).
    fn adopt(&self, st: &InstanceState, kind: Kind, role: u32) -> Option<Action>;
    /// Puts `a`, which [`ServedDevice::adopt`] took out as `role` and the adopter could
    /// not record, back into the kept set (the adoption then fails). Process context,
    /// no lock held.
    fn unadopt(&self, a: Action, role: u32);
    /// Whether the device's kept set still uses `a`, an action of an adopter (a kept
    /// reset record writes into the BAR mapping `a`).
    fn kept_uses(&self, a: &Action) -> bool;
}

/// The framework's state for one instance.
#[pin_data(PinnedDrop)]
pub(crate) struct InstanceState {
    /// The implementation this instance runs.
    pub(crate) desc: *const ImplDesc,
    /// The implementation's name, for logs and `status`.
    pub(crate) impl_name: &'static str,
    /// Counts instances of a device; the first is 1.
    pub(crate) generation: u64,
    /// The device this instance serves (a `device::Device` of some class).
    pub(crate) device: *const (dyn ServedDevice + 'static),
    /// Resources the instance holds. An IRQ-safe lock: callouts run in any context.
    #[pin]
    pub(crate) undo: LockedList,
    /// The driver's private data (set by `ndriver_set_priv`).
    pub(crate) priv_data: AtomicUsize,
    /// An asynchronous entry point (interrupt, timer, work) of this instance failed:
    /// nothing is passed to it any more while its recovery is on the way.
    pub(crate) failed: AtomicBool,
    /// Memory the instance may hold, in bytes (policy `mem_kb` when it started).
    pub(crate) mem_limit: usize,
    /// An allocation was refused for going over `mem_limit`: the instance leaks, and
    /// its next return from an entry point is a failure.
    pub(crate) over_limit: AtomicBool,
    /// The instance handed the framework a value it does not hold (a token, handle or
    /// resource reported twice, stale or forged, a length out of range): its next
    /// return from an entry point is a failure.
    pub(crate) misused: AtomicBool,
    /// The leak or misuse was counted (once per instance, whichever call saw it
    /// first).
    pub(crate) taint_counted: AtomicBool,
    /// The instance runs `adopt` (warm restart): the device may still write the
    /// coherent buffers it adopts, so a buffer it gives back meanwhile (a driver's
    /// error path dropping what it adopted) stays held until the instance is undone,
    /// after DMA is stopped if the adoption fails.
    pub(crate) adopting: AtomicBool,
    /// The instance runs its orderly `remove`, which stops the device itself: the one
    /// time it may drop its last recorded reset while it still has block requests
    /// mapped for the device (`ndriver_io_reset_cancel`).
    pub(crate) removing: AtomicBool,
}

// SAFETY: `desc` and `device` point at objects that outlive the instance (a registered
// descriptor is withdrawn only after the device stopped using it; the device owns the
// instance); everything mutable is behind a lock or atomic.
unsafe impl Send for InstanceState {}
// SAFETY: through a `&InstanceState`, `desc` and `device` are only read (their targets
// outlive the instance; the device is `Sync`), and everything mutable is behind a lock or
// an atomic.
unsafe impl Sync for InstanceState {}

impl InstanceState {
    /// A fresh instance of `desc` for `device`; nothing recorded yet, its undo list in
    /// `undo_room` (emptied; see `ActionList::into_storage`).
    pub(crate) fn new(
        desc: *const ImplDesc,
        impl_name: &'static str,
        generation: u64,
        device: *const (dyn ServedDevice + 'static),
        mem_limit: usize,
        undo_room: KVec<Action>,
    ) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            desc,
            impl_name,
            generation,
            device,
            undo <- LockedList::new(undo_room),
            priv_data: AtomicUsize::new(0),
            failed: AtomicBool::new(false),
            mem_limit,
            over_limit: AtomicBool::new(false),
            misused: AtomicBool::new(false),
            taint_counted: AtomicBool::new(false),
            adopting: AtomicBool::new(false),
            removing: AtomicBool::new(false),
        })
    }

    /// The opaque handle the driver sees: the instance's address with [`HANDLE_MASK`]
    /// flipped, which the driver cannot dereference.
    pub(crate) fn handle(&self) -> *mut abi::Instance {
        (core::ptr::from_ref(self) as usize ^ HANDLE_MASK) as *mut abi::Instance
    }

    /// Enters the instance in the table of live handles; until then callouts refuse its
    /// handle. Fails when the table is full.
    pub(crate) fn make_live(self: Pin<&Self>) -> Result {
        let me = core::ptr::from_ref(self.get_ref()).cast_mut();
        let start = live_hint(me);
        for i in 0..MAX_LIVE {
            let slot = &LIVE[(start + i) % MAX_LIVE];
            // INVARIANT: `me` is pinned and alive; its drop removes it.
            if slot
                .compare_exchange(
                    core::ptr::null_mut(),
                    me,
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                )
                .is_ok()
            {
                return Ok(());
            }
        }
        Err(ENOSPC)
    }

    /// The framework's state behind a handle the driver passed, or `None` (counted in
    /// [`FORGED_HANDLES`]) when it is not the handle of a live instance.
    ///
    /// # Safety
    ///
    /// The caller is a callout: the instance whose code called it is not freed before
    /// the callout returns. (A driver that passes another live instance's handle is not
    /// told apart.)
    pub(crate) unsafe fn from_handle<'a>(inst: *mut abi::Instance) -> Option<&'a Self> {
        let p = (inst as usize ^ HANDLE_MASK) as *mut Self;
        let start = live_hint(p);
        for i in 0..MAX_LIVE {
            if LIVE[(start + i) % MAX_LIVE].load(Ordering::Acquire) == p {
                // SAFETY: `p` is in `LIVE`, so it is a live, pinned instance (invariant),
                // not freed before the callout returns (the caller's contract).
                return Some(unsafe { &*p });
            }
        }
        if FORGED_HANDLES.fetch_add(1, Ordering::Relaxed) < 10 {
            pr_warn!(
                "a callout was passed {:#x}, which is no live instance's handle\n",
                inst as usize
            );
        }
        None
    }

    /// The device this instance serves.
    pub(crate) fn device(&self) -> &dyn ServedDevice {
        // SAFETY: the device owns the instance and outlives it.
        unsafe { &*self.device }
    }

    /// A callout refused a value from this instance (`what` says which): the instance
    /// fails when its entry point returns. Logs the first refusal.
    pub(crate) fn misuse(&self, what: core::fmt::Arguments<'_>) {
        if !self.misused.swap(true, Ordering::AcqRel) {
            pr_warn!(
                "{} (generation {}): {}: failing the instance\n",
                self.impl_name,
                self.generation,
                what
            );
        }
    }

    /// The driver's private data.
    pub(crate) fn priv_data(&self) -> usize {
        self.priv_data.load(Ordering::Acquire)
    }
}

#[pinned_drop]
impl PinnedDrop for InstanceState {
    fn drop(self: Pin<&mut Self>) {
        let me = core::ptr::from_ref::<Self>(&self).cast_mut();
        let start = live_hint(me);
        for i in 0..MAX_LIVE {
            let slot = &LIVE[(start + i) % MAX_LIVE];
            if slot
                .compare_exchange(
                    me,
                    core::ptr::null_mut(),
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                )
                .is_ok()
            {
                return;
            }
        }
    }
}
