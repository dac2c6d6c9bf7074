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
    /// The memory BAR the previous instance kept under `role` ([`Bar::keep`]), which
    /// must be at least `SIZE` bytes long. Only in `adopt`.
    pub(crate) fn adopt_iomap<const SIZE: usize>(&self, role: u32) -> Result<Bar<SIZE>> {
        let map = self.adopt_bar(role, true)?;
        let io = map.mmio_region::<SIZE>()?;
        // INVARIANT: as in `iomap`.
        Ok(Bar { map, io })
    }

    /// The BAR, memory or I/O ports, the previous instance kept under `role`
    /// ([`IoBar::keep`]), which must be at least `SIZE` bytes long. Only in `adopt`.
    pub(crate) fn adopt_iomap_io<const SIZE: usize>(&self, role: u32) -> Result<IoBar<SIZE>> {
        let map = self.adopt_bar(role, false)?;
        let region = map.io_region::<SIZE>()?;
        // INVARIANT: as in `iomap_io`.
        Ok(IoBar { map, region })
    }

    /// The mapping of the BAR kept under `role` (a memory BAR if `mem_only`), taken
    /// into this instance, and its length.
    fn adopt_bar(&self, role: u32, mem_only: bool) -> Result<BarMap> {
        let a = self.adopt_raw(crate::abi::KEEP_IOMAP, role)?;
        let bar = u32::try_from(a.len).map_err(|_| EINVAL)?;
        // SAFETY: `self.0` is this entry point's live instance (`from_handle`'s contract); the
        // callout checks `bar`.
        let len = unsafe { api::ndriver_pci_bar_len(self.0, bar, u32::from(mem_only)) };
        let len = usize::try_from(len).map_err(|_| EINVAL)?;
        if len == 0 || a.cpu == 0 {
            return Err(ENODEV);
        }
        // INVARIANT: the callout moved the kept mapping of the whole BAR `bar`, `len` bytes
        // (a memory BAR if `mem_only`: the callout gives no length for another kind), into
        // this instance's undo list; `cpu` is that mapping.
        Ok(BarMap {
            inst: self.0,
            base: a.cpu as usize as *mut c_void,
            len,
            index: bar,
        })
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
            index: bar,
        })
    }

    /// Claims and maps memory BAR `bar`, which must be at least `SIZE` bytes long
    /// (`EINVAL` if it is shorter; `ENODEV` if it is not a memory BAR).
    pub(crate) fn iomap<const SIZE: usize>(&self, bar: u32) -> Result<Bar<SIZE>> {
        let map = self.map_bar(bar, true)?;
        let io = map.mmio_region::<SIZE>()?;
        // INVARIANT: `io` covers exactly the BAR `map` holds mapped, a memory BAR (the
        // callout gives no length for another kind), so the mapping is an MMIO address.
        Ok(Bar { map, io })
    }

    /// Claims and maps BAR `bar`, memory or I/O ports, for `ioread*`/`iowrite*`; it must
    /// be at least `SIZE` bytes long (`EINVAL` if it is shorter).
    pub(crate) fn iomap_io<const SIZE: usize>(&self, bar: u32) -> Result<IoBar<SIZE>> {
        let map = self.map_bar(bar, false)?;
        let region = map.io_region::<SIZE>()?;
        // INVARIANT: `region` covers the whole BAR `map` holds mapped; `Region` checked that
        // it is 4-byte aligned, a multiple of 4 bytes and at least `SIZE` bytes long.
        Ok(IoBar { map, region })
    }
}

/// A claimed and mapped BAR, given back when it drops.
///
/// # Invariants
///
/// `base` is the live mapping of the whole BAR number `index`, of `len` bytes, held by
/// the instance `inst` until this value drops.
struct BarMap {
    inst: *mut Instance,
    base: *mut c_void,
    len: usize,
    index: u32,
}
// SAFETY: a `BarMap` is the instance pointer and the mapping's address; the unmap callout
// on drop may be called from any thread.
unsafe impl Send for BarMap {}
// SAFETY: a `&BarMap` gives only the mapping's address and length; register accesses built on
// it may run on several CPUs at once, as any driver's register accesses do.
unsafe impl Sync for BarMap {}
impl BarMap {
    /// The whole mapping as an MMIO [`Region`] of at least `SIZE` bytes (for [`Bar`]):
    /// `EINVAL` if the BAR is shorter, its address not 4-byte aligned or its length not a
    /// multiple of 4 bytes.
    fn mmio_region<const SIZE: usize>(&self) -> Result<MmioRaw<Region<SIZE>>> {
        MmioRaw::new_region(self.base as usize, self.len)
    }

