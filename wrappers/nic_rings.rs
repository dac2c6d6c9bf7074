// SPDX-License-Identifier: GPL-2.0

//! The typed ring layer of a `nic` implementation: what a driver keeps its transmits,
//! descriptor rings and receive buffers in, instead of tokens, addresses and byte
//! offsets. Part of `nic_driver.rs`.
//!
//! * [`TxSlots`]: one slot per transmit descriptor, each holding the [`PendingSkb`] the
//!   descriptor sends and its streaming mapping, in callout memory where the framework
//!   finds the skb of every descriptor the device had sent when the instance died.
//! * [`RingDescriptor`]: a descriptor type that says which bit the device sets once done
//!   with it; [`Dev::register_rx_ring`] and [`Dev::register_tx_ring`] tell the framework
//!   about a ring of them, until the [`RingRegistration`] they return drops.
//! * [`Dev::rx_buffer`] and [`Dev::rx_frame`]: deliver a frame from a buffer of a
//!   [`DmaBuffers`] (`driver_dma.rs`: fixed-size buffers in coherent DMA memory, the
//!   receive buffers and transmit bounce slots of a ring, addressed by index).

use super::PendingSkb;
use crate::abi::Instance;
use crate::callouts_api as api;
use crate::driver_dev::{Dev, DmaArray, DmaBuffers, DmaMapping};
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicU64, Ordering};
use kernel::prelude::*;

/// One transmit slot, as the framework reads it after the instance died.
///
/// `token` comes first: the framework reads the 64-bit word at the slot's start
/// (`ndriver_net_tx_ring`'s `tokens + i * token_stride`).
#[repr(C)]
struct TxSlot {
    /// The token of the skb the slot last held. Not cleared when the skb leaves: an
    /// instance that dies between taking it out and reporting it still has it
    /// completed if the device sent it. A stale token is only looked up by the
    /// framework, which refuses it (tokens are never reused).
    token: AtomicU64,
    /// The skb whose last piece the slot's descriptor sends, if any ...
    skb: Option<PendingSkb>,
    /// ... and the mapping the device reads the descriptor's piece through (if it reads
    /// the frame itself).
    map: Option<DmaMapping>,
}

/// The framework reads a slot's token as an aligned 64-bit word, and slots at a stride
/// that keeps every token aligned.
const _: () = assert!(core::mem::align_of::<TxSlot>() >= 8);
const _: () = assert!(core::mem::size_of::<TxSlot>() % 8 == 0);

/// The transmits a driver has taken, one slot per descriptor of its transmit ring (`N`
/// descriptors): slot `i` holds the skb descriptor `i` sends until the driver takes it
/// out to report it. Register it with the ring ([`Dev::register_tx_ring`]): when the
/// instance dies, the framework completes the skbs of the descriptors the device had
/// sent instead of sending them again.
///
/// Dropping it unmaps the frames still held and leaves their skbs to the framework
/// (see [`PendingSkb`]).
///
/// # Invariants
///
/// `slots` points to `N` initialised [`TxSlot`]s (`N > 0`) in a block of callout memory
/// (`ndriver_alloc`) that the instance `inst` holds, 8-byte aligned, freed only when
/// this value drops; the CPU changes them only through `&mut self`.
pub(crate) struct TxSlots<const N: usize> {
    inst: *mut Instance,
    slots: NonNull<TxSlot>,
}

// SAFETY: a `TxSlots` is the instance pointer and a callout memory block holding tokens
// and `DmaMapping`s (`Send`), none tied to a thread; the unmap and free callouts its drop
// makes may be called from any thread.
unsafe impl<const N: usize> Send for TxSlots<N> {}
// SAFETY: a `&TxSlots` only reads the block's address; every access to the slots takes
// `&mut self`.
unsafe impl<const N: usize> Sync for TxSlots<N> {}

