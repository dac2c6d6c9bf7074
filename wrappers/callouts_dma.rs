// SPDX-License-Identifier: GPL-2.0

//! Device callouts: DMA for the instance's PCI function, coherent buffers
//! (`dma_alloc_attrs`) and streaming mappings (`dma_map_single`, checked against the
//! memory the instance holds), recorded in the undo action list. Part of
//! `callouts_device.rs`.

use super::pci_of;
use crate::abi;
use crate::undo::action_list::{Action, Kind};
use crate::wrappers::callouts::{record, release};
use kernel::bindings;
use kernel::ffi::{c_int, c_void};
use kernel::page::{PAGE_MASK, PAGE_SIZE};
use kernel::prelude::*;

/// The `struct device` of PCI function `p` (the attached one), for the DMA API.
pub(crate) fn dma_dev(p: *mut bindings::pci_dev) -> *mut bindings::device {
    // SAFETY: `p` is a live PCI function; only the field's address is taken.
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
        kept: None,
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
        kept: None,
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
pub(crate) extern "C" fn ndriver_dma_unmap(inst: *mut abi::Instance, dma: u64) {
    release(inst, Kind::DmaMapping, dma as usize, "ndriver_dma_unmap");
}
