// SPDX-License-Identifier: GPL-2.0

//! The registers an exception, interrupt or kprobe hands its handler.

use kernel::bindings;

/// x86-64 `struct pt_regs`, as laid out by the entry code. Read and written by the guard's
/// handlers and by fault injection at driver instructions.
#[repr(C)]
pub(crate) struct PtRegs {
    pub(crate) r15: u64,
    pub(crate) r14: u64,
    pub(crate) r13: u64,
    pub(crate) r12: u64,
    pub(crate) bp: u64,
    pub(crate) bx: u64,
    pub(crate) r11: u64,
    pub(crate) r10: u64,
    pub(crate) r9: u64,
    pub(crate) r8: u64,
    pub(crate) ax: u64,
    pub(crate) cx: u64,
    pub(crate) dx: u64,
    pub(crate) si: u64,
    pub(crate) di: u64,
    pub(crate) orig_ax: u64,
    pub(crate) ip: u64,
    pub(crate) cs: u64,
    pub(crate) flags: u64,
    pub(crate) sp: u64,
    pub(crate) ss: u64,
}

const _: () = assert!(core::mem::size_of::<PtRegs>() == core::mem::size_of::<bindings::pt_regs>());

/// The general-purpose registers but the stack pointer, by the names `show_regs()` uses.
pub(crate) const GPR_NAMES: [&str; 15] = [
    "r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8", "rax", "rcx", "rdx", "rsi",
    "rdi",
];

impl PtRegs {
    /// The general-purpose registers but the stack pointer, in [`GPR_NAMES`] order.
    pub(crate) fn gprs(&self) -> [u64; 15] {
        [
            self.r15, self.r14, self.r13, self.r12, self.bp, self.bx, self.r11, self.r10, self.r9,
            self.r8, self.ax, self.cx, self.dx, self.si, self.di,
        ]
    }

    /// Register `i` of [`GPR_NAMES`], for writing; `None` past the end.
    pub(crate) fn gpr_mut(&mut self, i: usize) -> Option<&mut u64> {
        Some(match i {
            0 => &mut self.r15,
            1 => &mut self.r14,
            2 => &mut self.r13,
            3 => &mut self.r12,
            4 => &mut self.bp,
            5 => &mut self.bx,
            6 => &mut self.r11,
            7 => &mut self.r10,
            8 => &mut self.r9,
            9 => &mut self.r8,
            10 => &mut self.ax,
            11 => &mut self.cx,
            12 => &mut self.dx,
            13 => &mut self.si,
            14 => &mut self.di,
            _ => return None,
        })
    }
}
