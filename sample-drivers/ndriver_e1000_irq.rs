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
#[path = "fault_sites.rs"]
mod fault_sites;
#[path = "../wrappers/nic_driver.rs"]
mod nic_driver;

use abi::{NicEntry as E, NicHwStats};
use driver_dev::{DmaCoherent, IrqLine, Mmio, PciEnabled};
use e1000_hw::*;
use nic_driver::{Ctx, NicDriver, TxSkb, Xmit};

const RX_RING: usize = 64;
const TX_RING: usize = 32;
/// Interrupt causes this driver enables.
const IMS_BITS: u32 = ICR_RXT0 | ICR_TXDW | ICR_LSC | ICR_RXO | ICR_RXDMT0;

/// Both rings; one lock (`Ctx::tx`) covers the whole device state.
struct Rings {
    rx_ring: DmaCoherent,
    rx_bufs: DmaCoherent,
    rx_next: usize,
    tx_ring: DmaCoherent,
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
    _irq: IrqLine,
    mmio: Mmio,
    _enabled: PciEnabled,
}

type C<'a> = Ctx<'a, E1000Irq>;

impl E1000Irq {
    fn program(&self, c: &C<'_>, enable_rx: bool) {
        let m = &self.mmio;
        let mac = c.dev.mac();
        m.write32(RAL0, u32::from_le_bytes([mac[0], mac[1], mac[2], mac[3]]));
        m.write32(RAH0, u32::from(mac[4]) | (u32::from(mac[5]) << 8) | RAH_AV);
        let f = c.dev.rx_filter();
        for i in 0..128 {
            m.write32(MTA + 4 * i, 0);
        }
        for &a in &f.mc[..f.count] {
            let h = mta_hash(a);
            let reg = MTA + 4 * (h >> 5) as usize;
            m.write32(reg, m.read32(reg) | (1 << (h & 31)));
        }
        let mut rctl = RCTL_BAM | RCTL_SECRC;
        if enable_rx {
            rctl |= RCTL_EN;
        }
        if f.promisc {
            rctl |= RCTL_UPE | RCTL_MPE;
        }
        if f.allmulti {
            rctl |= RCTL_MPE;
        }
        m.write32(RCTL, rctl);
    }

    /// Everything the interrupt handler does, under the lock.
    fn service(&self, c: &C<'_>, s: &mut State) {
        let Some(r) = s.rings.as_mut() else {
            return;
        };
        // Transmit completions.
        while r.tx_tail != r.tx_head {
            let i = r.tx_tail;
            if r.tx_ring.read64(i * DESC_SIZE + 8) & TXD_STATUS_DD == 0 {
                break;
            }
            c.dev.tx_done(TxSkb::from_token(r.tx_skb[i]), true);
            r.tx_ring.write64(i * DESC_SIZE + 8, 0);
            r.tx_tail = (i + 1) % TX_RING;
            if r.tx_full {
                r.tx_full = false;
                c.dev.wake_queue();
            }
        }
        // Every received frame, to the backlog.
        loop {
            let i = r.rx_next;
            let st = r.rx_ring.read64(i * DESC_SIZE + 8);
            if st & RXD_STATUS_DD == 0 {
                break;
            }
            let len = ((st & 0xffff) as usize).min(RX_BUF);
            if st & RXD_ERRORS_MASK == 0 && st & RXD_STATUS_EOP != 0 {
                if let Some(f) = r.rx_bufs.bytes(i * RX_BUF, len) {
                    let _ = c.dev.rx(f, false);
                }
            }
            r.rx_ring.write64(i * DESC_SIZE + 8, 0);
            r.rx_next = (i + 1) % RX_RING;
            self.mmio.write32(RDT, i as u32);
        }
    }

