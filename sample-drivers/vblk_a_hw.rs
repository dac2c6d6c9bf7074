// SPDX-License-Identifier: GPL-2.0

//! The hardware half of `vblk-a`: a virtio block device (legacy interface, see
//! `virtio_legacy.rs`) driven through one split virtqueue with up to
//! [`BLK_QUEUE_DEPTH`] requests in flight and interrupt completion.
//!
//! Each blk-mq tag owns a fixed descriptor chain (`3 * tag`: header, data, status), a
//! [`ReqSlot`] in the header array (request header and status byte, typed) and a
//! bounce buffer of [`BLK_MAX_BYTES`] (buffer `tag` of a [`DmaBuffers`], eight to a
//! coherent allocation). Submitting a request is filling its chain and publishing the
//! chain's head in the available ring; the driver keeps the request in the tag's slot
//! of its state ([`InFlight`]) while the device holds it. The interrupt handler walks
//! the used ring and gives each finished request back to the framework, whose
//! `complete` call then copies read data out of the bounce buffer and ends it.
//! Bounce buffers keep the device's DMA inside memory the instance owns: after a fault
//! the undo list resets the device and then frees them, and no request page can ever
//! be written by a dead instance's device programming.

use crate::abi_blk::{BLK_MAX_BYTES, BLK_QUEUE_DEPTH};
use crate::blk_driver::{Done, Ended, Op, Request, ResetOnUndo};
use crate::driver_dev::{Dev, DmaArray, DmaBuffers, IrqLine, PciEnabled};
use crate::driver_lock::DriverLock;
use crate::virtio_legacy::{self as vl, Queue, ReqSlot};
use core::sync::atomic::{fence, AtomicU64, Ordering};
use kernel::prelude::*;

const DEPTH: usize = BLK_QUEUE_DEPTH as usize;

/// What the driver has of one tag.
#[derive(Default)]
enum TagSlot {
    /// Nothing: the tag is free.
    #[default]
    Free,
    /// `submit` took the tag and is putting its request on the device.
    Claimed,
    /// The device holds the request.
    OnDevice(Request),
}

/// The requests the device holds, one slot per tag: the driver's state
/// (`BlkDriver::State`), behind the instance's lock.
pub(crate) struct InFlight([TagSlot; DEPTH]);

impl Default for InFlight {
    fn default() -> Self {
        Self([const { TagSlot::Free }; DEPTH])
    }
}

impl InFlight {
    /// Whether the device holds `tag` (or is being given it).
    pub(crate) fn holds(&self, tag: usize) -> bool {
        self.0.get(tag).is_some_and(|s| !matches!(s, TagSlot::Free))
    }

    /// Takes `tag` for a request about to go on the device; false if it was taken
    /// already (or no such tag).
    fn claim(&mut self, tag: usize) -> bool {
        match self.0.get_mut(tag) {
            Some(s @ TagSlot::Free) => {
                *s = TagSlot::Claimed;
                true
            }
            _ => false,
        }
    }

    /// Frees claimed `tag`: its request did not go on the device.
    fn unclaim(&mut self, tag: usize) {
        if let Some(s @ TagSlot::Claimed) = self.0.get_mut(tag) {
            *s = TagSlot::Free;
        }
    }

    /// Keeps `rq`, whose claimed tag's chain goes on the device now.
    fn put(&mut self, rq: Request) -> Result {
        match self.0.get_mut(rq.tag() as usize) {
            Some(s @ TagSlot::Claimed) => {
                *s = TagSlot::OnDevice(rq);
                Ok(())
            }
            _ => Err(EINVAL),
        }
    }

    /// The device gave back `tag`'s chain: its request, `None` if it did not hold one.
    fn release(&mut self, tag: usize) -> Option<Request> {
        let s = self.0.get_mut(tag)?;
        match core::mem::take(s) {
            TagSlot::OnDevice(rq) => Some(rq),
            other => {
                *s = other;
                None
            }
        }
    }
}

/// Bounce buffers per coherent allocation (fewer, larger allocations keep `probe`
/// short): eight allocations of 512 KiB.
const BUFS_PER_CHUNK: usize = 8;
// The bounce buffers must fit the chunks a `DmaBuffers` holds, or every probe fails.
const _: () = assert!(DEPTH.div_ceil(BUFS_PER_CHUNK) <= crate::driver_dev::MAX_CHUNKS);
const BUF_SIZE: usize = BLK_MAX_BYTES as usize;

/// Roles of what an instance keeps for the next one (warm restart, [`Hw::keep`]): one
/// per kind, the bounce buffers' chunks from [`ROLE_BUFS`] on.
const ROLE_REGS: u32 = 0;
const ROLE_QUEUE: u32 = 0;
const ROLE_HDRS: u32 = 1;
const ROLE_BUFS: u32 = 2;
const ROLE_RESET: u32 = 0;

