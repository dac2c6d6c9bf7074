// SPDX-License-Identifier: GPL-2.0

//! Device callouts: the PCI function, its BARs, its interrupt line and DMA, each
//! recorded in the calling instance's undo action list.
//!
//! The device is the PCI function attached to the instance's placeholder (for
//! `testdev`, the `pci` debugfs file); the driver never sees the `struct pci_dev`. The
//! kernel crate's `pci`, `irq` and `dma` types tie each resource's lifetime to a bound
//! driver through devres, which is the opposite of what ndriver needs (a resource
//! outlives the instance that took it until recovery gives it back), so this file is
//! the one small layer over the raw calls.
//!
//! The interrupt handler is the framework's: it runs the instance's `devirq` entry
//! under a guard. When the instance cannot take the interrupt (it is starting,
//! quiesced or failed) the function's INTx is masked instead of left screaming, and
//! unmasked when the instance is redirected to or given back. The function, not the
//! line: the line may be shared with other devices (another ndriver device among
//! them), which keep being served meanwhile.

use crate::abi;
use crate::instance::{Event, InstanceState, ServedDevice};
use crate::undo::action_list::{Action, Kind};
use crate::wrappers::callouts::{record, release};
use kernel::bindings;
use kernel::ffi::{c_int, c_ulong, c_void};
use kernel::page::{PAGE_MASK, PAGE_SIZE};
use kernel::prelude::*;
use kernel::sync::{new_spinlock_irq, SpinLockIrq};

/// The placeholder an instance serves.
fn device_of(st: &InstanceState) -> &dyn ServedDevice {
    st.device()
}

/// The instance behind `inst` and its device's PCI function, if `inst` is a live
/// instance's handle and a function is attached.
fn pci_of<'a>(inst: *mut abi::Instance) -> Option<(&'a InstanceState, *mut bindings::pci_dev)> {
    // SAFETY: a callout's caller is the instance's code, which outlives the call.
    let st = unsafe { InstanceState::from_handle(inst) }?;
    let p = device_of(st).pci_dev();
    (!p.is_null()).then_some((st, p))
}

/// Whether the instance's device has a PCI function (1) or not (0).
#[unsafe(no_mangle)]
pub(crate) extern "C" fn ndriver_pci_present(inst: *mut abi::Instance) -> u32 {
    pci_of(inst).is_some() as u32
}

/// Undo of `ndriver_pci_enable`: silence the function (INTx off, no bus mastering, so
/// no DMA or interrupt from the abandoned instance's programming lands later), then
/// disable it.
///
/// # Safety
///
/// `a` was recorded by `ndriver_pci_enable` and not undone yet.
unsafe fn undo_pci_enable(a: &Action) {
    let p = a.ctx as *mut bindings::pci_dev;
    // SAFETY: `p` is the attached function, referenced by the device until detached,
    // which happens only after its instance is undone.
    unsafe {
        bindings::pci_intx(p, 0);
        bindings::pci_clear_master(p);
        bindings::pci_disable_device(p);
    }
}

/// Enables the device's PCI function with bus mastering; its INTx stays off until the
/// instance requests the line (`ndriver_request_irq`). 0 or a negative errno.
#[unsafe(no_mangle)]
pub(crate) extern "C" fn ndriver_pci_enable(inst: *mut abi::Instance) -> c_int {
    pci_enable(inst, true)
}

/// Enables the PCI function like `ndriver_pci_enable` but without bus mastering: the
/// device cannot DMA until `ndriver_pci_set_master`. A driver whose device may still
/// run with the programming of a dead instance (receive rings it freed) silences the
/// device through its registers first. 0 or a negative errno.
#[unsafe(no_mangle)]
pub(crate) extern "C" fn ndriver_pci_enable_quiet(inst: *mut abi::Instance) -> c_int {
    pci_enable(inst, false)
}

