// SPDX-License-Identifier: GPL-2.0

//! The hardware half of `vblk-a`: a virtio block device (modern interface, see
//! `virtio_pci_modern.rs`) driven through one split virtqueue with up to
//! [`BLK_QUEUE_DEPTH`] requests in flight and interrupt completion (an MSI-X vector
//! of its own where the function has MSI-X: no status register read, no shared line).
//!
//! The device reads and writes the requests' own pages: each request's data is mapped
//! for it by the framework (`Dev::map_request`, up to [`BLK_SEGS_MAX`] pieces), with no
//! bounce buffer and no copy. Each blk-mq tag owns descriptor `tag` of the ring, an
//! indirect table of its own (header, one descriptor per piece, status) and a
//! [`ReqSlot`] in the header array (request header and status byte, typed). Submitting
//! a request is writing its table, pointing the tag's ring descriptor at it and
//! publishing the tag in the available ring; the driver keeps the request in the tag's
//! slot of its state ([`InFlight`]) while the device holds it. The interrupt handler
//! walks the used ring and gives each finished request back to the framework, whose
//! `complete` call reads the status and ends it; the framework then unmaps its data.
//! After a fault the undo list resets the device before the mappings go (or, on a warm
//! restart, the adopter lets the device finish the chains it checked against the
//! mappings the framework kept: [`Hw::adopt`]), so a dead instance's device
//! programming never reaches a page once it is given back.

use crate::abi_blk::{BLK_QUEUE_DEPTH, BLK_SEGS_MAX};
use crate::blk_driver::{Ended, Op, Request, ResetOnUndo, SegRoom};
use crate::driver_dev::{Dev, DmaArray, IrqLine, PciEnabled};
use crate::driver_lock::DriverLock;
use crate::virtio_blk::{self as vb, ReqSlot};
use crate::virtio_pci_modern as vm;
use crate::virtio_ring::{self as vr, Queue, VirtqDesc};
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

/// Pieces of a request's data, at most.
const SEGS: usize = BLK_SEGS_MAX as usize;
/// Descriptors of a tag's indirect table: header, the pieces, status.
const TABLE: usize = SEGS + 2;
/// Bytes of one descriptor.
const DESC_LEN: u32 = core::mem::size_of::<VirtqDesc>() as u32;

/// Roles of what an instance keeps for the next one (warm restart, [`Hw::keep`]): one
/// per kind.
const ROLE_REGS: u32 = 0;
const ROLE_QUEUE: u32 = 0;
const ROLE_HDRS: u32 = 1;
const ROLE_TABLES: u32 = 2;
const ROLE_RESET: u32 = 0;

/// How long an adopter waits for the device to finish what the dead instance gave it:
/// well inside `adopt`'s watchdog deadline (the framework's 50 ms floor).
const DRAIN_US: u32 = 30_000;

/// The device and its queue. Fields drop top to bottom on an orderly remove: the
/// interrupt first, then the reset record (remove has reset the device), the tables,
/// the mapping, the function.
pub(crate) struct Hw {
    _irq: IrqLine,
    _reset: ResetOnUndo,
    /// The indirect table of each tag: entries `TABLE * tag` on.
    tables: DmaArray<VirtqDesc>,
    hdrs: DmaArray<ReqSlot>,
    queue: Queue,
    io: vm::Regs,
    _enabled: PciEnabled,
    /// The device takes flushes (it has a write cache).
    flush: bool,
    /// The interrupt is an MSI-X vector of the device's own: every interrupt is the
    /// queue's, with no status register to read.
    msix: bool,
    /// Requests completed, for the log.
    pub(crate) completed: AtomicU64,
}