impl Dev {
    /// Empty transmit slots for a ring of `N` descriptors.
    pub(crate) fn tx_slots<const N: usize>(&self) -> Result<TxSlots<N>> {
        if N == 0 {
            return Err(EINVAL);
        }
        let size = core::mem::size_of::<TxSlot>()
            .checked_mul(N)
            .ok_or(EINVAL)?;
        // SAFETY: the live instance of this call; the block is recorded in its undo list.
        let p = unsafe { api::ndriver_alloc(self.handle(), size, 0) }.cast::<TxSlot>();
        let Some(slots) = NonNull::new(p) else {
            return Err(ENOMEM);
        };
        if !p.is_aligned() {
            // kmalloc aligns to 8 at least; never expected.
            // SAFETY: the block was just allocated for this instance.
            unsafe { api::ndriver_free(self.handle(), p.cast()) };
            return Err(ENOMEM);
        }
        for i in 0..N {
            // SAFETY: slot `i < N` lies inside the new block of `N` slots, aligned (checked).
            unsafe {
                ptr::write(
                    p.add(i),
                    TxSlot {
                        token: AtomicU64::new(0),
                        skb: None,
                        map: None,
                    },
                )
            };
        }
        // INVARIANT: `N > 0` slots, initialised above, in a block of callout memory the
        // instance holds, aligned (checked).
        Ok(TxSlots {
            inst: self.handle(),
            slots,
        })
    }
}

impl<const N: usize> TxSlots<N> {
    /// Slot `i`; `EINVAL` past the end.
    fn slot(&mut self, i: usize) -> Result<&mut TxSlot> {
        if i >= N {
            return Err(EINVAL);
        }
        // SAFETY: slot `i < N` is initialised (type invariant); `&mut self` makes this the
        // only reference to it.
        Ok(unsafe { &mut *self.slots.as_ptr().add(i) })
    }

    /// Puts `skb` (and `map`, the mapping the device reads its last piece through, if
    /// any) into slot `i`: descriptor `i` is about to send it (its last piece: the
    /// others go into the slots before, [`TxSlots::insert_piece`]). Call it before
    /// handing the descriptor to the device. `EINVAL` past the end, `EBUSY` if the slot
    /// still holds an skb or a mapping; then the skb is not taken and `map` is unmapped:
    /// `start_xmit` returning [`Xmit::Busy`](super::Xmit::Busy) gives it back to the
    /// stack, returning the error fails the instance (the next one sends the skb).
    pub(crate) fn insert(
        &mut self,
        i: usize,
        skb: super::TxSkb<'_>,
        map: Option<DmaMapping>,
    ) -> Result {
        let s = self.slot(i)?;
        if s.skb.is_some() || s.map.is_some() {
            return Err(EBUSY);
        }
        let skb = skb.into_pending();
        // Before the skb, as the framework would have it: it only reads the slot after
        // the instance died.
        s.token.store(skb.token, Ordering::Relaxed);
        s.skb = Some(skb);
        s.map = map;
        Ok(())
    }

    /// Puts `map`, the mapping through which descriptor `i` sends a piece of a frame
    /// other than its last, into slot `i`: it stays mapped until the slot is taken.
    /// `EINVAL` past the end, `EBUSY` if the slot still holds an skb or a mapping (then
    /// `map` is unmapped).
    pub(crate) fn insert_piece(&mut self, i: usize, map: DmaMapping) -> Result {
        let s = self.slot(i)?;
        if s.skb.is_some() || s.map.is_some() {
            return Err(EBUSY);
        }
        s.map = Some(map);
        Ok(())
    }

    /// Empties slot `i`, once the device is done with its descriptor: unmaps its piece
    /// (so before the skb may be freed) and gives the skb it holds, if any (`Ok(None)`
    /// for a slot that holds none: a piece other than a frame's last, or one taken
    /// already). `EINVAL` past the end (a driver bug: nothing is taken).
    pub(crate) fn take(&mut self, i: usize) -> Result<Option<PendingSkb>> {
        let s = self.slot(i)?;
        drop(s.map.take());
        Ok(s.skb.take())
    }

