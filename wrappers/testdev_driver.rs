// SPDX-License-Identifier: GPL-2.0

//! The safe layer a `testdev` implementation is written against.
//!
//! A driver implements [`TestdevDriver`] in ordinary Rust and invokes
//! [`testdev_implementation!`]; the macro builds the `#[repr(C)]` operation table and
//! descriptor (`abi.rs`) and registers them at `insmod`. The driver's state lives in
//! memory taken through the callouts, so the framework can reclaim it after a fault
//! without running the driver's destructors. Every entry function of the table raises
//! the fault `inject ... entry=` asks for first (`entry_faults.rs`), so the driver's
//! methods hold only driver logic. Compiled into each implementation module with
//! `#[path]`, after `abi`, `callouts_api`, `driver_dev` and `driver_lock`.

use crate::abi::{Instance, PciId, TestdevEntry};
use crate::callouts_api as api;
use crate::driver_lock::DriverLock;
use core::ptr;
use kernel::ffi::{c_int, c_void};
use kernel::prelude::*;

pub(crate) use crate::driver_dev::*;

#[path = "entry_faults.rs"]
mod entry_faults;

/// A `testdev` implementation. Every method runs under a guard.
pub(crate) trait TestdevDriver: Sized + Send + Sync {
    /// The PCI functions this implementation drives, as `pci::Driver::ID_TABLE` says
    /// it for a kernel driver (`abi::PciId`; `&[]` for none). While the device has a
    /// function attached, only implementations that list it serve the device; a
    /// function no implementation of the class lists cannot be attached.
    const PCI_IDS: &'static [PciId];

    /// Starts an instance. `lock` is a spinlock of the instance's own (an injected
    /// `deadlock` takes it twice, for real).
    fn probe(dev: &Dev, lock: &DriverLock<u64>) -> Result<Self>;
    /// Sets a configuration item.
    fn configure(&self, dev: &Dev, lock: &DriverLock<u64>, key: u32, value: u64) -> Result;
    /// A request or event, arriving through `entry`: [`TestdevEntry::Op`] in process
    /// context, [`TestdevEntry::Tick`] in softirq context, [`TestdevEntry::Irq`] in
    /// hardirq context; and the events of resources the driver took:
    /// [`TestdevEntry::DevIrq`] (the device interrupted; `arg` is the IRQ; return 1 if
    /// it was this device's), [`TestdevEntry::Timer`] and [`TestdevEntry::Work`]
    /// (`arg` is the cookie).
    fn request(
        &self,
        dev: &Dev,
        lock: &DriverLock<u64>,
        entry: TestdevEntry,
        arg: u64,
    ) -> Result<i64>;
    /// Orderly stop (the state is dropped afterwards).
    fn remove(&self, dev: &Dev, lock: &DriverLock<u64>);
}

/// The driver's state, in callout memory.
#[pin_data]
struct Slot<T> {
    #[pin]
    lock: DriverLock<u64>,
    data: Option<T>,
}

/// The state of the instance behind `inst`, if probed.
///
/// # Safety
///
/// `inst` must be a live instance whose private data is NULL or a `Slot<T>`.
unsafe fn slot<'a, T>(inst: *mut Instance) -> Option<&'a Slot<T>> {
    // SAFETY: per this function's contract.
    let p = unsafe { api::ndriver_get_priv(inst) }.cast::<Slot<T>>();
    // SAFETY: set by `probe` below to an initialised `Slot<T>` that lives until
    // `remove` (or the framework's undo after a fault, after which no call comes).
    unsafe { p.as_ref() }
}

/// The driver's handle for the instance an entry point was called for.
fn dev_of(inst: *mut Instance) -> Dev {
    // SAFETY: the glue's entry points are called by the framework with their live
    // instance only, and each uses the handle only during its call.
    unsafe { Dev::from_handle(inst) }
}

fn ret(r: Result<i64>) -> i64 {
    match r {
        Ok(v) => v,
        Err(e) => e.to_errno() as i64,
    }
}