/// How long an adopter waits for the device to finish what the dead instance gave it:
/// well inside `adopt`'s watchdog deadline (the framework's 50 ms floor).
const DRAIN_US: u32 = 30_000;

/// The device and its queue. Fields drop top to bottom on an orderly remove: the
/// interrupt first, then the reset record (remove has reset the device), the buffers,
/// the mapping, the function.
pub(crate) struct Hw {
    _irq: IrqLine,
    _reset: ResetOnUndo,
    /// Bounce buffer `tag` of each tag.
    bufs: DmaBuffers<BUF_SIZE>,
    hdrs: DmaArray<ReqSlot>,
    queue: Queue,
    io: vl::Regs,
    _enabled: PciEnabled,
    /// The device takes flushes (it has a write cache).
    flush: bool,
    /// Requests completed, for the log.
    pub(crate) completed: AtomicU64,
}

impl Hw {
    /// Takes the device, resets it, sets up the queue and the interrupt; returns the
    /// device and its capacity in sectors.
    pub(crate) fn probe(dev: &Dev) -> Result<(Self, u64)> {
        let (enabled, io, st) = vl::take(dev, Self::features())?;
        if (st.queue_num as usize) < 3 * DEPTH {
            pr_err!("vblk-a: queue of {} entries is too small\n", st.queue_num);
            return Err(ENODEV);
        }
        let queue = Queue::new(dev, st.queue_num)?;
        let hdrs = dev.dma_array::<ReqSlot>(DEPTH)?;
        let bufs = dev.dma_buffers_chunked::<BUF_SIZE>(DEPTH, BUFS_PER_CHUNK)?;
        // From here on the device may write our memory: the undo list resets it before
        // that memory is given back.
        let reset = vl::reset_on_undo(dev, &io)?;
        let irq = dev.request_irq()?;
        let hw = Self {
            _irq: irq,
            _reset: reset,
            bufs,
            hdrs,
            queue,
            io,
            _enabled: enabled,
            flush: st.features.blk_flush(),
            completed: AtomicU64::new(0),
        };
        hw.prepare_chains()?;
        if let Err(e) = vl::activate(&hw.io, hw.queue.dma()) {
            // The queue's address may be set: reset before its memory goes (dropping
            // `hw` cancels the recorded reset).
            vl::reset(&hw.io);
            return Err(e);
        }
        Ok((hw, st.capacity))
    }

    /// Keeps everything the device runs on for the next instance (warm restart): the
    /// function, the registers, the queue, the headers, the bounce buffers, the reset
    /// record and the interrupt line.
    pub(crate) fn keep(&self) -> Result {
        self._enabled.keep()?;
        self.io.keep(ROLE_REGS)?;
        self.queue.keep(ROLE_QUEUE)?;
        self.hdrs.keep(ROLE_HDRS)?;
        self.bufs.keep(ROLE_BUFS)?;
        self._reset.keep(ROLE_RESET)?;
        self._irq.keep()
    }

    /// Takes over the device the previous instance left running and kept ([`Hw::keep`]),
    /// without a reset: the device must still drive the kept queue with the features
    /// `probe` takes, and every chain on it must be one of the fixed chains of
    /// [`Hw::prepare_chains`], pointing at its own tag's header, bounce buffer and
    /// status, with a request the disk has room for (else the device would follow a
    /// damaged descriptor or header: `EIO`, and the restart goes cold). Then the device
    /// finishes those chains (the framework issues their requests again) before this
    /// returns. Returns the device and its capacity in sectors.
    ///
    /// Should anything fail once the registers are taken back, the device is reset
    /// here, before the adopted resources drop: dropping the reset record cancels it,
    /// and the requests the device is finishing must not land in buffers given back.
    pub(crate) fn adopt(dev: &Dev) -> Result<(Self, u64)> {
        let enabled = dev.adopt_pci_enabled()?;
        let io = dev.adopt_iomap_io::<{ vl::BAR_SIZE }>(ROLE_REGS)?;
        let reset = dev
            .adopt_reset_on_undo(&io, ROLE_RESET)
            .inspect_err(|_| vl::reset(&io))?;
        // Named parts, for the recovery's slowest step (`adopt.NAME` in `recoveries`).
        dev.step("regs");
        let (st, queue, hdrs, bufs, irq) =
            Self::adopt_parts(dev, &io).inspect_err(|_| vl::reset(&io))?;
        dev.step("parts");
        let hw = Self {
            _irq: irq,
            _reset: reset,
            bufs,
            hdrs,
            queue,
            io,
            _enabled: enabled,
            flush: st.features.blk_flush(),
            completed: AtomicU64::new(0),
        };
        hw.settle(st.capacity).inspect_err(|_| vl::reset(&hw.io))?;
        dev.step("settle");
        Ok((hw, st.capacity))
    }

