// SPDX-License-Identifier: GPL-2.0

//! The safe layer a block (`blk` class) implementation is written against.
//!
//! A driver implements [`BlkDriver`] in ordinary Rust and invokes
//! [`blk_implementation!`]; the macro builds the `#[repr(C)]` operation table and
//! descriptor (`abi.rs`, `abi_blk.rs`) and registers them at `insmod`. The kernel sees
//! only the framework's placeholder disk (`placeholders/blk.rs`); the driver sees
//! requests as [`Request`]s and the device through [`BlkDev`]. Every resource comes
//! from the callouts and is recorded in the instance's undo list; the driver's state
//! lives in callout memory, so the framework reclaims it after a fault without
//! running the driver's destructors. Compiled into each block implementation module
//! with `#[path]`, after `abi`, `abi_blk`, `callouts_api`, `callouts_api_blk` and
//! `driver_lock`.

// Each implementation uses only the parts it needs.
#![allow(dead_code)]

use crate::abi::Instance;
use crate::abi_blk::{BlkEntry, BlkRq, BLK_OP_FLUSH, BLK_OP_READ, BLK_OP_WRITE};
use crate::callouts_api as api;
use crate::callouts_api_blk as bapi;
use crate::driver_lock::DriverLock;
use core::ptr;
use kernel::bindings;
use kernel::ffi::{c_int, c_void};
use kernel::prelude::*;

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

/// One request, for the duration of the entry-point call it is passed to.
pub(crate) struct Request<'a>(&'a BlkRq);

