// SPDX-License-Identifier: GPL-2.0

//! What every implementation, of any class, gets from the framework: [`Dev`], the
//! handle of the running instance, and the kernel resources it hands out through the
//! callouts, each a value whose `Drop` gives it back. Compiled into each
//! implementation module with `#[path]`, after `abi` and `callouts_api`; the class
//! glue (`testdev_driver.rs`, `nic_driver.rs`) builds on it.

// Each implementation uses only the calls it needs.
#![allow(dead_code)]

use crate::abi::Instance;
use crate::callouts_api as api;
use core::marker::PhantomData;
use core::ptr;
use core::sync::atomic::{AtomicU64, Ordering};
use kernel::bindings;
use kernel::io::{IoBase, Mmio as MmioView, MmioBackend, MmioRaw, Region};
use kernel::prelude::*;

/// The framework's handle, as a driver sees it during one entry-point call.
pub(crate) struct Dev(*mut Instance);

impl Dev {
    /// The instance's generation (1 for a device's first instance).
    pub(crate) fn generation(&self) -> u64 {
        // SAFETY: `self.0` is the live instance this entry point was called for.
        unsafe { api::ndriver_generation(self.0) }
    }

    /// Asks the framework whether a fault is to be injected at `entry` now; the
    /// driver's fault site raises it (see `sample-drivers/fault_sites.rs`).
    pub(crate) fn fault_point(&self, entry: impl Into<u32>) -> u32 {
        // SAFETY: `self.0` is this entry point's live instance (`from_handle`'s contract).
        unsafe { api::ndriver_fault_point(self.0, entry.into()) }
    }

    /// The framework's handle of the instance (for the class glue's callouts).
    pub(crate) fn handle(&self) -> *mut Instance {
        self.0
    }

    /// The handle for `inst`.
    ///
    /// # Safety
    ///
    /// `inst` is the live instance an entry point was called for; the `Dev` is used
    /// only during that call.
    pub(crate) unsafe fn from_handle(inst: *mut Instance) -> Self {
        Dev(inst)
    }

    /// Whether the device has a PCI function to drive.
    pub(crate) fn pci_present(&self) -> bool {
        // SAFETY: `self.0` is this entry point's live instance (`from_handle`'s contract).
        unsafe { api::ndriver_pci_present(self.0) != 0 }
    }

    /// Enables the PCI function (bus mastering; INTx once [`Dev::request_irq`] has put
    /// the framework's handler on the line) until the result drops.
    pub(crate) fn pci_enable(&self) -> Result<PciEnabled> {
        // SAFETY: `self.0` is this entry point's live instance (`from_handle`'s contract).
        kernel::error::to_result(unsafe { api::ndriver_pci_enable(self.0) })?;
        Ok(PciEnabled(self.0))
    }

    /// Enables the PCI function without bus mastering (the device cannot DMA yet)
    /// until the result drops; [`PciEnabled::set_master`] turns mastering on.
    pub(crate) fn pci_enable_quiet(&self) -> Result<PciEnabled> {
        // SAFETY: `self.0` is this entry point's live instance (`from_handle`'s contract).
        kernel::error::to_result(unsafe { api::ndriver_pci_enable_quiet(self.0) })?;
        Ok(PciEnabled(self.0))
    }

    /// Claims and maps BAR `bar` (a memory BAR if `mem_only`), and learns its length.
    fn map_bar(&self, bar: u32, mem_only: bool) -> Result<BarMap> {
        // SAFETY: `self.0` is this entry point's live instance (`from_handle`'s contract); the
        // callout checks `bar`.
        let len = unsafe { api::ndriver_pci_bar_len(self.0, bar, u32::from(mem_only)) };
        let len = usize::try_from(len).map_err(|_| EINVAL)?;
        if len == 0 {
            return Err(ENODEV);
        }
        // SAFETY: as for the length: the live instance, and a BAR number the callout checks.
        let base = unsafe { api::ndriver_pci_iomap(self.0, bar) };
        if base.is_null() {
            return Err(EBUSY);
        }
        // INVARIANT: the callout mapped the whole BAR, `len` bytes, for this instance.
        Ok(BarMap {
            inst: self.0,
            base,
            len,
        })
    }