    /// What [`Hw::adopt`] takes back after the registers, checked against the device.
    #[allow(clippy::type_complexity)]
    fn adopt_parts(
        dev: &Dev,
        io: &vl::Regs,
    ) -> Result<(
        vl::Started,
        Queue,
        DmaArray<ReqSlot>,
        DmaBuffers<BUF_SIZE>,
        IrqLine,
    )> {
        let st = vl::running(io, Self::features())?;
        if (st.queue_num as usize) < 3 * DEPTH {
            return Err(EIO);
        }
        let queue = Queue::adopt(dev, ROLE_QUEUE, st.queue_num)?;
        if !vl::runs_queue(io, queue.dma()) {
            return Err(EIO);
        }
        let hdrs = dev.adopt_dma_array::<ReqSlot>(ROLE_HDRS, DEPTH)?;
        let bufs = dev.adopt_dma_buffers_chunked::<BUF_SIZE>(ROLE_BUFS, DEPTH, BUFS_PER_CHUNK)?;
        let irq = dev.adopt_irq()?;
        Ok((st, queue, hdrs, bufs, irq))
    }

    /// Checks every chain the previous instance left on the adopted queue, lets the
    /// device finish them and makes the queue the driver's: interrupts on, the fixed
    /// chains linked afresh.
    fn settle(&self, capacity: u64) -> Result {
        let mut pending = 0;
        self.queue.for_each_pending(|head| {
            pending += 1;
            if pending > DEPTH {
                return Err(EIO);
            }
            self.check_chain(head, capacity)
        })?;
        self.queue.interrupts_on()?;
        // Checked: the device may reach the chains (a hang the framework ended may have
        // left bus mastering off) and finish them.
        self._enabled.set_master();
        self.queue.drain(&self.io, DRAIN_US)?;
        self.prepare_chains()
    }

    /// Whether the chain at `head`, published by the previous instance, is the fixed
    /// chain of its tag (header, then the tag's bounce buffer but for a flush, then the
    /// status byte, each at its own address and length, the data written by the device
    /// only for a read) for a request of the disk (`capacity` sectors); `EIO` if not.
    fn check_chain(&self, head: u16, capacity: u64) -> Result {
        let tag = usize::from(head) / 3;
        if usize::from(head) % 3 != 0 || tag >= DEPTH {
            return Err(EIO);
        }
        let h = self.queue.read_desc(head)?;
        if h.addr != self.hdrs.field_dma(tag, |s| &s.header)?
            || h.len != ReqSlot::HEADER_LEN
            || h.flags != vl::DESC_F_NEXT
        {
            return Err(EIO);
        }
        let req = self.hdrs.read(tag).ok_or(EIO)?.header;
        if req.reserved != 0 {
            return Err(EIO);
        }
        match req.kind {
            vl::T_FLUSH if h.next == head + 2 => {}
            vl::T_IN | vl::T_OUT if h.next == head + 1 => {
                let d = self.queue.read_desc(head + 1)?;
                let write = if req.kind == vl::T_IN {
                    vl::DESC_F_WRITE
                } else {
                    0
                };
                let sectors = u64::from(d.len / 512);
                if d.addr != self.bufs.dma(tag)?
                    || d.len == 0
                    || d.len % 512 != 0
                    || d.len as usize > BUF_SIZE
                    || d.next != head + 2
                    || d.flags != vl::DESC_F_NEXT | write
                    || req
                        .sector
                        .checked_add(sectors)
                        .is_none_or(|end| end > capacity)
                {
                    return Err(EIO);
                }
            }
            _ => return Err(EIO),
        }
        let st = self.queue.read_desc(head + 2)?;
        if st.addr != self.hdrs.field_dma(tag, |s| &s.status)?
            || st.len != ReqSlot::STATUS_LEN
            || st.flags != vl::DESC_F_WRITE
        {
            return Err(EIO);
        }
        Ok(())
    }

    /// The features the driver takes where the device offers them.
    fn features() -> vl::GUEST_FEATURES {
        vl::GUEST_FEATURES::zeroed().with_blk_flush(true)
    }

