// SPDX-License-Identifier: GPL-2.0

//! The modern (virtio 1.0) PCI transport of a virtio block device, as `vblk-a` uses
//! it: where the device's register blocks lie (vendor capabilities in PCI
//! configuration space, [`Caps`]), the common configuration (features, status, queue
//! set-up, MSI-X vectors) as typed registers of a window of a memory BAR, the queue's
//! notification address, the interrupt status and the block device's configuration,
//! and the start-up sequence with 64-bit features and `FEATURES_OK`.
//!
//! QEMU's transitional `virtio-blk-pci` offers this next to the legacy interface
//! (`virtio_legacy.rs`). What it changes for a driver: a notification is a write to a
//! memory BAR instead of an I/O port (the device model's cheaper path under QEMU's
//! TCG), the queue's three parts have 64-bit addresses of their own, and the
//! configuration does not move when MSI-X is on. See `Documentation/block.rst`.

// Each driver uses only the parts it needs.
#![allow(dead_code)]

use crate::abi::PciId;
use crate::blk_driver::ResetOnUndo;
use crate::driver_dev::{
    Bar, BarWindow, Dev, IrqLine, PciEnabled, PCI_CAP_ID_VNDR, PCI_CFG_SPACE_SIZE,
};
use crate::virtio_ring::Queue;
use kernel::io::register::Register;
use kernel::io::{register, Io};
use kernel::prelude::*;

/// The functions `vblk-a` drives: the transitional virtio block device (`1af4:1001`),
/// as `vblk-b`, its alternative, does (a modern-only `1af4:1042` would do for this
/// transport, not for `vblk-b`'s).
pub(crate) const PCI_IDS: &[PciId] = &[PciId::new(0x1af4, 0x1001)];

/// Feature bit: the device follows virtio 1.0 (this transport); required.
pub(crate) const F_VERSION_1: u32 = 32;
/// Feature bit: the device's DMA goes through the platform's translation (an IOMMU):
/// taken when offered, for the driver gives the device DMA-API addresses anyway.
pub(crate) const F_ACCESS_PLATFORM: u32 = 33;

/// A set of feature bits (the device's 64).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Features(u64);

impl Features {
    /// No feature.
    pub(crate) const fn none() -> Self {
        Self(0)
    }

    /// This set and feature bit `bit` (below 64; a higher one is no feature).
    pub(crate) const fn with(self, bit: u32) -> Self {
        if bit >= 64 {
            return self;
        }
        Self(self.0 | 1 << bit)
    }

    /// Whether feature bit `bit` is in the set.
    pub(crate) const fn has(self, bit: u32) -> bool {
        bit < 64 && self.0 & 1 << bit != 0
    }

    /// The bits in both sets.
    const fn and(self, other: Self) -> Self {
        Self(self.0 & other.0)
    }
}