/// Turns bus mastering on for a function enabled with `ndriver_pci_enable_quiet` (the
/// enable's undo turns it off again).
#[unsafe(no_mangle)]
pub(crate) extern "C" fn ndriver_pci_set_master(inst: *mut abi::Instance) {
    if let Some((_, p)) = pci_of(inst) {
        // SAFETY: `p` is the attached, referenced function.
        unsafe { bindings::pci_set_master(p) };
    }
}

fn pci_enable(inst: *mut abi::Instance, master: bool) -> c_int {
    let Some((st, p)) = pci_of(inst) else {
        return ENODEV.to_errno();
    };
    // SAFETY: `p` is the attached, referenced function.
    let r = unsafe { bindings::pci_enable_device(p) };
    if r != 0 {
        return r;
    }
    // INTx off: a function still asserting for a dead instance would otherwise raise a
    // shared line that has no handler of ours yet (`pci_enable_device` clears the bit).
    // SAFETY: `p` is the attached function, referenced by the device until detached
    // (after this instance's undo); the function is enabled.
    unsafe {
        if master {
            bindings::pci_set_master(p);
        }
        bindings::pci_intx(p, 0);
    }
    let action = Action {
        kind: Kind::PciEnable,
        obj: p as usize,
        arg: 0,
        aux: 0,
        ctx: p as usize,
        depends_on: 0,
        undo: undo_pci_enable,
    };
    if record(st, action) {
        0
    } else {
        ENOMEM.to_errno()
    }
}

/// Disables the function enabled by `ndriver_pci_enable`.
#[unsafe(no_mangle)]
pub(crate) extern "C" fn ndriver_pci_disable(inst: *mut abi::Instance) {
    if let Some((_, p)) = pci_of(inst) {
        release(inst, Kind::PciEnable, p as usize, "ndriver_pci_disable");
    }
}

/// Undo of `ndriver_pci_iomap`.
///
/// # Safety
///
/// `a` was recorded by `ndriver_pci_iomap` and not undone yet.
unsafe fn undo_iomap(a: &Action) {
    let p = a.ctx as *mut bindings::pci_dev;
    // SAFETY: `obj` is the mapping of BAR `arg` of the attached function `p`, made
    // with its region requested.
    unsafe {
        bindings::pci_iounmap(p, a.obj as *mut c_void);
        bindings::pci_release_region(p, a.arg as c_int);
    }
}

/// The length of BAR `bar` of the device's function, all of which `ndriver_pci_iomap`
/// maps; 0 for no function, no such BAR, an empty one, or (`mem_only` non-zero) one
/// that is not memory: an I/O-port BAR's mapping is a cookie for `ioread*`, not an
/// address `readl` may use.
#[unsafe(no_mangle)]
pub(crate) extern "C" fn ndriver_pci_bar_len(
    inst: *mut abi::Instance,
    bar: u32,
    mem_only: u32,
) -> u64 {
    let Some((_, p)) = pci_of(inst) else {
        return 0;
    };
    if bar >= bindings::PCI_STD_NUM_BARS {
        return 0;
    }
    // SAFETY: `p` is the attached, referenced function and `bar` a standard BAR number
    // (checked), so the resource read is inside `p`; its flags are set at enumeration.
    let flags = unsafe { (*p).resource[bar as usize].flags };
    if mem_only != 0 && flags & bindings::IORESOURCE_MEM as c_ulong == 0 {
        return 0;
    }
    // SAFETY: as for the flags: the attached function and a standard BAR number.
    unsafe { bindings::pci_resource_len(p, bar as c_int) }
}

