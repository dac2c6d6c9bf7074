// SPDX-License-Identifier: GPL-2.0

//! `e1000-napi`: a guarded driver for QEMU's e1000 (Intel 82540EM), NAPI design.
//!
//! Large rings (256 receive and 256 transmit descriptors). The interrupt handler only
//! acknowledges, masks the device and schedules NAPI; the poll reaps transmit
//! completions first, then receives up to its budget and re-enables interrupts when
//! it finishes early. Transmit is zero-copy: each skb's data is mapped for streaming
//! DMA (through the callouts, so a dead instance's mappings are undone) and unmapped
//! when its descriptor is done. Receive buffers are 2 KiB slots in four coherent
//! chunks; frames are copied out into fresh skbs by the framework and delivered
//! through GRO. Compare `ndriver_e1000_irq.rs`, the interrupt-driven alternative.

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
use driver_dev::{DmaCoherent, IrqLine, Memory, Mmio, PciEnabled};
use e1000_hw::*;
use nic_driver::{Ctx, NicDriver, TxSkb, Xmit};

/// Ring sizes.
const RX_RING: usize = 256;
const TX_RING: usize = 256;
/// Receive buffers per coherent chunk, and chunks.
const RX_CHUNK: usize = 64;
const RX_CHUNKS: usize = RX_RING / RX_CHUNK;
/// Interrupt causes this driver enables.
const IMS_BITS: u32 = ICR_RXT0 | ICR_TXDW | ICR_LSC | ICR_RXO | ICR_RXDMT0;
/// Words per transmit slot in `TxRing::slots`: skb token, DMA address.
const SLOT_WORDS: usize = 2;

struct TxRing {
    ring: DmaCoherent,
    slots: Memory,
    /// Descriptors queued and reaped so far (indices are these modulo `TX_RING`).
    queued: usize,
    reaped: usize,
    stopped: bool,
}

#[derive(Default)]
struct Tx {
    r: Option<TxRing>,
}

struct RxRing {
    ring: DmaCoherent,
    bufs: [Option<DmaCoherent>; RX_CHUNKS],
    next: usize,
}

#[derive(Default)]
struct Rx {
    r: Option<RxRing>,
}

/// The instance: the device's registers, interrupt line and enable, dropped in this
/// order on an orderly remove.
struct E1000Napi {
    _irq: IrqLine,
    mmio: Mmio,
    _enabled: PciEnabled,
}

type C<'a> = Ctx<'a, E1000Napi>;

impl E1000Napi {
    /// Masks and acknowledges every interrupt cause.
    fn quiet(&self) {
        self.mmio.write32(IMC, u32::MAX);
        let _ = self.mmio.read32(ICR);
    }

    /// Programs the station address into receive address 0.
    fn program_mac(&self, mac: [u8; 6]) {
        let lo = u32::from_le_bytes([mac[0], mac[1], mac[2], mac[3]]);
        let hi = u32::from(mac[4]) | (u32::from(mac[5]) << 8) | RAH_AV;
        self.mmio.write32(RAL0, lo);
        self.mmio.write32(RAH0, hi);
    }

    /// Programs the receive filter; `enable`: the receiver runs.
    fn program_filter(&self, c: &C<'_>, enable: bool) {
        let f = c.dev.rx_filter();
        let mut mta = [0u32; 128];
        for &a in &f.mc[..f.count] {
            let h = mta_hash(a);
            mta[(h >> 5) as usize] |= 1 << (h & 31);
        }
        for (i, w) in mta.iter().enumerate() {
            self.mmio.write32(MTA + 4 * i, *w);
        }
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
        self.mmio.write32(RCTL, rctl);
    }

    /// Reaps finished transmit descriptors: unmaps and reports their skbs.
    fn reap_tx(&self, c: &C<'_>) {
        let mut g = c.tx.lock();
        let Some(t) = g.r.as_mut() else {
            return;
        };
        while t.reaped != t.queued {
            let i = t.reaped % TX_RING;
            if t.ring.read64(i * DESC_SIZE + 8) & TXD_STATUS_DD == 0 {
                break;
            }
            let token = t.slots.get64(i * SLOT_WORDS) as usize;
            c.dev.dma_unmap(t.slots.get64(i * SLOT_WORDS + 1));
            c.dev.tx_done(TxSkb::from_token(token), true);
            t.ring.write64(i * DESC_SIZE + 8, 0);
            t.reaped += 1;
        }
        if t.stopped && t.queued - t.reaped < TX_RING / 2 {
            t.stopped = false;
            c.dev.wake_queue();
        }
    }

