// SPDX-License-Identifier: GPL-2.0

//! The hardware half of the sample `testdev` drivers, used when a PCI function is
//! attached to the device (`pci` in debugfs). It expects QEMU's e1000 (82540EM) and
//! uses it only as a source of real interrupts and DMA: writing a cause bit to ICS
//! makes the device assert its interrupt when the cause is enabled in IMS, and reading
//! ICR acknowledges it. So every resource kind of the device and deferred-work
//! callouts is taken, used and given back for real:
//!
//! `op` raises a device interrupt and arms the timer; the interrupt reaches `devirq`;
//! the timer's `timer` entry queues the work item; `work` writes the coherent DMA
//! buffer. Faults injected at these entry points are raised by the class glue before
//! the driver runs (`wrappers/entry_faults.rs`).

use crate::abi::PciId;
use crate::testdev_driver::{
    Bar, Dev, DmaCoherent, DmaMapping, IrqLine, Memory, PciEnabled, Timer, WorkItem,
};
use core::sync::atomic::{AtomicU64, Ordering};
use kernel::io::register::{RegisterBase, WithBase};
use kernel::io::{register, Io};
use kernel::prelude::*;

/// The function both testdev implementations drive when given one: QEMU's e1000
/// (82540EM, `8086:100e`).
pub(crate) const PCI_IDS: &[PciId] = &[PciId::new(0x8086, 0x100e)];

/// What the driver uses of the register BAR (BAR 0): up to `IMC`.
const BAR_SIZE: usize = 0x100;

register! {
    /// Device status (82540EM manual, section 13).
    STATUS(u32) @ 0x08 {
        31:0 bits => u32;
    }

    /// The interrupt cause registers, one layout at four places: a cause read from
    /// [`Icr`] is pending (reading acknowledges it), written to [`Ics`] raises it, to
    /// [`Ims`] enables it, to [`Imc`] masks it.
    CAUSES(u32) @ CauseRegs + 0x0 {
        /// Every cause.
        31:0 bits => u32;
        /// Link status change: the cause used, which nothing else raises while no network
        /// driver runs the device.
        2:2 lsc => bool;
    }
}

/// The family of bases of [`CAUSES`].
struct CauseRegs;
/// Interrupt cause read.
struct Icr;
/// Interrupt cause set.
struct Ics;
/// Interrupt mask set.
struct Ims;
/// Interrupt mask clear.
struct Imc;
impl RegisterBase<CauseRegs> for Icr {
    const BASE: usize = 0xc0;
}
impl RegisterBase<CauseRegs> for Ics {
    const BASE: usize = 0xc8;
}
impl RegisterBase<CauseRegs> for Ims {
    const BASE: usize = 0xd0;
}
impl RegisterBase<CauseRegs> for Imc {
    const BASE: usize = 0xd8;
}

impl CAUSES {
    /// Every cause.
    fn all() -> Self {
        Self::zeroed().with_bits(u32::MAX)
    }

    /// The cause the driver uses.
    fn link_change() -> Self {
        Self::zeroed().with_lsc(true)
    }
}

/// When `op` arms the timer.
const TIMER_DELAY_NS: u64 = 200_000;
/// Size of each DMA buffer.
const BUF_SIZE: usize = 4096;

/// What `work` records at the start of the coherent buffer, where a device could read
/// it.
#[repr(C)]
#[derive(Clone, Copy, FromBytes, IntoBytes)]
struct WorkRecord {
    /// Work runs so far (truncated).
    works: u32,
    /// Interrupts so far (truncated).
    interrupts: u32,
    /// The streaming buffer's bus address (its low half).
    mapping: u32,
}

// Three 32-bit words, the first three of the buffer.
const _: () = {
    assert!(core::mem::size_of::<WorkRecord>() == 12 && core::mem::align_of::<WorkRecord>() == 4);
    assert!(core::mem::offset_of!(WorkRecord, interrupts) == 4);
    assert!(core::mem::offset_of!(WorkRecord, mapping) == 8);
    assert!(core::mem::size_of::<WorkRecord>() <= BUF_SIZE);
};

