// SPDX-License-Identifier: GPL-2.0

//! `e1000-napi`: a guarded driver for QEMU's e1000 (Intel 82540EM), NAPI design.
//!
//! Large rings (256 receive and 256 transmit descriptors). The interrupt handler only
//! acknowledges, masks the device and schedules NAPI; the poll reaps transmit
//! completions first, then receives up to its budget and re-enables interrupts when
//! it finishes early. Transmit is zero-copy and offloaded as the C driver's: each piece
//! of a frame (the skb's linear part and page fragments: scatter-gather) is mapped for
//! streaming DMA (through the callouts, so a dead instance's mappings are undone) and
//! unmapped when its descriptor is done, the device computes the TCP and UDP
//! checksums (a context descriptor places them) and cuts TCP frames of up to 64 KiB
//! into segments (TSO; their headers sent from a copy prepared for it). Receive
//! buffers are 2 KiB slots in four coherent chunks; frames are copied out into fresh
//! skbs by the framework and delivered through GRO. Jumbo frames up to the C driver's MTU (16110): above 1500 the device
//! takes long packets, spread over as many receive buffers as they fill and gathered
//! before delivery. Interrupts are throttled as the C driver starts them (20000 a
//! second). A failed instance is replaced warm where the framework allows it: the next
//! one adopts the PCI function, registers, interrupt line, rings and buffers without a
//! reset ([`E1000Napi::adopt`]). Compare `ndriver_e1000_irq.rs`, the interrupt-driven
//! alternative, which restarts cold.

use core::sync::atomic::{AtomicBool, Ordering};
use kernel::io::Io;
use kernel::prelude::*;

#[path = "../ndriver/abi.rs"]
mod abi;
#[path = "../wrappers/callouts_api.rs"]
mod callouts_api;
#[path = "../wrappers/driver_dev.rs"]
mod driver_dev;
#[path = "../wrappers/driver_lock.rs"]
mod driver_lock;
#[path = "e1000_hw.rs"]
mod e1000_hw;
#[path = "../wrappers/nic_driver.rs"]
mod nic_driver;

use abi::NicHwStats;
use driver_dev::{DmaBuffers, DmaMapping};
use e1000_hw::*;
use nic_driver::{Ctx, NicDriver, RingRegistration, TxChecksum, TxSkb, TxSlots, Xmit};

/// Ring sizes.
const RX_RING: usize = 256;
const TX_RING: usize = 256;
/// The most descriptors a frame takes: a context descriptor, one per piece, and one
/// more for the headers of a frame the device segments (copied apart).
const TX_FRAME_DESCS: usize = abi::TX_PIECES_MAX + 2;
/// Room for the headers of a frame the device segments (at most 255 bytes, the
/// descriptor's `HDRLEN`): one per transmit descriptor.
const TX_HDR_BUF: usize = 256;
/// Receive descriptors the poll gives back to the device with one tail write (the C
/// driver's `E1000_RX_BUFFER_WRITE`).
const RX_GIVE_BATCH: i32 = 16;

/// Roles of the coherent buffers kept across a warm restart (`DmaCoherent::keep`): the
/// receive ring, its buffers (one role per chunk, from `ROLE_RX_BUFS` on), the gather
/// buffer, the transmit ring.
const ROLE_RX_RING: u32 = 0;
const ROLE_RX_BUFS: u32 = 16;
const ROLE_GATHER: u32 = 32;
const ROLE_TX_RING: u32 = 48;
const ROLE_TX_HDRS: u32 = 64;

struct TxRing {
    /// First, so that it is withdrawn before the ring and slots drop.
    reg: RingRegistration,
    ring: Ring,
    /// The skb of each descriptor and its streaming mapping.
    slots: TxSlots<TX_RING>,
    /// For descriptor `i` that sends the headers of a frame the device segments: a copy
    /// of them, prepared for the device (the skb's own stay as the stack made them, so
    /// that a frame sent again in software segments is right).
    hdrs: DmaBuffers<TX_HDR_BUF>,
    /// Descriptors queued and reaped so far (indices are these modulo `TX_RING`).
    queued: usize,
    reaped: usize,
    stopped: bool,
    /// Where the last plain (not segmenting) context descriptor this instance queued
    /// placed the checksum (the device keeps it for the frames that follow); `None`
    /// before the first and after a segmentation context (which the 82540EM keeps in
    /// the same place).
    csum_place: Option<TxChecksum>,
}

