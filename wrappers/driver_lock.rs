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
//! `_raw_spin_trylock`, with the preemption and interrupt-disable counts the try-lock path
//! raised first (the guard takes those off only for a fault on the lock word on that
//! path, and not on debug kernels: `Documentation/design.rst`, "Known limits"), or, on
//! mapped memory, its compare-and-swap would write into whatever is there. Reading the
//! lock's check word here faults in driver text instead, where the guard contains it, and
//! a word that does not match is a lock that can never be taken (the call is ended as a
//! hang). The check cannot see a pointer corrupted into another live `DriverLock` of the
//! instance, nor one corrupted after the check.

use core::mem::ManuallyDrop;
use core::ops::{Deref, DerefMut};

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
    pub(crate) fn lock(&self) -> DriverLockGuard<'_, T> {
        if self.check != core::ptr::from_ref(self) as usize ^ CHECK_MAGIC {
            loop {
                // SAFETY: No precondition; returns, or abandons this guarded call.
                unsafe { crate::callouts_api::ndriver_lock_wait() };
                core::hint::spin_loop();
            }
        }
        loop {
            if let Some(inner) = self.inner.try_lock() {
                // SAFETY: No memory precondition. Tells the guard of the lock just taken,
                // which it checks against the preempt count before it believes it.
                unsafe { crate::callouts_api::ndriver_lock_held(1) };
                // INVARIANT: the lock is held and was just counted.
                return DriverLockGuard {
                    inner: ManuallyDrop::new(inner),
                };
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

/// A held [`DriverLock`], released when dropped.
///
/// # Invariants
///
/// The lock is held by this context, and counted in the guarded call's count of driver
/// locks held (`ndriver_lock_held`), until the guard is dropped. A guard forgotten leaves
/// both: only the end of the call (an abort) gives them up.
pub(crate) struct DriverLockGuard<'a, T> {
    /// Never dropped: [`release`] unlocks what it holds (as its own drop would).
    inner: ManuallyDrop<SpinLockIrqGuard<'a, T>>,
}

impl<T> Deref for DriverLockGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.inner
    }
}

impl<T: Unpin> DerefMut for DriverLockGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.inner
    }
}

impl<T> Drop for DriverLockGuard<'_, T> {
    fn drop(&mut self) {
        // Uncounted before the release: a fault in the release is then the unlock
        // path's (`guard/lock_paths.rs`).
        // SAFETY: No memory precondition; the lock was counted when taken (the invariant)
        // and is released right after.
        unsafe { crate::callouts_api::ndriver_lock_held(-1) };
        let lock = raw(self.inner.lock_ref());
        // SAFETY: `lock` is held by this context with interrupts disabled (the
        // invariant); `inner`, which holds it, is never dropped, so it is released once.
        unsafe { release(lock) };
    }
}

/// Releases the kernel spinlock at `lock` and enables interrupts, as a
/// `SpinLockIrqGuard`'s drop does, by a *call* of the kernel's unlock helper from this
/// one function (never a tail jump, whose return address would be that of a caller): a
/// fault in the unlock on a bad lock word is then recognised as the driver's own by the
/// return address at the stack pointer (`guard/lock_paths.rs`; campaign 2026-12-07,
/// injection 1652, lost a guest to a drop glue that jumped to the helper). The guest test
/// `90-guard-scope` checks the call in the module's code.
///
/// # Safety
///
/// `lock` is a spinlock this context holds with interrupts disabled, or, for an
/// injected fault only, an unmapped address.
#[inline(never)]
unsafe fn release(lock: *mut kernel::bindings::spinlock_t) {
    // SAFETY: the caller's contract.
    unsafe { kernel::bindings::spin_unlock_irq_enable(lock) };
    // Code after the call keeps it a call.
    // SAFETY: an empty instruction sequence.
    unsafe { core::arch::asm!("", options(nomem, nostack, preserves_flags)) };
}

