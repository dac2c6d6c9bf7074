// SPDX-License-Identifier: GPL-2.0

//! DMA for implementations: coherent buffers ([`DmaCoherent`]; typed as a whole as
//! [`DmaArray`], in parts as [`DmaSlice`] and [`DmaView`]; cut into fixed-size
//! buffers as [`DmaBuffers`]) and streaming mappings ([`DmaMapping`]). Part of
//! `driver_dev.rs`.

use super::{Dev, Memory};
use crate::abi::Instance;
use crate::callouts_api as api;
use core::marker::PhantomData;
use core::ptr;
use kernel::prelude::*;

impl Dev {
    /// A zeroed coherent DMA buffer of `size` bytes (page aligned).
    pub(crate) fn dma_alloc(&self, size: usize) -> Result<DmaCoherent> {
        let mut dma = 0u64;
        // SAFETY: `self.0` is this entry point's live instance (`from_handle`'s contract); `dma`
        // is a valid out-pointer.
        let cpu = unsafe { api::ndriver_dma_alloc(self.0, size, &mut dma) };
        if cpu.is_null() {
            return Err(ENOMEM);
        }
        // INVARIANT: a new, page-aligned buffer of `size` bytes the callout recorded for this
        // instance.
        Ok(DmaCoherent {
            inst: self.0,
            cpu: cpu.cast(),
            dma,
            size,
        })
    }

    /// The coherent buffer of `size` bytes the previous instance kept under `role`
    /// ([`DmaCoherent::keep`]), its contents as the device left them: `EINVAL` if it has
    /// another size (or is not page aligned). Only in `adopt`.
    pub(crate) fn adopt_dma(&self, role: u32, size: usize) -> Result<DmaCoherent> {
        let a = self.adopt_raw(crate::abi::KEEP_DMA_COHERENT, role)?;
        // INVARIANT: the callout moved the kept buffer into this instance's undo list (so
        // it is freed when this value drops, or by the undo list if the checks below
        // fail); it came from `dma_alloc`, page aligned (checked again).
        let buf = DmaCoherent {
            inst: self.0,
            cpu: a.cpu as usize as *mut u32,
            dma: a.dma,
            size: usize::try_from(a.len).map_err(|_| EINVAL)?,
        };
        if buf.size != size || a.cpu as usize % kernel::page::PAGE_SIZE != 0 {
            return Err(EINVAL);
        }
        Ok(buf)
    }

    /// The array of `len` values of `T` the previous instance kept under `role`
    /// ([`DmaArray::keep`]); `EINVAL` if its buffer has another size. Only in `adopt`.
    pub(crate) fn adopt_dma_array<T: FromBytes + IntoBytes>(
        &self,
        role: u32,
        len: usize,
    ) -> Result<DmaArray<T>> {
        let size = len.checked_mul(core::mem::size_of::<T>()).ok_or(EINVAL)?;
        if core::mem::align_of::<T>() > kernel::page::PAGE_SIZE {
            return Err(EINVAL);
        }
        let buf = self.adopt_dma(role, size)?;
        // INVARIANT: `adopt_dma` checked `size` bytes, page aligned.
        Ok(DmaArray {
            buf,
            len,
            _t: PhantomData,
        })
    }

    /// A zeroed coherent DMA buffer of `len` values of `T` (a descriptor ring, say).
    pub(crate) fn dma_array<T: FromBytes + IntoBytes>(&self, len: usize) -> Result<DmaArray<T>> {
        let size = len.checked_mul(core::mem::size_of::<T>()).ok_or(EINVAL)?;
        if core::mem::align_of::<T>() > kernel::page::PAGE_SIZE {
            return Err(EINVAL);
        }
        let buf = self.dma_alloc(size)?;
        // INVARIANT: `dma_alloc` gives `size` bytes, page aligned.
        Ok(DmaArray {
            buf,
            len,
            _t: PhantomData,
        })
    }

    /// Maps `mem` for streaming DMA towards the device (`to_device`) or from it. The
    /// mapping must drop before `mem`.
    pub(crate) fn dma_map(&self, mem: &Memory, to_device: bool) -> Result<DmaMapping> {
        let dir = if to_device {
            crate::abi::DMA_TO_DEVICE
        } else {
            crate::abi::DMA_FROM_DEVICE
        };
        let mut dma = 0u64;
        // SAFETY: `self.0` is this entry point's live instance (`from_handle`'s contract); `mem`
        // is the instance's memory; `dma` is an out-pointer.
        kernel::error::to_result(unsafe {
            api::ndriver_dma_map(self.0, mem.ptr.cast(), mem.size, dir, &mut dma)
        })?;
        // INVARIANT: a mapping the callout recorded for this instance.
        Ok(DmaMapping { inst: self.0, dma })
    }

    /// Maps `len` bytes at `data` (memory the framework lent the driver, such as a
    /// socket buffer being sent) for streaming DMA towards the device, until the
    /// result drops.
    ///
    /// # Safety
    ///
    /// `data` is readable for `len` bytes now. (Afterwards only the device reads it: the
    /// CPU never does through a to-device mapping, and unmapping one copies nothing back.)
    pub(crate) unsafe fn dma_map_raw(&self, data: *const u8, len: usize) -> Result<DmaMapping> {
        let mut dma = 0u64;
        // SAFETY: `self.0` is this entry point's live instance (`from_handle`'s contract); `data`
        // is readable for `len` bytes (this function's contract); `dma` is an out-pointer.
        kernel::error::to_result(unsafe {
            api::ndriver_dma_map(
                self.0,
                data.cast_mut().cast(),
                len,
                crate::abi::DMA_TO_DEVICE,
                &mut dma,
            )
        })?;
        // INVARIANT: a mapping the callout recorded for this instance.
        Ok(DmaMapping { inst: self.0, dma })
    }

    /// Ends a streaming mapping kept with [`DmaMapping::into_raw`].
    pub(crate) fn dma_unmap(&self, dma: u64) {
        // SAFETY: the live instance gives back a mapping it holds.
        unsafe { api::ndriver_dma_unmap(self.0, dma) }
    }
}

/// Typed accessors of a [`DmaCoherent`] at byte offsets: the buffer is shared with the
/// device, hence volatile.
macro_rules! dma_access {
    ($read:ident, $write:ident, $t:ty) => {
        /// Reads the value at byte offset `off`; `ERANGE` if it does not fit there,
        /// `EINVAL` if misaligned.
        pub(crate) fn $read(&self, off: usize) -> Result<$t> {
            self.read_at::<$t>(off)
        }

        /// Writes `v` at byte offset `off`; `ERANGE` if it does not fit there, `EINVAL`
        /// if misaligned.
        pub(crate) fn $write(&self, off: usize, v: $t) -> Result {
            self.write_at::<$t>(off, v)
        }
    };
}

