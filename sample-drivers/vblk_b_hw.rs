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
use crate::blk_driver::{Done, Ended, Op, Request, ResetOnUndo};
use crate::driver_dev::{Dev, DmaArray, DmaBuffers, PciEnabled, Timer};
use crate::driver_lock::DriverLock;
use crate::virtio_blk::{self as vb, ReqSlot};
use crate::virtio_legacy as vl;
use crate::virtio_ring::{self as vr, Queue};
use core::sync::atomic::{fence, AtomicU64, Ordering};
use kernel::prelude::*;

/// How often the used ring is polled while a request is on the device.
const POLL_NS: u64 = 20_000;
const BUF_SIZE: usize = BLK_MAX_BYTES as usize;

/// The queue's one request: the driver's state (`BlkDriver::State`), behind the
/// instance's lock.
#[derive(Default)]
pub(crate) enum QueueSlot {
    /// No request.
    #[default]
    Idle,
    /// `submit` took request `tag` and is putting it on the device.
    Claimed(u32),
    /// The request is on the device.
    OnDevice(Request),
    /// The device finished request `tag` and the driver gave it back; `complete` has
    /// yet to take its answer.
    Finished(u32),
}

impl QueueSlot {
    /// Whether the device holds request `tag` (or is being given it).
    fn holds(&self, tag: u32) -> bool {
        match self {
            QueueSlot::Claimed(t) => *t == tag,
            QueueSlot::OnDevice(rq) => rq.tag() == tag,
            _ => false,
        }
    }
}

/// The device and its single-request queue. Fields drop top to bottom on an orderly
/// remove: the poll timer first, then the reset record, buffers, mapping, function.
pub(crate) struct Hw {
    poll: Timer,
    _reset: ResetOnUndo,
    /// The bounce buffer (one of [`BUF_SIZE`]).
    buf: DmaBuffers<BUF_SIZE>,
    hdr: DmaArray<ReqSlot>,
    queue: Queue,
    io: vl::Regs,
    _enabled: PciEnabled,
    flush: bool,
    /// Requests completed, for the log.
    pub(crate) completed: AtomicU64,
}

impl Hw {
    /// Takes the device, resets it and sets the queue up; returns the device and its
    /// capacity in sectors.
    pub(crate) fn probe(dev: &Dev) -> Result<(Self, u64)> {
        let (enabled, io, st) = vl::take(dev, vl::GUEST_FEATURES::zeroed().with_blk_flush(true))?;
        if st.queue_num < 3 {
            return Err(ENODEV);
        }
        let queue = Queue::new(dev, st.queue_num, false)?;
        let hdr = dev.dma_array::<ReqSlot>(1)?;
        let buf = dev.dma_buffers::<BUF_SIZE>(1)?;
        let poll = dev.timer(0)?;
        let reset = vl::reset_on_undo(dev, &io)?;
        // No interrupts: completion is polled.
        queue.no_interrupt()?;
        let hw = Self {
            poll,
            _reset: reset,
            buf,
            hdr,
            queue,
            io,
            _enabled: enabled,
            flush: st.features.blk_flush(),
            completed: AtomicU64::new(0),
        };
        if let Err(e) = vl::activate(&hw.io, hw.queue.dma()) {
            // The queue's address may be set: reset before its memory goes (dropping
            // `hw` cancels the recorded reset).
            vl::reset(&hw.io);
            return Err(e);
        }
        Ok((hw, st.capacity))
    }

    /// Puts `rq` on the device, keeping it until the device gives it back, or `EBUSY`
    /// if one is there already.
    pub(crate) fn submit(&self, dev: &Dev, state: &DriverLock<QueueSlot>, rq: Request) -> Result {
        {
            let mut slot = state.lock();
            if !matches!(*slot, QueueSlot::Idle) {
                return Err(EBUSY);
            }
            *slot = QueueSlot::Claimed(rq.tag());
        }
        if rq.op() == Op::Flush && !self.flush {
            self.hdr.write_field(0, |s| &s.status, vb::BLK_S_OK)?;
            *state.lock() = QueueSlot::Finished(rq.tag());
            return dev.done(rq);
        }
        if rq.op() == Op::Write {
            dev.copy_from_request(&rq, &self.buf, 0)?;
        }
        self.hdr.write(0, ReqSlot::pending(rq.op(), rq.sector()))?;
        let q = &self.queue;
        let hdr = self.hdr.field_dma(0, |s| &s.header)?;
        let status = self.hdr.field_dma(0, |s| &s.status)?;
        // Always descriptors 0 (header), 1 (data, not for a flush), 2 (status).
        let next = if rq.op() == Op::Flush { 2 } else { 1 };
        q.write_desc(0, hdr, ReqSlot::HEADER_LEN, vr::DESC_F_NEXT, next)?;
        if rq.op() != Op::Flush {
            let flags = vb::data_flags(rq.op());
            q.write_desc(1, self.buf.dma(0)?, rq.bytes(), flags, 2)?;
        }
        q.write_desc(2, status, ReqSlot::STATUS_LEN, vr::DESC_F_WRITE, 0)?;
        *state.lock() = QueueSlot::OnDevice(rq);
        q.publish(0)?;
        fence(Ordering::SeqCst);
        vl::notify(&self.io);
        self.poll.arm(POLL_NS);
        Ok(())
    }

    /// Looks at the used ring: gives a finished request back to the framework, or
    /// polls again later while one is on the device.
    pub(crate) fn poll(&self, dev: &Dev, state: &DriverLock<QueueSlot>) -> Result {
        let rq = {
            let mut slot = state.lock();
            if !matches!(*slot, QueueSlot::OnDevice(_) | QueueSlot::Claimed(_)) {
                return Ok(());
            }
            let Some(id) = self.queue.pop_used()? else {
                drop(slot);
                self.poll.arm(POLL_NS);
                return Ok(());
            };
            if id != 0 {
                pr_err!("vblk-b: device returned chain {}\n", id);
                return Err(EIO);
            }
            match core::mem::take(&mut *slot) {
                QueueSlot::OnDevice(rq) => {
                    *slot = QueueSlot::Finished(rq.tag());
                    rq
                }
                other => {
                    *slot = other;
                    pr_err!("vblk-b: device returned a chain it was not given\n");
                    return Err(EIO);
                }
            }
        };
        self.completed.fetch_add(1, Ordering::Relaxed);
        dev.done(rq)
    }

    /// Whether request `tag` is still on the device.
    pub(crate) fn holds(&self, state: &DriverLock<QueueSlot>, tag: u32) -> bool {
        state.lock().holds(tag)
    }

    /// The device's answer for finished request `rq`, its read data copied in: `rq`
    /// ended with it, and the queue free again.
    pub(crate) fn finish(
        &self,
        dev: &Dev,
        state: &DriverLock<QueueSlot>,
        rq: Request,
    ) -> Result<Ended> {
        if !matches!(*state.lock(), QueueSlot::Finished(t) if t == rq.tag()) {
            pr_err!("vblk-b: complete for tag {} it does not hold\n", rq.tag());
            return Err(EIO);
        }
        let s = self.hdr.read_field(0, |s| &s.status)?;
        let Some(done) = vb::status(s) else {
            pr_err!("vblk-b: request finished with status {:#x}\n", s);
            return Err(EIO);
        };
        if done == Done::Ok && rq.op() == Op::Read {
            dev.copy_to_request(&rq, &self.buf, 0)?;
        }
        *state.lock() = QueueSlot::Idle;
        Ok(rq.end(done))
    }

    /// Stops the device (orderly remove).
    pub(crate) fn reset(&self) {
        vl::reset(&self.io);
    }
}