/// The device's resources, in the order they are given back on an orderly remove
/// (fields drop top to bottom): events first, then DMA, then the function itself.
pub(crate) struct Hw {
    work: WorkItem,
    timer: Timer,
    _irq: IrqLine,
    mapping: DmaMapping,
    _buffer: Memory,
    coherent: DmaCoherent,
    mmio: Bar<BAR_SIZE>,
    _enabled: PciEnabled,
    interrupts: AtomicU64,
    works: AtomicU64,
}

impl Hw {
    /// Takes the device if one is attached.
    pub(crate) fn probe(dev: &Dev) -> Result<Option<Self>> {
        if !dev.pci_present() {
            return Ok(None);
        }
        let enabled = dev.pci_enable()?;
        let mmio = dev.iomap::<BAR_SIZE>(0)?;
        // Everything masked and acknowledged before the handler is installed.
        mmio.write(CAUSES::of::<Imc>(), CAUSES::all());
        let _ = mmio.read(CAUSES::of::<Icr>());
        let coherent = dev.dma_alloc(BUF_SIZE)?;
        let buffer = dev.alloc(BUF_SIZE)?;
        let mapping = dev.dma_map(&buffer, true)?;
        let irq = dev.request_irq()?;
        let timer = dev.timer(1)?;
        let work = dev.work(1)?;
        mmio.write(CAUSES::of::<Ims>(), CAUSES::link_change());
        pr_info!(
            "testdev hw: e1000 status {:#x}, coherent buffer at {:#x}, streaming at {:#x}\n",
            mmio.read(STATUS).bits(),
            coherent.dma(),
            mapping.dma()
        );
        Ok(Some(Self {
            work,
            timer,
            _irq: irq,
            mapping,
            _buffer: buffer,
            coherent,
            mmio,
            _enabled: enabled,
            interrupts: AtomicU64::new(0),
            works: AtomicU64::new(0),
        }))
    }

    /// A request arrived: make the device interrupt and start the timer.
    pub(crate) fn kick(&self) {
        self.mmio.write(CAUSES::of::<Ics>(), CAUSES::link_change());
        self.timer.arm(TIMER_DELAY_NS);
    }

    /// The interrupt handler: `true` if the device interrupted.
    pub(crate) fn interrupt(&self) -> bool {
        if self.mmio.read(CAUSES::of::<Icr>()).bits() == 0 {
            return false;
        }
        self.interrupts.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// The timer expired: defer to process context.
    pub(crate) fn timer_expired(&self) {
        self.work.queue();
    }

    /// The work item runs: record the counts where the device could read them.
    pub(crate) fn work_ran(&self) -> Result {
        let n = self.works.fetch_add(1, Ordering::Relaxed) + 1;
        let rec = self.coherent.view::<WorkRecord>(0)?;
        rec.write_field(|r| &r.works, n as u32)?;
        rec.write_field(
            |r| &r.interrupts,
            self.interrupts.load(Ordering::Relaxed) as u32,
        )?;
        // The streaming buffer's bus address, where a device would find it.
        rec.write_field(|r| &r.mapping, self.mapping.dma() as u32)?;
        if rec.read_field(|r| &r.works)? != n as u32 {
            pr_warn!("testdev hw: coherent buffer lost a write\n");
        }
        Ok(())
    }

    /// Stops the device's interrupts before the resources go.
    pub(crate) fn quiet(&self) {
        self.mmio.write(CAUSES::of::<Imc>(), CAUSES::all());
        let _ = self.mmio.read(CAUSES::of::<Icr>());
    }

    /// Interrupts and work runs seen by this instance.
    pub(crate) fn counts(&self) -> (u64, u64) {
        (
            self.interrupts.load(Ordering::Relaxed),
            self.works.load(Ordering::Relaxed),
        )
    }
}

/// Stops `hw`'s interrupts and logs what this instance saw (orderly remove).
pub(crate) fn on_remove(hw: Option<&Hw>, name: &str) {
    if let Some(hw) = hw {
        hw.quiet();
        let (irqs, works) = hw.counts();
        pr_info!(
            "{}: device saw {} interrupts, {} work runs\n",
            name,
            irqs,
            works
        );
    }
}
