// SPDX-License-Identifier: GPL-2.0

//! The hardware half of `vblk-a`: a virtio block device (legacy interface, see
//! `virtio_legacy.rs`) driven through one split virtqueue with up to
//! [`BLK_QUEUE_DEPTH`] requests in flight and interrupt completion.
//!
//! Each blk-mq tag owns a fixed descriptor chain (`3 * tag`: header, data, status), a
//! 32-byte slot in the header buffer (16-byte request header, status byte at 16) and a
//! bounce buffer of [`BLK_MAX_BYTES`] (eight to a coherent allocation). Submitting a
//! request is filling its chain and publishing the chain's head in the available ring;
//! the interrupt handler walks the used ring and reports each finished tag to the
//! framework, whose `complete` call then copies read data out of the bounce buffer.
//! Bounce buffers keep the device's DMA inside memory the instance owns: after a fault
//! the undo list resets the device and then frees them, and no request page can ever
//! be written by a dead instance's device programming.

use crate::abi_blk::{BLK_MAX_BYTES, BLK_QUEUE_DEPTH};
use crate::blk_driver::{BlkDev, DmaBuf, Done, Io, IrqLine, Op, PciEnabled, Request, ResetOnUndo};
use crate::driver_lock::DriverLock;
use crate::virtio_legacy::{self as vl, Layout};
use core::sync::atomic::{fence, AtomicU16, AtomicU64, Ordering};
use kernel::prelude::*;

const DEPTH: usize = BLK_QUEUE_DEPTH as usize;
/// Bytes per tag in the header buffer.
const HDR_SLOT: usize = 32;
/// Offset of the status byte in a header slot.
const STATUS_OFF: usize = 16;
/// A status byte the device has not written yet.
const STATUS_PENDING: u8 = 0xff;
/// Bounce buffers per coherent allocation (fewer, larger allocations keep `probe`
/// short).
const BUFS_PER_CHUNK: usize = 8;
const CHUNKS: usize = DEPTH / BUFS_PER_CHUNK;
const BUF_SIZE: usize = BLK_MAX_BYTES as usize;

/// The device and its queue. Fields drop top to bottom on an orderly remove: the
/// interrupt first, then the reset record (remove has reset the device), the buffers,
/// the mapping, the function.
pub(crate) struct Hw {
    _irq: IrqLine,
    _reset: ResetOnUndo,
    bufs: [Option<DmaBuf>; CHUNKS],
    hdrs: DmaBuf,
    ring: DmaBuf,
    io: Io,
    _enabled: PciEnabled,
    layout: Layout,
    /// The device takes flushes (it has a write cache).
    flush: bool,
    /// Next free available-ring index (under the instance lock).
    avail_idx: AtomicU16,
    /// Next used-ring index to look at (under the instance lock).
    last_used: AtomicU16,
    /// Requests completed, for the log.
    pub(crate) completed: AtomicU64,
}

impl Hw {
    /// Takes the device, resets it, sets up the queue and the interrupt; returns the
    /// device and its capacity in sectors.
    pub(crate) fn probe(dev: &BlkDev) -> Result<(Self, u64)> {
        if !dev.pci_present() {
            return Err(ENODEV);
        }
        let enabled = dev.pci_enable()?;
        let io = dev.iomap(0)?;
        let st = vl::start(&io, vl::F_BLK_FLUSH)?;
        let layout = Layout::new(st.queue_num);
        if (st.queue_num as usize) < 3 * DEPTH {
            pr_err!("vblk-a: queue of {} entries is too small\n", st.queue_num);
            return Err(ENODEV);
        }
        let ring = dev.dma_alloc(layout.size)?;
        let hdrs = dev.dma_alloc(DEPTH * HDR_SLOT)?;
        let mut bufs = [const { None }; CHUNKS];
        for b in bufs.iter_mut() {
            *b = Some(dev.dma_alloc(BUF_SIZE * BUFS_PER_CHUNK)?);
        }
        // From here on the device may write our memory: the undo list resets it before
        // that memory is given back.
        let reset = dev.reset_on_undo(&io, vl::STATUS as u32, 0, 1)?;
        let irq = dev.request_irq()?;
        let hw = Self {
            _irq: irq,
            _reset: reset,
            bufs,
            hdrs,
            ring,
            io,
            _enabled: enabled,
            layout,
            flush: st.features & vl::F_BLK_FLUSH != 0,
            avail_idx: AtomicU16::new(0),
            last_used: AtomicU16::new(0),
            completed: AtomicU64::new(0),
        };
        hw.prepare_chains();
        vl::activate(&hw.io, hw.ring.dma())?;
        Ok((hw, st.capacity))
    }