/// A coherent DMA buffer.
///
/// # Invariants
///
/// `cpu` is a live, page-aligned coherent buffer of `size` bytes at bus address `dma`,
/// held by the instance `inst` and freed only when this value drops. This type's own
/// methods reach it only with bounds-checked volatile accesses and copies, never through
/// a reference that outlives one of them (a driver that takes a slice of it with
/// [`DmaCoherent::range`] answers for that in its own `unsafe`).
pub(crate) struct DmaCoherent {
    inst: *mut Instance,
    cpu: *mut u32,
    dma: u64,
    size: usize,
}
// SAFETY: a `DmaCoherent` is the instance pointer and the buffer's addresses; the buffer is
// not tied to a thread, and the free callout on drop may be called from any thread.
unsafe impl Send for DmaCoherent {}
// SAFETY: a `&DmaCoherent` accesses the buffer (shared with the device anyway) only with
// bounds-checked volatile reads and writes and copies, which may run on several CPUs.
unsafe impl Sync for DmaCoherent {}
impl DmaCoherent {
    /// The bus address.
    pub(crate) fn dma(&self) -> u64 {
        self.dma
    }

    /// Writes 32-bit word `i`; `ERANGE` past the end.
    pub(crate) fn write(&self, i: usize, v: u32) -> Result {
        if i >= self.size / 4 {
            return Err(ERANGE);
        }
        // SAFETY: word `i` is inside the live buffer (checked), which is page aligned, so
        // aligned for a `u32`; the CPU holds no reference into it.
        unsafe { ptr::write_volatile(self.cpu.add(i), v) };
        Ok(())
    }

    /// Reads 32-bit word `i`; `ERANGE` past the end.
    pub(crate) fn read(&self, i: usize) -> Result<u32> {
        if i >= self.size / 4 {
            return Err(ERANGE);
        }
        // SAFETY: as for `write`.
        Ok(unsafe { ptr::read_volatile(self.cpu.add(i)) })
    }

    /// Size in bytes.
    pub(crate) fn size(&self) -> usize {
        self.size
    }

    /// The CPU address (to register a ring with the framework).
    pub(crate) fn cpu_addr(&self) -> *const u8 {
        self.cpu.cast()
    }

    dma_access!(read8, write8, u8);
    dma_access!(read16, write16, u16);
    dma_access!(read32, write32, u32);
    dma_access!(read64, write64, u64);

    /// The `T` at byte offset `off` (a descriptor or header the device shares), read
    /// whole with a volatile access; `ERANGE` if it does not fit there, `EINVAL` if
    /// misaligned.
    pub(crate) fn read_at<T: FromBytes>(&self, off: usize) -> Result<T> {
        self.fits::<T>(off)?;
        // SAFETY: in bounds and aligned for `T` (checked); the buffer lives while `self`; any
        // bytes are a valid `T` (`FromBytes`), so whatever the device wrote is.
        Ok(unsafe { ptr::read_volatile(self.cpu.cast::<u8>().add(off).cast::<T>()) })
    }

    /// Writes `v` whole at byte offset `off` with a volatile access; `ERANGE` if it does
    /// not fit there, `EINVAL` if misaligned.
    pub(crate) fn write_at<T: IntoBytes>(&self, off: usize, v: T) -> Result {
        self.fits::<T>(off)?;
        // SAFETY: in bounds and aligned for `T` (checked); the buffer lives while `self`, and the
        // CPU holds no reference into it.
        unsafe { ptr::write_volatile(self.cpu.cast::<u8>().add(off).cast::<T>(), v) };
        Ok(())
    }

    /// Copies `src` to byte offset `off`; `ERANGE` if it does not fit there (then nothing
    /// is copied).
    pub(crate) fn copy_in(&self, off: usize, src: &[u8]) -> Result {
        let dst = self.range(off, src.len()).ok_or(ERANGE)?;
        // SAFETY: in bounds of the live buffer, which `src` cannot overlap.
        unsafe { ptr::copy_nonoverlapping(src.as_ptr(), dst, src.len()) };
        Ok(())
    }

    /// The CPU address of the `len` bytes at byte offset `off` (for callouts that copy
    /// into or out of the buffer); `None` if out of range.
    pub(crate) fn range(&self, off: usize, len: usize) -> Option<*mut u8> {
        if off.checked_add(len).is_none_or(|end| end > self.size) {
            return None;
        }
        // `off` is in bounds of the allocation (checked).
        Some(self.cpu.cast::<u8>().wrapping_add(off))
    }

    /// `len` values of `T` at byte offset `off` (a part of the buffer laid out as the
    /// device expects: a ring of a virtqueue, say), typed: `ERANGE` if they do not fit
    /// there, `EINVAL` if misaligned. The bounds are checked here, once.
    pub(crate) fn slice<T: FromBytes + IntoBytes>(
        &self,
        off: usize,
        len: usize,
    ) -> Result<DmaSlice<'_, T>> {
        let n = len.checked_mul(core::mem::size_of::<T>()).ok_or(ERANGE)?;
        self.fits_bytes::<T>(off, n)?;
        // INVARIANT: `len` values of `T` fit at `off`, which is aligned for `T` (checked).
        Ok(DmaSlice {
            buf: self,
            off,
            len,
            _t: PhantomData,
        })
    }

    /// The `T` at byte offset `off` (a header the device shares), typed: `ERANGE` if it
    /// does not fit there, `EINVAL` if misaligned. The bounds are checked here, once.
    pub(crate) fn view<T: FromBytes + IntoBytes>(&self, off: usize) -> Result<DmaView<'_, T>> {
        self.fits::<T>(off)?;
        // INVARIANT: a `T` fits at `off`, which is aligned for `T` (checked).
        Ok(DmaView {
            buf: self,
            off,
            _t: PhantomData,
        })
    }

    /// Whether a `T` fits at byte offset `off` (`ERANGE` if not), aligned (`EINVAL` if
    /// not; the buffer is page aligned).
    fn fits<T>(&self, off: usize) -> Result {
        self.fits_bytes::<T>(off, core::mem::size_of::<T>())
    }

    /// Whether `n` bytes fit at byte offset `off` (`ERANGE` if not), aligned for `T`
    /// (`EINVAL` if not; the buffer is page aligned).
    fn fits_bytes<T>(&self, off: usize, n: usize) -> Result {
        if off.checked_add(n).is_none_or(|end| end > self.size) {
            return Err(ERANGE);
        }
        if off % core::mem::align_of::<T>() != 0
            || core::mem::align_of::<T>() > kernel::page::PAGE_SIZE
        {
            return Err(EINVAL);
        }
        Ok(())
    }
}
impl DmaCoherent {
    /// Keeps the buffer across a warm restart under `role` ([`Dev::adopt_dma`]): the
    /// device may go on using it while the next instance starts.
    pub(crate) fn keep(&self, role: u32) -> Result {
        // SAFETY: the buffer is held by this live instance.
        kernel::error::to_result(unsafe {
            api::ndriver_keep(
                self.inst,
                crate::abi::KEEP_DMA_COHERENT,
                self.cpu.cast(),
                role,
            )
        })
    }
}
impl Drop for DmaCoherent {
    fn drop(&mut self) {
        // SAFETY: the buffer is held by this live instance.
        unsafe { api::ndriver_dma_free(self.inst, self.cpu.cast()) };
    }
}

