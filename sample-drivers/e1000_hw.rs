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
use crate::driver_dev::{Bar, Dev, DmaArray, DmaBuffers, IrqLine, PciEnabled};
use crate::nic_driver::{RingDescriptor, RxFilter, RxFrame, TxChecksum, TxTso};
use kernel::bitfield;
use kernel::io::register::{Array, Register, RegisterBase, WithBase};
use kernel::io::{register, Io};
use kernel::prelude::*;

/// The functions both drivers drive: the 82540EM, QEMU's `e1000` (`8086:100e`).
pub(crate) const PCI_IDS: &[PciId] = &[PciId::new(0x8086, 0x100e)];

/// Length of the register BAR (BAR 0): 128 KiB. Register offsets are checked against it
/// when the driver is built.
pub(crate) const BAR_SIZE: usize = 0x20000;

register! {
    /// Device control.
    pub(crate) CTRL(u32) @ 0x0000 {
        /// Device reset; the device clears it when the reset is done.
        26:26 rst => bool;
        /// Set link up.
        6:6 slu => bool;
        /// Auto speed detection enable.
        5:5 asde => bool;
    }

    /// Device status.
    pub(crate) STATUS(u32) @ 0x0008 {
        /// Link up.
        1:1 lu => bool;
    }

    /// The interrupt cause registers, one layout at four places ([`Icr`], [`Ics`],
    /// [`Ims`], [`Imc`]): a cause bit read from `ICR` is pending (reading acknowledges
    /// it), written to `ICS` raises it, to `IMS` enables it, to `IMC` masks it.
    pub(crate) CAUSES(u32) @ CauseRegs + 0x0 {
        /// Every cause.
        31:0 bits => u32;
        /// Receiver timer (a frame was received).
        7:7 rxt0 => bool;
        /// Receiver overrun.
        6:6 rxo => bool;
        /// Receive descriptors below the minimum threshold.
        4:4 rxdmt0 => bool;
        /// Link status change.
        2:2 lsc => bool;
        /// Transmit descriptor written back.
        0:0 txdw => bool;
    }

    /// Interrupt throttling.
    pub(crate) ITR(u32) @ 0x00c4 {
        /// Minimum interval between interrupts, in 256 ns units; 0: no throttling.
        15:0 interval => u16;
    }

    /// Receive control.
    pub(crate) RCTL(u32) @ 0x0100 {
        /// Strip the Ethernet CRC.
        26:26 secrc => bool;
        /// Receive buffer size; 0: 2048 bytes ([`RX_BUF`]).
        17:16 bsize;
        /// Accept broadcast frames.
        15:15 bam => bool;
        /// Long packets: frames up to [`MAX_FRAME`] bytes, spread over as many
        /// descriptors as they fill; else longer than 1522 bytes are dropped.
        5:5 lpe => bool;
        /// Multicast promiscuous.
        4:4 mpe => bool;
        /// Unicast promiscuous.
        3:3 upe => bool;
        /// Receiver enable.
        1:1 en => bool;
    }

    /// Transmit control.
    pub(crate) TCTL(u32) @ 0x0400 {
        /// Collision distance.
        21:12 cold;
        /// Collision threshold.
        11:4 ct;
        /// Pad short packets.
        3:3 psp => bool;
        /// Transmitter enable.
        1:1 en => bool;
    }

    /// Transmit inter-packet gap.
    pub(crate) TIPG(u32) @ 0x0410 {
        /// IPG receive time 2.
        29:20 ipgr2;
        /// IPG receive time 1.
        19:10 ipgr1;
        /// IPG transmit time.
        9:0 ipgt;
    }

    /// Receive descriptor ring: base, low half.
    pub(crate) RDBAL(u32) @ 0x2800 {
        31:0 addr => u32;
    }

    /// Receive descriptor ring: base, high half.
    pub(crate) RDBAH(u32) @ 0x2804 {
        31:0 addr => u32;
    }

    /// Receive descriptor ring: length in bytes (a multiple of 128).
    pub(crate) RDLEN(u32) @ 0x2808 {
        31:0 bytes => u32;
    }

    /// Receive descriptor head: the next descriptor the device fills (bits 15:0).
    pub(crate) RDH(u32) @ 0x2810 {
        31:0 index => u32;
    }

    /// Receive descriptor tail: the first descriptor the device may not fill (bits 15:0).
    pub(crate) RDT(u32) @ 0x2818 {
        31:0 index => u32;
    }

    /// Receive delay timer.
    pub(crate) RDTR(u32) @ 0x2820 {
        /// Flush partial descriptor block.
        31:31 fpd => bool;
        /// Delay after a received frame before the interrupt, in 1.024 us units.
        15:0 delay => u16;
    }

    /// Transmit descriptor ring: base, low half.
    pub(crate) TDBAL(u32) @ 0x3800 {
        31:0 addr => u32;
    }

    /// Transmit descriptor ring: base, high half.
    pub(crate) TDBAH(u32) @ 0x3804 {
        31:0 addr => u32;
    }

    /// Transmit descriptor ring: length in bytes (a multiple of 128).
    pub(crate) TDLEN(u32) @ 0x3808 {
        31:0 bytes => u32;
    }

    /// Transmit descriptor head: the next descriptor the device sends (bits 15:0).
    pub(crate) TDH(u32) @ 0x3810 {
        31:0 index => u32;
    }

    /// Transmit descriptor tail: the first descriptor the device may not send (bits
    /// 15:0).
    pub(crate) TDT(u32) @ 0x3818 {
        31:0 index => u32;
    }

    /// CRC error count (clear on read).
    pub(crate) CRCERRS(u32) @ 0x4000 {
        31:0 count => u32;
    }

    /// Missed packets count (clear on read).
    pub(crate) MPC(u32) @ 0x4010 {
        31:0 count => u32;
    }

    /// Collision count (clear on read).
    pub(crate) COLC(u32) @ 0x4028 {
        31:0 count => u32;
    }

    /// Multicast table array: [`MTA_ENTRIES`] words, bit `h & 31` of word `h >> 5` for
    /// hash `h` ([`mta_hash`]).
    pub(crate) MTA(u32)[MTA_ENTRIES] @ 0x5200 {
        31:0 bits => u32;
    }

    /// Receive address 0, low: the first four bytes of the station address.
    pub(crate) RAL0(u32) @ 0x5400 {
        31:0 addr => u32;
    }

    /// Receive address 0, high.
    pub(crate) RAH0(u32) @ 0x5404 {
        /// Address valid.
        31:31 av => bool;
        /// The last two bytes of the station address.
        15:0 addr => u16;
    }
}