    /// The slots' address, for [`Dev::register_tx_ring`].
    fn as_ptr(&self) -> *const TxSlot {
        self.slots.as_ptr()
    }
}

impl<const N: usize> Drop for TxSlots<N> {
    fn drop(&mut self) {
        let p = self.slots.as_ptr();
        for i in 0..N {
            // SAFETY: slot `i < N` is initialised (type invariant) and dropped once, here.
            // A mapping still held is unmapped; an skb still held stays lent to the
            // instance (`PendingSkb` has no drop), for the framework to take back.
            unsafe { ptr::drop_in_place(p.add(i)) };
        }
        // SAFETY: the block is held by this live instance (type invariant); no slot is used
        // again.
        unsafe { api::ndriver_free(self.inst, p.cast()) };
    }
}

/// A descriptor type of a ring the device completes: the device sets [`Self::DONE_MASK`]
/// in the byte at [`Self::STATUS_BYTE`] once it is done with the descriptor (a frame
/// received into its buffer, or its frame sent). What the framework reads in a dead
/// instance's registered rings.
pub(crate) trait RingDescriptor: FromBytes + IntoBytes {
    /// Byte offset of the status byte in the descriptor (below its size).
    const STATUS_BYTE: usize;
    /// The bits of the status byte the device sets once done.
    const DONE_MASK: u8;
}

/// The geometry of a ring of `D` with `len` descriptors, as the callouts take it: count,
/// stride and status byte offset. `EINVAL` for an empty ring or one too large.
fn geometry<D: RingDescriptor>(len: usize) -> Result<(u32, u32, u32)> {
    const {
        assert!(D::STATUS_BYTE < core::mem::size_of::<D>());
    }
    let count = u32::try_from(len).map_err(|_| EINVAL)?;
    let stride = u32::try_from(core::mem::size_of::<D>()).map_err(|_| EINVAL)?;
    let status = u32::try_from(D::STATUS_BYTE).map_err(|_| EINVAL)?;
    if count == 0 {
        return Err(EINVAL);
    }
    Ok((count, stride, status))
}

/// The receive or transmit ring an instance registered with the framework; dropping it
/// withdraws the registration. Drop it before the ring (and the transmit slots): the
/// framework reads a registered ring when the instance dies, and only where the
/// instance still holds its memory. An instance has one ring of each kind registered:
/// a new registration replaces the one before, and dropping either withdraws whichever
/// is registered then.
///
/// # Invariants
///
/// The instance `inst` registered a ring of kind `tx` (transmit, else receive) through
/// its callout; this value withdraws it when it drops.
pub(crate) struct RingRegistration {
    inst: *mut Instance,
    tx: bool,
}

// SAFETY: a `RingRegistration` is only the instance pointer; the callout its drop makes may
// be called from any thread.
unsafe impl Send for RingRegistration {}
// SAFETY: a `&RingRegistration` allows no operation at all.
unsafe impl Sync for RingRegistration {}

impl Drop for RingRegistration {
    fn drop(&mut self) {
        if self.tx {
            // SAFETY: the live instance withdraws its own registration (NULL ring).
            unsafe { api::ndriver_net_tx_ring(self.inst, ptr::null(), 0, 0, 0, 0, ptr::null(), 0) }
        } else {
            // SAFETY: as above.
            unsafe { api::ndriver_net_rx_ring(self.inst, ptr::null(), 0, 0, 0, 0) }
        }
    }
}

impl Dev {
    /// Registers receive ring `ring`, so that the frames a dead instance leaves in it are
    /// counted (`rx_lost`), until the result drops.
    pub(crate) fn register_rx_ring<D: RingDescriptor>(
        &self,
        ring: &DmaArray<D>,
    ) -> Result<RingRegistration> {
        let (count, stride, status) = geometry::<D>(ring.len())?;
        // SAFETY: the live instance of this call; the ring is one of its coherent buffers of
        // `count` descriptors of `stride` bytes (the framework checks it all again).
        unsafe {
            api::ndriver_net_rx_ring(
                self.handle(),
                ring.buf().cpu_addr().cast(),
                count,
                stride,
                status,
                u32::from(D::DONE_MASK),
            )
        };
        // INVARIANT: registered just now by the callout.
        Ok(RingRegistration {
            inst: self.handle(),
            tx: false,
        })
    }

