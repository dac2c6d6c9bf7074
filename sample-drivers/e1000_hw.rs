// SPDX-License-Identifier: GPL-2.0

//! The hardware layer the two sample e1000 drivers share: register and descriptor
//! definitions of the Intel 82540EM (QEMU's `e1000`), from the 8254x Software
//! Developer's Manual, and the device operations both do alike (probe and reset,
//! station address, `RCTL`, ring registers, interrupt acknowledge, counters, legacy
//! descriptors). What differs between the designs (ring sizes and layout, NAPI or
//! interrupt completion, zero-copy or copying transmit, the multicast table update)
//! stays in the drivers.
//!
//! Compiled into each driver with `#[path]`, after `abi`, `driver_dev` and
//! `nic_driver`.

// Each driver uses the registers it needs.
#![allow(dead_code)]

use crate::abi::{NicHwStats, PciId};
use crate::driver_dev::{Bar, Dev, DmaArray, IrqLine, PciEnabled};
use crate::nic_driver::{RingDescriptor, RxFilter};
use kernel::io::Io;
use kernel::prelude::*;

/// The functions both drivers drive: the 82540EM, QEMU's `e1000` (`8086:100e`).
pub(crate) const PCI_IDS: &[PciId] = &[PciId::new(0x8086, 0x100e)];

/// Length of the register BAR (BAR 0): 128 KiB. Register offsets are checked against it
/// when the driver is built.
pub(crate) const BAR_SIZE: usize = 0x20000;

/// Device control.
pub(crate) const CTRL: usize = 0x0000;
/// Device status.
pub(crate) const STATUS: usize = 0x0008;
/// Interrupt cause read (reading acknowledges).
pub(crate) const ICR: usize = 0x00c0;
/// Interrupt throttling.
pub(crate) const ITR: usize = 0x00c4;
/// Interrupt mask set.
pub(crate) const IMS: usize = 0x00d0;
/// Interrupt mask clear.
pub(crate) const IMC: usize = 0x00d8;
/// Receive control.
pub(crate) const RCTL: usize = 0x0100;
/// Transmit control.
pub(crate) const TCTL: usize = 0x0400;
/// Transmit inter-packet gap.
pub(crate) const TIPG: usize = 0x0410;
/// Receive descriptor ring: base low/high, length, head, tail, delay timer.
pub(crate) const RDBAL: usize = 0x2800;
pub(crate) const RDBAH: usize = 0x2804;
pub(crate) const RDLEN: usize = 0x2808;
pub(crate) const RDH: usize = 0x2810;
pub(crate) const RDT: usize = 0x2818;
pub(crate) const RDTR: usize = 0x2820;
/// Transmit descriptor ring: base low/high, length, head, tail.
pub(crate) const TDBAL: usize = 0x3800;
pub(crate) const TDBAH: usize = 0x3804;
pub(crate) const TDLEN: usize = 0x3808;
pub(crate) const TDH: usize = 0x3810;
pub(crate) const TDT: usize = 0x3818;
/// Statistics (clear on read): CRC errors, missed packets, collisions.
pub(crate) const CRCERRS: usize = 0x4000;
pub(crate) const MPC: usize = 0x4010;
pub(crate) const COLC: usize = 0x4028;
/// Multicast table array (128 words).
pub(crate) const MTA: usize = 0x5200;
/// Entries of the multicast table.
pub(crate) const MTA_ENTRIES: usize = 128;
const _: () = assert!(MTA + 4 * MTA_ENTRIES <= BAR_SIZE);

/// Register `i` of the multicast table (32 bits each, `i` below [`MTA_ENTRIES`]).
const fn mta_reg(i: usize) -> usize {
    MTA + 4 * i
}
/// Receive address 0, low and high.
pub(crate) const RAL0: usize = 0x5400;
pub(crate) const RAH0: usize = 0x5404;

/// CTRL: set link up, auto speed detection, device reset.
pub(crate) const CTRL_SLU: u32 = 1 << 6;
pub(crate) const CTRL_ASDE: u32 = 1 << 5;
pub(crate) const CTRL_RST: u32 = 1 << 26;
/// STATUS: link up.
pub(crate) const STATUS_LU: u32 = 1 << 1;
/// RAH: address valid.
pub(crate) const RAH_AV: u32 = 1 << 31;

