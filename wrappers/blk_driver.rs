// SPDX-License-Identifier: GPL-2.0

//! The safe layer a block (`blk` class) implementation is written against.
//!
//! A driver implements [`BlkDriver`] in ordinary Rust and invokes
//! [`blk_implementation!`]; the macro builds the `#[repr(C)]` operation table and
//! descriptor (`abi.rs`, `abi_blk.rs`) and registers them at `insmod`. The kernel sees
//! only the framework's placeholder disk (`placeholders/blk.rs`); the driver owns the
//! requests it is given as [`Request`] handles (`queue_rq` gives one, [`Dev::done`]
//! gives it back, `complete` gives it again to be ended with [`Request::end`]) and sees
//! the device through [`Dev`] (the handle and resources of `driver_dev.rs`, with the
//! block callouts of `blk_callouts.rs`). Every resource comes from the callouts and is
//! recorded in the instance's undo list; the driver's state lives in callout memory, so
//! the framework reclaims it after a fault without running the driver's destructors.
//!
//! This file holds what a driver is written against: [`BlkDriver`] and
//! [`blk_implementation!`], and re-exports `driver_dev`'s handles. Its parts, compiled
//! in below with `#[path]`:
//!
//! - `blk_request.rs`: [`Request`], [`Ended`], [`Op`] and [`Done`];
//! - `blk_callouts.rs`: the block callouts on [`Dev`] and [`ResetOnUndo`];
//! - `blk_glue.rs`: the entry functions of the operation table (`glue`), which the macro
//!   names, with `driver_dev`'s `probe` and `remove` (`driver_slot.rs`) and `devirq`,
//!   `timer` and `work` (`driver_events.rs`). They raise the faults `inject ... entry=` asks for at
//!   the top of each entry (`entry_faults.rs`).
//!
//! Compiled into each block implementation module with `#[path]`, after `abi`,
//! `abi_blk`, `callouts_api`, `callouts_api_blk`, `driver_dev` and `driver_lock`.

// Each implementation uses only the parts it needs.
#![allow(dead_code)]

use crate::abi::PciId;
use crate::driver_lock::DriverLock;
use kernel::error::VTABLE_DEFAULT_ERROR;
use kernel::prelude::*;

pub(crate) use crate::driver_dev::*;

#[path = "blk_callouts.rs"]
mod callouts;
#[path = "blk_glue.rs"]
pub(crate) mod glue;
#[path = "blk_request.rs"]
mod request;
// Each implementation uses only some of them.
#[allow(unused_imports)]
pub(crate) use crate::abi_blk::BlkSeg;
#[allow(unused_imports)]
pub(crate) use callouts::{LentRequest, ResetOnUndo, SegRoom};
#[allow(unused_imports)]
pub(crate) use request::{Done, Ended, Op, Request};

/// A block implementation. Every method runs under a guard; `state` is the driver's own
/// mutable state ([`BlkDriver::State`]) behind the instance's IRQ-safe lock (an injected
/// `deadlock` takes that lock twice, for real). `commit_rqs`, `devirq`, `timer`, `work`
/// and `adopt` are optional (`#[vtable]`): without `commit_rqs` every request must be on
/// the device once `queue_rq` returns; without `devirq` no interrupt is taken for the
/// device's; without `timer` (`work`) a timer (work item) the driver nevertheless arms
/// fails the instance; without `adopt` every restart is cold.
#[vtable]
pub(crate) trait BlkDriver: Sized + Send + Sync {
    /// The PCI functions this implementation drives, as `pci::Driver::ID_TABLE` says
    /// it for a kernel driver (`abi::PciId`; `&[]` for none). While the device has a
    /// function attached, only implementations that list it serve the device; a
    /// function no implementation of the class lists cannot be attached.
    const PCI_IDS: &'static [PciId];

    /// What the driver changes while it runs (the [`Request`]s the device holds, ...),
    /// behind the instance's lock; `Default` when the instance starts. What `probe` sets up once
    /// and never changes goes into `Self` instead.
    ///
    /// It lives, as `Self` does, in callout memory and is dropped only when an orderly
    /// `remove` returns (`free_slot`). An instance that fails (its `probe` returns an
    /// error, or the framework detects a failure in any entry point, `remove`'s included)
    /// is undone by its undo list, which frees that memory without running any destructor:
    /// whatever the two own outside the framework's resources (a `KBox` or `KVec` from the
    /// kernel's allocator, rather than [`Dev::alloc`] memory) then leaks.
    type State: Default + Send;

