// SPDX-License-Identifier: GPL-2.0

//! The block callouts on [`Dev`]: the disk's capacity, copying a request's data or
//! mapping it for the device, giving a finished request back ([`Dev::done`]), and the device reset the undo list performs
//! if the instance dies ([`ResetOnUndo`]). Part of `blk_driver.rs`.

use super::{Op, Request};
use crate::abi::Instance;
use crate::abi_blk::{BlkRq, BlkSeg};
use crate::callouts_api_blk as bapi;
use crate::driver_dev::{Bar, BarWindow, Dev, DmaBuffers, IoBar};
use core::mem::MaybeUninit;
use kernel::ffi::c_void;
use kernel::io::register::FixedRegister;
use kernel::prelude::*;

#[cfg(doc)]
use super::BlkDriver;

/// Whether register `R` lies naturally aligned inside the first `size` bytes.
const fn reg_inside<R: FixedRegister>(size: usize) -> bool {
    let width = core::mem::size_of::<R::Storage>();
    R::OFFSET % width == 0 && R::OFFSET + width <= size
}

impl Dev {
    /// Has the undo list write register value `value` of `io` if the instance dies: the
    /// device reset that must come before its DMA buffers and register mapping are given
    /// back. `R` is a register of `kernel::io::register!` at a fixed offset, 8, 16 or 32
    /// bits wide; its offset is checked against `SIZE` when the driver is built. Dropping
    /// the result (an orderly stop) drops the record without writing; drop it before `io`
    /// (the framework refuses to unmap a BAR a recorded reset writes into).
    pub(crate) fn reset_on_undo<const SIZE: usize, R>(
        &self,
        io: &IoBar<SIZE>,
        value: R,
    ) -> Result<ResetOnUndo>
    where
        R: FixedRegister,
        R::Storage: Into<u32>,
    {
        kernel::build_assert::const_assert!(
            reg_inside::<R>(SIZE),
            "a reset register outside the BAR or misaligned"
        );
        self.record_reset(io.addr(), R::OFFSET, value)
    }

    /// [`Dev::reset_on_undo`] for register `R` of `win`, a window of memory BAR `bar`
    /// ([`Bar::window`]): `R`'s offset is checked against the window's size `W` when
    /// the driver is built, the window against `bar` (`EINVAL` for another BAR's).
    pub(crate) fn reset_on_undo_in<const SIZE: usize, const W: usize, R>(
        &self,
        bar: &Bar<SIZE>,
        win: &BarWindow<'_, W>,
        value: R,
    ) -> Result<ResetOnUndo>
    where
        R: FixedRegister,
        R::Storage: Into<u32>,
    {
        kernel::build_assert::const_assert!(
            reg_inside::<R>(W),
            "a reset register outside the window or misaligned"
        );
        if win.bar_addr() != bar.addr() {
            return Err(EINVAL);
        }
        let offset = win.offset().checked_add(R::OFFSET).ok_or(EINVAL)?;
        self.record_reset(bar.addr(), offset, value)
    }

    /// Records the write of `value` at `offset` of the BAR mapped at `base` (the
    /// callout checks the mapping is this instance's and the offset inside its BAR).
    fn record_reset<R>(&self, base: *mut c_void, offset: usize, value: R) -> Result<ResetOnUndo>
    where
        R: FixedRegister,
        R::Storage: Into<u32>,
    {
        let width = core::mem::size_of::<R::Storage>();
        let offset = u32::try_from(offset).map_err(|_| EINVAL)?;
        let raw: u32 = <R::Storage as From<R>>::from(value).into();
        // SAFETY: `self` is the live instance this entry point was called for; the callout
        // checks that `base` is a mapping it holds.
        kernel::error::to_result(unsafe {
            bapi::ndriver_io_reset_on_undo(self.handle(), base, offset, raw, width as u32)
        })?;
        // INVARIANT: the callout recorded the reset for this instance at `base` + `offset`.
        Ok(ResetOnUndo {
            inst: self.handle(),
            base,
            offset,
        })
    }

    /// The reset record the previous instance kept under `role` ([`ResetOnUndo::keep`]),
    /// which must be one of `io` (the BAR this instance adopted from it): the reset then
    /// runs if this instance dies, as the dead one's would have. Only in `adopt`.
    pub(crate) fn adopt_reset_on_undo<const SIZE: usize>(
        &self,
        io: &IoBar<SIZE>,
        role: u32,
    ) -> Result<ResetOnUndo> {
        self.adopt_reset_of(io.addr(), role)
    }

    /// [`Dev::adopt_reset_on_undo`] for a record in memory BAR `bar`
    /// ([`Dev::reset_on_undo_in`]).
    pub(crate) fn adopt_reset_on_undo_in<const SIZE: usize>(
        &self,
        bar: &Bar<SIZE>,
        role: u32,
    ) -> Result<ResetOnUndo> {
        self.adopt_reset_of(bar.addr(), role)
    }

