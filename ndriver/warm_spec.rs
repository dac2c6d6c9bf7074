// SPDX-License-Identifier: GPL-2.0

//! The test hook that damages what a warm restart adopts (`warm_corrupt` in debugfs,
//! `Documentation/debugfs.rst`): what a write asks for. Free of kernel types: the host
//! tests compile it.
//!
//! Only two changes, both inside what the dead instance kept, so that a test can show
//! the adopter's checks and the cold fallback without the device being pointed at
//! memory nobody owns: two aligned 64-bit words of a kept coherent buffer swapped (a
//! receive descriptor given another descriptor's buffer, say), or a 32-bit register of
//! a kept BAR XORed with a mask.

/// One armed damage, applied to the kept set of the next warm restart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Corrupt {
    /// Swap the 64-bit words at byte offsets `a` and `b` of the kept coherent buffer
    /// of role `role`.
    Swap { role: u32, a: usize, b: usize },
    /// XOR the 32-bit register at byte offset `off` of the kept BAR of role `role`
    /// with `mask`.
    Reg { role: u32, off: usize, mask: u32 },
}

/// Parses a number, decimal or `0x` hexadecimal.
fn num<T: TryFrom<u64>>(s: &str) -> Option<T> {
    let v = match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok()?,
        None => s.parse::<u64>().ok()?,
    };
    T::try_from(v).ok()
}

/// Parses a `warm_corrupt` write: `swap ROLE A B`, `reg ROLE OFF MASK` or `off`
/// (`Ok(None)`). Offsets must be aligned (8 bytes for `swap`, 4 for `reg`) and the
/// two words of a swap distinct; the mask not 0. `Err(())` for anything else.
pub(crate) fn parse(text: &str) -> Result<Option<Corrupt>, ()> {
    let mut w = text.split_ascii_whitespace();
    let (Some(kind), a, b, c, None) = (w.next(), w.next(), w.next(), w.next(), w.next()) else {
        return Err(());
    };
    match (kind, a, b, c) {
        ("off", None, None, None) => Ok(None),
        ("swap", Some(r), Some(a), Some(b)) => {
            let (role, a, b) = (
                num(r).ok_or(())?,
                num::<usize>(a).ok_or(())?,
                num(b).ok_or(())?,
            );
            if a % 8 != 0 || b % 8 != 0 || a == b {
                return Err(());
            }
            Ok(Some(Corrupt::Swap { role, a, b }))
        }
        ("reg", Some(r), Some(o), Some(m)) => {
            let (role, off, mask) = (
                num(r).ok_or(())?,
                num::<usize>(o).ok_or(())?,
                num(m).ok_or(())?,
            );
            if off % 4 != 0 || mask == 0 {
                return Err(());
            }
            Ok(Some(Corrupt::Reg { role, off, mask }))
        }
        _ => Err(()),
    }
}

impl core::fmt::Display for Corrupt {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Corrupt::Swap { role, a, b } => write!(f, "swap {} {:#x} {:#x}", role, a, b),
            Corrupt::Reg { role, off, mask } => write!(f, "reg {} {:#x} {:#x}", role, off, mask),
        }
    }
}
