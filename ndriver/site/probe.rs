// SPDX-License-Identifier: GPL-2.0

//! The kprobe handlers of a [`Site`]: where a fault is raised, an instruction skipped or a
//! register corrupted, in the driver's own context. Part of `site.rs`.

use super::effect::Effect;
use super::{Site, MAX_INSN, NO_CPU};
use crate::fault_class::FaultClass;
use crate::guard;
use crate::pt_regs::PtRegs;
use crate::site_insn::skip_unsafe;
use crate::site_raise;
use core::sync::atomic::Ordering;
use kernel::bindings;
use kernel::ffi::{c_int, c_ulong};
use kernel::types::Opaque;

/// Bits a pointer corruption may flip: the low 47, so that the address stays canonical
/// and a bad access is a page fault, which kprobes hands back to the probed instruction
/// when it happens in the single-step (a stack-segment fault would not be).
const POINTER_BITS: u32 = 47;
/// Index of `rbp` in [`GPR_NAMES`].
const RBP: usize = 4;
/// How far above the stack pointer `rbp` may point and still be taken for the frame
/// pointer: more than any kernel stack (32 KiB with KASAN).
const FRAME_WINDOW: u64 = 64 * 1024;
/// The arithmetic flags (CF, PF, AF, ZF, SF, OF): what a compare or test writes.
const ARITH_FLAGS: u64 = 0x8d5;
/// Whether register `i` of `r` is the frame pointer: `rbp` pointing into the stack just
/// above `rsp`.
///
/// The corruption classes leave it alone. A function's epilogue moves it into the stack
/// pointer, and in kernel mode an exception on a stack pointer into unmapped memory
/// cannot push its frame: a double fault, which the kernel ends in a panic whatever a
/// notifier says. No guard inside the kernel can contain it, so it is outside the
/// fault model, like a corrupted `rsp` (never a candidate: [`GPR_NAMES`] lacks it).
fn frame_pointer(r: &PtRegs, i: usize) -> bool {
    i == RBP && r.bp.wrapping_sub(r.sp) < FRAME_WINDOW
}

/// Whether the `size`-byte instruction at `addr`, whose first byte (under the
/// breakpoint) is `first`, copies the stack pointer into `rbp` (`mov %rsp,%rbp` in
/// either encoding, `lea d(%rsp),%rbp`).
///
/// `skip_insn` leaves it alone: skipped, `rbp` keeps the caller's value, which the
/// epilogue then moves into the stack pointer ([`frame_pointer`]).
///
/// # Safety
///
/// `addr..addr + size` must be mapped text.
unsafe fn sets_frame_pointer(first: u8, addr: u64, size: u8) -> bool {
    let at = |i: u64| {
        // SAFETY: `i < size` at every call below, inside the mapped instruction.
        unsafe { core::ptr::read_volatile((addr + i) as *const u8) }
    };
    match size {
        3 => first == 0x48 && matches!((at(1), at(2)), (0x89, 0xe5) | (0x8b, 0xec)),
        5 | 8 => {
            let modrm = if size == 5 { 0x6c } else { 0xac };
            first == 0x48 && at(1) == 0x8d && at(2) == modrm && at(3) == 0x24
        }
        _ => false,
    }
}

/// The `size` bytes of the instruction at `addr`, its first byte (under the breakpoint)
/// `first`.
///
/// # Safety
///
/// `addr..addr + size` must be mapped text.
unsafe fn insn_bytes(first: u8, addr: u64, size: u8) -> ([u8; MAX_INSN], usize) {
    let n = usize::from(size).min(MAX_INSN);
    let mut b = [0u8; MAX_INSN];
    for (i, slot) in b.iter_mut().enumerate().take(n) {
        *slot = if i == 0 {
            first
        } else {
            // SAFETY: `i < size`, inside the mapped instruction.
            unsafe { core::ptr::read_volatile((addr + i as u64) as *const u8) }
        };
    }
    (b, n)
}

