// SPDX-License-Identifier: GPL-2.0

//! The hardware half of `vblk-b`: the same virtio block device (legacy interface, see
//! `virtio_legacy.rs`) driven one request at a time, without interrupts.
//!
//! The queue holds at most one chain, always descriptors 0, 1, 2 (header, data,
//! status), with one bounce buffer. The device is told not to interrupt
//! (`AVAIL_F_NO_INTERRUPT`); instead a timer polls the used ring while a request is on
//! the device. A second request is refused with `EBUSY` until the first completed,
//! and the framework re-dispatches it then.

use crate::abi_blk::BLK_MAX_BYTES;
use crate::blk_driver::{BlkDev, DmaBuf, Done, Io, Op, PciEnabled, Request, ResetOnUndo, Timer};
use crate::driver_lock::DriverLock;
use crate::virtio_legacy::{self as vl, Layout};
use core::sync::atomic::{fence, AtomicU16, AtomicU64, Ordering};
use kernel::prelude::*;

/// How often the used ring is polled while a request is on the device.
const POLL_NS: u64 = 20_000;
/// Offset of the status byte in the header buffer.
const STATUS_OFF: usize = 16;
/// A status byte the device has not written yet.
const STATUS_PENDING: u8 = 0xff;

/// The instance lock's value: no request.
const IDLE: u64 = 0;
/// The lock's value for a request on the device: `ON_DEVICE | tag`.
const ON_DEVICE: u64 = 1 << 32;
/// The lock's value for a request the device finished, waiting for `complete`.
const FINISHED: u64 = 2 << 32;
const STATE_MASK: u64 = 0xffff_ffff << 32;

/// The device and its single-request queue. Fields drop top to bottom on an orderly
/// remove: the poll timer first, then the reset record, buffers, mapping, function.
pub(crate) struct Hw {
    poll: Timer,
    _reset: ResetOnUndo,
    buf: DmaBuf,
    hdr: DmaBuf,
    ring: DmaBuf,
    io: Io,
    _enabled: PciEnabled,
    layout: Layout,
    flush: bool,
    /// Running available-ring index.
    avail_idx: AtomicU16,
    /// Running used-ring index.
    last_used: AtomicU16,
    /// Requests completed, for the log.
    pub(crate) completed: AtomicU64,
}

impl Hw {
    /// Takes the device, resets it and sets the queue up; returns the device and its
    /// capacity in sectors.
    pub(crate) fn probe(dev: &BlkDev) -> Result<(Self, u64)> {
        if !dev.pci_present() {
            return Err(ENODEV);
        }
        let enabled = dev.pci_enable()?;
        let io = dev.iomap(0)?;
        let st = vl::start(&io, vl::F_BLK_FLUSH)?;
        let layout = Layout::new(st.queue_num);
        if st.queue_num < 3 {
            return Err(ENODEV);
        }
        let ring = dev.dma_alloc(layout.size)?;
        let hdr = dev.dma_alloc(64)?;
        let buf = dev.dma_alloc(BLK_MAX_BYTES as usize)?;
        let poll = dev.timer(0)?;
        let reset = dev.reset_on_undo(&io, vl::STATUS as u32, 0, 1)?;
        // No interrupts: completion is polled.
        ring.write16(layout.avail, vl::AVAIL_F_NO_INTERRUPT);
        let hw = Self {
            poll,
            _reset: reset,
            buf,
            hdr,
            ring,
            io,
            _enabled: enabled,
            layout,
            flush: st.features & vl::F_BLK_FLUSH != 0,
            avail_idx: AtomicU16::new(0),
            last_used: AtomicU16::new(0),
            completed: AtomicU64::new(0),
        };
        vl::activate(&hw.io, hw.ring.dma())?;
        Ok((hw, st.capacity))
    }

