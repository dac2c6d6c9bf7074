// SPDX-License-Identifier: GPL-2.0

//! Why a guarded call failed, as ndriver detected it: one type for the guard (the traps
//! and hangs it ends calls on), the device's statistics (`detected` in `stats`), the
//! recovery records and the crash reports. What a fault-injection request raises is
//! another concept, `fault_class::FaultClass`; `selftests/guest/lib.sh` maps one to the
//! other (`detected_as`). Free of kernel types.

/// How a failure was detected.
///
/// The discriminants are stored in atomics and in guard frames (0 there means "no
/// fault") and index the statistics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum Detected {
    /// `BUG()`, a Rust panic or another invalid-opcode trap.
    Bug = 1,
    /// A kernel-mode page fault (NULL or wild pointer into unmapped memory).
    PageFault = 2,
    /// A general protection fault (non-canonical address, ...).
    Gpf = 3,
    /// A divide error (`#DE`).
    Divide = 4,
    /// Another trap reported through the die chain, or a call that broke the guard's
    /// checks at its return (callee-saved registers, preempt count, interrupt flag).
    OtherTrap = 5,
    /// The call overran its deadline (endless loop, deadlock), ended from an interrupt,
    /// an NMI or a waiter.
    Hang = 6,
    /// The entry point returned an error.
    Error = 7,
    /// The instance went over its memory limit (policy `mem_kb`): a leak.
    Leak = 8,
    /// A fault in core kernel code that the entry point called into (reported in full
    /// in the kernel log).
    KernelFault = 9,
    /// The driver handed a callout a value it does not hold (a token or handle reported
    /// twice, stale or forged, a resource released twice, a length out of range).
    Misuse = 10,
    /// The call ran its stack into the guard page below it (a runaway recursion, a
    /// frame too large): told by the double fault that follows, on kernels that pass it
    /// to the die notifiers (`guard::stack_guard_known`).
    StackOverflow = 11,
}

/// Size of an array indexed by [`Detected`] (index 0 unused).
pub(crate) const NR_DETECTED: usize = 12;

impl Detected {
    /// Every value, in the order `stats` lists them.
    pub(crate) const ALL: [Detected; NR_DETECTED - 1] = [
        Detected::Bug,
        Detected::PageFault,
        Detected::Gpf,
        Detected::Divide,
        Detected::OtherTrap,
        Detected::Hang,
        Detected::Error,
        Detected::Leak,
        Detected::KernelFault,
        Detected::Misuse,
        Detected::StackOverflow,
    ];

    /// The value stored as `raw` (`self as u32`); anything else is [`Detected::OtherTrap`].
    pub(crate) fn from_raw(raw: u32) -> Self {
        Self::ALL
            .iter()
            .copied()
            .find(|d| *d as u32 == raw)
            .unwrap_or(Detected::OtherTrap)
    }

    /// Name in `stats`, `recoveries` and `reports`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Detected::Bug => "bug",
            Detected::PageFault => "page_fault",
            Detected::Gpf => "gpf",
            Detected::Divide => "divide_error",
            Detected::OtherTrap => "other_trap",
            Detected::Hang => "hang",
            Detected::Error => "error_return",
            Detected::Leak => "leak",
            Detected::KernelFault => "kernel_fault",
            Detected::Misuse => "misuse",
            Detected::StackOverflow => "stack_overflow",
        }
    }

    /// Name in the guard's own counters (the top-level `status`), for the traps and
    /// hangs the guard ends calls on.
    pub(crate) fn guard_name(self) -> &'static str {
        match self {
            Detected::Bug => "bug/panic",
            Detected::PageFault => "page-fault",
            Detected::Gpf => "general-protection",
            Detected::Divide => "divide-error",
            Detected::Hang => "hang",
            Detected::StackOverflow => "stack-overflow",
            _ => "other-trap",
        }
    }
}