impl Hw {
    /// Takes the device, resets it, sets up the interrupt (an MSI-X vector where the
    /// function has MSI-X) and the queue; returns the device and its capacity in
    /// sectors.
    pub(crate) fn probe(dev: &Dev) -> Result<(Self, u64)> {
        let (enabled, io, irq, st) = vm::take_with_irq(dev, Self::features())?;
        if (st.queue_num as usize) < DEPTH {
            pr_err!("vblk-a: queue of {} entries is too small\n", st.queue_num);
            // Given no memory yet: nothing to protect should it not finish.
            vm::reset(&io)?;
            return Err(ENODEV);
        }
        if !st.features.has(vr::F_RING_INDIRECT_DESC) {
            pr_err!("vblk-a: the device takes no indirect descriptors\n");
            // Given no memory yet: nothing to protect should it not finish.
            vm::reset(&io)?;
            return Err(ENODEV);
        }
        let queue = Queue::new(dev, st.queue_num, st.features.has(vr::F_RING_EVENT_IDX))?;
        let hdrs = dev.dma_array::<ReqSlot>(DEPTH)?;
        let tables = dev.dma_array::<VirtqDesc>(DEPTH * TABLE)?;
        // From here on the device may write our memory: the undo list resets it before
        // that memory is given back.
        let reset = vm::reset_on_undo(dev, &io)?;
        let hw = Self {
            msix: irq.is_msix(),
            _irq: irq,
            _reset: reset,
            tables,
            hdrs,
            queue,
            io,
            _enabled: enabled,
            flush: st.features.has(vb::F_BLK_FLUSH),
            completed: AtomicU64::new(0),
        };
        if let Err(e) = vm::activate(&hw.io, &hw.queue, hw.msix) {
            // The queue's address may be set: reset before its memory goes (dropping
            // `hw` cancels the recorded reset).
            hw.stop();
            return Err(e);
        }
        Ok((hw, st.capacity))
    }

    /// Keeps everything the device runs on for the next instance (warm restart): the
    /// function, the registers, the queue, the headers, the indirect tables, the reset
    /// record and the interrupt line. (The requests' data stays mapped by the framework
    /// until the next instance has checked and drained the queue.)
    pub(crate) fn keep(&self) -> Result {
        self._enabled.keep()?;
        self.io.keep(ROLE_REGS)?;
        self.queue.keep(ROLE_QUEUE)?;
        self.hdrs.keep(ROLE_HDRS)?;
        self.tables.keep(ROLE_TABLES)?;
        self._reset.keep(ROLE_RESET)?;
        self._irq.keep()
    }

    /// Takes over the device the previous instance left running and kept ([`Hw::keep`]),
    /// without a reset: the device must still drive the kept queue with the features
    /// `probe` takes, and every chain on it must be a tag's ring descriptor pointing at
    /// that tag's indirect table, which points at the tag's header and status and, for
    /// a read or write, at exactly the pieces the framework mapped for the request the
    /// dead instance held under that tag ([`Dev::lent_request`]), in the direction the
    /// header asks, for a request the disk has room for (else the device would follow a
    /// damaged descriptor or header: `EIO`, and the restart goes cold). Then the device
    /// finishes those chains (the framework issues their requests again) before this
    /// returns. Returns the device and its capacity in sectors.
    ///
    /// Should anything fail once the registers are taken back, the device is stopped
    /// here ([`Hw::stop`]), before the adopted resources drop: dropping the reset record
    /// cancels it, and the requests the device is finishing must not land in buffers
    /// given back. (Should the registers themselves not check out, the framework keeps
    /// the BAR mapped and the previous instance's reset record performs the reset.)
    pub(crate) fn adopt(dev: &Dev) -> Result<(Self, u64)> {
        let enabled = dev.adopt_pci_enabled()?;
        let (mut io, caps) = vm::adopt_regs(dev, ROLE_REGS)?;
        let stop = |io: &vm::Regs| Self::stop_device(io, &enabled);
        // Not stopped on failure here: the record not adopted is still kept, a doubtful
        // one left to the undo list, and the framework performs either.
        let reset = vm::adopt_reset_on_undo(dev, &io, ROLE_RESET)?;
        // The line after the reset record, so that it drops first: should the adoption
        // fail, the device is reset (below) before its MSI-X vector goes; and before the
        // rest, for the adopter checks the device's vectors against the line's kind.
        let irq = dev.adopt_irq().inspect_err(|_| stop(&io))?;
        // Named parts, for the recovery's slowest step (`adopt.NAME` in `recoveries`).
        dev.step("regs");
        let (st, queue, hdrs, tables) =
            Self::adopt_parts(dev, &mut io, &caps, irq.is_msix()).inspect_err(|_| stop(&io))?;
        dev.step("parts");
        let hw = Self {
            msix: irq.is_msix(),
            _irq: irq,
            _reset: reset,
            tables,
            hdrs,
            queue,
            io,
            _enabled: enabled,
            flush: st.features.has(vb::F_BLK_FLUSH),
            completed: AtomicU64::new(0),
        };
        hw.settle(dev, st.capacity).inspect_err(|_| hw.stop())?;
        dev.step("settle");
        Ok((hw, st.capacity))
    }

