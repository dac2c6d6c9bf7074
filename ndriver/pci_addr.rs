// SPDX-License-Identifier: GPL-2.0

//! PCI function addresses as written to the `pci` debugfs file: `DDDD:BB:SS.F` or
//! `BB:SS.F` (hexadecimal domain, bus and slot, function 0-7), as `lspci -D` prints
//! them. Kernel-free, so the host tests cover it.

/// An address (domain << 16 | bus << 8 | slot << 3 | function) as `DDDD:BB:SS.F`.
pub(crate) struct Text(pub(crate) u64);

impl core::fmt::Display for Text {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let a = self.0;
        write!(
            f,
            "{:04x}:{:02x}:{:02x}.{}",
            a >> 16,
            (a >> 8) & 0xff,
            (a >> 3) & 0x1f,
            a & 7
        )
    }
}

/// Parses `text` into domain << 16 | bus << 8 | slot << 3 | function.
pub(crate) fn parse(text: &str) -> Option<u64> {
    let (rest, func) = text.rsplit_once('.')?;
    let mut parts = rest.split(':');
    let (domain, bus, slot) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(b), Some(s), None, None) => ("0", b, s),
        (Some(d), Some(b), Some(s), None) => (d, b, s),
        _ => return None,
    };
    let hex = |v: &str, digits: usize, max: u64| -> Option<u64> {
        if v.is_empty() || v.len() > digits || !v.bytes().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        u64::from_str_radix(v, 16).ok().filter(|n| *n <= max)
    };
    let domain = hex(domain, 4, 0xffff)?;
    let bus = hex(bus, 2, 0xff)?;
    let slot = hex(slot, 2, 0x1f)?;
    if func.len() != 1 {
        return None;
    }
    let func = hex(func, 1, 7)?;
    Some(domain << 16 | bus << 8 | slot << 3 | func)
}