    /// The whole mapping as the `ioread*`/`iowrite*` address of a [`Region`] of at least
    /// `SIZE` bytes (for [`IoBar`]), with the checks of [`BarMap::mmio_region`].
    fn io_region<const SIZE: usize>(&self) -> Result<*mut Region<SIZE>> {
        Region::<SIZE>::ptr_try_from_raw_parts_mut(self.base.cast(), self.len)
    }
}
impl Drop for BarMap {
    fn drop(&mut self) {
        // SAFETY: the mapping is held by this live instance (type invariant).
        unsafe { api::ndriver_pci_iounmap(self.inst, self.base) };
    }
}

impl<const SIZE: usize> Bar<SIZE> {
    /// Keeps the BAR claimed and mapped across a warm restart under `role`
    /// ([`Dev::adopt_iomap`]).
    pub(crate) fn keep(&self, role: u32) -> Result {
        // SAFETY: the mapping is held by this live instance (`BarMap`'s invariant).
        kernel::error::to_result(unsafe {
            api::ndriver_keep(self.map.inst, crate::abi::KEEP_IOMAP, self.map.base, role)
        })
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

impl<const SIZE: usize> Bar<SIZE> {
    /// The mapping's address (for callouts that record register writes).
    pub(crate) fn addr(&self) -> *mut c_void {
        self.map.base
    }

    /// The BAR's number (0 to 5).
    pub(crate) fn index(&self) -> u32 {
        self.map.index
    }

    /// The BAR's length in bytes.
    pub(crate) fn len(&self) -> usize {
        self.map.len
    }

    /// The part of the BAR from byte `offset` to its end, which must be at least `W`
    /// bytes long (`EINVAL` if it is not, or if `offset` is not 4-byte aligned): a
    /// register block whose place in the BAR the device tells at run time (a virtio
    /// capability). It is accessed like a [`Bar`] of `W` bytes, with registers whose
    /// offsets are relative to the window and checked against `W` when the driver is
    /// built; making one costs a few comparisons.
    pub(crate) fn window<const W: usize>(&self, offset: usize) -> Result<BarWindow<'_, W>> {
        let len = self.map.len.checked_sub(offset).ok_or(EINVAL)?;
        let addr = (self.map.base as usize).checked_add(offset).ok_or(EINVAL)?;
        let io = MmioRaw::new_region(addr, len)?;
        // INVARIANT: `io` is the part of the BAR's live mapping (a memory BAR: `Bar`'s
        // invariant) from `offset` to its end; `Region` checked its alignment and length.
        Ok(BarWindow {
            io,
            bar: self.map.base,
            offset,
            _bar: PhantomData,
        })
    }
}

/// A register block inside a mapped memory BAR ([`Bar::window`]), of at least `W`
/// bytes, accessed with the kernel's [`kernel::io::Io`] methods as a [`Bar`] is.
///
/// # Invariants
///
/// `io` is the part of the mapping at `bar` (of the [`Bar`] borrowed for `'a`) from
/// `offset` bytes to its end, 4-byte aligned and at least `W` bytes long.
pub(crate) struct BarWindow<'a, const W: usize> {
    io: MmioRaw<Region<W>>,
    bar: *mut c_void,
    offset: usize,
    _bar: PhantomData<&'a BarMap>,
}

impl<const W: usize> BarWindow<'_, W> {
    /// Where the window starts in its BAR.
    pub(crate) fn offset(&self) -> usize {
        self.offset
    }

    /// The mapping of the BAR it lies in ([`Bar::addr`]).
    pub(crate) fn bar_addr(&self) -> *mut c_void {
        self.bar
    }
}

impl<'w, const W: usize> IoBase<'w> for &'w BarWindow<'_, W> {
    type Backend = MmioBackend;
    type Target = Region<W>;

    #[inline]
    fn as_view(self) -> MmioView<'w, Region<W>> {
        // SAFETY: `self.io` lies inside the live MMIO mapping of the `Bar` the window
        // borrows, 4-byte aligned (type invariant), and the borrow outlives `'w`.
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

    /// # Safety
    ///
    /// As for the trait's `project_view`.
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