#[derive(Default)]
struct Tx {
    r: Option<TxRing>,
}

struct RxRing {
    /// Held until the ring drops, and first, so that it is withdrawn before.
    _reg: RingRegistration,
    ring: Ring,
    /// A 2 KiB buffer per descriptor (in 128 KiB chunks).
    bufs: DmaBuffers<RX_BUF>,
    /// Where a frame longer than a buffer is put together.
    gather: RxGather,
    next: usize,
}

#[derive(Default)]
struct Rx {
    r: Option<RxRing>,
}

/// The instance.
struct E1000Napi {
    hw: Hw,
    /// The MTU needs long packets ([`check_mtu`]).
    long: AtomicBool,
}

type C<'a> = Ctx<'a, E1000Napi>;

impl E1000Napi {
    /// Programs the receive filter and long packets; the receiver runs while the
    /// receive ring is there.
    fn program_filter(&self, c: &C<'_>) {
        // Under the receive lock: `set_rx_mode` and `change_mtu` each write all of `RCTL`,
        // and whichever writes last must see what the other changed.
        let g = c.rx.lock();
        let f = c.dev.rx_filter();
        self.hw.write_multicast(&f);
        self.hw
            .write_rctl(&f, g.r.is_some(), self.long.load(Ordering::Relaxed));
    }

    /// Gives the device the receive descriptors the poll cleared before `given`, the
    /// newest cleared one, which becomes the tail (if any; taken).
    fn give_rx(&self, c: &C<'_>, given: &mut Option<usize>) {
        let Some(i) = given.take() else {
            return;
        };
        // Under the lock, as every change of the ring.
        let g = c.rx.lock();
        if g.r.is_some() {
            self.hw.rx_tail(i);
        }
    }

    /// Tells the device about every transmit descriptor queued so far.
    fn doorbell(&self, t: &TxRing) {
        self.hw
            .mmio
            .write_reg(TDT::zeroed().with_index((t.queued % TX_RING) as u32));
    }

    /// Reaps finished transmit descriptors: unmaps and reports their skbs. An index
    /// past the end of the ring or slots (a driver bug) is an error, for the entry point
    /// to return: the instance fails.
    fn reap_tx(&self, c: &C<'_>) -> Result {
        let mut g = c.tx.lock();
        let Some(t) = g.r.as_mut() else {
            return Ok(());
        };
        while t.reaped != t.queued {
            let i = t.reaped % TX_RING;
            if !tx_desc_done(&t.ring, i)? {
                break;
            }
            // Unmapped (by `take`) before the skb may be freed.
            if let Some(skb) = t.slots.take(i)? {
                c.dev.tx_done(skb, true);
            }
            desc_clear(&t.ring, i)?;
            t.reaped += 1;
        }
        if t.stopped && t.queued - t.reaped < TX_RING / 2 {
            t.stopped = false;
            c.dev.wake_queue();
        }
        Ok(())
    }

    /// Drops the transmit ring; `report`: tell the framework the skbs still queued
    /// are dropped (interface down), else leave them to it (they are sent again by
    /// the next instance). On an error (an index past the end, a driver bug) the ring
    /// is dropped all the same, and the skbs not yet reported stay with the framework.
    fn drop_tx(&self, c: &C<'_>, report: bool) -> Result {
        // What the device sent is reported sent, not left to be sent again.
        let reaped = self.reap_tx(c);
        let Some(mut t) = c.tx.lock().r.take() else {
            return reaped;
        };
        drop(t.reg);
        reaped?;
        for n in t.reaped..t.queued {
            let Some(skb) = t.slots.take(n % TX_RING)? else {
                continue;
            };
            if report {
                c.dev.tx_done(skb, false);
            }
            // Else the skb stays with the framework.
        }
        Ok(())
    }

