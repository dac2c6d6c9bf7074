// SPDX-License-Identifier: GPL-2.0

//! `e1000-irq`: a guarded driver for QEMU's e1000 (Intel 82540EM), interrupt-driven
//! design.
//!
//! Small rings (64 receive, 32 transmit descriptors) and no NAPI: the interrupt
//! handler does all the work under the driver's one lock — it reaps transmit
//! completions, delivers every received frame through the backlog (`netif_rx`) and
//! hands the slots back. Transmit copies each frame into a 16 KiB coherent bounce slot
//! (no streaming mappings at all; a slot holds the longest jumbo frame); the skb is
//! still reported done only when the device has sent it, so an instance that dies
//! leaves its unsent frames to the framework. Jumbo frames as in the NAPI driver: long
//! packets spread over 2 KiB receive buffers, gathered before delivery. Compare
//! `ndriver_e1000_napi.rs`.

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
use driver_dev::DmaBuffers;
use e1000_hw::*;
use nic_driver::{Ctx, NicDriver, RingRegistration, TxSkb, TxSlots, Xmit};

const RX_RING: usize = 64;
const TX_RING: usize = 32;

/// The receive ring: a 2 KiB buffer per descriptor.
struct RxQueue {
    /// First, so that it is withdrawn before the ring drops.
    reg: RingRegistration,
    ring: Ring,
    bufs: DmaBuffers<RX_BUF>,
    /// Where a frame longer than a buffer is put together.
    gather: RxGather,
    next: usize,
}

/// The transmit ring: a 16 KiB bounce buffer and a slot for the skb per descriptor.
struct TxQueue {
    /// First, so that it is withdrawn before the ring and slots drop.
    reg: RingRegistration,
    ring: Ring,
    bufs: DmaBuffers<FRAME_BUF>,
    slots: TxSlots<TX_RING>,
    head: usize,
    tail: usize,
    full: bool,
}

/// Both rings; one lock (`Ctx::tx`) covers the whole device state.
struct Rings {
    rx: RxQueue,
    tx: TxQueue,
}

#[derive(Default)]
struct State {
    rings: Option<Rings>,
    /// Counters read from the device (they clear on read).
    missed: u64,
    crc: u64,
}

/// The instance.
struct E1000Irq {
    hw: Hw,
    /// The MTU needs long packets ([`check_mtu`]).
    long: AtomicBool,
}

type C<'a> = Ctx<'a, E1000Irq>;

impl E1000Irq {
    /// Programs station address, multicast table and `RCTL` (long packets included)
    /// from the placeholder; the receiver runs while the rings are there.
    fn program(&self, c: &C<'_>) {
        // Under the lock: `set_rx_mode` and `change_mtu` each write all of `RCTL`, and
        // whichever writes last must see what the other changed.
        let s = c.tx.lock();
        self.hw.write_mac(c.dev.mac());
        let f = c.dev.rx_filter();
        self.hw.write_multicast(&f);
        self.hw
            .write_rctl(&f, s.rings.is_some(), self.long.load(Ordering::Relaxed));
    }

    /// Reports the transmits the device finished. An index past the end of the ring or
    /// slots (a driver bug) is an error, for the entry point to return: the instance
    /// fails.
    fn reap_tx(c: &C<'_>, t: &mut TxQueue) -> Result {
        while t.tail != t.head {
            let i = t.tail;
            if !tx_desc_done(&t.ring, i)? {
                break;
            }
            if let Some(skb) = t.slots.take(i)? {
                c.dev.tx_done(skb, true);
            }
            desc_clear(&t.ring, i)?;
            t.tail = (i + 1) % TX_RING;
            if t.full {
                t.full = false;
                c.dev.wake_queue();
            }
        }
        Ok(())
    }

    /// Everything the interrupt handler does, under the lock.
    fn service(&self, c: &C<'_>, s: &mut State) -> Result {
        let Some(r) = s.rings.as_mut() else {
            return Ok(());
        };
        Self::reap_tx(c, &mut r.tx)?;
        // Every received frame, to the backlog.
        let rx = &mut r.rx;
        loop {
            let i = rx.next;
            let Some(d) = rx_desc(&rx.ring, i)? else {
                break;
            };
            let _ = match rx.gather.take(&rx.bufs, i, &d) {
                RxPiece::Whole(len) => c.dev.rx_buffer(&rx.bufs, i, len, false),
                RxPiece::Gathered(len) => c.dev.rx_buffer(rx.gather.buffers(), 0, len, false),
                RxPiece::More | RxPiece::Dropped => Ok(()),
            };
            rx.next = self.hw.rx_give_back(&rx.ring, i)?;
        }
        Ok(())
    }

    /// Stops interrupts, receiver and transmitter, and gives the rings back;
    /// `report`: tell the framework the skbs still queued are dropped. An error (an
    /// index past the end, a driver bug) leaves the skbs not yet reported in their
    /// slots, to the framework; the rings are given back all the same.
    fn shut(&self, c: &C<'_>, report: bool) -> Result {
        self.hw.mask();
        self.hw.disable_rx_tx();
        let _ = self.hw.acknowledge();
        let Some(Rings { rx, mut tx }) = c.tx.lock().rings.take() else {
            return Ok(());
        };
        drop(rx.reg);
        // What the device sent is reported sent, not left to be sent again.
        Self::reap_tx(c, &mut tx)?;
        drop(tx.reg);
        if report {
            let mut i = tx.tail;
            while i != tx.head {
                if let Some(skb) = tx.slots.take(i)? {
                    c.dev.tx_done(skb, false);
                }
                i = (i + 1) % TX_RING;
            }
        }
        // Else the skbs still in the slots stay with the framework, which sends them
        // again on the next instance.
        Ok(())
    }
}