/// Interrupt causes.
pub(crate) const ICR_TXDW: u32 = 1 << 0;
pub(crate) const ICR_LSC: u32 = 1 << 2;
pub(crate) const ICR_RXDMT0: u32 = 1 << 4;
pub(crate) const ICR_RXO: u32 = 1 << 6;
pub(crate) const ICR_RXT0: u32 = 1 << 7;
/// Interrupt causes the drivers enable.
pub(crate) const IMS_BITS: u32 = ICR_RXT0 | ICR_TXDW | ICR_LSC | ICR_RXO | ICR_RXDMT0;

/// RCTL bits: enable, unicast/multicast promiscuous, broadcast accept, strip CRC
/// (buffer size field 0: 2048 bytes).
pub(crate) const RCTL_EN: u32 = 1 << 1;
pub(crate) const RCTL_UPE: u32 = 1 << 3;
pub(crate) const RCTL_MPE: u32 = 1 << 4;
pub(crate) const RCTL_BAM: u32 = 1 << 15;
pub(crate) const RCTL_SECRC: u32 = 1 << 26;

/// TCTL bits: enable, pad short packets, collision threshold and distance.
pub(crate) const TCTL_EN: u32 = 1 << 1;
pub(crate) const TCTL_PSP: u32 = 1 << 3;
pub(crate) const TCTL_CT: u32 = 0x10 << 4;
pub(crate) const TCTL_COLD: u32 = 0x40 << 12;
/// Recommended TIPG for copper.
pub(crate) const TIPG_DEFAULT: u32 = 10 | (8 << 10) | (6 << 20);

/// A legacy descriptor, receive or transmit: the buffer's bus address, then a quadword
/// of length, checksum or command, status and errors (the bits below), which the
/// device writes back.
#[repr(C)]
#[derive(Clone, Copy, Default, FromBytes, IntoBytes)]
pub(crate) struct Desc {
    /// Bus address of the buffer.
    pub(crate) addr: u64,
    /// Length, checksum or command, status, errors.
    pub(crate) info: u64,
}
/// Legacy descriptors are 16 bytes.
pub(crate) const DESC_SIZE: usize = 16;
const _: () = assert!(core::mem::size_of::<Desc>() == DESC_SIZE);
/// A descriptor ring in coherent DMA memory.
pub(crate) type Ring = DmaArray<Desc>;
/// Receive descriptor, second quadword: length in bits 0..16, status in 32..40,
/// errors in 40..48.
pub(crate) const RXD_STATUS_DD: u64 = 1 << 32;
pub(crate) const RXD_STATUS_EOP: u64 = 1 << 33;
pub(crate) const RXD_ERRORS_MASK: u64 = 0xff << 40;
/// Transmit descriptor, second quadword: length in bits 0..16, command in 24..32,
/// status in 32..40.
pub(crate) const TXD_CMD_EOP: u64 = 1 << 24;
pub(crate) const TXD_CMD_IFCS: u64 = 1 << 25;
pub(crate) const TXD_CMD_RS: u64 = 1 << 27;
pub(crate) const TXD_STATUS_DD: u64 = 1 << 32;

/// Receive and transmit descriptors alike have their status in bits 32..40 of the
/// second quadword, byte 12, and set descriptor-done (DD, bit 0) there once the device
/// is done: what the framework reads in a dead instance's rings.
impl RingDescriptor for Desc {
    const STATUS_BYTE: usize = 12;
    const DONE_MASK: u8 = 1;
}
const _: () = assert!(RXD_STATUS_DD == (Desc::DONE_MASK as u64) << (8 * (Desc::STATUS_BYTE - 8)));
const _: () = assert!(TXD_STATUS_DD == (Desc::DONE_MASK as u64) << (8 * (Desc::STATUS_BYTE - 8)));

/// Receive buffer size (RCTL.BSIZE 0).
pub(crate) const RX_BUF: usize = 2048;
/// Largest MTU without jumbo frames.
pub(crate) const MAX_MTU: u32 = 1500;
/// How many reads of `CTRL` may still see a reset running before `probe` gives up.
const RESET_POLLS: u32 = 100_000;

/// The multicast table bit of an address (MO = 0: bits 36..47 of the address).
pub(crate) fn mta_hash(mac: u64) -> u32 {
    let b = mac.to_le_bytes();
    (((b[4] as u32) >> 4) | ((b[5] as u32) << 4)) & 0xfff
}

/// Accepts MTU `mtu` if it fits without jumbo frames, else `EINVAL`.
pub(crate) fn check_mtu(mtu: u32) -> Result {
    if mtu > MAX_MTU {
        return Err(EINVAL);
    }
    Ok(())
}