    /// Claims and maps memory BAR `bar`, which must be at least `SIZE` bytes long
    /// (`EINVAL` if it is shorter; `ENODEV` if it is not a memory BAR).
    pub(crate) fn iomap<const SIZE: usize>(&self, bar: u32) -> Result<Bar<SIZE>> {
        let map = self.map_bar(bar, true)?;
        let io = MmioRaw::new_region(map.base as usize, map.len)?;
        // INVARIANT: `io` covers exactly the BAR `map` holds mapped, a memory BAR (the
        // callout gives no length for another kind), so the mapping is an MMIO address.
        Ok(Bar { map, io })
    }

    /// Claims and maps BAR `bar`, memory or I/O ports, for `ioread*`/`iowrite*`; it must
    /// be at least `SIZE` bytes long (`EINVAL` if it is shorter).
    pub(crate) fn iomap_io<const SIZE: usize>(&self, bar: u32) -> Result<IoBar<SIZE>> {
        let map = self.map_bar(bar, false)?;
        if map.len < SIZE {
            return Err(EINVAL);
        }
        Ok(IoBar(map))
    }

    /// Routes the device's interrupt to the `devirq` entry point until the result
    /// drops. After [`Self::pci_enable`].
    pub(crate) fn request_irq(&self) -> Result<IrqLine> {
        // SAFETY: `self.0` is this entry point's live instance (`from_handle`'s contract).
        kernel::error::to_result(unsafe { api::ndriver_request_irq(self.0) })?;
        Ok(IrqLine(self.0))
    }