    /// Stops receiver, transmitter and interrupts, and gives the rings back; an error
    /// as [`Self::drop_tx`]'s.
    fn shut(&self, c: &C<'_>, report: bool) -> Result {
        self.hw.quiet();
        self.hw.disable_rx_tx();
        // Freed after the lock is dropped: coherent DMA memory is not freed with
        // interrupts off. Its registration is withdrawn first.
        let rx = c.rx.lock().r.take();
        drop(rx);
        self.drop_tx(c, report)
    }
}

#[vtable]
impl NicDriver for E1000Napi {
    const PCI_IDS: &'static [abi::PciId] = e1000_hw::PCI_IDS;
    const MAX_MTU: u32 = e1000_hw::MAX_MTU;
    const SCATTER_GATHER: bool = true;
    const CHECKSUM_REACH: u16 = e1000_hw::CHECKSUM_REACH;
    const TSO: bool = true;

    type Tx = Tx;
    type Rx = Rx;

    fn probe(c: &C<'_>) -> Result<Self> {
        let hw = Hw::probe(&c.dev)?;
        hw.keep()?;
        Ok(Self {
            hw,
            long: AtomicBool::new(check_mtu(c.dev.mtu())?),
        })
    }

    /// Warm restart: the device runs on as the previous instance left it (no reset, no
    /// `RCTL`/`TCTL` write, no carrier report); its rings and buffers are adopted once
    /// the registers are checked against them. Transmits lent to the previous instance
    /// may still be queued: the adopter waits until the device sent those it was told of
    /// (the head reaches the tail; frames queued after the tail, a batch whose doorbell
    /// never rang, are not sent) and leaves their descriptors alone; the framework then
    /// completes the done ones and sends the rest again (`placeholders/nic/warm_tx.rs`),
    /// and the adopter queues from the tail on.
    fn adopt(c: &C<'_>) -> Result<Self> {
        let d = &c.dev;
        let hw = Hw::adopt(d)?;
        // Named parts, for the recovery's slowest step (`adopt.NAME` in `recoveries`).
        d.step("hw");
        let long = check_mtu(d.mtu())?;
        if !hw.has_mac(d.mac()) {
            return Err(EIO);
        }
        let me = Self {
            hw,
            long: AtomicBool::new(long),
        };
        let ring = match d.adopt_dma_array::<Desc>(ROLE_RX_RING, RX_RING) {
            Ok(r) => r,
            // No rings kept: the interface was down (the framework refuses the adoption
            // if anything else was kept).
            Err(e) if e == ENOENT => {
                me.hw.set_master();
                return Ok(me);
            }
            Err(e) => return Err(e),
        };
        let bufs = d.adopt_dma_buffers::<RX_BUF>(ROLE_RX_BUFS, RX_RING)?;
        let gather = RxGather::adopt(d, ROLE_GATHER, long)?;
        let tring = d.adopt_dma_array::<Desc>(ROLE_TX_RING, TX_RING)?;
        let hdrs = d.adopt_dma_buffers::<TX_HDR_BUF>(ROLE_TX_HDRS, TX_RING)?;
        d.step("rings");
        let mut next = me.hw.check_rx(&ring, &d.rx_filter(), long)?;
        // Every descriptor points at its own buffer: the device writes nowhere else.
        for i in 0..RX_RING {
            if ring.read(i)?.addr != bufs.dma(i)? {
                return Err(EIO);
            }
        }
        d.step("check_rx");
        // Descriptors handed back but not yet given to the device (the poll gives them
        // in batches, and the previous instance died before the tail moved past them):
        // they come before the first filled one, or the head. Give them now, or the
        // receiver stops there for good.
        // The device sets a descriptor's done bit before it moves the head past it.
        let head = me.hw.mmio.read(RDH).index() as usize;
        let mut given = None;
        let mut n = 0;
        while rx_desc(&ring, next)?.is_none() && next != head {
            // A poll gives every batch: more were never cleared by one.
            n += 1;
            if n > RX_GIVE_BATCH {
                return Err(EIO);
            }
            given = Some(next);
            next = (next + 1) % RX_RING;
        }
        if let Some(i) = given {
            me.hw.rx_tail(i);
        }
        d.step("give_rx");
        // The receive ring is checked: the device may reach it (and drain the
        // transmit ring) from now on.
        me.hw.set_master();
        d.step("set_master");
        let tail = me.hw.check_tx(&tring)?;
        d.step("check_tx");
        let slots = d.tx_slots::<TX_RING>()?;
        let reg = d.register_rx_ring(&ring)?;
        *c.rx.lock() = Rx {
            r: Some(RxRing {
                _reg: reg,
                ring,
                bufs,
                gather,
                next,
            }),
        };
        let reg = d.register_tx_ring(&tring, &slots)?;
        *c.tx.lock() = Tx {
            r: Some(TxRing {
                reg,
                ring: tring,
                slots,
                hdrs,
                queued: tail,
                reaped: tail,
                stopped: false,
                // The device keeps the dead instance's, unknown here: placed anew.
                csum_place: None,
            }),
        };
        d.step("register");
        me.hw.kick();
        Ok(me)
    }

