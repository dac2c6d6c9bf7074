// SPDX-License-Identifier: GPL-2.0

//! `vblk-a`: a guarded virtio block driver with a deep queue.
//!
//! Design: one split virtqueue shared by up to 128 requests at once (one ring
//! descriptor and indirect table per blk-mq tag), each request's own pages mapped for
//! the device (scatter-gather, no copy), the device told once per batch (`last`,
//! `commit_rqs`), completion by interrupt (`devirq` walks the used ring). The hardware
//! half is `vblk_a_hw.rs`.

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
#[path = "vblk_a_hw.rs"]
mod vblk_a_hw;
#[path = "virtio_blk.rs"]
mod virtio_blk;
#[path = "virtio_pci_modern.rs"]
mod virtio_pci_modern;
#[path = "virtio_ring.rs"]
mod virtio_ring;

use blk_driver::{BlkDriver, Dev, Ended, Request};
use core::sync::atomic::Ordering;
use vblk_a_hw::{Hw, InFlight};

struct VblkA {
    /// The device; `None` while no PCI function is attached (an idle instance).
    hw: Option<Hw>,
}

impl VblkA {
    fn hw(&self) -> Result<&Hw> {
        // No device: requests wait (`EBUSY`) until one is attached.
        self.hw.as_ref().ok_or(EBUSY)
    }
}

#[vtable]
impl BlkDriver for VblkA {
    const PCI_IDS: &'static [abi::PciId] = virtio_pci_modern::PCI_IDS;

    type State = InFlight;

    fn probe(dev: &Dev, _state: &DriverLock<InFlight>) -> Result<Self> {
        if !dev.pci_present() {
            pr_info!("vblk-a: generation {}, no device\n", dev.generation());
            return Ok(Self { hw: None });
        }
        let (hw, capacity) = Hw::probe(dev)?;
        dev.set_capacity(capacity)?;
        hw.keep()?;
        pr_info!(
            "vblk-a: generation {}, {} sectors\n",
            dev.generation(),
            capacity
        );
        Ok(Self { hw: Some(hw) })
    }

    /// Warm restart: the device runs on as the previous instance left it (no reset, no
    /// feature negotiation, no queue set-up), once the queue and every chain on it are
    /// checked; the requests the dead instance held are finished by the device here and
    /// issued again by the framework.
    fn adopt(dev: &Dev, _state: &DriverLock<InFlight>) -> Result<Self> {
        if !dev.pci_present() {
            return Err(ENODEV);
        }
        // Each resource is kept again as it is adopted (for the next warm restart).
        let (hw, capacity) = Hw::adopt(dev)?;
        dev.set_capacity(capacity)?;
        Ok(Self { hw: Some(hw) })
    }

    fn queue_rq(&self, dev: &Dev, state: &DriverLock<InFlight>, rq: Request, last: bool) -> Result {
        self.hw()?.submit(dev, state, rq, last)
    }

    fn commit_rqs(&self, _dev: &Dev, state: &DriverLock<InFlight>) -> Result {
        if let Some(hw) = self.hw.as_ref() {
            hw.kick(state);
        }
        Ok(())
    }

    fn complete(&self, _dev: &Dev, _state: &DriverLock<InFlight>, rq: Request) -> Result<Ended> {
        self.hw()?.finish(rq)
    }

    fn timeout(&self, dev: &Dev, state: &DriverLock<InFlight>, rq: &Request) -> Result<bool> {
        // A lost interrupt looks like a hang: look at the used ring first.
        let hw = self.hw()?;
        hw.reap(dev, state)?;
        Ok(!hw.holds(state, rq.tag()))
    }

    fn devirq(&self, dev: &Dev, state: &DriverLock<InFlight>, _irq: u64) -> Result<bool> {
        let Some(hw) = self.hw.as_ref() else {
            return Ok(false);
        };
        match hw.ack() {
            None => Ok(false),
            Some(false) => Ok(true),
            Some(true) => {
                hw.reap(dev, state)?;
                Ok(true)
            }
        }
    }

    fn remove(&self, _dev: &Dev, _state: &DriverLock<InFlight>) {
        if let Some(hw) = self.hw.as_ref() {
            hw.stop();
            pr_info!(
                "vblk-a: removed after {} requests\n",
                hw.completed.load(Ordering::Relaxed)
            );
        }
    }
}

blk_driver::blk_implementation! {
    type: VblkA,
    name: c"vblk-a",
    module: "ndriver_vblk_a",
    description: "ndriver virtio-blk, deep queue, zero-copy scatter-gather, interrupt completion",
}