/// Claims BAR `bar` of the device and maps it; the mapping, or NULL.
#[unsafe(no_mangle)]
pub(crate) extern "C" fn ndriver_pci_iomap(inst: *mut abi::Instance, bar: u32) -> *mut c_void {
    let Some((st, p)) = pci_of(inst) else {
        return core::ptr::null_mut();
    };
    if bar >= bindings::PCI_STD_NUM_BARS {
        return core::ptr::null_mut();
    }
    // SAFETY: `p` is the attached function; the name is a static string.
    if unsafe { bindings::pci_request_region(p, bar as c_int, c"ndriver".as_char_ptr()) } != 0 {
        pr_warn!("{}: BAR {} is busy\n", st.impl_name, bar);
        return core::ptr::null_mut();
    }
    // SAFETY: `p` is the attached, referenced function and `bar` a valid BAR number (checked);
    // the region is ours.
    let addr = unsafe { bindings::pci_iomap(p, bar as c_int, 0) };
    if addr.is_null() {
        // SAFETY: requested just above.
        unsafe { bindings::pci_release_region(p, bar as c_int) };
        return core::ptr::null_mut();
    }
    let action = Action {
        kind: Kind::Iomap,
        obj: addr as usize,
        arg: bar as usize,
        aux: 0,
        ctx: p as usize,
        depends_on: 0,
        undo: undo_iomap,
    };
    if record(st, action) {
        addr
    } else {
        core::ptr::null_mut()
    }
}

/// Unmaps and releases a BAR from `ndriver_pci_iomap`.
#[unsafe(no_mangle)]
pub(crate) extern "C" fn ndriver_pci_iounmap(inst: *mut abi::Instance, addr: *mut c_void) {
    release(inst, Kind::Iomap, addr as usize, "ndriver_pci_iounmap");
}

/// The framework's side of one requested interrupt line (the `dev_id`).
#[pin_data]
struct IrqAction {
    st: *const InstanceState,
    pdev: *mut bindings::pci_dev,
    irq: u32,
    /// The function's INTx disable bit works (`pci_intx_mask_supported`): the handler
    /// masks the function. Else it masks the whole line, as the only way to stop a
    /// level-triggered function nobody can acknowledge.
    intx_mask: bool,
    /// Whether the framework holds the function's INTx masked, and whether the line is
    /// being freed. A lock rather than an atomic flag: the flag and the INTx bit it
    /// stands for must change together, or a mask in the handler on one CPU and an
    /// unmask on another can interleave into a function left masked for good.
    #[pin]
    mask: SpinLockIrq<MaskState>,
}

/// What the framework did to the function of a line it requested (under
/// `IrqAction::mask`).
struct MaskState {
    /// The framework set the function's INTx disable bit (or, without INTx masking,
    /// disabled the line) because the instance could not take an interrupt.
    masked: bool,
    /// `free_irq` is coming: the undo silenced the function for good.
    freeing: bool,
}

/// Masks the INTx of `a`'s function if it is the one signalling, unless the line is
/// being freed or the instance serves again. Returns whether the interrupt was the
/// function's (and is now masked).
///
/// The handler asks because the instance did not serve; the redirect that makes it
/// serve sets `running` and then unmasks (under the same lock). Checked again here
/// under the lock, so a mask that loses that race is not left in place. Only the
/// function is silenced: masking the whole line once stalled every device sharing it
/// (the guest's virtio disks and 9p root file system among them), and a second
/// ndriver device on the line would lose its interrupts during this one's recovery.
fn mask(a: &IrqAction) -> bool {
    let mut m = a.mask.lock();
    // SAFETY: the instance lives until its undo list (which frees this line) ran.
    let st = unsafe { &*a.st };
    if m.freeing || device_of(st).serves(st) {
        return false;
    }
    if !a.intx_mask {
        if !m.masked {
            // SAFETY: the line is requested by us; `disable_irq_nosync` may be called
            // from its own handler and with interrupts off. `unmask` balances it.
            unsafe { bindings::disable_irq_nosync(a.irq) };
            m.masked = true;
        }
        return true;
    }
    // Checked on every interrupt, masked or not: another read-modify-write of the
    // command register (bus mastering turned off by recovery) may have cleared the
    // bit behind this flag.
    // SAFETY: `pdev` is the attached function, referenced by the device until its
    // instance's undo (which frees this line) ran; the check and mask is one config
    // space access under the PCI lock, allowed in hard interrupt context.
    if unsafe { bindings::pci_check_and_mask_intx(a.pdev) } {
        m.masked = true;
        return true;
    }
    false
}

