// SPDX-License-Identifier: GPL-2.0

//! Block callouts: what a `blk` implementation asks of its placeholder disk. They report
//! the capacity, move request data between the request's pages and the driver's
//! buffers or map the pages for the device (the one resource taken here, recorded in
//! the undo list and unmapped by the framework: `placeholders/blk/map.rs`), and report
//! finished requests.
//! Exported through `wrappers/callouts_exports.c`, declared for implementations in
//! `wrappers/callouts_api_blk.rs`. Only instances of class `blk` may call them; others
//! get `-EINVAL` and fail. A request or tag the calling instance does not hold (stale,
//! reported twice, forged) is not used and fails the instance (`misuse`).

use crate::abi;
use crate::abi_blk::{BlkRq, BlkSeg, BLK_SEGS_MAX};
use crate::instance::InstanceState;
use crate::placeholders::blk::map as blk_map;
use crate::placeholders::blk::{self, BlkDevice};
use core::mem::MaybeUninit;
use core::sync::atomic::Ordering;
use kernel::ffi::{c_int, c_void};
use kernel::prelude::*;

// SAFETY: the declaration matches the definition in `wrappers/blk_rq_copy.c`.
unsafe extern "C" {
    // `wrappers/blk_rq_copy.c`.
    // `rq` is a `struct request` (opaque here: bindgen's `request` is not FFI-safe as
    // a pointee).
    fn ndriver_rq_copy(rq: *mut c_void, buf: *mut c_void, len: u32, to_rq: bool) -> c_int;
}

/// The instance behind `inst` and its block placeholder, if it is a `blk` instance.
fn blk_of<'a>(inst: *mut abi::Instance) -> Option<(&'a InstanceState, &'a BlkDevice)> {
    // SAFETY: a callout's caller is the instance's code, which outlives the call.
    let st = unsafe { InstanceState::from_handle(inst) }?;
    match blk::of_instance(st) {
        Some(d) => Some((st, d)),
        None => {
            st.misuse(format_args!(
                "block callout from an instance that serves no disk"
            ));
            None
        }
    }
}

/// [`blk_of`], for a callout given request `rq`, which the instance must hold; else it
/// fails as a misuse (`what` names the callout for the log) and `None`.
fn blk_holding<'a>(
    inst: *mut abi::Instance,
    rq: *mut c_void,
    what: &str,
) -> Option<(&'a InstanceState, &'a BlkDevice)> {
    let (st, dev) = blk_of(inst)?;
    if !blk::holds(dev, st, rq.cast()) {
        st.misuse(format_args!(
            "{} a request it does not hold ({:p})",
            what, rq
        ));
        return None;
    }
    Some((st, dev))
}

/// The driver's room for a request's pieces: `max` entries at `segs`, possibly
/// uninitialised, of which no more than a request's pieces are ever written (and never
/// read). `None` for no room (the instance fails as a misuse; `what` names the callout).
fn seg_room<'a>(
    st: &InstanceState,
    segs: *mut BlkSeg,
    max: u32,
    what: &str,
) -> Option<&'a mut [MaybeUninit<BlkSeg>]> {
    if segs.is_null() || max == 0 {
        st.misuse(format_args!("{} into no room", what));
        return None;
    }
    let n = max.min(BLK_SEGS_MAX) as usize;
    // SAFETY: the driver's layer passes room for `max` entries (a bad pointer faults
    // inside its guarded call); as `MaybeUninit` they need no initialisation.
    Some(unsafe { core::slice::from_raw_parts_mut(segs.cast::<MaybeUninit<BlkSeg>>(), n) })
}

/// Reports the disk's capacity in 512-byte sectors. 0 or a negative errno.
pub(crate) extern "C" fn ndriver_blk_set_capacity(inst: *mut abi::Instance, sectors: u64) -> c_int {
    let Some((_, dev)) = blk_of(inst) else {
        return EINVAL.to_errno();
    };
    match blk::set_capacity(dev, sectors) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// Copies `len` bytes between request `rq` and the driver's buffer `buf`: into the
/// request when `to_rq` is 1. 0 or a negative errno.
pub(crate) extern "C" fn ndriver_blk_copy(
    inst: *mut abi::Instance,
    rq: *mut c_void,
    buf: *mut c_void,
    len: u32,
    to_rq: u32,
) -> c_int {
    let Some((st, dev)) = blk_holding(inst, rq, "ndriver_blk_copy with") else {
        return EINVAL.to_errno();
    };
    if buf.is_null() {
        st.misuse(format_args!("ndriver_blk_copy to or from a NULL buffer"));
        return EINVAL.to_errno();
    }
    // The driver's layer checks `buf`'s bounds (a bad one faults inside its guarded
    // call), and the copy checks `len` against the request.
    // SAFETY: `rq` is a started request this instance holds (checked above), its pages
    // stable until it ends; `buf` holds `len` bytes of the driver's memory.
    let r = unsafe { ndriver_rq_copy(rq, buf, len, to_rq != 0) };
    if r == 0 {
        dev.class.copied.fetch_add(1, Ordering::Relaxed);
    }
    r
}

/// Maps the data of request `rq` for the device and writes its pieces, in order, to
/// `segs` (room for `max`): their count, or a negative errno. See
/// `placeholders/blk/map.rs` for who unmaps it when.
pub(crate) extern "C" fn ndriver_blk_map(
    inst: *mut abi::Instance,
    rq: *mut c_void,
    segs: *mut BlkSeg,
    max: u32,
) -> c_int {
    let Some((st, dev)) = blk_holding(inst, rq, "ndriver_blk_map of") else {
        return EINVAL.to_errno();
    };
    let Some(out) = seg_room(st, segs, max, "ndriver_blk_map") else {
        return EINVAL.to_errno();
    };
    match blk_map::map(dev, st, rq.cast(), out) {
        Ok(n) => n as c_int,
        Err(e) => e.to_errno(),
    }
}

/// For an adopter (in `adopt`): the request with tag `tag` an older instance held and
/// had mapped, which the inherited device may still be working on: its description in
/// `*info` (`rq` NULL) and its pieces in `segs` (room for `max`): their count,
/// `-ENOENT` for none, or another negative errno.
pub(crate) extern "C" fn ndriver_blk_lent(
    inst: *mut abi::Instance,
    tag: u32,
    info: *mut BlkRq,
    segs: *mut BlkSeg,
    max: u32,
) -> c_int {
    let Some((st, dev)) = blk_of(inst) else {
        return EINVAL.to_errno();
    };
    if info.is_null() {
        st.misuse(format_args!("ndriver_blk_lent into no room"));
        return EINVAL.to_errno();
    }
    let Some(out) = seg_room(st, segs, max, "ndriver_blk_lent") else {
        return EINVAL.to_errno();
    };
    match blk_map::lent(dev, st, tag, out) {
        Ok((d, n)) => {
            // SAFETY: the driver's layer passes its own descriptor to fill.
            unsafe { info.write(d) };
            n as c_int
        }
        Err(e) => e.to_errno(),
    }
}

/// The device finished the request with tag `tag`. 0, or `-ENOENT` if the instance
/// holds no such request.
pub(crate) extern "C" fn ndriver_blk_done(inst: *mut abi::Instance, tag: u32) -> c_int {
    let Some((st, dev)) = blk_of(inst) else {
        return EINVAL.to_errno();
    };
    match blk::done(dev, st, tag) {
        Ok(()) => 0,
        Err(e) => {
            st.misuse(format_args!(
                "ndriver_blk_done of tag {} it does not hold (reported twice, stale or forged)",
                tag
            ));
            e.to_errno()
        }
    }
}
