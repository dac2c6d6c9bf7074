// SPDX-License-Identifier: GPL-2.0

//! The callout API: kernel services a guarded driver may use, each recorded in the
//! calling instance's undo action list (`undo/action_list.rs`). Exported to
//! implementation modules through `wrappers/callouts_exports.c`; implementations
//! declare them in `wrappers/callouts_api.rs`.

use crate::abi;
use crate::instance::InstanceState;
use crate::undo::action_list::{Action, Kind};
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
/// `a` was recorded by `ndriver_alloc` for a block not yet freed.
unsafe fn undo_alloc(a: &Action) {
    let (Some(p), Some(l)) = (NonNull::new(a.obj as *mut u8), layout(a.arg)) else {
        return;
    };
    // SAFETY: `p` came from `Kmalloc::alloc` with layout `l` and was not freed (the
    // driver's own free removes the action first).
    unsafe { Kmalloc::free(p, l) };
}

/// Allocates `size` zeroed bytes for the instance; NULL on failure. `atomic` != 0 for
/// callers in atomic context.
pub(crate) extern "C" fn ndriver_alloc(
    inst: *mut abi::Instance,
    size: usize,
    atomic: u32,
) -> *mut c_void {
    // SAFETY: a callout's caller is the instance's code, which outlives the call.
    let Some(st) = (unsafe { InstanceState::from_handle(inst) }) else {
        return core::ptr::null_mut();
    };
    let Some(l) = layout(size.max(1)) else {
        return core::ptr::null_mut();
    };
    if st.undo.lock().memory().saturating_add(l.size()) > st.mem_limit {
        // A leak, or a driver that needs a larger `mem_kb`: refuse, and have the
        // instance replaced when its entry point returns.
        if !st.over_limit.swap(true, Ordering::Relaxed) {
            pr_warn!(
                "{}: over its memory limit ({} KiB): taken for a leak\n",
                st.impl_name,
                st.mem_limit / 1024
            );
        }
        return core::ptr::null_mut();
    }
    let flags = if atomic != 0 { GFP_ATOMIC } else { GFP_KERNEL };
    let Ok(p) = Kmalloc::alloc(l, flags | __GFP_ZERO, NumaNode::NO_NODE) else {
        return core::ptr::null_mut();
    };
    let obj = p.as_ptr().cast::<u8>() as usize;
    let action = Action {
        kind: Kind::Memory,
        obj,
        arg: l.size(),
        aux: 0,
        ctx: 0,
        depends_on: 0,
        kept: None,
        undo: undo_alloc,
    };
    if !record(st, action) {
        return core::ptr::null_mut();
    }
    obj as *mut c_void
}

/// Records `action` for `st`. When even that fails (no memory for the entry) the
/// resource is given back at once and `false` returned: nothing is held unrecorded.
pub(crate) fn record(st: &InstanceState, action: Action) -> bool {
    let r = st.undo.lock().record(action);
    if r.is_err() {
        pr_warn!(
            "{}: no memory to record a {}\n",
            st.impl_name,
            action.kind.name()
        );
        // SAFETY: the resource was just taken for `st` and is recorded nowhere.
        unsafe { (action.undo)(&action) };
        return false;
    }
    true
}

/// The driver gives back `obj` (of `kind`) itself: forget its action and run its undo
/// routine, outside the list's lock. An `obj` the instance does not hold (released
/// twice, stale or forged), or one another held resource still depends on (memory a
/// streaming mapping lets the device write into, a BAR a recorded reset writes into),
/// is left alone and fails the instance; `what` names the callout for the log. Two
/// exceptions while the instance adopts, left to the undo list without a misuse: a
/// coherent buffer (the device may still write it) and a BAR mapping a reset still in
/// the kept set writes into.
pub(crate) fn release(inst: *mut abi::Instance, kind: Kind, obj: usize, what: &str) {
    // SAFETY: a callout's caller is the instance's code, which outlives the call.
    let Some(st) = (unsafe { InstanceState::from_handle(inst) }) else {
        return;
    };
    if kind == Kind::DmaCoherent && st.adopting.load(Ordering::Acquire) && list_holds(st, kind, obj)
    {
        // The device may still write it: left to the undo list (`adopting`).
        return;
    }
    let mut list = st.undo.lock();
    let Some(held) = list.get(kind, obj).copied() else {
        drop(list);
        st.misuse(format_args!(
            "{} of {} {:#x}, which it does not hold",
            what,
            kind.name(),
            obj
        ));
        return;
    };
    if let Some(d) = list.dependent(&held).copied() {
        drop(list);
        st.misuse(format_args!(
            "{} of {} {:#x}, which its {} {:#x} still uses",
            what,
            kind.name(),
            obj,
            d.kind.name(),
            d.obj
        ));
        return;
    }
    if kind == Kind::Iomap && st.adopting.load(Ordering::Acquire) && st.device().kept_uses(&held) {
        // An adopter giving a BAR mapping back (its checks of the device failed, say)
        // while a reset the previous instance kept, not adopted, still writes into it:
        // left to the undo list, which a failed adoption runs after the kept resets.
        // (The kept set's lock nests inside the undo list's, as in `ndriver_adopt`.)
        return;
    }
    let action = list.forget(kind, obj);
    drop(list);
    if let Some(a) = action {
        // SAFETY: the action was recorded by its callout and is now removed, so this
        // is its only undo.
        unsafe { (a.undo)(&a) };
    }
}

