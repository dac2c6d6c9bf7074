// SPDX-License-Identifier: GPL-2.0

//! `vblk-b`: a guarded virtio block driver of the simplest kind.
//!
//! Design: one request on the device at a time (queue depth 1: a second one is
//! refused with `EBUSY` and re-dispatched by the framework after the first one
//! completed), no interrupts: a timer polls the used ring while a request is on the
//! device, through the legacy interface (`virtio_legacy.rs`). Shares the split
//! virtqueue (`virtio_ring.rs`) and the request layout (`virtio_blk.rs`) with `vblk-a`,
//! which uses the modern interface; the hardware half is `vblk_b_hw.rs`. Holds no fault-injection code: the glue
//! (`blk_driver.rs`) raises a fault injected at an entry point before the driver's
//! method runs (`entry_faults.rs`).

use crate::driver_lock::DriverLock;
use kernel::prelude::*;

#[path = "../ndriver/abi.rs"]
mod abi;
#[path = "../ndriver/abi_blk.rs"]
mod abi_blk;
#[path = "../wrappers/blk_driver.rs"]
mod blk_driver;
#[path = "../wrappers/callouts_api.rs"]
mod callouts_api;
#[path = "../wrappers/callouts_api_blk.rs"]
mod callouts_api_blk;
#[path = "../wrappers/driver_dev.rs"]
mod driver_dev;
#[path = "../wrappers/driver_lock.rs"]
mod driver_lock;
#[path = "vblk_b_hw.rs"]
mod vblk_b_hw;
#[path = "virtio_blk.rs"]
mod virtio_blk;
#[path = "virtio_legacy.rs"]
mod virtio_legacy;
#[path = "virtio_ring.rs"]
mod virtio_ring;

use blk_driver::{BlkDriver, Dev, Ended, Request};
use core::sync::atomic::Ordering;
use vblk_b_hw::{Hw, QueueSlot};

struct VblkB {
    /// The device; `None` while no PCI function is attached (an idle instance).
    hw: Option<Hw>,
}

impl VblkB {
    fn hw(&self) -> Result<&Hw> {
        // No device: requests wait (`EBUSY`) until one is attached.
        self.hw.as_ref().ok_or(EBUSY)
    }
}

#[vtable]
impl BlkDriver for VblkB {
    const PCI_IDS: &'static [abi::PciId] = virtio_legacy::PCI_IDS;

    type State = QueueSlot;

    fn probe(dev: &Dev, _state: &DriverLock<QueueSlot>) -> Result<Self> {
        if !dev.pci_present() {
            pr_info!("vblk-b: generation {}, no device\n", dev.generation());
            return Ok(Self { hw: None });
        }
        let (hw, capacity) = Hw::probe(dev)?;
        dev.set_capacity(capacity)?;
        pr_info!(
            "vblk-b: generation {}, {} sectors\n",
            dev.generation(),
            capacity
        );
        Ok(Self { hw: Some(hw) })
    }

    fn queue_rq(
        &self,
        dev: &Dev,
        state: &DriverLock<QueueSlot>,
        rq: Request,
        _last: bool,
    ) -> Result {
        self.hw()?.submit(dev, state, rq)
    }

    fn complete(&self, dev: &Dev, state: &DriverLock<QueueSlot>, rq: Request) -> Result<Ended> {
        self.hw()?.finish(dev, state, rq)
    }

    fn timeout(&self, dev: &Dev, state: &DriverLock<QueueSlot>, rq: &Request) -> Result<bool> {
        let hw = self.hw()?;
        hw.poll(dev, state)?;
        Ok(!hw.holds(state, rq.tag()))
    }

    fn timer(&self, dev: &Dev, state: &DriverLock<QueueSlot>, _cookie: u64) -> Result {
        match self.hw.as_ref() {
            Some(hw) => hw.poll(dev, state),
            None => Ok(()),
        }
    }

    fn remove(&self, _dev: &Dev, _state: &DriverLock<QueueSlot>) {
        if let Some(hw) = self.hw.as_ref() {
            hw.reset();
            pr_info!(
                "vblk-b: removed after {} requests\n",
                hw.completed.load(Ordering::Relaxed)
            );
        }
    }
}

blk_driver::blk_implementation! {
    type: VblkB,
    name: c"vblk-b",
    module: "ndriver_vblk_b",
    description: "ndriver virtio-blk, one request at a time, polled completion",
}
