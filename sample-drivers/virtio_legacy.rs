// SPDX-License-Identifier: GPL-2.0

//! The legacy (virtio 0.9.5) PCI interface of a virtio block device, as both sample
//! block drivers use it: the register block in I/O-port BAR 0, the device start-up
//! sequence and the layout of a split virtqueue with the legacy 4096-byte alignment.
//!
//! QEMU's `virtio-blk-pci` is a transitional device: it offers this interface next to
//! the modern one (capabilities in PCI config space, MMIO BARs). The legacy one needs
//! no config-space walk and no 64-bit queue addresses; its limits (queue size fixed by
//! the device, queue address as a 32-bit page number, little-endian guest layout) cost
//! nothing on x86. It takes MSI-X too: with MSI-X on, two vector registers follow the
//! header and the device-specific configuration moves from offset 20 to 24
//! ([`capacity`]). See `Documentation/block.rst`.

// Each driver uses only the parts it needs.
#![allow(dead_code)]

use crate::abi::PciId;
use crate::blk_driver::{Done, Op, ResetOnUndo};
use crate::driver_dev::{Dev, DmaCoherent, DmaSlice, DmaView, IoBar, IrqLine, PciEnabled};
use core::sync::atomic::{fence, AtomicU16, Ordering};
use kernel::io::{register, Io};
use kernel::prelude::*;

/// The functions both block drivers drive: the transitional virtio block device
/// (`1af4:1001`). A modern-only one (`1af4:1042`) has no legacy interface.
pub(crate) const PCI_IDS: &[PciId] = &[PciId::new(0x1af4, 0x1001)];

