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
use kernel::ffi::{c_int, c_void};
use kernel::prelude::*;

/// The action kind of an ABI `KEEP_*` kind.
fn kind_of(kind: u32) -> Option<Kind> {
    match kind {
        abi::KEEP_PCI_ENABLE => Some(Kind::PciEnable),
        abi::KEEP_IOMAP => Some(Kind::Iomap),
        abi::KEEP_IRQ => Some(Kind::Irq),
        abi::KEEP_DMA_COHERENT => Some(Kind::DmaCoherent),
        abi::KEEP_RESET => Some(Kind::Reset),
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
            ..Adopted::default()
        },
        // `obj` is the register (mapping plus offset), `depends_on` the mapping.
        Kind::Reset => Adopted {
            cpu: a.depends_on as u64,
            len: a.obj.wrapping_sub(a.depends_on) as u64,
            ..Adopted::default()
        },
        // `aux` says whether the line is an MSI-X vector.
        Kind::Irq => Adopted {
            len: a.aux as u64,
            ..Adopted::default()
        },
        _ => Adopted::default(),
    }
}

/// An answer of `ndriver_adopt` that hands nothing over: `status` the negative errno.
fn refused(e: Error) -> Adopted {
    Adopted {
        status: e.to_errno(),
        ..Adopted::default()
    }
}

/// Takes the resource of `kind` that the previous instance kept under `role` into this
/// instance's undo list, and returns it (status 0). Only from `adopt` (the instance is
/// starting, and its implementation is the one that kept the resource). Status
/// `-ENOENT` if nothing of `kind` is kept under `role` (the previous instance kept less,
/// which the adopter may accept); `-EINVAL` for a kind that is none or a call outside
/// `adopt` (from `probe`, a configuration replay, an entry point), which is a misuse that
/// fails the instance.
pub(crate) extern "C" fn ndriver_adopt(inst: *mut abi::Instance, kind: u32, role: u32) -> Adopted {
    // SAFETY: a callout's caller is the instance's code, which outlives the call.
    let Some(st) = (unsafe { InstanceState::from_handle(inst) }) else {
        return refused(ENODEV);
    };
    let dev = st.device();
    let adopting = st.adopting.load(Ordering::Acquire) && !dev.serves(st);
    let Some(k) = kind_of(kind).filter(|_| adopting) else {
        st.misuse(format_args!(
            "ndriver_adopt of kind {} outside adopt, or of no kind",
            kind
        ));
        return refused(EINVAL);
    };
    // Room first, under the same hold of the lock as the move: a kept resource may not
    // be given back for want of a list entry (the device may still write a buffer).
    let mut list = st.undo.lock();
    if list.reserve_one().is_err() {
        return refused(ENOMEM);
    }
    let Some(a) = dev.adopt(st, k, role) else {
        return refused(ENOENT);
    };
    let d = adopted(&a);
    if list.record(a).is_err() {
        // Cannot happen (room reserved above). Back into the kept set, its handler
        // pointing at no instance: the adoption fails for it, and it is given back
        // with DMA stopped.
        drop(list);
        dev.unadopt(a, role);
        return refused(ENOMEM);
    }
    d
}
