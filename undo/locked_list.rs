// SPDX-License-Identifier: GPL-2.0

//! An instance's undo action list behind its lock, with the list's change count
//! ([`ActionList::changes`]) also readable without the lock.
//!
//! The hot rung (`device/hot.rs`) reads the count before every request it may retry in
//! place, where a lock hold (about 0.2 µs under icount, `evaluation.rst`) was a part of
//! every request's way into the driver. Each hold of the lock publishes the count as it
//! leaves, so a reader without the lock sees the count of the last hold that ended.

use super::action_list::{Action, ActionList};
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicU64, Ordering};
use kernel::new_spinlock_irq;
use kernel::prelude::*;
use kernel::sync::{SpinLockIrq, SpinLockIrqGuard};

/// An undo action list and its lock (IRQ-safe: callouts run in any context).
///
/// # Invariants
///
/// Outside a hold of `list`'s lock, `changes` equals the list's
/// [`ActionList::changes`]: every hold goes through [`LockedList::lock`], whose guard
/// stores the count before it unlocks.
#[pin_data]
pub(crate) struct LockedList {
    #[pin]
    list: SpinLockIrq<ActionList>,
    /// The list's change count as the last lock hold left it.
    changes: AtomicU64,
}

impl LockedList {
    /// An empty list, recording into `storage`'s room ([`ActionList::with_storage`]).
    pub(crate) fn new(storage: KVec<Action>) -> impl PinInit<Self> {
        // INVARIANT: an empty list has made no change, and the count starts at 0.
        pin_init!(Self {
            list <- new_spinlock_irq!(ActionList::with_storage(storage), "ndriver_undo"),
            changes: AtomicU64::new(0),
        })
    }

    /// Takes the lock.
    pub(crate) fn lock(&self) -> ListGuard<'_> {
        ListGuard {
            guard: self.list.lock(),
            changes: &self.changes,
        }
    }

    /// The list's change count as of the last lock hold that ended, without the lock.
    /// A change under way in another context is not in it yet.
    pub(crate) fn changes(&self) -> u64 {
        self.changes.load(Ordering::Acquire)
    }
}

/// A hold of a [`LockedList`]'s lock; publishes the list's change count when it ends.
pub(crate) struct ListGuard<'a> {
    guard: SpinLockIrqGuard<'a, ActionList>,
    changes: &'a AtomicU64,
}

impl Deref for ListGuard<'_> {
    type Target = ActionList;

    fn deref(&self) -> &ActionList {
        &self.guard
    }
}

impl DerefMut for ListGuard<'_> {
    fn deref_mut(&mut self) -> &mut ActionList {
        &mut self.guard
    }
}

impl Drop for ListGuard<'_> {
    fn drop(&mut self) {
        // Still under the lock: `guard`, a field, is dropped after this body. Only a
        // changed count is stored: the read-only holds of the data path (`covers`) leave
        // the shared word alone.
        // INVARIANT: the count is published before the lock is released.
        let now = self.guard.changes();
        if self.changes.load(Ordering::Relaxed) != now {
            self.changes.store(now, Ordering::Release);
        }
    }
}
