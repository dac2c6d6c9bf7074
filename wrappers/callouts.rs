// SPDX-License-Identifier: GPL-2.0

//! The callout API: kernel services a guarded driver may use, each recorded in the
//! calling instance's undo action list (`undo/action_list.rs`). Exported to
//! implementation modules through `wrappers/callouts_exports.c`; implementations
//! declare them in `wrappers/callouts_api.rs`.

use crate::abi;
use crate::action_list::Action;
use crate::instance::InstanceState;
use crate::testdev::TestDev;
use core::alloc::Layout;
use core::ptr::NonNull;
use core::sync::atomic::Ordering;
use kernel::alloc::{allocator::Kmalloc, Allocator, NumaNode};
use kernel::ffi::c_void;
use kernel::prelude::*;

/// Alignment of every `ndriver_alloc` block.
const ALLOC_ALIGN: usize = 16;

fn layout(size: usize) -> Option<Layout> {
    Layout::from_size_align(size, ALLOC_ALIGN).ok()
}

/// Undo routine of `ndriver_alloc`.
///
/// # Safety
///
/// `obj` and `size` were recorded by `ndriver_alloc` for a block not yet freed.
unsafe fn undo_alloc(obj: usize, size: usize) {
    let (Some(p), Some(l)) = (NonNull::new(obj as *mut u8), layout(size)) else {
        return;
    };
    // SAFETY: `p` came from `Kmalloc::alloc` with layout `l` and was not freed (the
    // driver's own free removes the action first).
    unsafe { Kmalloc::free(p, l) };
}

/// Allocates `size` zeroed bytes for the instance; NULL on failure. `atomic` != 0 for
/// callers in atomic context.
#[unsafe(no_mangle)]
pub(crate) extern "C" fn ndriver_alloc(
    inst: *mut abi::Instance,
    size: usize,
    atomic: u32,
) -> *mut c_void {
    // SAFETY: the driver passes the handle of its live instance.
    let st = unsafe { InstanceState::from_handle(inst) };
    let Some(l) = layout(size.max(1)) else {
        return core::ptr::null_mut();
    };
    let flags = if atomic != 0 { GFP_ATOMIC } else { GFP_KERNEL };
    let Ok(p) = Kmalloc::alloc(l, flags | __GFP_ZERO, NumaNode::NO_NODE) else {
        return core::ptr::null_mut();
    };
    let obj = p.as_ptr().cast::<u8>() as usize;
    let action = Action {
        obj,
        arg: l.size(),
        undo: undo_alloc,
    };
    if st.undo.lock().record(action).is_err() {
        // SAFETY: just allocated with this layout, never handed out.
        unsafe { Kmalloc::free(p.cast(), l) };
        return core::ptr::null_mut();
    }
    obj as *mut c_void
}

/// Frees a block from `ndriver_alloc` and forgets its undo action.
#[unsafe(no_mangle)]
pub(crate) extern "C" fn ndriver_free(inst: *mut abi::Instance, ptr: *mut c_void) {
    if ptr.is_null() {
        return;
    }
    // SAFETY: the driver passes the handle of its live instance.
    let st = unsafe { InstanceState::from_handle(inst) };
    let action = st.undo.lock().forget(ptr as usize);
    match action {
        // SAFETY: the action was recorded by `ndriver_alloc` and is now removed, so
        // this is its only undo.
        Some(a) => unsafe { (a.undo)(a.obj, a.arg) },
        None => pr_warn!(
            "{}: ndriver_free of a block it does not hold\n",
            st.impl_name
        ),
    }
}

/// Records the driver's private data pointer for this instance.
#[unsafe(no_mangle)]
pub(crate) extern "C" fn ndriver_set_priv(inst: *mut abi::Instance, data: *mut c_void) {
    // SAFETY: the driver passes the handle of its live instance.
    let st = unsafe { InstanceState::from_handle(inst) };
    st.priv_data.store(data as usize, Ordering::Release);
}

/// The driver's private data pointer for this instance (NULL before `ndriver_set_priv`).
#[unsafe(no_mangle)]
pub(crate) extern "C" fn ndriver_get_priv(inst: *mut abi::Instance) -> *mut c_void {
    // SAFETY: the driver passes the handle of its live instance.
    let st = unsafe { InstanceState::from_handle(inst) };
    st.priv_data() as *mut c_void
}

/// The instance's generation (1 for the first instance of a device).
#[unsafe(no_mangle)]
pub(crate) extern "C" fn ndriver_generation(inst: *mut abi::Instance) -> u64 {
    // SAFETY: the driver passes the handle of its live instance.
    unsafe { InstanceState::from_handle(inst) }.generation
}

/// A fault-injection site: drivers call it at the top of each entry point with the
/// entry's index; a non-zero result is the `FaultClass` the driver must raise now.
#[unsafe(no_mangle)]
pub(crate) extern "C" fn ndriver_fault_point(inst: *mut abi::Instance, entry: u32) -> u32 {
    // SAFETY: the driver passes the handle of its live instance.
    let st = unsafe { InstanceState::from_handle(inst) };
    // SAFETY: `device` is the `TestDev` that owns this instance and outlives it.
    let dev = unsafe { &*st.device.cast::<TestDev>() };
    dev.fault_point(entry as usize)
}
