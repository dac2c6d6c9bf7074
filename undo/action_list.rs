// SPDX-License-Identifier: GPL-2.0

//! The undo action list: every kernel resource an instance takes through a callout,
//! with the routine that gives it back.
//!
//! A callout records an [`Action`] after it took the resource; the driver's own release
//! of the resource (through the matching callout) removes the entry again ("self-undo
//! removal"). What is left when an instance is abandoned after a fault is exactly what
//! it still holds, and [`ActionList::undo_all`] gives it back newest first, so a
//! resource is released before the ones it was built on. The faulty instance's own
//! cleanup code never runs.

use kernel::prelude::*;

/// Gives one resource back. `obj` and `arg` are what the callout recorded.
///
/// # Safety
///
/// Called at most once per recorded action, with the values recorded for it, after the
/// instance that took the resource can no longer run.
pub(crate) type UndoFn = unsafe fn(obj: usize, arg: usize);

/// One resource held by an instance.
pub(crate) struct Action {
    /// The resource (usually its address); the key for self-undo removal.
    pub(crate) obj: usize,
    /// A second value the undo routine needs (a size, a flag).
    pub(crate) arg: usize,
    /// How to give it back.
    pub(crate) undo: UndoFn,
}

/// The actions of one instance, oldest first.
pub(crate) struct ActionList {
    actions: KVec<Action>,
}

impl ActionList {
    /// An empty list.
    pub(crate) const fn new() -> Self {
        Self {
            actions: KVec::new(),
        }
    }

    /// Records a resource the instance now holds. `GFP_ATOMIC`: callouts may be used in
    /// interrupt context.
    pub(crate) fn record(&mut self, action: Action) -> Result {
        self.actions.push(action, GFP_ATOMIC)?;
        Ok(())
    }

    /// The driver released `obj` itself: forget its newest action. Returns the action,
    /// or `None` if `obj` was never recorded (a driver bug the caller reports).
    pub(crate) fn forget(&mut self, obj: usize) -> Option<Action> {
        let i = self.actions.iter().rposition(|a| a.obj == obj)?;
        self.actions.remove(i).ok()
    }

    /// Resources currently held.
    pub(crate) fn len(&self) -> usize {
        self.actions.len()
    }

    /// Gives back everything still held, newest first; returns how many.
    ///
    /// # Safety
    ///
    /// The instance that recorded the actions must never run again.
    pub(crate) unsafe fn undo_all(&mut self) -> usize {
        let n = self.actions.len();
        while let Some(a) = self.actions.pop() {
            // SAFETY: each action is popped, so undone once; the caller guarantees the
            // instance no longer runs.
            unsafe { (a.undo)(a.obj, a.arg) };
        }
        n
    }
}
