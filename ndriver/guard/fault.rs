// SPDX-License-Identifier: GPL-2.0

//! The outcome of a guarded call that failed: what went wrong ([`FaultClass`]) and where
//! ([`Fault`]).

use kernel::prelude::*;

/// What went wrong in a guarded call.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FaultClass {
    /// `BUG()`, Rust `panic!()` or another `#UD`.
    Bug = 1,
    /// Kernel-mode page fault (NULL or wild pointer to unmapped memory).
    PageFault = 2,
    /// General protection fault (non-canonical address, ...).
    GeneralProtection = 3,
    /// Divide error (`#DE`).
    DivideError = 4,
    /// Another trap reported through the die chain.
    OtherTrap = 5,
    /// The deadline passed (endless loop, deadlock), recovered from an interrupt or an NMI.
    Hang = 6,
    /// The guard could not be armed (runtime not started or no free task slot).
    Unavailable = 7,
}

/// Number of [`FaultClass`] values, plus one for index 0.
pub(super) const FAULT_CLASSES: usize = 8;

impl FaultClass {
    /// Converts the raw value stored in a frame back into a class.
    pub(crate) fn from_raw(raw: u32) -> Self {
        match raw {
            1 => Self::Bug,
            2 => Self::PageFault,
            3 => Self::GeneralProtection,
            4 => Self::DivideError,
            6 => Self::Hang,
            7 => Self::Unavailable,
            _ => Self::OtherTrap,
        }
    }

    /// Short name for logs.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Bug => "bug/panic",
            Self::PageFault => "page-fault",
            Self::GeneralProtection => "general-protection",
            Self::DivideError => "divide-error",
            Self::OtherTrap => "other-trap",
            Self::Hang => "hang",
            Self::Unavailable => "unavailable",
        }
    }
}

/// A recovered fault.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Fault {
    /// Kind of fault.
    pub(crate) class: FaultClass,
    /// Instruction pointer at the time of the fault (0 if none).
    pub(crate) ip: usize,
    /// Time from guard entry to the fault, in nanoseconds.
    pub(crate) elapsed_ns: u64,
    /// The faulting instruction was in core kernel code (reached from the guarded call),
    /// not in driver text: a `kernel_fault`, reported in full.
    pub(crate) in_kernel: bool,
}

impl Fault {
    pub(super) fn unavailable() -> Self {
        Self {
            class: FaultClass::Unavailable,
            ip: 0,
            elapsed_ns: 0,
            in_kernel: false,
        }
    }

    /// The kernel error code that best describes this fault.
    pub(crate) fn to_errno(&self) -> Error {
        match self.class {
            FaultClass::Hang => ETIMEDOUT,
            FaultClass::Unavailable => EBUSY,
            _ => EFAULT,
        }
    }
}

impl From<Fault> for Error {
    fn from(fault: Fault) -> Self {
        fault.to_errno()
    }
}