    /// A zeroed coherent DMA buffer of `size` bytes (page aligned).
    pub(crate) fn dma_alloc(&self, size: usize) -> Result<DmaCoherent> {
        let mut dma = 0u64;
        // SAFETY: `self.0` is this entry point's live instance (`from_handle`'s contract); `dma`
        // is a valid out-pointer.
        let cpu = unsafe { api::ndriver_dma_alloc(self.0, size, &mut dma) };
        if cpu.is_null() {
            return Err(ENOMEM);
        }
        Ok(DmaCoherent {
            inst: self.0,
            cpu: cpu.cast(),
            dma,
            size,
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

    /// `size` zeroed bytes of memory.
    pub(crate) fn alloc(&self, size: usize) -> Result<Memory> {
        self.alloc_with(size, false)
    }

    /// `size` zeroed bytes of memory, from any context (no sleeping).
    pub(crate) fn alloc_atomic(&self, size: usize) -> Result<Memory> {
        self.alloc_with(size, true)
    }

    fn alloc_with(&self, size: usize, atomic: bool) -> Result<Memory> {
        // SAFETY: `self.0` is this entry point's live instance (`from_handle`'s contract).
        let ptr = unsafe { api::ndriver_alloc(self.0, size, u32::from(atomic)) };
        if ptr.is_null() {
            return Err(ENOMEM);
        }
        // INVARIANT: a new block of `size` bytes from kmalloc (at least 8-byte aligned), held
        // by this instance until `Memory::drop` frees it, and reached only through `Memory`.
        Ok(Memory {
            inst: self.0,
            ptr: ptr.cast(),
            size,
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
        Ok(DmaMapping { inst: self.0, dma })
    }

    /// Ends a streaming mapping kept with [`DmaMapping::into_raw`].
    pub(crate) fn dma_unmap(&self, dma: u64) {
        // SAFETY: the live instance gives back a mapping it holds.
        unsafe { api::ndriver_dma_unmap(self.0, dma) }
    }

    /// A stopped timer that calls the `timer` entry point with `cookie`.
    pub(crate) fn timer(&self, cookie: u64) -> Result<Timer> {
        // SAFETY: `self.0` is this entry point's live instance (`from_handle`'s contract).
        let t = unsafe { api::ndriver_timer_setup(self.0, cookie) };
        if t.is_null() {
            return Err(ENOMEM);
        }
        Ok(Timer { inst: self.0, t })
    }

    /// A work item that calls the `work` entry point with `cookie`.
    pub(crate) fn work(&self, cookie: u64) -> Result<WorkItem> {
        // SAFETY: `self.0` is this entry point's live instance (`from_handle`'s contract).
        let w = unsafe { api::ndriver_work_setup(self.0, cookie) };
        if w.is_null() {
            return Err(ENOMEM);
        }
        Ok(WorkItem { inst: self.0, w })
    }
}

// The resource handles below give their resource back through the callouts when they
// drop, which happens only on an orderly `remove`. After a fault nothing of the driver
// runs again: the framework's undo list gives back what the handles still held.
//
// SAFETY (for each `Send`/`Sync` below): a handle is an instance pointer and a
// resource address; the callouts they call are safe from any context and thread.

/// The enabled PCI function.
pub(crate) struct PciEnabled(*mut Instance);
// SAFETY: a `PciEnabled` is only the instance pointer; its callouts (`set_master`, the
// disable on drop) may be called from any thread.
unsafe impl Send for PciEnabled {}
// SAFETY: a `&PciEnabled` only allows `set_master`, a callout safe to call from several
// threads at once.
unsafe impl Sync for PciEnabled {}
impl PciEnabled {
    /// Lets the device master the bus (DMA).
    pub(crate) fn set_master(&self) {
        // SAFETY: the function is enabled by this live instance.
        unsafe { api::ndriver_pci_set_master(self.0) }
    }
}
impl Drop for PciEnabled {
    fn drop(&mut self) {
        // SAFETY: the instance is live while the driver's state is.
        unsafe { api::ndriver_pci_disable(self.0) };
    }
}

/// A claimed and mapped BAR, given back when it drops.
///
/// # Invariants
///
/// `base` is the live mapping of a whole BAR of `len` bytes, held by the instance `inst`
/// until this value drops.
struct BarMap {
    inst: *mut Instance,
    base: *mut c_void,
    len: usize,
}
// SAFETY: a `BarMap` is the instance pointer and the mapping's address; the unmap callout
// on drop may be called from any thread.
unsafe impl Send for BarMap {}
// SAFETY: a `&BarMap` gives only the mapping's address and length; register accesses built on
// it may run on several CPUs at once, as any driver's register accesses do.
unsafe impl Sync for BarMap {}
impl Drop for BarMap {
    fn drop(&mut self) {
        // SAFETY: the mapping is held by this live instance (type invariant).
        unsafe { api::ndriver_pci_iounmap(self.inst, self.base) };
    }
}

/// A mapped memory BAR of at least `SIZE` bytes, accessed with the kernel's
/// [`kernel::io::Io`] methods: `read32(OFF)`/`write32(v, OFF)` check a constant offset
/// against `SIZE` when the driver is built, `try_read32(off)`/`try_write32(v, off)` a
/// computed one against the BAR's real length, and return `EINVAL` for one outside it.
///
/// # Invariants
///
/// `io` is the region `map` holds mapped: its whole length, at least `SIZE` bytes.
pub(crate) struct Bar<const SIZE: usize = 0> {
    map: BarMap,
    io: MmioRaw<Region<SIZE>>,
}

impl<'a, const SIZE: usize> IoBase<'a> for &'a Bar<SIZE> {
    type Backend = MmioBackend;
    type Target = Region<SIZE>;

    #[inline]
    fn as_view(self) -> MmioView<'a, Region<SIZE>> {
        // SAFETY: `self.io` is a live, 4-byte aligned MMIO mapping (type invariant) for as long
        // as `self`, that is for `'a`.
        unsafe { MmioView::from_raw(self.io) }
    }
}

/// Whether a `T` fits at `offset` in a region of `size` bytes, naturally aligned.
const fn fits<T>(offset: usize, size: usize) -> bool {
    let n = core::mem::size_of::<T>();
    offset % n == 0 && offset <= size && n <= size - offset
}

/// Port or memory I/O accessors of an [`IoBar`], checked as those of [`Bar`] are.
macro_rules! port_access {
    ($read:ident, $try_read:ident, $write:ident, $try_write:ident, $t:ty, $ior:ident, $iow:ident) => {
        #[doc = concat!("Reads the `", stringify!($t), "` register at constant `offset` (checked against `SIZE` at build time).")]
        #[inline(always)]
        pub(crate) fn $read(&self, offset: usize) -> $t {
            build_assert!(fits::<$t>(offset, SIZE));
            // SAFETY: `offset` is inside the BAR's first `SIZE` bytes, which are mapped (type
            // invariant), and naturally aligned.
            unsafe { bindings::$ior(self.0.base.wrapping_byte_add(offset)) as $t }
        }

        #[doc = concat!("Reads the `", stringify!($t), "` register at `offset`; `EINVAL` outside the BAR.")]
        pub(crate) fn $try_read(&self, offset: usize) -> Result<$t> {
            if !fits::<$t>(offset, self.0.len) {
                return Err(EINVAL);
            }
            // SAFETY: `offset` is inside the mapped BAR (checked against its length) and
            // naturally aligned.
            Ok(unsafe { bindings::$ior(self.0.base.wrapping_byte_add(offset)) as $t })
        }

        #[doc = concat!("Writes the `", stringify!($t), "` register at constant `offset` (checked against `SIZE` at build time).")]
        #[inline(always)]
        pub(crate) fn $write(&self, value: $t, offset: usize) {
            build_assert!(fits::<$t>(offset, SIZE));
            // SAFETY: `offset` is inside the BAR's first `SIZE` bytes, which are mapped (type
            // invariant), and naturally aligned.
            unsafe { bindings::$iow(value.into(), self.0.base.wrapping_byte_add(offset)) }
        }

        #[doc = concat!("Writes the `", stringify!($t), "` register at `offset`; `EINVAL` outside the BAR.")]
        pub(crate) fn $try_write(&self, value: $t, offset: usize) -> Result {
            if !fits::<$t>(offset, self.0.len) {
                return Err(EINVAL);
            }
            // SAFETY: `offset` is inside the mapped BAR (checked against its length) and
            // naturally aligned.
            unsafe { bindings::$iow(value.into(), self.0.base.wrapping_byte_add(offset)) };
            Ok(())
        }
    };
}

/// A mapped BAR of at least `SIZE` bytes, memory or I/O ports, accessed with
/// `ioread*`/`iowrite*` (which pick port or memory instructions from the mapping).
///
/// # Invariants
///
/// The BAR the [`BarMap`] holds is at least `SIZE` bytes long.
pub(crate) struct IoBar<const SIZE: usize = 0>(BarMap);
impl<const SIZE: usize> IoBar<SIZE> {
    /// The mapping's address (for callouts that record register writes).
    pub(crate) fn addr(&self) -> *mut c_void {
        self.0.base
    }

    port_access!(read8, try_read8, write8, try_write8, u8, ioread8, iowrite8);
    port_access!(
        read16,
        try_read16,
        write16,
        try_write16,
        u16,
        ioread16,
        iowrite16
    );
    port_access!(
        read32,
        try_read32,
        write32,
        try_write32,
        u32,
        ioread32,
        iowrite32
    );
}

/// The device's interrupt line, routed to `devirq`.
pub(crate) struct IrqLine(*mut Instance);
// SAFETY: an `IrqLine` is only the instance pointer; the free callout on drop may be called
// from any thread.
unsafe impl Send for IrqLine {}
// SAFETY: a `&IrqLine` allows no operation at all, so sharing it is sound.
unsafe impl Sync for IrqLine {}
impl Drop for IrqLine {
    fn drop(&mut self) {
        // SAFETY: the line is held by this live instance.
        unsafe { api::ndriver_free_irq(self.0) };
    }
}

/// Typed accessors of a [`DmaCoherent`] at byte offsets: the buffer is shared with the
/// device, hence volatile.
macro_rules! dma_access {
    ($read:ident, $write:ident, $t:ty) => {
        /// Reads the value at byte offset `off` (0 if out of range or misaligned).
        pub(crate) fn $read(&self, off: usize) -> $t {
            if !self.fits::<$t>(off) {
                return 0;
            }
            // SAFETY: in bounds and aligned (checked); the buffer lives while `self`.
            unsafe { ptr::read_volatile(self.cpu.cast::<u8>().add(off).cast::<$t>()) }
        }

        /// Writes `v` at byte offset `off`; `false` if out of range or misaligned.
        pub(crate) fn $write(&self, off: usize, v: $t) -> bool {
            if !self.fits::<$t>(off) {
                return false;
            }
            // SAFETY: in bounds and aligned (checked); the buffer lives while `self`.
            unsafe { ptr::write_volatile(self.cpu.cast::<u8>().add(off).cast::<$t>(), v) };
            true
        }
    };
}

/// A coherent DMA buffer.
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

    /// Writes 32-bit word `i`; `false` if out of range.
    pub(crate) fn write(&self, i: usize, v: u32) -> bool {
        if i >= self.size / 4 {
            return false;
        }
        // SAFETY: in bounds of the live buffer; the device only reads it.
        unsafe { ptr::write_volatile(self.cpu.add(i), v) };
        true
    }

    /// Reads 32-bit word `i` (0 if out of range).
    pub(crate) fn read(&self, i: usize) -> u32 {
        if i >= self.size / 4 {
            return 0;
        }
        // SAFETY: as for `write`.
        unsafe { ptr::read_volatile(self.cpu.add(i)) }
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
    /// whole with a volatile access; `None` if it does not fit there or is misaligned.
    pub(crate) fn read_at<T: FromBytes>(&self, off: usize) -> Option<T> {
        if !self.fits::<T>(off) {
            return None;
        }
        // SAFETY: in bounds and aligned for `T` (checked); the buffer lives while `self`; any
        // bytes are a valid `T` (`FromBytes`), so whatever the device wrote is.
        Some(unsafe { ptr::read_volatile(self.cpu.cast::<u8>().add(off).cast::<T>()) })
    }

    /// Writes `v` whole at byte offset `off` with a volatile access; `EINVAL` if it does
    /// not fit there or is misaligned.
    pub(crate) fn write_at<T: IntoBytes>(&self, off: usize, v: T) -> Result {
        if !self.fits::<T>(off) {
            return Err(EINVAL);
        }
        // SAFETY: in bounds and aligned for `T` (checked); the buffer lives while `self`, and the
        // CPU holds no reference into it.
        unsafe { ptr::write_volatile(self.cpu.cast::<u8>().add(off).cast::<T>(), v) };
        Ok(())
    }

    /// Copies `src` to byte offset `off`; `false` if out of range.
    pub(crate) fn copy_in(&self, off: usize, src: &[u8]) -> bool {
        let Some(dst) = self.range(off, src.len()) else {
            return false;
        };
        // SAFETY: in bounds of the live buffer, which `src` cannot overlap.
        unsafe { ptr::copy_nonoverlapping(src.as_ptr(), dst, src.len()) };
        true
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

    /// Whether a `T` fits at byte offset `off`, aligned (the buffer is page aligned).
    fn fits<T>(&self, off: usize) -> bool {
        let n = core::mem::size_of::<T>();
        off % core::mem::align_of::<T>() == 0
            && core::mem::align_of::<T>() <= kernel::page::PAGE_SIZE
            && off.checked_add(n).is_some_and(|end| end <= self.size)
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
/// has no padding to leak.
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

    /// Element `i`, or `None` past the end.
    pub(crate) fn read(&self, i: usize) -> Option<T> {
        if i >= self.len {
            return None;
        }
        // SAFETY: element `i` is inside the live buffer and aligned (type invariant, `i`
        // checked); any bytes are a valid `T` (`FromBytes`), so whatever the device wrote is.
        Some(unsafe { ptr::read_volatile(self.buf.cpu.cast::<T>().add(i)) })
    }

    /// Writes element `i`; `EINVAL` past the end.
    pub(crate) fn write(&self, i: usize, v: T) -> Result {
        if i >= self.len {
            return Err(EINVAL);
        }
        // SAFETY: element `i` is inside the live buffer and aligned (type invariant, `i`
        // checked); the CPU holds no reference into it.
        unsafe { ptr::write_volatile(self.buf.cpu.cast::<T>().add(i), v) };
        Ok(())
    }
}

/// Memory from the callouts, read and written as 64-bit words.
///
/// # Invariants
///
/// `ptr` is a live, 8-byte aligned (kmalloc) block of `size` bytes that the instance
/// `inst` holds and gives back only when this value drops; the CPU reaches it only
/// through this value, with atomic word accesses (a device may DMA to or from it while
/// mapped with [`Dev::dma_map`]).
pub(crate) struct Memory {
    inst: *mut Instance,
    ptr: *mut u8,
    size: usize,
}
// SAFETY: a `Memory` is the instance pointer and a kmalloc block, not tied to a thread; the
// free callout on drop may be called from any thread.
unsafe impl Send for Memory {}
// SAFETY: a `&Memory` reaches its block only through atomic word loads and stores, which may
// race with each other from several CPUs without undefined behaviour.
unsafe impl Sync for Memory {}
impl Memory {
    /// Its address (to tell the framework where something lies in it).
    pub(crate) fn as_ptr(&self) -> *const u8 {
        self.ptr
    }

    /// The 64-bit word `i`, if in range.
    fn word(&self, i: usize) -> Option<&AtomicU64> {
        if i >= self.size / 8 {
            return None;
        }
        // SAFETY: word `i` is inside the live, 8-byte aligned block (type invariant), which
        // is only ever accessed atomically and lives as long as `self`.
        Some(unsafe { AtomicU64::from_ptr(self.ptr.cast::<u64>().add(i)) })
    }

    /// Reads the 64-bit word `i` (0 if out of range).
    pub(crate) fn get64(&self, i: usize) -> u64 {
        self.word(i).map_or(0, |w| w.load(Ordering::Relaxed))
    }

    /// Writes the 64-bit word `i` (ignored if out of range).
    pub(crate) fn set64(&self, i: usize, v: u64) {
        if let Some(w) = self.word(i) {
            w.store(v, Ordering::Relaxed);
        }
    }
}
impl Drop for Memory {
    fn drop(&mut self) {
        // SAFETY: the block is held by this live instance.
        unsafe { api::ndriver_free(self.inst, self.ptr.cast()) };
    }
}

/// A streaming DMA mapping.
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

/// A timer calling the `timer` entry point.
pub(crate) struct Timer {
    inst: *mut Instance,
    t: *mut c_void,
}
// SAFETY: a `Timer` is the instance pointer and the timer's handle; the cancel callout on
// drop may be called from any thread.
unsafe impl Send for Timer {}
// SAFETY: a `&Timer` only (re)arms it, a callout safe from any context and on several CPUs
// at once (it checks the handle under the undo list's lock; the hrtimer has its own).
unsafe impl Sync for Timer {}
impl Timer {
    /// (Re)arms the timer `delay_ns` from now; also from its own entry point.
    pub(crate) fn arm(&self, delay_ns: u64) {
        // SAFETY: the timer is held by this live instance.
        unsafe { api::ndriver_timer_arm(self.inst, self.t, delay_ns) };
    }
}
impl Drop for Timer {
    fn drop(&mut self) {
        // SAFETY: the timer is held by this live instance.
        unsafe { api::ndriver_timer_cancel(self.inst, self.t) };
    }
}

/// A work item calling the `work` entry point.
pub(crate) struct WorkItem {
    inst: *mut Instance,
    w: *mut c_void,
}
// SAFETY: a `WorkItem` is the instance pointer and the item's handle; the cancel callout on
// drop may be called from any thread.
unsafe impl Send for WorkItem {}
// SAFETY: a `&WorkItem` only queues it, a callout safe from any context and on several
// CPUs at once (queueing an already queued item is a no-op).
unsafe impl Sync for WorkItem {}
impl WorkItem {
    /// Queues the work item (no-op if queued already).
    pub(crate) fn queue(&self) {
        // SAFETY: the work item is held by this live instance.
        unsafe { api::ndriver_work_queue(self.inst, self.w) };
    }
}
impl Drop for WorkItem {
    fn drop(&mut self) {
        // SAFETY: the work item is held by this live instance.
        unsafe { api::ndriver_work_cancel(self.inst, self.w) };
    }
}

/// The descriptor of the implementation whose operation table is the static `$ops`,
/// of class `$class`, named `$name`, driving the PCI functions `$ids` (a
/// `&'static [abi::PciId]`), and the module `$module` that registers it at `insmod`:
/// the common part of the classes' `*_implementation!` macros.
// Every class's glue uses it, but a module includes this file whatever its class.
#[allow(unused_macros)]
macro_rules! implementation_module {
    (
        class: $class:literal,
        ops: $ops:ident,
        pci_ids: $ids:expr,
        name: $name:literal,
        module: $module:literal,
        description: $desc:literal $(,)?
    ) => {
        static DESC: abi::ImplDesc = abi::ImplDesc {
            abi_version: abi::ABI_VERSION,
            class: $class.as_ptr().cast(),
            name: $name.as_ptr().cast(),
            ops: core::ptr::from_ref(&$ops).cast(),
            pci_ids: $ids.as_ptr(),
            pci_ids_len: $ids.len(),
        };
        module! {
            type: Registration,
            name: $module,
            authors: ["ndriver developers"],
            description: $desc,
            license: "GPL",
        }
        struct Registration;
        impl kernel::Module for Registration {
            fn init(module: &'static ThisModule) -> Result<Self> {
                // SAFETY: `DESC` is a static that outlives the registration, which
                // `drop` ends before the module goes away.
                kernel::error::to_result(unsafe {
                    callouts_api::ndriver_register_impl(&DESC, module.as_ptr().cast())
                })?;
                Ok(Registration)
            }
        }
        impl Drop for Registration {
            fn drop(&mut self) {
                // SAFETY: `DESC` was registered by `init`.
                unsafe { callouts_api::ndriver_unregister_impl(&DESC) };
            }
        }
    };
}
#[allow(unused_imports)]
pub(crate) use implementation_module;