register! {
    /// Which half of the device's features [`DEVICE_FEATURE`] shows (0: bits 0-31).
    DEVICE_FEATURE_SELECT(u32) @ 0x00 {
        31:0 select => u32;
    }

    /// The selected half of the device's features.
    DEVICE_FEATURE(u32) @ 0x04 {
        31:0 bits => u32;
    }

    /// Which half of the driver's features [`DRIVER_FEATURE`] holds.
    DRIVER_FEATURE_SELECT(u32) @ 0x08 {
        31:0 select => u32;
    }

    /// The selected half of the features the driver takes.
    DRIVER_FEATURE(u32) @ 0x0c {
        31:0 bits => u32;
    }

    /// The MSI-X vector of configuration changes, [`NO_VECTOR`] for none.
    CONFIG_MSIX_VECTOR(u16) @ 0x10 {
        15:0 vector => u16;
    }

    /// Device status; writing 0 resets the device.
    pub(crate) DEVICE_STATUS(u8) @ 0x14 {
        /// The driver gave up on the device.
        7:7 failed => bool;
        /// The device hit an error it cannot recover from without a reset.
        6:6 needs_reset => bool;
        /// The driver took its features and the device accepts them.
        3:3 features_ok => bool;
        /// The driver is ready.
        2:2 driver_ok => bool;
        /// The guest has a driver for the device.
        1:1 driver => bool;
        /// The guest saw the device.
        0:0 acknowledge => bool;
    }

    /// Changes whenever the device configuration does (read around a multi-word read).
    CONFIG_GENERATION(u8) @ 0x15 {
        7:0 generation => u8;
    }

    /// Queue selector: the `QUEUE_*` registers below are this queue's.
    QUEUE_SELECT(u16) @ 0x16 {
        15:0 queue => u16;
    }

    /// Size of the selected queue: the device's maximum after a reset; the driver may
    /// write a smaller power of two.
    QUEUE_SIZE(u16) @ 0x18 {
        15:0 size => u16;
    }

    /// The MSI-X vector of the selected queue, [`NO_VECTOR`] for none; reads
    /// [`NO_VECTOR`] when the device could not take the one written.
    QUEUE_MSIX_VECTOR(u16) @ 0x1a {
        15:0 vector => u16;
    }

    /// 1 once the selected queue is live.
    QUEUE_ENABLE(u16) @ 0x1c {
        15:0 enabled => u16;
    }

    /// The selected queue's notification slot, in units of the notify capability's
    /// multiplier.
    QUEUE_NOTIFY_OFF(u16) @ 0x1e {
        15:0 off => u16;
    }

    /// Bus address of the selected queue's descriptor table, low half.
    QUEUE_DESC_LO(u32) @ 0x20 {
        31:0 addr => u32;
    }

    /// High half.
    QUEUE_DESC_HI(u32) @ 0x24 {
        31:0 addr => u32;
    }

    /// Bus address of the selected queue's available ring, low half.
    QUEUE_DRIVER_LO(u32) @ 0x28 {
        31:0 addr => u32;
    }

    /// High half.
    QUEUE_DRIVER_HI(u32) @ 0x2c {
        31:0 addr => u32;
    }

    /// Bus address of the selected queue's used ring, low half.
    QUEUE_DEVICE_LO(u32) @ 0x30 {
        31:0 addr => u32;
    }

    /// High half.
    QUEUE_DEVICE_HI(u32) @ 0x34 {
        31:0 addr => u32;
    }
}

register! {
    /// virtio-blk's capacity in 512-byte sectors, low half (device configuration).
    CAPACITY_LO(u32) @ 0 {
        31:0 sectors => u32;
    }

    /// High half.
    CAPACITY_HI(u32) @ 4 {
        31:0 sectors => u32;
    }
}

/// A vector register's "no vector": the device does not interrupt for it.
pub(crate) const NO_VECTOR: u16 = 0xffff;

/// Bytes of the common configuration the driver uses (`struct virtio_pci_common_cfg`
/// of virtio 1.0, up to the used ring's address).
const COMMON_SIZE: usize = 0x38;
/// Bytes of the device configuration the driver uses (the capacity).
const DEVICE_SIZE: usize = 8;
/// Interrupt status bit: a queue has used buffers (reading the byte acknowledges the
/// interrupt; INTx only).
const ISR_QUEUE: u8 = 1;

impl DEVICE_STATUS {
    /// The status that resets the device.
    pub(crate) fn reset() -> Self {
        Self::zeroed()
    }

    /// What the driver has said once it has seen the device and has a driver for it.
    fn has_driver() -> Self {
        Self::zeroed().with_acknowledge(true).with_driver(true)
    }
}

/// A vendor-specific PCI capability as virtio lays it out (`struct virtio_pci_cap`):
/// where one of the device's structures lies. Read field by field from configuration
/// space at these offsets.
#[repr(C)]
struct VirtioPciCap {
    cap_vndr: u8,
    cap_next: u8,
    cap_len: u8,
    cfg_type: u8,
    bar: u8,
    id: u8,
    padding: [u8; 2],
    offset: u32,
    length: u32,
}