    /// Drops the transmit ring; `report`: tell the framework the skbs still queued
    /// are dropped (interface down), else leave them to it (they are sent again by
    /// the next instance).
    fn drop_tx(&self, c: &C<'_>, report: bool) {
        let Some(t) = c.tx.lock().r.take() else {
            return;
        };
        for n in t.reaped..t.queued {
            let i = n % TX_RING;
            c.dev.dma_unmap(t.slots.get64(i * SLOT_WORDS + 1));
            if report {
                let token = t.slots.get64(i * SLOT_WORDS) as usize;
                c.dev.tx_done(TxSkb::from_token(token), false);
            }
        }
    }

    /// Stops receiver, transmitter and interrupts, and gives the rings back.
    fn shut(&self, c: &C<'_>, report: bool) {
        self.quiet();
        self.mmio.write32(RCTL, 0);
        self.mmio.write32(TCTL, 0);
        c.dev.register_rx_ring(None, 0, 0, 0, 0);
        self.drop_tx(c, report);
        // Freed after the lock is dropped: coherent DMA memory is not freed with
        // interrupts off.
        let rx = c.rx.lock().r.take();
        drop(rx);
    }
}

impl NicDriver for E1000Napi {
    type Tx = Tx;
    type Rx = Rx;

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
        let mut n = 0;
        while mmio.read32(CTRL) & CTRL_RST != 0 {
            n += 1;
            if n > 100_000 {
                return Err(ETIMEDOUT);
            }
        }
        mmio.write32(IMC, u32::MAX);
        let _ = mmio.read32(ICR);
        mmio.write32(CTRL, mmio.read32(CTRL) | CTRL_SLU | CTRL_ASDE);
        enabled.set_master();
        let irq = c.dev.request_irq()?;
        Ok(Self {
            _irq: irq,
            mmio,
            _enabled: enabled,
        })
    }

    fn open(&self, c: &C<'_>) -> Result {
        fault_sites::raise(c.dev.fault_point(E::Open), c.lock)?;
        let d = &c.dev;
        // Receive ring: every descriptor owns a 2 KiB slot of a chunk.
        let ring = d.dma_alloc(RX_RING * DESC_SIZE)?;
        let mut bufs: [Option<DmaCoherent>; RX_CHUNKS] = [const { None }; RX_CHUNKS];
        for b in bufs.iter_mut() {
            *b = Some(d.dma_alloc(RX_CHUNK * RX_BUF)?);
        }
        for i in 0..RX_RING {
            let chunk = bufs[i / RX_CHUNK].as_ref().ok_or(ENOMEM)?;
            ring.write64(
                i * DESC_SIZE,
                chunk.dma() + ((i % RX_CHUNK) * RX_BUF) as u64,
            );
            ring.write64(i * DESC_SIZE + 8, 0);
        }
        let m = &self.mmio;
        m.write32(RDBAL, ring.dma() as u32);
        m.write32(RDBAH, (ring.dma() >> 32) as u32);
        m.write32(RDLEN, (RX_RING * DESC_SIZE) as u32);
        m.write32(RDH, 0);
        m.write32(RDT, (RX_RING - 1) as u32);
        m.write32(RDTR, 0);
        m.write32(ITR, 0);
        d.register_rx_ring(
            Some(&ring),
            RX_RING as u32,
            DESC_SIZE as u32,
            RXD_STATUS_OFF,
            RXD_DD_BIT,
        );
        // Transmit ring.
        let tring = d.dma_alloc(TX_RING * DESC_SIZE)?;
        let slots = d.alloc(TX_RING * SLOT_WORDS * 8)?;
        m.write32(TDBAL, tring.dma() as u32);
        m.write32(TDBAH, (tring.dma() >> 32) as u32);
        m.write32(TDLEN, (TX_RING * DESC_SIZE) as u32);
        m.write32(TDH, 0);
        m.write32(TDT, 0);
        m.write32(TIPG, TIPG_DEFAULT);
        *c.rx.lock() = Rx {
            r: Some(RxRing {
                ring,
                bufs,
                next: 0,
            }),
        };
        *c.tx.lock() = Tx {
            r: Some(TxRing {
                ring: tring,
                slots,
                queued: 0,
                reaped: 0,
                stopped: false,
            }),
        };
        self.program_mac(d.mac());
        m.write32(TCTL, TCTL_EN | TCTL_PSP | TCTL_CT | TCTL_COLD);
        self.program_filter(c, true);
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
        let Some(t) = g.r.as_mut() else {
            c.dev.stop_queue();
            return Ok(Xmit::Busy);
        };
        if t.queued - t.reaped >= TX_RING - 1 {
            t.stopped = true;
            c.dev.stop_queue();
            return Ok(Xmit::Busy);
        }
        let dma = c.dev.dma_map_raw(skb.data(), skb.len())?.into_raw();
        let i = t.queued % TX_RING;
        t.slots.set64(i * SLOT_WORDS, skb.token() as u64);
        t.slots.set64(i * SLOT_WORDS + 1, dma);
        t.ring.write64(i * DESC_SIZE, dma);
        t.ring.write64(
            i * DESC_SIZE + 8,
            skb.len() as u64 | TXD_CMD_EOP | TXD_CMD_IFCS | TXD_CMD_RS,
        );
        t.queued += 1;
        self.mmio.write32(TDT, (t.queued % TX_RING) as u32);
        if t.queued - t.reaped >= TX_RING - 1 {
            t.stopped = true;
            c.dev.stop_queue();
        }
        Ok(Xmit::Queued)
    }

    fn set_rx_mode(&self, c: &C<'_>) -> Result {
        fault_sites::raise(c.dev.fault_point(E::SetRxMode), c.lock)?;
        let running = c.rx.lock().r.is_some();
        self.program_filter(c, running);
        Ok(())
    }

    fn set_mac_address(&self, c: &C<'_>, mac: [u8; 6]) -> Result {
        fault_sites::raise(c.dev.fault_point(E::SetMacAddress), c.lock)?;
        self.program_mac(mac);
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
        pr_warn!(
            "e1000-napi: transmit timeout, TDH {} TDT {}\n",
            self.mmio.read32(TDH),
            self.mmio.read32(TDT)
        );
        Ok(())
    }

    fn get_stats(&self, c: &C<'_>, stats: &mut NicHwStats) -> Result {
        fault_sites::raise(c.dev.fault_point(E::GetStats64), c.lock)?;
        stats.rx_missed += u64::from(self.mmio.read32(MPC));
        stats.rx_errors += u64::from(self.mmio.read32(CRCERRS));
        stats.tx_errors += u64::from(self.mmio.read32(COLC));
        Ok(())
    }

    fn poll(&self, c: &C<'_>, budget: i32) -> Result<i32> {
        fault_sites::raise(c.dev.fault_point(E::Poll), c.lock)?;
        self.reap_tx(c);
        let mut done = 0;
        while done < budget {
            // Find the next filled slot under the lock; deliver without it (the
            // stack may transmit from inside the delivery). The slot's memory lives
            // until `stop`, which the framework never runs during a poll (NAPI is
            // disabled first, or the instance is quiesced).
            let (frame, good) = {
                let g = c.rx.lock();
                let Some(r) = g.r.as_ref() else {
                    break;
                };
                let i = r.next;
                let st = r.ring.read64(i * DESC_SIZE + 8);
                if st & RXD_STATUS_DD == 0 {
                    break;
                }
                let len = ((st & 0xffff) as usize).min(RX_BUF);
                let good = st & RXD_ERRORS_MASK == 0 && st & RXD_STATUS_EOP != 0;
                let chunk = r.bufs[i / RX_CHUNK].as_ref().ok_or(EIO)?;
                let frame = chunk.bytes((i % RX_CHUNK) * RX_BUF, len).ok_or(EIO)?;
                (frame.as_ptr(), (good, len))
            };
            if good.0 {
                // SAFETY: see above: the slot stays allocated, and the device does
                // not write it before it is handed back below.
                let f = unsafe { core::slice::from_raw_parts(frame, good.1) };
                let _ = c.dev.rx(f, true);
            }
            let mut g = c.rx.lock();
            if let Some(r) = g.r.as_mut() {
                let i = r.next;
                r.ring.write64(i * DESC_SIZE + 8, 0);
                r.next = (i + 1) % RX_RING;
                self.mmio.write32(RDT, i as u32);
            }
            done += 1;
        }
        if done < budget && c.dev.napi_complete(done) {
            self.mmio.write32(IMS, IMS_BITS);
        }
        Ok(done)
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
        // Masked until the poll has caught up.
        self.mmio.write32(IMC, u32::MAX);
        c.dev.napi_schedule();
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
        // Queued skbs stay with the framework, which sends them on the next instance.
        self.shut(c, false);
        self.mmio.write32(CTRL, self.mmio.read32(CTRL) | CTRL_RST);
    }
}

nic_driver::nic_implementation! {
    type: E1000Napi,
    name: c"e1000-napi",
    module: "ndriver_e1000_napi",
    description: "Guarded e1000 driver: NAPI, 256-descriptor rings, zero-copy transmit",
}
