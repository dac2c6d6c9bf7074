// SPDX-License-Identifier: GPL-2.0

//! The outcome of a guarded call that failed: what went wrong and where ([`Fault`]), and
//! what the guard saw of the faulting context ([`FaultContext`]).

use crate::detected::Detected;
use kernel::prelude::*;

/// A recovered fault.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Fault {
    /// Kind of fault: a trap ([`Detected::Bug`] ... [`Detected::OtherTrap`]) or
    /// [`Detected::Hang`].
    pub(crate) class: Detected,
    /// The guard could not be armed (runtime not started, or no free task slot): the
    /// call did not run.
    pub(crate) unavailable: bool,
    /// Instruction pointer at the time of the fault (0 if none).
    pub(crate) ip: usize,
    /// Time from guard entry to the fault, in nanoseconds.
    pub(crate) elapsed_ns: u64,
    /// The faulting instruction was in core kernel code (reached from the guarded call),
    /// not in driver text: a `kernel_fault`, reported in full.
    pub(crate) in_kernel: bool,
    /// A hang ended while the call waited for a driver lock: the lock's holder, if it
    /// failed too, is the cause to report.
    pub(crate) lock_wait: bool,
}

impl Fault {
    pub(super) fn unavailable() -> Self {
        Self {
            class: Detected::OtherTrap,
            unavailable: true,
            ip: 0,
            elapsed_ns: 0,
            in_kernel: false,
            lock_wait: false,
        }
    }

    /// The kernel error code that best describes this fault.
    pub(crate) fn to_errno(&self) -> Error {
        match self.class {
            _ if self.unavailable => EBUSY,
            Detected::Hang => ETIMEDOUT,
            _ => EFAULT,
        }
    }
}

/// Driver return addresses a [`FaultContext`] keeps.
pub(crate) const STACK_FRAMES: usize = 16;

/// The faulting context as the handler that ended the call saw it: its registers and the
/// return addresses into driver text found on its stack. Copied in exception, interrupt or
/// NMI context into the call's frame (fixed size: no allocation, no lock), and handed to
/// the caller of [`guarded_call`](super::guarded_call) only when the call failed, so that
/// [`Fault`] stays small.
///
/// # Invariants
///
/// `nframes <= STACK_FRAMES`; `frames[..nframes]` are the addresses found, innermost first.
#[derive(Clone, Copy)]
pub(crate) struct FaultContext {
    /// Instruction pointer of the faulting (or, for a hang, interrupted) context.
    pub(crate) ip: u64,
    /// The driver instruction a fault injected at a driver instruction (`inject site=`) was
    /// raised for, 0 for none: `ip` is then in the code that raised it.
    pub(crate) raised_at: u64,
    /// Whether `gprs`, `flags` are the context's (a hang its own waiter ended has none).
    pub(crate) has_regs: bool,
    /// General-purpose registers but the stack pointer, in
    /// [`GPR_NAMES`](crate::pt_regs::GPR_NAMES) order.
    pub(crate) gprs: [u64; 15],
    /// Stack pointer.
    pub(crate) sp: u64,
    /// `RFLAGS`.
    pub(crate) flags: u64,
    /// Words on the stack between `sp` and the guard frame's stack pointer that point into
    /// driver text (return addresses, or stale copies of them), innermost first.
    frames: [u64; STACK_FRAMES],
    nframes: usize,
    /// Stack words looked at.
    pub(crate) scanned: usize,
}

impl FaultContext {
    /// A context with no registers and no frames.
    pub(crate) const EMPTY: Self = Self {
        ip: 0,
        raised_at: 0,
        has_regs: false,
        gprs: [0; 15],
        sp: 0,
        flags: 0,
        frames: [0; STACK_FRAMES],
        nframes: 0,
        scanned: 0,
    };

    /// The return addresses into driver text found on the stack, innermost first.
    pub(crate) fn frames(&self) -> &[u64] {
        self.frames.get(..self.nframes).unwrap_or(&[])
    }

    /// Adds a frame; `false` once [`STACK_FRAMES`] are kept.
    pub(super) fn push_frame(&mut self, addr: u64) -> bool {
        let Some(slot) = self.frames.get_mut(self.nframes) else {
            return false;
        };
        *slot = addr;
        self.nframes += 1;
        self.nframes < STACK_FRAMES
    }

    /// The driver instruction the fault is the driver's at: the instruction a fault was
    /// injected at, else the faulting instruction.
    pub(crate) fn driver_ip(&self) -> u64 {
        if self.raised_at != 0 {
            self.raised_at
        } else {
            self.ip
        }
    }
}

impl From<Fault> for Error {
    fn from(fault: Fault) -> Self {
        fault.to_errno()
    }
}