    /// The bounce buffer of `tag`: its allocation and the offset in it.
    fn buf(&self, tag: usize) -> Result<(&DmaBuf, usize)> {
        let b = self
            .bufs
            .get(tag / BUFS_PER_CHUNK)
            .and_then(|b| b.as_ref())
            .ok_or(EINVAL)?;
        Ok((b, (tag % BUFS_PER_CHUNK) * BUF_SIZE))
    }

    fn hdr_dma(&self, tag: usize) -> u64 {
        self.hdrs.dma() + (tag * HDR_SLOT) as u64
    }

    /// Links each tag's three descriptors; addresses of the header and status parts
    /// never change.
    fn prepare_chains(&self) {
        for tag in 0..DEPTH {
            let d0 = self.layout.desc((3 * tag) as u16);
            self.ring.write64(d0, self.hdr_dma(tag));
            self.ring.write32(d0 + 8, 16);
            let d2 = self.layout.desc((3 * tag + 2) as u16);
            self.ring.write64(d2, self.hdr_dma(tag) + STATUS_OFF as u64);
            self.ring.write32(d2 + 8, 1);
            self.ring.write16(d2 + 12, vl::DESC_F_WRITE);
            self.ring.write16(d2 + 14, 0);
        }
    }

    /// Puts `rq` on the queue; tells the device when `last`.
    pub(crate) fn submit(
        &self,
        dev: &BlkDev,
        lock: &DriverLock<u64>,
        rq: &Request<'_>,
        last: bool,
    ) -> Result {
        let tag = rq.tag() as usize;
        let (buf, off) = self.buf(tag)?;
        let ty = match rq.op() {
            Op::Read => vl::T_IN,
            Op::Write => vl::T_OUT,
            Op::Flush => vl::T_FLUSH,
        };
        if rq.op() == Op::Flush && !self.flush {
            // A device without a write cache has nothing to flush.
            self.hdrs.write8(tag * HDR_SLOT + STATUS_OFF, vl::BLK_S_OK);
            return dev.done(rq.tag());
        }
        if rq.op() == Op::Write {
            dev.copy_from_request(rq, buf, off)?;
        }
        let h = tag * HDR_SLOT;
        self.hdrs.write32(h, ty);
        self.hdrs.write32(h + 4, 0);
        self.hdrs.write64(h + 8, rq.sector());
        self.hdrs.write8(h + STATUS_OFF, STATUS_PENDING);
        let head = (3 * tag) as u16;
        let d0 = self.layout.desc(head);
        if rq.op() == Op::Flush {
            self.ring.write16(d0 + 12, vl::DESC_F_NEXT);
            self.ring.write16(d0 + 14, head + 2);
        } else {
            let d1 = self.layout.desc(head + 1);
            self.ring.write64(d1, buf.dma() + off as u64);
            self.ring.write32(d1 + 8, rq.bytes());
            let wr = if rq.op() == Op::Read {
                vl::DESC_F_WRITE
            } else {
                0
            };
            self.ring.write16(d1 + 12, vl::DESC_F_NEXT | wr);
            self.ring.write16(d1 + 14, head + 2);
            self.ring.write16(d0 + 12, vl::DESC_F_NEXT);
            self.ring.write16(d0 + 14, head + 1);
        }
        {
            let mut outstanding = lock.lock();
            let bit = 1u64.wrapping_shl(tag as u32);
            if *outstanding & bit != 0 {
                // The framework handed over a tag this instance still holds.
                return Err(EEXIST);
            }
            *outstanding |= bit;
            let ai = self.avail_idx.load(Ordering::Relaxed);
            self.ring.write16(self.layout.avail_slot(ai), head);
            // The device must see the slot before the index that publishes it.
            fence(Ordering::Release);
            self.ring
                .write16(self.layout.avail_idx(), ai.wrapping_add(1));
            self.avail_idx.store(ai.wrapping_add(1), Ordering::Relaxed);
        }
        if last {
            self.kick();
        }
        Ok(())
    }

