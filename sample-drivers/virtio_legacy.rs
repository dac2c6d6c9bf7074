// SPDX-License-Identifier: GPL-2.0

//! The legacy (virtio 0.9.5) PCI interface of a virtio block device, as both sample
//! block drivers use it: the register block in I/O-port BAR 0, the device start-up
//! sequence and the layout of a split virtqueue with the legacy 4096-byte alignment.
//!
//! QEMU's `virtio-blk-pci` is a transitional device: it offers this interface next to
//! the modern one (capabilities in PCI config space, MMIO BARs). The legacy one needs
//! no config-space walk, no MSI-X and no 64-bit queue addresses; its limits (queue size
//! fixed by the device, queue address as a 32-bit page number, little-endian guest
//! layout) cost nothing on x86. See `Documentation/block.rst`.

// Each driver uses only the parts it needs.
#![allow(dead_code)]

use crate::abi::PciId;
use crate::blk_driver::{Done, Op};
use crate::driver_dev::{Dev, DmaCoherent, IoBar, PciEnabled};
use core::sync::atomic::{fence, AtomicU16, Ordering};
use kernel::prelude::*;

/// The functions both block drivers drive: the transitional virtio block device
/// (`1af4:1001`). A modern-only one (`1af4:1042`) has no legacy interface.
pub(crate) const PCI_IDS: &[PciId] = &[PciId::new(0x1af4, 0x1001)];

/// Host (device) features, 32 bits.
pub(crate) const HOST_FEATURES: usize = 0;
/// Guest (driver) features, 32 bits.
pub(crate) const GUEST_FEATURES: usize = 4;
/// Page number (address >> 12) of the selected queue, 32 bits; 0 deactivates it.
pub(crate) const QUEUE_PFN: usize = 8;
/// Size of the selected queue, 16 bits, read-only.
pub(crate) const QUEUE_NUM: usize = 12;
/// Queue selector, 16 bits.
pub(crate) const QUEUE_SEL: usize = 14;
/// Queue notification, 16 bits: write the queue's index.
pub(crate) const QUEUE_NOTIFY: usize = 16;
/// Device status, 8 bits; writing 0 resets the device.
pub(crate) const STATUS: usize = 18;
/// Interrupt status, 8 bits; reading it acknowledges the interrupt.
pub(crate) const ISR: usize = 19;
/// Device-specific configuration (without MSI-X).
pub(crate) const CONFIG: usize = 20;
/// virtio-blk's capacity in 512-byte sectors, 64 bits in two 32-bit halves: the first
/// field of its configuration.
const CAPACITY_LO: usize = CONFIG;
const CAPACITY_HI: usize = CONFIG + 4;
/// What the driver uses of the register BAR: the header and the capacity (8 bytes of
/// configuration). Register offsets are checked against it when the driver is built.
pub(crate) const BAR_SIZE: usize = CONFIG + 8;
/// The register BAR (BAR 0, I/O ports).
pub(crate) type Regs = IoBar<BAR_SIZE>;

/// Status: the guest saw the device.
pub(crate) const S_ACKNOWLEDGE: u8 = 1;
/// Status: the guest has a driver for it.
pub(crate) const S_DRIVER: u8 = 2;
/// Status: the driver is ready.
pub(crate) const S_DRIVER_OK: u8 = 4;
/// Status: the driver gave up on the device.
pub(crate) const S_FAILED: u8 = 0x80;

/// ISR bit: a queue has used buffers.
pub(crate) const ISR_QUEUE: u8 = 1;

/// Block feature: the device has a write cache and takes flush requests.
pub(crate) const F_BLK_FLUSH: u32 = 1 << 9;

/// Block request header `type`: read.
pub(crate) const T_IN: u32 = 0;
/// Block request header `type`: write.
pub(crate) const T_OUT: u32 = 1;
/// Block request header `type`: flush.
pub(crate) const T_FLUSH: u32 = 4;

