// SPDX-License-Identifier: GPL-2.0

//! The devices ndriver serves, created at load: `testdev0` (the guarded test device)
//! and one placeholder per further class.
//!
//! To add a device of a new class: create it with `Device::<C>::new` in an `Arc`,
//! keep the `Arc` in a field of [`Devices`] (for typed access) and hand it to
//! [`Devices::add`], which publishes it to the registry's hooks and gives it a
//! debugfs directory.
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

/// Most devices.
const MAX_DEVICES: usize = 8;

/// A device as the registry hooks and debugfs see it.
#[derive(Clone, Copy)]
pub(crate) struct DevRef(*const dyn DeviceApi);

// SAFETY: the device behind it is `Send + Sync` (`DeviceApi`'s bounds) and outlives
// every `DevRef` (see `DevRef::get`).
unsafe impl Send for DevRef {}
// SAFETY: as above.
unsafe impl Sync for DevRef {}

impl DevRef {
    /// The device.
    pub(crate) fn get(&self) -> &dyn DeviceApi {
        // SAFETY: a `DevRef` is made from a device `Devices` keeps in an `Arc`; it is
        // used only by debugfs files (removed before `Devices` drops) and by the
        // registry hooks (unpublished before then).
        unsafe { &*self.0 }
    }
}

/// The published device list (a `KVec<DevRef>` owned by `Devices`), NULL when none.
static LIST: AtomicPtr<KVec<DevRef>> = AtomicPtr::new(core::ptr::null_mut());

/// Owns the devices; dropping it stops them.
pub(crate) struct Devices {
    _testdev0: Arc<TestDev>,
    _nic0: Arc<NicDev>,
    _ndblk0: Arc<BlkDevice>,
    list: KBox<KVec<DevRef>>,
}

impl Devices {
    pub(crate) fn new() -> Result<Self> {
        let testdev0 = Arc::pin_init(
            Device::new(
                c"testdev0",
                c"ndriver-testdev0",
                try_pin_init!(Testdev {}? Error),
            ),
            GFP_KERNEL,
        )?;
        let nic0 = nic::create(c"ndeth0")?;
        let ndblk0 = blk::create(
            c"ndblk0",
            <crate::Ndriver as kernel::ModuleMetadata>::THIS_MODULE.as_ptr(),
        )?;
        let mut d = Self {
            _testdev0: testdev0.clone(),
            _nic0: nic0.clone(),
            _ndblk0: ndblk0.clone(),
            list: KBox::new(KVec::new(), GFP_KERNEL)?,
        };
        d.add(&testdev0)?;
        d.add(&nic0)?;
        d.add(&ndblk0)?;
        d.publish();
        Ok(d)
    }

    /// Adds `dev` to the devices the registry hooks and debugfs see.
    pub(crate) fn add<C: Class>(&mut self, dev: &Arc<Device<C>>) -> Result {
        if self.list.len() >= MAX_DEVICES {
            return Err(ENOSPC);
        }
        let p: *const dyn DeviceApi = core::ptr::from_ref::<Device<C>>(dev);
        self.list.push(DevRef(p), GFP_KERNEL)?;
        Ok(())
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
