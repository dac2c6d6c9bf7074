// SPDX-License-Identifier: GPL-2.0

//! The net callouts on [`Dev`] (`nic` class; the framework's side is
//! `wrappers/callouts_net.rs`) and the values they pass: the skb a `start_xmit` is lent
//! ([`TxSkb`]), the one the driver took and still owes a report for ([`PendingSkb`]),
//! and the receive filter to program ([`RxFilter`]).
//!
//! Part of `nic_driver.rs`. The fields the glue (`nic_glue.rs`) and the transmit slots
//! (`nic_rings.rs`) read or fill are `pub(super)`: visible in `nic_driver` and its parts
//! only, as they were when this was one file.

use crate::abi::{
    TxPiece, NIC_RX_ALLMULTI, NIC_RX_PROMISC, TX_PIECES_MAX, XMIT_CSUM, XMIT_MORE, XMIT_TSO,
};
use crate::callouts_api as api;
use crate::driver_dev::{Dev, DmaMapping};
use core::cell::Cell;
use kernel::ffi::c_void;
use kernel::prelude::*;

#[cfg(doc)]
use super::{NicDriver, TxSlots, Xmit};

/// A socket buffer handed to `start_xmit`: its frame, readable for the call, in one
/// piece or (for a driver with [`NicDriver::SCATTER_GATHER`]) several, and the skb
/// itself, which the driver takes with [`TxSkb::into_pending`] (or puts straight into
/// a [`TxSlots`] slot) and gives back exactly once, with [`Dev::tx_done`]. The value
/// cannot outlive the call (`'a`), so the frame cannot be read after the skb may have
/// been freed.
///
/// An skb the driver does not take is not queued: when `start_xmit` returns, the
/// framework gives it back to the stack, whatever [`Xmit`] says.
///
/// # Invariants
///
/// `pieces` holds between 1 and [`TX_PIECES_MAX`] pieces, each `len` (non-zero) bytes
/// at `data` that stay readable and unwritten for `'a`, the `start_xmit` call this value
/// was made for (the framework holds a reference on the skb until that call returns,
/// even if the driver reports it done before); `len` is their sum.
///
/// `token` is the token under which the framework lent the skb to the instance for that
/// call (the callouts check every token they are given), and `taken` is the call's
/// record of whether the driver took it (false until this value becomes a
/// [`PendingSkb`]).
#[must_use = "an skb not taken is given back to the stack"]
pub(crate) struct TxSkb<'a> {
    pub(super) token: u64,
    pieces: &'a [TxPiece],
    len: usize,
    more: bool,
    csum: Option<TxChecksum>,
    tso: Option<TxTso>,
    pub(super) taken: &'a Cell<bool>,
}

/// Where the device computes a frame's checksum (TCP or UDP, left to it by the stack):
/// the ones' complement sum of the bytes from `start` to the frame's end, stored at
/// `at` (offsets from the frame's start; `at` is at most the driver's
/// [`NicDriver::CHECKSUM_REACH`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TxChecksum {
    /// The first byte summed.
    pub(crate) start: u16,
    /// Where the sum is stored (two bytes).
    pub(crate) at: u16,
}

/// How the device cuts a TCP over IPv4 frame larger than the MSS into segments (TCP
/// segmentation offload, [`NicDriver::TSO`]): each segment carries `mss` bytes of the
/// payload (the last one the rest) behind a copy of the frame's first `hdr_len` bytes,
/// its Ethernet, IP (from `ip_start`) and TCP headers (from the checksum's `start`),
/// all in the frame's first piece. The device fixes each copy (IP length, identifier and
/// checksum, TCP sequence number, flags and checksum).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TxTso {
    /// Payload bytes per segment.
    pub(crate) mss: u16,
    /// Header bytes repeated in each segment.
    pub(crate) hdr_len: u16,
    /// Where the IP header starts.
    pub(crate) ip_start: u16,
}

