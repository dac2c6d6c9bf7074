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
use crate::driver_dev::{Bar, BarWindow, Dev, IrqLine, PciEnabled};
use crate::virtio_ring::Queue;
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

    /// This set and feature bit `bit`.
    pub(crate) const fn with(self, bit: u32) -> Self {
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

register! {
    /// Interrupt status; reading it acknowledges the interrupt (INTx only).
    ISR(u8) @ 0 {
        /// The configuration changed.
        1:1 config => bool;
        /// A queue has used buffers.
        0:0 queue => bool;
    }
}

/// A vector register's "no vector": the device does not interrupt for it.
pub(crate) const NO_VECTOR: u16 = 0xffff;

/// Bytes of the common configuration the driver uses (`struct virtio_pci_common_cfg`
/// of virtio 1.0, up to the used ring's address).
const COMMON_SIZE: usize = 0x38;
/// Bytes of the device configuration the driver uses (the capacity).
const DEVICE_SIZE: usize = 8;
/// Bytes of the interrupt status window (one register, in a 4-byte aligned window).
const ISR_SIZE: usize = 4;

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

/// PCI configuration space: the status register and its "capability list" bit.
const PCI_STATUS: u16 = 0x06;
const PCI_STATUS_CAP_LIST: u16 = 0x10;
/// The first capability's offset.
const PCI_CAPABILITY_LIST: u16 = 0x34;
/// A vendor-specific capability: virtio's `struct virtio_pci_cap`.
const PCI_CAP_ID_VNDR: u8 = 0x09;
/// Capabilities at most (a list that loops is cut there).
const CAPS_MAX: usize = 48;

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

/// Where the device's register blocks lie, from its vendor capabilities (the first
/// one of each kind, as virtio asks). All four must be in the same BAR (QEMU's are).
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
    /// structure is missing, too short or in another BAR than the common one.
    pub(crate) fn find(dev: &Dev) -> Result<Self> {
        let mut found: [Option<Loc>; 5] = [None; 5];
        let mut notify_mult = 0;
        if dev.pci_config_u16(PCI_STATUS)? & PCI_STATUS_CAP_LIST == 0 {
            return Err(ENODEV);
        }
        let mut pos = dev.pci_config_u8(PCI_CAPABILITY_LIST)? & !3;
        for _ in 0..CAPS_MAX {
            // Capabilities follow the 64-byte standard header.
            if pos < 0x40 {
                break;
            }
            let at = u16::from(pos);
            let id = dev.pci_config_u8(at)?;
            let next = dev.pci_config_u8(at + 1)? & !3;
            if id == PCI_CAP_ID_VNDR && dev.pci_config_u8(at + 2)? >= 16 {
                let kind = dev.pci_config_u8(at + 3)?;
                let slot = found.get_mut(usize::from(kind));
                if let Some(slot @ None) = slot {
                    if (CAP_COMMON..=CAP_DEVICE).contains(&kind) {
                        *slot = Some(Loc {
                            bar: dev.pci_config_u8(at + 4)?,
                            offset: dev.pci_config_u32(at + 8)?,
                            len: dev.pci_config_u32(at + 12)?,
                        });
                        if kind == CAP_NOTIFY && dev.pci_config_u8(at + 2)? >= 20 {
                            notify_mult = dev.pci_config_u32(at + 16)?;
                        }
                    }
                }
            }
            pos = next;
        }
        let get = |kind: u8| found[usize::from(kind)].ok_or(ENODEV);
        let caps = Self {
            common: get(CAP_COMMON)?,
            notify: get(CAP_NOTIFY)?,
            notify_mult,
            isr: get(CAP_ISR)?,
            device: get(CAP_DEVICE)?,
        };
        let bar = caps.common.bar;
        let short = caps.common.len < COMMON_SIZE as u32
            || caps.isr.len < 1
            || caps.device.len < DEVICE_SIZE as u32
            || caps.notify.len < 2;
        if short
            || [caps.notify, caps.isr, caps.device]
                .iter()
                .any(|l| l.bar != bar)
        {
            pr_err!("vblk-a: virtio structures too short or in several BARs\n");
            return Err(ENODEV);
        }
        Ok(caps)
    }
}