/// Unmasks the INTx of `a`'s function if the framework masked it. With `freeing` (the
/// undo, which has silenced the function itself) the bit stays set: nothing may
/// raise the line once its handler is gone.
fn unmask(a: &IrqAction, freeing: bool) {
    let mut m = a.mask.lock();
    m.freeing |= freeing;
    if m.masked {
        if !a.intx_mask {
            // SAFETY: balances the `disable_irq_nosync` of `mask` (the lock makes the
            // pair and the flag one step); `enable_irq` may be called with interrupts
            // off. Also when freeing: the line is shared and must be left enabled.
            unsafe { bindings::enable_irq(a.irq) };
        } else if !m.freeing {
            // SAFETY: `pdev` is the attached, referenced function (see `mask`); a
            // config space write under the PCI lock, allowed with interrupts off.
            unsafe { bindings::pci_intx(a.pdev, 1) };
        }
        m.masked = false;
    }
}

/// Unmasks the lines the framework masked while `st` could not take interrupts (it was
/// starting or quiesced); called once it serves again.
pub(crate) fn unmask_irqs(st: &InstanceState) {
    let list = st.undo.lock();
    for a in list.of_kind(Kind::Irq) {
        // SAFETY: `obj` of an `Irq` action is its live `IrqAction` (freed by its undo,
        // which first removes it from the list).
        unmask(unsafe { &*(a.obj as *const IrqAction) }, false);
    }
}

/// The interrupt handler of every line an instance requested.
///
/// # Safety
///
/// Called by the IRQ core with the `dev_id` given to `request_irq`: a live `IrqAction`.
unsafe extern "C" fn irq_trampoline(irq: c_int, dev_id: *mut c_void) -> bindings::irqreturn_t {
    // SAFETY: per this function's contract; `free_irq` waits for us before it is freed.
    let a = unsafe { &*dev_id.cast::<IrqAction>() };
    // SAFETY: the instance lives until its undo list (which frees this line) ran.
    let st = unsafe { &*a.st };
    match device_of(st).event(st, Event::DevIrq, irq as u64) {
        Some(v) if v > 0 => bindings::irqreturn::IRQ_HANDLED,
        Some(_) => bindings::irqreturn::IRQ_NONE,
        // Nobody can acknowledge the device now: if it is the one signalling, hold its
        // INTx masked until the instance serves again or recovery gives the line back;
        // else the interrupt is another device's on the shared line.
        None if mask(a) => bindings::irqreturn::IRQ_HANDLED,
        None => bindings::irqreturn::IRQ_NONE,
    }
}

/// Undo of `ndriver_request_irq`: silence the function first (its INTx stays off), so
/// the line is quiet when the handler is freed.
///
/// # Safety
///
/// `a` was recorded by `ndriver_request_irq` and not undone yet.
unsafe fn undo_irq(a: &Action) {
    let ia = a.obj as *mut IrqAction;
    // SAFETY: `ia` is the live `IrqAction` of this action, from `KBox::into_raw`.
    let r = unsafe { &*ia };
    // SAFETY: `pdev` is the attached function; the line is ours, with `ia` as dev_id.
    unsafe {
        bindings::pci_intx(r.pdev, 0);
        unmask(r, true);
        bindings::free_irq(r.irq, ia.cast());
    }
    // SAFETY: `free_irq` returned, so the handler no longer runs with `ia`.
    drop(unsafe { KBox::from_raw(ia) });
}