/// The notification capability (`struct virtio_pci_notify_cap`): the common layout and
/// the multiplier of the queues' notification offsets.
#[repr(C)]
struct VirtioPciNotifyCap {
    cap: VirtioPciCap,
    notify_off_multiplier: u32,
}

/// Where in configuration space the field at `off` of a capability at `pos` lies;
/// `None` past the standard space.
fn field(pos: u16, off: usize) -> Option<u16> {
    let at = usize::from(pos).checked_add(off)?;
    u16::try_from(at).ok().filter(|&at| at < PCI_CFG_SPACE_SIZE)
}

/// Kinds of virtio structure a capability locates (`cfg_type`).
const CAP_COMMON: u8 = 1;
const CAP_NOTIFY: u8 = 2;
const CAP_ISR: u8 = 3;
const CAP_DEVICE: u8 = 4;

/// Where one virtio structure lies: BAR `bar`, `len` bytes from `offset`.
#[derive(Clone, Copy, Default)]
struct Loc {
    bar: u8,
    offset: u32,
    len: u32,
}

/// Where the device's register blocks lie, from its vendor capabilities: the first
/// common configuration in a memory BAR, then the first structure of each other kind
/// in the same BAR (virtio has the driver skip capabilities it cannot use; QEMU puts
/// all four in one BAR, and the driver maps one).
#[derive(Clone, Copy)]
pub(crate) struct Caps {
    common: Loc,
    notify: Loc,
    /// Bytes between the notification slots of consecutive `QUEUE_NOTIFY_OFF`s.
    notify_mult: u32,
    isr: Loc,
    device: Loc,
}

impl Caps {
    /// Walks the PCI capability list of the function behind `dev`. `ENODEV` if a
    /// structure is missing or too short.
    pub(crate) fn find(dev: &Dev) -> Result<Self> {
        let common = Self::first(dev, CAP_COMMON, None).ok_or(ENODEV)?.0;
        let get = |kind| Self::first(dev, kind, Some(common.bar)).ok_or(ENODEV);
        let (notify, notify_mult) = get(CAP_NOTIFY)?;
        let caps = Self {
            common,
            notify,
            notify_mult,
            isr: get(CAP_ISR)?.0,
            device: get(CAP_DEVICE)?.0,
        };
        if caps.common.len < COMMON_SIZE as u32
            || caps.isr.len < 1
            || caps.device.len < DEVICE_SIZE as u32
            || caps.notify.len < 2
        {
            pr_err!("vblk-a: a virtio structure is too short\n");
            return Err(ENODEV);
        }
        Ok(caps)
    }

    /// The first virtio capability of `kind` in a memory BAR (in BAR `bar` if given),
    /// and for a notification capability its multiplier. A capability that does not
    /// fit in the standard configuration space, or whose fields cannot be read, is
    /// skipped.
    fn first(dev: &Dev, kind: u8, bar: Option<u8>) -> Option<(Loc, u32)> {
        dev.pci_caps()
            .filter(|&(id, _)| id == PCI_CAP_ID_VNDR)
            .find_map(|(_, pos)| Self::read(dev, pos, kind, bar))
    }

