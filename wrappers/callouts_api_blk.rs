// SPDX-License-Identifier: GPL-2.0

//! The implementation side of the `blk` class's callouts (`wrappers/callouts_blk.rs`)
//! and of the device-reset callout (`wrappers/callouts_reset.rs`). Compiled into each
//! block implementation module with `#[path]`, next to `callouts_api.rs`.

// Each implementation uses only the calls it needs.
#![allow(dead_code)]

use crate::abi::Instance;
use kernel::ffi::{c_int, c_void};

unsafe extern "C" {
    /// Reports the disk's size in 512-byte sectors (from `probe`); 0 or a negative
    /// errno (`-EINVAL`: the device changed size under a disk the kernel has open).
    pub(crate) fn ndriver_blk_set_capacity(inst: *mut Instance, sectors: u64) -> c_int;
    /// Copies `len` bytes between request `rq` (from a `BlkRq`) and `buf`: into the
    /// request when `to_rq` is 1, out of it when 0. 0 or a negative errno.
    pub(crate) fn ndriver_blk_copy(
        inst: *mut Instance,
        rq: *mut c_void,
        buf: *mut c_void,
        len: u32,
        to_rq: u32,
    ) -> c_int;
    /// Maps the data of request `rq` (from a `BlkRq`; a read or a write) for the device and
    /// writes its pieces in order to `segs` (room for `max`, at most `BLK_SEGS_MAX` are
    /// used): their count N, or a negative errno (`-EBUSY`: try again later). `segs` may
    /// be uninitialised: it is only written, and on success exactly its first N entries
    /// are. Mapped until `complete` returns for it, or `queue_rq` refuses or fails it
    /// (the framework unmaps it then), or the instance dies.
    pub(crate) fn ndriver_blk_map(
        inst: *mut Instance,
        rq: *mut c_void,
        segs: *mut crate::abi_blk::BlkSeg,
        max: u32,
    ) -> c_int;
    /// Only in `adopt`: the request with tag `tag` the previous instance held and had
    /// mapped, which it may have left on the device: its description in `*info` (`rq`
    /// NULL) and its pieces in `segs` (room for `max`; may be uninitialised, only
    /// written): their count N, exactly the first N entries written, `-ENOENT` if it
    /// left none under that tag, or another negative errno.
    pub(crate) fn ndriver_blk_lent(
        inst: *mut Instance,
        tag: u32,
        info: *mut crate::abi_blk::BlkRq,
        segs: *mut crate::abi_blk::BlkSeg,
        max: u32,
    ) -> c_int;
    /// The device finished the request with tag `tag`: the framework calls `complete`
    /// for it. 0, or `-ENOENT` if this instance holds no such request.
    pub(crate) fn ndriver_blk_done(inst: *mut Instance, tag: u32) -> c_int;
    /// Records a register write the undo list makes if the instance dies before
    /// `ndriver_io_reset_cancel`: `value` written with `width` (1, 2 or 4) bytes at
    /// `io + offset` (a mapping from `ndriver_pci_iomap`). A device reset that runs
    /// before the DMA buffers and the mapping are given back. 0 or a negative errno.
    pub(crate) fn ndriver_io_reset_on_undo(
        inst: *mut Instance,
        io: *mut c_void,
        offset: u32,
        value: u32,
        width: u32,
    ) -> c_int;
    /// Drops that record (an orderly stop resets the device itself).
    pub(crate) fn ndriver_io_reset_cancel(inst: *mut Instance, io: *mut c_void, offset: u32);
}
