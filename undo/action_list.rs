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
use kernel::time::{Instant, Monotonic};

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
    /// An interrupt handler on the function's INTx (`ndriver_request_irq`) or on an
    /// MSI-X vector allocated for it (`ndriver_request_irq_msix`).
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
    /// A block request's data mapped for the device (`ndriver_blk_map`).
    RqMapping,
}

impl Kind {
    /// Every kind, in the order `status` lists them.
    pub(crate) const ALL: [Kind; 10] = [
        Kind::Memory,
        Kind::PciEnable,
        Kind::Iomap,
        Kind::Irq,
        Kind::DmaCoherent,
        Kind::DmaMapping,
        Kind::Timer,
        Kind::Work,
        Kind::Reset,
        Kind::RqMapping,
    ];

    /// Its place in [`Kind::ALL`].
    pub(crate) fn index(self) -> usize {
        // The order of `ALL` (checked by KUnit `kinds_index_in_order`).
        match self {
            Kind::Memory => 0,
            Kind::PciEnable => 1,
            Kind::Iomap => 2,
            Kind::Irq => 3,
            Kind::DmaCoherent => 4,
            Kind::DmaMapping => 5,
            Kind::Timer => 6,
            Kind::Work => 7,
            Kind::Reset => 8,
            Kind::RqMapping => 9,
        }
    }

    /// The step its undo is timed as (`slowest=` in `recoveries`).
    pub(crate) fn undo_step(self) -> &'static str {
        match self {
            Kind::Memory => "undo_memory",
            Kind::PciEnable => "undo_pci_enable",
            Kind::Iomap => "undo_iomap",
            Kind::Irq => "undo_irq",
            Kind::DmaCoherent => "undo_dma_coherent",
            Kind::DmaMapping => "undo_dma_mapping",
            Kind::Timer => "undo_timer",
            Kind::Work => "undo_work",
            Kind::Reset => "undo_reset",
            Kind::RqMapping => "undo_rq_mapping",
        }
    }

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
            Kind::RqMapping => "rq_mapping",
        }
    }
}

/// Unkept blocks [`ActionList::warm_ok`] collects before it checks the mappings against
/// them; past that it checks each mapping against the whole list.
const UNKEPT_SCAN: usize = 8;

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
    /// The instance asked for the resource to survive it (`ndriver_keep`), under this
    /// role, so that the next instance of its implementation can adopt it (warm
    /// restart; `Documentation/design.rst`, "Warm restart"); `None`: undone with it.
    pub(crate) kept: Option<u32>,
    /// How to give it back.
    pub(crate) undo: UndoFn,
}

/// The most actions an emptied list's room may hold to be given to the next instance's
/// ([`ActionList::into_storage`]), 64 KiB: a NIC instance holds some 600 (a buffer and
/// its mapping per descriptor).
const ROOM_KEPT_MAX: usize = 1024;

/// The actions of one instance, oldest first.
pub(crate) struct ActionList {
    actions: KVec<Action>,
    /// Bytes held in [`Kind::Memory`] actions (their `arg`), for the memory limit.
    memory: usize,
    /// Changes made to the list: every action recorded, forgotten, kept or moved out
    /// counts one. Equal before and after a call: the call took and gave back nothing
    /// the framework sees (a hot restart's condition, `device/hot.rs`).
    changes: u64,
}

impl ActionList {
    /// An empty list.
    pub(crate) const fn new() -> Self {
        Self {
            actions: KVec::new(),
            memory: 0,
            changes: 0,
        }
    }

    /// An empty list that records into `storage`'s room (emptied first).
    pub(crate) fn with_storage(mut storage: KVec<Action>) -> Self {
        storage.clear();
        Self {
            actions: storage,
            memory: 0,
            changes: 0,
        }
    }

    /// The list's room, for the next instance's list ([`ActionList::with_storage`]): a
    /// restart records into the room its predecessor's list grew to, instead of growing
    /// a new one from nothing, an allocation at each doubling (under icount one
    /// allocation was about a twentieth of a test device's recovery). Call it on a list
    /// whose actions were undone: a list that still holds some is dropped with them, as
    /// before (empty room then), and so is a room larger than [`ROOM_KEPT_MAX`] (not
    /// kept for the device's life).
    pub(crate) fn into_storage(self) -> KVec<Action> {
        if self.actions.is_empty() && self.actions.capacity() <= ROOM_KEPT_MAX {
            self.actions
        } else {
            KVec::new()
        }
    }

    /// Changes made to the list so far (see the field).
    pub(crate) fn changes(&self) -> u64 {
        self.changes
    }

    /// Records a resource the instance now holds. `GFP_ATOMIC`: callouts may be used in
    /// interrupt context.
    pub(crate) fn record(&mut self, action: Action) -> Result {
        self.actions.push(action, GFP_ATOMIC)?;
        if action.kind == Kind::Memory {
            self.memory = self.memory.saturating_add(action.arg);
        }
        self.changes = self.changes.wrapping_add(1);
        Ok(())
    }