    /// The virtio capability at `pos` if it is of `kind` (in BAR `bar` if given) and
    /// usable (see [`Caps::first`]).
    fn read(dev: &Dev, pos: u16, kind: u8, bar: Option<u8>) -> Option<(Loc, u32)> {
        use core::mem::{offset_of, size_of};
        let u8_at = |off| dev.pci_config_u8(field(pos, off)?).ok();
        let u32_at = |off| dev.pci_config_u32(field(pos, off)?).ok();
        let len = usize::from(u8_at(offset_of!(VirtioPciCap, cap_len))?);
        let ty = u8_at(offset_of!(VirtioPciCap, cfg_type))?;
        let b = u8_at(offset_of!(VirtioPciCap, bar))?;
        let need = if kind == CAP_NOTIFY {
            size_of::<VirtioPciNotifyCap>()
        } else {
            size_of::<VirtioPciCap>()
        };
        if len < need
            || usize::from(pos) + len > usize::from(PCI_CFG_SPACE_SIZE)
            || ty != kind
            || bar.is_some_and(|want| want != b)
            // Reserved BAR numbers, I/O-port and empty BARs are skipped.
            || b >= 6
            || dev.pci_mem_bar_len(b.into()) == 0
        {
            return None;
        }
        let loc = Loc {
            bar: b,
            offset: u32_at(offset_of!(VirtioPciCap, offset))?,
            len: u32_at(offset_of!(VirtioPciCap, length))?,
        };
        let mult = if kind == CAP_NOTIFY {
            u32_at(offset_of!(VirtioPciNotifyCap, notify_off_multiplier))?
        } else {
            0
        };
        Some((loc, mult))
    }
}

/// The device's register blocks: windows of one memory BAR at the places [`Caps`]
/// names, and the notification slot of queue 0 ([`start`] learns it).
///
/// # Invariants
///
/// `common` and `device` are 4-byte aligned offsets of `bar` with at least
/// [`COMMON_SIZE`] and [`DEVICE_SIZE`] bytes after them; `isr` lies inside `bar`;
/// `notify` is even and `notify + 2` at most `bar`'s length.
pub(crate) struct Regs {
    bar: Bar,
    common: usize,
    isr: usize,
    device: usize,
    /// Offset in the BAR of queue 0's notification slot.
    notify: usize,
}

impl Regs {
    /// Maps the BAR `caps` name and checks each block fits in it.
    fn map(dev: &Dev, caps: &Caps) -> Result<Self> {
        Self::new(dev.iomap::<0>(caps.common.bar.into())?, caps)
    }

    /// The BAR kept under `role` ([`Regs::keep`]), which must be the one `caps` name.
    /// Only in `adopt`. (Should the checks fail, the framework leaves the mapping
    /// mapped while a kept reset record still writes into it.)
    fn adopt(dev: &Dev, caps: &Caps, role: u32) -> Result<Self> {
        let bar = dev.adopt_iomap::<0>(role)?;
        if bar.index() != u32::from(caps.common.bar) {
            return Err(EIO);
        }
        Self::new(bar, caps)
    }

    fn new(bar: Bar, caps: &Caps) -> Result<Self> {
        let common = caps.common.offset as usize;
        let device = caps.device.offset as usize;
        let isr = caps.isr.offset as usize;
        bar.window::<COMMON_SIZE>(common)?;
        bar.window::<DEVICE_SIZE>(device)?;
        if isr >= bar.len() {
            return Err(EINVAL);
        }
        let notify = Self::notify_slot(&bar, caps, 0)?;
        // INVARIANT: the windows were made (aligned, long enough), `isr` and the
        // notification slot checked against the BAR's length just above.
        Ok(Self {
            bar,
            common,
            isr,
            device,
            notify,
        })
    }