/// `len` values of `T` (a `#[repr(C)]` descriptor, say) in a coherent DMA buffer that
/// the device reads and writes too: each element read or written whole, by index, with
/// volatile accesses, never through a reference. `T`'s derives (`FromBytes`,
/// `IntoBytes`) say that any bytes the device leaves are a valid `T` and that a `T`
/// has no padding to leak. The buffer as a whole; [`DmaSlice`] is the same for a part
/// of one, and [`DmaArray::slice`] gives this one as a [`DmaSlice`].
///
/// # Invariants
///
/// `buf` holds `len * size_of::<T>()` bytes at a page-aligned CPU address, so element
/// `i < len` is inside it and aligned for `T`.
pub(crate) struct DmaArray<T> {
    buf: DmaCoherent,
    len: usize,
    _t: PhantomData<T>,
}
impl<T: FromBytes + IntoBytes> DmaArray<T> {
    /// Keeps the array across a warm restart under `role` ([`Dev::adopt_dma_array`]).
    pub(crate) fn keep(&self, role: u32) -> Result {
        self.buf.keep(role)
    }

    /// Its number of elements.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The bus address of element 0.
    pub(crate) fn dma(&self) -> u64 {
        self.buf.dma()
    }

    /// The buffer (to register it with the framework).
    pub(crate) fn buf(&self) -> &DmaCoherent {
        &self.buf
    }

    /// All its elements, as a [`DmaSlice`] (what every access below goes through).
    pub(crate) fn slice(&self) -> DmaSlice<'_, T> {
        // INVARIANT: `len` values of `T` fit in `buf` (type invariant), at offset 0, which
        // is aligned for `T` (`dma_array` refuses an alignment above a page).
        DmaSlice {
            buf: &self.buf,
            off: 0,
            len: self.len,
            _t: PhantomData,
        }
    }

    /// Element `i`; `EINVAL` past the end.
    pub(crate) fn read(&self, i: usize) -> Result<T> {
        self.slice().read(i)
    }

    /// Writes element `i`; `EINVAL` past the end.
    pub(crate) fn write(&self, i: usize, v: T) -> Result {
        self.slice().write(i, v)
    }

    /// The bus address of element `i` (for a descriptor pointing at it); `ERANGE` past
    /// the end.
    pub(crate) fn dma_of(&self, i: usize) -> Result<u64> {
        self.slice().dma_of(i)
    }

    /// The bus address of the field `field` picks in element `i`, as in
    /// `slots.field_dma(tag, |s| &s.status)`: for a descriptor pointing at one field.
    /// `ERANGE` past the end or if `field` returns no part of its argument.
    pub(crate) fn field_dma<F>(&self, i: usize, field: impl FnOnce(&T) -> &F) -> Result<u64> {
        self.slice().field_dma(i, field)
    }

    /// Reads the field `field` picks in element `i` alone (`slots.read_field(tag, |s|
    /// &s.status)`), with one volatile access; `ERANGE` past the end or if `field`
    /// returns no part of its argument.
    pub(crate) fn read_field<F: FromBytes>(
        &self,
        i: usize,
        field: impl FnOnce(&T) -> &F,
    ) -> Result<F> {
        self.slice().read_field(i, field)
    }

    /// Writes `v` to the field `field` picks in element `i` alone, with one volatile
    /// access; `ERANGE` past the end or if `field` returns no part of its argument.
    pub(crate) fn write_field<F: IntoBytes>(
        &self,
        i: usize,
        field: impl FnOnce(&T) -> &F,
        v: F,
    ) -> Result {
        self.slice().write_field(i, field, v)
    }
}

/// `len` values of `T` at a byte offset of a [`DmaCoherent`]: a typed part of a buffer
/// the device shares (a ring of a virtqueue, after the descriptors, say), made by
/// [`DmaCoherent::slice`], which checks its bounds once. Its elements and their fields
/// are read and written as [`DmaArray`]'s are: whole or one field alone, by index,
/// with volatile accesses, never through a reference.
///
/// # Invariants
///
/// The `len * size_of::<T>()` bytes at byte `off` of `buf` lie inside it, and `off`
/// is a multiple of `align_of::<T>()`, at most a page: element `i < len` is inside the
/// live buffer and aligned for `T` (the buffer is page aligned).
pub(crate) struct DmaSlice<'a, T> {
    buf: &'a DmaCoherent,
    off: usize,
    len: usize,
    _t: PhantomData<T>,
}
impl<T: FromBytes + IntoBytes> DmaSlice<'_, T> {
    /// Its number of elements.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The CPU address of element `i`, or `None` past the end.
    fn element(&self, i: usize) -> Option<*mut T> {
        if i >= self.len {
            return None;
        }
        // Element `i < len` lies inside the buffer (type invariant): in bounds of the
        // allocation.
        Some(
            self.buf
                .cpu
                .cast::<u8>()
                .wrapping_add(self.off)
                .cast::<T>()
                .wrapping_add(i),
        )
    }

    /// Element `i`; `EINVAL` past the end.
    pub(crate) fn read(&self, i: usize) -> Result<T> {
        let p = self.element(i).ok_or(EINVAL)?;
        // SAFETY: element `i` is inside the live buffer and aligned (type invariant, `i`
        // checked); any bytes are a valid `T` (`FromBytes`), so whatever the device wrote is.
        Ok(unsafe { ptr::read_volatile(p) })
    }

    /// Writes element `i`; `EINVAL` past the end.
    pub(crate) fn write(&self, i: usize, v: T) -> Result {
        let p = self.element(i).ok_or(EINVAL)?;
        // SAFETY: element `i` is inside the live buffer and aligned (type invariant, `i`
        // checked); the CPU holds no reference into it.
        unsafe { ptr::write_volatile(p, v) };
        Ok(())
    }

    /// The bus address of element `i` (for a descriptor pointing at it); `ERANGE` past
    /// the end.
    pub(crate) fn dma_of(&self, i: usize) -> Result<u64> {
        if i >= self.len {
            return Err(ERANGE);
        }
        // Element `i` lies inside the buffer (type invariant), so this does not
        // overflow; checked all the same, without a panic path.
        i.checked_mul(core::mem::size_of::<T>())
            .and_then(|at| at.checked_add(self.off))
            .and_then(|off| self.buf.dma().checked_add(off as u64))
            .ok_or(ERANGE)
    }

    /// The bus address of the field `field` picks in element `i`, as in
    /// `slots.field_dma(tag, |s| &s.status)`: for a descriptor pointing at one field.
    /// `ERANGE` past the end or if `field` returns no part of its argument.
    pub(crate) fn field_dma<F>(&self, i: usize, field: impl FnOnce(&T) -> &F) -> Result<u64> {
        let off = field_offset(field)?;
        self.dma_of(i)?.checked_add(off as u64).ok_or(ERANGE)
    }

    /// Reads the field `field` picks in element `i` alone (`ring.read_field(i, |e|
    /// &e.id)`), with one volatile access; `ERANGE` past the end or if `field` returns
    /// no part of its argument.
    pub(crate) fn read_field<F: FromBytes>(
        &self,
        i: usize,
        field: impl FnOnce(&T) -> &F,
    ) -> Result<F> {
        let p = field_ptr(self.element(i).ok_or(ERANGE)?, field)?;
        // SAFETY: `field_ptr` gives a pointer inside element `i` of the live buffer (type
        // invariant, `i` checked), aligned for `F`; any bytes are a valid `F` (`FromBytes`),
        // so whatever the device wrote is.
        Ok(unsafe { ptr::read_volatile(p) })
    }

    /// Writes `v` to the field `field` picks in element `i` alone, with one volatile
    /// access; `ERANGE` past the end or if `field` returns no part of its argument.
    pub(crate) fn write_field<F: IntoBytes>(
        &self,
        i: usize,
        field: impl FnOnce(&T) -> &F,
        v: F,
    ) -> Result {
        let p = field_ptr(self.element(i).ok_or(ERANGE)?, field)?;
        // SAFETY: `field_ptr` gives a pointer inside element `i` of the live buffer (type
        // invariant, `i` checked), aligned for `F`; the CPU holds no reference into it; the
        // element stays a valid `T` whatever bytes it holds (`FromBytes`).
        unsafe { ptr::write_volatile(p, v) };
        Ok(())
    }
}

