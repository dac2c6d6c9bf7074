// SPDX-License-Identifier: GPL-2.0

//! The safe layer a `testdev` implementation is written against.
//!
//! A driver implements [`TestdevDriver`] in ordinary Rust and invokes
//! [`testdev_implementation!`]; the macro builds the `#[repr(C)]` operation table and
//! descriptor (`abi.rs`) and registers them at `insmod`. The driver's state lives in
//! memory taken through the callouts, so the framework can reclaim it after a fault
//! without running the driver's destructors. Compiled into each implementation
//! module with `#[path]`, after `abi` and `callouts_api`.

use crate::abi::{Instance, TestdevEntry};
use crate::callouts_api as api;
use crate::driver_lock::DriverLock;
use core::ptr;
use kernel::bindings;
use kernel::ffi::{c_int, c_void};
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
    pub(crate) fn fault_point(&self, entry: TestdevEntry) -> u32 {
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

    /// Claims and maps BAR `bar`.
    pub(crate) fn iomap(&self, bar: u32) -> Result<Mmio> {
        // SAFETY: as above.
        let base = unsafe { api::ndriver_pci_iomap(self.0, bar) };
        if base.is_null() {
            return Err(EBUSY);
        }
        Ok(Mmio { inst: self.0, base })
    }

    /// Routes the device's interrupt to the `devirq` entry point until the result
    /// drops. After [`Self::pci_enable`].
    pub(crate) fn request_irq(&self) -> Result<IrqLine> {
        // SAFETY: as above.
        kernel::error::to_result(unsafe { api::ndriver_request_irq(self.0) })?;
        Ok(IrqLine(self.0))
    }

    /// A coherent DMA buffer of `size` bytes.
    pub(crate) fn dma_alloc(&self, size: usize) -> Result<DmaCoherent> {
        let mut dma = 0u64;
        // SAFETY: as above; `dma` is a valid out-pointer.
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

    /// `size` zeroed bytes of memory.
    pub(crate) fn alloc(&self, size: usize) -> Result<Memory> {
        // SAFETY: as above.
        let ptr = unsafe { api::ndriver_alloc(self.0, size, 0) };
        if ptr.is_null() {
            return Err(ENOMEM);
        }
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
        // SAFETY: as above; `mem` is the instance's memory; `dma` is an out-pointer.
        kernel::error::to_result(unsafe {
            api::ndriver_dma_map(self.0, mem.ptr.cast(), mem.size, dir, &mut dma)
        })?;
        Ok(DmaMapping { inst: self.0, dma })
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

    /// A work item that calls the `work` entry point with `cookie`.
    pub(crate) fn work(&self, cookie: u64) -> Result<WorkItem> {
        // SAFETY: as above.
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

/// A mapped BAR. Offsets are the driver's to get right, as with `readl`/`writel`; a
/// wrong one faults inside the guard.
pub(crate) struct Mmio {
    inst: *mut Instance,
    base: *mut c_void,
}
// SAFETY: see above.
unsafe impl Send for Mmio {}
// SAFETY: see above.
unsafe impl Sync for Mmio {}
impl Mmio {
    /// Reads the 32-bit register at `offset`.
    pub(crate) fn read32(&self, offset: usize) -> u32 {
        // SAFETY: `base` maps the BAR until this handle drops; see the type's comment.
        unsafe { bindings::readl(self.base.wrapping_byte_add(offset)) }
    }

    /// Writes the 32-bit register at `offset`.
    pub(crate) fn write32(&self, offset: usize, value: u32) {
        // SAFETY: as for `read32`.
        unsafe { bindings::writel(value, self.base.wrapping_byte_add(offset)) }
    }
}
impl Drop for Mmio {
    fn drop(&mut self) {
        // SAFETY: the mapping is held by this live instance.
        unsafe { api::ndriver_pci_iounmap(self.inst, self.base) };
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

/// A coherent DMA buffer.
pub(crate) struct DmaCoherent {
    inst: *mut Instance,
    cpu: *mut u32,
    dma: u64,
    size: usize,
}
// SAFETY: see above.
unsafe impl Send for DmaCoherent {}
// SAFETY: see above.
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
}
impl Drop for DmaCoherent {
    fn drop(&mut self) {
        // SAFETY: the buffer is held by this live instance.
        unsafe { api::ndriver_dma_free(self.inst, self.cpu.cast()) };
    }
}

/// Memory from the callouts.
pub(crate) struct Memory {
    inst: *mut Instance,
    ptr: *mut u8,
    size: usize,
}
// SAFETY: see above.
unsafe impl Send for Memory {}
// SAFETY: see above.
unsafe impl Sync for Memory {}
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
// SAFETY: see above.
unsafe impl Send for DmaMapping {}
// SAFETY: see above.
unsafe impl Sync for DmaMapping {}
impl DmaMapping {
    /// The bus address.
    pub(crate) fn dma(&self) -> u64 {
        self.dma
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

/// A work item calling the `work` entry point.
pub(crate) struct WorkItem {
    inst: *mut Instance,
    w: *mut c_void,
}
// SAFETY: see above.
unsafe impl Send for WorkItem {}
// SAFETY: see above.
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

/// A `testdev` implementation. Every method runs under a guard.
pub(crate) trait TestdevDriver: Sized + Send + Sync {
    /// Starts an instance. `lock` is a spinlock of the instance's own (the fault sites
    /// use it to deadlock for real).
    fn probe(dev: &Dev, lock: &DriverLock<u64>) -> Result<Self>;
    /// Sets a configuration item.
    fn configure(&self, dev: &Dev, lock: &DriverLock<u64>, key: u32, value: u64) -> Result;
    /// A request or event, arriving through `entry`: [`TestdevEntry::Op`] in process
    /// context, [`TestdevEntry::Tick`] in softirq context, [`TestdevEntry::Irq`] in
    /// hardirq context; and the events of resources the driver took:
    /// [`TestdevEntry::DevIrq`] (the device interrupted; `arg` is the IRQ; return 1 if
    /// it was this device's), [`TestdevEntry::Timer`] and [`TestdevEntry::Work`]
    /// (`arg` is the cookie).
    fn request(
        &self,
        dev: &Dev,
        lock: &DriverLock<u64>,
        entry: TestdevEntry,
        arg: u64,
    ) -> Result<i64>;
    /// Orderly stop (the state is dropped afterwards).
    fn remove(&self, dev: &Dev, lock: &DriverLock<u64>);
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
unsafe fn slot<'a, T>(inst: *mut Instance) -> Option<&'a Slot<T>> {
    // SAFETY: per this function's contract.
    let p = unsafe { api::ndriver_get_priv(inst) }.cast::<Slot<T>>();
    // SAFETY: set by `probe` below to an initialised `Slot<T>` that lives until
    // `remove` (or the framework's undo after a fault, after which no call comes).
    unsafe { p.as_ref() }
}

fn ret(r: Result<i64>) -> i64 {
    match r {
        Ok(v) => v,
        Err(e) => e.to_errno() as i64,
    }
}

/// # Safety
///
/// Called by the framework only, with a live instance (so for every `extern "C"` below).
pub(crate) unsafe extern "C" fn probe<T: TestdevDriver>(inst: *mut Instance) -> c_int {
    let size = core::mem::size_of::<Slot<T>>();
    // SAFETY: `inst` is live; the block is recorded in its undo list.
    let mem = unsafe { api::ndriver_alloc(inst, size, 0) }.cast::<Slot<T>>();
    if mem.is_null() {
        return ENOMEM.to_errno();
    }
    let lock = DriverLock::new(kernel::new_spinlock_irq!(0u64, "testdev_driver_lock"));
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
    let dev = Dev(inst);
    // SAFETY: `mem` is initialised above.
    let s = unsafe { &mut *mem };
    match T::probe(&dev, &s.lock) {
        Ok(d) => {
            s.data = Some(d);
            0
        }
        Err(e) => e.to_errno(),
    }
}

macro_rules! entry {
    ($name:ident, $entry:expr) => {
        /// # Safety
        ///
        /// Called by the framework only, with a live, probed instance.
        pub(crate) unsafe extern "C" fn $name<T: TestdevDriver>(
            inst: *mut Instance,
            arg: u64,
        ) -> i64 {
            // SAFETY: the framework calls entry points only on probed instances.
            match unsafe { slot::<T>(inst) } {
                Some(Slot {
                    lock,
                    data: Some(d),
                }) => ret(d.request(&Dev(inst), lock, $entry, arg)),
                _ => ENODEV.to_errno() as i64,
            }
        }
    };
}
entry!(op, TestdevEntry::Op);
entry!(tick, TestdevEntry::Tick);
entry!(irq, TestdevEntry::Irq);
entry!(devirq, TestdevEntry::DevIrq);
entry!(timer, TestdevEntry::Timer);
entry!(work, TestdevEntry::Work);

/// # Safety
///
/// Called by the framework only, with a live, probed instance.
pub(crate) unsafe extern "C" fn configure<T: TestdevDriver>(
    inst: *mut Instance,
    key: u32,
    value: u64,
) -> c_int {
    // SAFETY: the framework calls entry points only on probed instances.
    match unsafe { slot::<T>(inst) } {
        Some(Slot {
            lock,
            data: Some(d),
        }) => match d.configure(&Dev(inst), lock, key, value) {
            Ok(()) => 0,
            Err(e) => e.to_errno(),
        },
        _ => ENODEV.to_errno(),
    }
}

/// # Safety
///
/// Called by the framework only, with a live instance, for an orderly stop.
pub(crate) unsafe extern "C" fn remove<T: TestdevDriver>(inst: *mut Instance) {
    // SAFETY: `inst` is live; its private data is NULL or our `Slot<T>`.
    let p = unsafe { api::ndriver_get_priv(inst) }.cast::<Slot<T>>();
    if p.is_null() {
        return;
    }
    // SAFETY: `p` is the initialised slot; nothing else runs on this instance during
    // an orderly remove, so it is ours to drop and free.
    unsafe {
        if let Some(d) = &(*p).data {
            d.remove(&Dev(inst), &(*p).lock);
        }
        ptr::drop_in_place(p);
        api::ndriver_set_priv(inst, ptr::null_mut());
        api::ndriver_free(inst, p.cast());
    }
}

/// Defines the operation table and descriptor of `testdev` implementation `$t` named
/// `$name`, and the module that registers it.
macro_rules! testdev_implementation {
    (type: $t:ty, name: $name:literal, module: $module:literal, description: $desc:literal $(,)?) => {
        static OPS: abi::TestdevOps = abi::TestdevOps {
            probe: testdev_driver::probe::<$t>,
            configure: testdev_driver::configure::<$t>,
            op: testdev_driver::op::<$t>,
            tick: testdev_driver::tick::<$t>,
            irq: testdev_driver::irq::<$t>,
            remove: testdev_driver::remove::<$t>,
            devirq: testdev_driver::devirq::<$t>,
            timer: testdev_driver::timer::<$t>,
            work: testdev_driver::work::<$t>,
        };
        static DESC: abi::ImplDesc = abi::ImplDesc {
            abi_version: abi::ABI_VERSION,
            class: c"testdev".as_ptr().cast(),
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
pub(crate) use testdev_implementation;
