// SPDX-License-Identifier: GPL-2.0

//! Addresses as kallsyms names them, for `inject` and crash reports.

use kernel::ffi::{c_int, c_ulong};

/// Larger than the kernel's `KSYM_SYMBOL_LEN`.
pub(crate) const KSYM_BUF: usize = 1024;

/// `addr` as `sprint_symbol()` writes it into `buf`: `SYMBOL+OFF/SIZE [module]` (no
/// `[module]` in the kernel image), or the address in hex when kallsyms does not know it.
/// Process context (kallsyms may take the module list's RCU read lock).
pub(crate) fn symbol(addr: u64, buf: &mut [u8; KSYM_BUF]) -> &str {
    // SAFETY: `buf` is larger than `KSYM_SYMBOL_LEN`; the address is only looked up.
    unsafe { sprint_symbol(buf.as_mut_ptr(), addr as c_ulong) };
    let end = buf.iter().position(|b| *b == 0).unwrap_or(0);
    core::str::from_utf8(&buf[..end]).unwrap_or("?")
}

extern "C" {
    fn sprint_symbol(buffer: *mut u8, address: c_ulong) -> c_int;
}
