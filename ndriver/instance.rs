// SPDX-License-Identifier: GPL-2.0

//! One running instance of an implementation: the framework's side of it.
//!
//! The address of an [`InstanceState`] is the opaque `*mut abi::Instance` handle the
//! driver receives in every entry point and passes back to the callouts. It owns the
//! instance's undo action list and its private-data pointer; the driver owns nothing
//! the framework cannot take back.

use crate::abi::{self, ImplDesc};
use crate::action_list::ActionList;
use crate::device::DeviceApi;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use kernel::new_spinlock_irq;
use kernel::prelude::*;
use kernel::sync::SpinLockIrq;

/// The framework's state for one instance.
#[pin_data]
pub(crate) struct InstanceState {
    /// The implementation this instance runs.
    pub(crate) desc: *const ImplDesc,
    /// The implementation's name, for logs and `status`.
    pub(crate) impl_name: &'static str,
    /// Counts instances of a device; the first is 1.
    pub(crate) generation: u64,
    /// The device this instance serves (a `device::Device` of some class).
    pub(crate) device: *const (dyn DeviceApi + 'static),
    /// Resources the instance holds. An IRQ-safe lock: callouts run in any context.
    #[pin]
    pub(crate) undo: SpinLockIrq<ActionList>,
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
}

// SAFETY: `desc` and `device` point at objects that outlive the instance (a registered
// descriptor is withdrawn only after the device stopped using it; the device owns the
// instance); everything mutable is behind a lock or atomic.
unsafe impl Send for InstanceState {}
// SAFETY: as above.
unsafe impl Sync for InstanceState {}

impl InstanceState {
    /// A fresh instance of `desc` for `device`; nothing recorded yet.
    pub(crate) fn new(
        desc: *const ImplDesc,
        impl_name: &'static str,
        generation: u64,
        device: *const (dyn DeviceApi + 'static),
        mem_limit: usize,
    ) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            desc,
            impl_name,
            generation,
            device,
            undo <- new_spinlock_irq!(ActionList::new(), "ndriver_undo"),
            priv_data: AtomicUsize::new(0),
            failed: AtomicBool::new(false),
            mem_limit,
            over_limit: AtomicBool::new(false),
            misused: AtomicBool::new(false),
            taint_counted: AtomicBool::new(false),
        })
    }

    /// The opaque handle the driver sees.
    pub(crate) fn handle(&self) -> *mut abi::Instance {
        core::ptr::from_ref(self).cast_mut().cast()
    }

    /// The framework's state behind a handle.
    ///
    /// # Safety
    ///
    /// `inst` must be a handle given to the driver by [`Self::handle`] of an instance
    /// that is still alive (the driver only ever has handles of its live instance).
    pub(crate) unsafe fn from_handle<'a>(inst: *mut abi::Instance) -> &'a Self {
        // SAFETY: per this function's contract.
        unsafe { &*inst.cast::<Self>() }
    }

    /// The device this instance serves.
    pub(crate) fn device(&self) -> &dyn DeviceApi {
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
