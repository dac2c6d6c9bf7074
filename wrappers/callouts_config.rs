// SPDX-License-Identifier: GPL-2.0

//! Device callouts: reading the PCI configuration space of the instance's function
//! (where a device describes itself past the standard header, e.g. virtio's vendor
//! capabilities). Nothing is recorded: a read changes nothing the undo list must give
//! back. Part of `callouts_device.rs`.

use super::pci_of;
use crate::abi;
use kernel::bindings;
use kernel::ffi::c_int;
use kernel::prelude::*;

/// Reads `width` bytes (1, 2 or 4, aligned to `width`) at offset `offset` of the
/// configuration space of the instance's function into `*out`. 0, `-ENODEV` without a
/// function, `-EINVAL` for a width, an alignment or an offset outside the function's
/// configuration space (256 bytes, 4096 for PCI Express), `-EIO` if the read fails.
///
/// Nothing is written on failure. A NULL `out`, another width or a misaligned offset
/// is a misuse that fails the instance (an offset past the end is not: a driver may
/// look for the extended space a conventional function lacks).
pub(crate) extern "C" fn ndriver_pci_config_read(
    inst: *mut abi::Instance,
    offset: u32,
    width: u32,
    out: *mut u32,
) -> c_int {
    let Some((st, p)) = pci_of(inst) else {
        return ENODEV.to_errno();
    };
    if out.is_null() || !matches!(width, 1 | 2 | 4) || offset % width != 0 {
        st.misuse(format_args!(
            "ndriver_pci_config_read of {} bytes at {:#x} into {:p}",
            width, offset, out
        ));
        return EINVAL.to_errno();
    }
    // SAFETY: `p` is the attached, referenced function; `cfg_size` is set at enumeration.
    let size = unsafe { (*p).cfg_size };
    if u64::from(offset) + u64::from(width) > u64::try_from(size).unwrap_or(0) {
        return EINVAL.to_errno();
    }
    let at = offset as c_int;
    let mut value: u32 = 0;
    let r = match width {
        1 => {
            let mut v: u8 = 0;
            // SAFETY: `p` is the attached, referenced function and `at` a byte inside its
            // configuration space (checked); `v` is a local byte.
            let r = unsafe { bindings::pci_read_config_byte(p, at, &mut v) };
            value = v.into();
            r
        }
        2 => {
            let mut v: u16 = 0;
            // SAFETY: `p` is the attached, referenced function and `at` an aligned word
            // inside its configuration space (checked); `v` is a local word.
            let r = unsafe { bindings::pci_read_config_word(p, at, &mut v) };
            value = v.into();
            r
        }
        // SAFETY: `p` is the attached, referenced function and `at` an aligned dword inside
        // its configuration space (checked); `value` is a local dword.
        _ => unsafe { bindings::pci_read_config_dword(p, at, &mut value) },
    };
    if r != 0 {
        return EIO.to_errno();
    }
    // SAFETY: `out` is not NULL (checked); the driver passes room for a `u32`, and a bad
    // pointer faults inside its guarded call.
    unsafe { out.write(value) };
    0
}