    fn open(&self, c: &C<'_>) -> Result {
        let d = &c.dev;
        // Receive ring: every descriptor owns a 2 KiB buffer.
        let ring = d.dma_array::<Desc>(RX_RING)?;
        let bufs = d.dma_buffers::<RX_BUF>(RX_RING)?;
        for i in 0..RX_RING {
            let addr = bufs.dma(i)?;
            ring.write(i, Desc { addr, info: 0 })?;
        }
        let gather = RxGather::new(d)?;
        // Kept across a warm restart (`adopt`), as is the transmit ring below.
        ring.keep(ROLE_RX_RING)?;
        bufs.keep(ROLE_RX_BUFS)?;
        gather.keep(ROLE_GATHER)?;
        let hw = &self.hw;
        hw.setup_rx(&ring);
        hw.moderate_interrupts();
        let reg = d.register_rx_ring(&ring)?;
        // Transmit ring.
        let tring = d.dma_array::<Desc>(TX_RING)?;
        tring.keep(ROLE_TX_RING)?;
        let hdrs = d.dma_buffers::<TX_HDR_BUF>(TX_RING)?;
        hdrs.keep(ROLE_TX_HDRS)?;
        let slots = d.tx_slots::<TX_RING>()?;
        hw.setup_tx(&tring);
        *c.rx.lock() = Rx {
            r: Some(RxRing {
                _reg: reg,
                ring,
                bufs,
                gather,
                next: 0,
            }),
        };
        let reg = d.register_tx_ring(&tring, &slots)?;
        *c.tx.lock() = Tx {
            r: Some(TxRing {
                reg,
                ring: tring,
                slots,
                hdrs,
                queued: 0,
                reaped: 0,
                stopped: false,
                csum_place: None,
            }),
        };
        hw.write_mac(d.mac());
        hw.start_tx();
        self.program_filter(c);
        hw.start_interrupts(d);
        Ok(())
    }

    fn stop(&self, c: &C<'_>) -> Result {
        // `EINVAL` from `stop` would read as a refused value (the instance kept): a
        // driver bug on the way down is an I/O error, which fails the instance.
        self.shut(c, true).map_err(|_| EIO)
    }

