// SPDX-License-Identifier: GPL-2.0

//! A split virtqueue (virtio's `struct vring`) as both block drivers use it, over
//! either PCI transport (`virtio_legacy.rs`, `virtio_pci_modern.rs`): the layout of its
//! descriptors and rings in one coherent buffer, with the legacy 4096-byte alignment
//! (which the modern transport accepts too: it takes the three parts' addresses one
//! by one), and [`Queue`], the driver's side of it. Little-endian guest layout, which
//! is both transports' on x86.

// Each driver uses only the parts it needs.
#![allow(dead_code)]

use crate::driver_dev::{Dev, DmaCoherent, DmaSlice, DmaView};
use core::sync::atomic::{fence, AtomicU16, Ordering};
use kernel::prelude::*;

/// Feature bit: the device follows indirect descriptors ([`DESC_F_INDIRECT`]).
pub(crate) const F_RING_INDIRECT_DESC: u32 = 28;
/// Feature bit: the device reads `used_event` and writes `avail_event`: notifications
/// and interrupts are asked for by ring index instead of by flag ([`Queue`]).
pub(crate) const F_RING_EVENT_IDX: u32 = 29;

/// A descriptor of a split virtqueue (`struct vring_desc`): the queue's memory starts
/// with [`Layout::num`] of them.
#[repr(C)]
#[derive(Clone, Copy, FromBytes, IntoBytes)]
pub(crate) struct VirtqDesc {
    /// Bus address of the buffer.
    pub(crate) addr: u64,
    /// Its length.
    pub(crate) len: u32,
    /// [`DESC_F_NEXT`], [`DESC_F_WRITE`].
    pub(crate) flags: u16,
    /// The next descriptor of the chain, with [`DESC_F_NEXT`].
    pub(crate) next: u16,
}

/// The header of the available ring (`struct vring_avail` up to its ring), right after
/// the descriptors: the driver writes it, the device reads it. Followed by
/// [`Layout::num`] ring entries (`u16`: the head of a chain) and `used_event` (`u16`,
/// with the event-index feature ([`F_RING_EVENT_IDX`]): the used index whose crossing interrupts).
#[repr(C)]
#[derive(Clone, Copy, FromBytes, IntoBytes)]
pub(crate) struct AvailHeader {
    /// [`AVAIL_F_NO_INTERRUPT`].
    pub(crate) flags: u16,
    /// Where the driver puts the next entry (running, not masked): the entries before
    /// it are published.
    pub(crate) idx: u16,
}

/// The header of the used ring (`struct vring_used` up to its ring), at the next
/// [`QUEUE_ALIGN`] boundary after the available ring: the device writes it, the driver
/// reads it. Followed by [`Layout::num`] [`UsedElem`]s and `avail_event` (`u16`, with
/// the event-index feature ([`F_RING_EVENT_IDX`]): the available index whose crossing the device
/// wants to be told of).
#[repr(C)]
#[derive(Clone, Copy, FromBytes, IntoBytes)]
pub(crate) struct UsedHeader {
    /// `VRING_USED_F_NO_NOTIFY` (the driver notifies all the same).
    pub(crate) flags: u16,
    /// Where the device puts the next element (running, not masked): the elements
    /// before it are finished.
    pub(crate) idx: u16,
}

/// An element of the used ring (`struct vring_used_elem`): a chain the device finished.
#[repr(C)]
#[derive(Clone, Copy, FromBytes, IntoBytes)]
pub(crate) struct UsedElem {
    /// The chain's head descriptor (a `u32`, though descriptor numbers are `u16`).
    pub(crate) id: u32,
    /// Bytes the device wrote into the chain's buffers.
    pub(crate) len: u32,
}

/// Descriptor flag: the chain continues at `next`.
pub(crate) const DESC_F_NEXT: u16 = 1;
/// Descriptor flag: the device writes this buffer.
pub(crate) const DESC_F_WRITE: u16 = 2;
/// Descriptor flag: the buffer is a table of descriptors, the request's whole chain
/// (with the indirect-descriptor feature ([`F_RING_INDIRECT_DESC`])).
pub(crate) const DESC_F_INDIRECT: u16 = 4;
/// Available-ring flag: the driver does not want interrupts.
pub(crate) const AVAIL_F_NO_INTERRUPT: u16 = 1;
/// Used-ring flag: the device does not need to be told of new buffers now (it is
/// working through the available ring and will look again before it stops).
pub(crate) const USED_F_NO_NOTIFY: u16 = 1;

