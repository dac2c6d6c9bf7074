// SPDX-License-Identifier: GPL-2.0

//! What the last fault of a site did ([`Effect`]), and its words in `inject` and the
//! kernel log ([`EffectText`]). Part of `site.rs`.

use super::Site;
use crate::pt_regs::GPR_NAMES;
use core::fmt;
use core::sync::atomic::Ordering;

/// What the last fault of a site did.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub(super) enum Effect {
    /// Nothing fired yet.
    None = 0,
    /// The context went on at a stub that raises the class.
    Raised = 1,
    /// The instruction was skipped.
    Skipped = 2,
    /// A bit of a register was flipped.
    Register = 3,
    /// A flag was flipped.
    Flag = 4,
    /// The instruction changed no register or flag: nothing to flip.
    NoDestination = 5,
    /// No register held a kernel pointer: nothing to corrupt.
    NoPointer = 6,
    /// The register to corrupt was the frame pointer, which the fault model leaves alone.
    FramePointer = 7,
    /// The instruction to skip changes the stack pointer, which the fault model leaves
    /// alone.
    StackPointer = 8,
}

impl Effect {
    pub(super) fn from_raw(raw: u32) -> Self {
        match raw {
            1 => Self::Raised,
            2 => Self::Skipped,
            3 => Self::Register,
            4 => Self::Flag,
            5 => Self::NoDestination,
            6 => Self::NoPointer,
            7 => Self::FramePointer,
            8 => Self::StackPointer,
            _ => Self::None,
        }
    }

    /// Whether the fault changed the driver's execution or state.
    pub(super) fn applied(self) -> bool {
        matches!(
            self,
            Self::Raised | Self::Skipped | Self::Register | Self::Flag
        )
    }
}

/// The last fault of a site, in words.
pub(super) struct EffectText<'a>(pub(super) &'a Site);

impl kernel::fmt::Display for EffectText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for EffectText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        let reg = s.last_reg.load(Ordering::Relaxed) as usize;
        let bit = s.last_bit.load(Ordering::Relaxed);
        let (old, new) = (
            s.last_old.load(Ordering::Relaxed),
            s.last_new.load(Ordering::Relaxed),
        );
        match Effect::from_raw(s.last_effect.load(Ordering::Acquire)) {
            Effect::None => f.write_str("none"),
            Effect::Raised => write!(f, "raised,stub={:#x}", new),
            Effect::Skipped => write!(f, "skipped,resume={:#x}", new),
            Effect::Register => write!(
                f,
                "{},bit={},{:#x}->{:#x}",
                GPR_NAMES.get(reg).copied().unwrap_or("?"),
                bit,
                old,
                new
            ),
            Effect::Flag => write!(f, "flags,bit={},{:#x}->{:#x}", bit, old, new),
            Effect::NoDestination => f.write_str("no-destination"),
            Effect::NoPointer => f.write_str("no-pointer"),
            Effect::FramePointer => f.write_str("frame-pointer"),
            Effect::StackPointer => f.write_str("stack-pointer"),
        }
    }
}
