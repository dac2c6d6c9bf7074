// SPDX-License-Identifier: GPL-2.0

//! BARs for implementations: [`Bar`] (memory, through the kernel's `Mmio` backend) and
//! [`IoBar`] (memory or I/O ports through `ioread*`/`iowrite*`, [`IoMapBackend`]). Both
//! are accessed with the kernel's `kernel::io::Io` methods, so with the typed registers
//! `kernel::io::register!` defines, checked against the BAR: a constant offset when the
//! driver is built, a computed one at run time. Part of `driver_dev.rs`.

use super::Dev;
use crate::abi::Instance;
use crate::callouts_api as api;
use core::marker::PhantomData;
use kernel::bindings;
use kernel::ffi::c_void;
use kernel::io::{IoBackend, IoBase, IoCapable, Mmio as MmioView, MmioBackend, MmioRaw, Region};
use kernel::prelude::*;
use kernel::ptr::KnownSize;

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
        let region = Region::<SIZE>::ptr_try_from_raw_parts_mut(map.base.cast(), map.len)?;
        // INVARIANT: `region` covers the whole BAR `map` holds mapped; `Region` checked that
        // it is 4-byte aligned, a multiple of 4 bytes and at least `SIZE` bytes long.
        Ok(IoBar { map, region })
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
/// [`kernel::io::Io`] methods, preferably on registers defined with
/// `kernel::io::register!`: `read(REG)`, `write_reg(value)` and `update(REG, f)` check
/// the register's constant offset against `SIZE` when the driver is built;
/// `try_read`/`try_write` check a computed location (an array register's
/// `try_at(i)`) against the BAR's real length and return `EINVAL` for one outside it.
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

/// A view of (part of) a BAR mapped for `ioread*`/`iowrite*`: what [`IoMapBackend`]
/// performs the kernel's [`kernel::io::Io`] accesses on, the counterpart of
/// [`kernel::io::Mmio`] for a mapping that may be I/O ports.
///
/// # Invariants
///
/// `ptr` is an `ioread*`/`iowrite*` address (an I/O-port cookie or an MMIO address) of a
/// region, of the size its metadata says and aligned as `T` is, that stays mapped for
/// `'a`.
pub(crate) struct IoMapView<'a, T: ?Sized> {
    ptr: *mut T,
    _lifetime: PhantomData<&'a ()>,
}

impl<T: ?Sized> Copy for IoMapView<'_, T> {}
impl<T: ?Sized> Clone for IoMapView<'_, T> {
    #[inline]
    fn clone(&self) -> Self {
        *self
    }
}

impl<'a, T: ?Sized + KnownSize> IoBase<'a> for IoMapView<'a, T> {
    type Backend = IoMapBackend;
    type Target = T;

    #[inline]
    fn as_view(self) -> Self {
        self
    }
}

/// The [`IoBackend`] of [`IoBar`]: 8-, 16- and 32-bit accesses through
/// `ioread*`/`iowrite*`, which pick port or memory instructions from the address.
pub(crate) struct IoMapBackend;

impl IoBackend for IoMapBackend {
    type View<'a, T: ?Sized + KnownSize> = IoMapView<'a, T>;

    #[inline]
    fn as_ptr<'a, T: ?Sized + KnownSize>(view: Self::View<'a, T>) -> *mut T {
        view.ptr
    }

    #[inline]
    unsafe fn project_view<'a, T: ?Sized + KnownSize, U: ?Sized + KnownSize>(
        _view: Self::View<'a, T>,
        ptr: *mut U,
    ) -> Self::View<'a, U> {
        // INVARIANT: `ptr` is a projection of the view's region (the caller's contract), so it
        // lies inside a region mapped for `'a`; `io_view*` checked its size and alignment.
        IoMapView {
            ptr,
            _lifetime: PhantomData,
        }
    }
}