    /// A frame takes a descriptor per piece (scatter-gather), and a context descriptor
    /// before them when its checksum is placed otherwise than the last one's, or when
    /// the device segments it (TSO: then its headers go from a prepared copy, in a
    /// descriptor of their own). Only the last piece's slot holds the skb: the device is
    /// done with a frame once it is done with that descriptor. What can fail (the
    /// pieces' mappings, the headers' copy) is done before the ring is touched.
    fn start_xmit(&self, c: &C<'_>, skb: TxSkb<'_>) -> Result<Xmit> {
        let mut g = c.tx.lock();
        let Some(t) = g.r.as_mut() else {
            c.dev.stop_queue();
            return Ok(Xmit::Busy);
        };
        let csum = skb.checksum();
        let (context, placed) = tx_context_need(csum, skb.tso(), t.csum_place);
        let tso = match context {
            TxContextNeed::Segmentation(p, g) => Some((g, p)),
            _ => None,
        };
        let pieces = skb.piece_count();
        // The context, and for a segmented frame its headers' copy.
        let extra = match context {
            TxContextNeed::None => 0,
            TxContextNeed::Plain(_) => 1,
            TxContextNeed::Segmentation(..) => 2,
        };
        let need = pieces + extra;
        if t.queued - t.reaped + need > TX_RING - 1 {
            // What this batch queued goes out before the queue stops.
            self.doorbell(t);
            t.stopped = true;
            c.dev.stop_queue();
            return Ok(Xmit::Busy);
        }
        let mut maps = [const { None::<DmaMapping> }; abi::TX_PIECES_MAX];
        let mut lens = [0usize; abi::TX_PIECES_MAX];
        let mut mapped = true;
        for (k, (m, l)) in maps
            .iter_mut()
            .zip(lens.iter_mut())
            .enumerate()
            .take(pieces)
        {
            *l = skb.piece(k).map_or(0, <[u8]>::len);
            match skb.dma_map_piece(&c.dev, k) {
                Ok(map) => *m = Some(map),
                Err(_) => {
                    mapped = false;
                    break;
                }
            }
        }
        if !mapped {
            // No mapping to be had (bounce buffers or IOMMU space exhausted): the frame
            // is dropped, as the C driver does, its mappings undone first; what the
            // batch queued before it goes out if it was the last.
            drop(maps);
            if !skb.more() {
                self.doorbell(t);
            }
            c.dev.tx_done(skb.into_pending(), false);
            return Ok(Xmit::Queued);
        }
        let mut hdr = [0u8; TX_HDR_BUF];
        let skip = match tso {
            Some((g, p)) => {
                let n = usize::from(g.hdr_len);
                let h = hdr.get_mut(..n).ok_or(EINVAL)?;
                h.copy_from_slice(skb.bytes().get(..n).ok_or(EINVAL)?);
                tso_headers(h, p, g)?;
                n
            }
            None => 0,
        };
        // The ring now.
        if let Some((g, p)) = tso {
            let paylen = skb.len().checked_sub(skip).ok_or(EINVAL)?;
            t.ring
                .write(t.queued % TX_RING, tx_tso_context(p, g, paylen)?)?;
            t.queued += 1;
            let i = t.queued % TX_RING;
            t.hdrs.copy_in(i, hdr.get(..skip).ok_or(EINVAL)?)?;
            t.ring
                .write(i, tx_data(t.hdrs.dma(i)?, skip, false, true, true)?)?;
            t.queued += 1;
        } else if let TxContextNeed::Plain(p) = context {
            t.ring.write(t.queued % TX_RING, tx_context(p)?)?;
            t.queued += 1;
        }
        t.csum_place = placed;
        let (sum, seg, more) = (csum.is_some(), tso.is_some(), skb.more());
        let mut skb = Some(skb);
        for (k, (m, &l)) in maps.iter_mut().zip(lens.iter()).enumerate().take(pieces) {
            let map = m.take().ok_or(EINVAL)?;
            // The headers of the first piece went from the copy.
            let off = if k == 0 { skip } else { 0 };
            let len = l.checked_sub(off).ok_or(EINVAL)?;
            let dma = map.dma().checked_add(off as u64).ok_or(EINVAL)?;
            let eop = k + 1 == pieces;
            if len == 0 && !eop {
                // The first piece is all headers (unmapped here, unused).
                continue;
            }
            let i = t.queued % TX_RING;
            if eop {
                t.slots.insert(i, skb.take().ok_or(EINVAL)?, Some(map))?;
            } else {
                t.slots.insert_piece(i, map)?;
            }
            t.ring.write(i, tx_data(dma, len, eop, sum, seg)?)?;
            t.queued += 1;
        }
        // Stopped while the next frame might not fit.
        let full = t.queued - t.reaped + TX_FRAME_DESCS > TX_RING - 1;
        // The doorbell once for a batch (the stack passes the rest of it right after),
        // and before the queue stops, which ends the batch early.
        if !more || full {
            self.doorbell(t);
        }
        if full {
            t.stopped = true;
            c.dev.stop_queue();
        }
        Ok(Xmit::Queued)
    }