    /// Keeps the BAR claimed and mapped across a warm restart under `role`
    /// ([`Dev::adopt_iomap_io`]).
    pub(crate) fn keep(&self, role: u32) -> Result {
        // SAFETY: the mapping is held by this live instance (`BarMap`'s invariant).
        kernel::error::to_result(unsafe {
            api::ndriver_keep(self.map.inst, crate::abi::KEEP_IOMAP, self.map.base, role)
        })
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
    use kernel::io::register::{Array, RegisterBase, WithBase};
    use kernel::io::{register, Io};

    /// Bytes of the stand-in BAR (its real length); the types below claim `SIZE` = 16.
    const LEN: usize = 64;

    register! {
        /// A word at a fixed offset.
        WORD(u32) @ 0x0 {
            31:0 v => u32;
        }

        /// The last half-word below `SIZE`.
        HALF(u16) @ 0xe {
            15:0 v => u16;
        }

        /// The last byte below `SIZE`.
        BYTE(u8) @ 0xf {
            7:0 v => u8;
        }

        /// 32 words from 0: the first 16 lie inside the stand-in BAR (`LEN` bytes), the
        /// others past its end; only the first 4 lie below `SIZE`.
        WORDS(u32)[32] @ 0x0 {
            31:0 v => u32;
        }

        /// Words 6 bytes apart from 0x20: every other one is misaligned.
        SPREAD(u32)[4, stride = 6] @ 0x20 {
            31:0 v => u32;
        }

        /// One layout at several places, as `e1000_hw::CAUSES`.
        PLACED(u32) @ Places + 0x4 {
            31:0 v => u32;
        }
    }

    /// The family of bases of [`PLACED`].
    struct Places;
    /// A base that puts `PLACED` below `SIZE` (at 8).
    struct Near;
    /// A base that puts it past `SIZE` but inside the stand-in BAR (at 0x34).
    struct Far;
    /// A base that puts it past the stand-in BAR's end (at 0x40).
    struct Beyond;
    impl RegisterBase<Places> for Near {
        const BASE: usize = 0x4;
    }
    impl RegisterBase<Places> for Far {
        const BASE: usize = 0x30;
    }
    impl RegisterBase<Places> for Beyond {
        const BASE: usize = 0x3c;
    }

    /// Memory standing in for a mapped BAR: on x86 `readl`/`writel` and `ioread*`/
    /// `iowrite*` above the port range are plain moves, which reach memory as they reach
    /// a device.
    #[repr(C, align(8))]
    struct FakeBar([u8; LEN]);

    /// A new stand-in BAR of `LEN` bytes, all `0xff`; give it back with [`free`].
    fn fake() -> Result<*mut FakeBar> {
        Ok(KBox::into_raw(KBox::new(FakeBar([0xff; LEN]), GFP_KERNEL)?))
    }

    /// The claim of a mapping of `len` bytes at byte `at` of `mem`, as `map_bar` would
    /// make it. It never drops (nothing was mapped to unmap).
    fn claim(mem: *mut FakeBar, at: usize, len: usize) -> ManuallyDrop<BarMap> {
        ManuallyDrop::new(BarMap {
            inst: core::ptr::null_mut(),
            base: mem.cast::<u8>().wrapping_add(at).cast(),
            len,
            index: 0,
        })
    }

    /// An `IoBar<16>` on all of `mem`, built as `iomap_io` builds it; it never drops.
    fn io_bar(mem: *mut FakeBar) -> Result<ManuallyDrop<IoBar<16>>> {
        let map = claim(mem, 0, LEN);
        let region = map.io_region::<16>()?;
        Ok(ManuallyDrop::new(IoBar {
            map: ManuallyDrop::into_inner(map),
            region,
        }))
    }

    /// A `Bar<16>` on all of `mem`, built as `iomap` builds it; it never drops.
    fn mmio_bar(mem: *mut FakeBar) -> Result<ManuallyDrop<Bar<16>>> {
        let map = claim(mem, 0, LEN);
        let io = map.mmio_region::<16>()?;
        Ok(ManuallyDrop::new(Bar {
            map: ManuallyDrop::into_inner(map),
            io,
        }))
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
    fn region_checks() -> Result {
        let mem = fake()?;
        // What `iomap`/`iomap_io` take: a BAR of at least `SIZE` bytes, 4-byte aligned,
        // whole words.
        assert!(claim(mem, 0, LEN).io_region::<64>().is_ok());
        assert!(claim(mem, 0, LEN).io_region::<0>().is_ok());
        assert!(claim(mem, 0, LEN).mmio_region::<64>().is_ok());
        // What they refuse: shorter than `SIZE`, not whole words, misaligned.
        assert_eq!(claim(mem, 0, LEN).io_region::<128>().err(), Some(EINVAL));
        assert_eq!(claim(mem, 0, LEN - 2).io_region::<0>().err(), Some(EINVAL));
        assert_eq!(claim(mem, 2, 8).io_region::<0>().err(), Some(EINVAL));
        assert_eq!(claim(mem, 0, 0).io_region::<4>().err(), Some(EINVAL));
        assert_eq!(claim(mem, 0, LEN).mmio_region::<128>().err(), Some(EINVAL));
        assert_eq!(
            claim(mem, 0, LEN - 2).mmio_region::<0>().err(),
            Some(EINVAL)
        );
        assert_eq!(claim(mem, 2, 8).mmio_region::<0>().err(), Some(EINVAL));
        // The region is the whole BAR, not `SIZE` bytes of it.
        let bar = io_bar(mem)?;
        assert_eq!((&*bar).size(), LEN);
        let bar = mmio_bar(mem)?;
        assert_eq!((&*bar).size(), LEN);
        // SAFETY: `mem` came from `fake`; the bars are not used any more.
        unsafe { free(mem) };
        Ok(())
    }

    #[test]
    fn io_bar_typed_registers() -> Result {
        let mem = fake()?;
        let bar = io_bar(mem)?;
        let b: &IoBar<16> = &bar;
        // Fixed registers below `SIZE`: offsets checked when the module is built.
        b.write_reg(WORD::zeroed().with_v(0x1234_5678));
        assert_eq!(b.read(WORD).v(), 0x1234_5678);
        assert_eq!(b.read(HALF).v(), 0xffff);
        b.write_reg(HALF::zeroed().with_v(0xabcd));
        assert_eq!(b.read(BYTE).v(), 0xab);
        b.update(BYTE, |r| r.with_v(0x5a));
        assert_eq!(b.read(HALF).v(), 0x5acd);
        // Array registers at a computed index: checked against the BAR's real length.
        b.try_write(
            WORDS::try_at(15).ok_or(EINVAL)?,
            WORDS::zeroed().with_v(0x0bad_f00d),
        )?;
        assert_eq!(
            b.try_read(WORDS::try_at(15).ok_or(EINVAL)?)?.v(),
            0x0bad_f00d
        );
        assert_eq!(
            b.try_read(WORDS::try_at(0).ok_or(EINVAL)?)?.v(),
            0x1234_5678
        );
        for i in 16..32 {
            let at = WORDS::try_at(i).ok_or(EINVAL)?;
            assert_eq!(b.try_read(at).err(), Some(EINVAL));
            let at = WORDS::try_at(i).ok_or(EINVAL)?;
            assert_eq!(b.try_write(at, WORDS::zeroed()), Err(EINVAL));
            let at = WORDS::try_at(i).ok_or(EINVAL)?;
            assert_eq!(b.try_update(at, |r| r), Err(EINVAL));
        }
        assert!(WORDS::try_at(32).is_none());
        assert!(WORDS::try_at(usize::MAX).is_none());
        // A relative register: below `SIZE` checked when built, elsewhere at run time.
        b.write(PLACED::of::<Near>(), PLACED::zeroed().with_v(0x1111_2222));
        assert_eq!(b.read(PLACED::of::<Near>()).v(), 0x1111_2222);
        b.try_write(PLACED::of::<Far>(), PLACED::zeroed().with_v(0x3333_4444))?;
        assert_eq!(
            b.try_read(WORDS::try_at(13).ok_or(EINVAL)?)?.v(),
            0x3333_4444
        );
        assert_eq!(b.try_read(PLACED::of::<Beyond>()).err(), Some(EINVAL));
        assert_eq!(
            b.try_write(PLACED::of::<Beyond>(), PLACED::zeroed()),
            Err(EINVAL)
        );
        // Misaligned elements are refused too.
        assert!(b.try_read(SPREAD::try_at(0).ok_or(EINVAL)?).is_ok());
        assert_eq!(
            b.try_read(SPREAD::try_at(1).ok_or(EINVAL)?).err(),
            Some(EINVAL)
        );
        assert_eq!(
            b.try_write(SPREAD::try_at(3).ok_or(EINVAL)?, SPREAD::zeroed()),
            Err(EINVAL)
        );
        // None of the refused writes reached memory.
        assert_eq!(
            b.try_read(WORDS::try_at(12).ok_or(EINVAL)?)?.v(),
            0xffff_ffff
        );
        assert_eq!(
            b.try_read(WORDS::try_at(9).ok_or(EINVAL)?)?.v(),
            0xffff_ffff
        );
        // SAFETY: `mem` came from `fake`; `bar` is not used any more.
        unsafe { free(mem) };
        Ok(())
    }

    #[test]
    fn io_bar_computed_offsets() -> Result {
        let mem = fake()?;
        let bar = io_bar(mem)?;
        let b: &IoBar<16> = &bar;
        assert_eq!(b.try_write32(0x1234_5678, LEN - 4), Ok(()));
        assert_eq!(b.try_read32(LEN - 4), Ok(0x1234_5678));
        assert_eq!(b.try_read16(LEN - 2), Ok(0x1234));
        assert_eq!(b.try_read8(LEN - 1), Ok(0x12));
        // Past the end, across it, misaligned, and offsets that overflow.
        assert_eq!(b.try_read32(LEN), Err(EINVAL));
        assert_eq!(b.try_read16(LEN - 1), Err(EINVAL));
        assert_eq!(b.try_read8(LEN), Err(EINVAL));
        assert_eq!(b.try_read32(6), Err(EINVAL));
        assert_eq!(b.try_write32(0, LEN + 4), Err(EINVAL));
        assert_eq!(b.try_write16(0, usize::MAX - 1), Err(EINVAL));
        assert_eq!(b.try_write8(0, usize::MAX), Err(EINVAL));
        // None of the refused writes reached memory.
        assert_eq!(b.try_read32(0), Ok(0xffff_ffff));
        // SAFETY: `mem` came from `fake`; `bar` is not used any more.
        unsafe { free(mem) };
        Ok(())
    }

    #[test]
    fn mmio_bar_windows() -> Result {
        let mem = fake()?;
        let bar = mmio_bar(mem)?;
        let b: &Bar<16> = &bar;
        // A window 0x20 bytes in: its registers land there, and it runs to the BAR's end.
        let w = b.window::<16>(0x20)?;
        assert_eq!(w.offset(), 0x20);
        assert_eq!(w.bar_addr(), b.addr());
        assert_eq!((&w).size(), LEN - 0x20);
        (&w).write_reg(WORD::zeroed().with_v(0x1234_5678));
        (&w).write_reg(BYTE::zeroed().with_v(0x5a));
        assert_eq!(b.try_read32(0x20), Ok(0x1234_5678));
        assert_eq!(b.try_read8(0x2f), Ok(0x5a));
        assert_eq!(b.read(WORD).v(), 0xffff_ffff);
        // A computed offset in it is checked against the window's real length.
        assert_eq!((&w).try_read32(LEN - 0x20 - 4), Ok(0xffff_ffff));
        assert_eq!((&w).try_read32(LEN - 0x20), Err(EINVAL));
        // Refused: shorter than asked, misaligned, past the end, overflowing.
        assert_eq!(
            b.window::<16>(LEN - 8).err().map(|e| e.to_errno()),
            Some(-22)
        );
        assert_eq!(b.window::<4>(0x22).err().map(|e| e.to_errno()), Some(-22));
        assert_eq!(
            b.window::<0>(LEN + 4).err().map(|e| e.to_errno()),
            Some(-22)
        );
        assert_eq!(
            b.window::<0>(usize::MAX).err().map(|e| e.to_errno()),
            Some(-22)
        );
        // None of the refused windows wrote anything.
        assert_eq!(b.try_read32(LEN - 4), Ok(0xffff_ffff));
        // SAFETY: `mem` came from `fake`; `bar` and `w` are not used any more.
        unsafe { free(mem) };
        Ok(())
    }

    #[test]
    fn mmio_bar_typed_registers() -> Result {
        let mem = fake()?;
        let bar = mmio_bar(mem)?;
        let b: &Bar<16> = &bar;
        b.write_reg(WORD::zeroed().with_v(7));
        assert_eq!(b.read(WORD).v(), 7);
        assert_eq!(b.read32(0), 7);
        b.try_write(
            WORDS::try_at(15).ok_or(EINVAL)?,
            WORDS::zeroed().with_v(0x0bad_f00d),
        )?;
        assert_eq!(b.try_read32(LEN - 4), Ok(0x0bad_f00d));
        assert_eq!(
            b.try_read(WORDS::try_at(16).ok_or(EINVAL)?).err(),
            Some(EINVAL)
        );
        assert_eq!(
            b.try_read(SPREAD::try_at(1).ok_or(EINVAL)?).err(),
            Some(EINVAL)
        );
        assert_eq!(b.try_read32(LEN - 2), Err(EINVAL));
        assert_eq!(b.try_read64(usize::MAX - 7), Err(EINVAL));
        assert_eq!(b.try_write8(0, LEN), Err(EINVAL));
        assert_eq!(b.try_read32(4), Ok(0xffff_ffff));
        // SAFETY: `mem` came from `fake`; `bar` is not used any more.
        unsafe { free(mem) };
        Ok(())
    }
}