/// `IoCapable<$t>` of [`IoMapBackend`], through `$ior`/`$iow`.
macro_rules! iomap_capable {
    ($t:ty, $ior:ident, $iow:ident) => {
        impl IoCapable<$t> for IoMapBackend {
            #[inline(always)]
            fn io_read(view: IoMapView<'_, $t>) -> $t {
                // SAFETY: `view.ptr` is an `ioread*` address of a mapped, aligned `$t` (type
                // invariant of `IoMapView`); the mapping outlives the view.
                unsafe { bindings::$ior(view.ptr.cast_const().cast()) as $t }
            }

            #[inline(always)]
            fn io_write(view: IoMapView<'_, $t>, value: $t) {
                // SAFETY: `view.ptr` is an `iowrite*` address of a mapped, aligned `$t` (type
                // invariant of `IoMapView`); the mapping outlives the view.
                unsafe { bindings::$iow(value.into(), view.ptr.cast()) }
            }
        }
    };
}
iomap_capable!(u8, ioread8, iowrite8);
iomap_capable!(u16, ioread16, iowrite16);
iomap_capable!(u32, ioread32, iowrite32);

/// A mapped BAR of at least `SIZE` bytes, memory or I/O ports, accessed with the kernel's
/// [`kernel::io::Io`] methods (and so with registers of `kernel::io::register!`) as
/// [`Bar`] is, through `ioread*`/`iowrite*` ([`IoMapBackend`]): a constant offset is
/// checked against `SIZE` when the driver is built, a computed one against the BAR's
/// real length.
///
/// # Invariants
///
/// `region` is the `ioread*`/`iowrite*` address of the whole BAR `map` holds mapped (its
/// length is the pointer's), 4-byte aligned, at least `SIZE` bytes long and a multiple of
/// 4 bytes (the invariants of [`Region`]).
pub(crate) struct IoBar<const SIZE: usize = 0> {
    map: BarMap,
    region: *mut Region<SIZE>,
}
// SAFETY: an `IoBar` is a `BarMap` (which is `Send`) and the mapping's address.
unsafe impl<const SIZE: usize> Send for IoBar<SIZE> {}
// SAFETY: a `&IoBar` gives register accesses, which may run on several CPUs at once as any
// driver's do; and the mapping's address.
unsafe impl<const SIZE: usize> Sync for IoBar<SIZE> {}

impl<const SIZE: usize> IoBar<SIZE> {
    /// The mapping's address (for callouts that record register writes).
    pub(crate) fn addr(&self) -> *mut c_void {
        self.map.base
    }
}

impl<'a, const SIZE: usize> IoBase<'a> for &'a IoBar<SIZE> {
    type Backend = IoMapBackend;
    type Target = Region<SIZE>;

    #[inline]
    fn as_view(self) -> IoMapView<'a, Region<SIZE>> {
        // INVARIANT: `self.region` is the whole mapped BAR, aligned as a `Region` is (type
        // invariant), mapped for as long as `self`, that is for `'a`.
        IoMapView {
            ptr: self.region,
            _lifetime: PhantomData,
        }
    }
}

// Built into the test module only (`selftests/kunit/`): every implementation compiles
// this file in.
#[cfg(ndriver_kunit)]
#[kunit_tests(ndriver_bar)]
mod tests {
    use super::*;
    use core::mem::ManuallyDrop;
    use kernel::io::Io;

    /// Bytes of the stand-in BAR.
    const LEN: usize = 64;

    /// Memory standing in for a mapped BAR: on x86 `readl`/`writel` and `ioread*`/
    /// `iowrite*` above the port range are plain moves, which reach memory as they reach
    /// a device.
    #[repr(C, align(8))]
    struct FakeBar([u8; LEN]);

    /// A new stand-in BAR of `LEN` bytes, all `0xff`, and its claim; give it back with
    /// [`free`]. The claim never drops (nothing was mapped to unmap).
    fn fake() -> Result<(*mut FakeBar, ManuallyDrop<BarMap>)> {
        let mem = KBox::into_raw(KBox::new(FakeBar([0xff; LEN]), GFP_KERNEL)?);
        let map = BarMap {
            inst: core::ptr::null_mut(),
            base: mem.cast(),
            len: LEN,
        };
        Ok((mem, ManuallyDrop::new(map)))
    }

    /// Frees what [`fake`] made.
    ///
    /// # Safety
    ///
    /// `mem` came from [`fake`], and nothing uses it any more.
    unsafe fn free(mem: *mut FakeBar) {
        // SAFETY: per this function's contract.
        drop(unsafe { KBox::from_raw(mem) });
    }