/// The device's register blocks: windows of one memory BAR at the places [`Caps`]
/// names, and the notification address of queue 0 ([`start`] learns it).
pub(crate) struct Regs {
    bar: Bar,
    common: usize,
    isr: usize,
    device: usize,
    /// Offset in the BAR of queue 0's notification slot (2 bytes, checked).
    notify: usize,
}

impl Regs {
    /// Maps the BAR `caps` name and checks each window fits in it.
    fn map(dev: &Dev, caps: &Caps) -> Result<Self> {
        Self::new(dev.iomap::<0>(caps.common.bar.into())?, caps)
    }

    /// The BAR kept under `role` ([`Regs::keep`]), which must be the one `caps` name.
    /// Only in `adopt`.
    fn adopt(dev: &Dev, caps: &Caps, role: u32) -> Result<Self> {
        let bar = dev.adopt_iomap::<0>(role)?;
        if bar.index() != u32::from(caps.common.bar) {
            return Err(EIO);
        }
        Self::new(bar, caps)
    }

    fn new(bar: Bar, caps: &Caps) -> Result<Self> {
        let regs = Self {
            common: caps.common.offset as usize,
            isr: caps.isr.offset as usize,
            device: caps.device.offset as usize,
            // Queue 0's slot until `start` reads its `QUEUE_NOTIFY_OFF`.
            notify: caps.notify.offset as usize,
            bar,
        };
        regs.common()?;
        regs.isr_window()?;
        regs.device_cfg()?;
        Ok(regs)
    }

