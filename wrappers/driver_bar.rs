// SPDX-License-Identifier: GPL-2.0

//! BARs for implementations: [`Bar`] (memory, driven by the kernel's `kernel::io::Io`
//! accessors) and [`IoBar`] (memory or I/O ports through `ioread*`/`iowrite*`), both
//! checked against the BAR: a constant offset when the driver is built, a computed one
//! at run time. Part of `driver_dev.rs`.

use super::Dev;
use crate::abi::Instance;
use crate::callouts_api as api;
use kernel::bindings;
use kernel::ffi::c_void;
use kernel::io::{IoBase, Mmio as MmioView, MmioBackend, MmioRaw, Region};
use kernel::prelude::*;

impl Dev {
    /// Claims and maps BAR `bar` (a memory BAR if `mem_only`), and learns its length.
    fn map_bar(&self, bar: u32, mem_only: bool) -> Result<BarMap> {
        // SAFETY: `self.0` is this entry point's live instance (`from_handle`'s contract); the
        // callout checks `bar`.
        let len = unsafe { api::ndriver_pci_bar_len(self.0, bar, u32::from(mem_only)) };
        let len = usize::try_from(len).map_err(|_| EINVAL)?;
        if len == 0 {
            return Err(ENODEV);
        }
        // SAFETY: `self.0` is this entry point's live instance (`from_handle`'s contract); the
        // callout checks `bar`.
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
        // INVARIANT: the BAR is at least `SIZE` bytes long (checked).
        Ok(IoBar(map))
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
