// SPDX-License-Identifier: GPL-2.0

//! The `blk` class at the module boundary: the guarded block device's entry points and
//! the request descriptor they receive. Compiled into `ndriver.ko` and into each block
//! implementation module with `#[path]`, next to `abi.rs` (whose [`ImplDesc`] carries a
//! [`BlkOps`] as its `ops` for class `"blk"`).
//!
//! [`ImplDesc`]: crate::abi::ImplDesc

// Both sides compile this file; each uses only its part.
#![allow(dead_code)]

use crate::abi::Instance;
use kernel::ffi::{c_int, c_void};

/// [`BlkRq::op`]: read `bytes` from `sector` into the request's pages.
pub(crate) const BLK_OP_READ: u32 = 0;
/// [`BlkRq::op`]: write the request's pages to `sector`.
pub(crate) const BLK_OP_WRITE: u32 = 1;
/// [`BlkRq::op`]: make earlier completed writes durable (no data).
pub(crate) const BLK_OP_FLUSH: u32 = 2;

/// Largest request the framework passes (`max_hw_sectors`), in bytes: a 128 KiB read
/// is one request, as with the C driver.
pub(crate) const BLK_MAX_BYTES: u32 = 256 * 1024;
/// Tags of the placeholder's tag set: `BlkRq::tag` is below this.
pub(crate) const BLK_QUEUE_DEPTH: u32 = 128;
/// Most pieces of memory a request's data lies in (`max_segments`): what
/// `ndriver_blk_map` may hand back for one request.
pub(crate) const BLK_SEGS_MAX: u32 = 64;

/// One piece of a request's data mapped for the device (`ndriver_blk_map`): `len`
/// bytes at bus address `addr`. In the request's order.
#[repr(C)]
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub(crate) struct BlkSeg {
    /// Bus address.
    pub(crate) addr: u64,
    /// Length in bytes (not 0).
    pub(crate) len: u32,
    /// Zero.
    pub(crate) reserved: u32,
}
const _: () = assert!(core::mem::size_of::<BlkSeg>() == 16);

/// `complete`'s answer: the device did the request.
pub(crate) const BLK_DONE_OK: i64 = 0;
/// `complete`'s answer: the device reported an I/O error.
pub(crate) const BLK_DONE_IOERR: i64 = 1;
/// `complete`'s answer: the device does not support the request.
pub(crate) const BLK_DONE_UNSUPP: i64 = 2;

/// One block request as an implementation sees it. Lives as long as the entry-point
/// call it is passed to; `rq` names the request to [`ndriver_blk_copy`],
/// `ndriver_blk_map` and `ndriver_blk_done` (see `wrappers/callouts_api_blk.rs`).
///
/// [`ndriver_blk_copy`]: ../../wrappers/callouts_api_blk.rs
#[repr(C)]
pub(crate) struct BlkRq {
    /// The framework's request (opaque).
    pub(crate) rq: *mut c_void,
    /// The blk-mq tag: unique among the requests an instance holds, below
    /// [`BLK_QUEUE_DEPTH`].
    pub(crate) tag: u32,
    /// `BLK_OP_*`.
    pub(crate) op: u32,
    /// First 512-byte sector.
    pub(crate) sector: u64,
    /// Data length in bytes (0 for a flush), at most [`BLK_MAX_BYTES`].
    pub(crate) bytes: u32,
    /// Zero.
    pub(crate) reserved: u32,
}

