// SPDX-License-Identifier: GPL-2.0

//! The code a fault raised at a driver instruction runs: a kprobe on the instruction
//! (see `site.rs`) pushes the instruction's address as a return address and resumes
//! the driver's context here, so the fault happens on the driver's stack, with its
//! locks and half-done work, as if the instruction had called into broken code.
//!
//! Each stub raises its fault for real and never returns: a load through NULL, a store
//! to an unmapped address, a divide by zero, a loop without end. The guard counts this
//! text as driver text ([`text`]), so it contains the faults as the driver's own and may
//! abort the loops.

use crate::fault_class::FaultClass;

// Each stub starts with `endbr64`: its address is taken (objtool's IBT check), although
// the context reaches it through the exception return, not an indirect branch.
core::arch::global_asm!(
    ".pushsection .text.ndriver_site_raise, \"ax\", @progbits",
    ".balign 16",
    ".globl ndriver_site_text_start",
    "ndriver_site_text_start:",
    // Rust panic: the `BUG()` the guard knows as a driver's panic.
    "ndriver_site_raise_panic:",
    "endbr64",
    "call {panic}",
    "2: jmp 2b",
    "ndriver_site_raise_null:",
    "endbr64",
    "xor eax, eax",
    "mov rax, qword ptr [rax]",
    "2: jmp 2b",
    // An unmapped, canonical kernel address: the guard hole at the bottom of the kernel half.
    "ndriver_site_raise_wild:",
    "endbr64",
    "movabs rax, 0xffff800000001000",
    "mov qword ptr [rax], 0x5a5a",
    "2: jmp 2b",
    // A non-canonical address: #GP.
    "ndriver_site_raise_gpf:",
    "endbr64",
    "movabs rax, 0xdead000000000100",
    "mov rax, qword ptr [rax]",
    "2: jmp 2b",
    "ndriver_site_raise_div0:",
    "endbr64",
    "xor ecx, ecx",
    "xor edx, edx",
    "mov eax, 1",
    "div rcx",
    "2: jmp 2b",
    "ndriver_site_raise_spin:",
    "endbr64",
    "2: pause",
    "jmp 2b",
    "ndriver_site_raise_spin_irqoff:",
    "endbr64",
    "cli",
    "2: pause",
    "jmp 2b",
    ".globl ndriver_site_text_end",
    "ndriver_site_text_end:",
    ".popsection",
    panic = sym site_panic,
);

extern "C" {
    static ndriver_site_text_start: u8;
    static ndriver_site_text_end: u8;
    static ndriver_site_raise_panic: u8;
    static ndriver_site_raise_null: u8;
    static ndriver_site_raise_wild: u8;
    static ndriver_site_raise_gpf: u8;
    static ndriver_site_raise_div0: u8;
    static ndriver_site_raise_spin: u8;
    static ndriver_site_raise_spin_irqoff: u8;
}

/// The panic a stub raises: a real Rust panic, in the driver's context.
extern "C" fn site_panic() -> ! {
    panic!("ndriver: injected panic at a driver instruction");
}

/// Start and length of the stubs' text.
pub(crate) fn text() -> (usize, usize) {
    let start = &raw const ndriver_site_text_start as usize;
    let end = &raw const ndriver_site_text_end as usize;
    (start, end - start)
}

/// The stub that raises `class`, if the class stops the CPU on the spot.
pub(crate) fn stub(class: FaultClass) -> Option<usize> {
    let p = match class {
        FaultClass::Panic => &raw const ndriver_site_raise_panic,
        FaultClass::Null => &raw const ndriver_site_raise_null,
        FaultClass::Wild => &raw const ndriver_site_raise_wild,
        FaultClass::Gpf => &raw const ndriver_site_raise_gpf,
        FaultClass::Div0 => &raw const ndriver_site_raise_div0,
        FaultClass::Spin => &raw const ndriver_site_raise_spin,
        FaultClass::SpinIrqoff => &raw const ndriver_site_raise_spin_irqoff,
        _ => return None,
    };
    Some(p as usize)
}