/// Alignment of the used ring in a legacy queue (and of the queue itself: the device
/// takes its address as a page number).
pub(crate) const QUEUE_ALIGN: usize = 4096;

// The parts of a split virtqueue as the legacy device reads them (virtio 0.9.5,
// `struct vring`; guest-endian, little-endian on x86).
const _: () = {
    use core::mem::{align_of, offset_of, size_of};
    assert!(size_of::<VirtqDesc>() == 16 && align_of::<VirtqDesc>() <= 16);
    assert!(offset_of!(VirtqDesc, addr) == 0 && offset_of!(VirtqDesc, len) == 8);
    assert!(offset_of!(VirtqDesc, flags) == 12 && offset_of!(VirtqDesc, next) == 14);
    assert!(size_of::<AvailHeader>() == 4 && align_of::<AvailHeader>() == 2);
    assert!(offset_of!(AvailHeader, flags) == 0 && offset_of!(AvailHeader, idx) == 2);
    assert!(size_of::<UsedHeader>() == 4 && align_of::<UsedHeader>() == 2);
    assert!(offset_of!(UsedHeader, flags) == 0 && offset_of!(UsedHeader, idx) == 2);
    assert!(size_of::<UsedElem>() == 8 && align_of::<UsedElem>() == 4);
    assert!(offset_of!(UsedElem, id) == 0 && offset_of!(UsedElem, len) == 4);
};

const fn align_up(x: usize) -> usize {
    (x + QUEUE_ALIGN - 1) & !(QUEUE_ALIGN - 1)
}

/// Where the parts of a split virtqueue of `num` entries lie in its memory, in the
/// legacy layout: the descriptor table, the available ring, and at the next
/// [`QUEUE_ALIGN`] boundary the used ring. [`Queue`] reaches each part through a typed
/// view ([`DmaSlice`], [`DmaView`]) made at these offsets.
#[derive(Clone, Copy)]
pub(crate) struct Layout {
    /// Entries (a power of two).
    pub(crate) num: u16,
    /// `num - 1`: ring indices run freely and are masked.
    mask: u16,
    /// Offset of the [`AvailHeader`] (after `num` [`VirtqDesc`]s).
    avail: usize,
    /// Offset of the available ring's `num` entries (after its header).
    avail_ring: usize,
    /// Offset of `used_event` (after the available ring's entries).
    used_event: usize,
    /// Offset of the [`UsedHeader`] (after the available ring and `used_event`,
    /// [`QUEUE_ALIGN`]ed).
    used: usize,
    /// Offset of the used ring's `num` [`UsedElem`]s (after its header).
    used_ring: usize,
    /// Offset of `avail_event` (after the used ring's elements).
    avail_event: usize,
    /// Total bytes (after the used ring and `avail_event`, [`QUEUE_ALIGN`]ed).
    pub(crate) size: usize,
}

impl Layout {
    /// The legacy layout of a queue of `num` entries (a power of two, as the device
    /// reports it; see the transports' `start`).
    pub(crate) const fn new(num: u16) -> Self {
        use core::mem::size_of;
        let n = num as usize;
        let avail = size_of::<VirtqDesc>() * n;
        let avail_ring = avail + size_of::<AvailHeader>();
        // `used_event` follows the entries.
        let used_event = avail_ring + size_of::<u16>() * n;
        let used = align_up(used_event + size_of::<u16>());
        let used_ring = used + size_of::<UsedHeader>();
        // `avail_event` follows the elements.
        let avail_event = used_ring + size_of::<UsedElem>() * n;
        Self {
            num,
            mask: num.wrapping_sub(1),
            avail,
            avail_ring,
            used_event,
            used,
            used_ring,
            avail_event,
            size: align_up(avail_event + size_of::<u16>()),
        }
    }