    /// Puts `rq` on the device, or `EBUSY` if one is there already.
    pub(crate) fn submit(&self, dev: &BlkDev, lock: &DriverLock<u64>, rq: &Request<'_>) -> Result {
        {
            let mut state = lock.lock();
            if *state != IDLE {
                return Err(EBUSY);
            }
            *state = ON_DEVICE | rq.tag() as u64;
        }
        if rq.op() == Op::Flush && !self.flush {
            self.hdr.write8(STATUS_OFF, vl::BLK_S_OK);
            *lock.lock() = FINISHED | rq.tag() as u64;
            return dev.done(rq.tag());
        }
        let ty = match rq.op() {
            Op::Read => vl::T_IN,
            Op::Write => vl::T_OUT,
            Op::Flush => vl::T_FLUSH,
        };
        if rq.op() == Op::Write {
            dev.copy_from_request(rq, &self.buf, 0)?;
        }
        self.hdr.write32(0, ty);
        self.hdr.write32(4, 0);
        self.hdr.write64(8, rq.sector());
        self.hdr.write8(STATUS_OFF, STATUS_PENDING);
        let (d0, d1, d2) = (
            self.layout.desc(0),
            self.layout.desc(1),
            self.layout.desc(2),
        );
        self.ring.write64(d0, self.hdr.dma());
        self.ring.write32(d0 + 8, 16);
        self.ring.write16(d0 + 12, vl::DESC_F_NEXT);
        if rq.op() == Op::Flush {
            self.ring.write16(d0 + 14, 2);
        } else {
            self.ring.write16(d0 + 14, 1);
            self.ring.write64(d1, self.buf.dma());
            self.ring.write32(d1 + 8, rq.bytes());
            let wr = if rq.op() == Op::Read {
                vl::DESC_F_WRITE
            } else {
                0
            };
            self.ring.write16(d1 + 12, vl::DESC_F_NEXT | wr);
            self.ring.write16(d1 + 14, 2);
        }
        self.ring.write64(d2, self.hdr.dma() + STATUS_OFF as u64);
        self.ring.write32(d2 + 8, 1);
        self.ring.write16(d2 + 12, vl::DESC_F_WRITE);
        let ai = self.avail_idx.load(Ordering::Relaxed);
        self.ring.write16(self.layout.avail_slot(ai), 0);
        fence(Ordering::Release);
        self.ring
            .write16(self.layout.avail_idx(), ai.wrapping_add(1));
        self.avail_idx.store(ai.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::SeqCst);
        vl::notify(&self.io);
        self.poll.arm(POLL_NS);
        Ok(())
    }

    /// Looks at the used ring: reports a finished request to the framework, or polls
    /// again later while one is on the device.
    pub(crate) fn poll(&self, dev: &BlkDev, lock: &DriverLock<u64>) -> Result {
        let tag = {
            let mut state = lock.lock();
            if *state & STATE_MASK != ON_DEVICE {
                return Ok(());
            }
            let lu = self.last_used.load(Ordering::Relaxed);
            if self.ring.read16(self.layout.used_idx()) == lu {
                drop(state);
                self.poll.arm(POLL_NS);
                return Ok(());
            }
            fence(Ordering::Acquire);
            let id = self.ring.read32(self.layout.used_id(lu));
            self.last_used.store(lu.wrapping_add(1), Ordering::Relaxed);
            if id != 0 {
                pr_err!("vblk-b: device returned chain {}\n", id);
                return Err(EIO);
            }
            let tag = (*state & !STATE_MASK) as u32;
            *state = FINISHED | tag as u64;
            tag
        };
        self.completed.fetch_add(1, Ordering::Relaxed);
        dev.done(tag)
    }

    /// Whether request `tag` is still on the device.
    pub(crate) fn holds(&self, lock: &DriverLock<u64>, tag: u32) -> bool {
        *lock.lock() == ON_DEVICE | tag as u64
    }

    /// The device's answer for finished request `rq`, its read data copied in; the
    /// queue is free again afterwards.
    pub(crate) fn finish(
        &self,
        dev: &BlkDev,
        lock: &DriverLock<u64>,
        rq: &Request<'_>,
    ) -> Result<Done> {
        if *lock.lock() != FINISHED | rq.tag() as u64 {
            pr_err!("vblk-b: complete for tag {} it does not hold\n", rq.tag());
            return Err(EIO);
        }
        let done = match self.hdr.read8(STATUS_OFF) {
            vl::BLK_S_OK => {
                if rq.op() == Op::Read {
                    dev.copy_to_request(rq, &self.buf, 0)?;
                }
                Done::Ok
            }
            vl::BLK_S_IOERR => Done::IoError,
            vl::BLK_S_UNSUPP => Done::Unsupported,
            s => {
                pr_err!("vblk-b: request finished with status {:#x}\n", s);
                return Err(EIO);
            }
        };
        *lock.lock() = IDLE;
        Ok(done)
    }

    /// Stops the device (orderly remove).
    pub(crate) fn reset(&self) {
        vl::reset(&self.io);
    }
}