/// Block request status byte: done.
pub(crate) const BLK_S_OK: u8 = 0;
/// Block request status byte: I/O error.
pub(crate) const BLK_S_IOERR: u8 = 1;
/// Block request status byte: unsupported request.
pub(crate) const BLK_S_UNSUPP: u8 = 2;
/// A status byte the device never writes: the request is not finished yet.
pub(crate) const BLK_S_PENDING: u8 = 0xff;

/// A block request header, as the device reads it.
#[repr(C)]
#[derive(Clone, Copy, FromBytes, IntoBytes)]
pub(crate) struct BlkReqHeader {
    /// [`T_IN`], [`T_OUT`] or [`T_FLUSH`].
    pub(crate) kind: u32,
    /// Zero.
    pub(crate) reserved: u32,
    /// First 512-byte sector.
    pub(crate) sector: u64,
}

const _: () = assert!(core::mem::size_of::<BlkReqHeader>() == 16);

/// The driver-side memory of one request: the header the device reads and the status
/// byte it writes, in one slot of an array in coherent DMA memory
/// (`DmaArray<ReqSlot>`); the request's descriptors point at the two fields.
#[repr(C)]
#[derive(Clone, Copy, FromBytes, IntoBytes)]
pub(crate) struct ReqSlot {
    /// The request header.
    pub(crate) header: BlkReqHeader,
    /// The status byte (`BLK_S_*`).
    pub(crate) status: u8,
    /// Up to a slot of 32 bytes (no implicit padding).
    pad: [u8; 15],
}
const _: () = assert!(core::mem::size_of::<ReqSlot>() == 32);

impl ReqSlot {
    /// Length of the header, for its descriptor.
    pub(crate) const HEADER_LEN: u32 = core::mem::size_of::<BlkReqHeader>() as u32;
    /// Length of the status, for its descriptor.
    pub(crate) const STATUS_LEN: u32 = core::mem::size_of::<u8>() as u32;

    /// A slot for a request for `op` at `sector`, its status pending.
    pub(crate) fn pending(op: Op, sector: u64) -> Self {
        let kind = match op {
            Op::Read => T_IN,
            Op::Write => T_OUT,
            Op::Flush => T_FLUSH,
        };
        Self {
            header: BlkReqHeader {
                kind,
                reserved: 0,
                sector,
            },
            status: BLK_S_PENDING,
            pad: [0; 15],
        }
    }
}

/// A descriptor of a split virtqueue.
#[repr(C)]
#[derive(Clone, Copy, FromBytes, IntoBytes)]
pub(crate) struct VirtqDesc {
    /// Bus address of the buffer.
    pub(crate) addr: u64,
    /// Its length.
    pub(crate) len: u32,
    /// [`DESC_F_NEXT`], [`DESC_F_WRITE`].
    pub(crate) flags: u16,
    /// The next descriptor of the chain, with [`DESC_F_NEXT`].
    pub(crate) next: u16,
}
const _: () = assert!(core::mem::size_of::<VirtqDesc>() == 16);

/// Descriptor flag: the chain continues at `next`.
pub(crate) const DESC_F_NEXT: u16 = 1;
/// Descriptor flag: the device writes this buffer.
pub(crate) const DESC_F_WRITE: u16 = 2;
/// Available-ring flag: the driver does not want interrupts.
pub(crate) const AVAIL_F_NO_INTERRUPT: u16 = 1;

/// Alignment of the used ring in a legacy queue.
const ALIGN: usize = 4096;

const fn align_up(x: usize) -> usize {
    (x + ALIGN - 1) & !(ALIGN - 1)
}

/// Where the parts of a split virtqueue of `num` entries lie in its memory.
#[derive(Clone, Copy)]
pub(crate) struct Layout {
    /// Entries (a power of two).
    pub(crate) num: u16,
    /// `num - 1`: ring indices run freely and are masked.
    mask: u16,
    /// Offset of the available ring (after `num` 16-byte descriptors).
    pub(crate) avail: usize,
    /// Offset of the used ring (4096-aligned).
    pub(crate) used: usize,
    /// Total bytes.
    pub(crate) size: usize,
}