/// One `T` at a byte offset of a [`DmaCoherent`]: a typed header the device shares (a
/// virtqueue ring's flags and index, say), made by [`DmaCoherent::view`], which checks
/// its bounds once. Read and written whole or one field alone, with volatile accesses,
/// never through a reference.
///
/// # Invariants
///
/// The `size_of::<T>()` bytes at byte `off` of `buf` lie inside it, and `off` is a
/// multiple of `align_of::<T>()`, at most a page: the `T` there is inside the live
/// buffer and aligned (the buffer is page aligned).
pub(crate) struct DmaView<'a, T> {
    buf: &'a DmaCoherent,
    off: usize,
    _t: PhantomData<T>,
}
impl<T: FromBytes + IntoBytes> DmaView<'_, T> {
    /// The CPU address of the `T`.
    fn ptr(&self) -> *mut T {
        // The `T` lies inside the buffer (type invariant): in bounds of the allocation.
        self.buf.cpu.cast::<u8>().wrapping_add(self.off).cast::<T>()
    }

    /// The `T`, read whole.
    pub(crate) fn read(&self) -> T {
        // SAFETY: the `T` is inside the live buffer and aligned (type invariant); any bytes
        // are a valid `T` (`FromBytes`), so whatever the device wrote is.
        unsafe { ptr::read_volatile(self.ptr()) }
    }

    /// Writes `v` whole.
    pub(crate) fn write(&self, v: T) {
        // SAFETY: the `T` is inside the live buffer and aligned (type invariant); the CPU
        // holds no reference into it.
        unsafe { ptr::write_volatile(self.ptr(), v) }
    }

    /// The bus address of the `T`.
    pub(crate) fn dma(&self) -> u64 {
        // The `T` lies inside the buffer (type invariant): no overflow.
        self.buf.dma().wrapping_add(self.off as u64)
    }

    /// Reads the field `field` picks alone (`avail.read_field(|h| &h.idx)`), with one
    /// volatile access; `ERANGE` if `field` returns no part of its argument.
    pub(crate) fn read_field<F: FromBytes>(&self, field: impl FnOnce(&T) -> &F) -> Result<F> {
        let p = field_ptr(self.ptr(), field)?;
        // SAFETY: `field_ptr` gives a pointer inside the `T`, which is inside the live buffer
        // (type invariant), aligned for `F`; any bytes are a valid `F` (`FromBytes`), so
        // whatever the device wrote is.
        Ok(unsafe { ptr::read_volatile(p) })
    }

    /// Writes `v` to the field `field` picks alone, with one volatile access; `ERANGE`
    /// if `field` returns no part of its argument.
    pub(crate) fn write_field<F: IntoBytes>(&self, field: impl FnOnce(&T) -> &F, v: F) -> Result {
        let p = field_ptr(self.ptr(), field)?;
        // SAFETY: `field_ptr` gives a pointer inside the `T`, which is inside the live buffer
        // (type invariant), aligned for `F`; the CPU holds no reference into it; the `T`
        // stays valid whatever bytes it holds (`FromBytes`).
        unsafe { ptr::write_volatile(p, v) };
        Ok(())
    }
}

/// Where the field `field` picks lies in a `T`: its byte offset, found by applying
/// `field` to a zeroed `T` on the stack (the compiler folds it to a constant). `ERANGE`
/// if `field` returns a reference to anything but a part of its argument.
fn field_offset<T: FromBytes, F>(field: impl FnOnce(&T) -> &F) -> Result<usize> {
    let probe = T::new_zeroed();
    let base = ptr::from_ref(&probe).addr();
    let at = ptr::from_ref(field(&probe)).addr();
    let off = at.checked_sub(base).ok_or(ERANGE)?;
    if off
        .checked_add(core::mem::size_of::<F>())
        .is_none_or(|end| end > core::mem::size_of::<T>())
    {
        return Err(ERANGE);
    }
    Ok(off)
}

/// The address of the field `field` picks in the `T` at `element`: inside it (`ERANGE`
/// otherwise) and aligned for `F` (`EINVAL` otherwise). Computed without dereferencing
/// `element`.
fn field_ptr<T: FromBytes, F>(element: *mut T, field: impl FnOnce(&T) -> &F) -> Result<*mut F> {
    let off = field_offset(field)?;
    // `off + size_of::<F>()` is at most `size_of::<T>()` (checked): inside the element.
    let p = element.cast::<u8>().wrapping_add(off).cast::<F>();
    if !p.is_aligned() {
        return Err(EINVAL);
    }
    Ok(p)
}

/// The most bytes of coherent DMA memory one chunk of [`DmaBuffers`] takes unless the
/// driver says otherwise (order 5: larger contiguous blocks may not be found on a
/// fragmented machine).
const CHUNK_BYTES: usize = 128 * 1024;
/// The most chunks [`DmaBuffers`] holds.
pub(crate) const MAX_CHUNKS: usize = 8;