    /// The ring slot of running index `i` (in either ring).
    pub(crate) const fn slot(&self, i: u16) -> usize {
        (i & self.mask) as usize
    }
}

// The layout is the legacy one: `vring_size(num, 4096)`, rounded up to a page, of
// virtio 0.9.5 (Linux's `include/uapi/linux/virtio_ring.h`), the used ring at
// `vring_init`'s place, for every queue size the device may report.
const _: () = {
    let mut num: u32 = 1;
    while num <= 32768 {
        let n = num as usize;
        let l = Layout::new(num as u16);
        assert!(l.avail == 16 * n);
        assert!(l.avail_ring == l.avail + 4 && l.used_event == l.avail_ring + 2 * n);
        assert!(l.used == align_up(16 * n + 2 * (3 + n)));
        assert!(l.used_ring == l.used + 4 && l.avail_event == l.used_ring + 8 * n);
        assert!(l.size == align_up(16 * n + 2 * (3 + n)) + align_up(2 * 3 + 8 * n));
        assert!(l.slot(num as u16) == 0 && l.slot(num as u16 - 1) == n - 1);
        num *= 2;
    }
    // QEMU's virtio-blk default: 256 entries, three pages.
    let l = Layout::new(256);
    assert!(l.avail == 4096 && l.used == 8192 && l.size == 12288);
};

/// Whether moving a ring index from `old` to `new` passes `event` (virtio's
/// `vring_need_event`: `event` in `[old, new)`, modulo 2^16).
pub(crate) const fn need_event(event: u16, new: u16, old: u16) -> bool {
    new.wrapping_sub(event).wrapping_sub(1) < new.wrapping_sub(old)
}

const _: () = {
    assert!(need_event(5, 6, 5) && !need_event(5, 7, 6) && need_event(5, 7, 4));
    assert!(!need_event(9, 7, 4) && need_event(0xffff, 1, 0xfffe) && !need_event(3, 3, 3));
};

/// Split virtqueue 0 in a coherent buffer of its own, with the driver's running ring
/// indices (used under the driver's lock). Its parts are reached through typed views
/// at the offsets of its [`Layout`]: the descriptors and the rings' elements by index,
/// the rings' headers by field, each access volatile and as wide as the field.
pub(crate) struct Queue {
    ring: DmaCoherent,
    layout: Layout,
    /// the event-index feature ([`F_RING_EVENT_IDX`]) was negotiated: notifications and interrupts
    /// are asked for by index, not by flag.
    event_idx: bool,
    /// Next free available-ring index.
    avail_idx: AtomicU16,
    /// The available index at the last [`Queue::needs_notify`] (with `event_idx`).
    told: AtomicU16,
    /// Next used-ring index to look at.
    last_used: AtomicU16,
}

impl Queue {
    /// The memory of a queue of `num` entries (the size the device reported), zeroed;
    /// `event_idx` as negotiated.
    pub(crate) fn new(dev: &Dev, num: u16, event_idx: bool) -> Result<Self> {
        let layout = Layout::new(num);
        Ok(Self {
            ring: dev.dma_alloc(layout.size)?,
            layout,
            event_idx,
            avail_idx: AtomicU16::new(0),
            told: AtomicU16::new(0),
            last_used: AtomicU16::new(0),
        })
    }

    /// The queue of `num` entries the previous instance kept under `role` (warm restart),
    /// with the device's ring indices as it left them: the next available entry after the
    /// last one published, the next used one after the last one the device wrote, which
    /// may be up to `num` behind (requests still on the device). `EIO` if the indices
    /// are further apart. Only in `adopt`.
    pub(crate) fn adopt(dev: &Dev, role: u32, num: u16, event_idx: bool) -> Result<Self> {
        let layout = Layout::new(num);
        let q = Self {
            ring: dev.adopt_dma(role, layout.size)?,
            layout,
            event_idx,
            avail_idx: AtomicU16::new(0),
            told: AtomicU16::new(0),
            last_used: AtomicU16::new(0),
        };
        let ai = q.avail()?.read_field(|a| &a.idx)?;
        let ui = q.used()?.read_field(|u| &u.idx)?;
        if ai.wrapping_sub(ui) > num {
            return Err(EIO);
        }
        q.avail_idx.store(ai, Ordering::Relaxed);
        q.told.store(ai, Ordering::Relaxed);
        q.last_used.store(ui, Ordering::Relaxed);
        Ok(q)
    }