impl Layout {
    /// The legacy layout of a queue of `num` entries (a power of two, as the device
    /// reports it; see [`start`]).
    pub(crate) const fn new(num: u16) -> Self {
        let n = num as usize;
        let avail = 16 * n;
        let used = align_up(avail + 6 + 2 * n);
        Self {
            num,
            mask: num.wrapping_sub(1),
            avail,
            used,
            size: align_up(used + 6 + 8 * n),
        }
    }

    /// Offset of descriptor `i`.
    pub(crate) const fn desc(&self, i: u16) -> usize {
        core::mem::size_of::<VirtqDesc>() * i as usize
    }

    /// Offset of the available ring's `idx`.
    pub(crate) const fn avail_idx(&self) -> usize {
        self.avail + 2
    }

    /// Offset of available-ring slot for running index `i`.
    pub(crate) const fn avail_slot(&self, i: u16) -> usize {
        self.avail + 4 + 2 * (i & self.mask) as usize
    }

    /// Offset of the used ring's `idx`.
    pub(crate) const fn used_idx(&self) -> usize {
        self.used + 2
    }

    /// Offset of the `id` of the used-ring element for running index `i`.
    pub(crate) const fn used_id(&self, i: u16) -> usize {
        self.used + 4 + 8 * (i & self.mask) as usize
    }
}

/// What the device offered and the driver took at start-up.
pub(crate) struct Started {
    /// Negotiated features.
    pub(crate) features: u32,
    /// Disk size in 512-byte sectors.
    pub(crate) capacity: u64,
    /// Size of queue 0 (fixed by the device).
    pub(crate) queue_num: u16,
}

/// Resets the device: it forgets its queues and stops all DMA (a legacy reset is
/// synchronous: the device has finished its requests when the write returns).
pub(crate) fn reset(io: &Regs) {
    io.write8(0, STATUS);
}

/// Resets the device and starts the handshake up to feature negotiation, taking the
/// features in `want` that the device offers; selects queue 0.
pub(crate) fn start(io: &Regs, want: u32) -> Result<Started> {
    reset(io);
    if io.read8(STATUS) != 0 {
        return Err(EIO);
    }
    io.write8(S_ACKNOWLEDGE, STATUS);
    io.write8(S_ACKNOWLEDGE | S_DRIVER, STATUS);
    let features = io.read32(HOST_FEATURES) & want;
    io.write32(features, GUEST_FEATURES);
    let lo = io.read32(CAPACITY_LO) as u64;
    let hi = io.read32(CAPACITY_HI) as u64;
    io.write16(0, QUEUE_SEL);
    let queue_num = io.read16(QUEUE_NUM);
    if queue_num == 0 || !queue_num.is_power_of_two() || io.read32(QUEUE_PFN) != 0 {
        io.write8(S_FAILED, STATUS);
        return Err(ENODEV);
    }
    Ok(Started {
        features,
        capacity: hi << 32 | lo,
        queue_num,
    })
}

/// Gives the device queue 0 at bus address `dma` (4096-aligned) and declares the
/// driver ready.
pub(crate) fn activate(io: &Regs, dma: u64) -> Result {
    if dma % ALIGN as u64 != 0 || dma >> 12 > u32::MAX as u64 {
        return Err(EINVAL);
    }
    io.write16(0, QUEUE_SEL);
    io.write32((dma >> 12) as u32, QUEUE_PFN);
    io.write8(S_ACKNOWLEDGE | S_DRIVER | S_DRIVER_OK, STATUS);
    if io.read8(STATUS) & S_FAILED != 0 {
        return Err(EIO);
    }
    Ok(())
}

/// Tells the device that queue 0 has new buffers.
pub(crate) fn notify(io: &Regs) {
    io.write16(0, QUEUE_NOTIFY);
}

