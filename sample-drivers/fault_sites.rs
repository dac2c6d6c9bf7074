// SPDX-License-Identifier: GPL-2.0

//! Fault-injection sites of the sample drivers: each failure class raised for real, in
//! the driver's own code, when the framework's `ndriver_fault_point` asks for it.
//! Nothing here is simulated: a panic is a Rust `panic!`, a NULL dereference loads from
//! address 0, a hang never ends by itself. The numbers are `FaultClass` (ABI) values.

use crate::driver_dev::Dev;
use crate::driver_lock::DriverLock;
use core::hint::black_box;
use kernel::prelude::*;

/// An unmapped but canonical kernel address (the guard hole at the bottom of the
/// kernel half): storing there is a page fault.
const WILD_ADDR: usize = 0xffff_8000_0000_1000;
/// A non-canonical address: loading from it is a general protection fault.
const NONCANONICAL_ADDR: usize = 0xdead_0000_0000_0100;

/// Size of each block a leak loses.
const LEAK_BLOCK: usize = 8192;

/// Raises the fault the framework asks for at `entry` now, if any. Returns only for
/// "no fault", an error return or a leak.
pub(crate) fn raise(dev: &Dev, entry: impl Into<u32>, lock: &DriverLock<u64>) -> Result {
    match dev.fault_point(entry) {
        0 => Ok(()),
        1 => panic!("testdev: injected panic"),
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
        _ => Ok(()),
    }
}