/// Entries of the multicast table.
pub(crate) const MTA_ENTRIES: usize = 128;
const _: () = assert!(<MTA as Register>::OFFSET + 4 * MTA_ENTRIES <= BAR_SIZE);

/// The family of bases of [`CAUSES`].
pub(crate) struct CauseRegs;
/// Interrupt cause read ([`CAUSES`]); reading acknowledges the causes.
pub(crate) struct Icr;
/// Interrupt cause set ([`CAUSES`]).
pub(crate) struct Ics;
/// Interrupt mask set ([`CAUSES`]).
pub(crate) struct Ims;
/// Interrupt mask clear ([`CAUSES`]).
pub(crate) struct Imc;
impl RegisterBase<CauseRegs> for Icr {
    const BASE: usize = 0x00c0;
}
impl RegisterBase<CauseRegs> for Ics {
    const BASE: usize = 0x00c8;
}
impl RegisterBase<CauseRegs> for Ims {
    const BASE: usize = 0x00d0;
}
impl RegisterBase<CauseRegs> for Imc {
    const BASE: usize = 0x00d8;
}

impl CAUSES {
    /// Every cause.
    pub(crate) fn all() -> Self {
        Self::zeroed().with_bits(u32::MAX)
    }

    /// The causes the drivers enable.
    pub(crate) fn enabled() -> Self {
        Self::zeroed()
            .with_rxt0(true)
            .with_txdw(true)
            .with_lsc(true)
            .with_rxo(true)
            .with_rxdmt0(true)
    }
}

impl TCTL {
    /// The transmitter on: short frames padded, the collision parameters of the
    /// manual (threshold 16, distance 64).
    pub(crate) fn on() -> Self {
        Self::zeroed()
            .with_en(true)
            .with_psp(true)
            .with_const_ct::<0x10>()
            .with_const_cold::<0x40>()
    }
}

impl TIPG {
    /// The inter-packet gap the manual recommends for copper.
    pub(crate) const COPPER: Self = pin_init::zeroed::<Self>()
        .with_const_ipgt::<10>()
        .with_const_ipgr1::<8>()
        .with_const_ipgr2::<6>();
}

/// A legacy descriptor, receive or transmit: the buffer's bus address, then a quadword
/// of length, checksum or command, status and errors (the bits below), which the
/// device writes back.
#[repr(C)]
#[derive(Clone, Copy, Default, FromBytes, IntoBytes)]
pub(crate) struct Desc {
    /// Bus address of the buffer.
    pub(crate) addr: u64,
    /// Length, checksum or command, status, errors: [`RxInfo`] or [`TxInfo`].
    pub(crate) info: u64,
}
/// Legacy descriptors are 16 bytes.
pub(crate) const DESC_SIZE: usize = 16;
const _: () = assert!(core::mem::size_of::<Desc>() == DESC_SIZE);
/// A descriptor ring in coherent DMA memory.
pub(crate) type Ring = DmaArray<Desc>;
bitfield! {
    /// The second quadword of a receive descriptor, as the device writes it back.
    pub(crate) struct RxInfo(u64) {
        /// Errors (CRC, symbol, sequence, carrier extension, RX data).
        47:40 errors;
        /// Status: end of packet.
        33:33 eop => bool;
        /// Status: descriptor done.
        32:32 dd => bool;
        /// Length of the received data.
        15:0 length => u16;
    }
}

bitfield! {
    /// The second quadword of a transmit descriptor: command and length as the driver
    /// writes them, status as the device writes it back.
    pub(crate) struct TxInfo(u64) {
        /// Status: descriptor done.
        32:32 dd => bool;
        /// Command: report status (write `dd` back).
        27:27 rs => bool;
        /// Command: insert the FCS.
        25:25 ifcs => bool;
        /// Command: end of packet.
        24:24 eop => bool;
        /// Length of the data to send.
        15:0 length => u16;
    }
}

bitfield! {
    /// The second quadword of an extended transmit data descriptor (command `DEXT`, type
    /// data): a piece of a frame, options, status written back.
    pub(crate) struct TxDataInfo(u64) {
        /// Options: insert the TCP/UDP checksum where the last context descriptor placed
        /// it (read from the frame's first descriptor).
        41:41 txsm => bool;
        /// Options: insert the IP header checksum likewise.
        40:40 ixsm => bool;
        /// Status: descriptor done.
        32:32 dd => bool;
        /// Command: extended descriptor.
        29:29 dext => bool;
        /// Command: report status (write `dd` back).
        27:27 rs => bool;
        /// Command: segment the frame as the last context descriptor says (TSO).
        26:26 tse => bool;
        /// Command: insert the FCS.
        25:25 ifcs => bool;
        /// Command: end of packet.
        24:24 eop => bool;
        /// Type: data (with `dext`; a context descriptor has type 0).
        20:20 data => bool;
        /// Length of this descriptor's piece.
        15:0 length => u16;
    }
}

bitfield! {
    /// The first quadword of a transmit context descriptor: where the TCP/UDP checksum
    /// of the frames that follow starts (`tucss`), where it is stored (`tucso`) and
    /// where it ends (`tucse`, 0: at the frame's end); likewise the IP header checksum
    /// (31:0), used only by a segmentation context (otherwise the stack computes it).
    pub(crate) struct TxCsumPlace(u64) {
        63:48 tucse => u16;
        47:40 tucso => u8;
        39:32 tucss => u8;
        /// Where the IP header checksum sum ends (inclusive), for segmentation.
        31:16 ipcse => u16;
        /// Where it is stored.
        15:8 ipcso => u8;
        /// Where it starts.
        7:0 ipcss => u8;
    }
}

bitfield! {
    /// The second quadword of a transmit context descriptor: command (type 0, context),
    /// status written back in the same place as a data descriptor's.
    pub(crate) struct TxContextInfo(u64) {
        /// Segmentation: payload bytes per segment.
        63:48 mss => u16;
        /// Segmentation: header bytes repeated in every segment.
        47:40 hdr_len => u8;
        /// Status: descriptor done.
        32:32 dd => bool;
        /// Command: extended descriptor.
        29:29 dext => bool;
        /// Command: report status (write `dd` back).
        27:27 rs => bool;
        /// Command: segmentation context (TSO).
        26:26 tse => bool;
        /// Command: IPv4 (else IPv6), for segmentation.
        25:25 ip => bool;
        /// Command: TCP (else UDP), for segmentation.
        24:24 tcp => bool;
        /// Segmentation: payload bytes of the whole frame (headers excluded).
        19:0 paylen;
    }
}