    /// Registers transmit ring `ring` and its slots `slots` (descriptor `i` sends the
    /// skb of slot `i`), until the result drops: when the instance dies, the framework
    /// completes the skbs of the descriptors the device had sent instead of sending
    /// them again. `EINVAL` if the ring does not have `N` descriptors.
    pub(crate) fn register_tx_ring<D: RingDescriptor, const N: usize>(
        &self,
        ring: &DmaArray<D>,
        slots: &TxSlots<N>,
    ) -> Result<RingRegistration> {
        if ring.len() != N {
            return Err(EINVAL);
        }
        let (count, stride, status) = geometry::<D>(ring.len())?;
        let slot = u32::try_from(core::mem::size_of::<TxSlot>()).map_err(|_| EINVAL)?;
        // SAFETY: the live instance of this call; the ring is one of its coherent buffers of
        // `count` descriptors of `stride` bytes, the tokens the first words of `N` slots of
        // `slot` bytes in its callout memory (the framework checks it all again).
        unsafe {
            api::ndriver_net_tx_ring(
                self.handle(),
                ring.buf().cpu_addr().cast(),
                count,
                stride,
                status,
                u32::from(D::DONE_MASK),
                slots.as_ptr().cast(),
                slot,
            )
        };
        // INVARIANT: registered just now by the callout.
        Ok(RingRegistration {
            inst: self.handle(),
            tx: true,
        })
    }
}

impl<const SIZE: usize> DmaBuffers<SIZE> {
    /// The frame in the first `len` bytes of buffer `i`, for [`Dev::rx_frame`];
    /// `EINVAL` past the end or if `len` is more than a buffer.
    pub(crate) fn frame(&self, i: usize, len: usize) -> Result<RxFrame> {
        let data = self.range(i, len).ok_or(EINVAL)?;
        // INVARIANT: `len` bytes of buffer `i` (`range` checked them).
        Ok(RxFrame {
            data: data.cast_const(),
            len,
        })
    }
}

/// A received frame in a buffer of a [`DmaBuffers`], not tied to a borrow of it: what a
/// driver that delivers without holding the lock around its buffers passes to
/// [`Dev::rx_frame`].
///
/// # Invariants
///
/// `data` is the start of a buffer of a [`DmaBuffers`] (which may have been dropped
/// since), and `len` bytes fit in the buffer.
pub(crate) struct RxFrame {
    data: *const u8,
    len: usize,
}

impl Dev {
    /// Hands the frame in the first `len` bytes of buffer `i` of `bufs` (filled by the
    /// device, which does not write it again before the driver hands it back) to the
    /// stack, copied. `napi`: from `poll`. `EINVAL` past the end or if `len` is more
    /// than a buffer.
    pub(crate) fn rx_buffer<const SIZE: usize>(
        &self,
        bufs: &DmaBuffers<SIZE>,
        i: usize,
        len: usize,
        napi: bool,
    ) -> Result {
        let data = bufs.range(i, len).ok_or(EINVAL)?;
        // SAFETY: `data` is `len` bytes of a buffer of `bufs`, which lives for this call
        // (borrowed); the callout copies them before it returns.
        unsafe { self.rx_raw(data, len, napi) }
    }