/// Entry points of the `blk` class. Every one is called through a guard; none has a
/// caller in process context waiting for it, so any failure (exception, overrun,
/// negative return other than the documented ones) marks the instance failed and the
/// device is recovered from a work item. Requests the dead instance held are then
/// re-issued to the new one.
#[repr(C)]
pub(crate) struct BlkOps {
    /// Starts the instance: takes the device, resets it, reports the capacity with
    /// `ndriver_blk_set_capacity`. Process context.
    pub(crate) probe: unsafe extern "C" fn(inst: *mut Instance) -> c_int,
    /// Takes request `rq`; `last` is 0 when more requests follow at once (the device
    /// may be told later, in `commit_rqs`). 0: taken; `-EBUSY`: no room now (the
    /// framework retries once a request completes); another negative errno fails the
    /// instance, a positive answer too (a misuse). Softirq or process context.
    pub(crate) queue_rq:
        unsafe extern "C" fn(inst: *mut Instance, rq: *const BlkRq, last: u32) -> i64,
    /// Tells the device about requests taken with `last` 0. 0 or a failure.
    pub(crate) commit_rqs: unsafe extern "C" fn(inst: *mut Instance) -> i64,
    /// The device finished `rq` (the driver said so with `ndriver_blk_done`): copy read
    /// data into the request and answer `BLK_DONE_*`. Softirq or hardirq context. The
    /// framework unmaps the request's data (`ndriver_blk_map`) when this returns.
    pub(crate) complete: unsafe extern "C" fn(inst: *mut Instance, rq: *const BlkRq) -> i64,
    /// blk-mq's timer expired for `rq`: 1 if the request is progressing or was found
    /// done (wait more), 0 if the device is hung (the framework recovers). Process
    /// context (blk-mq's timeout work).
    pub(crate) timeout: unsafe extern "C" fn(inst: *mut Instance, rq: *const BlkRq) -> i64,
    /// Orderly stop: reset the device, give everything back. Process context.
    pub(crate) remove: unsafe extern "C" fn(inst: *mut Instance),
    /// The device's interrupt handler (hardirq; `arg` is the IRQ). 1 if it was the
    /// device's interrupt, 0 if not (a shared line).
    pub(crate) devirq: unsafe extern "C" fn(inst: *mut Instance, arg: u64) -> i64,
    /// A timer of the instance expired (softirq; `arg` is its cookie).
    pub(crate) timer: unsafe extern "C" fn(inst: *mut Instance, arg: u64) -> i64,
    /// A work item of the instance runs (process context; `arg` is its cookie).
    pub(crate) work: unsafe extern "C" fn(inst: *mut Instance, arg: u64) -> i64,
    /// Optional (warm restart): starts the instance as `probe` does, but on a device its
    /// implementation's previous instance left running, taking back what that one kept
    /// (`ndriver_adopt`) and checking the device state it inherits; the requests the dead
    /// instance held are re-issued by the framework afterwards, so the device must have
    /// given back every one it was given before this returns 0. A negative errno: the
    /// framework restarts cold (`probe`). Process context.
    pub(crate) adopt: Option<crate::abi::AdoptFn>,
}

/// Names of the `blk` entry points, indexed by [`BlkEntry`]; `inject` and `stats` use
/// them. `devirq`, `timer` and `work` have the indices they have in `testdev`, so the
/// class-independent device callouts find them the same way.
pub(crate) const BLK_ENTRIES: [&str; 10] = [
    "probe",
    "queue_rq",
    "commit_rqs",
    "complete",
    "timeout",
    "remove",
    "devirq",
    "timer",
    "work",
    "adopt",
];

/// Index of a `blk` entry point, as passed to `ndriver_fault_point`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum BlkEntry {
    /// [`BlkOps::probe`].
    Probe = 0,
    /// [`BlkOps::queue_rq`].
    QueueRq = 1,
    /// [`BlkOps::commit_rqs`].
    CommitRqs = 2,
    /// [`BlkOps::complete`].
    Complete = 3,
    /// [`BlkOps::timeout`].
    Timeout = 4,
    /// [`BlkOps::remove`].
    Remove = 5,
    /// [`BlkOps::devirq`].
    DevIrq = 6,
    /// [`BlkOps::timer`].
    Timer = 7,
    /// [`BlkOps::work`].
    Work = 8,
    /// [`BlkOps::adopt`].
    Adopt = 9,
}

impl From<BlkEntry> for u32 {
    fn from(e: BlkEntry) -> u32 {
        e as u32
    }
}
