// SPDX-License-Identifier: GPL-2.0

//! x86-64 processor state that needs nothing but the processor: `RFLAGS`, whether saved
//! registers are a user-mode context's, and where the kernel half of the address space
//! starts. Used by the guard (`guard/cpu.rs` re-exports the first two), by the tracer
//! (`trace.rs`), which sits below the guard, and by the site injector.

use core::arch::asm;
use core::sync::atomic::{AtomicU64, Ordering};

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

/// `CR4.LA57`: 5-level paging.
const CR4_LA57: u64 = 1 << 12;

/// [`kernel_half`] once read, 0 before.
static KERNEL_HALF: AtomicU64 = AtomicU64::new(0);

/// Lowest address of the kernel half: `0xffff800000000000` with 4-level paging,
/// `0xff00000000000000` with 5-level paging (the direct map, heap and stacks lie between
/// the two), from the paging mode the processor runs in, which is fixed at boot. `CR4`
/// is read once: a hypervisor may intercept the read.
pub(crate) fn kernel_half() -> u64 {
    let half = KERNEL_HALF.load(Ordering::Relaxed);
    if half != 0 {
        return half;
    }
    let cr4: u64;
    // SAFETY: Reading CR4 in kernel mode has no side effect but on the arithmetic flags,
    // which the asm does not promise to keep.
    unsafe { asm!("mov {}, cr4", out(reg) cr4, options(nomem, nostack)) };
    let half = if cr4 & CR4_LA57 != 0 {
        0xff00_0000_0000_0000
    } else {
        0xffff_8000_0000_0000
    };
    KERNEL_HALF.store(half, Ordering::Relaxed);
    half
}
