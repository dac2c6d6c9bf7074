// SPDX-License-Identifier: GPL-2.0

//! Faults injected at an entry point (`inject class=C entry=E`), raised for real at the
//! top of the entry function the framework calls: the generic glue of each driver class
//! (`testdev_glue.rs`, `nic_glue.rs`, `blk_glue.rs`, and what they share,
//! `driver_slot.rs` and `driver_events.rs`) calls [`raise`] first thing in every
//! `extern "C"` entry of its operation table, before the driver's own method runs, so
//! driver code carries no fault plumbing. Part of `driver_dev.rs`, so compiled into each
//! implementation module with that glue: the fault runs in the module's text, on the
//! context and stack of the guarded call, with a lock of the instance's own (a
//! `DriverLock` the driver keeps its state under) to deadlock on.
//!
//! Nothing here is simulated: a panic is a Rust `panic!`, a NULL dereference loads from
//! address 0, a hang never ends by itself. The numbers are `FaultClass` (ABI) values.
//! Faults in the middle of a driver's work are raised at its instructions instead
//! (`inject site=`, `ndriver/site.rs`).

use crate::callouts_api::{
    ndriver_alloc, ndriver_dma_map, ndriver_dma_unmap, ndriver_fault_point, ndriver_fault_raising,
    ndriver_free, ndriver_net_rx, ndriver_net_tx_done, ndriver_timer_arm, ndriver_work_queue,
};
use crate::driver_dev::Dev;
use crate::driver_lock::{DriverLock, LockCorruption};
use core::hint::black_box;
use kernel::prelude::*;

/// An unmapped but canonical kernel address (the guard hole at the bottom of the
/// kernel half): storing there is a page fault.
const WILD_ADDR: usize = 0xffff_8000_0000_1000;
/// A non-canonical address: loading from it is a general protection fault.
const NONCANONICAL_ADDR: usize = 0xdead_0000_0000_0100;

/// Size of each block a leak loses.
const LEAK_BLOCK: usize = 8192;

/// What [`raise_with`] did besides raising: for class `bad_return`, the glue of an entry
/// point whose answer has a range answers out of it.
pub(crate) enum Injected {
    /// Nothing more to do (no fault, or one raised in full).
    Nothing,
    /// Class `bad_return`: answer out of range (`poll`: more frames than the budget; a
    /// block `complete`: a status there is none of).
    BadReturn,
}

/// Raises the fault the framework asks for at `entry` now, if any. Returns for "no
/// fault", an error return, a leak (`ENOMEM`) and the misuses (after which the framework
/// fails the call as it returns), and with `EFAULT` for a lock class whose corrupted
/// address is mapped on this machine, or a store into a stack guard page that is not
/// there (nothing raised); every other class stops the CPU or never ends. Class
/// `bad_return`, which needs an answer with a range, is an error return (`EOVERFLOW`).
pub(crate) fn raise<S>(dev: &Dev, entry: impl Into<u32>, lock: &DriverLock<S>) -> Result {
    raise_with(dev, entry, lock, &|_| {})?.or_error()
}

impl Injected {
    /// For an entry point whose answer has no range: `bad_return` is an error return.
    pub(crate) fn or_error(self) -> Result {
        match self {
            Injected::Nothing => Ok(()),
            Injected::BadReturn => Err(EOVERFLOW),
        }
    }
}