    /// What [`Hw::adopt`] takes back after the registers and the line (an MSI-X vector
    /// if `msix`), checked against the device.
    fn adopt_parts(
        dev: &Dev,
        io: &mut vm::Regs,
        caps: &vm::Caps,
        msix: bool,
    ) -> Result<(vm::Started, Queue, DmaArray<ReqSlot>, DmaArray<VirtqDesc>)> {
        let st = vm::running(io, caps, Self::features(), msix)?;
        if (st.queue_num as usize) < DEPTH || !st.features.has(vr::F_RING_INDIRECT_DESC) {
            return Err(EIO);
        }
        let event_idx = st.features.has(vr::F_RING_EVENT_IDX);
        let queue = Queue::adopt(dev, ROLE_QUEUE, st.queue_num, event_idx)?;
        if !vm::runs_queue(io, &queue)? {
            return Err(EIO);
        }
        let hdrs = dev.adopt_dma_array::<ReqSlot>(ROLE_HDRS, DEPTH)?;
        let tables = dev.adopt_dma_array::<VirtqDesc>(ROLE_TABLES, DEPTH * TABLE)?;
        Ok((st, queue, hdrs, tables))
    }

    /// Checks every chain the previous instance left on the adopted queue, lets the
    /// device finish them and makes the queue the driver's (interrupts on).
    fn settle(&self, dev: &Dev, capacity: u64) -> Result {
        let mut pending = 0;
        self.queue.for_each_pending(|head| {
            pending += 1;
            if pending > DEPTH {
                return Err(EIO);
            }
            self.check_chain(dev, head, capacity)
        })?;
        // Checked: the device may reach the chains (a hang the framework ended may have
        // left bus mastering off) and finish them.
        self._enabled.set_master();
        self.queue.drain(DRAIN_US, || {
            vm::notify(&self.io);
            Ok(())
        })?;
        // After the drain: with event indices the interrupt asked for is the one after
        // the last answer looked at.
        self.queue.interrupts_on()
    }

    /// Whether the chain at `head`, published by the previous instance, is the chain of
    /// tag `head` as [`Hw::fill`] writes it (see [`Hw::adopt`]) for a request of the
    /// disk (`capacity` sectors); `EIO` if not.
    ///
    /// The heads from the next used index to the available index are as many as the
    /// device has not given back, not necessarily those (it may finish out of order):
    /// a read or write among them whose request the framework does not count as lent
    /// was finished and reaped already, and the device has taken it off the ring. Its
    /// table still names the pages of a request since ended; should a damaged ring make
    /// the device take it again, it finds a flush there instead ([`Hw::defuse`]).
    // Out of line: its table of pieces stays out of `adopt`'s frame.
    #[inline(never)]
    fn check_chain(&self, dev: &Dev, head: u16, capacity: u64) -> Result {
        let tag = usize::from(head);
        if tag >= DEPTH {
            return Err(EIO);
        }
        let base = tag * TABLE;
        let r = self.queue.read_desc(head)?;
        let entries = (r.len / DESC_LEN) as usize;
        if r.addr != self.tables.dma_of(base)?
            || r.flags != vr::DESC_F_INDIRECT
            || r.len % DESC_LEN != 0
            || !(2..=TABLE).contains(&entries)
        {
            return Err(EIO);
        }
        let desc = |i: usize| self.tables.read(base + i);
        let h = desc(0)?;
        if h.addr != self.hdrs.field_dma(tag, |s| &s.header)?
            || h.len != ReqSlot::HEADER_LEN
            || h.flags != vr::DESC_F_NEXT
            || h.next != 1
        {
            return Err(EIO);
        }
        let req = self.hdrs.read(tag)?.header;
        if req.reserved != 0 {
            return Err(EIO);
        }
        let data = entries - 2;
        match req.kind {
            vb::T_FLUSH if data == 0 => {}
            vb::T_IN | vb::T_OUT if data > 0 => {
                let mut room = SegRoom::new();
                let lent = match dev.lent_request(head.into(), &mut room) {
                    Ok(l) => l,
                    Err(e) if e == ENOENT => return self.defuse(tag),
                    Err(_) => return Err(EIO),
                };
                let (kind, write) = match lent.op {
                    Op::Read => (vb::T_IN, vr::DESC_F_WRITE),
                    _ => (vb::T_OUT, 0),
                };
                if req.kind != kind || req.sector != lent.sector || lent.segs.len() != data {
                    return Err(EIO);
                }
                let mut bytes = 0u64;
                for (i, seg) in lent.segs.iter().enumerate() {
                    let d = desc(i + 1)?;
                    if d.addr != seg.addr
                        || d.len != seg.len
                        || d.flags != vr::DESC_F_NEXT | write
                        || usize::from(d.next) != i + 2
                    {
                        return Err(EIO);
                    }
                    bytes += u64::from(d.len);
                }
                if bytes != u64::from(lent.bytes)
                    || bytes % 512 != 0
                    || req
                        .sector
                        .checked_add(bytes / 512)
                        .is_none_or(|end| end > capacity)
                {
                    return Err(EIO);
                }
            }
            _ => return Err(EIO),
        }
        let st = desc(entries - 1)?;
        if st.addr != self.hdrs.field_dma(tag, |s| &s.status)?
            || st.len != ReqSlot::STATUS_LEN
            || st.flags != vr::DESC_F_WRITE
        {
            return Err(EIO);
        }
        Ok(())
    }

