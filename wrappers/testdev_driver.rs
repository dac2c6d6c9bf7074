// SPDX-License-Identifier: GPL-2.0

//! The safe layer a `testdev` implementation is written against.
//!
//! A driver implements [`TestdevDriver`] in ordinary Rust and invokes
//! [`testdev_implementation!`]; the macro builds the `#[repr(C)]` operation table and
//! descriptor (`abi.rs`) and registers them at `insmod`. The driver's state lives in
//! memory taken through the callouts, so the framework can reclaim it after a fault
//! without running the driver's destructors.
//!
//! This file holds what a driver is written against: [`TestdevDriver`] and
//! [`testdev_implementation!`], and re-exports `driver_dev`'s handles. Its parts,
//! compiled in below with `#[path]`:
//!
//! - `testdev_glue.rs`: the entry functions of the operation table (`glue`), which the
//!   macro names, with `driver_dev`'s `probe` and `remove` (`driver_slot.rs`) and
//!   `devirq`, `timer` and `work` (`driver_events.rs`). They raise the faults `inject
//!   ... entry=` asks for at the top of each entry (`entry_faults.rs`), so the driver's
//!   methods hold only driver logic.
//!
//! Compiled into each implementation module with `#[path]`, after `abi`,
//! `callouts_api`, `driver_dev` and `driver_lock`.

use crate::abi::{PciId, TestdevEntry};
use crate::driver_lock::DriverLock;
use kernel::error::VTABLE_DEFAULT_ERROR;
use kernel::prelude::*;

pub(crate) use crate::driver_dev::*;

#[path = "testdev_glue.rs"]
pub(crate) mod glue;

/// A `testdev` implementation. Every method runs under a guard; `state` is the driver's
/// own mutable state ([`TestdevDriver::State`]) behind the instance's IRQ-safe lock (an
/// injected `deadlock` takes that lock twice, for real). `configure`, `devirq`, `timer`
/// and `work` are optional (`#[vtable]`): without `configure` every key is refused
/// (`EINVAL`); without `devirq` an interrupt on the line is never the device's ("not
/// mine"); a timer or work item the driver arms without `timer` or `work` fails the
/// instance when it runs. A fault injected at an absent method's entry is not raised.
#[vtable]
pub(crate) trait TestdevDriver: Sized + Send + Sync {
    /// The PCI functions this implementation drives, as `pci::Driver::ID_TABLE` says
    /// it for a kernel driver (`abi::PciId`; `&[]` for none). While the device has a
    /// function attached, only implementations that list it serve the device; a
    /// function no implementation of the class lists cannot be attached.
    const PCI_IDS: &'static [PciId];

    /// What the driver changes while it runs, behind the instance's lock; `Default` when
    /// the instance starts. What `probe` sets up once goes into `Self` instead.
    ///
    /// It lives, as `Self` does, in callout memory and is dropped only when an orderly
    /// `remove` returns (`free_slot`). An instance that fails (its `probe` returns an
    /// error, or the framework detects a failure in any entry point, `remove`'s included)
    /// is undone by its undo list, which frees that memory without running any destructor:
    /// whatever the two own outside the framework's resources (a `KBox` or `KVec` from the
    /// kernel's allocator, rather than [`Dev::alloc`] memory) then leaks.
    type State: Default + Send;

    /// Starts an instance.
    fn probe(dev: &Dev, state: &DriverLock<Self::State>) -> Result<Self>;
    /// Sets configuration item `key` to `value`. `Err(EINVAL)` refuses the key or value
    /// (the caller's answer, not a failure); any other error is a failure.
    fn configure(
        &self,
        _dev: &Dev,
        _state: &DriverLock<Self::State>,
        _key: u32,
        _value: u64,
    ) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// A request with argument `arg`, arriving through `entry`: [`TestdevEntry::Op`] in
    /// process context, [`TestdevEntry::Tick`] in softirq context,
    /// [`TestdevEntry::Irq`] in hardirq context. Returns the answer (not negative), or an
    /// error, which fails the call.
    fn request(
        &self,
        dev: &Dev,
        state: &DriverLock<Self::State>,
        entry: TestdevEntry,
        arg: u64,
    ) -> Result<i64>;
    /// The device's interrupt (`irq`, after [`Dev::request_irq`]): `true` if it was this
    /// device's.
    fn devirq(&self, _dev: &Dev, _state: &DriverLock<Self::State>, _irq: u64) -> Result<bool> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// A timer from [`Dev::timer`] expired (softirq context).
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

/// Defines the operation table and descriptor of `testdev` implementation `$t` named
/// `$name`, and the module that registers it.
macro_rules! testdev_implementation {
    (type: $t:ty, name: $name:literal, module: $module:literal, description: $desc:literal $(,)?) => {
        static OPS: abi::TestdevOps = abi::TestdevOps {
            probe: driver_dev::slot::probe::<testdev_driver::glue::Adapter<$t>>,
            configure: testdev_driver::glue::configure::<$t>,
            op: testdev_driver::glue::op::<$t>,
            tick: testdev_driver::glue::tick::<$t>,
            irq: testdev_driver::glue::irq::<$t>,
            remove: driver_dev::slot::remove::<testdev_driver::glue::Adapter<$t>>,
            devirq: driver_dev::events::devirq::<testdev_driver::glue::Adapter<$t>>,
            timer: driver_dev::events::timer::<testdev_driver::glue::Adapter<$t>>,
            work: driver_dev::events::work::<testdev_driver::glue::Adapter<$t>>,
        };
        driver_dev::implementation_module! {
            class: c"testdev",
            ops: OPS,
            pci_ids: <$t as testdev_driver::TestdevDriver>::PCI_IDS,
            name: $name,
            module: $module,
            description: $desc,
        }
    };
}
pub(crate) use testdev_implementation;