    /// Keeps the queue's memory across a warm restart under `role` ([`Queue::adopt`]).
    pub(crate) fn keep(&self, role: u32) -> Result {
        self.ring.keep(role)
    }

    /// The heads in the available ring from the next used index to the available index,
    /// to `f` (which may refuse one: the error is returned): as many as the device has
    /// not given back, though not necessarily those (it may finish out of order); every
    /// chain it has not started yet is among them (it starts them in ring order). Only
    /// for a queue the instance took over, before it publishes anything.
    pub(crate) fn for_each_pending(&self, mut f: impl FnMut(u16) -> Result) -> Result {
        let mut i = self.last_used.load(Ordering::Relaxed);
        let end = self.avail_idx.load(Ordering::Relaxed);
        while i != end {
            f(self.avail_ring()?.read(self.layout.slot(i))?)?;
            i = i.wrapping_add(1);
        }
        Ok(())
    }

    /// Descriptor `i`; `EINVAL` past the end of the table.
    pub(crate) fn read_desc(&self, i: u16) -> Result<VirtqDesc> {
        self.descs()?.read(i.into())
    }

    /// Lets the device finish every chain published on a queue the instance took over
    /// (it is told once through `notify`, in case the previous instance never told it),
    /// waiting up to `wait_us`; then forgets their answers: the requests are issued
    /// again. `ETIMEDOUT` if the device does not finish in time.
    pub(crate) fn drain(&self, wait_us: u32, notify: impl FnOnce() -> Result) -> Result {
        use kernel::time::{Delta, Instant, Monotonic};
        let end = self.avail_idx.load(Ordering::Relaxed);
        fence(Ordering::SeqCst);
        notify()?;
        let start = Instant::<Monotonic>::now();
        while self.used()?.read_field(|u| &u.idx)? != end {
            if start.elapsed().as_micros_ceil() > i64::from(wait_us) {
                return Err(ETIMEDOUT);
            }
            kernel::time::delay::fsleep(Delta::from_micros(20));
        }
        fence(Ordering::Acquire);
        self.last_used.store(end, Ordering::Relaxed);
        Ok(())
    }

    /// The bus address (a legacy device takes the queue by it: the parts follow at the
    /// [`Layout`]'s offsets).
    pub(crate) fn dma(&self) -> u64 {
        self.ring.dma()
    }

    /// The bus addresses of the descriptor table, the available ring and the used ring
    /// (a modern device takes each).
    pub(crate) fn parts_dma(&self) -> (u64, u64, u64) {
        let base = self.ring.dma();
        let at = |off: usize| base.wrapping_add(off as u64);
        (at(0), at(self.layout.avail), at(self.layout.used))
    }

    /// Entries.
    pub(crate) fn num(&self) -> u16 {
        self.layout.num
    }

