// SPDX-License-Identifier: GPL-2.0

//! The machine-level way into and back out of a guarded call: `guard_enter` saves the resume
//! context and calls the guarded function, `guard_resume` returns from it a second time, and
//! [`redirect`] makes an interrupted context return to `guard_resume`. The `FRAME_*` offsets
//! are the assembly's view of a [`Frame`].

use core::arch::naked_asm;
use core::ffi::c_void;
use core::mem::offset_of;
use core::sync::atomic::{AtomicU64, Ordering};

use crate::pt_regs::PtRegs;

use super::cpu::{rdtsc, X86_EFLAGS_AC, X86_EFLAGS_DF, X86_EFLAGS_TF};
use super::frame::{own_frame, Frame};
use crate::detected::Detected;

/// A function that can be run under a guard. Its value comes back in `rax` only: nothing
/// the guard runs between the function's return and the check of the callee-saved
/// registers may store through a pointer, since a register the driver corrupted would
/// carry it (campaign chunk 19 of 2026-12-05: a closure's store of its result through a
/// corrupted `rbx` hit a kernel frame below `vfs_write`).
pub(crate) type GuardFn = unsafe extern "C" fn(*mut c_void) -> i64;

const FRAME_RBX: usize = offset_of!(Frame, callee_saved);
const FRAME_RBP: usize = FRAME_RBX + 8;
const FRAME_R12: usize = FRAME_RBX + 16;
const FRAME_R13: usize = FRAME_RBX + 24;
const FRAME_R14: usize = FRAME_RBX + 32;
const FRAME_R15: usize = FRAME_RBX + 40;
const FRAME_RSP: usize = offset_of!(Frame, rsp);
const FRAME_ARMED: usize = offset_of!(Frame, armed);
const FRAME_FAULT: usize = offset_of!(Frame, fault);

/// The word `guard_enter` keeps next to the frame's address below its return address is
/// that address XOR this: one word replaced by a stray store breaks the pair.
const FRAME_CHECK: u64 = 0x6e64_6775_6172_6431;

/// Calls whose frame's address below `guard_enter`'s return address was overwritten
/// (`guard_enter` found the frame through [`lost_frame`] instead), counted.
pub(super) static FRAMES_LOST: AtomicU64 = AtomicU64::new(0);

/// Words in `struct pt_regs`. The NMI "iret" frame starts right after it (see the stack diagram
/// above `.Lnmi_from_kernel` in `arch/x86/entry/entry_64.S`).
const PT_REGS_WORDS: usize = core::mem::size_of::<PtRegs>() / 8;

/// Saves the resume context in `frame`, arms it and calls `f(arg)`.
///
/// Returns `f`'s return value, or, when a handler redirected the guarded code to
/// [`guard_resume`], `-EFAULT` with `frame.fault` set; also `-EFAULT`, with
/// `frame.fault` [`Detected::OtherTrap`], when `f` returned with a callee-saved
/// register changed (they are restored) or with the frame's address it keeps below its
/// return address overwritten.
///
/// # Safety
///
/// `frame` must be valid and linked where the handlers find it, and `f(arg)` must be safe to call.
#[unsafe(naked)]
pub(super) unsafe extern "C" fn guard_enter(
    frame: *mut Frame,
    f: GuardFn,
    arg: *mut c_void,
) -> i64 {
    naked_asm!(
        "mov [rdi + {rbx}], rbx",
        "mov [rdi + {rbp}], rbp",
        "mov [rdi + {r12}], r12",
        "mov [rdi + {r13}], r13",
        "mov [rdi + {r14}], r14",
        "mov [rdi + {r15}], r15",
        "mov [rdi + {rsp}], rsp",
        // Below the return address, across the call (the callee may return with any
        // register corrupted, and may have stored into its callers' frames): the frame's
        // address, that address XOR a constant, and a pad word (the callee's stack stays
        // 16-byte aligned). A stray store over either word breaks the pair.
        "sub rsp, 24",
        "mov [rsp], rdi",
        "mov rax, {check}",
        "xor rax, rdi",
        "mov [rsp + 8], rax",
        "mov dword ptr [rdi + {armed}], 1",
        "mov rdi, rdx",
        "call rsi",
        // The frame's address back only if the pair still matches (rax holds the
        // callee's value; rcx is free). Until then the stack pointer stays below the
        // frame's, where the handlers' way to the frame looks.
        "mov rdi, [rsp]",
        "mov rcx, {check}",
        "xor rcx, rdi",
        "cmp rcx, [rsp + 8]",
        "jne 3f",
        "add rsp, 24",
        "mov dword ptr [rdi + {armed}], 0",
        // A callee that returns with a callee-saved register changed broke the calling
        // convention (a corrupted register, a skipped push or pop): the caller would run
        // on it. Restore them from the frame and report the call as failed instead.
        "cmp rbx, [rdi + {rbx}]",
        "jne 2f",
        "cmp rbp, [rdi + {rbp}]",
        "jne 2f",
        "cmp r12, [rdi + {r12}]",
        "jne 2f",
        "cmp r13, [rdi + {r13}]",
        "jne 2f",
        "cmp r14, [rdi + {r14}]",
        "jne 2f",
        "cmp r15, [rdi + {r15}]",
        "jne 2f",
        "ret",
        // `guard_resume` restores them and returns -EFAULT (the stack pointer is the one
        // it restores, too).
        "2:",
        "mov dword ptr [rdi + {fault}], {clobbered}",
        "jmp {resume}",
        // The pair was overwritten (campaign chunk 23, injection 2489: a driver's store
        // through a corrupted result pointer zeroed the low half of the frame's address,
        // and the return went on through it). The frame is found as the handlers find
        // it, from this stack pointer, still armed, and the call fails.
        "3:",
        "call {lost}",
        "test rax, rax",
        "jz 4f",
        "mov rdi, rax",
        "mov dword ptr [rdi + {fault}], {clobbered}",
        "mov dword ptr [rdi + {armed}], 0",
        // (`guard_resume` takes the stack pointer from the frame; objtool wants the
        // jump from an unmodified frame.)
        "add rsp, 24",
        "jmp {resume}",
        // No armed frame owns this stack: nowhere to return to.
        "4:",
        "ud2",
        rbx = const FRAME_RBX,
        rbp = const FRAME_RBP,
        r12 = const FRAME_R12,
        r13 = const FRAME_R13,
        r14 = const FRAME_R14,
        r15 = const FRAME_R15,
        rsp = const FRAME_RSP,
        fault = const FRAME_FAULT,
        clobbered = const Detected::OtherTrap as u32,
        resume = sym guard_resume,
        lost = sym lost_frame,
        check = const FRAME_CHECK,
        armed = const FRAME_ARMED,
    )
}

