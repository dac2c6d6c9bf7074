// SPDX-License-Identifier: GPL-2.0

//! Warm restart callouts: an instance marks the resources it wants to survive it
//! (`ndriver_keep`), and its implementation's next instance, started with `adopt`
//! instead of `probe`, takes them back into its own undo list (`ndriver_adopt`).
//! `Documentation/design.rst`, "Warm restart".
//!
//! Nothing here is taken on the driver's word: a kept resource must be one the instance
//! holds, an adopted one is looked up in the device's kept set by kind and role, and
//! only the device's starting instance of the implementation that kept it may adopt.

use crate::abi::{self, Adopted};
use crate::instance::InstanceState;
use crate::undo::action_list::{Action, Kind};
use core::sync::atomic::Ordering;
use kernel::bindings;
use kernel::ffi::{c_int, c_void};
use kernel::prelude::*;

/// The action kind of an ABI `KEEP_*` kind.
fn kind_of(kind: u32) -> Option<Kind> {
    match kind {
        abi::KEEP_PCI_ENABLE => Some(Kind::PciEnable),
        abi::KEEP_IOMAP => Some(Kind::Iomap),
        abi::KEEP_IRQ => Some(Kind::Irq),
        abi::KEEP_DMA_COHERENT => Some(Kind::DmaCoherent),
        _ => None,
    }
}

/// Asks for the resource `obj` of `kind` (`abi::KEEP_*`) to survive the instance under
/// `role` (one role per kind): should the instance fail where a warm restart is
/// allowed, the resource stays held, the device is not stopped, and the next instance
/// of the implementation adopts it. Kinds without a driver-visible handle (the PCI
/// function, the interrupt line) ignore `obj`. 0, or `-EINVAL` for a resource the
/// instance does not hold, one kept already or a role taken, which is a misuse that
/// fails the instance.
#[unsafe(no_mangle)]
pub(crate) extern "C" fn ndriver_keep(
    inst: *mut abi::Instance,
    kind: u32,
    obj: *const c_void,
    role: u32,
) -> c_int {
    // SAFETY: a callout's caller is the instance's code, which outlives the call.
    let Some(st) = (unsafe { InstanceState::from_handle(inst) }) else {
        return ENODEV.to_errno();
    };
    let Some(k) = kind_of(kind) else {
        st.misuse(format_args!("ndriver_keep of kind {}, which is none", kind));
        return EINVAL.to_errno();
    };
    let mut list = st.undo.lock();
    let obj = match k {
        Kind::PciEnable | Kind::Irq => list.of_kind(k).last().map_or(0, |a| a.obj),
        _ => obj as usize,
    };
    if list.keep(k, obj, role) {
        return 0;
    }
    drop(list);
    st.misuse(format_args!(
        "ndriver_keep of {} {:#x} as role {}, which it does not hold, keeps already, or \
         keeps another under",
        k.name(),
        obj,
        role
    ));
    EINVAL.to_errno()
}

/// What the adopter learns of action `a`.
fn adopted(a: &Action) -> Adopted {
    match a.kind {
        Kind::Iomap | Kind::DmaCoherent => Adopted {
            cpu: a.obj as u64,
            len: a.arg as u64,
            dma: a.aux as u64,
        },
        _ => Adopted::default(),
    }
}

/// Whether the driver may have `ndriver_adopt` write an [`Adopted`] at `out`: aligned,
/// and inside the current task's stack, above this call's frame (the driver's frames
/// that called it), or inside memory `st` holds.
fn out_ok(st: &InstanceState, out: *mut Adopted) -> bool {
    let start = out as usize;
    let len = core::mem::size_of::<Adopted>();
    if out.is_null() || start % core::mem::align_of::<Adopted>() != 0 {
        return false;
    }
    let Some(end) = start.checked_add(len) else {
        return false;
    };
    let here = 0u8;
    let sp = core::ptr::from_ref(&here) as usize;
    let task = kernel::task::Task::current_raw();
    // SAFETY: `current` is live while it runs; `stack` is the lowest address of its
    // stack, which is `THREAD_SIZE` bytes.
    let low = unsafe { (*task).stack } as usize;
    let top = low.saturating_add(kernel::page::PAGE_SIZE << bindings::THREAD_SIZE_ORDER);
    if sp >= low && sp < top && start > sp && end <= top {
        return true;
    }
    st.undo.lock().covers(Kind::Memory, start, len)
}

/// Takes the resource of `kind` that the previous instance kept under `role` into this
/// instance's undo list, and describes it in `*out`. Only from `adopt` (the instance is
/// starting, and its implementation is the one that kept the resource). 0; `-ENOENT`
/// if nothing of `kind` is kept under `role` (the previous instance kept less, which
/// the adopter may accept); `-EINVAL` for a kind that is none, an `out` that is not on
/// the driver's stack or in memory it holds, or a call outside `adopt` (from `probe`,
/// a configuration replay, an entry point), which is a misuse that fails the instance.
#[unsafe(no_mangle)]
pub(crate) extern "C" fn ndriver_adopt(
    inst: *mut abi::Instance,
    kind: u32,
    role: u32,
    out: *mut Adopted,
) -> c_int {
    // SAFETY: a callout's caller is the instance's code, which outlives the call.
    let Some(st) = (unsafe { InstanceState::from_handle(inst) }) else {
        return ENODEV.to_errno();
    };
    let dev = st.device();
    let adopting = st.adopting.load(Ordering::Acquire) && !dev.serves(st);
    // `out` checked before anything moves: a write through it cannot go wild.
    let Some(k) = kind_of(kind).filter(|_| adopting && out_ok(st, out)) else {
        st.misuse(format_args!(
            "ndriver_adopt of kind {} to {:p} outside adopt, of no kind, or to memory \
             it does not hold",
            kind, out
        ));
        return EINVAL.to_errno();
    };
    // Room first, under the same hold of the lock as the move: a kept resource may not
    // be given back for want of a list entry (the device may still write a buffer).
    let mut list = st.undo.lock();
    if list.reserve_one().is_err() {
        return ENOMEM.to_errno();
    }
    let Some(a) = dev.adopt(st, k, role) else {
        return ENOENT.to_errno();
    };
    let d = adopted(&a);
    if list.record(a).is_err() {
        // Cannot happen (room reserved above). Back into the kept set, its handler
        // pointing at no instance: the adoption fails for it, and it is given back
        // with DMA stopped.
        drop(list);
        dev.unadopt(a, role);
        return ENOMEM.to_errno();
    }
    drop(list);
    // SAFETY: `out` is aligned and lies on the driver's stack frames or in memory the
    // instance holds (checked above); the driver passes a writable `Adopted`.
    unsafe { out.write(d) };
    0
}
