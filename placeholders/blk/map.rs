// SPDX-License-Identifier: GPL-2.0

//! A block request's data mapped for the device (`ndriver_blk_map`): the request's own
//! pages, piece by piece (scatter-gather), with no bounce buffer between them and the
//! device.
//!
//! The mapping lives in the request's PDU (its scatterlist and the pieces handed to the
//! driver) and is recorded in the mapping instance's undo list (`rq_mapping`), so it is
//! unmapped exactly once, and always before the request is ended or issued again: by
//! the framework when a live instance gives the request back (its `complete` returned,
//! or `queue_rq` refused or failed it: [`unmap_held`]); by the undo list when the
//! instance dies and the restart is cold (recorded resets run first, so the device is
//! stopped before its target pages are unmapped); or, on a warm restart, after the
//! adopter found the device done with it (the kept set's lent mappings,
//! `device/warm.rs`). Requests the dead instance held are issued again only after that
//! (`Blk::redirected`).

use super::mq::{issued_rq, issued_to};
use super::{describe, pdu, BlkDevice};
use crate::abi;
use crate::abi_blk::{BlkRq, BlkSeg, BLK_OP_READ, BLK_OP_WRITE, BLK_SEGS_MAX};
use crate::instance::{InstanceState, ServedDevice};
use crate::undo::action_list::{Action, Kind};
use crate::wrappers::callouts_device::dma_dev;
use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use kernel::bindings;
use kernel::ffi::{c_int, c_uint, c_void};
use kernel::prelude::*;
use kernel::types::Opaque;

const SEGS: usize = BLK_SEGS_MAX as usize;

// SAFETY: the declaration matches the definition in `wrappers/blk_rq_map.c`.
unsafe extern "C" {
    // `dev` is a `struct device`, `rq` a `struct request` (opaque here: bindgen's types
    // are not FFI-safe as pointees).
    fn ndriver_rq_dma_map(
        dev: *mut c_void,
        rq: *mut c_void,
        sg: *mut bindings::scatterlist,
        nsg: c_uint,
        dir: bindings::dma_data_direction,
        out: *mut BlkSeg,
        max: c_uint,
        nents: *mut c_uint,
    ) -> c_int;
}

/// A request's mapping, in its PDU.
///
/// # Invariants
///
/// `by` is 0, or the generation of the instance whose undo list (or, for a dead
/// instance restarted warm, whose device's kept set) holds this request's
/// `rq_mapping` action, which sets it and whose undo clears it; while it is not 0, `sg`
/// is the mapped scatterlist and the first `count` entries of `segs` are the pieces it
/// was mapped as, unchanged until the undo.
pub(crate) struct RqMap {
    by: AtomicU64,
    count: AtomicU32,
    segs: Opaque<[BlkSeg; SEGS]>,
    sg: Opaque<[bindings::scatterlist; SEGS]>,
}

impl RqMap {
    /// Not mapped.
    pub(crate) const fn new() -> Self {
        // INVARIANT: `by` is 0.
        Self {
            by: AtomicU64::new(0),
            count: AtomicU32::new(0),
            segs: Opaque::uninit(),
            sg: Opaque::uninit(),
        }
    }

    /// The pieces while mapped (`by` not 0).
    fn segs(&self) -> &[BlkSeg] {
        let n = (self.count.load(Ordering::Acquire) as usize).min(SEGS);
        // SAFETY: the first `count` entries were written by the mapping before `count`
        // was stored (type invariant) and do not change until its undo.
        unsafe { core::slice::from_raw_parts(self.segs.get().cast::<BlkSeg>(), n) }
    }
}