/// # Safety
///
/// Called by the framework only, with a live instance (so for every `extern "C"` below).
pub(crate) unsafe extern "C" fn probe<T: TestdevDriver>(inst: *mut Instance) -> c_int {
    let size = core::mem::size_of::<Slot<T>>();
    // SAFETY: `inst` is live; the block is recorded in its undo list.
    let mem = unsafe { api::ndriver_alloc(inst, size, 0) }.cast::<Slot<T>>();
    if mem.is_null() {
        return ENOMEM.to_errno();
    }
    let lock = DriverLock::new(kernel::new_spinlock_irq!(0u64, "testdev_driver_lock"));
    // SAFETY: `mem` is a fresh, suitably aligned block of the right size; the lock is
    // pinned there for the block's life. `data` is written before anyone reads it.
    unsafe {
        if lock.__init(&raw mut (*mem).lock).is_err() {
            api::ndriver_free(inst, mem.cast());
            return ENOMEM.to_errno();
        }
        ptr::write(&raw mut (*mem).data, None);
        api::ndriver_set_priv(inst, mem.cast::<c_void>());
    }
    let dev = dev_of(inst);
    // SAFETY: `mem` is initialised above.
    let s = unsafe { &mut *mem };
    if let Err(e) = entry_faults::raise(&dev, TestdevEntry::Probe, &s.lock) {
        return e.to_errno();
    }
    match T::probe(&dev, &s.lock) {
        Ok(d) => {
            s.data = Some(d);
            0
        }
        Err(e) => e.to_errno(),
    }
}

macro_rules! entry {
    ($name:ident, $entry:expr) => {
        /// # Safety
        ///
        /// Called by the framework only, with a live, probed instance.
        pub(crate) unsafe extern "C" fn $name<T: TestdevDriver>(
            inst: *mut Instance,
            arg: u64,
        ) -> i64 {
            // SAFETY: the framework calls entry points only on probed instances.
            let probed = unsafe { slot::<T>(inst) };
            let Some(Slot {
                lock,
                data: Some(d),
            }) = probed
            else {
                return ENODEV.to_errno() as i64;
            };
            let dev = dev_of(inst);
            ret(entry_faults::raise(&dev, $entry, lock)
                .and_then(|()| d.request(&dev, lock, $entry, arg)))
        }
    };
}
entry!(op, TestdevEntry::Op);
entry!(tick, TestdevEntry::Tick);
entry!(irq, TestdevEntry::Irq);
entry!(devirq, TestdevEntry::DevIrq);
entry!(timer, TestdevEntry::Timer);
entry!(work, TestdevEntry::Work);

/// # Safety
///
/// Called by the framework only, with a live, probed instance.
pub(crate) unsafe extern "C" fn configure<T: TestdevDriver>(
    inst: *mut Instance,
    key: u32,
    value: u64,
) -> c_int {
    // SAFETY: the framework calls entry points only on probed instances.
    let probed = unsafe { slot::<T>(inst) };
    let Some(Slot {
        lock,
        data: Some(d),
    }) = probed
    else {
        return ENODEV.to_errno();
    };
    let dev = dev_of(inst);
    match entry_faults::raise(&dev, TestdevEntry::Configure, lock)
        .and_then(|()| d.configure(&dev, lock, key, value))
    {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// # Safety
///
/// Called by the framework only, with a live instance, for an orderly stop.
pub(crate) unsafe extern "C" fn remove<T: TestdevDriver>(inst: *mut Instance) {
    // SAFETY: `inst` is live; its private data is NULL or our `Slot<T>`.
    let p = unsafe { api::ndriver_get_priv(inst) }.cast::<Slot<T>>();
    if p.is_null() {
        return;
    }
    // SAFETY: `p` is the initialised slot, live until it is dropped below.
    let s = unsafe { &*p };
    if let Some(d) = &s.data {
        let dev = dev_of(inst);
        // A fault here is contained like any other; the framework then undoes.
        let _ = entry_faults::raise(&dev, TestdevEntry::Remove, &s.lock);
        d.remove(&dev, &s.lock);
    }
    // SAFETY: `p` is the initialised slot, no longer borrowed; nothing else runs on this
    // instance during an orderly remove, so it is ours to drop and free.
    unsafe {
        ptr::drop_in_place(p);
        api::ndriver_set_priv(inst, ptr::null_mut());
        api::ndriver_free(inst, p.cast());
    }
}

/// Defines the operation table and descriptor of `testdev` implementation `$t` named
/// `$name`, and the module that registers it.
macro_rules! testdev_implementation {
    (type: $t:ty, name: $name:literal, module: $module:literal, description: $desc:literal $(,)?) => {
        static OPS: abi::TestdevOps = abi::TestdevOps {
            probe: testdev_driver::probe::<$t>,
            configure: testdev_driver::configure::<$t>,
            op: testdev_driver::op::<$t>,
            tick: testdev_driver::tick::<$t>,
            irq: testdev_driver::irq::<$t>,
            remove: testdev_driver::remove::<$t>,
            devirq: testdev_driver::devirq::<$t>,
            timer: testdev_driver::timer::<$t>,
            work: testdev_driver::work::<$t>,
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