    /// The reset record kept under `role`, which must write into the mapping at `base`.
    fn adopt_reset_of(&self, base: *mut c_void, role: u32) -> Result<ResetOnUndo> {
        let a = self.adopt_raw(crate::abi::KEEP_RESET, role)?;
        let offset = u32::try_from(a.len).map_err(|_| EINVAL)?;
        // INVARIANT: the callout moved the kept record, of the mapping at `a.cpu` and
        // register `offset`, into this instance's undo list.
        let reset = ResetOnUndo {
            inst: self.handle(),
            base: a.cpu as usize as *mut c_void,
            offset,
        };
        if reset.base != base {
            // Of another mapping: dropping `reset` gives the record up unperformed, and
            // the adoption fails (the dead instance's own reset is in that BAR).
            return Err(EINVAL);
        }
        Ok(reset)
    }

    /// Reports the disk's size in 512-byte sectors (from `probe`).
    pub(crate) fn set_capacity(&self, sectors: u64) -> Result {
        // SAFETY: `self` is the live instance this entry point was called for.
        kernel::error::to_result(unsafe { bapi::ndriver_blk_set_capacity(self.handle(), sectors) })
    }

    /// Copies the data of write request `rq` to the start of buffer `i` of `bufs` (its
    /// bounce buffer); `EINVAL` past the end or if the data is longer than a buffer.
    pub(crate) fn copy_from_request<const SIZE: usize>(
        &self,
        rq: &Request,
        bufs: &DmaBuffers<SIZE>,
        i: usize,
    ) -> Result {
        self.copy(rq, bufs, i, 0)
    }

    /// Copies the data for read request `rq` from the start of buffer `i` of `bufs` into
    /// the request; `EINVAL` past the end or if the data is longer than a buffer.
    pub(crate) fn copy_to_request<const SIZE: usize>(
        &self,
        rq: &Request,
        bufs: &DmaBuffers<SIZE>,
        i: usize,
    ) -> Result {
        self.copy(rq, bufs, i, 1)
    }

    fn copy<const SIZE: usize>(
        &self,
        rq: &Request,
        bufs: &DmaBuffers<SIZE>,
        i: usize,
        to_rq: u32,
    ) -> Result {
        let data = bufs.range(i, rq.bytes() as usize).ok_or(EINVAL)?;
        // SAFETY: the live instance of this call; `rq.rq` names a request issued to it
        // (`Request`'s invariant; the callout checks it still holds it); `data` is the first
        // `rq.bytes()` bytes of buffer `i` of `bufs` (checked by `range`).
        kernel::error::to_result(unsafe {
            bapi::ndriver_blk_copy(self.handle(), rq.rq, data.cast(), rq.bytes(), to_rq)
        })
    }

    /// Maps the data of `rq` (a read or a write) for the device, in place: no copy. Its
    /// pieces, in order, are written into `room` and returned. The framework unmaps it
    /// (the driver has nothing to release) once [`BlkDriver::complete`] returns for
    /// `rq`, or when `queue_rq` refuses (`EBUSY`) or fails it, or when the instance dies;
    /// so the device must be done with the pieces by then. `EBUSY` if an older instance's
    /// mapping of it is not undone yet (refuse the request for now).
    pub(crate) fn map_request<'a>(
        &self,
        rq: &Request,
        room: &'a mut SegRoom,
    ) -> Result<&'a [BlkSeg]> {
        // SAFETY: the live instance of this call; `rq.rq` names a request issued to it
        // (`Request`'s invariant; the callout checks it still holds it); `room` has space
        // for `SegRoom::LEN` entries.
        let n = unsafe {
            bapi::ndriver_blk_map(self.handle(), rq.rq, room.as_mut_ptr(), SegRoom::LEN as u32)
        };
        kernel::error::to_result(n)?;
        // SAFETY: `ndriver_blk_map` returned `n >= 0`: it wrote the first `n` entries of
        // `room` just now.
        unsafe { room.written(n as usize) }
    }

    /// Only in [`BlkDriver::adopt`]: the request with tag `tag` that the previous
    /// instance held and had mapped, which the device may still be reading or writing
    /// (an adopter checks what it inherits against it), its pieces in the first entries
    /// of `segs`. `ENOENT` if it left no mapped request under that tag.
    pub(crate) fn lent_request<'a>(
        &self,
        tag: u32,
        room: &'a mut SegRoom,
    ) -> Result<LentRequest<'a>> {
        let mut d = BlkRq {
            rq: core::ptr::null_mut(),
            tag: 0,
            op: 0,
            sector: 0,
            bytes: 0,
            reserved: 0,
        };
        // SAFETY: the live instance of this call; `d` is ours to fill; `room` has space
        // for `SegRoom::LEN` entries.
        let n = unsafe {
            bapi::ndriver_blk_lent(
                self.handle(),
                tag,
                &mut d,
                room.as_mut_ptr(),
                SegRoom::LEN as u32,
            )
        };
        kernel::error::to_result(n)?;
        let op = match Op::from_abi(d.op) {
            Some(op @ (Op::Read | Op::Write)) => op,
            _ => return Err(EINVAL),
        };
        Ok(LentRequest {
            op,
            sector: d.sector,
            bytes: d.bytes,
            // SAFETY: `ndriver_blk_lent` returned `n >= 0`: it wrote the first `n`
            // entries of `room` just now.
            segs: unsafe { room.written(n as usize) }?,
        })
    }

    /// The device finished `rq`: gives it back to the framework, which calls
    /// [`BlkDriver::complete`] with it (possibly before this returns, so call it
    /// outside the driver's lock). `ENOENT` (and a failed instance) if the framework
    /// does not count `rq` as this instance's: the request stays with the framework,
    /// which re-issues it.
    pub(crate) fn done(&self, rq: Request) -> Result {
        // SAFETY: `self` is the live instance this entry point was called for; the tag
        // is checked by the callout against the requests the instance holds.
        kernel::error::to_result(unsafe { bapi::ndriver_blk_done(self.handle(), rq.tag) })
    }
}