    /// Makes room for one more action without allocating in [`ActionList::record`].
    pub(crate) fn reserve_one(&mut self) -> Result {
        self.actions.reserve(1, GFP_ATOMIC)?;
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
        self.changes = self.changes.wrapping_add(1);
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
            (Kind::Memory | Kind::DmaCoherent, Kind::DmaMapping) => Self::maps_into(d, a),
            (Kind::Iomap, Kind::Reset) => d.depends_on == a.obj,
            _ => false,
        };
        if !matches!(a.kind, Kind::Memory | Kind::DmaCoherent | Kind::Iomap) {
            return None;
        }
        self.actions.iter().find(|d| d.depends_on != 0 && uses(d))
    }

    /// Whether an action of `kind` is held (searched from the oldest: the one-off
    /// resources of a start, a recorded reset say, come first).
    pub(crate) fn has(&self, kind: Kind) -> bool {
        self.actions.iter().any(|a| a.kind == kind)
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

    /// Marks the newest action holding `obj` (of `kind`) to be kept under `role`.
    /// `false` (nothing marked) if `obj` is not held, is kept already, or another kept
    /// action of `kind` has `role`: roles name kept resources one to one.
    pub(crate) fn keep(&mut self, kind: Kind, obj: usize, role: u32) -> bool {
        if self
            .actions
            .iter()
            .any(|a| a.kind == kind && a.kept == Some(role))
        {
            return false;
        }
        match self
            .actions
            .iter_mut()
            .rev()
            .find(|a| a.kind == kind && a.obj == obj)
        {
            Some(a) if a.kept.is_none() => {
                a.kept = Some(role);
                self.changes = self.changes.wrapping_add(1);
                true
            }
            _ => false,
        }
    }

    /// Whether what this list holds allows a warm restart: some action is kept, and
    /// every resource the device may still reach by DMA is either kept (every coherent
    /// buffer) or, with `lent_tracked`, a mapping of memory the class lent the instance
    /// and holds back itself until the adopter found the device done with it: a
    /// streaming mapping towards the device, with `lent_tracked` (a NIC's transmits,
    /// whose ring it reads; not one of memory the instance holds and does not keep,
    /// which is given back with it while the device may still read it), or a block
    /// request's data, either way and whatever the class says (the block class issues
    /// the request again only after); no other mapping the device writes into,
    /// and no recorded reset it does not keep (its undo would reset the device anyway).
    /// Then the device may keep running while the unkept rest is given back: whatever it
    /// writes lands in kept or lent memory, whatever it reads stays allocated.
    pub(crate) fn warm_ok(&self, lent_tracked: bool) -> bool {
        // The unkept memory first, once: a few blocks, against up to a ring's worth of
        // mappings (the recovery waits on this, with interrupts off).
        let mut own = [None; UNKEPT_SCAN];
        let mut n = 0;
        let mut many = false;
        for a in self.actions.iter().filter(|a| Self::unkept_memory(a)) {
            match own.get_mut(n) {
                Some(slot) => {
                    *slot = Some(*a);
                    n += 1;
                }
                None => many = true,
            }
        }
        let maps_unkept = |m: &Action| {
            if many {
                self.actions
                    .iter()
                    .any(|a| Self::unkept_memory(a) && Self::maps_into(m, a))
            } else {
                own.iter().flatten().any(|a| Self::maps_into(m, a))
            }
        };
        self.actions.iter().any(|a| a.kept.is_some())
            && self.actions.iter().all(|a| match a.kind {
                Kind::DmaCoherent => a.kept.is_some(),
                // Never kept: a kept mapping could be adopted and stay live while the
                // class completes (and, once the recovery is over, frees) what it maps.
                Kind::DmaMapping => {
                    a.kept.is_none() && lent_tracked && Self::to_device(a) && !maps_unkept(a)
                }
                // Lent by the block class, which issues the request again only after
                // the adopter drained the device and this is undone: not kept.
                Kind::RqMapping => a.kept.is_none(),
                // Kept: it moves to the adopter with the device (and runs if the
                // restart goes cold after all), with the mapping it writes through.
                Kind::Reset => {
                    a.kept.is_some()
                        && self.actions.iter().any(|m| {
                            m.kind == Kind::Iomap && m.obj == a.depends_on && m.kept.is_some()
                        })
                }
                _ => true,
            })
    }

    /// Whether `a` is memory or a coherent buffer this list holds and does not keep:
    /// the instance's own, not lent by the class.
    fn unkept_memory(a: &Action) -> bool {
        matches!(a.kind, Kind::Memory | Kind::DmaCoherent) && a.kept.is_none()
    }

    /// Whether streaming mapping `m` (`[m.depends_on, + m.arg)`) overlaps memory or
    /// coherent buffer `a` (`[a.obj, + a.arg)`).
    fn maps_into(m: &Action, a: &Action) -> bool {
        m.depends_on < a.obj.saturating_add(a.arg) && a.obj < m.depends_on.saturating_add(m.arg)
    }

    /// Whether `a` is a streaming mapping the device only reads.
    fn to_device(a: &Action) -> bool {
        a.kind == Kind::DmaMapping && a.aux == crate::abi::DMA_TO_DEVICE as usize
    }

    /// Moves the kept actions out, and the unkept streaming mappings towards the device
    /// and block request mappings (see [`ActionList::warm_ok`]): `(kept, lent)`. All or nothing: room for both is
    /// made before anything moves, so on failure (no memory) the list is as it was.
    pub(crate) fn take_kept_and_lent(&mut self) -> Result<(Self, Self)> {
        let lent_pick =
            |a: &Action| a.kept.is_none() && (Self::to_device(a) || a.kind == Kind::RqMapping);
        let mut kept = Self::with_room(self.actions.iter().filter(|a| a.kept.is_some()).count())?;
        let mut lent = Self::with_room(self.actions.iter().filter(|a| lent_pick(a)).count())?;
        self.move_where(&mut kept, |a| a.kept.is_some());
        self.move_where(&mut lent, lent_pick);
        Ok((kept, lent))
    }

    /// An empty list with room for `n` actions.
    fn with_room(n: usize) -> Result<Self> {
        let mut out = Self::new();
        out.actions.reserve(n, GFP_KERNEL)?;
        Ok(out)
    }

    /// Moves the actions `pick` selects into `out`, oldest first, in one pass (a warm
    /// restart moves up to a ring's worth of mappings while the device waits). `out`
    /// has room for all of them (the caller reserved it), so nothing allocates and
    /// nothing fails.
    fn move_where(&mut self, out: &mut Self, pick: impl Fn(&Action) -> bool) {
        let mut memory = 0usize;
        let len = self.actions.len();
        self.actions.retain(|a| {
            if !pick(a) {
                return true;
            }
            // Within the room reserved by the caller: does not allocate. Were it full
            // (unreachable), the action would stay here rather than be lost.
            if out.actions.push_within_capacity(*a).is_err() {
                return true;
            }
            if a.kind == Kind::Memory {
                memory = memory.saturating_add(a.arg);
            }
            false
        });
        self.memory = self.memory.saturating_sub(memory);
        out.memory = out.memory.saturating_add(memory);
        let moved = (len - self.actions.len()) as u64;
        self.changes = self.changes.wrapping_add(moved);
        out.changes = out.changes.wrapping_add(moved);
    }

    /// Takes the kept action of `kind` with `role` out of the list, if there is one;
    /// it is no longer marked kept (its new owner may keep it again).
    pub(crate) fn take_role(&mut self, kind: Kind, role: u32) -> Option<Action> {
        let i = self
            .actions
            .iter()
            .position(|a| a.kind == kind && a.kept == Some(role))?;
        let mut a = self.actions.remove(i).ok()?;
        if kind == Kind::Memory {
            self.memory = self.memory.saturating_sub(a.arg);
        }
        self.changes = self.changes.wrapping_add(1);
        a.kept = None;
        Some(a)
    }

    /// The kept action of `kind` with `role`, if any.
    pub(crate) fn kept_role(&self, kind: Kind, role: u32) -> Option<&Action> {
        self.actions
            .iter()
            .find(|a| a.kind == kind && a.kept == Some(role))
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

    /// How many actions of each kind the list holds, indexed by [`Kind::index`] (one
    /// pass, where [`ActionList::count`] of every kind would make one per kind).
    pub(crate) fn kind_counts(&self) -> [usize; Kind::ALL.len()] {
        let mut n = [0; Kind::ALL.len()];
        for a in self.actions.iter() {
            if let Some(c) = n.get_mut(a.kind.index()) {
                *c += 1;
            }
        }
        n
    }

    /// The actions of `kind`, oldest first.
    pub(crate) fn of_kind(&self, kind: Kind) -> impl Iterator<Item = &Action> {
        self.actions.iter().filter(move |a| a.kind == kind)
    }

    /// Moves the actions out, leaving the list empty: undo routines may sleep, so they
    /// run on the taken list after the (IRQ-safe) lock around this one is dropped.
    pub(crate) fn take(&mut self) -> Self {
        let actions = core::mem::take(&mut self.actions);
        self.changes = self.changes.wrapping_add(actions.len() as u64);
        // The taken list carries the count on: put back (a warm restart that fell
        // through), the count still never goes back.
        Self {
            changes: self.changes,
            actions,
            memory: core::mem::take(&mut self.memory),
        }
    }

    /// Performs and drops the recorded device resets, newest first; returns how many.
    /// A reset quiets the device (a legacy virtio reset waits for the requests in
    /// flight): nothing else may go back before it, whatever order the instance took
    /// things in (an adopter takes its reset record back when it gets to it).
    ///
    /// # Safety
    ///
    /// The instance that recorded the actions must never run again.
    unsafe fn undo_resets(&mut self, clock: &mut Option<KindClock>) -> usize {
        // SAFETY: per this function's contract. The mapping a reset writes through is
        // still held (a reset depends on it, and resets go first).
        unsafe { self.undo_kind(Kind::Reset, clock) }
    }

    /// Performs and drops the recorded actions of `kind` in place, newest first (no
    /// allocation); returns how many.
    ///
    /// # Safety
    ///
    /// The instance that recorded the actions must never run again, and what the
    /// actions of `kind` depend on is still held.
    unsafe fn undo_kind(&mut self, kind: Kind, clock: &mut Option<KindClock>) -> usize {
        let mut n = 0;
        while let Some(i) = self.actions.iter().rposition(|a| a.kind == kind) {
            let Ok(a) = self.actions.remove(i) else {
                break;
            };
            self.changes = self.changes.wrapping_add(1);
            // SAFETY: removed, so undone once; the caller guarantees the instance no
            // longer runs and that what the action depends on is held.
            unsafe { undo_one(&a, clock) };
            n += 1;
        }
        n
    }

    /// Performs the recorded resets and drops them, before another list's actions go
    /// (a kept set's, a failed adopter's). Returns how many.
    ///
    /// # Safety
    ///
    /// As [`ActionList::undo_all`].
    pub(crate) unsafe fn undo_resets_now(&mut self) -> usize {
        // SAFETY: per this function's contract.
        unsafe { self.undo_resets(&mut None) }
    }

    /// Frees the recorded interrupt lines and drops them, before another list's actions
    /// go (a failed adopter's, which may disable the PCI function a line's MSI-X vector
    /// belongs to). Call after every list's resets. Returns how many.
    ///
    /// # Safety
    ///
    /// As [`ActionList::undo_all`].
    pub(crate) unsafe fn undo_irqs_now(&mut self) -> usize {
        // SAFETY: per this function's contract; a line depends on nothing else held.
        unsafe { self.undo_kind(Kind::Irq, &mut None) }
    }

    /// Gives back everything still held: the device resets first, then the rest newest
    /// first; returns how many.
    ///
    /// # Safety
    ///
    /// The instance that recorded the actions must never run again.
    pub(crate) unsafe fn undo_all(&mut self) -> usize {
        // SAFETY: per this function's contract.
        unsafe { self.undo_all_into(&mut None) }
    }

    /// [`ActionList::undo_all`], timing the undo routines by kind: returns how many
    /// actions were undone and the kind whose routines took longest in all, with that
    /// time (`None` if nothing was undone).
    ///
    /// # Safety
    ///
    /// The instance that recorded the actions must never run again.
    pub(crate) unsafe fn undo_all_timed(&mut self) -> (usize, Option<(Kind, u64)>) {
        let mut clock = Some(KindClock {
            times: [0; Kind::ALL.len()],
            kind: None,
            since: None,
            slowest: None,
        });
        // SAFETY: per this function's contract.
        let n = unsafe { self.undo_all_into(&mut clock) };
        // The last kind's time (none if nothing was undone).
        let slowest = clock.and_then(|mut c| {
            if c.kind.is_some() {
                c.charge();
            }
            c.slowest
        });
        (n, slowest)
    }

    /// [`ActionList::undo_all`], timed by `clock` if given.
    ///
    /// # Safety
    ///
    /// The instance that recorded the actions must never run again.
    unsafe fn undo_all_into(&mut self, clock: &mut Option<KindClock>) -> usize {
        // SAFETY: per this function's contract.
        let resets = unsafe { self.undo_resets(clock) };
        let n = self.actions.len();
        self.changes = self.changes.wrapping_add(n as u64);
        let n = n + resets;
        while let Some(a) = self.actions.pop() {
            // SAFETY: each action is popped, so undone once; the caller guarantees the
            // instance no longer runs.
            unsafe { undo_one(&a, clock) };
        }
        n
    }
}

/// Nanoseconds per kind of action, indexed by [`Kind::index`].
type KindTimes = [u64; Kind::ALL.len()];

/// The clock of [`ActionList::undo_all_timed`]: the time from one change of kind to the
/// next goes to the kind undone meanwhile, so that a run of actions of one kind costs
/// one clock read, not two per action.
struct KindClock {
    times: KindTimes,
    /// The kind being undone since `since`, if any.
    kind: Option<Kind>,
    /// When the first action began, or the kind last changed (the clock is first read
    /// there: nothing is timed before).
    since: Option<Instant<Monotonic>>,
    /// The kind with the largest time so far, and that time.
    slowest: Option<(Kind, u64)>,
}

impl KindClock {
    /// An action of `kind` is undone next.
    fn switch(&mut self, kind: Kind) {
        if self.kind != Some(kind) {
            self.charge();
            self.kind = Some(kind);
        }
    }

    /// Adds the time since the last change to the kind undone meanwhile, and starts
    /// again from now.
    fn charge(&mut self) {
        let now = Instant::<Monotonic>::now();
        if let (Some(k), Some(since)) = (self.kind, self.since) {
            let ns = u64::try_from((now - since).as_nanos()).unwrap_or(0);
            if let Some(slot) = self.times.get_mut(k.index()) {
                *slot = slot.saturating_add(ns);
                if self.slowest.is_none_or(|(_, max)| *slot > max) {
                    self.slowest = Some((k, *slot));
                }
            }
        }
        self.since = Some(now);
    }
}

/// Runs the undo routine of `a`, timed by `clock` if given.
///
/// # Safety
///
/// `a` is undone once, after the instance that recorded it can no longer run (the
/// contract of [`UndoFn`]).
unsafe fn undo_one(a: &Action, clock: &mut Option<KindClock>) {
    if let Some(c) = clock.as_mut() {
        c.switch(a.kind);
    }
    // SAFETY: per this function's contract.
    unsafe { (a.undo)(a) };
}

#[kunit_tests(ndriver_undo_actions)]
mod tests {
    use super::*;
    use core::sync::atomic::{AtomicUsize, Ordering};

    /// The `obj` of each action [`log_undo`] gave back, in order (only
    /// the `undo_all` tests use it; KUnit runs one test at a time).
    static UNDONE: [AtomicUsize; 4] = [const { AtomicUsize::new(0) }; 4];
    /// How many [`log_undo`] gave back.
    static UNDONE_N: AtomicUsize = AtomicUsize::new(0);

    /// An undo routine that gives nothing back, only logs the action.
    fn log_undo(a: &Action) {
        let i = UNDONE_N.fetch_add(1, Ordering::Relaxed);
        if let Some(slot) = UNDONE.get(i) {
            slot.store(a.obj, Ordering::Relaxed);
        }
    }

    /// [`log_undo`], then 2 ms more: the slowest undo of a test (by far: a vCPU the
    /// host stalls under TCG loses some hundreds of microseconds).
    fn slow_undo(a: &Action) {
        log_undo(a);
        kernel::time::delay::fsleep(kernel::time::Delta::from_millis(2));
    }

    fn action(kind: Kind, obj: usize, arg: usize, depends_on: usize) -> Action {
        Action {
            kind,
            obj,
            arg,
            aux: 0,
            ctx: 0,
            depends_on,
            kept: None,
            undo: log_undo,
        }
    }

    #[test]
    fn handles_checked_by_kind_and_address() -> Result {
        let mut l = ActionList::new();
        l.record(action(Kind::Memory, 0x1000, 64, 0))?;
        l.record(action(Kind::Memory, 0x2000, 32, 0))?;
        l.record(action(Kind::DmaCoherent, 0x3000, 4096, 0))?;
        assert!(l.holds(Kind::Memory, 0x1000));
        assert!(l.holds(Kind::DmaCoherent, 0x3000));
        // The same address as another kind, or an address never recorded: forged.
        assert!(!l.holds(Kind::Iomap, 0x1000));
        assert!(!l.holds(Kind::Memory, 0x3000));
        assert!(!l.holds(Kind::Memory, 0x1008));
        assert_eq!(l.len(), 3);
        assert_eq!(l.count(Kind::Memory), 2);
        assert_eq!(l.memory(), 96);
        Ok(())
    }

    #[test]
    fn room_goes_to_the_next_list_only_empty() -> Result {
        let mut l = ActionList::new();
        l.record(action(Kind::Memory, 0x1000, 64, 0))?;
        l.record(action(Kind::Memory, 0x2000, 32, 0))?;
        // A list that still holds actions gives no room (they are dropped with it).
        assert_eq!(l.take().into_storage().capacity(), 0);
        let mut l = ActionList::new();
        l.record(action(Kind::Memory, 0x1000, 64, 0))?;
        l.record(action(Kind::Memory, 0x2000, 32, 0))?;
        UNDONE_N.store(0, Ordering::Relaxed);
        // SAFETY: the actions are `log_undo`'s, which give nothing back.
        unsafe { l.undo_all() };
        let room = l.into_storage();
        assert!(room.capacity() >= 2);
        // The next list starts empty, with no change made, in that room.
        let mut next = ActionList::with_storage(room);
        assert_eq!((next.len(), next.changes(), next.memory()), (0, 0, 0));
        assert!(next.actions.capacity() >= 2);
        next.record(action(Kind::Memory, 0x3000, 16, 0))?;
        assert!(next.holds(Kind::Memory, 0x3000));
        // Room beyond the bound is not kept.
        let mut big = KVec::new();
        big.reserve(ROOM_KEPT_MAX + 1, GFP_KERNEL)?;
        assert_eq!(ActionList::with_storage(big).into_storage().capacity(), 0);
        Ok(())
    }

    #[test]
    fn changes_count_what_moves_not_what_is_read() -> Result {
        let mut l = ActionList::new();
        let c0 = l.changes();
        l.record(action(Kind::Memory, 0x1000, 64, 0))?;
        l.record(action(Kind::Memory, 0x2000, 32, 0))?;
        let c2 = l.changes();
        assert_eq!(c2, c0 + 2);
        // Reads and refused changes leave it as it was.
        assert!(l.holds(Kind::Memory, 0x1000));
        assert!(l.covers(Kind::Memory, 0x1000, 8));
        l.reserve_one()?;
        assert!(l.forget(Kind::Timer, 0x1000).is_none());
        assert!(!l.keep(Kind::Memory, 0x3000, 1));
        assert_eq!(l.changes(), c2);
        // A block taken and given back within one call is still a change: the count
        // never goes back, so a call that did both is not taken for one that did
        // nothing.
        l.record(action(Kind::Memory, 0x3000, 16, 0))?;
        assert!(l.forget(Kind::Memory, 0x3000).is_some());
        assert_eq!(l.changes(), c2 + 2);
        assert_eq!(l.len(), 2);
        assert!(l.keep(Kind::Memory, 0x1000, 1));
        assert_eq!(l.changes(), c2 + 3);
        assert!(l.take_role(Kind::Memory, 1).is_some());
        assert_eq!(l.changes(), c2 + 4);
        let taken = l.take();
        assert_eq!(l.changes(), c2 + 5);
        assert_eq!(taken.len(), 1);
        // The taken list goes on from there: put back, the count has not gone back.
        assert_eq!(taken.changes(), c2 + 5);
        Ok(())
    }

    #[test]
    fn forget_once() -> Result {
        let mut l = ActionList::new();
        l.record(action(Kind::Memory, 0x1000, 64, 0))?;
        l.record(action(Kind::Memory, 0x2000, 32, 0))?;
        assert_eq!(l.forget(Kind::Memory, 0x1000).map(|a| a.arg), Some(64));
        assert_eq!(l.memory(), 32);
        assert!(!l.holds(Kind::Memory, 0x1000));
        // A second release of the same handle (a double free) finds nothing.
        assert!(l.forget(Kind::Memory, 0x1000).is_none());
        // Another kind's release of a held address finds nothing either.
        assert!(l.forget(Kind::Timer, 0x2000).is_none());
        assert_eq!(l.len(), 1);
        assert_eq!(l.memory(), 32);
        Ok(())
    }

    #[test]
    fn forget_takes_the_newest() -> Result {
        // An address freed and handed out again is recorded twice while the first record
        // lives on (a driver that never released it): the release is the newest's.
        let mut l = ActionList::new();
        l.record(action(Kind::Memory, 0x1000, 64, 0))?;
        l.record(action(Kind::Memory, 0x1000, 16, 0))?;
        assert_eq!(l.get(Kind::Memory, 0x1000).map(|a| a.arg), Some(16));
        assert_eq!(l.forget(Kind::Memory, 0x1000).map(|a| a.arg), Some(16));
        assert_eq!(l.get(Kind::Memory, 0x1000).map(|a| a.arg), Some(64));
        assert_eq!(l.memory(), 64);
        Ok(())
    }

    #[test]
    fn covers_only_inside_one_resource() -> Result {
        let mut l = ActionList::new();
        l.record(action(Kind::DmaCoherent, 0x1000, 0x100, 0))?;
        l.record(action(Kind::DmaCoherent, 0x1100, 0x100, 0))?;
        l.record(action(Kind::Memory, usize::MAX - 8, 0x100, 0))?;
        assert!(l.covers(Kind::DmaCoherent, 0x1000, 0x100));
        assert!(l.covers(Kind::DmaCoherent, 0x10ff, 1));
        assert!(l.covers(Kind::DmaCoherent, 0x1100, 0x100));
        // Across the end, even into an adjacent buffer: not one resource.
        assert!(!l.covers(Kind::DmaCoherent, 0x10ff, 2));
        assert!(!l.covers(Kind::DmaCoherent, 0xfff, 1));
        assert!(!l.covers(Kind::DmaCoherent, 0x1200, 1));
        // Another kind, and ranges whose end overflows.
        assert!(!l.covers(Kind::Memory, 0x1000, 1));
        assert!(!l.covers(Kind::DmaCoherent, 0x1000, usize::MAX));
        assert!(!l.covers(Kind::Memory, usize::MAX - 4, 2));
        Ok(())
    }

    #[test]
    fn dependent_blocks_release() -> Result {
        let mut l = ActionList::new();
        let mem = action(Kind::Memory, 0x1000, 0x100, 0);
        let bar = action(Kind::Iomap, 0x8000, 0x1000, 0);
        l.record(mem)?;
        l.record(bar)?;
        assert!(l.dependent(&mem).is_none());
        assert!(l.dependent(&bar).is_none());
        // A streaming mapping of the memory's last bytes, then one just past it.
        l.record(action(Kind::DmaMapping, 0xa0, 0x10, 0x10f0))?;
        l.record(action(Kind::DmaMapping, 0xb0, 0x10, 0x1100))?;
        assert_eq!(l.dependent(&mem).map(|d| d.obj), Some(0xa0));
        assert!(l.forget(Kind::DmaMapping, 0xa0).is_some());
        assert!(l.dependent(&mem).is_none());
        // A recorded reset writes into the BAR mapping it names.
        l.record(action(Kind::Reset, 0xc0, 0, 0x9000))?;
        assert!(l.dependent(&bar).is_none());
        l.record(action(Kind::Reset, 0xd0, 0, 0x8000))?;
        assert_eq!(l.dependent(&bar).map(|d| d.obj), Some(0xd0));
        // Only memory, coherent buffers and BAR mappings have dependents.
        assert!(l.dependent(&action(Kind::Timer, 0x8000, 0, 0)).is_none());
        Ok(())
    }

    #[test]
    fn keep_marks_one_role_each() -> Result {
        let mut l = ActionList::new();
        l.record(action(Kind::DmaCoherent, 0x1000, 0x100, 0))?;
        l.record(action(Kind::DmaCoherent, 0x2000, 0x100, 0))?;
        l.record(action(Kind::Irq, 0x3000, 0, 0))?;
        assert!(l.keep(Kind::DmaCoherent, 0x1000, 1));
        // Kept already, a role taken, another kind's address, an address not held.
        assert!(!l.keep(Kind::DmaCoherent, 0x1000, 2));
        assert!(!l.keep(Kind::DmaCoherent, 0x2000, 1));
        assert!(!l.keep(Kind::Irq, 0x1000, 3));
        assert!(!l.keep(Kind::DmaCoherent, 0x4000, 3));
        // One role per kind: the same role for another kind is fine.
        assert!(l.keep(Kind::Irq, 0x3000, 1));
        Ok(())
    }

    #[test]
    fn kinds_index_in_order() -> Result {
        for (i, k) in Kind::ALL.iter().enumerate() {
            assert_eq!(k.index(), i);
        }
        let mut l = ActionList::new();
        l.record(action(Kind::Memory, 0x100, 64, 0))?;
        l.record(action(Kind::DmaCoherent, 0x1000, 0x100, 0))?;
        l.record(action(Kind::Memory, 0x200, 64, 0))?;
        l.record(action(Kind::Reset, 0x8010, 0, 0x8000))?;
        let counts = l.kind_counts();
        for k in Kind::ALL {
            assert_eq!(counts[k.index()], l.count(k));
        }
        assert_eq!(counts[Kind::Memory.index()], 2);
        Ok(())
    }

    #[test]
    fn warm_needs_every_dma_buffer_kept() -> Result {
        let mut l = ActionList::new();
        l.record(action(Kind::PciEnable, 0x10, 0, 0))?;
        l.record(action(Kind::Memory, 0x100, 64, 0))?;
        l.record(action(Kind::DmaCoherent, 0x1000, 0x100, 0))?;
        // Nothing kept: cold.
        assert!(!l.warm_ok(true));
        assert!(l.keep(Kind::PciEnable, 0x10, 0));
        // A coherent buffer the device may write is not kept: cold.
        assert!(!l.warm_ok(true));
        assert!(l.keep(Kind::DmaCoherent, 0x1000, 0));
        // Unkept memory the device cannot reach is given back: warm.
        assert!(l.warm_ok(false));
        // A mapping the device writes into: cold, whatever the class tracks.
        let mut from = action(Kind::DmaMapping, 0xa0, 0x10, 0x100);
        from.aux = crate::abi::DMA_FROM_DEVICE as usize;
        l.record(from)?;
        assert!(!l.warm_ok(true));
        assert!(l.forget(Kind::DmaMapping, 0xa0).is_some());
        // A mapping towards the device: warm only where the class settles what it lent.
        let mut to = action(Kind::DmaMapping, 0xb0, 0x10, 0);
        to.aux = crate::abi::DMA_TO_DEVICE as usize;
        l.record(to)?;
        assert!(!l.warm_ok(false));
        assert!(l.warm_ok(true));
        // Kept, it could be adopted and stay mapped while what it maps is completed and
        // freed: cold.
        assert!(l.keep(Kind::DmaMapping, 0xb0, 5));
        assert!(!l.warm_ok(true));
        assert!(l.forget(Kind::DmaMapping, 0xb0).is_some());
        l.record(to)?;
        assert!(l.warm_ok(true));
        // A mapping towards the device of the instance's own (unkept) memory: that
        // memory goes back with the instance while the device may read it: cold.
        let mut own = action(Kind::DmaMapping, 0xd0, 0x10, 0x130);
        own.aux = crate::abi::DMA_TO_DEVICE as usize;
        l.record(own)?;
        assert!(!l.warm_ok(true));
        assert!(l.forget(Kind::DmaMapping, 0xd0).is_some());
        let (kept, lent) = l.take_kept_and_lent()?;
        assert_eq!(kept.len(), 2);
        assert_eq!(lent.len(), 1);
        assert!(!l.holds(Kind::DmaMapping, 0xb0));
        // A recorded reset would reset the device anyway: cold; kept, it moves on with
        // the device.
        l.record(action(Kind::Iomap, 0x8000, 0x20, 0))?;
        l.record(action(Kind::Reset, 0x8010, 0, 0x8000))?;
        assert!(!l.warm_ok(true));
        assert!(l.keep(Kind::Reset, 0x8010, 3));
        // Not without the mapping it writes through, which would be undone first.
        assert!(!l.warm_ok(true));
        assert!(l.keep(Kind::Iomap, 0x8000, 3));
        assert!(l.warm_ok(true));
        Ok(())
    }

    #[test]
    fn warm_lends_block_request_mappings_either_way() -> Result {
        let mut l = ActionList::new();
        l.record(action(Kind::PciEnable, 0x10, 0, 0))?;
        assert!(l.keep(Kind::PciEnable, 0x10, 0));
        // A request's data the device writes into (a read): the block class holds the
        // request back until the adopter found the device done, whatever it says of
        // the NIC's kind of lent memory.
        let mut read = action(Kind::RqMapping, 0x5000, 3, 0);
        read.aux = crate::abi::DMA_FROM_DEVICE as usize;
        l.record(read)?;
        assert!(l.warm_ok(false));
        assert!(l.warm_ok(true));
        // Never kept (adopted, it would stay mapped past the request's end).
        assert!(l.keep(Kind::RqMapping, 0x5000, 1));
        assert!(!l.warm_ok(true));
        assert!(l.forget(Kind::RqMapping, 0x5000).is_some());
        l.record(read)?;
        let mut write = action(Kind::RqMapping, 0x6000, 1, 0);
        write.aux = crate::abi::DMA_TO_DEVICE as usize;
        l.record(write)?;
        assert!(l.warm_ok(true));
        // Both move to the lent set, the kept one to the kept set, nothing stays.
        let (kept, lent) = l.take_kept_and_lent()?;
        assert_eq!((kept.len(), lent.len(), l.len()), (1, 2, 0));
        assert!(lent.holds(Kind::RqMapping, 0x5000) && lent.holds(Kind::RqMapping, 0x6000));
        Ok(())
    }

    #[test]
    fn warm_checks_past_the_scan_and_moves_in_order() -> Result {
        let to_device = |obj: usize, on: usize| {
            let mut m = action(Kind::DmaMapping, obj, 0x10, on);
            m.aux = crate::abi::DMA_TO_DEVICE as usize;
            m
        };
        let mut l = ActionList::new();
        l.record(action(Kind::PciEnable, 0x10, 0, 0))?;
        assert!(l.keep(Kind::PciEnable, 0x10, 0));
        // More unkept blocks than the scan holds: a mapping into the last still counts.
        for k in 1..=UNKEPT_SCAN + 2 {
            l.record(action(Kind::Memory, 0x1000 * k, 64, 0))?;
        }
        // And one kept block, which moves with its size.
        l.record(action(Kind::Memory, 0x7000_0000, 32, 0))?;
        assert!(l.keep(Kind::Memory, 0x7000_0000, 5));
        l.record(to_device(0xb0, 0x1000 * (UNKEPT_SCAN + 2) + 8))?;
        assert!(!l.warm_ok(true));
        assert!(l.forget(Kind::DmaMapping, 0xb0).is_some());
        // Mappings of lent memory, interleaved with the instance's: moved out oldest
        // first, the rest left as it was.
        for k in 0..4 {
            l.record(to_device(0x100 + k, 0x9000_0000 + k * 0x100))?;
            l.record(action(Kind::Timer, 0x200 + k, 0, 0))?;
        }
        assert!(l.warm_ok(true));
        let memory = l.memory();
        let (kept, lent) = l.take_kept_and_lent()?;
        assert_eq!(kept.len(), 2);
        assert_eq!(kept.memory(), 32);
        let moved: KVec<usize> = {
            let mut v = KVec::new();
            for a in lent.actions.iter() {
                v.push(a.obj, GFP_KERNEL)?;
            }
            v
        };
        assert_eq!(&moved[..], &[0x100, 0x101, 0x102, 0x103]);
        assert_eq!(l.len(), UNKEPT_SCAN + 2 + 4);
        assert_eq!(l.memory(), memory - 32);
        assert!(l.holds(Kind::Timer, 0x203));
        Ok(())
    }

    #[test]
    fn take_kept_and_adopt_by_role() -> Result {
        let mut l = ActionList::new();
        l.record(action(Kind::PciEnable, 0x10, 0, 0))?;
        l.record(action(Kind::Memory, 0x100, 64, 0))?;
        l.record(action(Kind::DmaCoherent, 0x1000, 0x100, 0))?;
        l.record(action(Kind::DmaCoherent, 0x2000, 0x100, 0))?;
        assert!(l.keep(Kind::PciEnable, 0x10, 0));
        assert!(l.keep(Kind::DmaCoherent, 0x2000, 7));
        assert!(l.keep(Kind::DmaCoherent, 0x1000, 3));
        let (mut kept, lent) = l.take_kept_and_lent()?;
        assert_eq!(lent.len(), 0);
        assert_eq!(l.len(), 1);
        assert_eq!(l.memory(), 64);
        assert_eq!(kept.len(), 3);
        // Adopted by kind and role, once; a role or kind never kept finds nothing.
        let a = kept
            .take_role(Kind::DmaCoherent, 7)
            .map(|a| (a.obj, a.kept));
        assert_eq!(a, Some((0x2000, None)));
        assert!(kept.take_role(Kind::DmaCoherent, 7).is_none());
        assert!(kept.take_role(Kind::Irq, 0).is_none());
        assert!(kept.take_role(Kind::DmaCoherent, 0).is_none());
        assert_eq!(kept.len(), 2);
        Ok(())
    }

    #[test]
    fn undo_all_newest_first() -> Result {
        UNDONE_N.store(0, Ordering::Relaxed);
        let mut l = ActionList::new();
        for obj in 1..=3 {
            l.record(action(Kind::Work, obj, 0, 0))?;
        }
        let mut taken = l.take();
        assert_eq!(l.len(), 0);
        assert_eq!(taken.len(), 3);
        // SAFETY: no instance recorded these actions; their undo routine only logs.
        assert_eq!(unsafe { taken.undo_all() }, 3);
        assert_eq!(taken.len(), 0);
        assert_eq!(UNDONE_N.load(Ordering::Relaxed), 3);
        assert_eq!(UNDONE[0].load(Ordering::Relaxed), 3);
        assert_eq!(UNDONE[1].load(Ordering::Relaxed), 2);
        assert_eq!(UNDONE[2].load(Ordering::Relaxed), 1);
        Ok(())
    }

    #[test]
    fn undo_all_resets_first() -> Result {
        UNDONE_N.store(0, Ordering::Relaxed);
        let mut l = ActionList::new();
        // As an adopter may hold them: the reset taken back before the buffers.
        l.record(action(Kind::Iomap, 0x8000, 0x20, 0))?;
        l.record(action(Kind::Reset, 0x8010, 0, 0x8000))?;
        l.record(action(Kind::DmaCoherent, 0x1000, 0x100, 0))?;
        // SAFETY: no instance recorded these actions; their undo routine only logs.
        assert_eq!(unsafe { l.undo_all() }, 3);
        assert_eq!(UNDONE_N.load(Ordering::Relaxed), 3);
        assert_eq!(UNDONE[0].load(Ordering::Relaxed), 0x8010);
        assert_eq!(UNDONE[1].load(Ordering::Relaxed), 0x1000);
        assert_eq!(UNDONE[2].load(Ordering::Relaxed), 0x8000);
        Ok(())
    }

    #[test]
    fn undo_all_timed_by_kind() -> Result {
        UNDONE_N.store(0, Ordering::Relaxed);
        let mut l = ActionList::new();
        l.record(action(Kind::Iomap, 0x8000, 0x20, 0))?;
        l.record(action(Kind::Reset, 0x8010, 0, 0x8000))?;
        l.record(Action {
            undo: slow_undo,
            ..action(Kind::DmaCoherent, 0x1000, 0x100, 0)
        })?;
        l.record(action(Kind::DmaCoherent, 0x2000, 0x100, 0))?;
        // SAFETY: no instance recorded these actions; their undo routines only log (one
        // sleeps besides).
        let (n, slowest) = unsafe { l.undo_all_timed() };
        assert_eq!(n, 4);
        // The same order as untimed: the reset first, then newest first.
        assert_eq!(UNDONE_N.load(Ordering::Relaxed), 4);
        assert_eq!(UNDONE[0].load(Ordering::Relaxed), 0x8010);
        assert_eq!(UNDONE[1].load(Ordering::Relaxed), 0x2000);
        assert_eq!(UNDONE[2].load(Ordering::Relaxed), 0x1000);
        assert_eq!(UNDONE[3].load(Ordering::Relaxed), 0x8000);
        // The slowest kind is the one whose undo slept, with at least that time.
        assert!(matches!(slowest, Some((Kind::DmaCoherent, ns)) if ns >= 2_000_000));
        // SAFETY: the list is empty: nothing is undone.
        assert!(matches!(unsafe { l.undo_all_timed() }, (0, None)));
        Ok(())
    }
}