/// Takes the device behind `dev`: enables the PCI function, maps the register block
/// (BAR 0) and starts the device (see [`start`]), taking the features in `want`.
pub(crate) fn take(dev: &Dev, want: u32) -> Result<(PciEnabled, Regs, Started)> {
    if !dev.pci_present() {
        return Err(ENODEV);
    }
    let enabled = dev.pci_enable()?;
    let io = dev.iomap_io::<BAR_SIZE>(0)?;
    let st = start(&io, want)?;
    Ok((enabled, io, st))
}

/// What a finished request's status byte says; `None` for a value the device must not
/// write.
pub(crate) fn status(s: u8) -> Option<Done> {
    match s {
        BLK_S_OK => Some(Done::Ok),
        BLK_S_IOERR => Some(Done::IoError),
        BLK_S_UNSUPP => Some(Done::Unsupported),
        _ => None,
    }
}

/// The flags of the data descriptor of a request for `op` (followed by the status).
pub(crate) fn data_flags(op: Op) -> u16 {
    if op == Op::Read {
        DESC_F_NEXT | DESC_F_WRITE
    } else {
        DESC_F_NEXT
    }
}

/// Split virtqueue 0 in a coherent buffer of its own, with the driver's running ring
/// indices (used under the driver's lock).
pub(crate) struct Queue {
    ring: DmaCoherent,
    layout: Layout,
    /// Next free available-ring index.
    avail_idx: AtomicU16,
    /// Next used-ring index to look at.
    last_used: AtomicU16,
}

impl Queue {
    /// The memory of a queue of `num` entries (the size the device reported), zeroed.
    pub(crate) fn new(dev: &Dev, num: u16) -> Result<Self> {
        let layout = Layout::new(num);
        Ok(Self {
            ring: dev.dma_alloc(layout.size)?,
            layout,
            avail_idx: AtomicU16::new(0),
            last_used: AtomicU16::new(0),
        })
    }

    /// The bus address, for [`activate`].
    pub(crate) fn dma(&self) -> u64 {
        self.ring.dma()
    }

    /// Asks the device not to interrupt when it uses buffers.
    pub(crate) fn no_interrupt(&self) -> Result {
        self.ring.write16(self.layout.avail, AVAIL_F_NO_INTERRUPT)
    }

    /// Writes descriptor `i` (of a chain the device does not hold).
    pub(crate) fn write_desc(&self, i: u16, addr: u64, len: u32, flags: u16, next: u16) -> Result {
        let d = VirtqDesc {
            addr,
            len,
            flags,
            next,
        };
        self.ring.write_at(self.layout.desc(i), d)
    }

    /// Sets the flags and the link of descriptor `i` (of a chain the device does not
    /// hold), keeping its buffer.
    pub(crate) fn link(&self, i: u16, flags: u16, next: u16) -> Result {
        let off = self.layout.desc(i);
        let d = self.ring.read_at::<VirtqDesc>(off)?;
        self.ring.write_at(off, VirtqDesc { flags, next, ..d })
    }

    /// Publishes the chain starting at descriptor `head` in the available ring.
    pub(crate) fn publish(&self, head: u16) -> Result {
        let ai = self.avail_idx.load(Ordering::Relaxed);
        self.ring.write16(self.layout.avail_slot(ai), head)?;
        // The device must see the slot before the index that publishes it.
        fence(Ordering::Release);
        self.ring
            .write16(self.layout.avail_idx(), ai.wrapping_add(1))?;
        self.avail_idx.store(ai.wrapping_add(1), Ordering::Relaxed);
        Ok(())
    }

    /// The head of the next chain the device has finished, if any.
    pub(crate) fn pop_used(&self) -> Result<Option<u32>> {
        let lu = self.last_used.load(Ordering::Relaxed);
        if self.ring.read16(self.layout.used_idx())? == lu {
            return Ok(None);
        }
        // The element is valid once the index says so.
        fence(Ordering::Acquire);
        let id = self.ring.read32(self.layout.used_id(lu))?;
        self.last_used.store(lu.wrapping_add(1), Ordering::Relaxed);
        Ok(Some(id))
    }
}