    fn set_rx_mode(&self, c: &C<'_>) -> Result {
        self.program_filter(c);
        Ok(())
    }

    fn set_mac_address(&self, _c: &C<'_>, mac: [u8; 6]) -> Result {
        self.hw.write_mac(mac);
        Ok(())
    }

    fn change_mtu(&self, c: &C<'_>, mtu: u32) -> Result {
        let long = check_mtu(mtu)?;
        if self.long.swap(long, Ordering::Relaxed) != long {
            // The receive buffers stay: a long frame spans several.
            self.program_filter(c);
        }
        Ok(())
    }

    fn tx_timeout(&self, _c: &C<'_>) -> Result {
        pr_warn!(
            "e1000-napi: transmit timeout, TDH {} TDT {}\n",
            self.hw.mmio.read(TDH).index(),
            self.hw.mmio.read(TDT).index()
        );
        Ok(())
    }

    fn get_stats(&self, _c: &C<'_>, stats: &mut NicHwStats) -> Result {
        self.hw.rx_stats(stats);
        stats.tx_errors += u64::from(self.hw.mmio.read(COLC).count());
        Ok(())
    }

    fn poll(&self, c: &C<'_>, budget: i32) -> Result<i32> {
        self.reap_tx(c)?;
        let mut done = 0;
        // The newest descriptor cleared and not yet given to the device (the tail to
        // write; the device fills up to the one before).
        let mut given = None;
        while done < budget {
            // Find the next filled slot under the lock; deliver without it (the
            // stack may transmit from inside the delivery). The slot's memory lives
            // until `stop`, which the framework never runs during a poll (NAPI is
            // disabled first, or the instance is quiesced).
            let frame = {
                let mut g = c.rx.lock();
                let Some(r) = g.r.as_mut() else {
                    break;
                };
                let i = r.next;
                let Some(d) = rx_desc(&r.ring, i)? else {
                    break;
                };
                match r.gather.take(&r.bufs, i, &d) {
                    RxPiece::Whole(len) => Some(r.bufs.frame(i, len).map_err(|_| EIO)?),
                    RxPiece::Gathered(len) => Some(r.gather.frame(len).map_err(|_| EIO)?),
                    RxPiece::More | RxPiece::Dropped => None,
                }
            };
            if let Some(frame) = frame {
                // The frame is read without the receive lock (the stack may transmit from
                // inside the delivery), so not through a borrow of the buffers: the driver
                // vouches for them.
                // SAFETY: the buffers live from `open` to `stop` (never during a poll); the
                // device writes this one only after it is cleared below and given back
                // (`give_rx`); only `poll`, one at a time, gathers.
                let _ = unsafe { c.dev.rx_frame(frame, true) };
            }
            if let Some(r) = c.rx.lock().r.as_mut() {
                desc_clear(&r.ring, r.next)?;
                given = Some(r.next);
                r.next = (r.next + 1) % RX_RING;
            }
            done += 1;
            if done % RX_GIVE_BATCH == 0 {
                self.give_rx(c, &mut given);
            }
        }
        self.give_rx(c, &mut given);
        if done < budget && c.dev.napi_complete(done) {
            self.hw.unmask();
        }
        Ok(done)
    }

    fn interrupt(&self, c: &C<'_>) -> Result<bool> {
        if !self.hw.ack_interrupt(&c.dev) {
            return Ok(false);
        }
        // Masked until the poll has caught up.
        self.hw.mask();
        c.dev.napi_schedule();
        Ok(true)
    }

    fn remove(&self, c: &C<'_>) {
        // Queued skbs stay with the framework, which sends them on the next instance.
        // `remove` answers nothing: a driver bug found on the way out is logged, and the
        // device is reset all the same.
        if let Err(e) = self.shut(c, false) {
            pr_err!("e1000-napi: giving the rings back on remove failed: {e:?}\n");
        }
        self.hw.reset();
    }
}

nic_driver::nic_implementation! {
    type: E1000Napi,
    name: c"e1000-napi",
    module: "ndriver_e1000_napi",
    description: "Guarded e1000 driver: NAPI, 256-descriptor rings, zero-copy transmit",
}
