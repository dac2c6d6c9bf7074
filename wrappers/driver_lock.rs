// SPDX-License-Identifier: GPL-2.0

//! The lock a guarded driver protects its own state with.
//!
//! A kernel `SpinLockIrq` whose waiters spin here, in the driver module's text (try-lock,
//! relax, try again), and never in the kernel's queued slow path. The guard abandons a hung
//! call only where the call holds no kernel state. A waiter inside
//! `queued_spin_lock_slowpath` does: it owns the lock's pending bit or a node of the lock's
//! MCS queue, and abandoning it leaves the lock unusable for every later locker; for a
//! kernel lock (taken by a callout while the host starves the vCPU that holds it) that
//! wedges the whole machine. So the slow path is not an abort point, and driver locks stay
//! out of it: a driver deadlocked on its own lock spins in its own text, where the guard can
//! end it, and each spin asks the framework whether the waiting call is overdue, so that a
//! wait ends even when no CPU has interrupts on for the watchdog. The lock itself dies with
//! the instance; nobody else ever waits for it.
//!
//! The lock also checks that it is one before the kernel's lock code sees its address. A
//! driver that reaches its lock through a corrupted pointer would otherwise fault inside
//! `_raw_spin_trylock`, with the preemption and interrupt-disable counts that code raised
//! first, which the guard cannot tell from a kernel lock held and leaves to the kernel
//! (an oops); or, on mapped memory, its compare-and-swap would write into whatever is
//! there. Reading the lock's check word here faults in driver text instead, where the
//! guard contains it, and a word that does not match is a lock that can never be taken
//! (the call is ended as a hang). The check cannot see a pointer corrupted into another
//! live `DriverLock` of the instance.

use kernel::prelude::*;
use kernel::sync::{SpinLockIrq, SpinLockIrqGuard};

/// A driver-owned spinlock that a hung holder or waiter can be abandoned on.
///
/// Created with [`DriverLock::new`] from a `new_spinlock_irq!` initialiser (which names
/// the lock and gives it a lockdep class).
///
/// # Invariants
///
/// While the lock lives, `check` is its own address XOR [`CHECK_MAGIC`] (the lock is
/// pinned); dropped, it is 0.
#[pin_data(PinnedDrop)]
#[repr(C)]
pub(crate) struct DriverLock<T> {
    /// The check word, first: in the same cache line as the start of the spinlock.
    check: usize,
    #[pin]
    inner: SpinLockIrq<T>,
}

/// Mixed into [`DriverLock::check`], so that zeroed or poisoned memory does not match.
const CHECK_MAGIC: usize = 0x6e64_6c6f_636b_5f31;

impl<T> DriverLock<T> {
    /// A driver lock around the spinlock that `inner` initialises.
    pub(crate) fn new(inner: impl PinInit<SpinLockIrq<T>>) -> impl PinInit<Self> {
        // INVARIANT: `this` is where the lock is pinned for its whole life.
        pin_init!(&this in Self {
            check: this.as_ptr() as usize ^ CHECK_MAGIC,
            inner <- inner,
        })
    }

    /// Acquires the lock with local interrupts disabled, spinning in driver text until it is
    /// free.
    ///
    /// A `self` that is no live `DriverLock` (a corrupted pointer, a lock already dropped)
    /// faults here, in driver text, when nothing is mapped there, and otherwise waits
    /// here until the guard ends the call as hung. A pointer corrupted into another live
    /// `DriverLock` passes.
    pub(crate) fn lock(&self) -> SpinLockIrqGuard<'_, T> {
        if self.check != core::ptr::from_ref(self) as usize ^ CHECK_MAGIC {
            loop {
                // SAFETY: No precondition; returns, or abandons this guarded call.
                unsafe { crate::callouts_api::ndriver_lock_wait() };
                core::hint::spin_loop();
            }
        }
        loop {
            if let Some(guard) = self.inner.try_lock() {
                return guard;
            }
            // The holder may be hung with interrupts off while every other CPU waits here
            // with interrupts off too: then no watchdog runs, and the waiter must end its
            // own overrun call.
            // SAFETY: No precondition; returns, or abandons this guarded call.
            unsafe { crate::callouts_api::ndriver_lock_wait() };
            core::hint::spin_loop();
        }
    }
}

impl<T> DriverLock<T> {
    /// The injected fault `bad_lock`: the kernel's interrupt-disabling try-lock (what
    /// [`DriverLock::lock`] calls once the check passed) on this lock's address with bit 62
    /// flipped, as if the register holding it were corrupted after the check. The address
    /// is non-canonical: the try-lock's access to the lock word is a general protection
    /// fault inside `_raw_spin_trylock`, which never returns here.
    pub(crate) fn try_lock_corrupted(&self) {
        let addr = core::hint::black_box(core::ptr::from_ref(&self.inner) as usize ^ CORRUPT_BIT);
        // SAFETY: not safe at all: an injected fault on a corrupted lock address, contained
        // by the guard. A non-canonical address is never a lock the call could take.
        let taken = unsafe { kernel::bindings::spin_trylock_irq_disable(addr as *mut _) };
        core::hint::black_box(taken);
    }
}

/// The bit [`DriverLock::try_lock_corrupted`] flips: any kernel address with it flipped is
/// non-canonical.
const CORRUPT_BIT: usize = 1 << 62;

#[pinned_drop]
impl<T> PinnedDrop for DriverLock<T> {
    fn drop(self: Pin<&mut Self>) {
        let this = self.project();
        // INVARIANT: dropped, the check word is 0, so that a stale pointer to the freed
        // lock does not pass the check while the memory is not reused.
        // SAFETY: `this.check` comes from a `&mut`, so it is valid and aligned; volatile,
        // so that the store before the memory is freed is not dropped as dead.
        unsafe { core::ptr::write_volatile(this.check, 0) };
    }
}