impl Site {
    /// Whether `skip_insn` may skip the instruction under this site's registered probe
    /// (see [`skip_unsafe`] and [`sets_frame_pointer`]).
    pub(super) fn skippable(&self) -> bool {
        let p = self.probe.get();
        // SAFETY: the probe is registered (the caller's contract of `try_register`):
        // `addr`, `ainsn` and `opcode` were filled in by `register_kprobe` and are not
        // changed.
        let (addr, size, first) = unsafe { ((*p).addr as u64, (*p).ainsn.size, (*p).opcode) };
        if addr == 0 || size == 0 {
            return false;
        }
        // SAFETY: a registered probe's instruction is mapped text of a loaded module.
        let (bytes, n) = unsafe { insn_bytes(first, addr, size) };
        // SAFETY: the registered probe's instruction is mapped module text, `size` bytes.
        !skip_unsafe(&bytes[..n]) && !unsafe { sets_frame_pointer(first, addr, size) }
    }

    /// Recovers the site from its probe.
    ///
    /// # Safety
    ///
    /// `p` must be the `probe` of a live [`Site`].
    pub(super) unsafe fn from_probe<'a>(p: *mut bindings::kprobe) -> &'a Site {
        // SAFETY: per the contract, `p` is the `probe` field (an `Opaque<kprobe>`, with the
        // same layout) of a live `Site`.
        unsafe { &*kernel::container_of!(p.cast::<Opaque<bindings::kprobe>>(), Site, probe) }
    }