/// Receive descriptor `i` of `ring`, if the device is done with it: the frame's
/// length (at most [`RX_BUF`]) and whether it is good (no error, end of packet).
pub(crate) fn rx_desc(ring: &Ring, i: usize) -> Option<(usize, bool)> {
    let st = ring.read(i)?.info;
    if st & RXD_STATUS_DD == 0 {
        return None;
    }
    let len = ((st & 0xffff) as usize).min(RX_BUF);
    Some((len, st & RXD_ERRORS_MASK == 0 && st & RXD_STATUS_EOP != 0))
}

/// Fills transmit descriptor `i` of `ring`: `len` bytes at bus address `buf`, one
/// whole frame, FCS added by the device, status reported.
pub(crate) fn tx_desc_set(ring: &Ring, i: usize, buf: u64, len: usize) -> Result {
    ring.write(
        i,
        Desc {
            addr: buf,
            info: len as u64 | TXD_CMD_EOP | TXD_CMD_IFCS | TXD_CMD_RS,
        },
    )
}

/// Whether the device has sent transmit descriptor `i` of `ring`.
pub(crate) fn tx_desc_done(ring: &Ring, i: usize) -> bool {
    ring.read(i).is_some_and(|d| d.info & TXD_STATUS_DD != 0)
}

/// Clears the second quadword (length, command, status) of descriptor `i` of `ring`,
/// keeping its buffer.
pub(crate) fn desc_clear(ring: &Ring, i: usize) {
    if let Some(d) = ring.read(i) {
        let _ = ring.write(i, Desc { info: 0, ..d });
    }
}

/// A probed device: its interrupt line, registers and PCI enable, dropped in this
/// order on an orderly remove.
pub(crate) struct Hw {
    _irq: IrqLine,
    /// The registers (BAR 0), for what only one driver does.
    pub(crate) mmio: Bar<BAR_SIZE>,
    _enabled: PciEnabled,
}

impl Hw {
    /// Takes the PCI function and resets the device, link up; interface still down.
    ///
    /// Bus mastering stays off until the device is silenced: a dead instance may have
    /// left the receiver running on rings that are freed now. Only then is the bus
    /// mastered and the interrupt line requested.
    pub(crate) fn probe(dev: &Dev) -> Result<Self> {
        let enabled = dev.pci_enable_quiet()?;
        let mmio = dev.iomap::<BAR_SIZE>(0)?;
        mmio.write32(u32::MAX, IMC);
        mmio.write32(0, RCTL);
        mmio.write32(0, TCTL);
        mmio.write32(0, RDLEN);
        mmio.write32(0, TDLEN);
        mmio.write32(mmio.read32(CTRL) | CTRL_RST, CTRL);
        let mut n = 0;
        while mmio.read32(CTRL) & CTRL_RST != 0 {
            n += 1;
            if n > RESET_POLLS {
                return Err(ETIMEDOUT);
            }
        }
        mmio.write32(u32::MAX, IMC);
        let _ = mmio.read32(ICR);
        mmio.write32(mmio.read32(CTRL) | CTRL_SLU | CTRL_ASDE, CTRL);
        enabled.set_master();
        let irq = dev.request_irq()?;
        Ok(Self {
            _irq: irq,
            mmio,
            _enabled: enabled,
        })
    }

    /// Starts a device reset (`CTRL.RST`) and leaves it to finish: the end of an
    /// orderly remove.
    pub(crate) fn reset(&self) {
        self.mmio.write32(self.mmio.read32(CTRL) | CTRL_RST, CTRL);
    }

    /// Masks every interrupt cause.
    pub(crate) fn mask(&self) {
        self.mmio.write32(u32::MAX, IMC);
    }

    /// Masks and acknowledges every interrupt cause.
    pub(crate) fn quiet(&self) {
        self.mask();
        let _ = self.mmio.read32(ICR);
    }

    /// Turns receiver and transmitter off.
    pub(crate) fn disable_rx_tx(&self) {
        self.mmio.write32(0, RCTL);
        self.mmio.write32(0, TCTL);
    }

    /// Whether the link is up.
    pub(crate) fn link_up(&self) -> bool {
        self.mmio.read32(STATUS) & STATUS_LU != 0
    }

    /// Programs station address `mac` into receive address 0.
    pub(crate) fn write_mac(&self, mac: [u8; 6]) {
        let lo = u32::from_le_bytes([mac[0], mac[1], mac[2], mac[3]]);
        let hi = u32::from(mac[4]) | (u32::from(mac[5]) << 8) | RAH_AV;
        self.mmio.write32(lo, RAL0);
        self.mmio.write32(hi, RAH0);
    }

