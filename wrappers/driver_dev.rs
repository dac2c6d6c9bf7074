// SPDX-License-Identifier: GPL-2.0

//! What every implementation, of any class, gets from the framework: [`Dev`], the
//! handle of the running instance, and the kernel resources it hands out through the
//! callouts, each a value whose `Drop` gives it back. Compiled into each
//! implementation module with `#[path]`, after `abi`, `callouts_api` and `driver_lock`;
//! the class glue (`testdev_driver.rs`, `nic_driver.rs`, `blk_driver.rs`) builds on it.
//!
//! Its parts, compiled in below with `#[path]`: the BARs (`driver_bar.rs`) and DMA
//! memory (`driver_dma.rs`) a driver uses, and what the class glue shares, which no
//! driver names: `entry_faults.rs`, the faults injected at entry points;
//! `driver_events.rs`, the event entry functions (`devirq`, `timer`, `work`) of every
//! class; `driver_slot.rs`, the instance slot of the classes whose drivers keep one
//! `State` (`testdev`, `blk`).

// Each implementation uses only the calls it needs.
#![allow(dead_code)]

use crate::abi::Instance;
use crate::callouts_api as api;
use core::sync::atomic::{AtomicU64, Ordering};
use kernel::prelude::*;

#[path = "driver_bar.rs"]
mod bar;
#[path = "driver_dma.rs"]
mod dma;
#[path = "entry_faults.rs"]
pub(crate) mod entry_faults;
#[path = "driver_events.rs"]
pub(crate) mod events;
#[path = "driver_slot.rs"]
pub(crate) mod slot;
// Each implementation uses only some of them.
#[allow(unused_imports)]
pub(crate) use bar::{Bar, BarWindow, IoBar};
#[allow(unused_imports)]
pub(crate) use dma::{
    DmaArray, DmaBuffers, DmaCoherent, DmaMapping, DmaSlice, DmaView, MAX_CHUNKS,
};

/// The framework's handle, as a driver sees it during one entry-point call.
///
/// # Invariants
///
/// `self.0` is the live instance the entry point was called for, for as long as the call
/// (and so this value) lasts; the callouts check it again anyway.
pub(crate) struct Dev(*mut Instance);

impl Dev {
    /// The instance's generation (1 for a device's first instance).
    pub(crate) fn generation(&self) -> u64 {
        // SAFETY: `self.0` is the live instance this entry point was called for.
        unsafe { api::ndriver_generation(self.0) }
    }

    /// Ends the part of this `probe` or `adopt` call since it began or since the previous
    /// `step`, and names it: a recovery whose slowest step it is shows `adopt.NAME` (or
    /// `probe.NAME`) in `recoveries`; what follows the last `step` counts as the call
    /// itself (`adopt`, `probe`). `NAME`: a string constant of the module (any other
    /// string is ignored), up to 16 of `[A-Za-z0-9_]`.
    /// Costs a clock read and a lock; does nothing in any other entry point or
    /// context.
    pub(crate) fn step(&self, name: &'static str) {
        // SAFETY: `self.0` is the live instance this entry point was called for; `name`
        // is `name.len()` readable bytes.
        unsafe { api::ndriver_step(self.0, name.as_ptr(), name.len()) }
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
        // INVARIANT: per this function's contract.
        Dev(inst)
    }

    /// Whether the device has a PCI function to drive.
    pub(crate) fn pci_present(&self) -> bool {
        // SAFETY: `self.0` is this entry point's live instance (`from_handle`'s contract).
        unsafe { api::ndriver_pci_present(self.0) != 0 }
    }

    /// Reads `N` bytes (1, 2 or 4; `N`-aligned) at `offset` of the PCI function's
    /// configuration space. `EINVAL` outside it (256 bytes, 4096 for PCI Express),
    /// `ENODEV` without a function.
    fn pci_config_read<const N: u32>(&self, offset: u16) -> Result<u32> {
        let mut v = 0u32;
        // SAFETY: `self.0` is this entry point's live instance (`from_handle`'s contract); `v`
        // is a local `u32` the callout may write.
        kernel::error::to_result(unsafe {
            api::ndriver_pci_config_read(self.0, offset.into(), N, &mut v)
        })?;
        Ok(v)
    }