impl<'a> TxSkb<'a> {
    /// The skb the framework lent under `token` for one `start_xmit` call: its frame in
    /// `count` pieces at `pieces`, the call's `flags` ([`XMIT_MORE`], [`XMIT_CSUM`],
    /// [`XMIT_TSO`]; other bits ignored), with [`XMIT_CSUM`] where the checksum goes
    /// (`csum`: start in the low 16 bits, where to store it in the high 16), with
    /// [`XMIT_TSO`] how to segment (`gso`: MSS in the low 16 bits, header length in the
    /// next 8, IP header offset in the top 8). `token` is passed back to the callouts,
    /// which check it; `taken` is the call's record, false until the driver takes the
    /// skb. `EINVAL` for a count out of range (more than one for a driver without
    /// scatter-gather, `sg`), an empty piece, a checksum for a driver without checksum
    /// offload (`reach` 0) or stored before its start or beyond `reach`, or segmentation
    /// asked of a driver without it (`tso`), without a checksum, or with headers that do
    /// not fit the first piece or leave no payload.
    ///
    /// # Safety
    ///
    /// `pieces` points to `count` pieces, and each piece's `len` bytes at its `data`,
    /// that stay readable and unwritten for `'a`, the call.
    pub(super) unsafe fn lent(
        token: u64,
        pieces: *const TxPiece,
        count: u32,
        (flags, csum, gso): (u32, u32, u32),
        (sg, reach, tso): (bool, u16, bool),
        taken: &'a Cell<bool>,
    ) -> Result<Self> {
        let count = count as usize;
        let most = if sg { TX_PIECES_MAX } else { 1 };
        if count == 0 || count > most || pieces.is_null() || !pieces.is_aligned() {
            return Err(EINVAL);
        }
        // SAFETY: `count` readable pieces at `pieces` (aligned, checked) for `'a` (this
        // function's contract).
        let pieces = unsafe { core::slice::from_raw_parts(pieces, count) };
        let mut len = 0usize;
        for p in pieces {
            if p.len == 0 || p.data.is_null() {
                return Err(EINVAL);
            }
            len = len.checked_add(p.len as usize).ok_or(EINVAL)?;
        }
        let csum = if flags & XMIT_CSUM != 0 {
            let c = TxChecksum {
                start: csum as u16,
                at: (csum >> 16) as u16,
            };
            if reach == 0 || c.at < c.start || c.at > reach || usize::from(c.at) + 2 > len {
                return Err(EINVAL);
            }
            Some(c)
        } else {
            None
        };
        let seg = if flags & XMIT_TSO != 0 {
            let g = TxTso {
                mss: gso as u16,
                hdr_len: ((gso >> 16) & 0xff) as u16,
                ip_start: (gso >> 24) as u16,
            };
            let c = csum.ok_or(EINVAL)?;
            let (ip, tcp, at, hdr) = (
                u32::from(g.ip_start),
                u32::from(c.start),
                u32::from(c.at),
                u32::from(g.hdr_len),
            );
            // IPv4's 20 header bytes at least before the TCP header, TCP's 20 at least
            // (its checksum among them) in the headers, all in the first piece, and
            // payload after them.
            if !tso
                || g.mss == 0
                || ip + 20 > tcp
                || tcp + 20 > hdr
                || at + 2 > hdr
                || hdr > pieces[0].len
                || hdr as usize >= len
            {
                return Err(EINVAL);
            }
            Some(g)
        } else {
            None
        };
        // INVARIANT: 1..=TX_PIECES_MAX non-empty pieces (checked), readable for `'a` per
        // this function's contract; `len` their sum.
        Ok(Self {
            token,
            pieces,
            len,
            more: flags & XMIT_MORE != 0,
            csum,
            tso: seg,
            taken,
        })
    }
}

impl TxSkb<'_> {
    /// The frame's first piece: all of it, unless the driver has
    /// [`NicDriver::SCATTER_GATHER`] (see [`TxSkb::piece`]).
    pub(crate) fn bytes(&self) -> &[u8] {
        self.piece(0).unwrap_or(&[])
    }

    /// Piece `i` of the frame (`None` past the last), in order: the frame is their
    /// concatenation.
    pub(crate) fn piece(&self, i: usize) -> Option<&[u8]> {
        let p = self.pieces.get(i)?;
        // SAFETY: `len` readable bytes at `data`, unchanged for as long as `self` lives
        // (type invariant).
        Some(unsafe { core::slice::from_raw_parts(p.data, p.len as usize) })
    }

    /// How many pieces the frame is in (1 for a driver without
    /// [`NicDriver::SCATTER_GATHER`]).
    pub(crate) fn piece_count(&self) -> usize {
        self.pieces.len()
    }

    /// Maps the frame's first piece for streaming DMA towards the device (see
    /// [`TxSkb::dma_map_piece`]).
    pub(crate) fn dma_map(&self, dev: &Dev) -> Result<DmaMapping> {
        self.dma_map_piece(dev, 0)
    }

    /// Maps piece `i` for streaming DMA towards the device, until the mapping drops;
    /// drop it before reporting the skb done (else the device may read a freed frame).
    /// [`TxSlots`] keeps it with the skb, or on its own for all but the last piece.
    /// `EINVAL` past the last piece.
    pub(crate) fn dma_map_piece(&self, dev: &Dev, i: usize) -> Result<DmaMapping> {
        let p = self.pieces.get(i).ok_or(EINVAL)?;
        // SAFETY: `len` readable bytes at `data` (type invariant).
        unsafe { dev.dma_map_raw(p.data, p.len as usize) }
    }

    /// Its length: all of its pieces.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Where the device must compute the frame's checksum, if the stack left it to the
    /// device (only ever for a driver with [`NicDriver::CHECKSUM_REACH`]): a frame sent
    /// without it goes out with a wrong checksum, and its receiver drops it.
    pub(crate) fn checksum(&self) -> Option<TxChecksum> {
        self.csum
    }

    /// How the device is to cut the frame into segments, if the stack left that to it
    /// (only ever for a driver with [`NicDriver::TSO`]; then [`TxSkb::checksum`] places
    /// the TCP checksum).
    pub(crate) fn tso(&self) -> Option<TxTso> {
        self.tso
    }

    /// Whether the stack passes another skb right after this one (the rest of a
    /// segmented packet, or of a batch; never when the transmit queue was stopped as the
    /// call began): the driver may queue this one without ringing
    /// its device's transmit doorbell, and ring it for the last. The framework calls the
    /// driver for that last one but in the cases `abi::XMIT_MORE` lists (mostly: the
    /// instance is being replaced). A driver that stops its queue, turns this skb back
    /// or drops it rings the doorbell first.
    pub(crate) fn more(&self) -> bool {
        self.more
    }

    /// Takes the skb: the driver now owes the framework one report of it
    /// ([`Dev::tx_done`]). The frame is no longer readable through it (a mapping made
    /// with [`TxSkb::dma_map_piece`] stays valid).
    pub(crate) fn into_pending(self) -> PendingSkb {
        self.taken.set(true);
        // INVARIANT: made once per lent skb (this consumes its only `TxSkb`).
        PendingSkb { token: self.token }
    }
}