/// The device reset the undo list performs if the instance dies. Like the handles of
/// `driver_dev.rs`, dropping it (an orderly `remove`) gives the record back through
/// the callouts; after a fault the undo list performs the reset instead.
///
/// # Invariants
///
/// The instance `inst` holds a reset record at `base + offset`, dropped (not performed)
/// when this value drops.
pub(crate) struct ResetOnUndo {
    inst: *mut Instance,
    base: *mut c_void,
    offset: u32,
}
// SAFETY: the record is an instance pointer and a mapping address; the callout `drop`
// calls is safe from any context and thread.
unsafe impl Send for ResetOnUndo {}
// SAFETY: a `&ResetOnUndo` gives access to nothing (no methods read or write through it), so
// sharing it between threads cannot race.
unsafe impl Sync for ResetOnUndo {}
impl ResetOnUndo {
    /// Where in its BAR the recorded write goes.
    pub(crate) fn offset(&self) -> usize {
        self.offset as usize
    }

    /// Leaves the record in the undo list, performed when the instance is undone (an
    /// adopter that finds the record doubtful and fails: the framework performs it
    /// after turning bus mastering off). Not performed or dropped before.
    pub(crate) fn leave_to_undo(self) {
        core::mem::forget(self);
    }

    /// Keeps the record across a warm restart under `role`
    /// ([`Dev::adopt_reset_on_undo`]): the device runs on, and whoever holds it last
    /// resets it. Keep the BAR it writes into as well.
    pub(crate) fn keep(&self, role: u32) -> Result {
        let obj = self.base.wrapping_byte_add(self.offset as usize);
        // SAFETY: the record belongs to this live instance (type invariant).
        kernel::error::to_result(unsafe {
            crate::callouts_api::ndriver_keep(self.inst, crate::abi::KEEP_RESET, obj, role)
        })
    }
}
impl Drop for ResetOnUndo {
    fn drop(&mut self) {
        // SAFETY: the record belongs to this live instance.
        unsafe { bapi::ndriver_io_reset_cancel(self.inst, self.base, self.offset) };
    }
}

/// Room for the pieces of one request's mapping ([`Dev::map_request`],
/// [`Dev::lent_request`]): as many as a request can have, left uninitialised until a
/// callout writes them (filling 1 KiB per request with zeros first was a measurable
/// part of a request's cost: `Documentation/evaluation.rst`, "The disk under icount").
pub(crate) struct SegRoom {
    segs: [MaybeUninit<BlkSeg>; SegRoom::LEN],
}

impl SegRoom {
    /// The most pieces a request has.
    pub(crate) const LEN: usize = crate::abi_blk::BLK_SEGS_MAX as usize;

    /// Empty room.
    pub(crate) const fn new() -> Self {
        Self {
            segs: [const { MaybeUninit::uninit() }; SegRoom::LEN],
        }
    }

    /// Where a callout writes the pieces (`LEN` entries, only written).
    fn as_mut_ptr(&mut self) -> *mut BlkSeg {
        self.segs.as_mut_ptr().cast()
    }

    /// The first `n` entries; `EINVAL` for more than there is room for.
    ///
    /// # Safety
    ///
    /// A callout wrote the first `n` entries since the room was made or last passed to
    /// a callout: it reported `n` from `ndriver_blk_map` or `ndriver_blk_lent`, which
    /// write exactly the first N entries of the room they are given on success.
    unsafe fn written(&self, n: usize) -> Result<&[BlkSeg]> {
        if n > Self::LEN {
            return Err(EINVAL);
        }
        // SAFETY: the first `n <= LEN` entries are initialised (the caller's contract);
        // `MaybeUninit<BlkSeg>` has `BlkSeg`'s layout.
        Ok(unsafe { core::slice::from_raw_parts(self.segs.as_ptr().cast::<BlkSeg>(), n) })
    }
}

/// A request a dead instance left mapped on the device, as [`Dev::lent_request`]
/// describes it to the adopter.
pub(crate) struct LentRequest<'a> {
    /// What it asks for (a read or a write).
    pub(crate) op: Op,
    /// First 512-byte sector.
    pub(crate) sector: u64,
    /// Data length in bytes.
    pub(crate) bytes: u32,
    /// Its pieces as mapped, in order.
    pub(crate) segs: &'a [BlkSeg],
}