    /// The byte at `offset` of the PCI function's configuration space (where a device
    /// describes itself: its capability list).
    pub(crate) fn pci_config_u8(&self, offset: u16) -> Result<u8> {
        Ok(self.pci_config_read::<1>(offset)? as u8)
    }

    /// The 16-bit word at `offset` (even) of the PCI function's configuration space.
    pub(crate) fn pci_config_u16(&self, offset: u16) -> Result<u16> {
        Ok(self.pci_config_read::<2>(offset)? as u16)
    }

    /// The 32-bit word at `offset` (a multiple of 4) of the PCI function's
    /// configuration space.
    pub(crate) fn pci_config_u32(&self, offset: u16) -> Result<u32> {
        self.pci_config_read::<4>(offset)
    }

    /// The capabilities of the PCI function, in list order: for each its ID
    /// (`PCI_CAP_ID_*`) and where it starts in the configuration space. The walk
    /// stops at the list's end, at a link into the standard header, after 48
    /// capabilities (a list that loops) or at a failed read.
    pub(crate) fn pci_caps(&self) -> PciCaps<'_> {
        use kernel::bindings::{PCI_CAPABILITY_LIST, PCI_STATUS, PCI_STATUS_CAP_LIST};
        let first = match self.pci_config_u16(PCI_STATUS as u16) {
            Ok(st) if st & PCI_STATUS_CAP_LIST as u16 != 0 => {
                self.pci_config_u8(PCI_CAPABILITY_LIST as u16).unwrap_or(0)
            }
            _ => 0,
        };
        PciCaps {
            dev: self,
            next: first & !3,
            left: 48,
        }
    }

    /// The length of BAR `bar` if it is a memory BAR ([`Dev::iomap`] maps it), else 0
    /// (no such BAR, an empty one, or I/O ports).
    pub(crate) fn pci_mem_bar_len(&self, bar: u32) -> u64 {
        // SAFETY: `self.0` is this entry point's live instance (`from_handle`'s contract); the
        // callout checks `bar`.
        unsafe { api::ndriver_pci_bar_len(self.0, bar, 1) }
    }

    /// Enables the PCI function (bus mastering; INTx once [`Dev::request_irq`] has put
    /// the framework's handler on the line) until the result drops.
    pub(crate) fn pci_enable(&self) -> Result<PciEnabled> {
        // SAFETY: `self.0` is this entry point's live instance (`from_handle`'s contract).
        kernel::error::to_result(unsafe { api::ndriver_pci_enable(self.0) })?;
        // INVARIANT: the callout enabled the function for this instance.
        Ok(PciEnabled(self.0))
    }

    /// Enables the PCI function without bus mastering (the device cannot DMA yet)
    /// until the result drops; [`PciEnabled::set_master`] turns mastering on.
    pub(crate) fn pci_enable_quiet(&self) -> Result<PciEnabled> {
        // SAFETY: `self.0` is this entry point's live instance (`from_handle`'s contract).
        kernel::error::to_result(unsafe { api::ndriver_pci_enable_quiet(self.0) })?;
        // INVARIANT: the callout enabled the function for this instance.
        Ok(PciEnabled(self.0))
    }

    /// Routes the device's interrupt to the `devirq` entry point until the result
    /// drops. After [`Self::pci_enable`].
    pub(crate) fn request_irq(&self) -> Result<IrqLine> {
        // SAFETY: `self.0` is this entry point's live instance (`from_handle`'s contract).
        kernel::error::to_result(unsafe { api::ndriver_request_irq(self.0) })?;
        // INVARIANT: the callout put this instance's handler on the line.
        Ok(IrqLine {
            inst: self.0,
            msix: false,
        })
    }

    /// Gives the function an MSI-X vector of its own, routed to the `devirq` entry
    /// point until the result drops (the function's INTx stays off). `EOPNOTSUPP` if the
    /// function has no MSI-X or the kernel no vector for it: [`Self::request_irq`]
    /// takes its INTx instead (also worth a try after other errors but `EBUSY`). After
    /// [`Self::pci_enable`]; one line per instance.
    pub(crate) fn request_msix(&self) -> Result<IrqLine> {
        // SAFETY: `self.0` is this entry point's live instance (`from_handle`'s contract).
        kernel::error::to_result(unsafe { api::ndriver_request_irq_msix(self.0) })?;
        // INVARIANT: the callout allocated the vector and put this instance's handler
        // on it.
        Ok(IrqLine {
            inst: self.0,
            msix: true,
        })
    }

    /// Takes back the resource of `kind` (`abi::KEEP_*`) that the previous instance
    /// kept under `role`, and keeps it again under the same role (for the next warm
    /// restart). Only in `adopt`. `ENOENT` if nothing of `kind` is kept under `role`.
    pub(crate) fn adopt_raw(&self, kind: u32, role: u32) -> Result<crate::abi::Adopted> {
        // SAFETY: `self.0` is this entry point's live instance (`from_handle`'s contract).
        let out = unsafe { api::ndriver_adopt(self.0, kind, role) };
        kernel::error::to_result(out.status)?;
        // A reset record is kept under its register's address (mapping plus offset).
        let obj = if kind == crate::abi::KEEP_RESET {
            out.cpu.wrapping_add(out.len)
        } else {
            out.cpu
        } as usize as *const core::ffi::c_void;
        self.keep_raw(kind, obj, role)?;
        Ok(out)
    }

    /// Keeps resource `obj` of `kind` (`abi::KEEP_*`; `obj` ignored for the PCI
    /// function and the interrupt line) across a warm restart under `role`.
    pub(crate) fn keep_raw(&self, kind: u32, obj: *const core::ffi::c_void, role: u32) -> Result {
        // SAFETY: `self.0` is this entry point's live instance (`from_handle`'s contract);
        // the callout checks `obj` against what the instance holds.
        kernel::error::to_result(unsafe { api::ndriver_keep(self.0, kind, obj, role) })
    }

    /// The enabled PCI function the previous instance kept ([`PciEnabled::keep`]).
    /// Only in `adopt`.
    pub(crate) fn adopt_pci_enabled(&self) -> Result<PciEnabled> {
        self.adopt_raw(crate::abi::KEEP_PCI_ENABLE, 0)?;
        // INVARIANT: the callout moved the kept enable into this instance's undo list.
        Ok(PciEnabled(self.0))
    }

    /// The interrupt line the previous instance kept ([`IrqLine::keep`]); it reaches
    /// this instance's `devirq` once it serves. Only in `adopt`.
    pub(crate) fn adopt_irq(&self) -> Result<IrqLine> {
        let out = self.adopt_raw(crate::abi::KEEP_IRQ, 0)?;
        // INVARIANT: the callout moved the kept line into this instance's undo list and
        // pointed its handler at this instance; it says whether it is an MSI-X vector.
        Ok(IrqLine {
            inst: self.0,
            msix: out.len != 0,
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

    /// A stopped timer that calls the `timer` entry point with `cookie`.
    pub(crate) fn timer(&self, cookie: u64) -> Result<Timer> {
        // SAFETY: `self.0` is this entry point's live instance (`from_handle`'s contract).
        let t = unsafe { api::ndriver_timer_setup(self.0, cookie) };
        if t.is_null() {
            return Err(ENOMEM);
        }
        // INVARIANT: a new handle the callout recorded for this instance.
        Ok(Timer { inst: self.0, t })
    }

    /// A work item that calls the `work` entry point with `cookie`.
    pub(crate) fn work(&self, cookie: u64) -> Result<WorkItem> {
        // SAFETY: `self.0` is this entry point's live instance (`from_handle`'s contract).
        let w = unsafe { api::ndriver_work_setup(self.0, cookie) };
        if w.is_null() {
            return Err(ENOMEM);
        }
        // INVARIANT: a new handle the callout recorded for this instance.
        Ok(WorkItem { inst: self.0, w })
    }
}

// The resource handles below give their resource back through the callouts when they
// drop, which happens only on an orderly `remove`. After a fault nothing of the driver
// runs again: the framework's undo list gives back what the handles still held.
//
// SAFETY (for each `Send`/`Sync` below): a handle is an instance pointer and a
// resource address; the callouts they call are safe from any context and thread.

/// A vendor-specific PCI capability's ID ([`Dev::pci_caps`]).
pub(crate) const PCI_CAP_ID_VNDR: u8 = kernel::bindings::PCI_CAP_ID_VNDR as u8;
/// Bytes of a PCI function's standard configuration space: a capability lies inside.
pub(crate) const PCI_CFG_SPACE_SIZE: u16 = kernel::bindings::PCI_CFG_SPACE_SIZE as u16;

/// The capabilities of a PCI function ([`Dev::pci_caps`]): `(id, position)` pairs.
pub(crate) struct PciCaps<'a> {
    dev: &'a Dev,
    /// Where the next capability starts (below 0x40: none).
    next: u8,
    /// Capabilities the walk may still yield.
    left: u32,
}

impl Iterator for PciCaps<'_> {
    type Item = (u8, u16);

    fn next(&mut self) -> Option<(u8, u16)> {
        // Capabilities follow the 64-byte standard header.
        if self.next < 0x40 || self.left == 0 {
            return None;
        }
        self.left -= 1;
        let at = u16::from(self.next);
        let id = self.dev.pci_config_u8(at).ok()?;
        self.next = self.dev.pci_config_u8(at + 1).ok()? & !3;
        Some((id, at))
    }
}