register! {
    /// Host (device) features.
    pub(crate) HOST_FEATURES(u32) @ 0 {
        /// All 32 feature bits.
        31:0 bits => u32;
        /// virtio-blk: the device has a write cache and takes flush requests.
        9:9 blk_flush => bool;
        /// The device follows indirect descriptors ([`DESC_F_INDIRECT`]).
        28:28 ring_indirect_desc => bool;
        /// The device reads `used_event` and writes `avail_event` ([`Queue`]).
        29:29 ring_event_idx => bool;
    }

    /// Guest (driver) features: those of [`HOST_FEATURES`] the driver takes.
    pub(crate) GUEST_FEATURES(u32) @ 4 {
        /// All 32 feature bits.
        31:0 bits => u32;
        /// virtio-blk: the driver sends flush requests.
        9:9 blk_flush => bool;
        /// The driver may publish indirect descriptors ([`DESC_F_INDIRECT`]).
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

    /// Interrupt status; reading it acknowledges the interrupt.
    pub(crate) ISR(u8) @ 19 {
        /// The configuration changed.
        1:1 config => bool;
        /// A queue has used buffers.
        0:0 queue => bool;
    }

    /// virtio-blk's capacity in 512-byte sectors, low half: the first field of the
    /// device-specific configuration, which starts at 20 without MSI-X.
    CAPACITY_LO(u32) @ 20 {
        31:0 sectors => u32;
    }

    /// virtio-blk's capacity, high half (without MSI-X).
    CAPACITY_HI(u32) @ 24 {
        31:0 sectors => u32;
    }

    /// With MSI-X on: the vector of configuration changes, [`NO_VECTOR`] for none.
    pub(crate) MSI_CONFIG_VECTOR(u16) @ 20 {
        15:0 vector => u16;
    }

    /// With MSI-X on: the vector of the selected queue, [`NO_VECTOR`] for none. The
    /// device answers [`NO_VECTOR`] when it could not take the one written.
    pub(crate) MSI_QUEUE_VECTOR(u16) @ 22 {
        15:0 vector => u16;
    }

    /// virtio-blk's capacity, low half, with MSI-X on (configuration at 24).
    MSIX_CAPACITY_LO(u32) @ 24 {
        31:0 sectors => u32;
    }

    /// virtio-blk's capacity, high half, with MSI-X on.
    MSIX_CAPACITY_HI(u32) @ 28 {
        31:0 sectors => u32;
    }
}

/// A vector register's "no vector": the device does not interrupt for it.
pub(crate) const NO_VECTOR: u16 = 0xffff;

/// What the driver uses of the register BAR: the header, the vector registers and the
/// capacity (8 bytes of configuration, after the vectors with MSI-X). Register offsets
/// are checked against it when the driver is built.
pub(crate) const BAR_SIZE: usize = 32;
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

/// A descriptor of a split virtqueue (`struct vring_desc`): the queue's memory starts
/// with [`Layout::num`] of them.
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

/// The header of the available ring (`struct vring_avail` up to its ring), right after
/// the descriptors: the driver writes it, the device reads it. Followed by
/// [`Layout::num`] ring entries (`u16`: the head of a chain) and `used_event` (`u16`,
/// with [`GUEST_FEATURES::ring_event_idx`]: the used index whose crossing interrupts).
#[repr(C)]
#[derive(Clone, Copy, FromBytes, IntoBytes)]
pub(crate) struct AvailHeader {
    /// [`AVAIL_F_NO_INTERRUPT`].
    pub(crate) flags: u16,
    /// Where the driver puts the next entry (running, not masked): the entries before
    /// it are published.
    pub(crate) idx: u16,
}

/// The header of the used ring (`struct vring_used` up to its ring), at the next
/// [`QUEUE_ALIGN`] boundary after the available ring: the device writes it, the driver
/// reads it. Followed by [`Layout::num`] [`UsedElem`]s and `avail_event` (`u16`, with
/// [`GUEST_FEATURES::ring_event_idx`]: the available index whose crossing the device
/// wants to be told of).
#[repr(C)]
#[derive(Clone, Copy, FromBytes, IntoBytes)]
pub(crate) struct UsedHeader {
    /// `VRING_USED_F_NO_NOTIFY` (the driver notifies all the same).
    pub(crate) flags: u16,
    /// Where the device puts the next element (running, not masked): the elements
    /// before it are finished.
    pub(crate) idx: u16,
}

/// An element of the used ring (`struct vring_used_elem`): a chain the device finished.
#[repr(C)]
#[derive(Clone, Copy, FromBytes, IntoBytes)]
pub(crate) struct UsedElem {
    /// The chain's head descriptor (a `u32`, though descriptor numbers are `u16`).
    pub(crate) id: u32,
    /// Bytes the device wrote into the chain's buffers.
    pub(crate) len: u32,
}

/// Descriptor flag: the chain continues at `next`.
pub(crate) const DESC_F_NEXT: u16 = 1;
/// Descriptor flag: the device writes this buffer.
pub(crate) const DESC_F_WRITE: u16 = 2;
/// Descriptor flag: the buffer is a table of descriptors, the request's whole chain
/// (with [`GUEST_FEATURES::ring_indirect_desc`]).
pub(crate) const DESC_F_INDIRECT: u16 = 4;
/// Available-ring flag: the driver does not want interrupts.
pub(crate) const AVAIL_F_NO_INTERRUPT: u16 = 1;
/// Used-ring flag: the device does not need to be told of new buffers now (it is
/// working through the available ring and will look again before it stops).
pub(crate) const USED_F_NO_NOTIFY: u16 = 1;

/// Alignment of the used ring in a legacy queue (and of the queue itself: the device
/// takes its address as a page number).
pub(crate) const QUEUE_ALIGN: usize = 4096;

// The parts of a split virtqueue as the legacy device reads them (virtio 0.9.5,
// `struct vring`; guest-endian, little-endian on x86).
const _: () = {
    use core::mem::{align_of, offset_of, size_of};
    assert!(size_of::<VirtqDesc>() == 16 && align_of::<VirtqDesc>() <= 16);
    assert!(offset_of!(VirtqDesc, addr) == 0 && offset_of!(VirtqDesc, len) == 8);
    assert!(offset_of!(VirtqDesc, flags) == 12 && offset_of!(VirtqDesc, next) == 14);
    assert!(size_of::<AvailHeader>() == 4 && align_of::<AvailHeader>() == 2);
    assert!(offset_of!(AvailHeader, flags) == 0 && offset_of!(AvailHeader, idx) == 2);
    assert!(size_of::<UsedHeader>() == 4 && align_of::<UsedHeader>() == 2);
    assert!(offset_of!(UsedHeader, flags) == 0 && offset_of!(UsedHeader, idx) == 2);
    assert!(size_of::<UsedElem>() == 8 && align_of::<UsedElem>() == 4);
    assert!(offset_of!(UsedElem, id) == 0 && offset_of!(UsedElem, len) == 4);
};

const fn align_up(x: usize) -> usize {
    (x + QUEUE_ALIGN - 1) & !(QUEUE_ALIGN - 1)
}

/// Where the parts of a split virtqueue of `num` entries lie in its memory, in the
/// legacy layout: the descriptor table, the available ring, and at the next
/// [`QUEUE_ALIGN`] boundary the used ring. [`Queue`] reaches each part through a typed
/// view ([`DmaSlice`], [`DmaView`]) made at these offsets.
#[derive(Clone, Copy)]
pub(crate) struct Layout {
    /// Entries (a power of two).
    pub(crate) num: u16,
    /// `num - 1`: ring indices run freely and are masked.
    mask: u16,
    /// Offset of the [`AvailHeader`] (after `num` [`VirtqDesc`]s).
    avail: usize,
    /// Offset of the available ring's `num` entries (after its header).
    avail_ring: usize,
    /// Offset of `used_event` (after the available ring's entries).
    used_event: usize,
    /// Offset of the [`UsedHeader`] (after the available ring and `used_event`,
    /// [`QUEUE_ALIGN`]ed).
    used: usize,
    /// Offset of the used ring's `num` [`UsedElem`]s (after its header).
    used_ring: usize,
    /// Offset of `avail_event` (after the used ring's elements).
    avail_event: usize,
    /// Total bytes (after the used ring and `avail_event`, [`QUEUE_ALIGN`]ed).
    pub(crate) size: usize,
}

impl Layout {
    /// The legacy layout of a queue of `num` entries (a power of two, as the device
    /// reports it; see [`start`]).
    pub(crate) const fn new(num: u16) -> Self {
        use core::mem::size_of;
        let n = num as usize;
        let avail = size_of::<VirtqDesc>() * n;
        let avail_ring = avail + size_of::<AvailHeader>();
        // `used_event` follows the entries.
        let used_event = avail_ring + size_of::<u16>() * n;
        let used = align_up(used_event + size_of::<u16>());
        let used_ring = used + size_of::<UsedHeader>();
        // `avail_event` follows the elements.
        let avail_event = used_ring + size_of::<UsedElem>() * n;
        Self {
            num,
            mask: num.wrapping_sub(1),
            avail,
            avail_ring,
            used_event,
            used,
            used_ring,
            avail_event,
            size: align_up(avail_event + size_of::<u16>()),
        }
    }

    /// The ring slot of running index `i` (in either ring).
    pub(crate) const fn slot(&self, i: u16) -> usize {
        (i & self.mask) as usize
    }
}

// The layout is the legacy one: `vring_size(num, 4096)`, rounded up to a page, of
// virtio 0.9.5 (Linux's `include/uapi/linux/virtio_ring.h`), the used ring at
// `vring_init`'s place, for every queue size the device may report.
const _: () = {
    let mut num: u32 = 1;
    while num <= 32768 {
        let n = num as usize;
        let l = Layout::new(num as u16);
        assert!(l.avail == 16 * n);
        assert!(l.avail_ring == l.avail + 4 && l.used_event == l.avail_ring + 2 * n);
        assert!(l.used == align_up(16 * n + 2 * (3 + n)));
        assert!(l.used_ring == l.used + 4 && l.avail_event == l.used_ring + 8 * n);
        assert!(l.size == align_up(16 * n + 2 * (3 + n)) + align_up(2 * 3 + 8 * n));
        assert!(l.slot(num as u16) == 0 && l.slot(num as u16 - 1) == n - 1);
        num *= 2;
    }
    // QEMU's virtio-blk default: 256 entries, three pages.
    let l = Layout::new(256);
    assert!(l.avail == 4096 && l.used == 8192 && l.size == 12288);
};

/// The disk's size in 512-byte sectors, from the device-specific configuration: at 20,
/// or at 24 when the function has MSI-X on (`msix`).
fn capacity(io: &Regs, msix: bool) -> u64 {
    let (lo, hi) = if msix {
        (
            io.read(MSIX_CAPACITY_LO).sectors(),
            io.read(MSIX_CAPACITY_HI).sectors(),
        )
    } else {
        (
            io.read(CAPACITY_LO).sectors(),
            io.read(CAPACITY_HI).sectors(),
        )
    };
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
/// features in `want` that the device offers; selects queue 0. `msix`: the function
/// has MSI-X on (the configuration's place).
pub(crate) fn start(io: &Regs, want: GUEST_FEATURES, msix: bool) -> Result<Started> {
    reset(io);
    if io.read(STATUS) != STATUS::reset() {
        return Err(EIO);
    }
    io.write_reg(STATUS::acknowledged());
    io.write_reg(STATUS::acknowledged().with_driver(true));
    let features = GUEST_FEATURES::zeroed().with_bits(io.read(HOST_FEATURES).bits() & want.bits());
    io.write_reg(features);
    let capacity = capacity(io, msix);
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

/// What a device that an earlier instance started and left running says of itself
/// (warm restart): it must be driving (`DRIVER_OK`, not `FAILED`), with queue 0 active
/// and the features [`start`] would have taken with `want`, and with MSI-X on
/// (`msix`) queue 0 on vector 0 ([`activate`]); `EIO` otherwise. Selects queue 0.
/// Nothing is written but the selector.
pub(crate) fn running(io: &Regs, want: GUEST_FEATURES, msix: bool) -> Result<Started> {
    let status = io.read(STATUS);
    if !status.acknowledge() || !status.driver() || !status.driver_ok() || status.failed() {
        return Err(EIO);
    }
    io.write_reg(QUEUE_SEL::zeroed().with_queue(0));
    let queue_num = io.read(QUEUE_NUM).size();
    if queue_num == 0 || !queue_num.is_power_of_two() || io.read(QUEUE_PFN).pfn() == 0 {
        return Err(EIO);
    }
    let features = GUEST_FEATURES::zeroed().with_bits(io.read(GUEST_FEATURES).bits());
    if features.bits() != io.read(HOST_FEATURES).bits() & want.bits() {
        return Err(EIO);
    }
    if msix && io.read(MSI_QUEUE_VECTOR).vector() != 0 {
        return Err(EIO);
    }
    Ok(Started {
        features,
        capacity: capacity(io, msix),
        queue_num,
    })
}

/// Whether queue 0 of a running device is the queue at bus address `dma` (warm restart:
/// the adopter's kept ring is the one the device uses).
pub(crate) fn runs_queue(io: &Regs, dma: u64) -> bool {
    io.write_reg(QUEUE_SEL::zeroed().with_queue(0));
    dma % QUEUE_ALIGN as u64 == 0 && u64::from(io.read(QUEUE_PFN).pfn()) == dma >> 12
}

/// Gives the device queue 0 at bus address `dma` (4096-aligned) -- with MSI-X on
/// (`msix`), interrupting on vector 0, and not for configuration changes -- and
/// declares the driver ready. `EIO` if the device refuses the vector.
pub(crate) fn activate(io: &Regs, dma: u64, msix: bool) -> Result {
    if dma % QUEUE_ALIGN as u64 != 0 || dma >> 12 > u32::MAX as u64 {
        return Err(EINVAL);
    }
    io.write_reg(QUEUE_SEL::zeroed().with_queue(0));
    io.write_reg(QUEUE_PFN::zeroed().with_pfn((dma >> 12) as u32));
    if msix {
        io.write_reg(MSI_CONFIG_VECTOR::zeroed().with_vector(NO_VECTOR));
        io.write_reg(MSI_QUEUE_VECTOR::zeroed().with_vector(0));
        if io.read(MSI_QUEUE_VECTOR).vector() != 0 {
            return Err(EIO);
        }
    }
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

/// Acknowledges the device's interrupt: `Some(true)` if a queue has used buffers,
/// `Some(false)` for another cause, `None` if the device did not interrupt (the
/// interrupt of another device on the line).
pub(crate) fn ack_interrupt(io: &Regs) -> Option<bool> {
    let isr = io.read(ISR);
    if isr.into_raw() == 0 {
        return None;
    }
    Some(isr.queue())
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
    let (enabled, io) = enable(dev)?;
    let st = start(&io, want, false)?;
    Ok((enabled, io, st))
}

/// Takes the device behind `dev` as [`take`] does, with its interrupt routed to
/// `devirq`: an MSI-X vector of its own when the function has MSI-X, else its INTx
/// ([`IrqLine::is_msix`]).
pub(crate) fn take_with_irq(
    dev: &Dev,
    want: GUEST_FEATURES,
) -> Result<(PciEnabled, Regs, IrqLine, Started)> {
    let (enabled, io) = enable(dev)?;
    let irq = match dev.request_msix() {
        Ok(line) => line,
        // A misuse (a line held already): the instance failed.
        Err(e) if e == EBUSY => return Err(e),
        // No MSI-X, or no vector for it (which may also read ENOMEM: IRQ numbers
        // exhausted): the INTx.
        Err(_) => dev.request_irq()?,
    };
    let st = start(&io, want, irq.is_msix())?;
    Ok((enabled, io, irq, st))
}

/// Enables the function behind `dev` and maps its register block.
fn enable(dev: &Dev) -> Result<(PciEnabled, Regs)> {
    if !dev.pci_present() {
        return Err(ENODEV);
    }
    let enabled = dev.pci_enable()?;
    let io = dev.iomap_io::<BAR_SIZE>(0)?;
    Ok((enabled, io))
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

/// Whether moving a ring index from `old` to `new` passes `event` (virtio's
/// `vring_need_event`: `event` in `[old, new)`, modulo 2^16).
pub(crate) const fn need_event(event: u16, new: u16, old: u16) -> bool {
    new.wrapping_sub(event).wrapping_sub(1) < new.wrapping_sub(old)
}

const _: () = {
    assert!(need_event(5, 6, 5) && !need_event(5, 7, 6) && need_event(5, 7, 4));
    assert!(!need_event(9, 7, 4) && need_event(0xffff, 1, 0xfffe) && !need_event(3, 3, 3));
};

/// Split virtqueue 0 in a coherent buffer of its own, with the driver's running ring
/// indices (used under the driver's lock). Its parts are reached through typed views
/// at the offsets of its [`Layout`]: the descriptors and the rings' elements by index,
/// the rings' headers by field, each access volatile and as wide as the field.
pub(crate) struct Queue {
    ring: DmaCoherent,
    layout: Layout,
    /// [`GUEST_FEATURES::ring_event_idx`] was negotiated: notifications and interrupts
    /// are asked for by index, not by flag.
    event_idx: bool,
    /// Next free available-ring index.
    avail_idx: AtomicU16,
    /// The available index at the last [`Queue::needs_notify`] (with `event_idx`).
    told: AtomicU16,
    /// Next used-ring index to look at.
    last_used: AtomicU16,
}

impl Queue {
    /// The memory of a queue of `num` entries (the size the device reported), zeroed;
    /// `event_idx` as negotiated.
    pub(crate) fn new(dev: &Dev, num: u16, event_idx: bool) -> Result<Self> {
        let layout = Layout::new(num);
        Ok(Self {
            ring: dev.dma_alloc(layout.size)?,
            layout,
            event_idx,
            avail_idx: AtomicU16::new(0),
            told: AtomicU16::new(0),
            last_used: AtomicU16::new(0),
        })
    }

    /// The queue of `num` entries the previous instance kept under `role` (warm restart),
    /// with the device's ring indices as it left them: the next available entry after the
    /// last one published, the next used one after the last one the device wrote, which
    /// may be up to `num` behind (requests still on the device). `EIO` if the indices
    /// are further apart. Only in `adopt`.
    pub(crate) fn adopt(dev: &Dev, role: u32, num: u16, event_idx: bool) -> Result<Self> {
        let layout = Layout::new(num);
        let q = Self {
            ring: dev.adopt_dma(role, layout.size)?,
            layout,
            event_idx,
            avail_idx: AtomicU16::new(0),
            told: AtomicU16::new(0),
            last_used: AtomicU16::new(0),
        };
        let ai = q.avail()?.read_field(|a| &a.idx)?;
        let ui = q.used()?.read_field(|u| &u.idx)?;
        if ai.wrapping_sub(ui) > num {
            return Err(EIO);
        }
        q.avail_idx.store(ai, Ordering::Relaxed);
        q.told.store(ai, Ordering::Relaxed);
        q.last_used.store(ui, Ordering::Relaxed);
        Ok(q)
    }

    /// Keeps the queue's memory across a warm restart under `role` ([`Queue::adopt`]).
    pub(crate) fn keep(&self, role: u32) -> Result {
        self.ring.keep(role)
    }

    /// The heads in the available ring from the next used index to the available index,
    /// to `f` (which may refuse one: the error is returned): as many as the device has
    /// not given back, though not necessarily those (it may finish out of order); every
    /// chain it has not started yet is among them (it starts them in ring order). Only
    /// for a queue the instance took over, before it publishes anything.
    pub(crate) fn for_each_pending(&self, mut f: impl FnMut(u16) -> Result) -> Result {
        let mut i = self.last_used.load(Ordering::Relaxed);
        let end = self.avail_idx.load(Ordering::Relaxed);
        while i != end {
            f(self.avail_ring()?.read(self.layout.slot(i)).ok_or(ERANGE)?)?;
            i = i.wrapping_add(1);
        }
        Ok(())
    }

    /// Descriptor `i`.
    pub(crate) fn read_desc(&self, i: u16) -> Result<VirtqDesc> {
        self.descs()?.read(i.into()).ok_or(ERANGE)
    }

    /// Lets the device finish every chain published on a queue the instance took over
    /// (it is told once, in case the previous instance never told it), waiting up to
    /// `wait_us`; then forgets their answers: the requests are issued again. `ETIMEDOUT`
    /// if the device does not finish in time.
    pub(crate) fn drain(&self, io: &Regs, wait_us: u32) -> Result {
        use kernel::time::{Delta, Instant, Monotonic};
        let end = self.avail_idx.load(Ordering::Relaxed);
        fence(Ordering::SeqCst);
        notify(io);
        let start = Instant::<Monotonic>::now();
        while self.used()?.read_field(|u| &u.idx)? != end {
            if start.elapsed().as_micros_ceil() > i64::from(wait_us) {
                return Err(ETIMEDOUT);
            }
            kernel::time::delay::fsleep(Delta::from_micros(20));
        }
        fence(Ordering::Acquire);
        self.last_used.store(end, Ordering::Relaxed);
        Ok(())
    }

    /// The bus address, for [`activate`].
    pub(crate) fn dma(&self) -> u64 {
        self.ring.dma()
    }

    /// The descriptor table.
    fn descs(&self) -> Result<DmaSlice<'_, VirtqDesc>> {
        self.ring.slice(0, self.layout.num.into())
    }

    /// The available ring's header.
    fn avail(&self) -> Result<DmaView<'_, AvailHeader>> {
        self.ring.view(self.layout.avail)
    }

    /// The available ring's entries.
    fn avail_ring(&self) -> Result<DmaSlice<'_, u16>> {
        self.ring
            .slice(self.layout.avail_ring, self.layout.num.into())
    }

    /// The used ring's header.
    fn used(&self) -> Result<DmaView<'_, UsedHeader>> {
        self.ring.view(self.layout.used)
    }

    /// The used ring's elements.
    fn used_ring(&self) -> Result<DmaSlice<'_, UsedElem>> {
        self.ring
            .slice(self.layout.used_ring, self.layout.num.into())
    }

    /// `used_event`: the driver's.
    fn used_event(&self) -> Result<DmaView<'_, u16>> {
        self.ring.view(self.layout.used_event)
    }

    /// `avail_event`: the device's.
    fn avail_event(&self) -> Result<DmaView<'_, u16>> {
        self.ring.view(self.layout.avail_event)
    }

    /// Asks the device to interrupt when it uses the next buffer (clearing the flag an
    /// adopted queue may have been left with, or damaged into). With `event_idx` that
    /// is one interrupt, at the used index after the last one looked at: call again
    /// after each walk of the used ring, and look once more after (the device may have
    /// passed the index before it was written).
    pub(crate) fn interrupts_on(&self) -> Result {
        if self.event_idx {
            let lu = self.last_used.load(Ordering::Relaxed);
            self.used_event()?.write(lu);
        }
        self.avail()?.write_field(|a| &a.flags, 0)
    }

    /// Asks the device not to interrupt when it uses buffers. Nothing with `event_idx`:
    /// the device interrupts once per [`Queue::interrupts_on`] anyway (a driver that
    /// polls does not negotiate it).
    pub(crate) fn no_interrupt(&self) -> Result {
        if self.event_idx {
            return Ok(());
        }
        self.avail()?
            .write_field(|a| &a.flags, AVAIL_F_NO_INTERRUPT)
    }

    /// Writes descriptor `i` (of a chain the device does not hold).
    pub(crate) fn write_desc(&self, i: u16, addr: u64, len: u32, flags: u16, next: u16) -> Result {
        let d = VirtqDesc {
            addr,
            len,
            flags,
            next,
        };
        self.descs()?.write(i.into(), d)
    }

    /// Sets the flags and the link of descriptor `i` (of a chain the device does not
    /// hold), keeping its buffer.
    pub(crate) fn link(&self, i: u16, flags: u16, next: u16) -> Result {
        let descs = self.descs()?;
        let d = descs.read(i.into()).ok_or(ERANGE)?;
        descs.write(i.into(), VirtqDesc { flags, next, ..d })
    }

    /// Publishes the chain starting at descriptor `head` in the available ring.
    pub(crate) fn publish(&self, head: u16) -> Result {
        let ai = self.avail_idx.load(Ordering::Relaxed);
        self.avail_ring()?.write(self.layout.slot(ai), head)?;
        // The device must see the slot before the index that publishes it.
        fence(Ordering::Release);
        self.avail()?.write_field(|a| &a.idx, ai.wrapping_add(1))?;
        self.avail_idx.store(ai.wrapping_add(1), Ordering::Relaxed);
        Ok(())
    }

    /// Whether the device asks to be told of the buffers published since the last call:
    /// with `event_idx` whether they pass the available index it named (`avail_event`),
    /// else whether it does not set [`USED_F_NO_NOTIFY`] (it works through the ring
    /// anyway). Calls are serialised with [`Queue::publish`] by the caller (its lock);
    /// the fence here orders the publication before the device's word is read, or a
    /// device about to stop is missed.
    pub(crate) fn needs_notify(&self) -> bool {
        fence(Ordering::SeqCst);
        if self.event_idx {
            let new = self.avail_idx.load(Ordering::Relaxed);
            let old = self.told.swap(new, Ordering::Relaxed);
            return self
                .avail_event()
                .map_or(true, |e| need_event(e.read(), new, old));
        }
        self.used()
            .and_then(|u| u.read_field(|u| &u.flags))
            .map_or(true, |f| f & USED_F_NO_NOTIFY == 0)
    }

    /// Whether the device has finished a chain not popped yet.
    pub(crate) fn has_used(&self) -> bool {
        let lu = self.last_used.load(Ordering::Relaxed);
        self.used()
            .and_then(|u| u.read_field(|u| &u.idx))
            .is_ok_and(|idx| idx != lu)
    }

    /// The head of the next chain the device has finished, if any.
    pub(crate) fn pop_used(&self) -> Result<Option<u32>> {
        let lu = self.last_used.load(Ordering::Relaxed);
        if self.used()?.read_field(|u| &u.idx)? == lu {
            return Ok(None);
        }
        // The element is valid once the index says so.
        fence(Ordering::Acquire);
        let id = self
            .used_ring()?
            .read_field(self.layout.slot(lu), |e| &e.id)?;
        self.last_used.store(lu.wrapping_add(1), Ordering::Relaxed);
        Ok(Some(id))
    }
}