/// The largest frame offset at which the device stores a checksum: `tucso` is a byte.
pub(crate) const CHECKSUM_REACH: u16 = u8::MAX as u16;

/// Receive and transmit descriptors alike have their status in bits 32..40 of the
/// second quadword, byte 12, and set descriptor-done (DD, bit 0) there once the device
/// is done: what the framework reads in a dead instance's rings.
impl RingDescriptor for Desc {
    const STATUS_BYTE: usize = 12;
    const DONE_MASK: u8 = 1;
}
const _: () = assert!(
    RxInfo::DD_MASK == (Desc::DONE_MASK as u64) << (8 * (Desc::STATUS_BYTE - 8))
        && TxInfo::DD_MASK == RxInfo::DD_MASK
        && TxDataInfo::DD_MASK == RxInfo::DD_MASK
        && TxContextInfo::DD_MASK == RxInfo::DD_MASK
        && TxDataInfo::RS_MASK == TxInfo::RS_MASK
        && TxContextInfo::RS_MASK == TxInfo::RS_MASK
);

/// Receive buffer size (RCTL.BSIZE 0).
pub(crate) const RX_BUF: usize = 2048;
/// Largest MTU without long packets (`RCTL.LPE` off).
pub(crate) const STD_MTU: u32 = 1500;
/// Largest frame the 82540EM takes with long packets on, FCS included: 16128 bytes, the
/// C driver's limit for this NIC (`MAX_JUMBO_FRAME_SIZE`).
pub(crate) const MAX_FRAME: usize = 16128;
/// Largest MTU: [`MAX_FRAME`] less the Ethernet header and FCS, 16110 (as the C driver).
pub(crate) const MAX_MTU: u32 = (MAX_FRAME - 14 - 4) as u32;
/// A transmit or gather buffer that holds any frame up to [`MAX_FRAME`].
pub(crate) const FRAME_BUF: usize = 16384;
const _: () = assert!(MAX_FRAME <= FRAME_BUF);
/// Interrupt throttling (`ITR`, 256 ns units): at most one interrupt per 50 us, 20000
/// a second, the C driver's starting rate (its default `InterruptThrottleRate` 3).
pub(crate) const ITR_INTERVAL: u16 = 195;
/// How many reads of `TDH` an adopter waits for the transmitter to catch up with the
/// tail before it gives the warm restart up.
const TX_DRAIN_POLLS: u32 = 10_000;
/// How many reads of `CTRL` may still see a reset running before `probe` gives up.
const RESET_POLLS: u32 = 100_000;

/// The multicast table bit of an address (MO = 0: bits 36..47 of the address).
pub(crate) fn mta_hash(mac: u64) -> u32 {
    let b = mac.to_le_bytes();
    (((b[4] as u32) >> 4) | ((b[5] as u32) << 4)) & 0xfff
}

/// Accepts MTU `mtu` up to [`MAX_MTU`], else `EINVAL`; `Ok(true)`: it needs long
/// packets (`RCTL.LPE`).
pub(crate) fn check_mtu(mtu: u32) -> Result<bool> {
    if mtu > MAX_MTU {
        return Err(EINVAL);
    }
    Ok(mtu > STD_MTU)
}

/// A receive descriptor the device is done with.
pub(crate) struct RxDone {
    /// Bytes it holds (at most [`RX_BUF`]).
    pub(crate) len: usize,
    /// The frame ends in it.
    pub(crate) eop: bool,
    /// The device found no frame error (CRC, symbol, sequence, carrier extension,
    /// receive data; the checksum bits are ignored: no checksum offload). Valid only
    /// where the frame ends.
    pub(crate) ok: bool,
}

/// The receive errors that make a frame bad (`RXD_ERR_FRAME_ERR_MASK` of the C driver).
const RX_FRAME_ERRORS: u64 = 0x97;

/// Receive descriptor `i` of `ring`, if the device is done with it (`Ok(None)` if
/// not); `EINVAL` past the end.
pub(crate) fn rx_desc(ring: &Ring, i: usize) -> Result<Option<RxDone>> {
    let info = RxInfo::from_raw(ring.read(i)?.info);
    if !info.dd() {
        return Ok(None);
    }
    Ok(Some(RxDone {
        len: usize::from(info.length()).min(RX_BUF),
        eop: info.eop(),
        ok: info.errors() & RX_FRAME_ERRORS == 0,
    }))
}

/// What one receive descriptor gives ([`RxGather::take`]).
pub(crate) enum RxPiece {
    /// A whole good frame in its own buffer, of this length.
    Whole(usize),
    /// The end of a frame gathered from several descriptors: this many bytes in the
    /// gather buffer ([`RxGather::frame`]).
    Gathered(usize),
    /// Part of a longer frame, kept in the gather buffer.
    More,
    /// The end of a bad frame (a frame error, or longer than [`MAX_FRAME`]): nothing to
    /// deliver.
    Dropped,
}

/// Where a long frame (long packets on: a frame fills as many 2 KiB receive buffers as
/// it needs) is put together before it is delivered. A frame in one descriptor is
/// delivered from its own buffer, without the copy.
pub(crate) struct RxGather {
    buf: DmaBuffers<FRAME_BUF>,
    state: GatherState,
}

/// How far the frame in progress is gathered.
#[derive(Default)]
struct GatherState {
    /// Bytes gathered so far.
    len: usize,
    /// It is dropped at its end.
    bad: bool,
}

impl GatherState {
    /// Takes descriptor `d`; `copy(off)` appends its bytes at `off` of the gather
    /// buffer, `false` if they do not fit. A frame longer than [`MAX_FRAME`] is dropped
    /// (the device takes up to 16 KiB with long packets on; the framework refuses more
    /// than the largest MTU allows), and so is one with an error in its last
    /// descriptor, where the device reports errors.
    fn step(&mut self, d: &RxDone, copy: impl FnOnce(usize) -> bool) -> RxPiece {
        if self.len == 0 && !self.bad && d.eop {
            return if d.ok {
                RxPiece::Whole(d.len)
            } else {
                RxPiece::Dropped
            };
        }
        if !self.bad {
            if self.len + d.len <= MAX_FRAME && copy(self.len) {
                self.len += d.len;
            } else {
                self.bad = true;
            }
        }
        if !d.eop {
            return RxPiece::More;
        }
        let piece = if self.bad || !d.ok {
            RxPiece::Dropped
        } else {
            RxPiece::Gathered(self.len)
        };
        *self = Self::default();
        piece
    }
}