    /// The common configuration.
    fn common(&self) -> Result<BarWindow<'_, COMMON_SIZE>> {
        self.bar.window(self.common)
    }

    /// The interrupt status.
    fn isr_window(&self) -> Result<BarWindow<'_, ISR_SIZE>> {
        self.bar.window(self.isr)
    }

    /// The block device's configuration.
    fn device_cfg(&self) -> Result<BarWindow<'_, DEVICE_SIZE>> {
        self.bar.window(self.device)
    }

    /// Sets queue 0's notification slot: `off` (its `QUEUE_NOTIFY_OFF`) slots into the
    /// notify structure, which must hold it.
    fn set_notify(&mut self, caps: &Caps, off: u16) -> Result {
        let rel = u64::from(off) * u64::from(caps.notify_mult);
        if rel + 2 > u64::from(caps.notify.len) {
            return Err(ENODEV);
        }
        let at = (caps.notify.offset as usize)
            .checked_add(rel as usize)
            .ok_or(ENODEV)?;
        if at % 2 != 0 || at.checked_add(2).is_none_or(|end| end > self.bar.len()) {
            return Err(ENODEV);
        }
        self.notify = at;
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

/// Resets the device: it forgets its queues and features and stops all DMA. A modern
/// device may take time to: the status reads 0 once it has (QEMU's does at once);
/// this waits for it, a few thousand reads at most, and logs a device that does not
/// come back ([`start`] then fails).
pub(crate) fn reset(io: &Regs) {
    let Ok(c) = io.common() else {
        return;
    };
    c.write_reg(DEVICE_STATUS::reset());
    for _ in 0..10_000 {
        if c.read(DEVICE_STATUS) == DEVICE_STATUS::reset() {
            return;
        }
        core::hint::spin_loop();
    }
    pr_warn!("vblk-a: the device does not finish its reset\n");
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
/// `want` the device offers (it must offer [`F_VERSION_1`]); learns queue 0's size and
/// notification slot. `ENODEV` if the device does not take the features or has no
/// usable queue 0 (it is then marked failed).
fn start(io: &mut Regs, caps: &Caps, want: Features) -> Result<Started> {
    reset(io);
    let (notify_off, features, queue_num) = {
        let c = io.common()?;
        if c.read(DEVICE_STATUS) != DEVICE_STATUS::reset() {
            return Err(EIO);
        }
        c.write_reg(DEVICE_STATUS::zeroed().with_acknowledge(true));
        c.write_reg(DEVICE_STATUS::has_driver());
        let offered = device_features(&c);
        if !offered.has(F_VERSION_1) {
            c.write_reg(DEVICE_STATUS::has_driver().with_failed(true));
            return Err(ENODEV);
        }
        let features = offered.and(want.with(F_VERSION_1).with(F_ACCESS_PLATFORM));
        c.write_reg(DRIVER_FEATURE_SELECT::zeroed().with_select(0));
        c.write_reg(DRIVER_FEATURE::zeroed().with_bits(features.0 as u32));
        c.write_reg(DRIVER_FEATURE_SELECT::zeroed().with_select(1));
        c.write_reg(DRIVER_FEATURE::zeroed().with_bits((features.0 >> 32) as u32));
        c.write_reg(DEVICE_STATUS::has_driver().with_features_ok(true));
        if !c.read(DEVICE_STATUS).features_ok() {
            c.write_reg(DEVICE_STATUS::has_driver().with_failed(true));
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
/// nor `NEEDS_RESET`) with the features [`start`] would have taken with `want`, and
/// queue 0 live at the addresses of `q` (the kept queue) with its size, interrupting on
/// vector 0 with MSI-X on (`msix`); `EIO` otherwise. Nothing is written but the
/// selectors.
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
        if msix && c.read(QUEUE_MSIX_VECTOR).vector() != 0 {
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
    Ok((desc, avail, used) == q.parts_dma() && c.read(QUEUE_SIZE).size() == q.num())
}

/// Tells the device that queue 0 has new buffers: a 16-bit write of the queue's index
/// to its notification slot (a memory write, no I/O port).
pub(crate) fn notify(io: &Regs) {
    // The slot was checked inside the BAR and 2-byte aligned when it was learnt
    // (`Regs::set_notify`), so the checked write cannot fail.
    let _ = io.bar.try_write16(0, io.notify);
}

/// Acknowledges the device's interrupt (INTx): `Some(true)` if a queue has used
/// buffers, `Some(false)` for another cause, `None` if the device did not interrupt
/// (the interrupt of another device on the line).
pub(crate) fn ack_interrupt(io: &Regs) -> Option<bool> {
    let isr = io.isr_window().ok()?.read(ISR);
    if isr.into_raw() == 0 {
        return None;
    }
    Some(isr.queue())
}

/// Has the undo list of the instance behind `dev` reset the device (status 0) if the
/// instance dies. The undo list only writes: a device whose reset takes time may still
/// finish a request after it (QEMU's does not); turning bus mastering off, later in
/// the same undo, stops it for good.
pub(crate) fn reset_on_undo(dev: &Dev, io: &Regs) -> Result<ResetOnUndo> {
    let c = io.common()?;
    dev.reset_on_undo_in(&io.bar, &c, DEVICE_STATUS::reset())
}

/// The reset record the previous instance kept under `role`, in `io`'s BAR. Only in
/// `adopt`.
pub(crate) fn adopt_reset_on_undo(dev: &Dev, io: &Regs, role: u32) -> Result<ResetOnUndo> {
    dev.adopt_reset_on_undo_in(&io.bar, role)
}

/// Takes the device behind `dev`: enables the PCI function, finds and maps its
/// register blocks, routes its interrupt to `devirq` (an MSI-X vector of its own when
/// the function has MSI-X, else its INTx: [`IrqLine::is_msix`]) and starts it (see
/// [`start`]), taking the features in `want`.
pub(crate) fn take_with_irq(
    dev: &Dev,
    want: Features,
) -> Result<(PciEnabled, Regs, IrqLine, Started)> {
    if !dev.pci_present() {
        return Err(ENODEV);
    }
    let caps = Caps::find(dev)?;
    let enabled = dev.pci_enable()?;
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
    Ok((enabled, io, irq, st))
}

/// Takes back the registers the previous instance kept under `role` and reads what
/// the running device says of itself ([`running`]). Only in `adopt`.
pub(crate) fn adopt_regs(dev: &Dev, role: u32) -> Result<(Regs, Caps)> {
    let caps = Caps::find(dev)?;
    let io = Regs::adopt(dev, &caps, role)?;
    Ok((io, caps))
}
