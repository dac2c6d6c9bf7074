// SPDX-License-Identifier: GPL-2.0

//! The paths `DriverLock` (`wrappers/driver_lock.rs`) takes into the kernel's lock code, and
//! what a fault on a bad lock word there holds.
//!
//! A driver that corrupts its lock's address after the lock's own check hands the kernel
//! a bad lock word. Taking the lock, the fault comes inside `_raw_spin_trylock` with the
//! counts the path raised first (the Rust helper's interrupt-disable level, the try-lock's
//! preemption level), which look like a kernel lock held; releasing it, inside
//! `_raw_spin_unlock_irq_enable`, kernel code that holds the driver's own lock. Both are
//! recognised here, narrowly: the function, the access (the lock word, its argument still
//! in `rdi`) and the caller (at the stack pointer: neither function pushes first) must all
//! be the expected ones. Everything else is judged as any kernel fault is.

use core::ffi::c_ulong;
use core::ptr;
use core::sync::atomic::{AtomicUsize, Ordering};

use crate::pt_regs::PtRegs;

use super::helpers::{
    ndg_lock_word_fault, ndg_pc_without_lock_levels, ndg_trylock_path, ndg_unlock_path,
};
use super::text::{read_stack_word, TextRange, DRIVER_TEXT};

/// `_raw_spin_trylock`, where the taking path is known.
static TRYLOCK_TEXT: TextRange = TextRange::new();
/// The return address of the call to the try-lock in `rust_helper_spin_trylock_irq_disable`
/// (what `SpinLockIrq::try_lock`, and so `DriverLock::lock`, calls); 0 where unknown.
static TRYLOCK_HELPER_RET: AtomicUsize = AtomicUsize::new(0);
/// `_raw_spin_unlock_irq_enable`, where the releasing path is known.
static UNLOCK_TEXT: TextRange = TextRange::new();
/// `rust_helper_spin_unlock_irq_enable` (a jump to the unlock: what the guard of a
/// `SpinLockIrq` calls as it drops); 0 where unknown.
static UNLOCK_HELPER: AtomicUsize = AtomicUsize::new(0);

/// Opcode of a `call rel32`.
const CALL_OPCODE: u64 = 0xe8;
/// `int3`, which a kprobe writes over the first byte of the instruction it probes.
const INT3_OPCODE: u64 = 0xcc;

/// Finds both paths, each where this kernel allows (`ndg_trylock_path`, `ndg_unlock_path`).
/// A path not found is not an error: a fault there is then judged as any kernel fault.
pub(super) fn fill_lock_paths() {
    let (mut start, mut size, mut at): (c_ulong, c_ulong, c_ulong) = (0, 0, 0);
    // SAFETY: The three pointers are valid for writes.
    if unsafe { ndg_trylock_path(&mut start, &mut size, &mut at) } == 0 {
        TRYLOCK_TEXT.set(start as usize, size as usize);
        TRYLOCK_HELPER_RET.store(at as usize, Ordering::Relaxed);
    }
    // SAFETY: The three pointers are valid for writes.
    if unsafe { ndg_unlock_path(&mut start, &mut size, &mut at) } == 0 {
        UNLOCK_TEXT.set(start as usize, size as usize);
        UNLOCK_HELPER.store(at as usize, Ordering::Relaxed);
    }
}

/// Forgets both paths: the guard is not running.
pub(super) fn clear_lock_paths() {
    TRYLOCK_TEXT.clear();
    TRYLOCK_HELPER_RET.store(0, Ordering::Relaxed);
    UNLOCK_TEXT.clear();
    UNLOCK_HELPER.store(0, Ordering::Relaxed);
}

/// Whether the guard knows the taking path on this kernel.
pub(crate) fn trylock_path_known() -> bool {
    TRYLOCK_HELPER_RET.load(Ordering::Relaxed) != 0
}

/// Whether the guard knows the releasing path on this kernel.
pub(crate) fn unlock_path_known() -> bool {
    UNLOCK_HELPER.load(Ordering::Relaxed) != 0
}

/// The preempt count `pc` of a kernel fault at `r` (a page fault if `page_fault`, else a
/// #GP), less what the taking path raised, if the fault is on the lock word inside
/// `_raw_spin_trylock` called by the Rust helper: the helper's interrupt-disable level and
/// the try-lock's preemption level. They are no lock held (the lock was not taken), and
/// abandoning the call gives them back (the preempt count is restored as at entry). Any
/// other fault keeps its count.
pub(super) fn lock_attempt_pc(r: &PtRegs, page_fault: bool, pc: u32) -> u32 {
    let ret = TRYLOCK_HELPER_RET.load(Ordering::Relaxed);
    if ret == 0
        || !TRYLOCK_TEXT.contains(r.ip as usize)
        || read_stack_word(r.sp) != Some(ret as u64)
    {
        return pc;
    }
    // SAFETY: `r` is a live `pt_regs`, only read.
    if !unsafe { ndg_lock_word_fault(ptr::from_ref(r), page_fault) } {
        return pc;
    }
    // One interrupt-disabling lock's worth: the helper's and the try-lock's level.
    // SAFETY: FFI call without preconditions.
    unsafe { ndg_pc_without_lock_levels(pc, 0, 1) }
}

/// Whether the kernel fault at `r` (a page fault if `page_fault`, else a #GP) is the
/// releasing path's store to a bad lock word on behalf of driver code: inside
/// `_raw_spin_unlock_irq_enable`, on the lock word, with the return address of a direct
/// call of the Rust helper from driver text at the stack pointer. Such a fault is the
/// driver's, as one in `memcpy()` on its behalf is: what it holds is the driver's own lock
/// (a lock taken and released by driver code is a `DriverLock`, which dies with the
/// instance). The framework's callouts release their locks through the same helper, but
/// with a call from framework text (or a jump, leaving the driver's return address to
/// their own caller): those do not match.
pub(super) fn lock_release_fault_is_drivers(r: &PtRegs, page_fault: bool) -> bool {
    let helper = UNLOCK_HELPER.load(Ordering::Relaxed) as u64;
    if helper == 0 || !UNLOCK_TEXT.contains(r.ip as usize) {
        return false;
    }
    let Some(ret) = read_stack_word(r.sp) else {
        return false;
    };
    if !DRIVER_TEXT.contains(ret as usize) {
        return false;
    }
    // The eight bytes before the return address end with the call: opcode, rel32 (code,
    // read as stack words are: an unmapped address is an error, not a fault).
    let Some(before) = read_stack_word(ret.wrapping_sub(8)) else {
        return false;
    };
    let opcode = (before >> 24) & 0xff;
    let rel = (before >> 32) as u32 as i32 as i64;
    // A kprobe on the call (an injection site placed there) has replaced its first byte
    // with `int3` while it is armed; the displacement after it is the call's own.
    if (opcode != CALL_OPCODE && opcode != INT3_OPCODE) || ret.wrapping_add(rel as u64) != helper {
        return false;
    }
    // SAFETY: `r` is a live `pt_regs`, only read.
    unsafe { ndg_lock_word_fault(ptr::from_ref(r), page_fault) }
}

/// The status line: which paths are known.
pub(super) fn show(f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
    writeln!(
        f,
        "guard lock_paths trylock={} unlock={}",
        u8::from(trylock_path_known()),
        u8::from(unlock_path_known())
    )
}
