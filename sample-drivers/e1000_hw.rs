// SPDX-License-Identifier: GPL-2.0

//! Register and descriptor definitions of the Intel 82540EM (QEMU's `e1000`), from
//! the 8254x Software Developer's Manual. Constants only: the two sample drivers
//! share the datasheet, not code.

// Each driver uses the registers it needs.
#![allow(dead_code)]

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

/// Legacy descriptors are 16 bytes: a buffer address, then a second quadword.
pub(crate) const DESC_SIZE: usize = 16;
/// Receive descriptor, second quadword: length in bits 0..16, status in 32..40,
/// errors in 40..48.
pub(crate) const RXD_STATUS_DD: u64 = 1 << 32;
pub(crate) const RXD_STATUS_EOP: u64 = 1 << 33;
pub(crate) const RXD_ERRORS_MASK: u64 = 0xff << 40;
/// Byte offset of a receive descriptor's status byte, and its done bit.
pub(crate) const RXD_STATUS_OFF: u32 = 12;
pub(crate) const RXD_DD_BIT: u8 = 1;
/// Transmit descriptor, second quadword: length in bits 0..16, command in 24..32,
/// status in 32..40.
pub(crate) const TXD_CMD_EOP: u64 = 1 << 24;
pub(crate) const TXD_CMD_IFCS: u64 = 1 << 25;
pub(crate) const TXD_CMD_RS: u64 = 1 << 27;
pub(crate) const TXD_STATUS_DD: u64 = 1 << 32;

/// Receive buffer size (RCTL.BSIZE 0).
pub(crate) const RX_BUF: usize = 2048;
/// Largest MTU without jumbo frames.
pub(crate) const MAX_MTU: u32 = 1500;

/// The multicast table bit of an address (MO = 0: bits 36..47 of the address).
pub(crate) fn mta_hash(mac: u64) -> u32 {
    let b = mac.to_le_bytes();
    (((b[4] as u32) >> 4) | ((b[5] as u32) << 4)) & 0xfff
}