impl Request<'_> {
    /// The blk-mq tag: unique among the requests the instance holds, below
    /// `abi_blk::BLK_QUEUE_DEPTH`.
    pub(crate) fn tag(&self) -> u32 {
        self.0.tag
    }

    /// What to do.
    pub(crate) fn op(&self) -> Op {
        match self.0.op {
            BLK_OP_READ => Op::Read,
            BLK_OP_WRITE => Op::Write,
            BLK_OP_FLUSH => Op::Flush,
            _ => Op::Flush,
        }
    }

    /// First 512-byte sector.
    pub(crate) fn sector(&self) -> u64 {
        self.0.sector
    }

    /// Data length in bytes.
    pub(crate) fn bytes(&self) -> u32 {
        self.0.bytes
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

/// The framework's handle, as a driver sees it during one entry-point call.
pub(crate) struct BlkDev(*mut Instance);

impl BlkDev {
    /// The instance's generation (1 for a device's first instance).
    pub(crate) fn generation(&self) -> u64 {
        // SAFETY: `self.0` is the live instance this entry point was called for.
        unsafe { api::ndriver_generation(self.0) }
    }

    /// Asks the framework whether a fault is to be injected at `entry` now; the
    /// driver's fault site raises it (see `sample-drivers/fault_sites.rs`).
    pub(crate) fn fault_point(&self, entry: BlkEntry) -> u32 {
        // SAFETY: as above.
        unsafe { api::ndriver_fault_point(self.0, entry as u32) }
    }

    /// Whether the device has a PCI function to drive.
    pub(crate) fn pci_present(&self) -> bool {
        // SAFETY: as above.
        unsafe { api::ndriver_pci_present(self.0) != 0 }
    }

    /// Enables the PCI function (bus mastering, INTx) until the result drops.
    pub(crate) fn pci_enable(&self) -> Result<PciEnabled> {
        // SAFETY: as above.
        kernel::error::to_result(unsafe { api::ndriver_pci_enable(self.0) })?;
        Ok(PciEnabled(self.0))
    }

    /// Claims and maps BAR `bar` (memory or I/O ports) for `ioread*`/`iowrite*`.
    pub(crate) fn iomap(&self, bar: u32) -> Result<Io> {
        // SAFETY: as above.
        let base = unsafe { api::ndriver_pci_iomap(self.0, bar) };
        if base.is_null() {
            return Err(EBUSY);
        }
        Ok(Io { inst: self.0, base })
    }

    /// Routes the device's interrupt to the `devirq` entry point until the result
    /// drops. After [`Self::pci_enable`].
    pub(crate) fn request_irq(&self) -> Result<IrqLine> {
        // SAFETY: as above.
        kernel::error::to_result(unsafe { api::ndriver_request_irq(self.0) })?;
        Ok(IrqLine(self.0))
    }

    /// A zeroed coherent DMA buffer of `size` bytes (page aligned).
    pub(crate) fn dma_alloc(&self, size: usize) -> Result<DmaBuf> {
        let mut dma = 0u64;
        // SAFETY: as above; `dma` is a valid out-pointer.
        let cpu = unsafe { api::ndriver_dma_alloc(self.0, size, &mut dma) };
        if cpu.is_null() {
            return Err(ENOMEM);
        }
        // `dma_alloc_coherent` memory is zeroed.
        Ok(DmaBuf {
            inst: self.0,
            cpu: cpu.cast(),
            dma,
            size,
        })
    }

    /// A stopped timer that calls the `timer` entry point with `cookie`.
    pub(crate) fn timer(&self, cookie: u64) -> Result<Timer> {
        // SAFETY: as above.
        let t = unsafe { api::ndriver_timer_setup(self.0, cookie) };
        if t.is_null() {
            return Err(ENOMEM);
        }
        Ok(Timer { inst: self.0, t })
    }

    /// Has the undo list write `value` (`width` bytes) at `offset` of `io` if the
    /// instance dies: the device reset that must come before its DMA buffers and
    /// register mapping are given back. Dropping the result (an orderly stop) drops
    /// the record without writing.
    pub(crate) fn reset_on_undo(
        &self,
        io: &Io,
        offset: u32,
        value: u32,
        width: u32,
    ) -> Result<ResetOnUndo> {
        // SAFETY: as above; `io.base` is a mapping of this instance.
        kernel::error::to_result(unsafe {
            bapi::ndriver_io_reset_on_undo(self.0, io.base, offset, value, width)
        })?;
        Ok(ResetOnUndo {
            inst: self.0,
            base: io.base,
            offset,
        })
    }

    /// Reports the disk's size in 512-byte sectors (from `probe`).
    pub(crate) fn set_capacity(&self, sectors: u64) -> Result {
        // SAFETY: as above.
        kernel::error::to_result(unsafe { bapi::ndriver_blk_set_capacity(self.0, sectors) })
    }

    /// Copies the data of write request `rq` into `buf` at `offset`.
    pub(crate) fn copy_from_request(
        &self,
        rq: &Request<'_>,
        buf: &DmaBuf,
        offset: usize,
    ) -> Result {
        self.copy(rq, buf, offset, 0)
    }

    /// Copies the data for read request `rq` from `buf` at `offset` into the request.
    pub(crate) fn copy_to_request(&self, rq: &Request<'_>, buf: &DmaBuf, offset: usize) -> Result {
        self.copy(rq, buf, offset, 1)
    }

    fn copy(&self, rq: &Request<'_>, buf: &DmaBuf, offset: usize, to_rq: u32) -> Result {
        let len = rq.bytes() as usize;
        if offset.checked_add(len).is_none_or(|end| end > buf.size) {
            return Err(EINVAL);
        }
        // SAFETY: `rq.0.rq` is the request of this call; `buf` holds `len` bytes at
        // `offset` (checked above).
        kernel::error::to_result(unsafe {
            bapi::ndriver_blk_copy(
                self.0,
                rq.0.rq,
                buf.cpu.add(offset).cast(),
                rq.bytes(),
                to_rq,
            )
        })
    }

    /// The device finished the request with tag `tag`: the framework will call
    /// [`BlkDriver::complete`] for it.
    pub(crate) fn done(&self, tag: u32) -> Result {
        // SAFETY: as above.
        kernel::error::to_result(unsafe { bapi::ndriver_blk_done(self.0, tag) })
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
// SAFETY: see above.
unsafe impl Send for PciEnabled {}
// SAFETY: see above.
unsafe impl Sync for PciEnabled {}
impl Drop for PciEnabled {
    fn drop(&mut self) {
        // SAFETY: the instance is live while the driver's state is.
        unsafe { api::ndriver_pci_disable(self.0) };
    }
}

/// A mapped BAR, memory or I/O ports, accessed with `ioread*`/`iowrite*`. Offsets are
/// the driver's to get right; a wrong one faults inside the guard.
pub(crate) struct Io {
    inst: *mut Instance,
    base: *mut c_void,
}
// SAFETY: see above.
unsafe impl Send for Io {}
// SAFETY: see above.
unsafe impl Sync for Io {}
impl Io {
    fn at(&self, offset: usize) -> *mut c_void {
        self.base.wrapping_byte_add(offset)
    }

    /// Reads the 8-bit register at `offset`.
    pub(crate) fn read8(&self, offset: usize) -> u8 {
        // SAFETY: `base` maps the BAR until this handle drops; see the type's comment.
        unsafe { bindings::ioread8(self.at(offset)) as u8 }
    }

    /// Reads the 16-bit register at `offset`.
    pub(crate) fn read16(&self, offset: usize) -> u16 {
        // SAFETY: as for `read8`.
        unsafe { bindings::ioread16(self.at(offset)) as u16 }
    }

    /// Reads the 32-bit register at `offset`.
    pub(crate) fn read32(&self, offset: usize) -> u32 {
        // SAFETY: as for `read8`.
        unsafe { bindings::ioread32(self.at(offset)) }
    }

    /// Writes the 8-bit register at `offset`.
    pub(crate) fn write8(&self, offset: usize, v: u8) {
        // SAFETY: as for `read8`.
        unsafe { bindings::iowrite8(v, self.at(offset)) }
    }

    /// Writes the 16-bit register at `offset`.
    pub(crate) fn write16(&self, offset: usize, v: u16) {
        // SAFETY: as for `read8`.
        unsafe { bindings::iowrite16(v, self.at(offset)) }
    }

    /// Writes the 32-bit register at `offset`.
    pub(crate) fn write32(&self, offset: usize, v: u32) {
        // SAFETY: as for `read8`.
        unsafe { bindings::iowrite32(v, self.at(offset)) }
    }
}
impl Drop for Io {
    fn drop(&mut self) {
        // SAFETY: the mapping is held by this live instance.
        unsafe { api::ndriver_pci_iounmap(self.inst, self.base) };
    }
}

/// The device reset the undo list performs if the instance dies.
pub(crate) struct ResetOnUndo {
    inst: *mut Instance,
    base: *mut c_void,
    offset: u32,
}
// SAFETY: see above.
unsafe impl Send for ResetOnUndo {}
// SAFETY: see above.
unsafe impl Sync for ResetOnUndo {}
impl Drop for ResetOnUndo {
    fn drop(&mut self) {
        // SAFETY: the record belongs to this live instance.
        unsafe { bapi::ndriver_io_reset_cancel(self.inst, self.base, self.offset) };
    }
}

/// The device's interrupt line, routed to `devirq`.
pub(crate) struct IrqLine(*mut Instance);
// SAFETY: see above.
unsafe impl Send for IrqLine {}
// SAFETY: see above.
unsafe impl Sync for IrqLine {}
impl Drop for IrqLine {
    fn drop(&mut self) {
        // SAFETY: the line is held by this live instance.
        unsafe { api::ndriver_free_irq(self.0) };
    }
}

/// A coherent DMA buffer the driver lays its device structures out in. Accesses are
/// bounds-checked and volatile (the device reads and writes it concurrently).
pub(crate) struct DmaBuf {
    inst: *mut Instance,
    cpu: *mut u8,
    dma: u64,
    size: usize,
}
// SAFETY: see above.
unsafe impl Send for DmaBuf {}
// SAFETY: see above.
unsafe impl Sync for DmaBuf {}

macro_rules! dma_access {
    ($read:ident, $write:ident, $t:ty) => {
        /// Reads the value at byte `offset` (0 if out of range or misaligned).
        pub(crate) fn $read(&self, offset: usize) -> $t {
            if !self.fits::<$t>(offset) {
                return 0;
            }
            // SAFETY: in bounds and aligned (checked); the buffer lives while `self`.
            unsafe { ptr::read_volatile(self.cpu.add(offset).cast::<$t>()) }
        }

        /// Writes `v` at byte `offset`; ignored if out of range or misaligned.
        pub(crate) fn $write(&self, offset: usize, v: $t) {
            if !self.fits::<$t>(offset) {
                return;
            }
            // SAFETY: as for the read.
            unsafe { ptr::write_volatile(self.cpu.add(offset).cast::<$t>(), v) }
        }
    };
}

impl DmaBuf {
    fn fits<T>(&self, offset: usize) -> bool {
        let n = core::mem::size_of::<T>();
        offset % n == 0 && offset.checked_add(n).is_some_and(|e| e <= self.size)
    }

    /// The bus address.
    pub(crate) fn dma(&self) -> u64 {
        self.dma
    }

    /// The size in bytes.
    pub(crate) fn size(&self) -> usize {
        self.size
    }

    dma_access!(read8, write8, u8);
    dma_access!(read16, write16, u16);
    dma_access!(read32, write32, u32);
    dma_access!(read64, write64, u64);
}
impl Drop for DmaBuf {
    fn drop(&mut self) {
        // SAFETY: the buffer is held by this live instance.
        unsafe { api::ndriver_dma_free(self.inst, self.cpu.cast()) };
    }
}

/// A timer calling the `timer` entry point.
pub(crate) struct Timer {
    inst: *mut Instance,
    t: *mut c_void,
}
// SAFETY: see above.
unsafe impl Send for Timer {}
// SAFETY: see above.
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

/// A block implementation. Every method runs under a guard; `lock` is the instance's
/// own lock (IRQ-safe; the fault sites deadlock on it for real).
pub(crate) trait BlkDriver: Sized + Send + Sync {
    /// Starts an instance: takes and resets the device, reports the capacity.
    fn probe(dev: &BlkDev, lock: &DriverLock<u64>) -> Result<Self>;
    /// Takes `rq`; `last` is false when more requests follow at once. `Err(EBUSY)`: no
    /// room now, ask again after a completion. Any other error is a failure.
    fn queue_rq(
        &self,
        dev: &BlkDev,
        lock: &DriverLock<u64>,
        rq: &Request<'_>,
        last: bool,
    ) -> Result;
    /// Tells the device about requests taken with `last` false.
    fn commit_rqs(&self, dev: &BlkDev, lock: &DriverLock<u64>) -> Result;
    /// The device finished `rq` (after [`BlkDev::done`]): copy read data into it.
    fn complete(&self, dev: &BlkDev, lock: &DriverLock<u64>, rq: &Request<'_>) -> Result<Done>;
    /// blk-mq's timer expired for `rq`: `true` if it is progressing or was found done.
    fn timeout(&self, dev: &BlkDev, lock: &DriverLock<u64>, rq: &Request<'_>) -> Result<bool>;
    /// The device's interrupt (`irq`): `true` if it was this device's.
    fn devirq(&self, dev: &BlkDev, lock: &DriverLock<u64>, irq: u64) -> Result<bool>;
    /// A timer from [`BlkDev::timer`] expired.
    fn timer(&self, dev: &BlkDev, lock: &DriverLock<u64>, cookie: u64) -> Result;
    /// Orderly stop (the state is dropped afterwards).
    fn remove(&self, dev: &BlkDev, lock: &DriverLock<u64>);
}

/// The driver's state, in callout memory.
#[pin_data]
struct Slot<T> {
    #[pin]
    lock: DriverLock<u64>,
    data: Option<T>,
}

/// The state of the instance behind `inst`, if probed.
///
/// # Safety
///
/// `inst` must be a live instance whose private data is NULL or a `Slot<T>`.
unsafe fn slot<'a, T>(inst: *mut Instance) -> Option<(&'a DriverLock<u64>, &'a T)> {
    // SAFETY: per this function's contract.
    let p = unsafe { api::ndriver_get_priv(inst) }.cast::<Slot<T>>();
    // SAFETY: set by `probe` below to an initialised `Slot<T>` that lives until
    // `remove` (or the framework's undo after a fault, after which no call comes).
    let s = unsafe { p.as_ref() }?;
    s.data.as_ref().map(|d| (&s.lock, d))
}

fn errno(e: Error) -> i64 {
    e.to_errno() as i64
}

/// # Safety
///
/// Called by the framework only, with a live instance (so for every `extern "C"` below).
pub(crate) unsafe extern "C" fn probe<T: BlkDriver>(inst: *mut Instance) -> c_int {
    let size = core::mem::size_of::<Slot<T>>();
    // SAFETY: `inst` is live; the block is recorded in its undo list.
    let mem = unsafe { api::ndriver_alloc(inst, size, 0) }.cast::<Slot<T>>();
    if mem.is_null() {
        return ENOMEM.to_errno();
    }
    let lock = DriverLock::new(kernel::new_spinlock_irq!(0u64, "blk_driver_lock"));
    // SAFETY: `mem` is a fresh, suitably aligned block of the right size; the lock is
    // pinned there for the block's life. `data` is written before anyone reads it.
    unsafe {
        if lock.__init(&raw mut (*mem).lock).is_err() {
            api::ndriver_free(inst, mem.cast());
            return ENOMEM.to_errno();
        }
        ptr::write(&raw mut (*mem).data, None);
        api::ndriver_set_priv(inst, mem.cast::<c_void>());
    }
    // SAFETY: `mem` is initialised above.
    let s = unsafe { &mut *mem };
    match T::probe(&BlkDev(inst), &s.lock) {
        Ok(d) => {
            s.data = Some(d);
            0
        }
        Err(e) => e.to_errno(),
    }
}

/// # Safety
///
/// Called by the framework only, with a live, probed instance and a valid request.
pub(crate) unsafe extern "C" fn queue_rq<T: BlkDriver>(
    inst: *mut Instance,
    rq: *const BlkRq,
    last: u32,
) -> i64 {
    // SAFETY: the framework calls entry points only on probed instances.
    let Some((lock, d)) = (unsafe { slot::<T>(inst) }) else {
        return errno(ENODEV);
    };
    // SAFETY: `rq` is valid for this call.
    let rq = Request(unsafe { &*rq });
    match d.queue_rq(&BlkDev(inst), lock, &rq, last != 0) {
        Ok(()) => 0,
        Err(e) => errno(e),
    }
}

/// # Safety
///
/// Called by the framework only, with a live, probed instance.
pub(crate) unsafe extern "C" fn commit_rqs<T: BlkDriver>(inst: *mut Instance) -> i64 {
    // SAFETY: the framework calls entry points only on probed instances.
    let Some((lock, d)) = (unsafe { slot::<T>(inst) }) else {
        return errno(ENODEV);
    };
    match d.commit_rqs(&BlkDev(inst), lock) {
        Ok(()) => 0,
        Err(e) => errno(e),
    }
}

/// # Safety
///
/// Called by the framework only, with a live, probed instance and a valid request.
pub(crate) unsafe extern "C" fn complete<T: BlkDriver>(
    inst: *mut Instance,
    rq: *const BlkRq,
) -> i64 {
    // SAFETY: the framework calls entry points only on probed instances.
    let Some((lock, d)) = (unsafe { slot::<T>(inst) }) else {
        return errno(ENODEV);
    };
    // SAFETY: `rq` is valid for this call.
    let rq = Request(unsafe { &*rq });
    match d.complete(&BlkDev(inst), lock, &rq) {
        Ok(Done::Ok) => crate::abi_blk::BLK_DONE_OK,
        Ok(Done::IoError) => crate::abi_blk::BLK_DONE_IOERR,
        Ok(Done::Unsupported) => crate::abi_blk::BLK_DONE_UNSUPP,
        Err(e) => errno(e),
    }
}

/// # Safety
///
/// Called by the framework only, with a live, probed instance and a valid request.
pub(crate) unsafe extern "C" fn timeout<T: BlkDriver>(
    inst: *mut Instance,
    rq: *const BlkRq,
) -> i64 {
    // SAFETY: the framework calls entry points only on probed instances.
    let Some((lock, d)) = (unsafe { slot::<T>(inst) }) else {
        return errno(ENODEV);
    };
    // SAFETY: `rq` is valid for this call.
    let rq = Request(unsafe { &*rq });
    match d.timeout(&BlkDev(inst), lock, &rq) {
        Ok(progressing) => progressing as i64,
        Err(e) => errno(e),
    }
}

/// # Safety
///
/// Called by the framework only, with a live, probed instance.
pub(crate) unsafe extern "C" fn devirq<T: BlkDriver>(inst: *mut Instance, arg: u64) -> i64 {
    // SAFETY: the framework calls entry points only on probed instances.
    let Some((lock, d)) = (unsafe { slot::<T>(inst) }) else {
        return errno(ENODEV);
    };
    match d.devirq(&BlkDev(inst), lock, arg) {
        Ok(mine) => mine as i64,
        Err(e) => errno(e),
    }
}

/// # Safety
///
/// Called by the framework only, with a live, probed instance.
pub(crate) unsafe extern "C" fn timer<T: BlkDriver>(inst: *mut Instance, arg: u64) -> i64 {
    // SAFETY: the framework calls entry points only on probed instances.
    let Some((lock, d)) = (unsafe { slot::<T>(inst) }) else {
        return errno(ENODEV);
    };
    match d.timer(&BlkDev(inst), lock, arg) {
        Ok(()) => 0,
        Err(e) => errno(e),
    }
}

/// # Safety
///
/// Called by the framework only, with a live instance. Block implementations take no
/// work items, so none runs.
pub(crate) unsafe extern "C" fn work<T: BlkDriver>(_inst: *mut Instance, _arg: u64) -> i64 {
    0
}

/// # Safety
///
/// Called by the framework only, with a live instance, for an orderly stop.
pub(crate) unsafe extern "C" fn remove<T: BlkDriver>(inst: *mut Instance) {
    // SAFETY: `inst` is live; its private data is NULL or our `Slot<T>`.
    let p = unsafe { api::ndriver_get_priv(inst) }.cast::<Slot<T>>();
    if p.is_null() {
        return;
    }
    // SAFETY: `p` is the initialised slot; nothing else runs on this instance during
    // an orderly remove, so it is ours to drop and free.
    unsafe {
        if let Some(d) = &(*p).data {
            d.remove(&BlkDev(inst), &(*p).lock);
        }
        ptr::drop_in_place(p);
        api::ndriver_set_priv(inst, ptr::null_mut());
        api::ndriver_free(inst, p.cast());
    }
}

/// Defines the operation table and descriptor of `blk` implementation `$t` named
/// `$name`, and the module that registers it.
macro_rules! blk_implementation {
    (type: $t:ty, name: $name:literal, module: $module:literal, description: $desc:literal $(,)?) => {
        static OPS: abi_blk::BlkOps = abi_blk::BlkOps {
            probe: blk_driver::probe::<$t>,
            queue_rq: blk_driver::queue_rq::<$t>,
            commit_rqs: blk_driver::commit_rqs::<$t>,
            complete: blk_driver::complete::<$t>,
            timeout: blk_driver::timeout::<$t>,
            remove: blk_driver::remove::<$t>,
            devirq: blk_driver::devirq::<$t>,
            timer: blk_driver::timer::<$t>,
            work: blk_driver::work::<$t>,
        };
        static DESC: abi::ImplDesc = abi::ImplDesc {
            abi_version: abi::ABI_VERSION,
            class: c"blk".as_ptr().cast(),
            name: $name.as_ptr().cast(),
            ops: core::ptr::from_ref(&OPS).cast(),
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
pub(crate) use blk_implementation;