    /// Links each tag's three descriptors; addresses of the header and status parts
    /// never change.
    fn prepare_chains(&self) -> Result {
        for tag in 0..DEPTH {
            let head = (3 * tag) as u16;
            let hdr = self.hdrs.field_dma(tag, |s| &s.header)?;
            // The header's flags and link are set per request (`submit`).
            self.queue
                .write_desc(head, hdr, ReqSlot::HEADER_LEN, 0, 0)?;
            let status = self.hdrs.field_dma(tag, |s| &s.status)?;
            self.queue
                .write_desc(head + 2, status, ReqSlot::STATUS_LEN, vl::DESC_F_WRITE, 0)?;
        }
        Ok(())
    }

    /// Puts `rq` on the queue, keeping it in its tag's slot until the device gives it
    /// back; tells the device when `last`.
    pub(crate) fn submit(
        &self,
        dev: &Dev,
        state: &DriverLock<InFlight>,
        rq: Request,
        last: bool,
    ) -> Result {
        let tag = rq.tag() as usize;
        // The bus address of the tag's bounce buffer (`EINVAL` for a tag past the depth).
        let data = self.bufs.dma(tag)?;
        // Claimed before anything of the tag is written: a tag the instance still holds
        // (handed over twice) has its chain on the device, which must not change.
        if !state.lock().claim(tag) {
            return Err(EEXIST);
        }
        if rq.op() == Op::Flush && !self.flush {
            // A device without a write cache has nothing to flush.
            self.hdrs.write_field(tag, |s| &s.status, vl::BLK_S_OK)?;
            state.lock().unclaim(tag);
            return dev.done(rq);
        }
        let head = match self.fill(dev, tag, data, &rq) {
            Ok(head) => head,
            Err(e) => {
                state.lock().unclaim(tag);
                return Err(e);
            }
        };
        {
            let mut in_flight = state.lock();
            in_flight.put(rq)?;
            if let Err(e) = self.queue.publish(head) {
                // Not on the device: keep no handle of a request `submit` fails (the
                // tag is free again).
                drop(in_flight.release(tag));
                return Err(e);
            }
        }
        if last {
            self.kick();
        }
        Ok(())
    }

    /// Writes `rq` into tag `tag`'s header slot, bounce buffer (at bus address `data`)
    /// and descriptor chain; returns the chain's head.
    fn fill(&self, dev: &Dev, tag: usize, data: u64, rq: &Request) -> Result<u16> {
        if rq.op() == Op::Write {
            dev.copy_from_request(rq, &self.bufs, tag)?;
        }
        self.hdrs
            .write(tag, ReqSlot::pending(rq.op(), rq.sector()))?;
        let head = (3 * tag) as u16;
        if rq.op() == Op::Flush {
            self.queue.link(head, vl::DESC_F_NEXT, head + 2)?;
        } else {
            let flags = vl::data_flags(rq.op());
            self.queue
                .write_desc(head + 1, data, rq.bytes(), flags, head + 2)?;
            self.queue.link(head, vl::DESC_F_NEXT, head + 1)?;
        }
        Ok(head)
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
        vl::ack_interrupt(&self.io)
    }

    /// Walks the used ring and gives every finished request back to the framework.
    pub(crate) fn reap(&self, dev: &Dev, state: &DriverLock<InFlight>) -> Result {
        loop {
            let rq = {
                let mut in_flight = state.lock();
                let Some(id) = self.queue.pop_used()? else {
                    return Ok(());
                };
                let id = id as usize;
                let rq = match id % 3 {
                    0 => in_flight.release(id / 3),
                    _ => None,
                };
                let Some(rq) = rq else {
                    pr_err!("vblk-a: device returned a chain it does not hold: {}\n", id);
                    return Err(EIO);
                };
                rq
            };
            // Outside the lock: the framework may run `complete` right here.
            self.completed.fetch_add(1, Ordering::Relaxed);
            dev.done(rq)?;
        }
    }

    /// Whether the device still holds `tag`.
    pub(crate) fn holds(&self, state: &DriverLock<InFlight>, tag: u32) -> bool {
        state.lock().holds(tag as usize)
    }

    /// The device's answer for finished request `rq`, its read data copied in: `rq`
    /// ended with it.
    pub(crate) fn finish(&self, dev: &Dev, rq: Request) -> Result<Ended> {
        let tag = rq.tag() as usize;
        let s = self.hdrs.read_field(tag, |s| &s.status)?;
        let Some(done) = vl::status(s) else {
            pr_err!("vblk-a: tag {} finished with status {:#x}\n", tag, s);
            return Err(EIO);
        };
        if done == Done::Ok && rq.op() == Op::Read {
            dev.copy_to_request(&rq, &self.bufs, tag)?;
        }
        Ok(rq.end(done))
    }

    /// Stops the device (orderly remove).
    pub(crate) fn reset(&self) {
        vl::reset(&self.io);
    }
}
