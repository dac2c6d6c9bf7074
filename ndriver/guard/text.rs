// SPDX-License-Identifier: GPL-2.0

//! The text ranges the handlers tell apart: driver text (faults there are the driver's, and
//! hung calls may be aborted there), delay loops, leaf memory and I/O functions, and the code
//! that raises a Rust panic's `BUG()`; and [`capture`], which copies the faulting
//! context (registers, return addresses into driver text) for the crash report.

use core::ffi::{c_uint, c_ulong};
use core::mem::MaybeUninit;
use core::ptr;
use core::sync::atomic::{AtomicUsize, Ordering};

use kernel::{bindings, prelude::*};

use crate::pt_regs::PtRegs;

use super::fault::FaultContext;
use super::frame::Frame;
use super::helpers::{ndg_rust_bug_extent, ndg_shim_functions, ndg_spin_functions};

/// Number of text ranges in which a hung guarded call may be aborted asynchronously.
const MAX_ABORT_RANGES: usize = 16;
/// Number of leaf memory and I/O functions whose faults are their caller's.
const MAX_SHIMS: usize = 24;

/// A text range `[start, end)`; `start == 0` if free, `usize::MAX` while being filled.
pub(super) struct TextRange {
    start: AtomicUsize,
    end: AtomicUsize,
}

impl TextRange {
    pub(super) const fn new() -> Self {
        Self {
            start: AtomicUsize::new(0),
            end: AtomicUsize::new(0),
        }
    }

    pub(super) fn contains(&self, ip: usize) -> bool {
        let start = self.start.load(Ordering::Acquire);
        start != 0 && start != usize::MAX && ip >= start && ip < self.end.load(Ordering::Relaxed)
    }

    pub(super) fn clear(&self) {
        self.end.store(0, Ordering::Relaxed);
        self.start.store(0, Ordering::Release);
    }

    /// Makes the range `[start, start + len)`, for readers that come after.
    pub(super) fn set(&self, start: usize, len: usize) {
        self.end.store(start.saturating_add(len), Ordering::Relaxed);
        self.start.store(start, Ordering::Release);
    }
}

/// A small lock-free set of `N` text ranges, read from exception and NMI context.
pub(super) struct TextRanges<const N: usize>([TextRange; N]);

impl<const N: usize> TextRanges<N> {
    const fn new() -> Self {
        Self([const { TextRange::new() }; N])
    }

    fn add(&self, start: usize, len: usize) -> Result {
        if start == 0 || len == 0 {
            return Err(EINVAL);
        }
        for range in self.0.iter() {
            if range
                .start
                .compare_exchange(0, usize::MAX, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                range
                    .end
                    .store(start.saturating_add(len), Ordering::Relaxed);
                range.start.store(start, Ordering::Release);
                return Ok(());
            }
        }
        Err(ENOSPC)
    }

    fn remove(&self, start: usize) {
        for range in self.0.iter() {
            if range.start.load(Ordering::Acquire) == start {
                range.clear();
            }
        }
    }

    pub(super) fn contains(&self, ip: usize) -> bool {
        self.0.iter().any(|range| range.contains(ip))
    }

    pub(super) fn clear(&self) {
        for range in self.0.iter() {
            range.clear();
        }
    }
}

/// Text of the implementation modules: faults there are driver faults, and a hung guarded
/// call found there may be aborted at once.
pub(super) static DRIVER_TEXT: TextRanges<MAX_ABORT_RANGES> = TextRanges::new();
/// Kernel functions that only delay (`__udelay`): hung driver code may be aborted there too.
pub(super) static SPIN_TEXT: TextRanges<4> = TextRanges::new();
/// Leaf kernel functions that only move memory or do I/O for their caller (`memcpy`,
/// `readl`, `ioread32`, ...): a fault there is the caller's, found at the stack pointer.
pub(super) static SHIM_TEXT: TextRanges<MAX_SHIMS> = TextRanges::new();
/// The code that raises a Rust panic's `BUG()` (`rust_helper_BUG`), shared by every Rust
/// panic: a trap there belongs to the code that panicked.
pub(super) static PANIC_TEXT: TextRange = TextRange::new();

/// Forgets every text range: the guard is not running.
pub(super) fn clear_text_ranges() {
    DRIVER_TEXT.clear();
    SPIN_TEXT.clear();
    SHIM_TEXT.clear();
    PANIC_TEXT.clear();
}

