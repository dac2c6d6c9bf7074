// SPDX-License-Identifier: GPL-2.0

//! What a virtio block device reads and writes of a request, over either PCI
//! transport: the request header, the status byte the device answers with, and
//! [`ReqSlot`], the driver's memory of both for one request.

// Each driver uses only the parts it needs.
#![allow(dead_code)]

use crate::blk_driver::{Done, Op};
use crate::virtio_ring::{DESC_F_NEXT, DESC_F_WRITE};
use kernel::prelude::*;

/// Feature bit: the device has a write cache and takes flush requests ([`T_FLUSH`]).
pub(crate) const F_BLK_FLUSH: u32 = 9;

/// Block request header `type`: read.
pub(crate) const T_IN: u32 = 0;
/// Block request header `type`: write.
pub(crate) const T_OUT: u32 = 1;
/// Block request header `type`: flush.
pub(crate) const T_FLUSH: u32 = 4;

/// Block request status byte: done.
pub(crate) const BLK_S_OK: u8 = 0;
/// Block request status byte: I/O error.
pub(crate) const BLK_S_IOERR: u8 = 1;
/// Block request status byte: unsupported request.
pub(crate) const BLK_S_UNSUPP: u8 = 2;
/// A status byte the device never writes: the request is not finished yet.
pub(crate) const BLK_S_PENDING: u8 = 0xff;

/// A block request header, as the device reads it.
#[repr(C)]
#[derive(Clone, Copy, FromBytes, IntoBytes)]
pub(crate) struct BlkReqHeader {
    /// [`T_IN`], [`T_OUT`] or [`T_FLUSH`].
    pub(crate) kind: u32,
    /// Zero.
    pub(crate) reserved: u32,
    /// First 512-byte sector.
    pub(crate) sector: u64,
}

const _: () = assert!(core::mem::size_of::<BlkReqHeader>() == 16);

/// The driver-side memory of one request: the header the device reads and the status
/// byte it writes, in one slot of an array in coherent DMA memory
/// (`DmaArray<ReqSlot>`); the request's descriptors point at the two fields.
#[repr(C)]
#[derive(Clone, Copy, FromBytes, IntoBytes)]
pub(crate) struct ReqSlot {
    /// The request header.
    pub(crate) header: BlkReqHeader,
    /// The status byte (`BLK_S_*`).
    pub(crate) status: u8,
    /// Up to a slot of 32 bytes (no implicit padding).
    pad: [u8; 15],
}
const _: () = assert!(core::mem::size_of::<ReqSlot>() == 32);

impl ReqSlot {
    /// Length of the header, for its descriptor.
    pub(crate) const HEADER_LEN: u32 = core::mem::size_of::<BlkReqHeader>() as u32;
    /// Length of the status, for its descriptor.
    pub(crate) const STATUS_LEN: u32 = core::mem::size_of::<u8>() as u32;

    /// A slot for a request for `op` at `sector`, its status pending.
    pub(crate) fn pending(op: Op, sector: u64) -> Self {
        let kind = match op {
            Op::Read => T_IN,
            Op::Write => T_OUT,
            Op::Flush => T_FLUSH,
        };
        Self {
            header: BlkReqHeader {
                kind,
                reserved: 0,
                sector,
            },
            status: BLK_S_PENDING,
            pad: [0; 15],
        }
    }
}

/// What a finished request's status byte says; `None` for a value the device must not
/// write.
pub(crate) fn status(s: u8) -> Option<Done> {
    match s {
        BLK_S_OK => Some(Done::Ok),
        BLK_S_IOERR => Some(Done::IoError),
        BLK_S_UNSUPP => Some(Done::Unsupported),
        _ => None,
    }
}

/// The flags of the data descriptor of a request for `op` (followed by the status).
pub(crate) fn data_flags(op: Op) -> u16 {
    if op == Op::Read {
        DESC_F_NEXT | DESC_F_WRITE
    } else {
        DESC_F_NEXT
    }
}