/// The frame of the call `guard_enter` has just returned from, found as a fault handler
/// finds it, when the frame's address kept below the return address was overwritten;
/// null if none.
///
/// # Safety
///
/// Only called by `guard_enter`, below the frame's stack pointer on the stack the callee
/// ran on, with the call's frame still armed and linked.
unsafe extern "C" fn lost_frame() -> *mut Frame {
    FRAMES_LOST.fetch_add(1, Ordering::Relaxed);
    own_frame().frame
}

/// Landing point of a recovered fault: returns from `guard_enter` once more.
///
/// Entered only through an exception, interrupt or NMI return whose `pt_regs` were rewritten by
/// [`redirect`], with `rdi` pointing at the frame.
///
/// # Safety
///
/// Must never be called; only used as a return address.
#[unsafe(naked)]
pub(super) unsafe extern "C" fn guard_resume() -> ! {
    naked_asm!(
        "endbr64",
        "mov rbx, [rdi + {rbx}]",
        "mov rbp, [rdi + {rbp}]",
        "mov r12, [rdi + {r12}]",
        "mov r13, [rdi + {r13}]",
        "mov r14, [rdi + {r14}]",
        "mov r15, [rdi + {r15}]",
        "mov rsp, [rdi + {rsp}]",
        "mov rax, -14",
        "ret",
        rbx = const FRAME_RBX,
        rbp = const FRAME_RBP,
        r12 = const FRAME_R12,
        r13 = const FRAME_R13,
        r14 = const FRAME_R14,
        r15 = const FRAME_R15,
        rsp = const FRAME_RSP,
    )
}

/// Makes the interrupted context return to [`guard_resume`] for `frame`.
///
/// For an NMI, the hardware frame the NMI exit path returns through is a copy ("iret" frame)
/// that sits right above `pt_regs`; it must be updated too, or the rewrite is silently lost.
///
/// # Safety
///
/// `regs` must be the live `pt_regs` of the context interrupted on this CPU, `frame` the frame
/// returned by [`find_frame`] for it, and `nmi` must tell whether `regs` was saved by the NMI
/// entry code for an NMI that interrupted kernel mode.
pub(super) unsafe fn redirect(
    regs: *mut PtRegs,
    frame: *mut Frame,
    class: Detected,
    nmi: bool,
) -> bool {
    let new_ip = guard_resume as *const () as u64;
    let iret = regs.cast::<u64>().wrapping_add(PT_REGS_WORDS);
    // SAFETY: See the function's safety requirements.
    let (regs, frame) = unsafe { (&mut *regs, &mut *frame) };
    let new_sp = frame.rsp;
    // Clear AC (an open user access section), DF and TF; keep IF as at the fault so that the
    // exit path of the handler stays consistent with its own IRQ bookkeeping.
    let new_flags = regs.flags & !(X86_EFLAGS_AC | X86_EFLAGS_DF | X86_EFLAGS_TF);

    if nmi {
        // SAFETY: For an NMI from kernel mode, the five words after `pt_regs` are the "iret"
        // frame (ip, cs, flags, sp, ss) on the NMI stack.
        let copy = unsafe {
            [
                *iret,
                *iret.add(1),
                *iret.add(2),
                *iret.add(3),
                *iret.add(4),
            ]
        };
        if copy != [regs.ip, regs.cs, regs.flags, regs.sp, regs.ss] {
            // A nested NMI already retargeted the iret frame (or the layout is not the one we
            // know): touch nothing, the next kick retries.
            return false;
        }
        // SAFETY: The five words after `pt_regs` on the NMI stack, just compared equal to the
        // interrupted context's ip, cs, flags, sp and ss: the iret frame, ours to retarget.
        unsafe {
            *iret = new_ip;
            *iret.add(2) = new_flags;
            *iret.add(3) = new_sp;
        }
    }

    frame.fault_ip = regs.ip;
    frame.fault_tsc = rdtsc();
    frame.armed.store(0, Ordering::Relaxed);
    frame.fault.store(class as u32, Ordering::Release);

    regs.ip = new_ip;
    regs.sp = new_sp;
    regs.flags = new_flags;
    regs.di = core::ptr::from_mut(frame) as u64;
    true
}