/// Whether hung guarded code interrupted at `ip` may be aborted right away.
///
/// Aborting asynchronously is only safe where the code holds no kernel-owned state: in driver
/// text (registered with [`register_module_text`]) and in kernel functions that only spin or
/// delay. Elsewhere (printk, allocator, ...) the abort waits for a watchdog tick that finds the
/// call back in driver text, or, outside task context and with no kernel lock taken, for
/// `FORCE_ABORT_NS` past the deadline.
pub(super) fn abort_point(ip: u64) -> bool {
    let ip = ip as usize;
    DRIVER_TEXT.contains(ip) || SPIN_TEXT.contains(ip)
}

/// Whether the fault at `r.ip` is the driver's own: in implementation text, a Rust panic
/// (whose `BUG()` is shared kernel code), or a memory or I/O access that the driver asked a
/// leaf kernel function for (`memcpy`, `readl`): then the caller, whose return address is
/// at the stack pointer, decides. Anything else is core kernel code (or ndriver's) that
/// the driver called into.
///
/// # Safety
///
/// `r` must be the registers of a kernel-mode fault on the current CPU's current stack.
pub(super) unsafe fn driver_fault_site(r: &PtRegs) -> bool {
    let ip = r.ip as usize;
    if DRIVER_TEXT.contains(ip) || PANIC_TEXT.contains(ip) {
        return true;
    }
    if !SHIM_TEXT.contains(ip) {
        return false;
    }
    // SAFETY: A shim pushes nothing before its access: the word at the stack pointer of
    // the fault is its return address, on the live stack of the faulting context.
    let caller = unsafe { ptr::read_volatile(r.sp as *const usize) };
    DRIVER_TEXT.contains(caller)
}

/// Lowest address of kernel and module text (the top 2 GiB of the address space): a stack
/// word below it is no return address, and needs no look-up in [`DRIVER_TEXT`].
const TEXT_FLOOR: u64 = 0xffff_ffff_8000_0000;

/// Reads the stack word at `addr`, `None` where nothing is mapped.
///
/// Through `copy_from_kernel_nofault()`: its loads go through the exception table, so an
/// address in a stack's guard page (a stack pointer a driver bug moved off its stack)
/// is an error here, not a fault inside the handler that is scanning; they are inline
/// assembly, out of KASAN's sight (the slots of other frames may be redzones, which the
/// kernel's own unwinders read with `READ_ONCE_NOCHECK` for the same reason); and it
/// neither sleeps nor takes a lock, so NMI context may call it.
pub(super) fn read_stack_word(addr: u64) -> Option<u64> {
    let mut v = 0u64;
    // SAFETY: `v` is a valid destination of 8 bytes; the source is only read, and an
    // unmapped one makes the call fail (see above).
    let r = unsafe {
        bindings::copy_from_kernel_nofault(
            (&raw mut v).cast(),
            addr as usize as *const core::ffi::c_void,
            8,
        )
    };
    (r == 0).then_some(v)
}

/// Copies the context ending in the call of `fp` into that frame, for the crash report:
/// the registers (`regs`, `None` when there are none, as for a hang its own waiter ends),
/// and the stack words from `sp` up to the frame's saved stack pointer that point into
/// driver text, at most [`STACK_FRAMES`](super::fault::STACK_FRAMES) of them. Bounded by
/// that distance, which [`find_frame`](super::frame::find_frame) keeps below a kernel
/// stack's size; a word that cannot be read ends the scan. Runs in exception, interrupt or
/// NMI context: no allocation, no lock, no printing.
///
/// # Safety
///
/// `fp` must be the armed frame [`find_frame`](super::frame::find_frame) returned for the
/// context interrupted at stack pointer `sp` (or for the current context, at its own
/// `sp`), which cannot unlink it while the caller runs on top of it. An NMI may capture
/// into the same frame meanwhile: the frame is only written through `fp`, never through a
/// reference.
pub(super) unsafe fn capture(fp: *mut Frame, regs: Option<&PtRegs>, ip: u64, sp: u64) {
    // SAFETY: `fp` is live (the contract); fields are read and written through the raw
    // pointer, so a nested capture creates no aliasing reference.
    let (top, raised_at) = unsafe { ((*fp).rsp, (*fp).raised_ip.load(Ordering::Relaxed)) };
    let mut ctx = FaultContext::EMPTY;
    ctx.ip = ip;
    ctx.sp = sp;
    ctx.raised_at = raised_at;
    if let Some(r) = regs {
        ctx.has_regs = true;
        ctx.gprs = r.gprs();
        ctx.flags = r.flags;
    }
    let mut at = sp.saturating_add(7) & !7;
    while at < top && top - at >= 8 {
        let Some(word) = read_stack_word(at) else {
            break;
        };
        ctx.scanned += 1;
        if word >= TEXT_FLOOR && DRIVER_TEXT.contains(word as usize) && !ctx.push_frame(word) {
            break;
        }
        at += 8;
    }
    // SAFETY: `fp` is live (the contract); written through the raw pointer only, so an NMI
    // capturing into the same frame meanwhile creates no aliasing reference.
    unsafe {
        (*fp).ctx = MaybeUninit::new(ctx);
        (*fp).captured = true;
    }
}