    /// The common configuration.
    fn common(&self) -> Result<BarWindow<'_, COMMON_SIZE>> {
        self.bar.window(self.common)
    }

    /// The block device's configuration.
    fn device_cfg(&self) -> Result<BarWindow<'_, DEVICE_SIZE>> {
        self.bar.window(self.device)
    }

    /// Where in `bar` the notification slot `off` (a queue's `QUEUE_NOTIFY_OFF`) lies:
    /// inside the notification structure and the BAR, 2-byte aligned; `ENODEV` if not.
    fn notify_slot(bar: &Bar, caps: &Caps, off: u16) -> Result<usize> {
        let rel = u64::from(off) * u64::from(caps.notify_mult);
        if rel + 2 > u64::from(caps.notify.len) {
            return Err(ENODEV);
        }
        let at = (caps.notify.offset as usize)
            .checked_add(rel as usize)
            .ok_or(ENODEV)?;
        if at % 2 != 0 || at.checked_add(2).is_none_or(|end| end > bar.len()) {
            return Err(ENODEV);
        }
        Ok(at)
    }

    /// Sets queue 0's notification slot to slot `off`.
    fn set_notify(&mut self, caps: &Caps, off: u16) -> Result {
        // INVARIANT: `notify_slot` checked the slot against the BAR.
        self.notify = Self::notify_slot(&self.bar, caps, off)?;
        Ok(())
    }

    /// Keeps the BAR claimed and mapped across a warm restart under `role`.
    pub(crate) fn keep(&self, role: u32) -> Result {
        self.bar.keep(role)
    }
}

/// What the device offered and the driver took at start-up.
pub(crate) struct Started {
    /// Negotiated features.
    pub(crate) features: Features,
    /// Disk size in 512-byte sectors.
    pub(crate) capacity: u64,
    /// Size of queue 0 (the device's maximum, kept).
    pub(crate) queue_num: u16,
}

/// How long [`reset`] waits for the device to finish its reset: inside the watchdog
/// deadline of the entry points that reset (the framework's 50 ms floor, which
/// `adopt` shares with its drain). Linux's own driver waits without a bound.
const RESET_WAIT_MS: i64 = 5;

/// Resets the device: it forgets its queues and features and stops all DMA. A modern
/// device may take time to: the status reads 0 once it has (QEMU's does at once).
/// Waits for it, sleeping, up to [`RESET_WAIT_MS`]; `ETIMEDOUT` (logged) if it does not
/// finish, and then the device may still reach the memory it was given: stop its DMA
/// (`PciEnabled::clear_master`) before that memory goes. Process context (checked:
/// the wait may sleep).
pub(crate) fn reset(io: &Regs) -> Result {
    use kernel::io::poll::read_poll_timeout;
    use kernel::time::Delta;
    let c = io.common()?;
    c.write_reg(DEVICE_STATUS::reset());
    read_poll_timeout(
        || Ok(c.read(DEVICE_STATUS)),
        |s| *s == DEVICE_STATUS::reset(),
        Delta::from_micros(50),
        Delta::from_millis(RESET_WAIT_MS),
    )
    .inspect_err(|_| pr_warn!("vblk-a: the device does not finish its reset\n"))?;
    Ok(())
}

/// The device's 64 feature bits.
fn device_features(c: &BarWindow<'_, COMMON_SIZE>) -> Features {
    c.write_reg(DEVICE_FEATURE_SELECT::zeroed().with_select(0));
    let lo = c.read(DEVICE_FEATURE).bits();
    c.write_reg(DEVICE_FEATURE_SELECT::zeroed().with_select(1));
    let hi = c.read(DEVICE_FEATURE).bits();
    Features(u64::from(hi) << 32 | u64::from(lo))
}

/// The 64 feature bits the driver wrote.
fn driver_features(c: &BarWindow<'_, COMMON_SIZE>) -> Features {
    c.write_reg(DRIVER_FEATURE_SELECT::zeroed().with_select(0));
    let lo = c.read(DRIVER_FEATURE).bits();
    c.write_reg(DRIVER_FEATURE_SELECT::zeroed().with_select(1));
    let hi = c.read(DRIVER_FEATURE).bits();
    Features(u64::from(hi) << 32 | u64::from(lo))
}

/// The disk's size in 512-byte sectors, read twice over if the configuration changes
/// in between (its generation). `EIO` if it keeps changing.
fn capacity(io: &Regs) -> Result<u64> {
    let c = io.common()?;
    let d = io.device_cfg()?;
    for _ in 0..8 {
        let g = c.read(CONFIG_GENERATION).generation();
        let lo = d.read(CAPACITY_LO).sectors();
        let hi = d.read(CAPACITY_HI).sectors();
        if c.read(CONFIG_GENERATION).generation() == g {
            return Ok(u64::from(hi) << 32 | u64::from(lo));
        }
    }
    Err(EIO)
}