/// How [`DriverLock::try_lock_corrupted`] corrupts the lock's address.
#[derive(Clone, Copy)]
pub(crate) enum LockCorruption {
    /// Bit 62 flipped: a non-canonical address, a general protection fault.
    NonCanonical,
    /// Bit 41 flipped: 2 TiB away in the kernel's direct map, beyond the memory of the
    /// machines ndriver is tested on, hence unmapped, a page fault (the corruption campaign
    /// chunk 5 of 2026-12-05 met at the unlock). Checked before use.
    Unmapped,
}

/// The address of the kernel spinlock inside `lock` (`Lock` is `repr(C)` with the
/// `spinlock_t` first, in an `Opaque`, which may be written through a shared reference).
fn raw<T>(lock: &SpinLockIrq<T>) -> *mut kernel::bindings::spinlock_t {
    core::ptr::from_ref(lock)
        .cast::<kernel::bindings::spinlock_t>()
        .cast_mut()
}

impl<T> DriverLock<T> {
    /// The address of the kernel spinlock inside, corrupted as `how` says, or `None` if
    /// something is mapped there: the injected fault must fault, not write into memory it
    /// does not own.
    fn corrupted(&self, how: LockCorruption) -> Option<*mut kernel::bindings::spinlock_t> {
        let lock = raw(&self.inner).map_addr(|a| match how {
            LockCorruption::NonCanonical => a ^ (1 << 62),
            LockCorruption::Unmapped => a ^ (1 << 41),
        });
        let mut byte = 0u8;
        // SAFETY: `byte` is a valid destination of one byte; the source is only read, and
        // an unmapped or non-canonical one makes the call fail instead of faulting.
        let mapped = unsafe {
            kernel::bindings::copy_from_kernel_nofault(
                (&raw mut byte).cast(),
                lock.cast_const().cast(),
                1,
            )
        } == 0;
        (!mapped).then_some(lock)
    }

    /// The injected faults `bad_lock` and `bad_lock_unmapped`: the kernel's
    /// interrupt-disabling try-lock (what [`DriverLock::lock`] calls once the check
    /// passed) on this lock's address corrupted as `how` says, as if the register holding
    /// it had been corrupted after the check. The try-lock's access to the lock word
    /// faults inside `_raw_spin_trylock` and never returns here. `EFAULT` if the corrupted
    /// address is mapped on this machine (nothing is raised then).
    pub(crate) fn try_lock_corrupted(&self, how: LockCorruption) -> Result {
        let lock = self.corrupted(how).ok_or(EFAULT)?;
        // SAFETY: not safe at all: an injected fault on a corrupted lock address, contained
        // by the guard. Nothing is mapped there, so no lock word is written.
        let taken =
            unsafe { kernel::bindings::spin_trylock_irq_disable(core::hint::black_box(lock)) };
        core::hint::black_box(taken);
        Ok(())
    }

    /// The injected fault `bad_unlock`: takes the lock, then releases it through the
    /// guard's own release ([`release`]) on its address corrupted into unmapped memory.
    /// The unlock's store to the lock word faults inside `_raw_spin_unlock_irq_enable`
    /// and never returns here; the lock stays taken, and dies with the instance like any
    /// lock of a failed call. `EFAULT`, with nothing taken, if the corrupted address is
    /// mapped on this machine.
    pub(crate) fn unlock_corrupted(&self) -> Result {
        let lock = self.corrupted(LockCorruption::Unmapped).ok_or(EFAULT)?;
        let guard = self.lock();
        // Released below, through the corrupted address, not by the guard, but uncounted
        // first, as the guard's drop does.
        core::mem::forget(guard);
        // SAFETY: No memory precondition; the lock counted by `lock()` is released next.
        unsafe { crate::callouts_api::ndriver_lock_held(-1) };
        // SAFETY: not safe at all: an injected fault on a corrupted lock address, contained
        // by the guard. Nothing is mapped there, so nothing is written.
        unsafe { release(core::hint::black_box(lock)) };
        Ok(())
    }
}

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