impl RxGather {
    /// An empty gather buffer.
    pub(crate) fn new(dev: &Dev) -> Result<Self> {
        Ok(Self {
            buf: dev.dma_buffers::<FRAME_BUF>(1)?,
            state: GatherState::default(),
        })
    }

    /// Keeps the gather buffer across a warm restart under `role`.
    pub(crate) fn keep(&self, role: u32) -> Result {
        self.buf.keep(role)
    }

    /// The gather buffer the previous instance kept under `role` ([`RxGather::keep`]).
    /// A frame it was gathering is lost with its state: with long packets (`long`) the
    /// pieces up to the next end of a frame are dropped, since the first descriptor
    /// may be the middle of one.
    pub(crate) fn adopt(dev: &Dev, role: u32, long: bool) -> Result<Self> {
        Ok(Self {
            buf: dev.adopt_dma_buffers::<FRAME_BUF>(role, 1)?,
            state: GatherState { len: 0, bad: long },
        })
    }

    /// Takes descriptor `d`, buffer `i` of `bufs`, the next of the ring in order.
    pub(crate) fn take<const S: usize>(
        &mut self,
        bufs: &DmaBuffers<S>,
        i: usize,
        d: &RxDone,
    ) -> RxPiece {
        let buf = &self.buf;
        self.state
            .step(d, |off| buf.copy_from(0, off, bufs, i, d.len).is_ok())
    }

    /// The gathered frame of `len` bytes ([`RxPiece::Gathered`]), for [`Dev::rx_frame`].
    pub(crate) fn frame(&self, len: usize) -> Result<RxFrame> {
        self.buf.frame(0, len)
    }

    /// The gather buffer, for [`Dev::rx_buffer`].
    pub(crate) fn buffers(&self) -> &DmaBuffers<FRAME_BUF> {
        &self.buf
    }
}

/// Fills transmit descriptor `i` of `ring`: `len` bytes at bus address `buf`, one
/// whole frame, FCS added by the device, status reported. `EINVAL` for a length the
/// descriptor cannot hold.
pub(crate) fn tx_desc_set(ring: &Ring, i: usize, buf: u64, len: usize) -> Result {
    let info = TxInfo::zeroed()
        .with_length(u16::try_from(len).map_err(|_| EINVAL)?)
        .with_eop(true)
        .with_ifcs(true)
        .with_rs(true);
    ring.write(
        i,
        Desc {
            addr: buf,
            info: info.into_raw(),
        },
    )
}

/// The context descriptor a frame needs before its data descriptors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TxContextNeed {
    /// None: no checksum, or placed as the last plain context placed it.
    None,
    /// A plain one ([`tx_context`]) placing the checksum so.
    Plain(TxChecksum),
    /// A segmentation one ([`tx_tso_context`]), every segmented frame its own.
    Segmentation(TxChecksum, TxTso),
}

/// What a frame with checksum place `csum` and segmentation `tso` needs before its
/// data descriptors, when the last plain context placed the checksum as `placed`
/// says (`None`: unknown); and how it is placed after. A segmentation context leaves
/// the plain one unknown: QEMU keeps the two apart (`tso_props`, `props`), the
/// 82540EM has one for both, so only a context written since says where it is.
pub(crate) fn tx_context_need(
    csum: Option<TxChecksum>,
    tso: Option<TxTso>,
    placed: Option<TxChecksum>,
) -> (TxContextNeed, Option<TxChecksum>) {
    match (csum, tso) {
        (Some(c), Some(g)) => (TxContextNeed::Segmentation(c, g), None),
        (Some(c), None) if placed != Some(c) => (TxContextNeed::Plain(c), Some(c)),
        _ => (TxContextNeed::None, placed),
    }
}

/// A context descriptor: the frames that follow with [`TxDataInfo::txsm`] have their
/// checksum placed as `c` says (the device keeps it until the next context
/// descriptor). Status reported, as for every descriptor (the ring is reaped in order).
/// `EINVAL` beyond [`CHECKSUM_REACH`].
pub(crate) fn tx_context(c: TxChecksum) -> Result<Desc> {
    let place = TxCsumPlace::zeroed()
        .with_tucss(u8::try_from(c.start).map_err(|_| EINVAL)?)
        .with_tucso(u8::try_from(c.at).map_err(|_| EINVAL)?);
    let info = TxContextInfo::zeroed().with_dext(true).with_rs(true);
    Ok(Desc {
        addr: place.into_raw(),
        info: info.into_raw(),
    })
}

/// A segmentation context descriptor: the TCP over IPv4 frame that follows (its data
/// descriptors with [`TxDataInfo::tse`]) is cut into segments as `g` says, `paylen`
/// bytes of payload in all, each segment's IP and TCP checksums computed (the TCP one
/// placed as `c` says). `EINVAL` for offsets or lengths the descriptor cannot hold.
pub(crate) fn tx_tso_context(c: TxChecksum, g: TxTso, paylen: usize) -> Result<Desc> {
    let byte = |v: u16| u8::try_from(v).map_err(|_| EINVAL);
    let place = TxCsumPlace::zeroed()
        .with_ipcss(byte(g.ip_start)?)
        .with_ipcso(byte(g.ip_start + 10)?)
        .with_ipcse(c.start.checked_sub(1).ok_or(EINVAL)?)
        .with_tucss(byte(c.start)?)
        .with_tucso(byte(c.at)?);
    let info = TxContextInfo::zeroed()
        .with_dext(true)
        .with_rs(true)
        .with_tse(true)
        .with_ip(true)
        .with_tcp(true)
        .with_hdr_len(byte(g.hdr_len)?)
        .with_mss(g.mss)
        .try_with_paylen(paylen as u64)
        .map_err(|_| EINVAL)?;
    Ok(Desc {
        addr: place.into_raw(),
        info: info.into_raw(),
    })
}

