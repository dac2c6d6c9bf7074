// SPDX-License-Identifier: GPL-2.0

//! The device-reset callout: a register write that the undo list performs when an
//! instance dies, so that a device the dead instance programmed stops (and stops
//! writing into the instance's DMA buffers) before those buffers and the register
//! mapping are given back. Recorded like any resource, newest first in the undo
//! order: a driver records it after taking its DMA buffers and before starting the
//! device. An orderly stop resets the device itself and drops the record.

use crate::abi;
use crate::instance::InstanceState;
use crate::undo::action_list::{Action, Kind};
use core::sync::atomic::Ordering;
use kernel::bindings;
use kernel::ffi::{c_int, c_void};
use kernel::prelude::*;

/// Undo of `ndriver_io_reset_on_undo`: the write.
///
/// # Safety
///
/// `a` was recorded by `ndriver_io_reset_on_undo` and not undone yet; the mapping it
/// writes through is still there (it was taken before, so it is undone after).
unsafe fn undo_reset(a: &Action) {
    let addr = a.obj as *mut c_void;
    let value = a.arg as u32;
    // SAFETY: `addr` lies in a live `pci_iomap` mapping (per this function's contract).
    unsafe {
        match a.aux {
            1 => bindings::iowrite8(value as u8, addr),
            2 => bindings::iowrite16(value as u16, addr),
            _ => bindings::iowrite32(value, addr),
        }
    }
}

/// Records the write of `value` (`width` 1, 2 or 4 bytes) at `io + offset`, made by
/// the undo list if the instance dies first. 0 or a negative errno.
pub(crate) extern "C" fn ndriver_io_reset_on_undo(
    inst: *mut abi::Instance,
    io: *mut c_void,
    offset: u32,
    value: u32,
    width: u32,
) -> c_int {
    // SAFETY: a callout's caller is the instance's code, which outlives the call.
    let Some(st) = (unsafe { InstanceState::from_handle(inst) }) else {
        return EINVAL.to_errno();
    };
    if !matches!(width, 1 | 2 | 4) || io.is_null() || offset % width != 0 {
        return EINVAL.to_errno();
    }
    // The mapping must be the instance's own and the register inside its BAR; checked
    // and recorded under one hold of the list's lock, so the mapping cannot be given back
    // in between (and `release` refuses to while the record depends on it).
    let mut list = st.undo.lock();
    let bar = list
        .of_kind(Kind::Iomap)
        .find(|a| a.obj == io as usize)
        .map(|a| (a.ctx as *mut bindings::pci_dev, a.arg as c_int));
    let Some((pdev, bar)) = bar else {
        drop(list);
        st.misuse(format_args!(
            "ndriver_io_reset_on_undo on mapping {:p}, which it does not hold",
            io
        ));
        return EINVAL.to_errno();
    };
    // SAFETY: an `Iomap` action of a live instance records the attached, referenced function
    // and a standard BAR number of it (`ndriver_pci_iomap`).
    let len = unsafe { bindings::pci_resource_len(pdev, bar) };
    if u64::from(offset) + u64::from(width) > len {
        return EINVAL.to_errno();
    }
    let action = Action {
        kind: Kind::Reset,
        obj: (io as usize).wrapping_add(offset as usize),
        arg: value as usize,
        aux: width as usize,
        ctx: 0,
        depends_on: io as usize,
        kept: None,
        undo: undo_reset,
    };
    // Not `record`: on failure it would run the undo, a device reset under a running
    // driver.
    match list.record(action) {
        Ok(()) => 0,
        Err(e) => {
            drop(list);
            pr_warn!("{}: no memory to record a reset\n", st.impl_name);
            e.to_errno()
        }
    }
}

/// Drops the record of `ndriver_io_reset_on_undo` without writing.
pub(crate) extern "C" fn ndriver_io_reset_cancel(
    inst: *mut abi::Instance,
    io: *mut c_void,
    offset: u32,
) {
    // SAFETY: a callout's caller is the instance's code, which outlives the call.
    let Some(st) = (unsafe { InstanceState::from_handle(inst) }) else {
        return;
    };
    let obj = (io as usize).wrapping_add(offset as usize);
    let mut list = st.undo.lock();
    // The last reset while block requests are mapped for the device: only the orderly
    // stop, which resets the device itself, may drop it; otherwise a cold restart
    // could not stop the device before it unmaps their pages.
    if list.has(Kind::RqMapping)
        && list.count(Kind::Reset) == 1
        && list.holds(Kind::Reset, obj)
        && !st.removing.load(Ordering::Acquire)
    {
        drop(list);
        st.misuse(format_args!(
            "ndriver_io_reset_cancel of its last reset with requests mapped for the device"
        ));
        return;
    }
    // Forget it without running it: the orderly stop reset the device itself.
    if list.forget(Kind::Reset, obj).is_none() {
        drop(list);
        pr_warn!(
            "{}: ndriver_io_reset_cancel without a record\n",
            st.impl_name
        );
    }
}