    /// The first entry of tag `tag`'s table: its request header, for the device to read.
    fn header_desc(&self, tag: usize) -> Result<VirtqDesc> {
        Ok(VirtqDesc {
            addr: self.hdrs.field_dma(tag, |s| &s.header)?,
            len: ReqSlot::HEADER_LEN,
            flags: vr::DESC_F_NEXT,
            next: 1,
        })
    }

    /// The last entry of tag `tag`'s table: its status byte, for the device to write.
    fn status_desc(&self, tag: usize) -> Result<VirtqDesc> {
        Ok(VirtqDesc {
            addr: self.hdrs.field_dma(tag, |s| &s.status)?,
            len: ReqSlot::STATUS_LEN,
            flags: vr::DESC_F_WRITE,
            next: 0,
        })
    }

    /// Makes tag `tag`'s chain a flush (its header, its status): a chain of a request
    /// that ended, which the device must not follow to that request's pages.
    fn defuse(&self, tag: usize) -> Result {
        let base = tag * TABLE;
        self.hdrs.write(tag, ReqSlot::pending(Op::Flush, 0))?;
        self.tables.write(base, self.header_desc(tag)?)?;
        self.tables.write(base + 1, self.status_desc(tag)?)?;
        let table = self.tables.dma_of(base)?;
        self.queue
            .write_desc(tag as u16, table, 2 * DESC_LEN, vr::DESC_F_INDIRECT, 0)
    }

    /// The features the driver takes where the device offers them.
    fn features() -> vm::Features {
        vm::Features::none()
            .with(vb::F_BLK_FLUSH)
            .with(vr::F_RING_INDIRECT_DESC)
            .with(vr::F_RING_EVENT_IDX)
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
        if tag >= DEPTH {
            return Err(EINVAL);
        }
        // Claimed before anything of the tag is written: a tag the instance still holds
        // (handed over twice) has its chain on the device, which must not change.
        if !state.lock().claim(tag) {
            return Err(EEXIST);
        }
        if rq.op() == Op::Flush && !self.flush {
            // A device without a write cache has nothing to flush.
            self.hdrs.write_field(tag, |s| &s.status, vb::BLK_S_OK)?;
            state.lock().unclaim(tag);
            return dev.done(rq);
        }
        let head = match self.fill(dev, tag, &rq) {
            Ok(head) => head,
            Err(e) => {
                state.lock().unclaim(tag);
                return Err(e);
            }
        };
        let notify = {
            let mut in_flight = state.lock();
            in_flight.put(rq)?;
            if let Err(e) = self.queue.publish(head) {
                // Not on the device: keep no handle of a request `submit` fails (the
                // tag is free again).
                drop(in_flight.release(tag));
                return Err(e);
            }
            last && self.queue.needs_notify()
        };
        if notify {
            vm::notify(&self.io);
        }
        Ok(())
    }

