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

/// Gives one resource back. `a` is what the callout recorded. Runs
/// in process context with no lock held, so it may sleep (`free_irq`,
/// `cancel_work_sync`).
///
/// # Safety
///
/// Called at most once per recorded action, with the values recorded for it, after the
/// instance that took the resource can no longer run.
pub(crate) type UndoFn = unsafe fn(a: &Action);

/// What kind of resource an action holds (for `status` and for the few places that
/// must find one kind, such as re-enabling interrupt lines).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Memory from `ndriver_alloc`.
    Memory,
    /// An enabled PCI function (`ndriver_pci_enable`).
    PciEnable,
    /// A requested and mapped BAR (`ndriver_pci_iomap`).
    Iomap,
    /// An interrupt handler (`ndriver_request_irq`).
    Irq,
    /// A coherent DMA buffer (`ndriver_dma_alloc`).
    DmaCoherent,
    /// A streaming DMA mapping (`ndriver_dma_map`).
    DmaMapping,
    /// An hrtimer (`ndriver_timer_setup`).
    Timer,
    /// A work item (`ndriver_work_setup`).
    Work,
    /// A device reset the undo list performs (`ndriver_io_reset_on_undo`).
    Reset,
}

impl Kind {
    /// Every kind, in the order `status` lists them.
    pub(crate) const ALL: [Kind; 9] = [
        Kind::Memory,
        Kind::PciEnable,
        Kind::Iomap,
        Kind::Irq,
        Kind::DmaCoherent,
        Kind::DmaMapping,
        Kind::Timer,
        Kind::Work,
        Kind::Reset,
    ];

    /// The name `status` uses.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Memory => "memory",
            Kind::PciEnable => "pci_enable",
            Kind::Iomap => "iomap",
            Kind::Irq => "irq",
            Kind::DmaCoherent => "dma_coherent",
            Kind::DmaMapping => "dma_mapping",
            Kind::Timer => "timer",
            Kind::Work => "work",
            Kind::Reset => "reset",
        }
    }
}

/// One resource held by an instance.
#[derive(Clone, Copy)]
pub(crate) struct Action {
    /// What it is.
    pub(crate) kind: Kind,
    /// The resource (usually its address); the key for self-undo removal.
    pub(crate) obj: usize,
    /// A second value the undo routine needs (a size, a BAR number).
    pub(crate) arg: usize,
    /// A third one (a DMA address, a direction).
    pub(crate) aux: usize,
    /// The device the resource belongs to (a `struct pci_dev`), or 0.
    pub(crate) ctx: usize,
    /// The address of what this resource lies on or writes into (a streaming mapping's
    /// CPU address, a recorded reset's BAR mapping), or 0: that one may not be given
    /// back while this one is held ([`ActionList::dependent`]).
    pub(crate) depends_on: usize,
    /// How to give it back.
    pub(crate) undo: UndoFn,
}

/// The actions of one instance, oldest first.
pub(crate) struct ActionList {
    actions: KVec<Action>,
    /// Bytes held in [`Kind::Memory`] actions (their `arg`), for the memory limit.
    memory: usize,
}

impl ActionList {
    /// An empty list.
    pub(crate) const fn new() -> Self {
        Self {
            actions: KVec::new(),
            memory: 0,
        }
    }

    /// Records a resource the instance now holds. `GFP_ATOMIC`: callouts may be used in
    /// interrupt context.
    pub(crate) fn record(&mut self, action: Action) -> Result {
        self.actions.push(action, GFP_ATOMIC)?;
        if action.kind == Kind::Memory {
            self.memory = self.memory.saturating_add(action.arg);
        }
        Ok(())
    }

    /// The driver released `obj` (of `kind`) itself: forget its newest action. Returns the action,
    /// or `None` if `obj` was never recorded (a driver bug the caller reports).
    pub(crate) fn forget(&mut self, kind: Kind, obj: usize) -> Option<Action> {
        let i = self
            .actions
            .iter()
            .rposition(|a| a.kind == kind && a.obj == obj)?;
        let a = self.actions.remove(i).ok()?;
        if kind == Kind::Memory {
            self.memory = self.memory.saturating_sub(a.arg);
        }
        Some(a)
    }

    /// The newest action holding `obj` (of `kind`), if any.
    pub(crate) fn get(&self, kind: Kind, obj: usize) -> Option<&Action> {
        self.actions
            .iter()
            .rev()
            .find(|a| a.kind == kind && a.obj == obj)
    }

    /// A held action that depends on `a` (see [`Action::depends_on`]): a streaming
    /// mapping that overlaps memory or a coherent buffer `a` is, a reset that writes into
    /// the BAR mapping `a` is. While there is one, `a` may not be given back.
    pub(crate) fn dependent(&self, a: &Action) -> Option<&Action> {
        let uses = |d: &Action| match (a.kind, d.kind) {
            (Kind::Memory | Kind::DmaCoherent, Kind::DmaMapping) => {
                // `[d.depends_on, + d.arg)` and `[a.obj, + a.arg)` overlap.
                let d_end = d.depends_on.saturating_add(d.arg);
                let a_end = a.obj.saturating_add(a.arg);
                d.depends_on < a_end && a.obj < d_end
            }
            (Kind::Iomap, Kind::Reset) => d.depends_on == a.obj,
            _ => false,
        };
        if !matches!(a.kind, Kind::Memory | Kind::DmaCoherent | Kind::Iomap) {
            return None;
        }
        self.actions.iter().find(|d| d.depends_on != 0 && uses(d))
    }

    /// Whether `obj` (of `kind`) is held: a handle the driver passes back is checked
    /// here before the framework uses it.
    pub(crate) fn holds(&self, kind: Kind, obj: usize) -> bool {
        self.actions.iter().any(|a| a.kind == kind && a.obj == obj)
    }

    /// Whether `[start, start + len)` lies inside one held resource of `kind` whose
    /// `obj` is its address and `arg` its size (memory, a coherent DMA buffer).
    pub(crate) fn covers(&self, kind: Kind, start: usize, len: usize) -> bool {
        let Some(end) = start.checked_add(len) else {
            return false;
        };
        self.actions.iter().any(|a| {
            a.kind == kind && a.obj <= start && a.obj.checked_add(a.arg).is_some_and(|e| end <= e)
        })
    }

    /// Bytes of memory held.
    pub(crate) fn memory(&self) -> usize {
        self.memory
    }

    /// Resources currently held.
    pub(crate) fn len(&self) -> usize {
        self.actions.len()
    }

    /// Resources of `kind` currently held.
    pub(crate) fn count(&self, kind: Kind) -> usize {
        self.actions.iter().filter(|a| a.kind == kind).count()
    }

    /// The actions of `kind`, oldest first.
    pub(crate) fn of_kind(&self, kind: Kind) -> impl Iterator<Item = &Action> {
        self.actions.iter().filter(move |a| a.kind == kind)
    }

    /// Moves the actions out, leaving the list empty: undo routines may sleep, so they
    /// run on the taken list after the (IRQ-safe) lock around this one is dropped.
    pub(crate) fn take(&mut self) -> Self {
        Self {
            actions: core::mem::take(&mut self.actions),
            memory: core::mem::take(&mut self.memory),
        }
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
            unsafe { (a.undo)(&a) };
        }
        n
    }
}