    #[test]
    fn offset_fits() {
        assert!(fits::<u32>(0, 4));
        assert!(fits::<u32>(60, 64));
        assert!(!fits::<u32>(62, 64));
        assert!(!fits::<u32>(64, 64));
        assert!(!fits::<u32>(2, 64));
        assert!(fits::<u8>(63, 64));
        assert!(!fits::<u8>(64, 64));
        assert!(!fits::<u16>(usize::MAX - 1, 64));
        assert!(!fits::<u32>(0, 0));
        assert!(!fits::<u32>(0, 2));
    }

    #[test]
    fn io_bar_checks_computed_offsets() -> Result {
        let (mem, map) = fake()?;
        let bar = ManuallyDrop::new(IoBar::<16>(ManuallyDrop::into_inner(map)));
        assert_eq!(bar.try_write32(0x1234_5678, LEN - 4), Ok(()));
        assert_eq!(bar.try_read32(LEN - 4), Ok(0x1234_5678));
        assert_eq!(bar.try_read16(LEN - 2), Ok(0x1234));
        assert_eq!(bar.try_read8(LEN - 1), Ok(0x12));
        // Past the end, across it, misaligned, and offsets that overflow.
        assert_eq!(bar.try_read32(LEN), Err(EINVAL));
        assert_eq!(bar.try_read16(LEN - 1), Err(EINVAL));
        assert_eq!(bar.try_read8(LEN), Err(EINVAL));
        assert_eq!(bar.try_read32(6), Err(EINVAL));
        assert_eq!(bar.try_write32(0, LEN + 4), Err(EINVAL));
        assert_eq!(bar.try_write16(0, usize::MAX - 1), Err(EINVAL));
        assert_eq!(bar.try_write8(0, usize::MAX), Err(EINVAL));
        // None of the refused writes reached memory.
        assert_eq!(bar.try_read32(0), Ok(0xffff_ffff));
        // Constant offsets below `SIZE` are checked when the module is built.
        bar.write16(0xabcd, 14);
        assert_eq!(bar.read16(14), 0xabcd);
        assert_eq!(bar.read8(15), 0xab);
        // SAFETY: `mem` came from `fake`; `bar` is not used any more.
        unsafe { free(mem) };
        Ok(())
    }

    #[test]
    fn mmio_bar_checks_computed_offsets() -> Result {
        let (mem, map) = fake()?;
        let io = MmioRaw::new_region(mem.addr(), LEN)?;
        let bar = ManuallyDrop::new(Bar::<16> {
            map: ManuallyDrop::into_inner(map),
            io,
        });
        let b: &Bar<16> = &bar;
        assert_eq!(b.try_write32(0x0bad_f00d, LEN - 4), Ok(()));
        assert_eq!(b.try_read32(LEN - 4), Ok(0x0bad_f00d));
        assert_eq!(b.try_read32(LEN), Err(EINVAL));
        assert_eq!(b.try_read32(LEN - 2), Err(EINVAL));
        assert_eq!(b.try_read32(2), Err(EINVAL));
        assert_eq!(b.try_read64(usize::MAX - 7), Err(EINVAL));
        assert_eq!(b.try_write8(0, LEN), Err(EINVAL));
        assert_eq!(b.try_read32(0), Ok(0xffff_ffff));
        b.write32(7, 12);
        assert_eq!(b.read32(12), 7);
        // SAFETY: `mem` came from `fake`; `bar` is not used any more.
        unsafe { free(mem) };
        Ok(())
    }

    #[test]
    fn region_at_least_size() -> Result {
        let (mem, _map) = fake()?;
        // What `iomap::<SIZE>` refuses: a BAR shorter than `SIZE`, or not whole words.
        assert!(MmioRaw::<Region<64>>::new_region(mem.addr(), LEN).is_ok());
        assert!(MmioRaw::<Region<128>>::new_region(mem.addr(), LEN).is_err());
        assert!(MmioRaw::<Region<0>>::new_region(mem.addr(), LEN - 2).is_err());
        assert!(MmioRaw::<Region<0>>::new_region(mem.addr() + 2, 8).is_err());
        // SAFETY: `mem` came from `fake`; the claim is not used.
        unsafe { free(mem) };
        Ok(())
    }
}
