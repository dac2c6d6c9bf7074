// SPDX-License-Identifier: GPL-2.0

//! The legacy (virtio 0.9.5) PCI transport of a virtio block device, as `vblk-b` uses
//! it: the register block in I/O-port BAR 0 and the device start-up sequence. The
//! queue is `virtio_ring.rs`'s, the requests `virtio_blk.rs`'s.
//!
//! QEMU's `virtio-blk-pci` is a transitional device: it offers this interface next to
//! the modern one (`virtio_pci_modern.rs`: capabilities in PCI config space, MMIO
//! BARs). The legacy one needs no config-space walk and no 64-bit queue addresses; its
//! limits (queue size fixed by the device, queue address as a 32-bit page number,
//! little-endian guest layout) cost nothing on x86, but each notification is an I/O
//! port write. The function's MSI-X stays off (`vblk-b` takes no interrupt), so the
//! device-specific configuration starts at offset 20. See `Documentation/block.rst`.

// Each driver uses only the parts it needs.
#![allow(dead_code)]

use crate::abi::PciId;
use crate::blk_driver::ResetOnUndo;
use crate::driver_dev::{Dev, IoBar, PciEnabled};
use crate::virtio_ring::QUEUE_ALIGN;
use kernel::io::{register, Io};
use kernel::prelude::*;

/// The functions `vblk-b` drives: the transitional virtio block device (`1af4:1001`).
/// A modern-only one (`1af4:1042`) has no legacy interface.
pub(crate) const PCI_IDS: &[PciId] = &[PciId::new(0x1af4, 0x1001)];

register! {
    /// Host (device) features.
    pub(crate) HOST_FEATURES(u32) @ 0 {
        /// All 32 feature bits.
        31:0 bits => u32;
        /// virtio-blk: the device has a write cache and takes flush requests.
        9:9 blk_flush => bool;
        /// The device follows indirect descriptors (`virtio_ring::DESC_F_INDIRECT`).
        28:28 ring_indirect_desc => bool;
        /// The device reads `used_event` and writes `avail_event` (`virtio_ring::Queue`).
        29:29 ring_event_idx => bool;
    }

    /// Guest (driver) features: those of [`HOST_FEATURES`] the driver takes.
    pub(crate) GUEST_FEATURES(u32) @ 4 {
        /// All 32 feature bits.
        31:0 bits => u32;
        /// virtio-blk: the driver sends flush requests.
        9:9 blk_flush => bool;
        /// The driver may publish indirect descriptors (`virtio_ring::DESC_F_INDIRECT`).
        28:28 ring_indirect_desc => bool;
        /// Interrupts and notifications are asked for by ring index (`used_event`,
        /// `avail_event`) instead of by flag.
        29:29 ring_event_idx => bool;
    }

    /// Page number (address >> 12) of the selected queue; 0 deactivates it.
    pub(crate) QUEUE_PFN(u32) @ 8 {
        31:0 pfn => u32;
    }

    /// Size of the selected queue, read-only.
    pub(crate) QUEUE_NUM(u16) @ 12 {
        15:0 size => u16;
    }

    /// Queue selector.
    pub(crate) QUEUE_SEL(u16) @ 14 {
        15:0 queue => u16;
    }

    /// Queue notification: write the queue's index.
    pub(crate) QUEUE_NOTIFY(u16) @ 16 {
        15:0 queue => u16;
    }

    /// Device status; writing 0 resets the device.
    pub(crate) STATUS(u8) @ 18 {
        /// The driver gave up on the device.
        7:7 failed => bool;
        /// The driver is ready.
        2:2 driver_ok => bool;
        /// The guest has a driver for the device.
        1:1 driver => bool;
        /// The guest saw the device.
        0:0 acknowledge => bool;
    }

    /// virtio-blk's capacity in 512-byte sectors, low half: the first field of the
    /// device-specific configuration, which starts at 20 with MSI-X off.
    CAPACITY_LO(u32) @ 20 {
        31:0 sectors => u32;
    }

    /// virtio-blk's capacity, high half.
    CAPACITY_HI(u32) @ 24 {
        31:0 sectors => u32;
    }
}

