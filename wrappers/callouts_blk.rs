// SPDX-License-Identifier: GPL-2.0

//! Block callouts: what a `blk` implementation asks of its placeholder disk. They take
//! no resource (nothing to undo): they report the capacity, move request data between
//! the request's pages and the driver's buffers, and report finished requests.
//! Exported through `wrappers/callouts_exports.c`, declared for implementations in
//! `wrappers/callouts_api_blk.rs`. Only instances of class `blk` may call them; others
//! get `-EINVAL`.

use crate::abi;
use crate::blk::{self, BlkDevice};
use crate::instance::InstanceState;
use kernel::ffi::{c_int, c_void};
use kernel::prelude::*;

unsafe extern "C" {
    // `wrappers/blk_rq_copy.c`.
    // `rq` is a `struct request` (opaque here: bindgen's `request` is not FFI-safe as
    // a pointee).
    fn ndriver_rq_copy(rq: *mut c_void, buf: *mut c_void, len: u32, to_rq: bool) -> c_int;
}

/// The instance behind `inst` and its block placeholder, if it is a `blk` instance.
fn blk_of<'a>(inst: *mut abi::Instance) -> Option<(&'a InstanceState, &'a BlkDevice)> {
    // SAFETY: the driver passes the handle of its live instance.
    let st = unsafe { InstanceState::from_handle(inst) };
    match blk::of_instance(st) {
        Some(d) => Some((st, d)),
        None => {
            pr_warn!(
                "{}: block callout from a non-block instance\n",
                st.impl_name
            );
            None
        }
    }
}

/// Reports the disk's capacity in 512-byte sectors. 0 or a negative errno.
#[unsafe(no_mangle)]
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
#[unsafe(no_mangle)]
pub(crate) extern "C" fn ndriver_blk_copy(
    inst: *mut abi::Instance,
    rq: *mut c_void,
    buf: *mut c_void,
    len: u32,
    to_rq: u32,
) -> c_int {
    if blk_of(inst).is_none() || rq.is_null() || buf.is_null() {
        return EINVAL.to_errno();
    }
    // SAFETY: `rq` is the request the framework passed to the calling entry point
    // (started, its pages stable until it ends); `buf` holds `len` bytes of the
    // driver's memory (the driver's layer checks the bounds).
    unsafe { ndriver_rq_copy(rq, buf, len, to_rq != 0) }
}

/// The device finished the request with tag `tag`. 0, or `-ENOENT` if the instance
/// holds no such request.
#[unsafe(no_mangle)]
pub(crate) extern "C" fn ndriver_blk_done(inst: *mut abi::Instance, tag: u32) -> c_int {
    let Some((st, dev)) = blk_of(inst) else {
        return EINVAL.to_errno();
    };
    match blk::done(dev, st, tag) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}
