// SPDX-License-Identifier: GPL-2.0

//! `e1000-irq`: a guarded driver for QEMU's e1000 (Intel 82540EM), interrupt-driven
//! design.
//!
//! Small rings (64 receive, 32 transmit descriptors) and no NAPI: the interrupt
//! handler does all the work under the driver's one lock — it reaps transmit
//! completions, delivers every received frame through the backlog (`netif_rx`) and
//! hands the slots back. Transmit copies each frame into a 2 KiB coherent bounce slot
//! (no streaming mappings at all); the skb is still reported done only when the
//! device has sent it, so an instance that dies leaves its unsent frames to the
//! framework. Compare `ndriver_e1000_napi.rs`.

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
use driver_dev::DmaCoherent;
use e1000_hw::*;
use nic_driver::{Ctx, NicDriver, TxSkb, Xmit};

const RX_RING: usize = 64;
const TX_RING: usize = 32;

/// Both rings; one lock (`Ctx::tx`) covers the whole device state.
struct Rings {
    rx_ring: Ring,
    rx_bufs: DmaCoherent,
    rx_next: usize,
    tx_ring: Ring,
    tx_bufs: DmaCoherent,
    /// skb tokens of the transmit slots.
    tx_skb: [usize; TX_RING],
    tx_head: usize,
    tx_tail: usize,
    tx_full: bool,
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
}

type C<'a> = Ctx<'a, E1000Irq>;

impl E1000Irq {
    /// Programs station address, multicast table and `RCTL` from the placeholder.
    fn program(&self, c: &C<'_>, enable_rx: bool) {
        self.hw.write_mac(c.dev.mac());
        let f = c.dev.rx_filter();
        self.hw.write_multicast(&f);
        self.hw.write_rctl(&f, enable_rx);
    }

    /// Reports the transmits the device finished.
    fn reap_tx(c: &C<'_>, r: &mut Rings) {
        while r.tx_tail != r.tx_head {
            let i = r.tx_tail;
            if !tx_desc_done(&r.tx_ring, i) {
                break;
            }
            c.dev.tx_done(TxSkb::from_token(r.tx_skb[i]), true);
            desc_clear(&r.tx_ring, i);
            r.tx_tail = (i + 1) % TX_RING;
            if r.tx_full {
                r.tx_full = false;
                c.dev.wake_queue();
            }
        }
    }

    /// Everything the interrupt handler does, under the lock.
    fn service(&self, c: &C<'_>, s: &mut State) {
        let Some(r) = s.rings.as_mut() else {
            return;
        };
        Self::reap_tx(c, r);
        // Every received frame, to the backlog.
        loop {
            let i = r.rx_next;
            let Some((len, good)) = rx_desc(&r.rx_ring, i) else {
                break;
            };
            if good {
                let _ = c.dev.rx_from(&r.rx_bufs, i * RX_BUF, len, false);
            }
            r.rx_next = self.hw.rx_give_back(&r.rx_ring, i);
        }
    }

    /// Stops interrupts, receiver and transmitter, and gives the rings back;
    /// `report`: tell the framework the skbs still queued are dropped.
    fn shut(&self, c: &C<'_>, report: bool) {
        self.hw.mask();
        self.hw.disable_rx_tx();
        let _ = self.hw.mmio.read32(ICR);
        c.dev.register_rx_ring(None, 0, 0, 0, 0);
        // What the device sent is reported sent, not left to be sent again.
        let Some(mut r) = c.tx.lock().rings.take() else {
            return;
        };
        Self::reap_tx(c, &mut r);
        register_tx_ring(&c.dev, None, core::ptr::null(), 0);
        if report {
            let mut i = r.tx_tail;
            while i != r.tx_head {
                c.dev.tx_done(TxSkb::from_token(r.tx_skb[i]), false);
                i = (i + 1) % TX_RING;
            }
        }
    }
}

#[vtable]
impl NicDriver for E1000Irq {
    const PCI_IDS: &'static [abi::PciId] = e1000_hw::PCI_IDS;