/// An skb the driver took in `start_xmit` and still owes a report for: it gives it back
/// by value, exactly once, with [`Dev::tx_done`]. Neither `Copy` nor `Clone`.
///
/// Dropping it without a report leaves the skb to the framework, as a fault would: it
/// stays lent to the instance, and is taken back and sent again by the next instance
/// when this one ends (what `remove` does with the transmits still queued). While the
/// instance runs, an skb left so is a stalled transmit once more follow (`tx_stalls`,
/// after 5 s), which recovers the device.
///
/// # Invariants
///
/// `token` is the token under which the framework lent an skb to the instance whose
/// `start_xmit` made this value, and no other `PendingSkb` holds it.
#[must_use = "an skb dropped unreported waits for the framework to take it back"]
pub(crate) struct PendingSkb {
    pub(super) token: u64,
}

/// What the receive filter should let through.
pub(crate) struct RxFilter {
    /// Every frame.
    pub(crate) promisc: bool,
    /// Every multicast frame.
    pub(crate) allmulti: bool,
    /// The multicast addresses (first byte in the low bits).
    pub(crate) mc: [u64; 16],
    /// How many of `mc` are valid.
    pub(crate) count: usize,
}

/// The net callouts.
impl Dev {
    /// The driver is done with a transmitted skb (`sent`: it went out; else it is
    /// dropped): the framework takes it back.
    pub(crate) fn tx_done(&self, skb: PendingSkb, sent: bool) {
        // The framework takes the skb by its token; the value ends here.
        let token = skb.token as usize as *mut c_void;
        // SAFETY: the live instance reports an skb it was lent, once (`PendingSkb`'s
        // invariant; the framework refuses any other token anyway).
        unsafe { api::ndriver_net_tx_done(self.handle(), token, sent as u32) }
    }

    /// Schedules the NAPI poll.
    pub(crate) fn napi_schedule(&self) -> bool {
        // SAFETY: the live instance.
        unsafe { api::ndriver_net_napi_schedule(self.handle()) != 0 }
    }

    /// Ends the current poll (`work` < budget), once, from `poll` itself; true if
    /// interrupts may go back on.
    pub(crate) fn napi_complete(&self, work: i32) -> bool {
        // SAFETY: the live instance, from its `poll`.
        unsafe { api::ndriver_net_napi_complete(self.handle(), work) != 0 }
    }

    /// Reports the link state.
    pub(crate) fn carrier(&self, on: bool) {
        // SAFETY: the live instance.
        unsafe { api::ndriver_net_carrier(self.handle(), on as u32) }
    }

    /// Stops the transmit queue (ring full).
    pub(crate) fn stop_queue(&self) {
        // SAFETY: the live instance.
        unsafe { api::ndriver_net_stop_queue(self.handle()) }
    }

    /// Wakes the transmit queue.
    pub(crate) fn wake_queue(&self) {
        // SAFETY: the live instance.
        unsafe { api::ndriver_net_wake_queue(self.handle()) }
    }

    /// The station address to program.
    pub(crate) fn mac(&self) -> [u8; 6] {
        // SAFETY: the live instance.
        let v = unsafe { api::ndriver_net_mac(self.handle()) }.to_le_bytes();
        [v[0], v[1], v[2], v[3], v[4], v[5]]
    }

    /// The MTU.
    pub(crate) fn mtu(&self) -> u32 {
        // SAFETY: the live instance.
        unsafe { api::ndriver_net_mtu(self.handle()) }
    }

    /// The receive filter to program.
    pub(crate) fn rx_filter(&self) -> RxFilter {
        let mut mc = [0u64; 16];
        let mut count = 0u32;
        // SAFETY: the live instance; room for 16 addresses and a count.
        let flags =
            unsafe { api::ndriver_net_rx_filter(self.handle(), mc.as_mut_ptr(), 16, &mut count) };
        RxFilter {
            promisc: flags & NIC_RX_PROMISC != 0,
            allmulti: flags & NIC_RX_ALLMULTI != 0,
            mc,
            count: (count as usize).min(16),
        }
    }
}
