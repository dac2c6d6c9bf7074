// SPDX-License-Identifier: GPL-2.0

//! The requests a block implementation owns: [`Request`], which `queue_rq` and
//! `complete` hand over and [`Dev::done`] and [`Request::end`] consume, the [`Ended`]
//! request `complete` returns, and what a request asks for ([`Op`]) and how the device
//! ended it ([`Done`]).
//!
//! Part of `blk_driver.rs`. What the glue (`blk_glue.rs`) and the block callouts
//! (`blk_callouts.rs`) read of a request, or make it from, is `pub(super)`: visible in
//! `blk_driver` and its parts only, as it was when this was one file.

use crate::abi_blk::{BlkRq, BLK_OP_FLUSH, BLK_OP_READ, BLK_OP_WRITE};
use crate::driver_dev::events::errno;
use kernel::ffi::c_void;
use kernel::prelude::*;

#[cfg(doc)]
use super::{BlkDriver, Dev};

/// What a request asks for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Op {
    /// Read from the disk into the request.
    Read,
    /// Write the request to the disk.
    Write,
    /// Make completed writes durable.
    Flush,
}

impl Op {
    /// The operation of a descriptor's `op` (`BLK_OP_*`), `None` for another value.
    pub(super) fn from_abi(op: u32) -> Option<Self> {
        match op {
            BLK_OP_READ => Some(Op::Read),
            BLK_OP_WRITE => Some(Op::Write),
            BLK_OP_FLUSH => Some(Op::Flush),
            _ => None,
        }
    }
}

/// A block request the driver owns, in the spirit of `kernel::block::mq::Request`:
/// [`BlkDriver::queue_rq`] hands it over, the driver keeps it with the device's work
/// (a per-tag slot of its [`BlkDriver::State`], say) and gives it back once with
/// [`Dev::done`] when the device has finished it; [`BlkDriver::complete`] then hands
/// it over again, and the driver ends it with [`Request::end`]. Neither `Copy` nor
/// `Clone`, and both steps consume it, so the driver cannot report a request finished
/// twice, or end one it was not given to end.
///
/// # Invariants
///
/// - `rq` and `tag` name a request the framework issued to the instance this value was
///   made for (passed to its `queue_rq` or `complete`); `op`, `sector` and `bytes` are
///   that request's, copied from its descriptor. `rq` is only ever handed to the block
///   callouts, which check again that the calling instance holds it (a stale one is
///   refused as `misuse`); it is never dereferenced here.
/// - For each time the framework passes a request to `queue_rq` or `complete`, the glue
///   makes exactly one owned `Request` (`timeout` only lends one, `&Request`, for the
///   call), so at most one owned handle per issued request exists.
/// - Dropping a `Request` completes nothing and tells the framework nothing: the
///   framework keeps every request it issued in its own list (the request's PDU) until
///   it ends or requeues it itself. A handle dropped by a live instance leaves its
///   request with that instance, unfinished, until the instance is replaced (blk-mq's
///   timer asks [`BlkDriver::timeout`], which may call the device hung). One dropped
///   with the driver's state on an orderly `remove`, or never dropped because the
///   instance died (its state is reclaimed without running destructors), leaves the
///   request to the framework, which re-issues every request an older generation still
///   holds to the next instance (`placeholders/blk/mq.rs`, `reissue`). That is why
///   `Request` has no `Drop`: ending or reporting a request from a destructor would
///   race with that re-issue.
pub(crate) struct Request {
    pub(super) rq: *mut c_void,
    pub(super) tag: u32,
    op: Op,
    sector: u64,
    bytes: u32,
}

// SAFETY: a `Request` is a copy of a request's descriptor and the framework's name for
// it, which the driver only passes to callouts (that check it and may be called from
// any context and thread); nothing in it is tied to a thread.
unsafe impl Send for Request {}

impl Request {
    /// The handle for the request `rq` describes.
    ///
    /// # Safety
    ///
    /// `rq` is the descriptor the framework passed to the entry point being called, for
    /// a request it issued to that entry point's instance; the caller makes at most one
    /// `Request` of it that it hands over (see the type's invariants).
    pub(super) unsafe fn from_raw(rq: *const BlkRq) -> Self {
        // SAFETY: `rq` is valid for this entry-point call (this function's contract).
        let r = unsafe { &*rq };
        let op = Op::from_abi(r.op).unwrap_or(Op::Flush);
        // INVARIANT: copied from the descriptor of a request issued to this instance.
        Request {
            rq: r.rq,
            tag: r.tag,
            op,
            sector: r.sector,
            bytes: r.bytes,
        }
    }

    /// The blk-mq tag: unique among the requests the instance holds, below
    /// `abi_blk::BLK_QUEUE_DEPTH`.
    pub(crate) fn tag(&self) -> u32 {
        self.tag
    }

    /// What to do.
    pub(crate) fn op(&self) -> Op {
        self.op
    }