/// The enabled PCI function.
///
/// # Invariants
///
/// The instance `self.0` has its device's PCI function enabled (one `ndriver_pci_enable`
/// record in its undo list), given back when this value drops.
pub(crate) struct PciEnabled(*mut Instance);
// SAFETY: a `PciEnabled` is only the instance pointer; its callouts (`set_master`,
// `clear_master`, the disable on drop) may be called from any thread.
unsafe impl Send for PciEnabled {}
// SAFETY: a `&PciEnabled` only allows `set_master` and `clear_master`, callouts safe to call
// from several threads at once.
unsafe impl Sync for PciEnabled {}
impl PciEnabled {
    /// Lets the device master the bus (DMA).
    pub(crate) fn set_master(&self) {
        // SAFETY: the function is enabled by this live instance.
        unsafe { api::ndriver_pci_set_master(self.0) }
    }

    /// Stops the device's DMA (bus mastering off): for a device that did not finish
    /// its reset, before memory it may reach is given back.
    pub(crate) fn clear_master(&self) {
        // SAFETY: the function is enabled by this live instance.
        unsafe { api::ndriver_pci_clear_master(self.0) }
    }

    /// Keeps the function enabled (bus mastering on) across a warm restart
    /// ([`Dev::adopt_pci_enabled`]).
    pub(crate) fn keep(&self) -> Result {
        // SAFETY: the function is enabled by this live instance.
        kernel::error::to_result(unsafe {
            api::ndriver_keep(self.0, crate::abi::KEEP_PCI_ENABLE, core::ptr::null(), 0)
        })
    }
}
impl Drop for PciEnabled {
    fn drop(&mut self) {
        // SAFETY: the instance is live while the driver's state is.
        unsafe { api::ndriver_pci_disable(self.0) };
    }
}