    /// Starts an instance: takes and resets the device, reports the capacity.
    fn probe(dev: &Dev, state: &DriverLock<Self::State>) -> Result<Self>;
    /// Optional (warm restart): starts an instance on the device the implementation's
    /// previous instance left running, from what that one kept ([`Dev::keep_raw`] and
    /// the `keep` of each resource; [`Dev::adopt_raw`] and the `adopt_*` of [`Dev`]),
    /// without resetting the device. Check what is adopted before trusting it; the
    /// requests the dead instance held are issued again by the framework once this
    /// returns, so the device must have given back every one it was given by then. An
    /// error restarts the device cold (`probe`).
    fn adopt(_dev: &Dev, _state: &DriverLock<Self::State>) -> Result<Self> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// Takes `rq`, to keep until the device has finished it ([`Dev::done`]); `last` is
    /// false when more requests follow at once. `Err(EBUSY)`: no room now, ask again
    /// after a completion. Any other error is a failure. After an error the request is
    /// the framework's again (blk-mq dispatches it again): drop `rq`, keep no handle.
    fn queue_rq(
        &self,
        dev: &Dev,
        state: &DriverLock<Self::State>,
        rq: Request,
        last: bool,
    ) -> Result;
    /// Tells the device about requests taken with `last` false.
    fn commit_rqs(&self, _dev: &Dev, _state: &DriverLock<Self::State>) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// The device finished `rq` (the driver gave it back with [`Dev::done`]): copy read
    /// data into it and end it with the device's answer ([`Request::end`]). An error
    /// (or the end of another request) fails the instance; the framework then
    /// re-issues `rq`.
    fn complete(&self, dev: &Dev, state: &DriverLock<Self::State>, rq: Request) -> Result<Ended>;
    /// blk-mq's timer expired for `rq` (lent for the call: the driver's own handle, if
    /// it still has it, is in its state): `true` if it is progressing or was found done.
    fn timeout(&self, dev: &Dev, state: &DriverLock<Self::State>, rq: &Request) -> Result<bool>;
    /// The device's interrupt (`irq`): `true` if it was this device's.
    fn devirq(&self, _dev: &Dev, _state: &DriverLock<Self::State>, _irq: u64) -> Result<bool> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// A timer from [`Dev::timer`] expired.
    fn timer(&self, _dev: &Dev, _state: &DriverLock<Self::State>, _cookie: u64) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// A work item from [`Dev::work`] runs (process context).
    fn work(&self, _dev: &Dev, _state: &DriverLock<Self::State>, _cookie: u64) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// Orderly stop (the state is dropped afterwards).
    fn remove(&self, dev: &Dev, state: &DriverLock<Self::State>);
}

/// Defines the operation table and descriptor of `blk` implementation `$t` named
/// `$name`, and the module that registers it.
macro_rules! blk_implementation {
    (type: $t:ty, name: $name:literal, module: $module:literal, description: $desc:literal $(,)?) => {
        static OPS: abi_blk::BlkOps = abi_blk::BlkOps {
            probe: driver_dev::slot::probe::<blk_driver::glue::Adapter<$t>>,
            queue_rq: blk_driver::glue::queue_rq::<$t>,
            commit_rqs: blk_driver::glue::commit_rqs::<$t>,
            complete: blk_driver::glue::complete::<$t>,
            timeout: blk_driver::glue::timeout::<$t>,
            remove: driver_dev::slot::remove::<blk_driver::glue::Adapter<$t>>,
            devirq: driver_dev::events::devirq::<blk_driver::glue::Adapter<$t>>,
            timer: driver_dev::events::timer::<blk_driver::glue::Adapter<$t>>,
            work: driver_dev::events::work::<blk_driver::glue::Adapter<$t>>,
            adopt: if <$t as blk_driver::BlkDriver>::HAS_ADOPT {
                Some(driver_dev::slot::adopt::<blk_driver::glue::Adapter<$t>>)
            } else {
                None
            },
        };
        driver_dev::implementation_module! {
            class: c"blk",
            ops: OPS,
            pci_ids: <$t as blk_driver::BlkDriver>::PCI_IDS,
            name: $name,
            module: $module,
            description: $desc,
        }
    };
}
pub(crate) use blk_implementation;