/// Declares the text of `module` (a driver) as a place where its hung guarded calls may be
/// aborted. Undo with [`unregister_module_text`] before the module goes away.
///
/// # Safety
///
/// `module` must be NULL or a loaded module that stays loaded until
/// [`unregister_module_text`] is called for it.
pub(crate) unsafe fn register_module_text(module: *mut bindings::module) -> Result {
    // SAFETY: per this function's contract.
    let (start, len) = unsafe { module_text(module) };
    DRIVER_TEXT.add(start, len)
}

/// Undoes [`register_module_text`].
///
/// # Safety
///
/// As for [`register_module_text`], for the same module.
pub(crate) unsafe fn unregister_module_text(module: *mut bindings::module) {
    // SAFETY: per this function's contract.
    DRIVER_TEXT.remove(unsafe { module_text(module) }.0);
}

/// Start and length of a module's text.
///
/// # Safety
///
/// `ptr` must be NULL or a loaded module.
pub(crate) unsafe fn module_text(ptr: *mut bindings::module) -> (usize, usize) {
    if ptr.is_null() {
        return (0, 0);
    }
    // SAFETY: `ptr` is the live `struct module` of a loaded module.
    let text = unsafe { &(*ptr).mem[bindings::mod_mem_type_MOD_TEXT as usize] };
    (text.base as usize, text.size as usize)
}

/// Finds the kernel functions the guard treats apart: the delay loops (abort points), the
/// leaf memory and I/O functions (faults there are their caller's) and the code that raises
/// every Rust panic's `BUG()`. Without the last, every driver panic would look like a
/// core-kernel BUG: then the runtime does not start.
pub(super) fn fill_kernel_text_ranges() -> Result {
    let mut starts: [c_ulong; MAX_SHIMS] = [0; MAX_SHIMS];
    let mut sizes: [c_ulong; MAX_SHIMS] = [0; MAX_SHIMS];
    // SAFETY: Both arrays hold `MAX_SHIMS` elements, more than the 4 asked for.
    let n = unsafe { ndg_spin_functions(starts.as_mut_ptr(), sizes.as_mut_ptr(), 4) };
    for (start, size) in starts.iter().zip(sizes.iter()).take(n as usize) {
        SPIN_TEXT.add(*start as usize, *size as usize)?;
    }
    // SAFETY: Both arrays hold `MAX_SHIMS` elements.
    let n =
        unsafe { ndg_shim_functions(starts.as_mut_ptr(), sizes.as_mut_ptr(), MAX_SHIMS as c_uint) };
    for (start, size) in starts.iter().zip(sizes.iter()).take(n as usize) {
        SHIM_TEXT.add(*start as usize, *size as usize)?;
    }
    let (mut start, mut size): (c_ulong, c_ulong) = (0, 0);
    // SAFETY: Both pointers are valid for writes.
    if unsafe { ndg_rust_bug_extent(&mut start, &mut size) } != 0 || size == 0 {
        pr_err!("guard: cannot find rust_helper_BUG in kallsyms; CONFIG_KALLSYMS is needed\n");
        return Err(ENOENT);
    }
    PANIC_TEXT.set(start as usize, size as usize);
    // Faults raised at a driver instruction run ndriver's raising code on the driver's
    // behalf, in its context: they are the driver's (and its hangs may be aborted there).
    let (start, len) = crate::site_raise::text();
    DRIVER_TEXT.add(start, len)
}