/// Buffers of `SIZE` bytes each in coherent DMA memory, addressed by index: the receive
/// buffers of a ring, its transmit bounce slots, the bounce buffers of a block queue's
/// tags. They lie in chunks (coherent allocations), each a whole number of buffers, at
/// most 8 chunks: [`Dev::dma_buffers`] puts as many buffers in a chunk as fit in 128 KiB
/// (a buffer larger than that has a chunk of its own), [`Dev::dma_buffers_chunked`] as
/// many as the driver says.
///
/// # Invariants
///
/// `per_chunk > 0`, and for every `i < len`, `chunks[i / per_chunk]` is a buffer of at
/// least `(i % per_chunk + 1) * SIZE` bytes: buffer `i` is the `SIZE` bytes at byte
/// `(i % per_chunk) * SIZE` of it.
pub(crate) struct DmaBuffers<const SIZE: usize> {
    chunks: [Option<DmaCoherent>; MAX_CHUNKS],
    per_chunk: usize,
    len: usize,
}

impl Dev {
    /// The `len` buffers the previous instance kept from role `role` on
    /// ([`DmaBuffers::keep`]), as many to a chunk as [`Dev::dma_buffers`] puts there.
    /// Only in `adopt`.
    pub(crate) fn adopt_dma_buffers<const SIZE: usize>(
        &self,
        role: u32,
        len: usize,
    ) -> Result<DmaBuffers<SIZE>> {
        self.adopt_dma_buffers_chunked(role, len, DmaBuffers::<SIZE>::default_per_chunk()?)
    }

    /// [`Dev::adopt_dma_buffers`] for buffers made `per_chunk` to a chunk
    /// ([`Dev::dma_buffers_chunked`]). Only in `adopt`.
    pub(crate) fn adopt_dma_buffers_chunked<const SIZE: usize>(
        &self,
        role: u32,
        len: usize,
        per_chunk: usize,
    ) -> Result<DmaBuffers<SIZE>> {
        DmaBuffers::<SIZE>::check_chunks(len, per_chunk)?;
        let mut chunks = [const { None }; MAX_CHUNKS];
        let mut left = len;
        let mut r = role;
        for c in chunks.iter_mut() {
            if left == 0 {
                break;
            }
            let n = left.min(per_chunk);
            *c = Some(self.adopt_dma(r, n * SIZE)?);
            r = r.checked_add(1).ok_or(EINVAL)?;
            left -= n;
        }
        // INVARIANT: as in `dma_buffers_chunked`: chunk `k` holds `n * SIZE` bytes
        // (checked by `adopt_dma`).
        Ok(DmaBuffers {
            chunks,
            per_chunk,
            len,
        })
    }

    /// `len` zeroed buffers of `SIZE` bytes in coherent DMA memory, as many to a chunk
    /// as fit in 128 KiB (at least one). `EINVAL` if they take more than 8 chunks (or
    /// `SIZE` is 0).
    pub(crate) fn dma_buffers<const SIZE: usize>(&self, len: usize) -> Result<DmaBuffers<SIZE>> {
        self.dma_buffers_chunked(len, DmaBuffers::<SIZE>::default_per_chunk()?)
    }

    /// `len` zeroed buffers of `SIZE` bytes in coherent DMA memory, `per_chunk` to a
    /// chunk (fewer, larger allocations). `EINVAL` if they take more than 8 chunks, if
    /// `SIZE` or `per_chunk` is 0, or a chunk's size overflows.
    pub(crate) fn dma_buffers_chunked<const SIZE: usize>(
        &self,
        len: usize,
        per_chunk: usize,
    ) -> Result<DmaBuffers<SIZE>> {
        DmaBuffers::<SIZE>::check_chunks(len, per_chunk)?;
        let mut chunks = [const { None }; MAX_CHUNKS];
        let mut left = len;
        for c in chunks.iter_mut() {
            if left == 0 {
                break;
            }
            let n = left.min(per_chunk);
            *c = Some(self.dma_alloc(n * SIZE)?);
            left -= n;
        }
        // INVARIANT: `per_chunk > 0` (checked); chunk `k` holds buffers `k * per_chunk ..`,
        // up to `per_chunk` of them or the last one, `SIZE` bytes each.
        Ok(DmaBuffers {
            chunks,
            per_chunk,
            len,
        })
    }
}

impl<const SIZE: usize> DmaBuffers<SIZE> {
    /// How many buffers of `SIZE` bytes fit in 128 KiB (at least one); `EINVAL` if
    /// `SIZE` is 0.
    fn default_per_chunk() -> Result<usize> {
        if SIZE == 0 {
            return Err(EINVAL);
        }
        Ok((CHUNK_BYTES / SIZE).max(1))
    }

    /// Whether `len` buffers, `per_chunk` to a chunk, take at most 8 chunks of a size
    /// that does not overflow; `EINVAL` if not (or if `SIZE` or `per_chunk` is 0).
    fn check_chunks(len: usize, per_chunk: usize) -> Result {
        if SIZE == 0 || per_chunk == 0 {
            return Err(EINVAL);
        }
        if per_chunk.checked_mul(SIZE).is_none() || len.div_ceil(per_chunk) > MAX_CHUNKS {
            return Err(EINVAL);
        }
        Ok(())
    }

    /// How many buffers.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The chunk of buffer `i` and the buffer's byte offset in it; `None` past the end.
    fn locate(&self, i: usize) -> Option<(&DmaCoherent, usize)> {
        if i >= self.len {
            return None;
        }
        // `per_chunk > 0` and buffer `i` lies inside its chunk (type invariant), so
        // none of these fails; checked all the same, without a panic path.
        let chunk = self.chunks.get(i.checked_div(self.per_chunk)?)?.as_ref()?;
        let off = i.checked_rem(self.per_chunk)?.checked_mul(SIZE)?;
        Some((chunk, off))
    }

    /// Keeps every chunk across a warm restart, under roles `role`, `role + 1`, ...
    /// ([`Dev::adopt_dma_buffers`]).
    pub(crate) fn keep(&self, role: u32) -> Result {
        let mut r = role;
        for c in self.chunks.iter().flatten() {
            c.keep(r)?;
            r = r.checked_add(1).ok_or(EINVAL)?;
        }
        Ok(())
    }

    /// The bus address of buffer `i` (for its descriptor); `EINVAL` past the end.
    pub(crate) fn dma(&self, i: usize) -> Result<u64> {
        let (chunk, off) = self.locate(i).ok_or(EINVAL)?;
        chunk.dma().checked_add(off as u64).ok_or(EINVAL)
    }