/// Installs the framework's handler on the device's (possibly shared) interrupt line;
/// interrupts then reach the instance's `devirq` entry. Call after
/// `ndriver_pci_enable`. 0 or a negative errno.
#[unsafe(no_mangle)]
pub(crate) extern "C" fn ndriver_request_irq(inst: *mut abi::Instance) -> c_int {
    let Some((st, p)) = pci_of(inst) else {
        return ENODEV.to_errno();
    };
    // SAFETY: `p` is the attached function.
    let irq = unsafe { (*p).irq };
    if irq == 0 {
        return EINVAL.to_errno();
    }
    // SAFETY: `p` is the attached, referenced function; the flag is set when it is
    // found and not changed after.
    let intx_mask = unsafe { (*p).broken_intx_masking() } == 0;
    let Ok(ia) = KBox::pin_init(
        pin_init!(IrqAction {
            st,
            pdev: p,
            irq,
            intx_mask,
            mask <- new_spinlock_irq!(MaskState { masked: false, freeing: false }, "ndriver_irq_mask"),
        }),
        GFP_KERNEL,
    ) else {
        return ENOMEM.to_errno();
    };
    // SAFETY: the action is never moved out of its box: it is used through this pointer
    // and dropped in place by `KBox::from_raw` in its undo.
    let ia = KBox::into_raw(unsafe { Pin::into_inner_unchecked(ia) });
    // SAFETY: `ia` stays valid until `free_irq` in the undo; the name is static.
    let r = unsafe {
        bindings::request_irq(
            irq,
            Some(irq_trampoline),
            bindings::IRQF_SHARED as _,
            device_of(st).irq_name().as_char_ptr(),
            ia.cast(),
        )
    };
    if r != 0 {
        // SAFETY: not registered, so ours again.
        drop(unsafe { KBox::from_raw(ia) });
        return r;
    }
    // The handler is in place: the function may interrupt now (until the instance
    // serves, the handler masks it again if it does).
    // SAFETY: `p` is the attached, enabled function.
    unsafe { bindings::pci_intx(p, 1) };
    let action = Action {
        kind: Kind::Irq,
        obj: ia as usize,
        arg: irq as usize,
        aux: 0,
        ctx: p as usize,
        depends_on: 0,
        undo: undo_irq,
    };
    if record(st, action) {
        0
    } else {
        ENOMEM.to_errno()
    }
}

/// Frees the line from `ndriver_request_irq`.
#[unsafe(no_mangle)]
pub(crate) extern "C" fn ndriver_free_irq(inst: *mut abi::Instance) {
    // SAFETY: a callout's caller is the instance's code, which outlives the call.
    let Some(st) = (unsafe { InstanceState::from_handle(inst) }) else {
        return;
    };
    let obj = st.undo.lock().of_kind(Kind::Irq).last().map(|a| a.obj);
    match obj {
        Some(obj) => release(inst, Kind::Irq, obj, "ndriver_free_irq"),
        None => pr_warn!("{}: ndriver_free_irq without an IRQ\n", st.impl_name),
    }
}

/// The `struct device` of the attached function.
fn dma_dev(p: *mut bindings::pci_dev) -> *mut bindings::device {
    // SAFETY: `p` is the attached function; only the field's address is taken.
    unsafe { &raw mut (*p).dev }
}

/// Undo of `ndriver_dma_alloc`.
///
/// # Safety
///
/// `a` was recorded by `ndriver_dma_alloc` and not undone yet.
unsafe fn undo_dma_alloc(a: &Action) {
    let p = a.ctx as *mut bindings::pci_dev;
    // SAFETY: `obj`, `arg` and `aux` are the CPU address, size and DMA address of a
    // live coherent buffer of `p`.
    unsafe { bindings::dma_free_attrs(dma_dev(p), a.arg, a.obj as *mut c_void, a.aux as u64, 0) };
}