/// [`raise`] at an entry point whose call carries a unit of work the driver reports
/// done through a callout (the skb of `start_xmit`, the finished request of
/// `complete`), which `report_done` reports (class `double_complete`), or whose answer
/// has a range (class `bad_return`: [`Injected::BadReturn`]).
pub(crate) fn raise_with<S>(
    dev: &Dev,
    entry: impl Into<u32>,
    lock: &DriverLock<S>,
    report_done: &dyn Fn(&Dev),
) -> Result<Injected> {
    // SAFETY: `dev` is the live instance of the entry point being called (`Dev`'s
    // invariant).
    let class = unsafe { ndriver_fault_point(dev.handle(), entry.into()) };
    if class == 0 {
        return Ok(Injected::Nothing);
    }
    if class <= crate::abi::FAULT_CLASS_LAST {
        // A class this code raises (an arm below): it says so, from where it runs, for
        // `inject` to show as the fault's own record.
        let at: usize;
        // SAFETY: reads the address of the next instruction into a register; no memory,
        // no stack, no flags are touched.
        unsafe {
            core::arch::asm!("lea {}, [rip]", out(reg) at, options(nomem, nostack, preserves_flags))
        };
        // SAFETY: `dev` is the live instance of the entry point being called.
        unsafe { ndriver_fault_raising(dev.handle(), class, at) };
    }
    if class == 33 {
        return Ok(Injected::BadReturn);
    }
    let raised: Result = match class {
        1 => panic!("ndriver: injected panic at an entry point"),
        2 => {
            let p = black_box(core::ptr::null::<u64>());
            // SAFETY: not safe at all: an injected NULL dereference, contained by the guard.
            let v = unsafe { core::ptr::read_volatile(p) };
            black_box(v);
            Ok(())
        }
        3 => {
            let p = black_box(WILD_ADDR) as *mut u64;
            // SAFETY: not safe: an injected wild store, contained by the guard.
            unsafe { core::ptr::write_volatile(p, 0x5a5a) };
            Ok(())
        }
        4 => {
            let p = black_box(NONCANONICAL_ADDR) as *const u64;
            // SAFETY: not safe: an injected #GP, contained by the guard.
            let v = unsafe { core::ptr::read_volatile(p) };
            black_box(v);
            Ok(())
        }
        5 => {
            let divisor = black_box(0u64);
            // SAFETY: an injected divide error (`div` by zero traps with #DE); the asm
            // touches only the named registers.
            unsafe {
                core::arch::asm!(
                    "div {d}",
                    d = in(reg) divisor,
                    inout("rax") 1u64 => _,
                    inout("rdx") 0u64 => _,
                    options(nomem, nostack)
                )
            };
            Ok(())
        }
        6 => loop {
            core::hint::spin_loop();
        },
        7 => {
            // SAFETY: an injected hang with interrupts off; the guard restores the
            // interrupt state when it abandons the call.
            unsafe { core::arch::asm!("cli", options(nomem, nostack)) };
            loop {
                core::hint::spin_loop();
            }
        }
        8 => {
            let _held = lock.lock();
            // Self-deadlock on the instance's own spinlock.
            let _again = lock.lock();
            Ok(())
        }
        9 => Err(EIO),
        10 => {
            // A runaway leak: blocks taken and lost until an allocation fails, which
            // the framework's memory limit (policy `mem_kb`) makes happen. The driver
            // then fails its request for want of memory, as drivers do.
            while let Ok(block) = dev.alloc_atomic(LEAK_BLOCK) {
                core::mem::forget(block);
            }
            Err(ENOMEM)
        }
        11 => {
            // A bad argument to a kernel function: `reciprocal_value()` divides by it,
            // so the divide error is raised in core kernel text, not in the driver.
            // SAFETY: not safe: an injected kernel fault, contained as `kernel_fault`.
            let r = unsafe { reciprocal_value(black_box(0)) };
            black_box(r);
            Ok(())
        }
        14 => {
            // The driver's own lock, which the guard does not count as held, and
            // preemption disabled the way a kernel lock disables it (an RCU read-side
            // section: this kernel's RCU is not preemptible), which it does.
            let _held = lock.lock();
            let _rcu = kernel::sync::rcu::read_lock();
            // SAFETY: not safe: an injected kernel fault (a divide error in core kernel
            // text), raised with more held than at entry: left to the kernel unless
            // policy `kernel_bug=1`.
            let r = unsafe { reciprocal_value(black_box(0)) };
            black_box(r);
            Ok(())
        }
        12 => {
            // A driver that reports more transmit completions than it queued reaches
            // the `BUG_ON()` in `dql_completed()`: a core-kernel BUG.
            let mut dql = DqlStorage([0; DQL_STORAGE]);
            let p = core::ptr::from_mut(&mut dql).cast::<core::ffi::c_void>();
            // SAFETY: `dql` is zeroed, aligned and larger than `struct dql`;
            // `dql_init()` initialises it. The completion count is the injected bug.
            unsafe {
                dql_init(p, 1000);
                dql_completed(p, black_box(1));
            }
            Ok(())
        }
        13 => {
            // A return address into this driver's text, taken the way a call takes it.
            let ret: usize;
            // The section entry tells objtool the call is intended (the kernel's
            // ANNOTATE_INTRA_FUNCTION_CALL, type 7).
            // SAFETY: the call pushes the address of the next instruction, which the pop
            // takes back at once; the stack is balanced and nothing else is touched.
            unsafe {
                core::arch::asm!(
                    "911: call 2f",
                    ".pushsection .discard.annotate_insn, \"M\", @progbits, 8",
                    ".long 911b - ., 7",
                    ".popsection",
                    "2: pop {}",
                    out(reg) ret
                )
            };
            let mut buf = [0u8; KSYM_BUF];
            loop {
                // SAFETY: `buf` is larger than `KSYM_SYMBOL_LEN`; `ret` is an address.
                unsafe { sprint_symbol(buf.as_mut_ptr(), black_box(ret)) };
                black_box(&buf);
                // Some time in driver text between the lookups, where a watchdog tick
                // may end the call: with none, under TCG a tick landed in the few
                // instructions back in driver text only after 20 s (an RCU stall), once.
                for _ in 0..black_box(256) {
                    core::hint::spin_loop();
                }
            }
        }
        15 => {
            // A block freed twice: the second free names memory the instance no
            // longer holds.
            // SAFETY: the live instance's handle; 64 bytes, atomic (sites run in any
            // context).
            let p = unsafe { ndriver_alloc(dev.handle(), 64, 1) };
            if !p.is_null() {
                // SAFETY: not safe: the second free is the injected misuse, which the
                // framework refuses without touching the memory.
                unsafe {
                    ndriver_free(dev.handle(), p);
                    ndriver_free(dev.handle(), black_box(p));
                }
            }
            Ok(())
        }
        16 => {
            // A timer handle the framework never gave out.
            let mut fake = [0u64; 16];
            let p = core::ptr::from_mut(&mut fake).cast::<core::ffi::c_void>();
            // SAFETY: not safe: a forged handle, which the framework refuses.
            unsafe { ndriver_timer_arm(dev.handle(), black_box(p), 1_000_000) };
            black_box(&fake);
            Ok(())
        }
        17 => {
            // A transmit token the framework never lent.
            // SAFETY: not safe: a forged token, which the framework refuses.
            unsafe { ndriver_net_tx_done(dev.handle(), black_box(FORGED_TOKEN), 1) };
            Ok(())
        }
        21 => {
            // A receive buffer freed before it is mapped: the device would write into
            // memory the allocator has handed to someone else.
            const LEN: usize = 256;
            // SAFETY: the live instance's handle; atomic (entry points run in any context).
            let p = unsafe { ndriver_alloc(dev.handle(), LEN, 1) };
            if !p.is_null() {
                let mut dma = 0u64;
                // SAFETY: not safe: mapping memory the instance no longer holds is the
                // injected misuse; the framework refuses it without mapping anything,
                // and the freed block is never touched here.
                let r = unsafe {
                    ndriver_free(dev.handle(), p);
                    ndriver_dma_map(
                        dev.handle(),
                        black_box(p),
                        LEN,
                        crate::abi::DMA_FROM_DEVICE,
                        &mut dma,
                    )
                };
                if r == 0 {
                    // SAFETY: a mapping the framework made is given back at once, before
                    // the device is told of it.
                    unsafe { ndriver_dma_unmap(dev.handle(), dma) };
                }
            }
            Ok(())
        }
        22 => {
            // A receive buffer freed while the device may still write into it.
            const LEN: usize = 256;
            // SAFETY: the live instance's handle; atomic (entry points run in any context).
            let p = unsafe { ndriver_alloc(dev.handle(), LEN, 1) };
            if !p.is_null() {
                let mut dma = 0u64;
                // SAFETY: the instance holds the block it maps, for the device to write
                // into; `dma` is a valid out-pointer.
                let r = unsafe {
                    ndriver_dma_map(dev.handle(), p, LEN, crate::abi::DMA_FROM_DEVICE, &mut dma)
                };
                // SAFETY: not safe: freeing the block while it is mapped is the injected
                // misuse; the framework refuses it and keeps block and mapping for the
                // undo list, so nothing is freed here and the block is not touched again.
                unsafe { ndriver_free(dev.handle(), black_box(p)) };
                black_box(r);
            }
            Ok(())
        }
        // The lock's address corrupted between its check and the kernel's try-lock.
        23 => lock.try_lock_corrupted(LockCorruption::NonCanonical),
        24 => lock.try_lock_corrupted(LockCorruption::Unmapped),
        25 => {
            // The same with the lock held: kernel code faulting with the driver's own lock
            // held besides, which is no kernel lock: contained all the same.
            let _held = lock.lock();
            lock.try_lock_corrupted(LockCorruption::NonCanonical)
        }
        26 => lock.unlock_corrupted(),
        27 => {
            black_box(recurse(0));
            Ok(())
        }
        28 => store_below_stack(),
        29 => {
            // A received frame handed over from the driver's stack, not from a receive
            // buffer: a minimal Ethernet frame with the local experimental EtherType.
            let mut frame = [0u8; FORGED_FRAME];
            frame[12..14].copy_from_slice(&0x88b5u16.to_be_bytes());
            // SAFETY: not safe: a frame outside the instance's memory is the injected
            // misuse, which the framework refuses without reading it.
            unsafe {
                ndriver_net_rx(
                    dev.handle(),
                    black_box(frame.as_ptr()),
                    FORGED_FRAME as u32,
                    0,
                )
            };
            black_box(&frame);
            Ok(())
        }
        34 => {
            // A bad argument to printk(): vsnprintf() follows the wild `%s` pointer and
            // faults inside printk(), which has raised its recursion depth.
            // SAFETY: not safe: an injected kernel fault, contained as `kernel_fault`.
            let r = unsafe {
                kernel::bindings::_printk(
                    c"\x014ndriver: injected: %s\n".as_ptr().cast(),
                    black_box(WILD_ADDR) as *const kernel::ffi::c_char,
                )
            };
            black_box(r);
            Ok(())
        }
        30 => {
            // A work item handle the framework never gave out.
            let mut fake = [0u64; 16];
            let p = core::ptr::from_mut(&mut fake).cast::<core::ffi::c_void>();
            // SAFETY: the callout checks the handle against the work items the instance
            // holds and queues none it does not hold; the forged handle is the misuse.
            unsafe { ndriver_work_queue(dev.handle(), black_box(p)) };
            black_box(&fake);
            Ok(())
        }
        31 => {
            // A mapping never made, given back.
            // SAFETY: the callout checks the address against the mappings the instance
            // holds and unmaps none it does not hold; the made-up address is the misuse.
            unsafe { ndriver_dma_unmap(dev.handle(), black_box(FORGED_DMA)) };
            Ok(())
        }
        32 => {
            // The call's own work reported done, and again: the driver's method must not
            // run on what it gave back.
            report_done(dev);
            report_done(black_box(dev));
            Err(EIO)
        }
        _ => Ok(()),
    };
    raised.map(|()| Injected::Nothing)
}