/// Whether `st` holds `obj` of `kind`.
fn list_holds(st: &InstanceState, kind: Kind, obj: usize) -> bool {
    st.undo.lock().holds(kind, obj)
}

/// Runs `f` if instance `st` holds `obj` of `kind`, with its undo list locked, so that
/// a concurrent release of `obj` waits for `f`; if not, the instance fails (`what`
/// names the callout for the log). For handles a driver passes back.
pub(crate) fn with_held(st: &InstanceState, kind: Kind, obj: usize, what: &str, f: impl FnOnce()) {
    {
        let list = st.undo.lock();
        if list.holds(kind, obj) {
            f();
            return;
        }
    }
    st.misuse(format_args!(
        "{} with {} {:#x}, which it does not hold",
        what,
        kind.name(),
        obj
    ));
}

/// Frees a block from `ndriver_alloc` and forgets its undo action.
pub(crate) extern "C" fn ndriver_free(inst: *mut abi::Instance, ptr: *mut c_void) {
    if !ptr.is_null() {
        release(inst, Kind::Memory, ptr as usize, "ndriver_free");
    }
}

/// Records the driver's private data pointer for this instance.
pub(crate) extern "C" fn ndriver_set_priv(inst: *mut abi::Instance, data: *mut c_void) {
    // SAFETY: a callout's caller is the instance's code, which outlives the call.
    let Some(st) = (unsafe { InstanceState::from_handle(inst) }) else {
        return;
    };
    st.priv_data.store(data as usize, Ordering::Release);
}

/// The driver's private data pointer for this instance (NULL before `ndriver_set_priv`).
pub(crate) extern "C" fn ndriver_get_priv(inst: *mut abi::Instance) -> *mut c_void {
    // SAFETY: a callout's caller is the instance's code, which outlives the call.
    let Some(st) = (unsafe { InstanceState::from_handle(inst) }) else {
        return core::ptr::null_mut();
    };
    st.priv_data() as *mut c_void
}

/// The instance's generation (1 for the first instance of a device).
pub(crate) extern "C" fn ndriver_generation(inst: *mut abi::Instance) -> u64 {
    // SAFETY: a callout's caller is the instance's code, which outlives the call.
    unsafe { InstanceState::from_handle(inst) }.map_or(0, |st| st.generation)
}

/// Called by a driver's `DriverLock` right after it is taken (`delta` 1) and right before
/// it is released (-1): the guard then knows that much of what the call holds is the
/// driver's own (see `guard::driver_lock_held`, which checks a claimed lock against the
/// preempt count). Any other value is ignored.
pub(crate) extern "C" fn ndriver_lock_held(delta: core::ffi::c_int) {
    crate::guard::driver_lock_held(delta);
}

/// Called by a driver that waits for its own lock (`DriverLock`), once per spin: ends the
/// waiting guarded call as hung once it has overrun its deadline (see
/// `guard::end_if_overdue`). Returns while the deadline holds.
pub(crate) extern "C" fn ndriver_lock_wait() {
    crate::guard::end_if_overdue(ndriver_lock_wait as *const () as usize);
}

/// An entry point's fault-injection point: the class glue of an implementation module
/// (`wrappers/entry_faults.rs`) calls it at the top of each entry function with the
/// entry's index; a non-zero result is the `FaultClass` to raise there now.
pub(crate) extern "C" fn ndriver_fault_point(inst: *mut abi::Instance, entry: u32) -> u32 {
    // SAFETY: a callout's caller is the instance's code, which outlives the call.
    let Some(st) = (unsafe { InstanceState::from_handle(inst) }) else {
        return 0;
    };
    st.device().fault_point(entry as usize)
}

// The glue of the implementation modules knows the classes by number only.
const _: () = assert!(
    crate::fault_class::FaultClass::KernelPrintk as u32 == abi::FAULT_CLASS_LAST
        && crate::fault_class::NR_CLASSES as u32 == abi::FAULT_CLASS_LAST + 1
);

/// The driver ended a part of its `probe` or `adopt` call and names it: the `len` bytes
/// at `name`, a constant of its module (the first 16 kept, any but `[A-Za-z0-9_]`
/// shown as `_`). The part is the time since the call began or since the previous
/// one; the longest part of a recovery's call can be its slowest step (`adopt.NAME`,
/// `probe.NAME`). Ignored at any other time or from another context, and for a name
/// that is empty or not among the module's constants (not read).
pub(crate) extern "C" fn ndriver_step(inst: *mut abi::Instance, name: *const u8, len: usize) {
    // SAFETY: a callout's caller is the instance's code, which outlives the call.
    if let Some(st) = unsafe { InstanceState::from_handle(inst) } {
        st.device().step(st, name as usize, len);
    }
}

/// The glue's word that it is about to raise `class`, the fault `ndriver_fault_point`
/// handed out last, at address `at` of its code: the record `inject` shows as the
/// fault's own evidence. A word for any other class is ignored.
pub(crate) extern "C" fn ndriver_fault_raising(inst: *mut abi::Instance, class: u32, at: usize) {
    // SAFETY: a callout's caller is the instance's code, which outlives the call.
    if let Some(st) = unsafe { InstanceState::from_handle(inst) } {
        st.device().fault_raising(class, at);
    }
}