    /// Tells the device about what is on the available ring.
    pub(crate) fn kick(&self) {
        fence(Ordering::SeqCst);
        vl::notify(&self.io);
    }

    /// Acknowledges the interrupt: whether the queue has news (`Some(true)`), the
    /// interrupt was the device's for another reason (`Some(false)`), or not the
    /// device's (`None`).
    pub(crate) fn ack(&self) -> Option<bool> {
        let isr = self.io.read8(vl::ISR);
        match isr {
            0 => None,
            _ => Some(isr & vl::ISR_QUEUE != 0),
        }
    }

    /// Walks the used ring and reports every finished tag to the framework.
    pub(crate) fn reap(&self, dev: &BlkDev, lock: &DriverLock<u64>) -> Result {
        let mut finished = 0u64;
        {
            let mut outstanding = lock.lock();
            loop {
                let lu = self.last_used.load(Ordering::Relaxed);
                let used = self.ring.read16(self.layout.used_idx());
                if lu == used {
                    break;
                }
                // The element is valid once the index says so.
                fence(Ordering::Acquire);
                let id = self.ring.read32(self.layout.used_id(lu)) as usize;
                self.last_used.store(lu.wrapping_add(1), Ordering::Relaxed);
                let tag = id / 3;
                if id % 3 != 0 || tag >= DEPTH || *outstanding & 1u64.wrapping_shl(tag as u32) == 0
                {
                    pr_err!("vblk-a: device returned a chain it does not hold: {}\n", id);
                    return Err(EIO);
                }
                *outstanding &= !1u64.wrapping_shl(tag as u32);
                finished |= 1u64.wrapping_shl(tag as u32);
            }
        }
        // Outside the lock: the framework may run `complete` right here.
        while finished != 0 {
            let tag = finished.trailing_zeros();
            finished &= finished - 1;
            self.completed.fetch_add(1, Ordering::Relaxed);
            dev.done(tag)?;
        }
        Ok(())
    }

    /// Whether the device still holds `tag`.
    pub(crate) fn holds(&self, lock: &DriverLock<u64>, tag: u32) -> bool {
        (tag as usize) < DEPTH && *lock.lock() & 1u64.wrapping_shl(tag) != 0
    }

    /// The device's answer for finished request `rq`, its read data copied in.
    pub(crate) fn finish(&self, dev: &BlkDev, rq: &Request<'_>) -> Result<Done> {
        let tag = rq.tag() as usize;
        let (buf, off) = self.buf(tag)?;
        match self.hdrs.read8(tag * HDR_SLOT + STATUS_OFF) {
            vl::BLK_S_OK => {
                if rq.op() == Op::Read {
                    dev.copy_to_request(rq, buf, off)?;
                }
                Ok(Done::Ok)
            }
            vl::BLK_S_IOERR => Ok(Done::IoError),
            vl::BLK_S_UNSUPP => Ok(Done::Unsupported),
            s => {
                pr_err!("vblk-a: tag {} finished with status {:#x}\n", tag, s);
                Err(EIO)
            }
        }
    }

    /// Stops the device (orderly remove).
    pub(crate) fn reset(&self) {
        vl::reset(&self.io);
    }
}