    /// Hands `frame` to the stack, copied, as [`Dev::rx_buffer`] does, without a borrow
    /// of its buffers: for a driver that delivers without holding the lock its buffers
    /// are behind (the stack may transmit from inside the delivery).
    ///
    /// # Safety
    ///
    /// The [`DmaBuffers`] `frame` was taken from has not dropped, and neither the device
    /// nor the driver writes the frame's buffer until this returns.
    pub(crate) unsafe fn rx_frame(&self, frame: RxFrame, napi: bool) -> Result {
        // SAFETY: `frame.len` bytes of a buffer (type invariant) that is still allocated and
        // not written during the call (this function's contract).
        unsafe { self.rx_raw(frame.data, frame.len, napi) }
    }

    /// Hands `len` bytes at `data` to the stack, copied.
    ///
    /// # Safety
    ///
    /// `data` is readable for `len` bytes, unchanged until this returns.
    unsafe fn rx_raw(&self, data: *const u8, len: usize, napi: bool) -> Result {
        let len = u32::try_from(len).map_err(|_| EINVAL)?;
        // SAFETY: the live instance of this call; `len` readable bytes at `data` (this
        // function's contract), which the callout copies before it returns.
        kernel::error::to_result(unsafe {
            api::ndriver_net_rx(self.handle(), data, len, u32::from(napi))
        })
    }
}

// Built into the test module only (`selftests/kunit/`): every NIC implementation
// compiles this file in.
#[cfg(ndriver_kunit)]
#[kunit_tests(ndriver_nic_rings)]
mod tests {
    use super::super::{TxChecksum, TxSkb, TxTso};
    use super::*;
    use crate::abi::TxPiece;
    use core::cell::Cell;
    use core::mem::ManuallyDrop;

    /// Slots of the stand-in transmit slots.
    const N: usize = 4;

    /// The slots' memory, as `tx_slots` leaves it.
    type Block = [TxSlot; N];

    /// Stand-in transmit slots in memory of the test's own (not the callouts'); give it
    /// back with [`free`]. They never drop (nothing to give back through the callouts).
    fn fake() -> Result<(*mut Block, ManuallyDrop<TxSlots<N>>)> {
        let empty = [const {
            TxSlot {
                token: AtomicU64::new(0),
                skb: None,
                map: None,
            }
        }; N];
        let block = KBox::into_raw(KBox::new(empty, GFP_KERNEL)?);
        let slots = NonNull::new(block.cast::<TxSlot>()).ok_or(ENOMEM)?;
        let tx = TxSlots {
            inst: ptr::null_mut(),
            slots,
        };
        Ok((block, ManuallyDrop::new(tx)))
    }

    /// Frees what [`fake`] made, with the skbs still in it (a `PendingSkb` has no drop).
    ///
    /// # Safety
    ///
    /// `block` came from [`fake`], and its `TxSlots` is not used any more.
    unsafe fn free(block: *mut Block) {
        // SAFETY: per this function's contract.
        drop(unsafe { KBox::from_raw(block) });
    }

    /// The pieces of `frame` (in `parts` pieces of equal length, the last longer).
    fn pieces_of(frame: &[u8], parts: usize) -> Result<KVec<TxPiece>> {
        let mut v = KVec::new();
        let parts = parts.max(1);
        let each = frame.len() / parts;
        for k in 0..parts {
            let end = if k + 1 == parts {
                frame.len()
            } else {
                (k + 1) * each
            };
            v.push(
                TxPiece {
                    data: frame[k * each..end].as_ptr(),
                    len: (end - k * each) as u32,
                    _pad: 0,
                },
                GFP_KERNEL,
            )?;
        }
        Ok(v)
    }