    /// Copies `src` to the start of buffer `i`; `EINVAL` past the end or if `src` is
    /// longer than a buffer.
    pub(crate) fn copy_in(&self, i: usize, src: &[u8]) -> Result {
        let (chunk, off) = self.locate(i).ok_or(EINVAL)?;
        if src.len() > SIZE {
            return Err(EINVAL);
        }
        // Buffer `i` lies inside its chunk (type invariant), so the copy fits; were it not
        // to, the answer would still be this function's `EINVAL`.
        chunk.copy_in(off, src).map_err(|_| EINVAL)
    }

    /// Copies the first `len` bytes of buffer `j` of `src` to byte `off` of buffer `i`
    /// (gathering a frame that spans several receive buffers). `EINVAL` past the end of
    /// either buffer.
    pub(crate) fn copy_from<const S: usize>(
        &self,
        i: usize,
        off: usize,
        src: &DmaBuffers<S>,
        j: usize,
        len: usize,
    ) -> Result {
        let end = off.checked_add(len).ok_or(EINVAL)?;
        let to = self.range(i, end).ok_or(EINVAL)?;
        let from = src.range(j, len).ok_or(EINVAL)?;
        // SAFETY: `range` checked that `from` is `len` bytes of a buffer of `src` and that
        // `off..end` lies in buffer `i`; both are coherent memory the caller owns now, and
        // `copy` allows them to overlap.
        unsafe { core::ptr::copy(from.cast_const(), to.add(off), len) };
        Ok(())
    }

    /// The CPU address of the first `len` bytes of buffer `i` (for callouts that copy
    /// into or out of it); `None` past the end or if `len` is more than a buffer.
    pub(crate) fn range(&self, i: usize, len: usize) -> Option<*mut u8> {
        let (chunk, off) = self.locate(i)?;
        if len > SIZE {
            return None;
        }
        chunk.range(off, len)
    }
}

/// A streaming DMA mapping.
///
/// # Invariants
///
/// `dma` is a streaming mapping the instance `inst` holds, unmapped when this value drops
/// (or when the driver gives back the bus address [`DmaMapping::into_raw`] kept).
pub(crate) struct DmaMapping {
    inst: *mut Instance,
    dma: u64,
}
// SAFETY: a `DmaMapping` is the instance pointer and a bus address; the unmap callout on
// drop may be called from any thread.
unsafe impl Send for DmaMapping {}
// SAFETY: a `&DmaMapping` only reads its bus address.
unsafe impl Sync for DmaMapping {}
impl DmaMapping {
    /// The bus address.
    pub(crate) fn dma(&self) -> u64 {
        self.dma
    }

    /// Keeps the mapping beyond this value: only its bus address remains, to be
    /// given to [`Dev::dma_unmap`] (or undone by the framework after a fault).
    pub(crate) fn into_raw(self) -> u64 {
        let d = self.dma;
        core::mem::forget(self);
        d
    }
}
impl Drop for DmaMapping {
    fn drop(&mut self) {
        // SAFETY: the mapping is held by this live instance.
        unsafe { api::ndriver_dma_unmap(self.inst, self.dma) };
    }
}

// Built into the test module only (`selftests/kunit/`): every implementation compiles
// this file in.
#[cfg(ndriver_kunit)]
#[kunit_tests(ndriver_dma)]
mod tests {
    use super::*;
    use core::mem::ManuallyDrop;

    /// Bytes of the stand-in buffer.
    const SIZE: usize = 256;

    /// Memory standing in for a coherent buffer (only the CPU touches it here).
    #[repr(C, align(64))]
    struct FakeBuf([u8; SIZE]);

    /// A descriptor as a device shares one.
    #[repr(C)]
    #[derive(Clone, Copy, FromBytes, IntoBytes)]
    struct Desc {
        addr: u64,
        len: u16,
        cmd: u8,
        status: u8,
        special: u32,
    }

    /// A descriptor with every field set.
    const DESC: Desc = Desc {
        addr: 0xaaaa,
        len: 60,
        cmd: 3,
        status: 0,
        special: 7,
    };

    /// Something that is not part of any `Desc`.
    static ELSEWHERE: u32 = 0;

    /// A ring header as a virtqueue shares one.
    #[repr(C)]
    #[derive(Clone, Copy, FromBytes, IntoBytes)]
    struct Header {
        flags: u16,
        idx: u16,
    }

    /// A stand-in coherent buffer of `SIZE` zeroed bytes at bus address `0x10000`; give
    /// it back with [`free`]. It never drops (nothing was allocated through the callouts).
    fn fake() -> Result<(*mut FakeBuf, ManuallyDrop<DmaCoherent>)> {
        fake_at(0x10000)
    }

    /// As [`fake`], at bus address `dma`.
    fn fake_at(dma: u64) -> Result<(*mut FakeBuf, ManuallyDrop<DmaCoherent>)> {
        let mem = KBox::into_raw(KBox::new(FakeBuf([0; SIZE]), GFP_KERNEL)?);
        let buf = DmaCoherent {
            inst: ptr::null_mut(),
            cpu: mem.cast(),
            dma,
            size: SIZE,
        };
        Ok((mem, ManuallyDrop::new(buf)))
    }

    /// Frees what [`fake`] made.
    ///
    /// # Safety
    ///
    /// `mem` came from [`fake`], and nothing uses it any more.
    unsafe fn free(mem: *mut FakeBuf) {
        // SAFETY: per this function's contract.
        drop(unsafe { KBox::from_raw(mem) });
    }

    #[test]
    fn coherent_words_bounded() -> Result {
        let (mem, buf) = fake()?;
        assert_eq!(buf.write(SIZE / 4 - 1, 0xfeed_beef), Ok(()));
        assert_eq!(buf.read(SIZE / 4 - 1), Ok(0xfeed_beef));
        assert_eq!(buf.write(SIZE / 4, 1), Err(ERANGE));
        assert_eq!(buf.read(SIZE / 4), Err(ERANGE));
        assert_eq!(buf.read(usize::MAX), Err(ERANGE));
        // SAFETY: `mem` came from `fake`; `buf` is not used any more.
        unsafe { free(mem) };
        Ok(())
    }