/// Allocates a coherent DMA buffer of `size` bytes for the device; its CPU address
/// (NULL on failure), and its bus address in `*dma`.
#[unsafe(no_mangle)]
pub(crate) extern "C" fn ndriver_dma_alloc(
    inst: *mut abi::Instance,
    size: usize,
    dma: *mut u64,
) -> *mut c_void {
    let Some((st, p)) = pci_of(inst) else {
        return core::ptr::null_mut();
    };
    if dma.is_null() || size == 0 {
        return core::ptr::null_mut();
    }
    let mut handle: bindings::dma_addr_t = 0;
    // SAFETY: `p` is the attached function; `handle` is a valid out-pointer.
    let cpu = unsafe {
        bindings::dma_alloc_attrs(dma_dev(p), size, &mut handle, bindings::GFP_KERNEL, 0)
    };
    if cpu.is_null() {
        return core::ptr::null_mut();
    }
    let action = Action {
        kind: Kind::DmaCoherent,
        obj: cpu as usize,
        arg: size,
        aux: handle as usize,
        ctx: p as usize,
        depends_on: 0,
        undo: undo_dma_alloc,
    };
    if !record(st, action) {
        return core::ptr::null_mut();
    }
    // SAFETY: the driver passes a valid out-pointer (checked non-NULL above).
    unsafe { *dma = handle };
    cpu
}

/// Frees a buffer from `ndriver_dma_alloc`.
#[unsafe(no_mangle)]
pub(crate) extern "C" fn ndriver_dma_free(inst: *mut abi::Instance, cpu: *mut c_void) {
    release(inst, Kind::DmaCoherent, cpu as usize, "ndriver_dma_free");
}

unsafe extern "C" {
    // `wrappers/dma_map_single.c`; `dev` is a `struct device` (opaque here: bindgen's
    // `device` is not FFI-safe as a pointee).
    fn ndriver_dma_map_single(
        dev: *mut c_void,
        ptr: *mut c_void,
        size: usize,
        dir: bindings::dma_data_direction,
        out: *mut bindings::dma_addr_t,
    ) -> c_int;
    fn ndriver_dma_unmap_single(
        dev: *mut c_void,
        addr: bindings::dma_addr_t,
        size: usize,
        dir: bindings::dma_data_direction,
    );
}

/// Undo of `ndriver_dma_map`.
///
/// # Safety
///
/// `a` was recorded by `ndriver_dma_map` and not undone yet.
unsafe fn undo_dma_map(a: &Action) {
    let p = a.ctx as *mut bindings::pci_dev;
    // SAFETY: `obj`, `arg` and `aux` are the bus address, size and direction of a
    // live streaming mapping of `p`.
    unsafe {
        ndriver_dma_unmap_single(
            dma_dev(p).cast(),
            a.obj as u64,
            a.arg,
            bindings::dma_data_direction(a.aux as _),
        )
    };
}

/// Longest range mapped towards the device that is not the instance's own memory: a
/// bound on the page walk (an skb's linear data is far shorter).
const LENT_DMA_MAX: usize = 1 << 20;

/// Start of the kernel image's own mapping on x86-64 (`__START_KERNEL_map`), which
/// `__virt_addr_valid` also accepts.
const START_KERNEL_MAP: usize = 0xffff_ffff_8000_0000;

/// Whether `len` bytes at `ptr` lie in the direct (linear) mapping with a valid page
/// frame behind every page (`__virt_addr_valid`, below the kernel image's mapping):
/// not vmalloc or module space (vmapped stacks, module text and data), not the kernel
/// image, not a wild address. Reserved pages and, without `CONFIG_VMAP_STACK`, task
/// stacks are in the direct mapping and pass.
fn linear(ptr: *const c_void, len: usize) -> bool {
    let start = ptr as usize;
    let Some(last) = start.checked_add(len.saturating_sub(1)) else {
        return false;
    };
    if len == 0 || len > LENT_DMA_MAX || last >= START_KERNEL_MAP {
        return false;
    }
    let mask = PAGE_MASK;
    let mut page = start & mask;
    loop {
        // SAFETY: `__virt_addr_valid` only computes on the address; it dereferences
        // nothing.
        if !unsafe { bindings::__virt_addr_valid(page as _) } {
            return false;
        }
        if page == last & mask {
            return true;
        }
        let Some(next) = page.checked_add(PAGE_SIZE) else {
            return false;
        };
        page = next;
    }
}

