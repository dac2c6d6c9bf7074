// SPDX-License-Identifier: GPL-2.0

//! The devices ndriver serves. For now one `testdev` placeholder, `testdev0`, created
//! at load; the NIC and block placeholders will join it here.

use crate::abi::ImplDesc;
use crate::testdev::TestDev;
use core::sync::atomic::{AtomicPtr, Ordering};
use kernel::prelude::*;
use kernel::sync::Arc;

/// `testdev0`, published for the registry's hooks (NULL when not created).
static TESTDEV0: AtomicPtr<TestDev> = AtomicPtr::new(core::ptr::null_mut());

/// Owns the devices; dropping it stops them.
pub(crate) struct Devices {
    pub(crate) testdev0: Arc<TestDev>,
}

impl Devices {
    pub(crate) fn new() -> Result<Self> {
        let testdev0 = Arc::pin_init(TestDev::new("testdev0", c"ndriver-testdev0"), GFP_KERNEL)?;
        TESTDEV0.store(
            core::ptr::from_ref::<TestDev>(&testdev0).cast_mut(),
            Ordering::Release,
        );
        Ok(Self { testdev0 })
    }
}

impl Drop for Devices {
    fn drop(&mut self) {
        TESTDEV0.store(core::ptr::null_mut(), Ordering::Release);
        self.testdev0.shutdown();
    }
}

fn testdev0() -> Option<&'static TestDev> {
    let p = TESTDEV0.load(Ordering::Acquire);
    // SAFETY: set while `Devices` holds the `Arc`; implementation modules (the only
    // callers, through the registry) cannot outlive ndriver.ko, whose exit clears it
    // after they are gone.
    unsafe { p.as_ref() }
}

/// An implementation of `class` registered.
pub(crate) fn on_register(class: &str, desc: *const ImplDesc) {
    if class == "testdev" {
        if let Some(d) = testdev0() {
            d.on_register(desc);
        }
    }
}

/// An implementation of `class` is being withdrawn.
pub(crate) fn on_unregister(class: &str, desc: *const ImplDesc) {
    if class == "testdev" {
        if let Some(d) = testdev0() {
            d.on_unregister(desc);
        }
    }
}