/// Words of each level of [`recurse`]'s frame (512 bytes): about 30 levels fill a
/// 16 KiB stack.
const RECURSION_WORDS: usize = 64;

/// Calls itself with no end that the compiler can see, each level writing a frame of
/// [`RECURSION_WORDS`] words: a runaway recursion that runs the stack into the guard
/// page below it (class `stack_overflow`). Each level moves the stack pointer down by
/// its whole frame before touching it, and its first access at the new depth is a push
/// (a call) at the stack pointer: the one that reaches the guard page is made with the
/// stack pointer in it, so the page fault cannot be delivered (a double fault).
///
/// The frame is written a word at a time, as a driver's locals are: an interrupt taken
/// while the stack has less room left than the interrupt's own exit path needs on it
/// runs kernel code into the guard page, which is the kernel's overflow, not the
/// driver's (`design.rst`, "Stack overflow"); the less time each level takes, the less
/// often a tick lands in those last few hundred bytes (written a byte at a time, eight
/// times slower, it lost a guest so once: `evaluation.rst`).
#[inline(never)]
fn recurse(depth: u64) -> u64 {
    let mut frame = [0u64; RECURSION_WORDS];
    for (i, w) in frame.iter_mut().enumerate().rev() {
        *w = depth.wrapping_add(i as u64);
    }
    let frame = black_box(&mut frame);
    // `black_box` hides that the depth never reaches the limit.
    let below = if black_box(depth) < u64::MAX {
        recurse(depth + 1)
    } else {
        0
    };
    below.wrapping_add(frame[depth as usize % RECURSION_WORDS])
}