/// Resets the device and negotiates features up to `FEATURES_OK`, taking those of
/// `want` the device offers (it must offer [`F_VERSION_1`]); learns queue 0's size,
/// notification slot and the disk's capacity. `ENODEV` (or `EIO` for the capacity) if
/// the device does not take the features or has no usable queue 0; it is then marked
/// failed.
fn start(io: &mut Regs, caps: &Caps, want: Features) -> Result<Started> {
    reset(io)?;
    let st = negotiate(io, caps, want);
    if st.is_err() {
        if let Ok(c) = io.common() {
            c.write_reg(DEVICE_STATUS::has_driver().with_failed(true));
        }
    }
    st
}

/// [`start`] after the reset.
fn negotiate(io: &mut Regs, caps: &Caps, want: Features) -> Result<Started> {
    let (notify_off, features, queue_num) = {
        let c = io.common()?;
        c.write_reg(DEVICE_STATUS::zeroed().with_acknowledge(true));
        c.write_reg(DEVICE_STATUS::has_driver());
        let offered = device_features(&c);
        if !offered.has(F_VERSION_1) {
            return Err(ENODEV);
        }
        let features = offered.and(want.with(F_VERSION_1).with(F_ACCESS_PLATFORM));
        c.write_reg(DRIVER_FEATURE_SELECT::zeroed().with_select(0));
        c.write_reg(DRIVER_FEATURE::zeroed().with_bits(features.0 as u32));
        c.write_reg(DRIVER_FEATURE_SELECT::zeroed().with_select(1));
        c.write_reg(DRIVER_FEATURE::zeroed().with_bits((features.0 >> 32) as u32));
        c.write_reg(DEVICE_STATUS::has_driver().with_features_ok(true));
        if !c.read(DEVICE_STATUS).features_ok() {
            return Err(ENODEV);
        }
        c.write_reg(QUEUE_SELECT::zeroed().with_queue(0));
        let queue_num = c.read(QUEUE_SIZE).size();
        if queue_num == 0 || !queue_num.is_power_of_two() || c.read(QUEUE_ENABLE).enabled() != 0 {
            c.write_reg(DEVICE_STATUS::has_driver().with_failed(true));
            return Err(ENODEV);
        }
        (c.read(QUEUE_NOTIFY_OFF).off(), features, queue_num)
    };
    io.set_notify(caps, notify_off)?;
    Ok(Started {
        features,
        capacity: capacity(io)?,
        queue_num,
    })
}

/// Gives the device queue `q` as its queue 0 -- with MSI-X on (`msix`), interrupting
/// on vector 0, and not for configuration changes -- and declares the driver ready.
/// `EIO` if the device refuses the vector or fails.
pub(crate) fn activate(io: &Regs, q: &Queue, msix: bool) -> Result {
    let c = io.common()?;
    let (desc, avail, used) = q.parts_dma();
    c.write_reg(QUEUE_SELECT::zeroed().with_queue(0));
    c.write_reg(QUEUE_SIZE::zeroed().with_size(q.num()));
    c.write_reg(QUEUE_DESC_LO::zeroed().with_addr(desc as u32));
    c.write_reg(QUEUE_DESC_HI::zeroed().with_addr((desc >> 32) as u32));
    c.write_reg(QUEUE_DRIVER_LO::zeroed().with_addr(avail as u32));
    c.write_reg(QUEUE_DRIVER_HI::zeroed().with_addr((avail >> 32) as u32));
    c.write_reg(QUEUE_DEVICE_LO::zeroed().with_addr(used as u32));
    c.write_reg(QUEUE_DEVICE_HI::zeroed().with_addr((used >> 32) as u32));
    if msix {
        c.write_reg(CONFIG_MSIX_VECTOR::zeroed().with_vector(NO_VECTOR));
        c.write_reg(QUEUE_MSIX_VECTOR::zeroed().with_vector(0));
        if c.read(QUEUE_MSIX_VECTOR).vector() != 0 {
            return Err(EIO);
        }
    }
    c.write_reg(QUEUE_ENABLE::zeroed().with_enabled(1));
    c.write_reg(
        DEVICE_STATUS::has_driver()
            .with_features_ok(true)
            .with_driver_ok(true),
    );
    let status = c.read(DEVICE_STATUS);
    if status.failed() || status.needs_reset() {
        return Err(EIO);
    }
    Ok(())
}