#[vtable]
impl NicDriver for E1000Irq {
    const PCI_IDS: &'static [abi::PciId] = e1000_hw::PCI_IDS;
    const MAX_MTU: u32 = e1000_hw::MAX_MTU;

    type Tx = State;
    type Rx = ();

    fn probe(c: &C<'_>) -> Result<Self> {
        let long = AtomicBool::new(check_mtu(c.dev.mtu())?);
        let hw = Hw::probe(&c.dev)?;
        pr_info!("e1000-irq: probed, generation {}\n", c.dev.generation());
        Ok(Self { hw, long })
    }

    fn open(&self, c: &C<'_>) -> Result {
        let d = &c.dev;
        let rx_ring = d.dma_array::<Desc>(RX_RING)?;
        let rx_bufs = d.dma_buffers::<RX_BUF>(RX_RING)?;
        for i in 0..RX_RING {
            let addr = rx_bufs.dma(i)?;
            rx_ring.write(i, Desc { addr, info: 0 })?;
        }
        let tx_ring = d.dma_array::<Desc>(TX_RING)?;
        let tx_bufs = d.dma_buffers::<FRAME_BUF>(TX_RING)?;
        let tx_slots = d.tx_slots::<TX_RING>()?;
        let gather = RxGather::new(d)?;
        self.hw.setup_rx(&rx_ring);
        self.hw.setup_tx(&tx_ring);
        self.hw.moderate_interrupts();
        let rx = RxQueue {
            reg: d.register_rx_ring(&rx_ring)?,
            ring: rx_ring,
            bufs: rx_bufs,
            gather,
            next: 0,
        };
        let tx = TxQueue {
            reg: d.register_tx_ring(&tx_ring, &tx_slots)?,
            ring: tx_ring,
            bufs: tx_bufs,
            slots: tx_slots,
            head: 0,
            tail: 0,
            full: false,
        };
        c.tx.lock().rings = Some(Rings { rx, tx });
        self.hw.start_tx();
        self.program(c);
        self.hw.start_interrupts(d);
        Ok(())
    }

    fn stop(&self, c: &C<'_>) -> Result {
        // `EINVAL` from `stop` would read as a refused value (the instance kept): a
        // driver bug on the way down is an I/O error, which fails the instance.
        self.shut(c, true).map_err(|_| EIO)
    }

    fn start_xmit(&self, c: &C<'_>, skb: TxSkb<'_>) -> Result<Xmit> {
        let mut g = c.tx.lock();
        let Some(r) = g.rings.as_mut() else {
            c.dev.stop_queue();
            return Ok(Xmit::Busy);
        };
        let t = &mut r.tx;
        let next = (t.head + 1) % TX_RING;
        if next == t.tail {
            t.full = true;
            c.dev.stop_queue();
            return Ok(Xmit::Busy);
        }
        let i = t.head;
        // One piece: no scatter-gather declared.
        let len = skb.bytes().len();
        // A frame longer than a slot (the MTU never allows one) fails the copy.
        t.bufs.copy_in(i, skb.bytes())?;
        t.slots.insert(i, skb, None)?;
        tx_desc_set(&t.ring, i, t.bufs.dma(i)?, len)?;
        t.head = next;
        self.hw
            .mmio
            .write_reg(TDT::zeroed().with_index(next as u32));
        if (next + 1) % TX_RING == t.tail {
            t.full = true;
            c.dev.stop_queue();
        }
        Ok(Xmit::Queued)
    }

    fn set_rx_mode(&self, c: &C<'_>) -> Result {
        self.program(c);
        Ok(())
    }

    fn set_mac_address(&self, c: &C<'_>, _mac: [u8; 6]) -> Result {
        // The placeholder already holds the new address; program everything from it.
        self.program(c);
        Ok(())
    }

    fn change_mtu(&self, c: &C<'_>, mtu: u32) -> Result {
        let long = check_mtu(mtu)?;
        if self.long.swap(long, Ordering::Relaxed) != long {
            // The receive buffers stay: a long frame spans several.
            self.program(c);
        }
        Ok(())
    }

    fn tx_timeout(&self, _c: &C<'_>) -> Result {
        pr_warn!("e1000-irq: transmit timeout\n");
        Ok(())
    }

    fn get_stats(&self, c: &C<'_>, stats: &mut NicHwStats) -> Result {
        let mut s = c.tx.lock();
        let (missed, crc) = self.hw.rx_stats(stats);
        s.missed += missed;
        s.crc += crc;
        Ok(())
    }

    fn interrupt(&self, c: &C<'_>) -> Result<bool> {
        if !self.hw.ack_interrupt(&c.dev) {
            return Ok(false);
        }
        let mut s = c.tx.lock();
        self.service(c, &mut s)?;
        Ok(true)
    }

    fn remove(&self, c: &C<'_>) {
        // `remove` answers nothing: a driver bug found on the way out is logged, and
        // the device is reset all the same.
        if let Err(e) = self.shut(c, false) {
            pr_err!("e1000-irq: giving the rings back on remove failed: {e:?}\n");
        }
        self.hw.reset();
    }
}

nic_driver::nic_implementation! {
    type: E1000Irq,
    name: c"e1000-irq",
    module: "ndriver_e1000_irq",
    description: "Guarded e1000 driver: interrupt-driven, small rings, copying transmit",
}