    /// The descriptor table.
    fn descs(&self) -> Result<DmaSlice<'_, VirtqDesc>> {
        self.ring.slice(0, self.layout.num.into())
    }

    /// The available ring's header.
    fn avail(&self) -> Result<DmaView<'_, AvailHeader>> {
        self.ring.view(self.layout.avail)
    }

    /// The available ring's entries.
    fn avail_ring(&self) -> Result<DmaSlice<'_, u16>> {
        self.ring
            .slice(self.layout.avail_ring, self.layout.num.into())
    }

    /// The used ring's header.
    fn used(&self) -> Result<DmaView<'_, UsedHeader>> {
        self.ring.view(self.layout.used)
    }

    /// The used ring's elements.
    fn used_ring(&self) -> Result<DmaSlice<'_, UsedElem>> {
        self.ring
            .slice(self.layout.used_ring, self.layout.num.into())
    }

    /// `used_event`: the driver's.
    fn used_event(&self) -> Result<DmaView<'_, u16>> {
        self.ring.view(self.layout.used_event)
    }

    /// `avail_event`: the device's.
    fn avail_event(&self) -> Result<DmaView<'_, u16>> {
        self.ring.view(self.layout.avail_event)
    }

    /// Asks the device to interrupt when it uses the next buffer (clearing the flag an
    /// adopted queue may have been left with, or damaged into). With `event_idx` that
    /// is one interrupt, at the used index after the last one looked at: call again
    /// after each walk of the used ring, and look once more after (the device may have
    /// passed the index before it was written).
    pub(crate) fn interrupts_on(&self) -> Result {
        if self.event_idx {
            let lu = self.last_used.load(Ordering::Relaxed);
            self.used_event()?.write(lu);
        }
        self.avail()?.write_field(|a| &a.flags, 0)
    }

    /// Asks the device not to interrupt when it uses buffers. Nothing with `event_idx`:
    /// the device interrupts once per [`Queue::interrupts_on`] anyway (a driver that
    /// polls does not negotiate it).
    pub(crate) fn no_interrupt(&self) -> Result {
        if self.event_idx {
            return Ok(());
        }
        self.avail()?
            .write_field(|a| &a.flags, AVAIL_F_NO_INTERRUPT)
    }

    /// Writes descriptor `i` (of a chain the device does not hold).
    pub(crate) fn write_desc(&self, i: u16, addr: u64, len: u32, flags: u16, next: u16) -> Result {
        let d = VirtqDesc {
            addr,
            len,
            flags,
            next,
        };
        self.descs()?.write(i.into(), d)
    }

    /// Sets the flags and the link of descriptor `i` (of a chain the device does not
    /// hold), keeping its buffer.
    pub(crate) fn link(&self, i: u16, flags: u16, next: u16) -> Result {
        let descs = self.descs()?;
        let d = descs.read(i.into())?;
        descs.write(i.into(), VirtqDesc { flags, next, ..d })
    }

    /// Publishes the chain starting at descriptor `head` in the available ring.
    pub(crate) fn publish(&self, head: u16) -> Result {
        let ai = self.avail_idx.load(Ordering::Relaxed);
        self.avail_ring()?.write(self.layout.slot(ai), head)?;
        // The device must see the slot before the index that publishes it.
        fence(Ordering::Release);
        self.avail()?.write_field(|a| &a.idx, ai.wrapping_add(1))?;
        self.avail_idx.store(ai.wrapping_add(1), Ordering::Relaxed);
        Ok(())
    }

    /// Whether the device asks to be told of the buffers published since the last call:
    /// with `event_idx` whether they pass the available index it named (`avail_event`),
    /// else whether it does not set [`USED_F_NO_NOTIFY`] (it works through the ring
    /// anyway). Calls are serialised with [`Queue::publish`] by the caller (its lock);
    /// the fence here orders the publication before the device's word is read, or a
    /// device about to stop is missed.
    pub(crate) fn needs_notify(&self) -> bool {
        fence(Ordering::SeqCst);
        if self.event_idx {
            let new = self.avail_idx.load(Ordering::Relaxed);
            let old = self.told.swap(new, Ordering::Relaxed);
            return self
                .avail_event()
                .map_or(true, |e| need_event(e.read(), new, old));
        }
        self.used()
            .and_then(|u| u.read_field(|u| &u.flags))
            .map_or(true, |f| f & USED_F_NO_NOTIFY == 0)
    }

    /// Whether the device has finished a chain not popped yet.
    pub(crate) fn has_used(&self) -> bool {
        let lu = self.last_used.load(Ordering::Relaxed);
        self.used()
            .and_then(|u| u.read_field(|u| &u.idx))
            .is_ok_and(|idx| idx != lu)
    }

    /// The head of the next chain the device has finished, if any.
    pub(crate) fn pop_used(&self) -> Result<Option<u32>> {
        let lu = self.last_used.load(Ordering::Relaxed);
        if self.used()?.read_field(|u| &u.idx)? == lu {
            return Ok(None);
        }
        // The element is valid once the index says so.
        fence(Ordering::Acquire);
        let id = self
            .used_ring()?
            .read_field(self.layout.slot(lu), |e| &e.id)?;
        self.last_used.store(lu.wrapping_add(1), Ordering::Relaxed);
        Ok(Some(id))
    }
}
