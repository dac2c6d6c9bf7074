// SPDX-License-Identifier: GPL-2.0

//! Device callouts: enabling the instance's PCI function (with or without bus
//! mastering) and disabling it, recorded in the undo action list. Part of
//! `callouts_device.rs`.

use super::pci_of;
use crate::abi;
use crate::undo::action_list::{Action, Kind};
use crate::wrappers::callouts::{record, release};
use kernel::bindings;
use kernel::ffi::c_int;
use kernel::prelude::*;

/// Whether the instance's device has a PCI function (1) or not (0).
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
pub(crate) extern "C" fn ndriver_pci_enable(inst: *mut abi::Instance) -> c_int {
    pci_enable(inst, true)
}

/// Enables the PCI function like `ndriver_pci_enable` but without bus mastering: the
/// device cannot DMA until `ndriver_pci_set_master`. A driver whose device may still
/// run with the programming of a dead instance (receive rings it freed) silences the
/// device through its registers first. 0 or a negative errno.
pub(crate) extern "C" fn ndriver_pci_enable_quiet(inst: *mut abi::Instance) -> c_int {
    pci_enable(inst, false)
}

/// Turns bus mastering on for a function enabled with `ndriver_pci_enable_quiet` (the
/// enable's undo turns it off again).
pub(crate) extern "C" fn ndriver_pci_set_master(inst: *mut abi::Instance) {
    if let Some((_, p)) = pci_of(inst) {
        // SAFETY: `p` is the attached, referenced function.
        unsafe { bindings::pci_set_master(p) };
    }
}

/// Turns bus mastering off: the function's DMA stops (a driver whose device does not
/// finish a reset, before it gives back memory the device may reach). The enable's undo
/// turns it off anyway; `ndriver_pci_set_master` turns it on again.
pub(crate) extern "C" fn ndriver_pci_clear_master(inst: *mut abi::Instance) {
    if let Some((_, p)) = pci_of(inst) {
        // SAFETY: `p` is the attached, referenced function.
        unsafe { bindings::pci_clear_master(p) };
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
        kept: None,
        undo: undo_pci_enable,
    };
    if record(st, action) {
        0
    } else {
        ENOMEM.to_errno()
    }
}

/// Disables the function enabled by `ndriver_pci_enable`.
pub(crate) extern "C" fn ndriver_pci_disable(inst: *mut abi::Instance) {
    if let Some((_, p)) = pci_of(inst) {
        release(inst, Kind::PciEnable, p as usize, "ndriver_pci_disable");
    }
}
