// SPDX-License-Identifier: GPL-2.0

//! The devices ndriver serves, created at load: `testdev0` (the guarded test device),
//! `nics=` NIC placeholders (`nic0`/`ndeth0` onwards) and `disks=` block placeholders
//! (`ndblk0` onwards), one each by default.
//!
//! To add a device of a new class: create it with `Device::<C>::new` in an `Arc`,
//! hand it to `Devices::add`, which publishes it to the registry's hooks and gives
//! it a debugfs directory, and keep the `Arc` in a field of [`Devices`].
//!
//! [`Devices`] owns the devices and subscribes to the registry (`registry.rs`), which
//! tells it of each implementation that comes or goes; it passes that on to the
//! devices of the implementation's class. The registry does not know devices.

use crate::abi::ImplDesc;
use crate::device::{Class, Device, DeviceApi};
use crate::placeholders::blk::{self, BlkDevice};
use crate::placeholders::nic::{self, NicDev};
use crate::placeholders::testdev::{TestDev, Testdev};
use crate::registry::{self, Subscriber};
use core::sync::atomic::{AtomicPtr, Ordering};
use kernel::prelude::*;
use kernel::sync::Arc;

/// Most devices of one class (`nics=` and `disks=` at load).
pub(crate) const MAX_PER_CLASS: u32 = 4;

/// Most devices: `testdev0` and the most of each class.
const MAX_DEVICES: usize = 1 + 2 * MAX_PER_CLASS as usize;

/// Per NIC: debugfs and log name, interface name, interrupt name.
const NIC_NAMES: [(&CStr, &CStr, &CStr); MAX_PER_CLASS as usize] = [
    (c"nic0", c"ndeth0", c"ndriver-nic0"),
    (c"nic1", c"ndeth1", c"ndriver-nic1"),
    (c"nic2", c"ndeth2", c"ndriver-nic2"),
    (c"nic3", c"ndeth3", c"ndriver-nic3"),
];

/// Per disk: debugfs, log and disk name, interrupt name.
const DISK_NAMES: [(&CStr, &CStr); MAX_PER_CLASS as usize] = [
    (c"ndblk0", c"ndriver-ndblk0"),
    (c"ndblk1", c"ndriver-ndblk1"),
    (c"ndblk2", c"ndriver-ndblk2"),
    (c"ndblk3", c"ndriver-ndblk3"),
];

/// A device as the registry hooks and debugfs see it.
///
/// # Invariants
///
/// `self.0` points to a device that [`Devices`] keeps in an `Arc` (in `_testdev0`,
/// `_nics` or `_disks`): only `Devices::add` makes a `DevRef`, from the `Arc` that
/// `Devices::new` then keeps (into room reserved beforehand, so that push cannot fail).
/// Every copy is out of use before `Devices` drops those `Arc`s: the copies in
/// `Devices::list` are unpublished (`LIST` cleared) first thing in `Devices::drop`,
/// and the debugfs files that hold the others are removed before the devices drop
/// (the crate root's field order).
#[derive(Clone, Copy)]
pub(crate) struct DevRef(*const dyn DeviceApi);

// SAFETY: the device behind it is `Send + Sync` (`DeviceApi`'s bounds) and outlives
// every `DevRef` (see `DevRef::get`).
unsafe impl Send for DevRef {}
// SAFETY: sharing a `DevRef` shares only `&dyn DeviceApi`, which is `Sync` by
// `DeviceApi`'s bounds, and the device outlives it (see `DevRef::get`).
unsafe impl Sync for DevRef {}

impl DevRef {
    /// The device.
    pub(crate) fn get(&self) -> &dyn DeviceApi {
        // SAFETY: a `DevRef` is made from a device `Devices` keeps in an `Arc`; it is
        // used only by debugfs files (removed before `Devices` drops) and by the
        // registry hooks (unpublished before then) (type invariant).
        unsafe { &*self.0 }
    }
}

/// The published device list (a `KVec<DevRef>` owned by `Devices`), NULL when none.
static LIST: AtomicPtr<KVec<DevRef>> = AtomicPtr::new(core::ptr::null_mut());

/// Owns the devices; dropping it stops them.
pub(crate) struct Devices {
    _testdev0: Option<Arc<TestDev>>,
    _nics: KVec<Arc<NicDev>>,
    _disks: KVec<Arc<BlkDevice>>,
    list: KBox<KVec<DevRef>>,
}