/// Undo of [`map`]: unmaps the request's data.
///
/// # Safety
///
/// `a` was recorded by [`map`] and not undone yet; the device cannot reach the pages
/// any more (reset, bus mastering off, or done with them).
unsafe fn undo_rq_map(a: &Action) {
    let rq = a.obj as *mut bindings::request;
    // SAFETY: `a.obj` is a request of a live placeholder's tag set (requests live as
    // long as the set, which outlives every instance of the device).
    let m = &unsafe { pdu(rq) }.map;
    // SAFETY: `a.ctx` is the function, `a.arg` and `a.aux` the entry count and direction
    // the scatterlist was mapped with.
    unsafe {
        bindings::dma_unmap_sg_attrs(
            dma_dev(a.ctx as *mut bindings::pci_dev),
            m.sg.get().cast(),
            a.arg as c_int,
            bindings::dma_data_direction(a.aux as _),
            0,
        )
    };
    // INVARIANT: the action is gone.
    m.by.store(0, Ordering::Release);
}

/// Maps the data of request `rq`, which instance `st` of `dev` holds (checked by the
/// caller), for the device's DMA and copies its pieces into `out`: their count.
///
/// Refused as a misuse (`EINVAL`, the instance fails): a flush (no data), a request the
/// instance reported done already or mapped already, or an instance with no device
/// reset recorded (`ndriver_io_reset_on_undo`): without one, a cold restart could only
/// turn bus mastering off, and a device that took a request before that may still
/// finish it into pages unmapped and given back. A request an older instance's mapping
/// still covers, or no room to map it now (bounce buffers or memory for the record),
/// waits (`EBUSY`: blk-mq dispatches it again). More pieces than `out` holds is `E2BIG`,
/// nothing mapped.
pub(crate) fn map(
    dev: &BlkDevice,
    st: &InstanceState,
    rq: *mut bindings::request,
    out: &mut [MaybeUninit<BlkSeg>],
) -> Result<usize> {
    let p = dev.pci_dev();
    if p.is_null() {
        return Err(ENODEV);
    }
    // SAFETY: a request of the tag set the instance holds (the caller checked), so
    // started and not ended.
    let op = unsafe { describe(rq) }.map(|d| d.op);
    let dir = match op {
        Some(BLK_OP_READ) => abi::DMA_FROM_DEVICE,
        Some(BLK_OP_WRITE) => abi::DMA_TO_DEVICE,
        _ => {
            st.misuse(format_args!("ndriver_blk_map of a request without data"));
            return Err(EINVAL);
        }
    };
    // SAFETY: a request of the tag set the instance holds (the caller checked).
    let m = &unsafe { pdu(rq) }.map;
    let max = out.len().min(SEGS) as c_uint;
    // Checked, mapped and recorded under one hold of the list's lock, which
    // `unmap_held` takes too: a `complete` of the request on another CPU either runs
    // before (and the request is no longer `ISSUED` here) or finds the mapping.
    let mut list = st.undo.lock();
    let why = if !issued_to(rq, st.generation) {
        Some("of a request it reported done")
    } else if m.by.load(Ordering::Acquire) == st.generation {
        Some("of a request it mapped already")
    } else if !list.has(Kind::Reset) {
        Some("with no device reset recorded for its undo")
    } else {
        None
    };
    if let Some(why) = why {
        drop(list);
        st.misuse(format_args!("ndriver_blk_map {}", why));
        return Err(EINVAL);
    }
    if m.by.load(Ordering::Acquire) != 0 {
        return Err(EBUSY);
    }
    let starved = || {
        dev.class.map_starved.store(true, Ordering::Release);
        EBUSY
    };
    // Room first, so a mapping is never left unrecorded.
    list.reserve_one().map_err(|_| starved())?;
    let mut nents: c_uint = 0;
    // `rq`'s pages stay put until it ends (after this mapping's undo); its PDU's `sg` and
    // `segs` are used by no one else while `by` is 0 and the instance holds it (checked
    // under the lock every mapping and unmapping of it takes).
    // SAFETY: `p` is the attached function, `rq` a started request the instance holds.
    let n = unsafe {
        ndriver_rq_dma_map(
            dma_dev(p).cast(),
            rq.cast(),
            m.sg.get().cast(),
            SEGS as c_uint,
            bindings::dma_data_direction(dir as _),
            m.segs.get().cast(),
            max,
            &mut nents,
        )
    };
    if n < 0 {
        let e = Error::from_errno(n);
        // Out of mapping space (swiotlb, IOMMU): try again once requests completed.
        return Err(if e == ENOMEM { starved() } else { e });
    }
    let action = Action {
        kind: Kind::RqMapping,
        obj: rq as usize,
        arg: nents as usize,
        aux: dir as usize,
        ctx: p as usize,
        depends_on: 0,
        kept: None,
        undo: undo_rq_map,
    };
    if list.record(action).is_err() {
        drop(list);
        // SAFETY: mapped just now and recorded nowhere; the device was not told.
        unsafe { undo_rq_map(&action) };
        return Err(starved());
    }
    m.count.store(n as u32, Ordering::Release);
    // INVARIANT: recorded in `st`'s list; `sg`, `segs` and `count` written.
    m.by.store(st.generation, Ordering::Release);
    drop(list);
    dev.class.mapped.fetch_add(1, Ordering::Relaxed);
    copy_segs(m.segs(), out)
}