/// Maps `size` bytes at `ptr` for streaming DMA in direction `dir`
/// (`abi::DMA_TO_DEVICE` or `abi::DMA_FROM_DEVICE`). 0 with the bus address in
/// `*dma`, or a negative errno.
///
/// The device reads or writes the range on the driver's word alone, so the range must
/// be memory the instance holds now (`ndriver_alloc`), or, towards the device only,
/// memory of the direct mapping (`linear`) such as the data of an skb lent to it.
/// Anything else (a block it freed, memory past its block, module data, a wild
/// address) would let the device overwrite or leak memory behind the kernel's back:
/// refused, and the instance fails as a misuse. While the mapping is held, the block
/// may not be freed (`release` refuses, as a misuse).
#[unsafe(no_mangle)]
pub(crate) extern "C" fn ndriver_dma_map(
    inst: *mut abi::Instance,
    ptr: *mut c_void,
    size: usize,
    dir: u32,
    dma: *mut u64,
) -> c_int {
    let Some((st, p)) = pci_of(inst) else {
        return ENODEV.to_errno();
    };
    if ptr.is_null() || dma.is_null() || size == 0 {
        return EINVAL.to_errno();
    }
    if dir != abi::DMA_TO_DEVICE && dir != abi::DMA_FROM_DEVICE {
        return EINVAL.to_errno();
    }
    // The cheap check first: the transmit path maps every frame.
    let lent = dir == abi::DMA_TO_DEVICE && linear(ptr, size);
    // Checked, mapped and recorded under one hold of the list's lock, so the block cannot
    // be freed in between (and `release` refuses to while the mapping is recorded).
    let mut list = st.undo.lock();
    if !lent && !list.covers(Kind::Memory, ptr as usize, size) {
        drop(list);
        st.misuse(format_args!(
            "ndriver_dma_map of {} bytes at {:p}, which it does not hold, {}",
            size,
            ptr,
            if dir == abi::DMA_TO_DEVICE {
                "to the device"
            } else {
                "from the device"
            }
        ));
        return EINVAL.to_errno();
    }
    let mut addr: bindings::dma_addr_t = 0;
    // SAFETY: `p` is the attached function; `ptr..ptr+size` is the instance's memory (checked
    // under the lock still held) or direct-mapped kernel memory; `addr` is a valid
    // out-pointer. Mapping does not sleep, so it may run under the IRQ-safe lock.
    let r = unsafe {
        ndriver_dma_map_single(
            dma_dev(p).cast(),
            ptr,
            size,
            bindings::dma_data_direction(dir as _),
            &mut addr,
        )
    };
    if r != 0 {
        return r;
    }
    let action = Action {
        kind: Kind::DmaMapping,
        obj: addr as usize,
        arg: size,
        aux: dir as usize,
        ctx: p as usize,
        // The memory may not be freed while the device can reach it through this.
        depends_on: ptr as usize,
        undo: undo_dma_map,
    };
    if let Err(e) = list.record(action) {
        drop(list);
        pr_warn!("{}: no memory to record a dma_mapping\n", st.impl_name);
        // SAFETY: the mapping was just made for `p` and is recorded nowhere.
        unsafe { undo_dma_map(&action) };
        return e.to_errno();
    }
    drop(list);
    // SAFETY: checked non-NULL above.
    unsafe { *dma = addr };
    0
}

/// Unmaps a mapping from `ndriver_dma_map`.
#[unsafe(no_mangle)]
pub(crate) extern "C" fn ndriver_dma_unmap(inst: *mut abi::Instance, dma: u64) {
    release(inst, Kind::DmaMapping, dma as usize, "ndriver_dma_unmap");
}