impl Devices {
    /// `testdev0`, `nics` NIC placeholders and `disks` block placeholders, owned by
    /// `module` (ndriver itself: the disks' operations pin it). `EINVAL` when either
    /// count is above [`MAX_PER_CLASS`].
    pub(crate) fn new(module: &'static ThisModule, nics: u32, disks: u32) -> Result<Self> {
        if nics > MAX_PER_CLASS || disks > MAX_PER_CLASS {
            pr_err!(
                "nics={} disks={}: each may be 0 to {}\n",
                nics,
                disks,
                MAX_PER_CLASS
            );
            return Err(EINVAL);
        }
        // Filled as devices are made: a failure part way drops `d`, which stops the
        // devices made so far.
        let mut d = Self {
            _testdev0: None,
            _nics: KVec::with_capacity(nics as usize, GFP_KERNEL)?,
            _disks: KVec::with_capacity(disks as usize, GFP_KERNEL)?,
            list: KBox::new(KVec::with_capacity(MAX_DEVICES, GFP_KERNEL)?, GFP_KERNEL)?,
        };
        let testdev0 = Arc::pin_init(
            Device::new(
                c"testdev0",
                c"ndriver-testdev0",
                try_pin_init!(Testdev {}? Error),
            ),
            GFP_KERNEL,
        )?;
        d.add(&testdev0)?;
        d._testdev0 = Some(testdev0);
        for &(name, ifname, irq) in NIC_NAMES.iter().take(nics as usize) {
            let nic = nic::create(name, ifname, irq)?;
            d.add(&nic)?;
            d._nics.push(nic, GFP_KERNEL)?;
        }
        for &(name, irq) in DISK_NAMES.iter().take(disks as usize) {
            let disk = blk::create(name, irq, module.as_ptr())?;
            d.add(&disk)?;
            d._disks.push(disk, GFP_KERNEL)?;
        }
        d.publish();
        Ok(d)
    }

    /// Adds `dev` to the devices the registry hooks and debugfs see; a device that
    /// cannot be added is stopped.
    fn add<C: Class>(&mut self, dev: &Arc<Device<C>>) -> Result {
        let p: *const dyn DeviceApi = core::ptr::from_ref::<Device<C>>(dev);
        let r = if self.list.len() >= MAX_DEVICES {
            Err(ENOSPC)
        } else {
            // INVARIANT: `p` is the device in `dev`'s `Arc`, which `new` keeps in a field
            // of `self`.
            self.list.push(DevRef(p), GFP_KERNEL).map_err(Error::from)
        };
        if r.is_err() {
            DeviceApi::shutdown(&**dev);
        }
        r
    }

    fn publish(&mut self) {
        LIST.store(core::ptr::from_mut(&mut *self.list), Ordering::Release);
        registry::subscribe(Subscriber {
            registered: on_register,
            withdrawn: on_unregister,
        });
    }

    /// The devices, in creation order.
    pub(crate) fn all(&self) -> &[DevRef] {
        &self.list
    }
}

impl Drop for Devices {
    fn drop(&mut self) {
        LIST.store(core::ptr::null_mut(), Ordering::Release);
        // Newest first.
        for d in self.list.iter().rev() {
            d.get().shutdown();
        }
    }
}

/// Runs `f` on each device of `class`.
fn for_class(class: &str, f: impl Fn(&dyn DeviceApi)) {
    let p = LIST.load(Ordering::Acquire);
    // SAFETY: published while `Devices` owns the list; implementation modules (the only
    // callers, through the registry) cannot outlive ndriver.ko, whose exit clears it
    // after they are gone.
    let Some(list) = (unsafe { p.as_ref() }) else {
        return;
    };
    for d in list.iter() {
        let dev = d.get();
        if dev.class_name() == class {
            f(dev);
        }
    }
}

/// An implementation of `class` registered.
fn on_register(class: &str, desc: *const ImplDesc) {
    for_class(class, |d| d.on_register(desc));
}

/// An implementation of `class` is being withdrawn.
fn on_unregister(class: &str, desc: *const ImplDesc) {
    for_class(class, |d| d.on_unregister(desc));
}