/// Whether instance generation `gen` mapped `rq`'s data and the mapping is live.
pub(crate) fn mapped_by(rq: *mut bindings::request, gen: u64) -> bool {
    // SAFETY: a request of the tag set (the caller's).
    unsafe { pdu(rq) }.map.by.load(Ordering::Acquire) == gen
}

/// Copies `segs` to the start of `out` (written, never read): their count, or `E2BIG`
/// (nothing written).
fn copy_segs(segs: &[BlkSeg], out: &mut [MaybeUninit<BlkSeg>]) -> Result<usize> {
    if segs.len() > out.len() {
        return Err(E2BIG);
    }
    for (o, s) in out.iter_mut().zip(segs) {
        o.write(*s);
    }
    Ok(segs.len())
}

/// Unmaps the data of `rq` if instance `st` mapped it: the instance gives the request
/// back alive (its `complete` returned, or `queue_rq` did not take it), before the
/// request is ended or dispatched again.
pub(crate) fn unmap_held(st: &InstanceState, rq: *mut bindings::request) {
    // SAFETY: a request of the tag set (the caller's).
    let m = &unsafe { pdu(rq) }.map;
    // Under the lock `map` holds from its checks to `by`'s store.
    let mut list = st.undo.lock();
    if m.by.load(Ordering::Acquire) != st.generation {
        return;
    }
    let a = list.forget(Kind::RqMapping, rq as usize);
    drop(list);
    if let Some(a) = a {
        // SAFETY: recorded by `map` and now removed, so this is its only undo; the
        // instance gave the request back, so its device is done with the pages.
        unsafe { (a.undo)(&a) };
    }
}

/// For a warm restart's adopter `st` (in `adopt`): the request with tag `tag` an older
/// instance holds and had mapped, which the device it inherits may still be reading or
/// writing: its description (`rq` NULL: the adopter does not hold it) and its pieces as
/// mapped, copied into `out` (their count). `ENOENT` if no older instance holds a
/// request of that tag with its data mapped; `E2BIG` if `out` is too short.
pub(crate) fn lent(
    dev: &BlkDevice,
    st: &InstanceState,
    tag: u32,
    out: &mut [MaybeUninit<BlkSeg>],
) -> Result<(BlkRq, usize)> {
    if !st.adopting.load(Ordering::Acquire) {
        st.misuse(format_args!("ndriver_blk_lent outside adopt"));
        return Err(EINVAL);
    }
    let (rq, gen) = issued_rq(dev, tag).ok_or(ENOENT)?;
    if gen >= st.generation {
        return Err(ENOENT);
    }
    // `issued_rq`'s section has ended, but during `adopt` nothing moves a dead instance's
    // requests: the request stays in flight, its fields stable until it is issued again,
    // after this adoption.
    // SAFETY: a request of the tag set, issued to a dead instance and not finished.
    let m = &unsafe { pdu(rq) }.map;
    if m.by.load(Ordering::Acquire) != gen {
        return Err(ENOENT);
    }
    // SAFETY: the same request, issued to the dead instance and not finished, so
    // started and not ended: its fields are stable.
    let mut d = unsafe { describe(rq) }.ok_or(ENOENT)?;
    d.rq = core::ptr::null_mut();
    Ok((d, copy_segs(m.segs(), out)?))
}