    /// What `start_xmit` is handed for the skb lent under `token` (its frame in
    /// `pieces`), with `flags` and `csum`, for a driver whose checksum reach is `reach`.
    fn lent<'a>(
        token: u64,
        pieces: &'a [TxPiece],
        flags: u32,
        csum: u32,
        reach: u16,
        taken: &'a Cell<bool>,
    ) -> Result<TxSkb<'a>> {
        // SAFETY: `pieces` and the frame they point into are borrowed for `'a` by the
        // caller, so readable and unwritten for it (the token is the stand-in slots' own,
        // checked by them).
        unsafe {
            TxSkb::lent(
                token,
                pieces.as_ptr(),
                pieces.len() as u32,
                (flags, csum, 0),
                (true, reach, false),
                taken,
            )
        }
    }

    /// What `start_xmit` is handed for the skb lent under `token`, with `flags`.
    fn skb_with<'a>(
        token: u64,
        pieces: &'a [TxPiece],
        flags: u32,
        taken: &'a Cell<bool>,
    ) -> Result<TxSkb<'a>> {
        lent(token, pieces, flags, 0, 0, taken)
    }

    /// What `start_xmit` is handed for the skb lent under `token`, the last of its batch.
    fn skb<'a>(token: u64, pieces: &'a [TxPiece], taken: &'a Cell<bool>) -> Result<TxSkb<'a>> {
        skb_with(token, pieces, 0, taken)
    }

    /// The glue's flags reach the driver: `more()` is `XMIT_MORE`, whatever else is set
    /// (but `XMIT_CSUM` and `XMIT_TSO`, which need valid places).
    #[test]
    fn xmit_more_reaches_the_driver() -> Result {
        let frame = [0u8; 60];
        let p = pieces_of(&frame, 1)?;
        let taken = Cell::new(false);
        let csum = crate::abi::XMIT_CSUM;
        assert!(skb_with(1, &p, crate::abi::XMIT_MORE, &taken)?.more());
        assert!(skb_with(1, &p, crate::abi::XMIT_MORE | 0x8000_0000, &taken)?.more());
        assert!(!skb_with(1, &p, 0, &taken)?.more());
        let tso = crate::abi::XMIT_TSO;
        assert!(!skb_with(1, &p, !(crate::abi::XMIT_MORE | csum | tso), &taken)?.more());
        assert_eq!(skb_with(1, &p, 0, &taken)?.len(), 60);
        assert!(!taken.get());
        Ok(())
    }

    /// A frame in pieces reaches the driver whole and in order; what no driver could
    /// send (no piece, too many, an empty one) is refused.
    #[test]
    fn pieces_reach_the_driver_in_order() -> Result {
        let mut frame = [0u8; 90];
        for (i, b) in frame.iter_mut().enumerate() {
            *b = i as u8;
        }
        let taken = Cell::new(false);
        let p = pieces_of(&frame, 3)?;
        let s = lent(1, &p, 0, 0, 0, &taken)?;
        assert_eq!(s.piece_count(), 3);
        assert_eq!(s.len(), 90);
        let mut seen = 0;
        for k in 0..s.piece_count() {
            for &b in s.piece(k).ok_or(EINVAL)? {
                assert_eq!(b, seen as u8);
                seen += 1;
            }
        }
        assert_eq!(seen, 90);
        assert!(s.piece(3).is_none());
        assert_eq!(s.bytes(), &frame[..30]);
        assert!(lent(1, &p[..0], 0, 0, 0, &taken).is_err());
        let mut many = KVec::new();
        for _ in 0..=crate::abi::TX_PIECES_MAX {
            many.push(p[0], GFP_KERNEL)?;
        }
        assert!(lent(1, &many, 0, 0, 0, &taken).is_err());
        assert!(lent(1, &many[..crate::abi::TX_PIECES_MAX], 0, 0, 0, &taken).is_ok());
        // A table of pieces at an address no `TxPiece` can have: refused unread.
        let odd = p.as_ptr().cast::<u8>().wrapping_add(4).cast::<TxPiece>();
        // SAFETY: `lent` checks the alignment before it reads anything at `odd`.
        assert!(unsafe { TxSkb::lent(1, odd, 1, (0, 0, 0), (true, 0, false), &taken) }.is_err());
        // More than one piece for a driver without scatter-gather; one is fine.
        let one_piece = |n: u32| {
            // SAFETY: `p` and the frame it points into live for the closure's calls.
            unsafe { TxSkb::lent(1, p.as_ptr(), n, (0, 0, 0), (false, 0, false), &taken) }
        };
        assert!(one_piece(3).is_err());
        assert_eq!(one_piece(1)?.len(), 30);
        let mut empty = pieces_of(&frame, 2)?;
        empty[1].len = 0;
        assert!(lent(1, &empty, 0, 0, 0, &taken).is_err());
        assert!(!taken.get());
        Ok(())
    }

    /// A checksum place reaches the driver only with `XMIT_CSUM`, and only where the
    /// driver's device reaches and the frame has room for the sum.
    #[test]
    fn checksum_place_checked() -> Result {
        let frame = [0u8; 100];
        let taken = Cell::new(false);
        let p = pieces_of(&frame, 2)?;
        let csum = crate::abi::XMIT_CSUM;
        let at = |start: u32, at: u32| start | (at << 16);
        let c = lent(1, &p, csum, at(34, 50), 255, &taken)?.checksum();
        assert_eq!(c, Some(TxChecksum { start: 34, at: 50 }));
        // Without the flag the place is ignored.
        assert_eq!(lent(1, &p, 0, at(34, 50), 255, &taken)?.checksum(), None);
        // Beyond the device's reach, before its start, past the frame's end.
        assert!(lent(1, &p, csum, at(34, 50), 49, &taken).is_err());
        assert!(lent(1, &p, csum, at(34, 50), 0, &taken).is_err());
        assert!(lent(1, &p, csum, at(50, 34), 255, &taken).is_err());
        assert!(lent(1, &p, csum, at(34, 99), 255, &taken).is_err());
        assert!(lent(1, &p, csum, at(34, 98), 255, &taken).is_ok());
        // No checksum at all for a driver without the offload, even at offset 0.
        assert!(lent(1, &p, csum, at(0, 0), 0, &taken).is_err());
        Ok(())
    }

    #[test]
    fn insert_and_take_once() -> Result {
        let (block, mut tx) = fake()?;
        let frame = [0u8; 60];
        let frame = pieces_of(&frame, 1)?;
        let taken = Cell::new(false);
        assert_eq!(tx.insert(N - 1, skb(1024, &frame, &taken)?, None), Ok(()));
        assert!(taken.get());
        // The framework finds the token at the slot's start.
        // SAFETY: slot `N - 1` is initialised; nothing else refers to it now.
        let token = unsafe { (*tx.as_ptr().add(N - 1)).token.load(Ordering::Relaxed) };
        assert_eq!(token, 1024);
        assert_eq!(tx.take(N - 1)?.map(|s| s.token), Some(1024));
        // Taken once: the slot is empty now (its token stays, for the framework).
        assert!(tx.take(N - 1)?.is_none());
        // SAFETY: as above.
        let token = unsafe { (*tx.as_ptr().add(N - 1)).token.load(Ordering::Relaxed) };
        assert_eq!(token, 1024);
        // SAFETY: `block` came from `fake`; `tx` is not used any more.
        unsafe { free(block) };
        Ok(())
    }

    #[test]
    fn busy_and_out_of_range_slots_refused() -> Result {
        let (block, mut tx) = fake()?;
        let frame = [0u8; 60];
        let frame = pieces_of(&frame, 1)?;
        let first = Cell::new(false);
        assert_eq!(tx.insert(0, skb(2000, &frame, &first)?, None), Ok(()));
        // A slot that still holds an skb, or one past the end: the skb is not taken.
        let second = Cell::new(false);
        assert_eq!(tx.insert(0, skb(2001, &frame, &second)?, None), Err(EBUSY));
        assert!(!second.get());
        assert_eq!(tx.insert(N, skb(2002, &frame, &second)?, None), Err(EINVAL));
        assert_eq!(
            tx.insert(usize::MAX, skb(2003, &frame, &second)?, None),
            Err(EINVAL)
        );
        assert!(!second.get());
        // Past the end is an error, not an empty slot.
        assert_eq!(tx.take(N).err(), Some(EINVAL));
        assert_eq!(tx.take(usize::MAX).err(), Some(EINVAL));
        // The first skb is still in its slot, and an empty slot is no error.
        assert_eq!(tx.take(0)?.map(|s| s.token), Some(2000));
        assert!(tx.take(0)?.is_none());
        // SAFETY: `block` came from `fake`; `tx` is not used any more.
        unsafe { free(block) };
        Ok(())
    }

    /// Segmentation reaches only a driver that has it, with the checksum's place, and
    /// headers that fit the first piece and leave payload.
    #[test]
    fn segmentation_checked() -> Result {
        let frame = [0u8; 200];
        let taken = Cell::new(false);
        let p = pieces_of(&frame, 2)?;
        let f = crate::abi::XMIT_CSUM | crate::abi::XMIT_TSO;
        let at = 34 | (50 << 16);
        let gso = |mss: u32, hdr: u32, ip: u32| mss | (hdr << 16) | (ip << 24);
        let lent_tso = |flags: u32, gso: u32, tso: bool| {
            // SAFETY: `p` and `frame` live for the whole closure call.
            unsafe { TxSkb::lent(1, p.as_ptr(), 2, (flags, at, gso), (true, 255, tso), &taken) }
        };
        let s = lent_tso(f, gso(1448, 66, 14), true)?;
        assert_eq!(
            s.tso(),
            Some(TxTso {
                mss: 1448,
                hdr_len: 66,
                ip_start: 14
            })
        );
        assert_eq!(s.checksum(), Some(TxChecksum { start: 34, at: 50 }));
        // A driver without it, no checksum place, no MSS.
        assert!(lent_tso(f, gso(1448, 66, 14), false).is_err());
        assert!(lent_tso(crate::abi::XMIT_TSO, gso(1448, 66, 14), true).is_err());
        assert!(lent_tso(f, gso(0, 66, 14), true).is_err());
        // Headers past the first piece (100 bytes), TCP or IP header too short.
        assert!(lent_tso(f, gso(1448, 101, 14), true).is_err());
        assert!(lent_tso(f, gso(1448, 53, 14), true).is_err());
        assert!(lent_tso(f, gso(1448, 66, 15), true).is_err());
        // Without the flag nothing is segmented.
        assert_eq!(
            lent_tso(crate::abi::XMIT_CSUM, gso(1448, 66, 14), true)?.tso(),
            None
        );
        // The TCP checksum past the headers.
        let late = |gso: u32| {
            // SAFETY: `p` and `frame` live for the whole closure call.
            unsafe {
                TxSkb::lent(
                    1,
                    p.as_ptr(),
                    2,
                    (f, 34 | (60 << 16), gso),
                    (true, 255, true),
                    &taken,
                )
            }
        };
        assert!(late(gso(1448, 60, 14)).is_err());
        assert!(late(gso(1448, 62, 14)).is_ok());
        // Headers that leave no payload.
        let short = pieces_of(&frame[..66], 1)?;
        // SAFETY: `short` and `frame` live for the call.
        let r = unsafe {
            TxSkb::lent(
                1,
                short.as_ptr(),
                1,
                (f, at, gso(1448, 66, 14)),
                (true, 255, true),
                &taken,
            )
        };
        assert!(r.is_err());
        Ok(())
    }

    /// A descriptor whose status byte is its last.
    #[repr(C)]
    #[derive(Clone, Copy, FromBytes, IntoBytes)]
    struct Desc {
        addr: u64,
        info: u32,
        pad: [u8; 3],
        status: u8,
    }

    impl RingDescriptor for Desc {
        const STATUS_BYTE: usize = 15;
        const DONE_MASK: u8 = 1;
    }

    #[test]
    fn ring_geometry() {
        assert_eq!(geometry::<Desc>(256), Ok((256, 16, 15)));
        assert_eq!(geometry::<Desc>(0), Err(EINVAL));
        assert_eq!(geometry::<Desc>(1 << 32), Err(EINVAL));
    }
}