    #[test]
    fn coherent_offsets_bounded_and_aligned() -> Result {
        let (mem, buf) = fake()?;
        assert_eq!(buf.write64(SIZE - 8, 0x0102_0304_0506_0708), Ok(()));
        assert_eq!(buf.read64(SIZE - 8), Ok(0x0102_0304_0506_0708));
        assert_eq!(buf.read32(SIZE - 4), Ok(0x0102_0304));
        assert_eq!(buf.read16(SIZE - 2), Ok(0x0102));
        assert_eq!(buf.read8(SIZE - 1), Ok(0x01));
        // Not fitting: `ERANGE`; misaligned: `EINVAL`.
        assert_eq!(buf.read64(SIZE - 4), Err(ERANGE));
        assert_eq!(buf.read8(SIZE), Err(ERANGE));
        assert_eq!(buf.write16(usize::MAX, 0), Err(ERANGE));
        assert_eq!(buf.read32(2), Err(EINVAL));
        assert_eq!(buf.write64(4, 0), Err(EINVAL));
        assert_eq!(buf.write_at(SIZE - 16, DESC), Ok(()));
        assert_eq!(buf.read_at::<Desc>(SIZE - 16).map(|d| d.special), Ok(7));
        assert_eq!(buf.read_at::<Desc>(SIZE - 8).err(), Some(ERANGE));
        assert_eq!(buf.read_at::<Desc>(4).err(), Some(EINVAL));
        assert_eq!(buf.write_at(12, DESC), Err(EINVAL));
        // Copies and ranges.
        assert_eq!(buf.copy_in(SIZE - 3, b"abc"), Ok(()));
        assert_eq!(buf.read8(SIZE - 3), Ok(b'a'));
        assert_eq!(buf.copy_in(SIZE - 2, b"xyz"), Err(ERANGE));
        assert_eq!(buf.read8(SIZE - 2), Ok(b'b'));
        assert_eq!(buf.copy_in(usize::MAX, b"x"), Err(ERANGE));
        assert!(buf.range(0, SIZE).is_some());
        assert!(buf.range(1, SIZE).is_none());
        assert!(buf.range(SIZE, 0).is_some());
        assert!(buf.range(usize::MAX, 2).is_none());
        // SAFETY: `mem` came from `fake`; `buf` is not used any more.
        unsafe { free(mem) };
        Ok(())
    }

    #[test]
    fn array_elements_and_fields() -> Result {
        let (mem, buf) = fake()?;
        let n = SIZE / size_of::<Desc>();
        let ring = ManuallyDrop::new(DmaArray::<Desc> {
            buf: ManuallyDrop::into_inner(buf),
            len: n,
            _t: PhantomData,
        });
        let d = DESC;
        assert_eq!(ring.write(n - 1, d), Ok(()));
        assert_eq!(ring.read(n - 1).map(|d| d.addr), Ok(0xaaaa));
        assert_eq!(ring.write(n, d), Err(EINVAL));
        assert_eq!(ring.read(n).err(), Some(EINVAL));
        assert_eq!(ring.read(usize::MAX).err(), Some(EINVAL));
        // Bus addresses of elements and fields.
        assert_eq!(ring.dma_of(0), Ok(0x10000));
        assert_eq!(ring.dma_of(n - 1), Ok(0x10000 + (SIZE - 16) as u64));
        assert_eq!(ring.dma_of(n), Err(ERANGE));
        assert_eq!(ring.field_dma(1, |d| &d.status), Ok(0x10000 + 16 + 11));
        assert_eq!(ring.field_dma(n, |d| &d.status), Err(ERANGE));
        // One field alone, the others untouched.
        assert_eq!(ring.write_field(n - 1, |d| &d.status, 1), Ok(()));
        assert_eq!(ring.read_field(n - 1, |d| &d.status), Ok(1));
        assert_eq!(ring.read_field(n - 1, |d| &d.len), Ok(60));
        assert_eq!(ring.read(n - 1).map(|d| (d.cmd, d.special)), Ok((3, 7)));
        assert_eq!(ring.read_field(n, |d| &d.status), Err(ERANGE));
        assert_eq!(ring.write_field(n, |d| &d.status, 1), Err(ERANGE));
        // A "field" outside the element is refused.
        assert_eq!(ring.read_field(0, |_| &ELSEWHERE), Err(ERANGE));
        assert_eq!(ring.write_field(0, |_| &ELSEWHERE, 1), Err(ERANGE));
        // SAFETY: `mem` came from `fake`; `ring` is not used any more.
        unsafe { free(mem) };
        Ok(())
    }

    #[test]
    fn slices_bounded_and_aligned() -> Result {
        let (mem, buf) = fake()?;
        // Sixteen `u16`s, the last bytes of the buffer.
        let ring = buf.slice::<u16>(SIZE - 32, 16)?;
        assert_eq!(ring.len(), 16);
        assert_eq!(ring.write(15, 0xbeef), Ok(()));
        assert_eq!(buf.read16(SIZE - 2), Ok(0xbeef));
        assert_eq!(ring.read(15), Ok(0xbeef));
        assert_eq!(ring.write(16, 1), Err(EINVAL));
        assert_eq!(ring.read(16), Err(EINVAL));
        assert_eq!(ring.read(usize::MAX), Err(EINVAL));
        assert_eq!(ring.dma_of(1), Ok(0x10000 + (SIZE - 30) as u64));
        assert_eq!(ring.dma_of(16), Err(ERANGE));
        // Not fitting, the length overflowing: `ERANGE`; an empty slice at the end is one.
        assert_eq!(buf.slice::<u16>(SIZE - 32, 17).err(), Some(ERANGE));
        assert_eq!(buf.slice::<u16>(SIZE, 1).err(), Some(ERANGE));
        assert_eq!(buf.slice::<u16>(usize::MAX, 1).err(), Some(ERANGE));
        assert_eq!(buf.slice::<u64>(0, usize::MAX / 4).err(), Some(ERANGE));
        assert_eq!(buf.slice::<u16>(SIZE, 0).map(|s| s.len()), Ok(0));
        assert_eq!(buf.slice::<u16>(SIZE + 2, 0).err(), Some(ERANGE));
        // Misaligned: `EINVAL`.
        assert_eq!(buf.slice::<u16>(1, 1).err(), Some(EINVAL));
        assert_eq!(buf.slice::<Desc>(4, 1).err(), Some(EINVAL));
        // Elements of a struct at an offset, whole and one field alone.
        let descs = buf.slice::<Desc>(16, 2)?;
        assert_eq!(descs.write(1, DESC), Ok(()));
        assert_eq!(buf.read64(32), Ok(0xaaaa));
        assert_eq!(descs.write_field(1, |d| &d.status, 1), Ok(()));
        assert_eq!(buf.read8(32 + 11), Ok(1));
        assert_eq!(descs.read_field(1, |d| &d.len), Ok(60));
        assert_eq!(descs.read(1).map(|d| (d.cmd, d.status)), Ok((3, 1)));
        assert_eq!(descs.field_dma(1, |d| &d.status), Ok(0x10000 + 32 + 11));
        assert_eq!(descs.field_dma(2, |d| &d.status), Err(ERANGE));
        assert_eq!(descs.read_field(2, |d| &d.status), Err(ERANGE));
        assert_eq!(descs.write_field(2, |d| &d.status, 1), Err(ERANGE));
        assert_eq!(descs.read_field(0, |_| &ELSEWHERE), Err(ERANGE));
        assert_eq!(descs.write_field(0, |_| &ELSEWHERE, 1), Err(ERANGE));
        // Element 0 of the slice is not element 0 of the buffer.
        assert_eq!(buf.read64(0), Ok(0));
        // SAFETY: `mem` came from `fake`; `buf`, `ring` and `descs` are not used any more.
        unsafe { free(mem) };
        Ok(())
    }