/// The device's interrupt line, routed to `devirq`.
///
/// # Invariants
///
/// The instance `inst` has its handler on the device's line -- an MSI-X vector of the
/// function's own if `msix`, else its INTx -- taken off when this value drops.
pub(crate) struct IrqLine {
    inst: *mut Instance,
    msix: bool,
}
// SAFETY: an `IrqLine` is only the instance pointer; the free callout on drop may be called
// from any thread.
unsafe impl Send for IrqLine {}
// SAFETY: a `&IrqLine` allows no operation at all, so sharing it is sound.
unsafe impl Sync for IrqLine {}
impl IrqLine {
    /// Keeps the line requested across a warm restart ([`Dev::adopt_irq`]).
    pub(crate) fn keep(&self) -> Result {
        // SAFETY: the line is held by this live instance.
        kernel::error::to_result(unsafe {
            api::ndriver_keep(self.inst, crate::abi::KEEP_IRQ, core::ptr::null(), 0)
        })
    }

    /// Whether the line is an MSI-X vector of the function's own (an interrupt on it
    /// is always the device's), rather than its INTx (which the device's interrupt
    /// status register says is its own or another device's).
    pub(crate) fn is_msix(&self) -> bool {
        self.msix
    }
}
impl Drop for IrqLine {
    fn drop(&mut self) {
        // SAFETY: the line is held by this live instance.
        unsafe { api::ndriver_free_irq(self.inst) };
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

    /// The 64-bit word `i`; `EINVAL` past the end (a word only partly inside is past it).
    fn word(&self, i: usize) -> Result<&AtomicU64> {
        if i >= self.size / 8 {
            return Err(EINVAL);
        }
        // SAFETY: word `i` is inside the live, 8-byte aligned block (type invariant), which
        // is only ever accessed atomically and lives as long as `self`.
        Ok(unsafe { AtomicU64::from_ptr(self.ptr.cast::<u64>().add(i)) })
    }

    /// Reads the 64-bit word `i`; `EINVAL` past the end.
    pub(crate) fn get64(&self, i: usize) -> Result<u64> {
        Ok(self.word(i)?.load(Ordering::Relaxed))
    }

    /// Writes the 64-bit word `i`; `EINVAL` past the end (then nothing is written).
    pub(crate) fn set64(&self, i: usize, v: u64) -> Result {
        self.word(i)?.store(v, Ordering::Relaxed);
        Ok(())
    }
}
impl Drop for Memory {
    fn drop(&mut self) {
        // SAFETY: the block is held by this live instance.
        unsafe { api::ndriver_free(self.inst, self.ptr.cast()) };
    }
}

/// A timer calling the `timer` entry point.
///
/// # Invariants
///
/// `t` is a timer handle the instance `inst` holds (`ndriver_timer_setup`), cancelled
/// and given back when this value drops.
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
///
/// # Invariants
///
/// `w` is a work handle the instance `inst` holds (`ndriver_work_setup`), cancelled and
/// given back when this value drops.
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

// Built into the test module only (`selftests/kunit/`): every implementation compiles
// this file in.
#[cfg(ndriver_kunit)]
#[kunit_tests(ndriver_memory)]
mod tests {
    use super::*;
    use core::mem::ManuallyDrop;

    #[test]
    fn words_bounded() -> Result {
        let block = KBox::into_raw(KBox::new([0u64; 4], GFP_KERNEL)?);
        // 28 bytes: three whole words, the fourth only partly inside.
        let mem = ManuallyDrop::new(Memory {
            inst: core::ptr::null_mut(),
            ptr: block.cast(),
            size: 28,
        });
        assert_eq!(mem.set64(2, 0x1122_3344_5566_7788), Ok(()));
        assert_eq!(mem.get64(2), Ok(0x1122_3344_5566_7788));
        // Out of range: `EINVAL`, nothing written.
        assert_eq!(mem.set64(3, 1), Err(EINVAL));
        assert_eq!(mem.set64(usize::MAX, 1), Err(EINVAL));
        assert_eq!(mem.get64(3), Err(EINVAL));
        assert_eq!(mem.get64(usize::MAX), Err(EINVAL));
        // SAFETY: `block` came from `KBox::into_raw` above; `mem` is not used any more.
        let block = unsafe { KBox::from_raw(block) };
        assert_eq!(block[3], 0);
        assert_eq!(block[2], 0x1122_3344_5566_7788);
        Ok(())
    }
}