/// What the driver uses of the register BAR: the header and the capacity (8 bytes of
/// configuration). Register offsets are checked against it when the driver is built.
pub(crate) const BAR_SIZE: usize = 28;
/// The register BAR (BAR 0, I/O ports).
pub(crate) type Regs = IoBar<BAR_SIZE>;

impl STATUS {
    /// The status that resets the device.
    pub(crate) fn reset() -> Self {
        Self::zeroed()
    }

    /// The status the driver reports once it has seen the device.
    fn acknowledged() -> Self {
        Self::zeroed().with_acknowledge(true)
    }
}

/// The disk's size in 512-byte sectors, from the device-specific configuration.
fn capacity(io: &Regs) -> u64 {
    let lo = io.read(CAPACITY_LO).sectors();
    let hi = io.read(CAPACITY_HI).sectors();
    u64::from(hi) << 32 | u64::from(lo)
}

/// What the device offered and the driver took at start-up.
pub(crate) struct Started {
    /// Negotiated features.
    pub(crate) features: GUEST_FEATURES,
    /// Disk size in 512-byte sectors.
    pub(crate) capacity: u64,
    /// Size of queue 0 (fixed by the device).
    pub(crate) queue_num: u16,
}

/// Resets the device: it forgets its queues and stops all DMA (a legacy reset is
/// synchronous: the device has finished its requests when the write returns).
pub(crate) fn reset(io: &Regs) {
    io.write_reg(STATUS::reset());
}

/// Resets the device and starts the handshake up to feature negotiation, taking the
/// features in `want` that the device offers; selects queue 0.
pub(crate) fn start(io: &Regs, want: GUEST_FEATURES) -> Result<Started> {
    reset(io);
    if io.read(STATUS) != STATUS::reset() {
        return Err(EIO);
    }
    io.write_reg(STATUS::acknowledged());
    io.write_reg(STATUS::acknowledged().with_driver(true));
    let features = GUEST_FEATURES::zeroed().with_bits(io.read(HOST_FEATURES).bits() & want.bits());
    io.write_reg(features);
    let capacity = capacity(io);
    io.write_reg(QUEUE_SEL::zeroed().with_queue(0));
    let queue_num = io.read(QUEUE_NUM).size();
    if queue_num == 0 || !queue_num.is_power_of_two() || io.read(QUEUE_PFN).pfn() != 0 {
        io.write_reg(STATUS::zeroed().with_failed(true));
        return Err(ENODEV);
    }
    Ok(Started {
        features,
        capacity,
        queue_num,
    })
}

/// Gives the device queue 0 at bus address `dma` (4096-aligned) and declares the
/// driver ready.
pub(crate) fn activate(io: &Regs, dma: u64) -> Result {
    if dma % QUEUE_ALIGN as u64 != 0 || dma >> 12 > u32::MAX as u64 {
        return Err(EINVAL);
    }
    io.write_reg(QUEUE_SEL::zeroed().with_queue(0));
    io.write_reg(QUEUE_PFN::zeroed().with_pfn((dma >> 12) as u32));
    io.write_reg(
        STATUS::acknowledged()
            .with_driver(true)
            .with_driver_ok(true),
    );
    if io.read(STATUS).failed() {
        return Err(EIO);
    }
    Ok(())
}

/// Tells the device that queue 0 has new buffers.
pub(crate) fn notify(io: &Regs) {
    io.write_reg(QUEUE_NOTIFY::zeroed().with_queue(0));
}

/// Has the undo list of the instance behind `dev` reset the device (`STATUS` 0) if
/// the instance dies.
pub(crate) fn reset_on_undo(dev: &Dev, io: &Regs) -> Result<ResetOnUndo> {
    dev.reset_on_undo(io, STATUS::reset())
}

/// Takes the device behind `dev`: enables the PCI function, maps the register block
/// (BAR 0) and starts the device (see [`start`]), taking the features in `want`. The
/// device does not interrupt (no vector, INTx off).
pub(crate) fn take(dev: &Dev, want: GUEST_FEATURES) -> Result<(PciEnabled, Regs, Started)> {
    if !dev.pci_present() {
        return Err(ENODEV);
    }
    let enabled = dev.pci_enable()?;
    let io = dev.iomap_io::<BAR_SIZE>(0)?;
    let st = start(&io, want)?;
    Ok((enabled, io, st))
}