    type Tx = State;
    type Rx = ();

    fn probe(c: &C<'_>) -> Result<Self> {
        let hw = Hw::probe(&c.dev)?;
        pr_info!("e1000-irq: probed, generation {}\n", c.dev.generation());
        Ok(Self { hw })
    }

    fn open(&self, c: &C<'_>) -> Result {
        let d = &c.dev;
        let rx_ring = d.dma_array::<Desc>(RX_RING)?;
        let rx_bufs = d.dma_alloc(RX_RING * RX_BUF)?;
        for i in 0..RX_RING {
            let addr = rx_bufs.dma() + (i * RX_BUF) as u64;
            rx_ring.write(i, Desc { addr, info: 0 })?;
        }
        let tx_ring = d.dma_array::<Desc>(TX_RING)?;
        let tx_bufs = d.dma_alloc(TX_RING * RX_BUF)?;
        self.hw.setup_rx(&rx_ring);
        self.hw.setup_tx(&tx_ring);
        register_rx_ring(d, &rx_ring);
        let mut g = c.tx.lock();
        let r = g.rings.insert(Rings {
            rx_ring,
            rx_bufs,
            rx_next: 0,
            tx_ring,
            tx_bufs,
            tx_skb: [0; TX_RING],
            tx_head: 0,
            tx_tail: 0,
            tx_full: false,
        });
        // The tokens stay where they are now: in this instance's state, until `shut`.
        register_tx_ring(d, Some(&r.tx_ring), r.tx_skb.as_ptr().cast(), 8);
        drop(g);
        self.hw.start_tx();
        self.program(c, true);
        self.hw.start_interrupts(d);
        Ok(())
    }

    fn stop(&self, c: &C<'_>) -> Result {
        self.shut(c, true);
        Ok(())
    }

    fn start_xmit(&self, c: &C<'_>, skb: TxSkb<'_>) -> Result<Xmit> {
        let mut g = c.tx.lock();
        let Some(r) = g.rings.as_mut() else {
            c.dev.stop_queue();
            return Ok(Xmit::Busy);
        };
        let next = (r.tx_head + 1) % TX_RING;
        if next == r.tx_tail {
            r.tx_full = true;
            c.dev.stop_queue();
            return Ok(Xmit::Busy);
        }
        let i = r.tx_head;
        let len = skb.len().min(RX_BUF);
        if !r.tx_bufs.copy_in(i * RX_BUF, &skb.bytes()[..len]) {
            return Err(EINVAL);
        }
        r.tx_skb[i] = skb.token();
        tx_desc_set(&r.tx_ring, i, r.tx_bufs.dma() + (i * RX_BUF) as u64, len)?;
        r.tx_head = next;
        self.hw.mmio.write32(next as u32, TDT);
        if (next + 1) % TX_RING == r.tx_tail {
            r.tx_full = true;
            c.dev.stop_queue();
        }
        Ok(Xmit::Queued)
    }

    fn set_rx_mode(&self, c: &C<'_>) -> Result {
        let up = c.tx.lock().rings.is_some();
        self.program(c, up);
        Ok(())
    }

    fn set_mac_address(&self, c: &C<'_>, _mac: [u8; 6]) -> Result {
        // The placeholder already holds the new address; program everything from it.
        let up = c.tx.lock().rings.is_some();
        self.program(c, up);
        Ok(())
    }

    fn change_mtu(&self, _c: &C<'_>, mtu: u32) -> Result {
        check_mtu(mtu)
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
        self.service(c, &mut s);
        Ok(true)
    }

    fn remove(&self, c: &C<'_>) {
        self.shut(c, false);
        self.hw.reset();
    }
}

nic_driver::nic_implementation! {
    type: E1000Irq,
    name: c"e1000-irq",
    module: "ndriver_e1000_irq",
    description: "Guarded e1000 driver: interrupt-driven, small rings, copying transmit",
}