    #[test]
    fn buffers_by_index_bounded() -> Result {
        // Seven buffers of 64 bytes, four to a chunk: 0-3 in the first, 4-6 in the second.
        let (mem0, c0) = fake_at(0x10000)?;
        let (mem1, c1) = fake_at(0x20000)?;
        let mut chunks = [const { None }; MAX_CHUNKS];
        chunks[0] = Some(ManuallyDrop::into_inner(c0));
        chunks[1] = Some(ManuallyDrop::into_inner(c1));
        let bufs = ManuallyDrop::new(DmaBuffers::<64> {
            chunks,
            per_chunk: 4,
            len: 7,
        });
        assert_eq!(bufs.len(), 7);
        assert_eq!(bufs.dma(0), Ok(0x10000));
        assert_eq!(bufs.dma(3), Ok(0x10000 + 192));
        assert_eq!(bufs.dma(4), Ok(0x20000));
        assert_eq!(bufs.dma(6), Ok(0x20000 + 128));
        assert_eq!(bufs.dma(7), Err(EINVAL));
        assert_eq!(bufs.dma(usize::MAX), Err(EINVAL));
        // A buffer's bytes, and no more.
        assert_eq!(bufs.range(0, 64), Some(mem0.cast::<u8>()));
        assert_eq!(bufs.range(6, 64), Some(mem1.cast::<u8>().wrapping_add(128)));
        assert!(bufs.range(6, 65).is_none());
        assert!(bufs.range(7, 0).is_none());
        // A copy lands at the start of its buffer, in its chunk.
        assert_eq!(bufs.copy_in(5, b"xyz"), Ok(()));
        // SAFETY: `mem1` is live (freed below); nothing else accesses it now.
        assert_eq!(unsafe { ptr::read(mem1.cast::<u8>().add(64)) }, b'x');
        assert_eq!(bufs.copy_in(5, &[0; 65]), Err(EINVAL));
        assert_eq!(bufs.copy_in(7, b"x"), Err(EINVAL));
        // A piece of one buffer into another at an offset (gathering), within both.
        assert_eq!(bufs.copy_from(2, 10, &bufs, 5, 3), Ok(()));
        // SAFETY: `mem0` is live (freed below); nothing else accesses it now.
        assert_eq!(unsafe { ptr::read(mem0.cast::<u8>().add(128 + 12)) }, b'z');
        assert_eq!(bufs.copy_from(2, 61, &bufs, 5, 3), Ok(()));
        assert_eq!(bufs.copy_from(2, 62, &bufs, 5, 3), Err(EINVAL));
        assert_eq!(bufs.copy_from(2, usize::MAX, &bufs, 5, 3), Err(EINVAL));
        assert_eq!(bufs.copy_from(2, 0, &bufs, 5, 65), Err(EINVAL));
        assert_eq!(bufs.copy_from(7, 0, &bufs, 5, 1), Err(EINVAL));
        assert_eq!(bufs.copy_from(2, 0, &bufs, 7, 1), Err(EINVAL));
        // SAFETY: `mem0` and `mem1` came from `fake_at`; `bufs` is not used any more.
        unsafe {
            free(mem0);
            free(mem1);
        }
        Ok(())
    }

    #[test]
    fn buffers_chunking() {
        // As many as fit in 128 KiB, or one.
        assert_eq!(DmaBuffers::<2048>::default_per_chunk(), Ok(64));
        assert_eq!(DmaBuffers::<{ 64 * 1024 }>::default_per_chunk(), Ok(2));
        assert_eq!(DmaBuffers::<{ 256 * 1024 }>::default_per_chunk(), Ok(1));
        assert_eq!(DmaBuffers::<0>::default_per_chunk(), Err(EINVAL));
        // At most 8 chunks.
        assert_eq!(DmaBuffers::<{ 64 * 1024 }>::check_chunks(64, 8), Ok(()));
        assert_eq!(
            DmaBuffers::<{ 64 * 1024 }>::check_chunks(65, 8),
            Err(EINVAL)
        );
        assert_eq!(DmaBuffers::<2048>::check_chunks(0, 64), Ok(()));
        assert_eq!(DmaBuffers::<2048>::check_chunks(512, 64), Ok(()));
        assert_eq!(DmaBuffers::<2048>::check_chunks(513, 64), Err(EINVAL));
        // No empty chunks, no chunk size that overflows.
        assert_eq!(DmaBuffers::<2048>::check_chunks(1, 0), Err(EINVAL));
        assert_eq!(DmaBuffers::<0>::check_chunks(1, 1), Err(EINVAL));
        assert_eq!(
            DmaBuffers::<2048>::check_chunks(1, usize::MAX / 1024),
            Err(EINVAL)
        );
    }

    #[test]
    fn views_bounded_and_aligned() -> Result {
        let (mem, buf) = fake()?;
        // A header in the last 4 bytes of the buffer.
        let h = buf.view::<Header>(SIZE - 4)?;
        h.write(Header { flags: 1, idx: 2 });
        assert_eq!(buf.read16(SIZE - 4), Ok(1));
        assert_eq!(buf.read16(SIZE - 2), Ok(2));
        // One field alone, the other untouched.
        assert_eq!(h.write_field(|h| &h.idx, 0x1234), Ok(()));
        assert_eq!(buf.read16(SIZE - 2), Ok(0x1234));
        assert_eq!(h.read_field(|h| &h.flags), Ok(1));
        assert_eq!(h.read().idx, 0x1234);
        assert_eq!(h.dma(), 0x10000 + (SIZE - 4) as u64);
        // A "field" outside the header is refused.
        assert_eq!(h.read_field(|_| &ELSEWHERE), Err(ERANGE));
        assert_eq!(h.write_field(|_| &ELSEWHERE, 1), Err(ERANGE));
        // Not fitting: `ERANGE`; misaligned: `EINVAL`.
        assert_eq!(buf.view::<Header>(SIZE - 2).err(), Some(ERANGE));
        assert_eq!(buf.view::<Header>(SIZE).err(), Some(ERANGE));
        assert_eq!(buf.view::<Header>(usize::MAX).err(), Some(ERANGE));
        assert_eq!(buf.view::<Header>(1).err(), Some(EINVAL));
        assert_eq!(buf.view::<Desc>(SIZE - 20).err(), Some(EINVAL));
        assert_eq!(buf.view::<Desc>(SIZE - 16).map(|d| d.read().addr), Ok(0));
        // SAFETY: `mem` came from `fake`; `buf` and `h` are not used any more.
        unsafe { free(mem) };
        Ok(())
    }
}