    /// Programs the multicast table for filter `f`: the bit of each of its addresses
    /// set, every other bit clear.
    pub(crate) fn write_multicast(&self, f: &RxFilter) {
        let mut mta = [0u32; MTA_ENTRIES];
        for &a in &f.mc[..f.count] {
            let h = mta_hash(a) as usize;
            if let Some(w) = mta.get_mut(h >> 5) {
                *w |= 1 << (h & 31);
            }
        }
        for (i, w) in mta.iter().enumerate() {
            // Cannot fail: the table lies inside the BAR (asserted where `MTA_ENTRIES` is).
            let _ = self.mmio.try_write32(*w, mta_reg(i));
        }
    }

    /// Programs `RCTL` for filter `f` (see also [`Hw::write_multicast`]);
    /// `enable`: the receiver runs.
    pub(crate) fn write_rctl(&self, f: &RxFilter, enable: bool) {
        let mut rctl = RCTL_BAM | RCTL_SECRC;
        if enable {
            rctl |= RCTL_EN;
        }
        if f.promisc {
            rctl |= RCTL_UPE | RCTL_MPE;
        }
        if f.allmulti {
            rctl |= RCTL_MPE;
        }
        self.mmio.write32(rctl, RCTL);
    }

    /// Points the receiver at `ring`, all but its last descriptor given
    /// to the device, no receive delay. The receiver stays as it is.
    pub(crate) fn setup_rx(&self, ring: &Ring) {
        let m = &self.mmio;
        m.write32(ring.dma() as u32, RDBAL);
        m.write32((ring.dma() >> 32) as u32, RDBAH);
        m.write32((ring.len() * DESC_SIZE) as u32, RDLEN);
        m.write32(0, RDH);
        m.write32(ring.len().saturating_sub(1) as u32, RDT);
        m.write32(0, RDTR);
    }

    /// Points the transmitter at the empty `ring` and sets the
    /// inter-packet gap. The transmitter stays off ([`Hw::start_tx`]).
    pub(crate) fn setup_tx(&self, ring: &Ring) {
        let m = &self.mmio;
        m.write32(ring.dma() as u32, TDBAL);
        m.write32((ring.dma() >> 32) as u32, TDBAH);
        m.write32((ring.len() * DESC_SIZE) as u32, TDLEN);
        m.write32(0, TDH);
        m.write32(0, TDT);
        m.write32(TIPG_DEFAULT, TIPG);
    }

    /// Turns the transmitter on: short frames padded, half-duplex collision
    /// parameters.
    pub(crate) fn start_tx(&self) {
        self.mmio
            .write32(TCTL_EN | TCTL_PSP | TCTL_CT | TCTL_COLD, TCTL);
    }

    /// The end of `open`: acknowledges stale causes, enables [`IMS_BITS`] and reports
    /// the link state to the placeholder.
    pub(crate) fn start_interrupts(&self, dev: &Dev) {
        let _ = self.mmio.read32(ICR);
        self.mmio.write32(IMS_BITS, IMS);
        dev.carrier(self.link_up());
    }

    /// Reads (and so acknowledges) the interrupt causes and reports a link change.
    /// `false`: none was pending (the interrupt of another device on the line).
    pub(crate) fn ack_interrupt(&self, dev: &Dev) -> bool {
        let icr = self.mmio.read32(ICR);
        if icr == 0 {
            return false;
        }
        if icr & ICR_LSC != 0 {
            dev.carrier(self.link_up());
        }
        true
    }

    /// Hands receive descriptor `i` of `ring` back to the
    /// device; returns the next descriptor to look at.
    pub(crate) fn rx_give_back(&self, ring: &Ring, i: usize) -> usize {
        desc_clear(ring, i);
        self.mmio.write32(i as u32, RDT);
        (i + 1) % ring.len().max(1)
    }

    /// Reads the missed-packet and CRC-error counters (clear on read, in this order),
    /// adds them to `stats` and returns them.
    pub(crate) fn rx_stats(&self, stats: &mut NicHwStats) -> (u64, u64) {
        let missed = u64::from(self.mmio.read32(MPC));
        let crc = u64::from(self.mmio.read32(CRCERRS));
        stats.rx_missed += missed;
        stats.rx_errors += crc;
        (missed, crc)
    }
}
