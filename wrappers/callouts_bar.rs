// SPDX-License-Identifier: GPL-2.0

//! Device callouts: a BAR of the instance's PCI function, its length, and its region
//! claimed and mapped (`pci_iomap`), recorded in the undo action list. Part of
//! `callouts_device.rs`.

use super::pci_of;
use crate::abi;
use crate::undo::action_list::{Action, Kind};
use crate::wrappers::callouts::{record, release};
use kernel::bindings;
use kernel::ffi::{c_int, c_ulong, c_void};
use kernel::prelude::*;

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
        kept: None,
        undo: undo_iomap,
    };
    if record(st, action) {
        addr
    } else {
        core::ptr::null_mut()
    }
}

/// Unmaps and releases a BAR from `ndriver_pci_iomap` (refused while a recorded reset
/// writes into it; left mapped to the undo list while a reset of the kept set does,
/// during `adopt`: `release`).
pub(crate) extern "C" fn ndriver_pci_iounmap(inst: *mut abi::Instance, addr: *mut c_void) {
    release(inst, Kind::Iomap, addr as usize, "ndriver_pci_iounmap");
}