/// How far below the lowest address of the task's stack [`store_below_stack`] stores: near
/// the top of the guard page, where a pointer into the top of the stack lands with bit 14
/// (the stack's size) flipped, as in the campaign of 2026-12-05 (chunk 18, #1997).
const BELOW_STACK: usize = 256;

/// Stores through a pointer into the guard page below the current task's stack, with the
/// stack pointer well inside its stack (class `stack_guard_store`): a wild access, no
/// overflow, which the guard contains as a page fault on kernels that tell it so
/// (`scripts/kernel/patches/0004`; the class is refused elsewhere). From an interrupt, the
/// stack is the interrupted task's. Returns `EFAULT`, with nothing stored, if that stack
/// is not a vmapped one (the boot CPU's idle task runs on a static stack) or the address
/// below it is mapped after all: only an unmapped guard page stops the store.
#[inline(never)]
fn store_below_stack() -> Result {
    let task = kernel::task::Task::current_raw();
    // SAFETY: `current` is live while it runs; `stack` is the lowest address of its stack.
    let stack = unsafe { (*task).stack } as usize;
    // SAFETY: `is_vmalloc_addr` only compares the address with the vmalloc range.
    if !unsafe { kernel::bindings::is_vmalloc_addr(stack as *const core::ffi::c_void) } {
        return Err(EFAULT);
    }
    let p = stack.wrapping_sub(BELOW_STACK);
    let mut probe = 0u64;
    // SAFETY: `probe` is valid for an 8-byte write; the kernel's fault handling makes the
    // read of `p` fail (not fault) if it is unmapped.
    let unmapped = unsafe {
        kernel::bindings::copy_from_kernel_nofault(
            core::ptr::from_mut(&mut probe).cast(),
            p as *const core::ffi::c_void,
            8,
        )
    } != 0;
    if !unmapped {
        return Err(EFAULT);
    }
    // SAFETY: not safe: an injected wild store into the guard page, contained by the guard.
    unsafe { core::ptr::write_volatile(black_box(p) as *mut u64, 0x5a5a) };
    Ok(())
}