    /// Writes `rq` into tag `tag`'s header slot and indirect table (its data mapped for
    /// the device, piece by piece) and points the tag's ring descriptor at the table;
    /// returns the chain's head.
    // Out of line: its table of pieces stays out of the callers' frames.
    #[inline(never)]
    fn fill(&self, dev: &Dev, tag: usize, rq: &Request) -> Result<u16> {
        let base = tag * TABLE;
        let mut n = 1;
        if rq.op() != Op::Flush {
            let mut room = SegRoom::new();
            let segs = dev.map_request(rq, &mut room)?;
            let flags = vb::data_flags(rq.op());
            for seg in segs {
                let d = VirtqDesc {
                    addr: seg.addr,
                    len: seg.len,
                    flags,
                    next: (n + 1) as u16,
                };
                self.tables.write(base + n, d)?;
                n += 1;
            }
        }
        self.hdrs
            .write(tag, ReqSlot::pending(rq.op(), rq.sector()))?;
        self.tables.write(base, self.header_desc(tag)?)?;
        self.tables.write(base + n, self.status_desc(tag)?)?;
        let head = tag as u16;
        let table = self.tables.dma_of(base)?;
        self.queue.write_desc(
            head,
            table,
            (n as u32 + 1) * DESC_LEN,
            vr::DESC_F_INDIRECT,
            0,
        )?;
        Ok(head)
    }

    /// Tells the device about what is on the available ring, unless it said it does not
    /// need to be told (a register write costs an exit to the hypervisor). The decision
    /// is made under the driver's lock, which orders it with publishing.
    pub(crate) fn kick(&self, state: &DriverLock<InFlight>) {
        let notify = {
            let _in_flight = state.lock();
            self.queue.needs_notify()
        };
        if notify {
            vm::notify(&self.io);
        }
    }

    /// Acknowledges the interrupt: whether the queue has news (`Some(true)`), the
    /// interrupt was the device's for another reason (`Some(false)`), or not the
    /// device's (`None`, on a shared INTx line).
    pub(crate) fn ack(&self) -> Option<bool> {
        if self.msix {
            // The vector is the queue's alone (configuration changes have none).
            return Some(true);
        }
        vm::ack_interrupt(&self.io)
    }

    /// Walks the used ring and gives every finished request back to the framework.
    /// The device is asked not to interrupt meanwhile (what it finishes during the walk
    /// is reaped by it), and the ring is looked at again after interrupts are back on,
    /// until it holds nothing more: with event indices the device interrupts only on
    /// passing the index asked for, which it may have passed before it was asked.
    pub(crate) fn reap(&self, dev: &Dev, state: &DriverLock<InFlight>) -> Result {
        self.queue.no_interrupt()?;
        loop {
            if let Err(e) = self.reap_used(dev, state) {
                let _in_flight = state.lock();
                self.queue.interrupts_on()?;
                return Err(e);
            }
            fence(Ordering::SeqCst);
            if !self.queue.has_used() {
                return Ok(());
            }
        }
    }

    /// Gives every request the used ring holds back to the framework, then asks for the
    /// next interrupt under the lock hold that found the ring empty: the index asked
    /// for is the newest (another walker may have moved on).
    fn reap_used(&self, dev: &Dev, state: &DriverLock<InFlight>) -> Result {
        loop {
            let rq = {
                let mut in_flight = state.lock();
                let Some(id) = self.queue.pop_used()? else {
                    return self.queue.interrupts_on();
                };
                let rq = in_flight.release(id as usize);
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

    /// The device's answer for finished request `rq` (read data is in its pages
    /// already): `rq` ended with it.
    pub(crate) fn finish(&self, rq: Request) -> Result<Ended> {
        let tag = rq.tag() as usize;
        let s = self.hdrs.read_field(tag, |s| &s.status)?;
        let Some(done) = vb::status(s) else {
            pr_err!("vblk-a: tag {} finished with status {:#x}\n", tag, s);
            return Err(EIO);
        };
        Ok(rq.end(done))
    }

    /// Stops the device (orderly remove, a failed start): a reset, and should the device
    /// not finish it, its DMA turned off, for its memory is given back next.
    pub(crate) fn stop(&self) {
        Self::stop_device(&self.io, &self._enabled);
    }

    /// [`Hw::stop`] of the device at `io`, enabled by `enabled`.
    fn stop_device(io: &vm::Regs, enabled: &PciEnabled) {
        if vm::reset(io).is_err() {
            enabled.clear_master();
        }
    }
}