    fn shut(&self, c: &C<'_>, report: bool) {
        self.mmio.write32(IMC, u32::MAX);
        self.mmio.write32(RCTL, 0);
        self.mmio.write32(TCTL, 0);
        let _ = self.mmio.read32(ICR);
        c.dev.register_rx_ring(None, 0, 0, 0, 0);
        let Some(r) = c.tx.lock().rings.take() else {
            return;
        };
        if report {
            let mut i = r.tx_tail;
            while i != r.tx_head {
                c.dev.tx_done(TxSkb::from_token(r.tx_skb[i]), false);
                i = (i + 1) % TX_RING;
            }
        }
    }
}

impl NicDriver for E1000Irq {
    type Tx = State;
    type Rx = ();

    fn probe(c: &C<'_>) -> Result<Self> {
        fault_sites::raise(c.dev.fault_point(E::Probe), c.lock)?;
        // Bus mastering stays off until the device is silenced: a dead instance may
        // have left the receiver running on rings that are freed now.
        let enabled = c.dev.pci_enable_quiet()?;
        let mmio = c.dev.iomap(0)?;
        mmio.write32(IMC, u32::MAX);
        mmio.write32(RCTL, 0);
        mmio.write32(TCTL, 0);
        mmio.write32(RDLEN, 0);
        mmio.write32(TDLEN, 0);
        mmio.write32(CTRL, mmio.read32(CTRL) | CTRL_RST);
        for _ in 0..100_000 {
            if mmio.read32(CTRL) & CTRL_RST == 0 {
                break;
            }
        }
        if mmio.read32(CTRL) & CTRL_RST != 0 {
            return Err(ETIMEDOUT);
        }
        mmio.write32(IMC, u32::MAX);
        let _ = mmio.read32(ICR);
        mmio.write32(CTRL, mmio.read32(CTRL) | CTRL_SLU | CTRL_ASDE);
        enabled.set_master();
        let irq = c.dev.request_irq()?;
        pr_info!("e1000-irq: probed, generation {}\n", c.dev.generation());
        Ok(Self {
            _irq: irq,
            mmio,
            _enabled: enabled,
        })
    }