/// Bytes of the frame `forged_frame` hands over (the shortest Ethernet frame without
/// its check sequence).
const FORGED_FRAME: usize = 60;

/// A bus address no mapping was made at.
const FORGED_DMA: u64 = 0xdead_b000;

/// An address-looking transmit token nobody lent.
const FORGED_TOKEN: *mut core::ffi::c_void = 0xffff_8880_dead_0000usize as *mut core::ffi::c_void;

/// Larger than the kernel's `KSYM_SYMBOL_LEN` (about 700 bytes on x86-64).
const KSYM_BUF: usize = 1024;

/// Room for a `struct dql` (two cache lines and a little more in 7.3).
const DQL_STORAGE: usize = 512;

/// Storage for a `struct dql` on the driver's stack, cache-line aligned like the type.
#[repr(C, align(64))]
struct DqlStorage([u8; DQL_STORAGE]);

extern "C" {
    /// `struct reciprocal_value` (a `u32` and two `u8`s) is returned in `rax`.
    fn reciprocal_value(d: u32) -> u64;
    fn dql_init(dql: *mut core::ffi::c_void, hold_time: core::ffi::c_uint);
    fn dql_completed(dql: *mut core::ffi::c_void, count: core::ffi::c_uint);
    fn sprint_symbol(buffer: *mut u8, address: usize) -> core::ffi::c_int;
}