/// What a device that an earlier instance started and left running says of itself
/// (warm restart): it must be driving (`FEATURES_OK`, `DRIVER_OK`, neither `FAILED`
/// nor `NEEDS_RESET`) with the features [`start`] would have taken with `want`, queue
/// 0 live, and with MSI-X on (`msix`) queue 0 on vector 0 and configuration changes on
/// none, without it neither on a vector; `EIO` otherwise. Nothing is written but the
/// selectors. [`runs_queue`] checks the queue is the kept one.
pub(crate) fn running(io: &mut Regs, caps: &Caps, want: Features, msix: bool) -> Result<Started> {
    let (notify_off, features, queue_num) = {
        let c = io.common()?;
        let status = c.read(DEVICE_STATUS);
        let driving = DEVICE_STATUS::has_driver()
            .with_features_ok(true)
            .with_driver_ok(true);
        if status != driving {
            return Err(EIO);
        }
        let features = driver_features(&c);
        let wanted = device_features(&c).and(want.with(F_VERSION_1).with(F_ACCESS_PLATFORM));
        if features != wanted || !features.has(F_VERSION_1) {
            return Err(EIO);
        }
        c.write_reg(QUEUE_SELECT::zeroed().with_queue(0));
        let queue_num = c.read(QUEUE_SIZE).size();
        if queue_num == 0 || !queue_num.is_power_of_two() || c.read(QUEUE_ENABLE).enabled() != 1 {
            return Err(EIO);
        }
        let (queue_vector, config_vector) = if msix {
            (0, NO_VECTOR)
        } else {
            (NO_VECTOR, NO_VECTOR)
        };
        if c.read(QUEUE_MSIX_VECTOR).vector() != queue_vector
            || c.read(CONFIG_MSIX_VECTOR).vector() != config_vector
        {
            return Err(EIO);
        }
        (c.read(QUEUE_NOTIFY_OFF).off(), features, queue_num)
    };
    io.set_notify(caps, notify_off).map_err(|_| EIO)?;
    Ok(Started {
        features,
        capacity: capacity(io)?,
        queue_num,
    })
}

/// Whether queue 0 of a running device is `q` (warm restart: the adopter's kept ring is
/// the one the device uses).
pub(crate) fn runs_queue(io: &Regs, q: &Queue) -> Result<bool> {
    let c = io.common()?;
    c.write_reg(QUEUE_SELECT::zeroed().with_queue(0));
    let addr = |lo: u32, hi: u32| u64::from(hi) << 32 | u64::from(lo);
    let desc = addr(c.read(QUEUE_DESC_LO).addr(), c.read(QUEUE_DESC_HI).addr());
    let avail = addr(
        c.read(QUEUE_DRIVER_LO).addr(),
        c.read(QUEUE_DRIVER_HI).addr(),
    );
    let used = addr(
        c.read(QUEUE_DEVICE_LO).addr(),
        c.read(QUEUE_DEVICE_HI).addr(),
    );
    // The size is the kept buffer's: `Queue::adopt` took it at the device's size.
    Ok((desc, avail, used) == q.parts_dma())
}