    fn open(&self, c: &C<'_>) -> Result {
        fault_sites::raise(c.dev.fault_point(E::Open), c.lock)?;
        let d = &c.dev;
        let rx_ring = d.dma_alloc(RX_RING * DESC_SIZE)?;
        let rx_bufs = d.dma_alloc(RX_RING * RX_BUF)?;
        for i in 0..RX_RING {
            rx_ring.write64(i * DESC_SIZE, rx_bufs.dma() + (i * RX_BUF) as u64);
        }
        let tx_ring = d.dma_alloc(TX_RING * DESC_SIZE)?;
        let tx_bufs = d.dma_alloc(TX_RING * RX_BUF)?;
        let m = &self.mmio;
        m.write32(RDBAL, rx_ring.dma() as u32);
        m.write32(RDBAH, (rx_ring.dma() >> 32) as u32);
        m.write32(RDLEN, (RX_RING * DESC_SIZE) as u32);
        m.write32(RDH, 0);
        m.write32(RDT, (RX_RING - 1) as u32);
        m.write32(RDTR, 0);
        m.write32(TDBAL, tx_ring.dma() as u32);
        m.write32(TDBAH, (tx_ring.dma() >> 32) as u32);
        m.write32(TDLEN, (TX_RING * DESC_SIZE) as u32);
        m.write32(TDH, 0);
        m.write32(TDT, 0);
        m.write32(TIPG, TIPG_DEFAULT);
        d.register_rx_ring(
            Some(&rx_ring),
            RX_RING as u32,
            DESC_SIZE as u32,
            RXD_STATUS_OFF,
            RXD_DD_BIT,
        );
        c.tx.lock().rings = Some(Rings {
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
        m.write32(TCTL, TCTL_EN | TCTL_PSP | TCTL_CT | TCTL_COLD);
        self.program(c, true);
        let _ = m.read32(ICR);
        m.write32(IMS, IMS_BITS);
        d.carrier(m.read32(STATUS) & STATUS_LU != 0);
        Ok(())
    }

    fn stop(&self, c: &C<'_>) -> Result {
        fault_sites::raise(c.dev.fault_point(E::Stop), c.lock)?;
        self.shut(c, true);
        Ok(())
    }

    fn start_xmit(&self, c: &C<'_>, skb: TxSkb) -> Result<Xmit> {
        fault_sites::raise(c.dev.fault_point(E::StartXmit), c.lock)?;
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
        r.tx_ring
            .write64(i * DESC_SIZE, r.tx_bufs.dma() + (i * RX_BUF) as u64);
        r.tx_ring.write64(
            i * DESC_SIZE + 8,
            len as u64 | TXD_CMD_EOP | TXD_CMD_IFCS | TXD_CMD_RS,
        );
        r.tx_head = next;
        self.mmio.write32(TDT, next as u32);
        if (next + 1) % TX_RING == r.tx_tail {
            r.tx_full = true;
            c.dev.stop_queue();
        }
        Ok(Xmit::Queued)
    }

    fn set_rx_mode(&self, c: &C<'_>) -> Result {
        fault_sites::raise(c.dev.fault_point(E::SetRxMode), c.lock)?;
        let up = c.tx.lock().rings.is_some();
        self.program(c, up);
        Ok(())
    }

    fn set_mac_address(&self, c: &C<'_>, _mac: [u8; 6]) -> Result {
        fault_sites::raise(c.dev.fault_point(E::SetMacAddress), c.lock)?;
        // The placeholder already holds the new address; program everything from it.
        let up = c.tx.lock().rings.is_some();
        self.program(c, up);
        Ok(())
    }

    fn change_mtu(&self, c: &C<'_>, mtu: u32) -> Result {
        fault_sites::raise(c.dev.fault_point(E::ChangeMtu), c.lock)?;
        if mtu > MAX_MTU {
            return Err(EINVAL);
        }
        Ok(())
    }

    fn tx_timeout(&self, c: &C<'_>) -> Result {
        fault_sites::raise(c.dev.fault_point(E::TxTimeout), c.lock)?;
        pr_warn!("e1000-irq: transmit timeout\n");
        Ok(())
    }

    fn get_stats(&self, c: &C<'_>, stats: &mut NicHwStats) -> Result {
        fault_sites::raise(c.dev.fault_point(E::GetStats64), c.lock)?;
        let mut s = c.tx.lock();
        let missed = u64::from(self.mmio.read32(MPC));
        let crc = u64::from(self.mmio.read32(CRCERRS));
        s.missed += missed;
        s.crc += crc;
        stats.rx_missed += missed;
        stats.rx_errors += crc;
        Ok(())
    }

    fn poll(&self, c: &C<'_>, _budget: i32) -> Result<i32> {
        // This design never schedules NAPI; a poll finds nothing to do.
        fault_sites::raise(c.dev.fault_point(E::Poll), c.lock)?;
        Ok(0)
    }

    fn interrupt(&self, c: &C<'_>) -> Result<bool> {
        fault_sites::raise(c.dev.fault_point(E::DevIrq), c.lock)?;
        let icr = self.mmio.read32(ICR);
        if icr == 0 {
            return Ok(false);
        }
        if icr & ICR_LSC != 0 {
            c.dev.carrier(self.mmio.read32(STATUS) & STATUS_LU != 0);
        }
        let mut s = c.tx.lock();
        self.service(c, &mut s);
        Ok(true)
    }

    fn timer(&self, c: &C<'_>, _cookie: u64) -> Result {
        fault_sites::raise(c.dev.fault_point(E::Timer), c.lock)
    }

    fn work(&self, c: &C<'_>, _cookie: u64) -> Result {
        fault_sites::raise(c.dev.fault_point(E::Work), c.lock)
    }

    fn remove(&self, c: &C<'_>) {
        let _ = fault_sites::raise(c.dev.fault_point(E::Remove), c.lock);
        self.shut(c, false);
        self.mmio.write32(CTRL, self.mmio.read32(CTRL) | CTRL_RST);
    }
}

nic_driver::nic_implementation! {
    type: E1000Irq,
    name: c"e1000-irq",
    module: "ndriver_e1000_irq",
    description: "Guarded e1000 driver: interrupt-driven, small rings, copying transmit",
}
