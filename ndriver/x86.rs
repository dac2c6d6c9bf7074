// SPDX-License-Identifier: GPL-2.0

//! x86-64 processor state that needs nothing but the processor: `RFLAGS`, and whether
//! saved registers are a user-mode context's. Used by the guard (`guard/cpu.rs`
//! re-exports both) and by the tracer (`trace.rs`), which sits below the guard.

use core::arch::asm;

use crate::pt_regs::PtRegs;

/// Reads `RFLAGS`.
#[inline(always)]
pub(crate) fn save_flags() -> u64 {
    let flags: u64;
    // SAFETY: Pushes RFLAGS and pops it into a register; the stack is balanced and nothing else
    // is touched.
    unsafe {
        asm!("pushfq", "pop {}", out(reg) flags, options(nomem, preserves_flags));
    }
    flags
}

/// Whether `regs` are a user-mode context's.
pub(crate) fn user_mode(regs: &PtRegs) -> bool {
    regs.cs & 3 != 0
}