    /// First 512-byte sector.
    pub(crate) fn sector(&self) -> u64 {
        self.sector
    }

    /// Data length in bytes.
    pub(crate) fn bytes(&self) -> u32 {
        self.bytes
    }

    /// Ends the request (in [`BlkDriver::complete`], which returns the result) with the
    /// device's answer `status`: the framework ends it in blk-mq as `complete` returns.
    pub(crate) fn end(self, status: Done) -> Ended {
        // INVARIANT: made by `end`, from this request.
        Ended {
            tag: self.tag,
            rq: self.rq,
            status,
        }
    }

    /// [`Request::end`] with [`Done::Ok`].
    pub(crate) fn end_ok(self) -> Ended {
        self.end(Done::Ok)
    }
}

/// A request ended by [`Request::end`]: what [`BlkDriver::complete`] returns.
///
/// # Invariants
///
/// Made only by [`Request::end`], from the request with tag `tag` and framework name
/// `rq`.
#[must_use = "return it from `BlkDriver::complete`"]
pub(crate) struct Ended {
    tag: u32,
    rq: *mut c_void,
    status: Done,
}

impl Ended {
    /// `complete`'s answer (`BLK_DONE_*`) for the request `rq` with tag `tag`, or `EINVAL`
    /// (a failure) if the driver ended another request (one it kept from `queue_rq`, or
    /// an older one with the same tag) instead of the one `complete` gave it.
    pub(super) fn answer(&self, tag: u32, rq: *mut c_void) -> i64 {
        if self.tag != tag || self.rq != rq {
            return errno(EINVAL);
        }
        match self.status {
            Done::Ok => crate::abi_blk::BLK_DONE_OK,
            Done::IoError => crate::abi_blk::BLK_DONE_IOERR,
            Done::Unsupported => crate::abi_blk::BLK_DONE_UNSUPP,
        }
    }
}

/// How the device ended a request (the answer of [`BlkDriver::complete`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Done {
    /// Done.
    Ok,
    /// The device reported an I/O error.
    IoError,
    /// The device does not support the request.
    Unsupported,
}

// Built into the test module only (`selftests/kunit/`): every block implementation
// compiles this file in.
#[cfg(ndriver_kunit)]
#[kunit_tests(ndriver_blk_request)]
mod tests {
    use super::*;
    use crate::abi_blk::{BLK_DONE_IOERR, BLK_DONE_OK, BLK_DONE_UNSUPP};
    use core::ptr;

    /// The framework's names of two requests (never dereferenced: only compared).
    const RQ_A: *mut c_void = ptr::without_provenance_mut(0x1000);
    const RQ_B: *mut c_void = ptr::without_provenance_mut(0x2000);

    /// The handle a `queue_rq` or `complete` call would make of request `rq` with tag
    /// `tag`.
    fn request(rq: *mut c_void, tag: u32, op: u32) -> Request {
        let d = BlkRq {
            rq,
            tag,
            op,
            sector: 64,
            bytes: 4096,
            reserved: 0,
        };
        // SAFETY: `d` is valid for the call; one handle is made of it.
        unsafe { Request::from_raw(&d) }
    }

    #[test]
    fn descriptor_copied() {
        let r = request(RQ_A, 7, BLK_OP_WRITE);
        assert_eq!(r.tag(), 7);
        assert_eq!(r.op(), Op::Write);
        assert_eq!(r.sector(), 64);
        assert_eq!(r.bytes(), 4096);
        assert_eq!(request(RQ_A, 0, BLK_OP_READ).op(), Op::Read);
        assert_eq!(request(RQ_A, 0, BLK_OP_FLUSH).op(), Op::Flush);
    }

    #[test]
    fn answer_for_the_request_complete_gave() {
        assert_eq!(
            request(RQ_A, 3, BLK_OP_READ).end_ok().answer(3, RQ_A),
            BLK_DONE_OK
        );
        assert_eq!(
            request(RQ_A, 3, BLK_OP_READ)
                .end(Done::IoError)
                .answer(3, RQ_A),
            BLK_DONE_IOERR
        );
        assert_eq!(
            request(RQ_A, 3, BLK_OP_READ)
                .end(Done::Unsupported)
                .answer(3, RQ_A),
            BLK_DONE_UNSUPP
        );
    }

    #[test]
    fn another_request_ended_is_an_error() {
        let einval = errno(EINVAL);
        // Another tag: a request kept from `queue_rq` instead of the one `complete` gave.
        assert_eq!(
            request(RQ_A, 4, BLK_OP_READ).end_ok().answer(3, RQ_A),
            einval
        );
        // The same tag, another request: an older one that had the tag before.
        assert_eq!(
            request(RQ_B, 3, BLK_OP_READ).end_ok().answer(3, RQ_A),
            einval
        );
        assert!(einval < 0);
    }
}