/// Tells the device that queue 0 has new buffers: a 16-bit write of the queue's index
/// to its notification slot (a memory write, no I/O port).
pub(crate) fn notify(io: &Regs) {
    // Cannot fail: the slot lies inside the BAR, 2-byte aligned (`Regs`' invariant).
    let _ = io.bar.try_write16(0, io.notify);
}

/// Acknowledges the device's interrupt (INTx): `Some(true)` if a queue has used
/// buffers, `Some(false)` for another cause, `None` if the device did not interrupt
/// (the interrupt of another device on the line).
pub(crate) fn ack_interrupt(io: &Regs) -> Option<bool> {
    // Inside the BAR (`Regs`' invariant); a byte needs no alignment.
    let isr = io.bar.try_read8(io.isr).ok()?;
    if isr == 0 {
        return None;
    }
    Some(isr & ISR_QUEUE != 0)
}

/// Has the undo list of the instance behind `dev` reset the device (status 0) if the
/// instance dies. The undo list only writes: a device whose reset takes time may go on
/// a little after it (QEMU's does not), which is why the framework turns bus mastering
/// off before it gives back the memory of an instance that failed.
pub(crate) fn reset_on_undo(dev: &Dev, io: &Regs) -> Result<ResetOnUndo> {
    let c = io.common()?;
    dev.reset_on_undo_in(&io.bar, &c, DEVICE_STATUS::reset())
}

/// The reset record the previous instance kept under `role`, which must write the
/// device status of `io` ([`reset_on_undo`]). `EIO` if it writes elsewhere (the
/// capabilities moved, or the record is not the device's reset): the record is then
/// left to the undo list, which performs it, the framework's check of it in place,
/// after bus mastering is off; nothing is written through `io`, whose place is the
/// one in doubt. Only in `adopt`.
pub(crate) fn adopt_reset_on_undo(dev: &Dev, io: &Regs, role: u32) -> Result<ResetOnUndo> {
    let reset = dev.adopt_reset_on_undo_in(&io.bar, role)?;
    if reset.offset() != io.common + <DEVICE_STATUS as Register>::OFFSET {
        reset.leave_to_undo();
        return Err(EIO);
    }
    Ok(reset)
}

/// Takes the device behind `dev`: enables the PCI function, finds and maps its
/// register blocks, routes its interrupt to `devirq` (an MSI-X vector of its own when
/// the function has MSI-X, else its INTx: [`IrqLine::is_msix`]) and starts it (see
/// [`start`]), taking the features in `want`; bus mastering goes on once the reset is
/// done.
pub(crate) fn take_with_irq(
    dev: &Dev,
    want: Features,
) -> Result<(PciEnabled, Regs, IrqLine, Started)> {
    if !dev.pci_present() {
        return Err(ENODEV);
    }
    let caps = Caps::find(dev)?;
    // Without bus mastering until the reset is done: the device may still run on a
    // dead instance's queue, whose memory is given back.
    let enabled = dev.pci_enable_quiet()?;
    let mut io = Regs::map(dev, &caps)?;
    let irq = match dev.request_msix() {
        Ok(line) => line,
        // A misuse (a line held already): the instance failed.
        Err(e) if e == EBUSY => return Err(e),
        // No MSI-X, or no vector for it (which may also read ENOMEM: IRQ numbers
        // exhausted): the INTx.
        Err(_) => dev.request_irq()?,
    };
    let st = start(&mut io, &caps, want)?;
    enabled.set_master();
    Ok((enabled, io, irq, st))
}

/// Takes back the registers the previous instance kept under `role` and reads what
/// the running device says of itself ([`running`]). Only in `adopt`.
pub(crate) fn adopt_regs(dev: &Dev, role: u32) -> Result<(Regs, Caps)> {
    let caps = Caps::find(dev)?;
    let io = Regs::adopt(dev, &caps, role)?;
    Ok((io, caps))
}
