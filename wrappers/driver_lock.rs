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

use kernel::prelude::*;
use kernel::sync::{SpinLockIrq, SpinLockIrqGuard};

/// A driver-owned spinlock that a hung holder or waiter can be abandoned on.
///
/// Created with [`DriverLock::new`] from a `new_spinlock_irq!` initialiser (which names
/// the lock and gives it a lockdep class).
#[pin_data]
pub(crate) struct DriverLock<T> {
    #[pin]
    inner: SpinLockIrq<T>,
}

impl<T> DriverLock<T> {
    /// A driver lock around the spinlock that `inner` initialises.
    pub(crate) fn new(inner: impl PinInit<SpinLockIrq<T>>) -> impl PinInit<Self> {
        pin_init!(Self { inner <- inner })
    }

    /// Acquires the lock with local interrupts disabled, spinning in driver text until it is
    /// free.
    pub(crate) fn lock(&self) -> SpinLockIrqGuard<'_, T> {
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