    /// kprobe pre-handler: runs in the breakpoint handler, interrupts off, on the context
    /// that reached the instruction. Returns 1 when it moved the instruction pointer.
    ///
    /// # Safety
    ///
    /// Called by kprobes with this site's registered probe and the live registers.
    pub(super) unsafe extern "C" fn pre(
        p: *mut bindings::kprobe,
        regs: *mut bindings::pt_regs,
    ) -> c_int {
        // SAFETY: kprobes passes the registered probe, which is a live site's (invariant).
        let site = unsafe { Self::from_probe(p) };
        // SAFETY: kprobes passes the live registers of the context; `PtRegs` has their
        // layout.
        let r = unsafe { &mut *regs.cast::<PtRegs>() };
        // Any arrival on this CPU means its previous single-step is over, whether or not
        // the post-handler ran (a fault in the step skips it). Cleared before the owner
        // check: an arrival that does not fire must not find a stale flip in `post`.
        let cpu = guard::this_cpu();
        let _ = site
            .flip_cpu
            .compare_exchange(cpu, NO_CPU, Ordering::AcqRel, Ordering::Relaxed);
        // SAFETY: we run in the breakpoint handler on top of that context.
        if unsafe { guard::guarded_owner(r) } != Some(site.owner) {
            site.outside.fetch_add(1, Ordering::Relaxed);
            return 0;
        }
        site.hits.fetch_add(1, Ordering::Relaxed);
        if site.class == FaultClass::FlipDest
            && site
                .flip_cpu
                .compare_exchange(NO_CPU, cpu, Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
        {
            // Another CPU's flip waits for its single-step: this hit is not one.
            return 0;
        }
        if !site.gate.on_call() {
            let _ =
                site.flip_cpu
                    .compare_exchange(cpu, NO_CPU, Ordering::AcqRel, Ordering::Relaxed);
            return 0;
        }
        let addr = site.addr() as u64;
        match site.class {
            FaultClass::SkipInsn => {
                // SAFETY: `ainsn` and `opcode` were filled in by `register_kprobe` and are
                // not changed.
                let (size, first) = unsafe { ((*p).ainsn.size, (*p).opcode) };
                // SAFETY: the instruction is in the text of a loaded module: its probe
                // is registered, and a site goes before its module (`SiteSlot`).
                if unsafe { sets_frame_pointer(first, addr, size) } {
                    site.record(Effect::FramePointer, RBP as u32, 0, r.bp, r.bp);
                    return 0;
                }
                // Refused when the site was placed (`Site::skippable`); kept here as the
                // last word.
                // SAFETY: the instruction is in the text of a loaded module: its probe is
                // registered, and a site goes before its module (`SiteSlot`).
                let (bytes, n) = unsafe { insn_bytes(first, addr, size) };
                if skip_unsafe(&bytes[..n]) {
                    site.record(Effect::StackPointer, 0, 0, r.sp, r.sp);
                    return 0;
                }
                r.ip = addr + u64::from(size);
                site.record(Effect::Skipped, 0, 0, addr, r.ip);
                1
            }
            FaultClass::CorruptPtr => {
                let gprs = r.gprs();
                // A register at or above the kernel half's start holds a kernel pointer
                // (heap, stack, text), whichever the paging mode.
                let half = crate::x86::kernel_half();
                let pointer = |i: usize, v: u64| v >= half && !frame_pointer(r, i);
                let n = gprs
                    .iter()
                    .enumerate()
                    .filter(|(i, v)| pointer(*i, **v))
                    .count();
                if n == 0 {
                    site.record(Effect::NoPointer, 0, 0, 0, 0);
                    return 0;
                }
                let pick = site.draw() as usize % n;
                let bit = site.draw() % POINTER_BITS;
                let Some(i) = gprs
                    .iter()
                    .enumerate()
                    .filter(|(i, v)| pointer(*i, **v))
                    .nth(pick)
                    .map(|(i, _)| i)
                else {
                    return 0;
                };
                if let Some(reg) = r.gpr_mut(i) {
                    let old = *reg;
                    *reg ^= 1 << bit;
                    site.record(Effect::Register, i as u32, bit, old, *reg);
                }
                0
            }
            FaultClass::FlipDest => {
                for (slot, v) in site.before.iter().zip(r.gprs()) {
                    slot.store(v, Ordering::Relaxed);
                }
                site.before[15].store(r.flags, Ordering::Relaxed);
                0
            }
            class => {
                let Some(stub) = site_raise::stub(class) else {
                    return 0;
                };
                // The crash report names this instruction, not the stub.
                // SAFETY: we run in the breakpoint handler on top of that context.
                unsafe { guard::note_raised(r, addr) };
                // The breakpoint entry leaves a gap below the interrupted stack pointer
                // for exactly this (the kernel's own `int3_emulate_call()`): push the
                // instruction's address as if it had called the stub.
                r.sp -= 8;
                // SAFETY: `r.sp` now points into the gap the `int3` entry leaves below the
                // interrupted kernel stack (no red zone in the kernel).
                unsafe { core::ptr::write_volatile(r.sp as *mut u64, addr) };
                r.ip = stub as u64;
                site.record(Effect::Raised, 0, 0, addr, stub as u64);
                1
            }
        }
    }

    /// kprobe post-handler: runs after the instruction was single-stepped.
    ///
    /// # Safety
    ///
    /// Called by kprobes with this site's registered probe and the live registers.
    pub(super) unsafe extern "C" fn post(
        p: *mut bindings::kprobe,
        regs: *mut bindings::pt_regs,
        _f: c_ulong,
    ) {
        // SAFETY: `p` is this site's registered probe (this function's contract).
        let site = unsafe { Self::from_probe(p) };
        if site.flip_cpu.load(Ordering::Acquire) != guard::this_cpu() {
            return;
        }
        // SAFETY: `regs` are the live registers of the probed context (this function's
        // contract), ours to change until the handler returns; `PtRegs` has their layout.
        let r = unsafe { &mut *regs.cast::<PtRegs>() };
        let changed = site
            .before
            .iter()
            .zip(r.gprs())
            .position(|(b, v)| b.load(Ordering::Relaxed) != v);
        let bit = site.draw() % 64;
        if changed.is_some_and(|i| frame_pointer(r, i)) {
            site.record(Effect::FramePointer, RBP as u32, 0, r.bp, r.bp);
        } else if let Some(i) = changed {
            if let Some(reg) = r.gpr_mut(i) {
                let old = *reg;
                *reg ^= 1 << bit;
                site.record(Effect::Register, i as u32, bit, old, *reg);
            }
        } else {
            let flags = (site.before[15].load(Ordering::Relaxed) ^ r.flags) & ARITH_FLAGS;
            if flags != 0 {
                let flag = flags.trailing_zeros();
                let old = r.flags;
                r.flags ^= 1 << flag;
                site.record(Effect::Flag, flag, flag, old, r.flags);
            } else {
                site.record(Effect::NoDestination, 0, 0, 0, 0);
            }
        }
        site.flip_cpu.store(NO_CPU, Ordering::Release);
    }
}