/// Prepares `hdr`, a copy of a TCP over IPv4 frame's headers (IP header at
/// `g.ip_start`, TCP checksum at `c.at`), as the device's segmentation wants it: the IP
/// header checksum 0, the TCP checksum the sum of the pseudo-header without its length
/// (the device adds each segment's). `EINVAL` if the headers do not fit `hdr`.
pub(crate) fn tso_headers(hdr: &mut [u8], c: TxChecksum, g: TxTso) -> Result {
    let ip = usize::from(g.ip_start);
    let at = usize::from(c.at);
    if hdr.len() < ip + 20 || hdr.len() < at + 2 {
        return Err(EINVAL);
    }
    hdr[ip + 10] = 0;
    hdr[ip + 11] = 0;
    // Source and destination addresses, then the protocol (TCP, 6), as 16-bit words.
    let mut sum: u32 = 6;
    for w in hdr[ip + 12..ip + 20].chunks_exact(2) {
        sum += u32::from(u16::from_be_bytes([w[0], w[1]]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    hdr[at..at + 2].copy_from_slice(&(sum as u16).to_be_bytes());
    Ok(())
}

/// An extended data descriptor: `len` bytes at bus address `buf`, a piece of a frame
/// (`eop`: its last), FCS added by the device, status reported, the TCP or UDP checksum
/// inserted (`csum`) where the last context descriptor placed it, the frame segmented
/// as that descriptor says (`tso`, which also has the IP checksums inserted). `EINVAL`
/// for a length the descriptor cannot hold.
pub(crate) fn tx_data(buf: u64, len: usize, eop: bool, csum: bool, tso: bool) -> Result<Desc> {
    let info = TxDataInfo::zeroed()
        .with_length(u16::try_from(len).map_err(|_| EINVAL)?)
        .with_data(true)
        .with_eop(eop)
        .with_ifcs(true)
        .with_rs(true)
        .with_dext(true)
        .with_txsm(csum)
        .with_ixsm(tso)
        .with_tse(tso);
    Ok(Desc {
        addr: buf,
        info: info.into_raw(),
    })
}

/// Whether the device has sent transmit descriptor `i` of `ring`; `EINVAL` past the
/// end.
pub(crate) fn tx_desc_done(ring: &Ring, i: usize) -> Result<bool> {
    Ok(TxInfo::from_raw(ring.read(i)?.info).dd())
}

/// Clears the second quadword (length, command, status) of descriptor `i` of `ring`,
/// keeping its buffer; `EINVAL` past the end.
pub(crate) fn desc_clear(ring: &Ring, i: usize) -> Result {
    let d = ring.read(i)?;
    ring.write(i, Desc { info: 0, ..d })
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
        mmio.write(CAUSES::of::<Imc>(), CAUSES::all());
        mmio.write_reg(RCTL::zeroed());
        mmio.write_reg(TCTL::zeroed());
        mmio.write_reg(RDLEN::zeroed());
        mmio.write_reg(TDLEN::zeroed());
        mmio.update(CTRL, |c| c.with_rst(true));
        let mut n = 0;
        while mmio.read(CTRL).rst() {
            n += 1;
            if n > RESET_POLLS {
                return Err(ETIMEDOUT);
            }
        }
        mmio.write(CAUSES::of::<Imc>(), CAUSES::all());
        let _ = mmio.read(CAUSES::of::<Icr>());
        mmio.update(CTRL, |c| c.with_slu(true).with_asde(true));
        enabled.set_master();
        let irq = dev.request_irq()?;
        Ok(Self {
            _irq: irq,
            mmio,
            _enabled: enabled,
        })
    }

    /// Keeps the PCI function, the registers (BAR 0, role 0) and the interrupt line
    /// across a warm restart ([`Hw::adopt`]).
    pub(crate) fn keep(&self) -> Result {
        self._enabled.keep()?;
        self.mmio.keep(0)?;
        self._irq.keep()
    }

    /// Takes over a device the previous instance left running and kept ([`Hw::keep`]),
    /// without a reset: `EIO` if its registers do not answer (all ones: the device is
    /// gone) or a reset is under way. Only in `adopt`.
    pub(crate) fn adopt(dev: &Dev) -> Result<Self> {
        let enabled = dev.adopt_pci_enabled()?;
        let mmio = dev.adopt_iomap::<BAR_SIZE>(0)?;
        let irq = dev.adopt_irq()?;
        if mmio.read(STATUS).into_raw() == u32::MAX || mmio.read(CTRL).rst() {
            return Err(EIO);
        }
        Ok(Self {
            _irq: irq,
            mmio,
            _enabled: enabled,
        })
    }

    /// Turns bus mastering on, as [`Hw::probe`] does: a cold restart, or a hang the
    /// framework stopped, may have left it off, and the adopted device could not reach
    /// its rings. In `adopt`, once the kept rings are checked (before, the device would
    /// follow descriptors not checked yet).
    pub(crate) fn set_master(&self) {
        self._enabled.set_master();
    }

    /// Checks that the receiver runs on `ring` as [`Hw::setup_rx`] and the receive
    /// path left it: base and length registers name the ring, head and tail inside it,
    /// and `RCTL` is what [`Hw::write_rctl`] programs for filter `f`, the receiver on,
    /// long packets as `long` says (the filter the dead instance last programmed is the
    /// placeholder's; one changed since is programmed again once the adopter serves, and
    /// it may not have reached the device yet, so a mismatch is only a reason for a cold
    /// start). Returns the descriptor after the tail (the last one given back), where
    /// the descriptors the driver cleared but did not give yet begin, if any, and else
    /// the next it looks at. `EIO` if not.
    ///
    /// The multicast table is not read back: its 128 registers would be most of an
    /// adoption's register reads, and only the filter's programming writes them (`open`,
    /// `set_rx_mode`, `change_mtu`), whose failures restart cold, so a warm restart never
    /// follows a half-written table. Each register is read once (under TCG every read
    /// is an exit that waits for QEMU's global lock).
    pub(crate) fn check_rx(&self, ring: &Ring, f: &RxFilter, long: bool) -> Result<usize> {
        let m = &self.mmio;
        let base = u64::from(m.read(RDBAL).addr()) | (u64::from(m.read(RDBAH).addr()) << 32);
        let n = ring.len();
        let rctl = m.read(RCTL);
        let (head, tail) = (m.read(RDH).index() as usize, m.read(RDT).index() as usize);
        if base != ring.dma()
            || m.read(RDLEN).bytes() as usize != n * DESC_SIZE
            || head >= n
            || tail >= n
            || rctl.into_raw() != Self::rctl(f, true, long).into_raw()
        {
            return Err(EIO);
        }
        Ok((tail + 1) % n)
    }

    /// Checks that the transmitter runs on `ring` as [`Hw::setup_tx`] and
    /// [`Hw::start_tx`] left it, and waits (a bounded while) until it has nothing
    /// queued: head at the tail, so every frame the previous instance gave the device
    /// is sent (one queued past the tail, whose doorbell never rang, is not: its done
    /// bit stays clear), and the framework can tell them from the ring's done bits.
    /// Returns the tail. `EIO` if not.
    pub(crate) fn check_tx(&self, ring: &Ring) -> Result<usize> {
        let m = &self.mmio;
        let base = u64::from(m.read(TDBAL).addr()) | (u64::from(m.read(TDBAH).addr()) << 32);
        let n = ring.len();
        let tail = m.read(TDT).index() as usize;
        let mut head = m.read(TDH).index() as usize;
        let mut polls = 0;
        while head != tail && head < n && polls < TX_DRAIN_POLLS {
            head = m.read(TDH).index() as usize;
            polls += 1;
        }
        if base != ring.dma()
            || m.read(TDLEN).bytes() as usize != n * DESC_SIZE
            || tail >= n
            || head != tail
            || m.read(TCTL).into_raw() != TCTL::on().into_raw()
        {
            return Err(EIO);
        }
        Ok(tail)
    }

    /// Whether receive address 0 holds station address `mac`, valid.
    pub(crate) fn has_mac(&self, mac: [u8; 6]) -> bool {
        let lo = u32::from_le_bytes([mac[0], mac[1], mac[2], mac[3]]);
        let hi = u16::from_le_bytes([mac[4], mac[5]]);
        let rah = self.mmio.read(RAH0);
        self.mmio.read(RAL0).addr() == lo && rah.addr() == hi && rah.av()
    }

    /// Raises a receive interrupt, for the frames the device filled while no instance
    /// served: it reaches `devirq` once the adopter serves (the line is masked until
    /// then), and the poll it schedules delivers them.
    pub(crate) fn kick(&self) {
        self.unmask();
        self.mmio
            .write(CAUSES::of::<Ics>(), CAUSES::zeroed().with_rxt0(true));
    }

    /// Starts a device reset (`CTRL.RST`) and leaves it to finish: the end of an
    /// orderly remove.
    pub(crate) fn reset(&self) {
        self.mmio.update(CTRL, |c| c.with_rst(true));
    }

    /// Masks every interrupt cause.
    pub(crate) fn mask(&self) {
        self.mmio.write(CAUSES::of::<Imc>(), CAUSES::all());
    }

    /// Enables the causes the drivers handle ([`CAUSES::enabled`]).
    pub(crate) fn unmask(&self) {
        self.mmio.write(CAUSES::of::<Ims>(), CAUSES::enabled());
    }

    /// Reads, and so acknowledges, the pending interrupt causes.
    pub(crate) fn acknowledge(&self) -> CAUSES {
        self.mmio.read(CAUSES::of::<Icr>())
    }

    /// Masks and acknowledges every interrupt cause.
    pub(crate) fn quiet(&self) {
        self.mask();
        let _ = self.acknowledge();
    }

    /// Turns receiver and transmitter off.
    pub(crate) fn disable_rx_tx(&self) {
        self.mmio.write_reg(RCTL::zeroed());
        self.mmio.write_reg(TCTL::zeroed());
    }

    /// Whether the link is up.
    pub(crate) fn link_up(&self) -> bool {
        self.mmio.read(STATUS).lu()
    }

    /// Programs station address `mac` into receive address 0.
    pub(crate) fn write_mac(&self, mac: [u8; 6]) {
        let lo = u32::from_le_bytes([mac[0], mac[1], mac[2], mac[3]]);
        let hi = u16::from_le_bytes([mac[4], mac[5]]);
        self.mmio.write_reg(RAL0::zeroed().with_addr(lo));
        self.mmio
            .write_reg(RAH0::zeroed().with_addr(hi).with_av(true));
    }

    /// The multicast table for filter `f`: the bit of each of its addresses set, every
    /// other bit clear.
    fn multicast_table(f: &RxFilter) -> [u32; MTA_ENTRIES] {
        let mut mta = [0u32; MTA_ENTRIES];
        for &a in f.mc.get(..f.count).unwrap_or(&[]) {
            let h = mta_hash(a) as usize;
            if let Some(w) = mta.get_mut(h >> 5) {
                *w |= 1 << (h & 31);
            }
        }
        mta
    }

    /// Programs the multicast table for filter `f` ([`Hw::multicast_table`]).
    pub(crate) fn write_multicast(&self, f: &RxFilter) {
        let mta = Self::multicast_table(f);
        for (i, w) in mta.iter().enumerate() {
            // Cannot fail: `i` is below `MTA_ENTRIES` and the table lies inside the BAR
            // (asserted where `MTA_ENTRIES` is).
            if let Some(reg) = MTA::try_at(i) {
                let _ = self.mmio.try_write(reg, MTA::zeroed().with_bits(*w));
            }
        }
    }

    /// `RCTL` for filter `f` (see also [`Hw::write_multicast`]); `enable`: the
    /// receiver runs; `long`: long packets ([`check_mtu`]).
    fn rctl(f: &RxFilter, enable: bool, long: bool) -> RCTL {
        RCTL::zeroed()
            .with_bam(true)
            .with_secrc(true)
            .with_en(enable)
            .with_lpe(long)
            .with_upe(f.promisc)
            .with_mpe(f.promisc || f.allmulti)
    }

    /// Programs `RCTL` ([`Hw::rctl`]).
    pub(crate) fn write_rctl(&self, f: &RxFilter, enable: bool, long: bool) {
        self.mmio.write_reg(Self::rctl(f, enable, long));
    }

    /// Throttles interrupts to [`ITR_INTERVAL`].
    pub(crate) fn moderate_interrupts(&self) {
        self.mmio
            .write_reg(ITR::zeroed().with_interval(ITR_INTERVAL));
    }

    /// Points the receiver at `ring`, all but its last descriptor given
    /// to the device, no receive delay. The receiver stays as it is.
    pub(crate) fn setup_rx(&self, ring: &Ring) {
        let m = &self.mmio;
        m.write_reg(RDBAL::zeroed().with_addr(ring.dma() as u32));
        m.write_reg(RDBAH::zeroed().with_addr((ring.dma() >> 32) as u32));
        m.write_reg(RDLEN::zeroed().with_bytes((ring.len() * DESC_SIZE) as u32));
        m.write_reg(RDH::zeroed());
        m.write_reg(RDT::zeroed().with_index(ring.len().saturating_sub(1) as u32));
        m.write_reg(RDTR::zeroed());
    }

    /// Points the transmitter at the empty `ring` and sets the
    /// inter-packet gap. The transmitter stays off ([`Hw::start_tx`]).
    pub(crate) fn setup_tx(&self, ring: &Ring) {
        let m = &self.mmio;
        m.write_reg(TDBAL::zeroed().with_addr(ring.dma() as u32));
        m.write_reg(TDBAH::zeroed().with_addr((ring.dma() >> 32) as u32));
        m.write_reg(TDLEN::zeroed().with_bytes((ring.len() * DESC_SIZE) as u32));
        m.write_reg(TDH::zeroed());
        m.write_reg(TDT::zeroed());
        m.write_reg(TIPG::COPPER);
    }

    /// Turns the transmitter on: short frames padded, half-duplex collision
    /// parameters.
    pub(crate) fn start_tx(&self) {
        self.mmio.write_reg(TCTL::on());
    }

    /// The end of `open`: acknowledges stale causes, enables [`CAUSES::enabled`] and
    /// reports the link state to the placeholder.
    pub(crate) fn start_interrupts(&self, dev: &Dev) {
        let _ = self.acknowledge();
        self.unmask();
        dev.carrier(self.link_up());
    }

    /// Reads (and so acknowledges) the interrupt causes and reports a link change.
    /// `false`: none was pending (the interrupt of another device on the line).
    pub(crate) fn ack_interrupt(&self, dev: &Dev) -> bool {
        let icr = self.acknowledge();
        if icr.bits() == 0 {
            return false;
        }
        if icr.lsc() {
            dev.carrier(self.link_up());
        }
        true
    }

    /// Hands receive descriptor `i` of `ring` back to the device; returns the next
    /// descriptor to look at. `EINVAL` past the end (then the tail stays).
    pub(crate) fn rx_give_back(&self, ring: &Ring, i: usize) -> Result<usize> {
        desc_clear(ring, i)?;
        self.rx_tail(i);
        Ok((i + 1) % ring.len().max(1))
    }

    /// Gives the device the receive descriptors up to `i`, which the driver cleared
    /// ([`desc_clear`]) in order: the tail moves to `i`, so the device fills up to the
    /// one before. One register write for a batch: under emulation each is an exit,
    /// and in QEMU's e1000 it also flushes the backend's queued frames.
    pub(crate) fn rx_tail(&self, i: usize) {
        self.mmio.write_reg(RDT::zeroed().with_index(i as u32));
    }

    /// Reads the missed-packet and CRC-error counters (clear on read, in this order),
    /// adds them to `stats` and returns them.
    pub(crate) fn rx_stats(&self, stats: &mut NicHwStats) -> (u64, u64) {
        let missed = u64::from(self.mmio.read(MPC).count());
        let crc = u64::from(self.mmio.read(CRCERRS).count());
        stats.rx_missed += missed;
        stats.rx_errors += crc;
        (missed, crc)
    }
}

// Built into the test module only (`selftests/kunit/`).
#[cfg(ndriver_kunit)]
#[kunit_tests(ndriver_e1000_gather)]
mod tests {
    use super::*;

    fn desc(len: usize, eop: bool, ok: bool) -> RxDone {
        RxDone { len, eop, ok }
    }

    /// What `step` gives for `d`, the gather buffer holding `room` bytes.
    fn step(g: &mut GatherState, d: RxDone, room: usize) -> RxPiece {
        let len = d.len;
        g.step(&d, |off| off + len <= room)
    }

    #[test]
    fn gathers_long_frames() {
        let mut g = GatherState::default();
        // A frame in one buffer: delivered from it.
        assert!(matches!(
            step(&mut g, desc(60, true, true), FRAME_BUF),
            RxPiece::Whole(60)
        ));
        // A 9014-byte frame over five 2 KiB buffers.
        for _ in 0..4 {
            assert!(matches!(
                step(&mut g, desc(RX_BUF, false, true), FRAME_BUF),
                RxPiece::More
            ));
        }
        assert!(matches!(
            step(&mut g, desc(822, true, true), FRAME_BUF),
            RxPiece::Gathered(9014)
        ));
        // And the next one starts afresh.
        assert!(matches!(
            step(&mut g, desc(42, true, true), FRAME_BUF),
            RxPiece::Whole(42)
        ));
    }

    #[test]
    fn drops_bad_frames_whole() {
        let mut g = GatherState::default();
        // A frame error: a lone frame is dropped.
        assert!(matches!(
            step(&mut g, desc(60, true, false), FRAME_BUF),
            RxPiece::Dropped
        ));
        // An error reported at the end of a long frame drops all of it.
        assert!(matches!(
            step(&mut g, desc(RX_BUF, false, true), FRAME_BUF),
            RxPiece::More
        ));
        assert!(matches!(
            step(&mut g, desc(100, true, false), FRAME_BUF),
            RxPiece::Dropped
        ));
        // The longest frame goes through; one byte more is dropped.
        for _ in 0..7 {
            assert!(matches!(
                step(&mut g, desc(RX_BUF, false, true), FRAME_BUF),
                RxPiece::More
            ));
        }
        assert!(matches!(
            step(&mut g, desc(MAX_FRAME - 7 * RX_BUF, true, true), FRAME_BUF),
            RxPiece::Gathered(MAX_FRAME)
        ));
        for _ in 0..7 {
            assert!(matches!(
                step(&mut g, desc(RX_BUF, false, true), FRAME_BUF),
                RxPiece::More
            ));
        }
        assert!(matches!(
            step(
                &mut g,
                desc(MAX_FRAME - 7 * RX_BUF + 1, true, true),
                FRAME_BUF
            ),
            RxPiece::Dropped
        ));
        // A piece the buffer cannot take drops the frame too.
        assert!(matches!(
            step(&mut g, desc(RX_BUF, false, true), 3000),
            RxPiece::More
        ));
        assert!(matches!(
            step(&mut g, desc(RX_BUF, false, true), 3000),
            RxPiece::More
        ));
        assert!(matches!(
            step(&mut g, desc(10, true, true), 3000),
            RxPiece::Dropped
        ));
        // Then frames go through again.
        assert!(matches!(
            step(&mut g, desc(RX_BUF, false, true), FRAME_BUF),
            RxPiece::More
        ));
        assert!(matches!(
            step(&mut g, desc(10, true, true), FRAME_BUF),
            RxPiece::Gathered(2058)
        ));
    }

    #[test]
    fn adopter_expects_the_programmed_filter() {
        let mut f = RxFilter {
            promisc: false,
            allmulti: false,
            mc: [0; 16],
            count: 0,
        };
        // No address: an empty table.
        assert!(Hw::multicast_table(&f).iter().all(|w| *w == 0));
        // One address: its hash's bit alone.
        f.mc[0] = 0x0000_5e00_0001_0001u64 & 0xffff_ffff_ffff;
        f.count = 1;
        let h = mta_hash(f.mc[0]) as usize;
        let t = Hw::multicast_table(&f);
        assert_eq!(t.iter().map(|w| w.count_ones()).sum::<u32>(), 1);
        assert_eq!(t[h >> 5], 1 << (h & 31));
        // A count past the array is no panic: no table (all-multicast covers it).
        f.count = 17;
        assert!(Hw::multicast_table(&f).iter().all(|w| *w == 0));
        // RCTL: what `write_rctl` programs, what `check_rx` expects.
        f.promisc = true;
        let r = Hw::rctl(&f, true, true);
        assert!(r.en() && r.lpe() && r.upe() && r.mpe() && r.bam() && r.secrc());
        f.promisc = false;
        let r = Hw::rctl(&f, true, false);
        assert!(r.en() && !r.lpe() && !r.upe() && !r.mpe());
    }

    /// The transmit descriptors as the 8254x manual lays them out (its table of command
    /// bits: EOP 0x01, IFCS 0x02, RS 0x08, DEXT 0x20 in the command byte, 31:24; data type
    /// 0x1 in 23:20; TXSM 0x02 in the options byte, 47:40; TUCSS and TUCSO in bytes 4 and
    /// 5 of a context descriptor).
    #[test]
    fn transmit_descriptor_layout() -> Result {
        let d = tx_data(0x1234_5678, 1514, true, true, false)?;
        assert_eq!(d.addr, 0x1234_5678);
        assert_eq!(d.info, 1514 | 0x0010_0000 | 0x2b00_0000 | (0x02 << 40));
        let d = tx_data(0x1000, 60, false, false, false)?;
        assert_eq!(d.info, 60 | 0x0010_0000 | 0x2a00_0000);
        // TSE 0x04 in the command byte, IXSM 0x01 in the options byte.
        let d = tx_data(0x1000, 66, false, true, true)?;
        assert_eq!(d.info, 66 | 0x0010_0000 | 0x2e00_0000 | (0x03 << 40));
        assert_eq!(
            tx_data(0, 65536, true, false, false).map(|d| d.info),
            Err(EINVAL)
        );
        let c = tx_context(TxChecksum { start: 34, at: 50 })?;
        assert_eq!(c.addr, (34 << 32) | (50 << 40));
        assert_eq!(c.info, 0x2800_0000);
        let far = TxChecksum {
            start: 200,
            at: CHECKSUM_REACH + 1,
        };
        assert_eq!(tx_context(far).map(|d| d.info), Err(EINVAL));
        // Segmentation: IPCSS 14, IPCSO 24, IPCSE 33 in the first dword; TUCMD TCP 0x01,
        // IP 0x02, TSE 0x04, RS 0x08, DEXT 0x20; PAYLEN in 19:0; HDRLEN byte 13, MSS
        // bytes 14-15.
        let g = TxTso {
            mss: 1448,
            hdr_len: 66,
            ip_start: 14,
        };
        let c = TxChecksum { start: 34, at: 50 };
        let t = tx_tso_context(c, g, 65000)?;
        assert_eq!(
            t.addr,
            14 | (24 << 8) | (33 << 16) | (34 << 32) | (50 << 40)
        );
        assert_eq!(t.info, 65000 | 0x2f00_0000 | (66 << 40) | (1448 << 48));
        assert_eq!(tx_tso_context(c, g, 1 << 20).map(|d| d.info), Err(EINVAL));
        Ok(())
    }

    /// The contexts a run of frames needs: one per change of place, one per segmented
    /// frame, and a plain one again after a segmented frame (the device's plain context
    /// unknown then), even for the place written before it.
    #[test]
    fn contexts_for_a_run_of_frames() {
        let tcp = TxChecksum { start: 34, at: 50 };
        let udp = TxChecksum { start: 34, at: 40 };
        let g = TxTso {
            mss: 1448,
            hdr_len: 66,
            ip_start: 14,
        };
        let mut placed = None;
        let mut run = |csum, tso| {
            let (need, next) = tx_context_need(csum, tso, placed);
            placed = next;
            need
        };
        assert_eq!(run(Some(tcp), None), TxContextNeed::Plain(tcp));
        assert_eq!(run(Some(tcp), None), TxContextNeed::None);
        assert_eq!(run(None, None), TxContextNeed::None);
        assert_eq!(run(Some(udp), None), TxContextNeed::Plain(udp));
        assert_eq!(run(Some(tcp), Some(g)), TxContextNeed::Segmentation(tcp, g));
        // The plain context now unknown: placed again, for TCP and for UDP alike.
        assert_eq!(run(Some(tcp), None), TxContextNeed::Plain(tcp));
        assert_eq!(run(Some(tcp), Some(g)), TxContextNeed::Segmentation(tcp, g));
        assert_eq!(run(Some(tcp), Some(g)), TxContextNeed::Segmentation(tcp, g));
        assert_eq!(run(Some(udp), None), TxContextNeed::Plain(udp));
        assert_eq!(run(Some(udp), None), TxContextNeed::None);
        // A frame without a checksum leaves the place as it was.
        assert_eq!(run(None, None), TxContextNeed::None);
        assert_eq!(run(Some(udp), None), TxContextNeed::None);
    }

    /// The headers a segmenting device wants: IP checksum 0, TCP checksum the folded sum
    /// of addresses and protocol (10.99.0.2 to 10.99.0.1: 0x0a63 + 0x0002 + 0x0a63 +
    /// 0x0001 + 6 = 0x14cf).
    #[test]
    fn tso_header_prepared() -> Result {
        let mut h = [0xffu8; 66];
        h[26..30].copy_from_slice(&[10, 99, 0, 2]);
        h[30..34].copy_from_slice(&[10, 99, 0, 1]);
        let g = TxTso {
            mss: 1448,
            hdr_len: 66,
            ip_start: 14,
        };
        tso_headers(&mut h, TxChecksum { start: 34, at: 50 }, g)?;
        assert_eq!(&h[24..26], &[0, 0]);
        assert_eq!(&h[50..52], &[0x14, 0xcf]);
        // A carry folds back in.
        h[26..34].copy_from_slice(&[0xff; 8]);
        tso_headers(&mut h, TxChecksum { start: 34, at: 50 }, g)?;
        assert_eq!(&h[50..52], &[0x00, 0x06]);
        assert_eq!(
            tso_headers(&mut h[..40], TxChecksum { start: 34, at: 50 }, g),
            Err(EINVAL)
        );
        Ok(())
    }

    #[test]
    fn mtu_bounds() {
        assert_eq!(MAX_MTU, 16110);
        assert_eq!(check_mtu(1500), Ok(false));
        assert_eq!(check_mtu(1501), Ok(true));
        assert_eq!(check_mtu(MAX_MTU), Ok(true));
        assert_eq!(check_mtu(MAX_MTU + 1), Err(EINVAL));
    }
}
