// SPDX-License-Identifier: GPL-2.0

//! Warm restart: the resources a failed instance asked to survive it (`ndriver_keep`)
//! are kept by its device, with the device left running, until the next instance of the
//! same implementation adopts them (`ndriver_adopt`) or a cold restart gives them back
//! ([`Device::drop_kept`]). `Documentation/design.rst`, "Warm restart", says why the
//! device may run on meanwhile.

use super::class::ops_of;
use super::state::Ctl;
use super::{Class, Device};
use crate::abi::ImplDesc;
use crate::instance::{InstanceState, ServedDevice};
use crate::slowest_step::SlowestStep;
use crate::undo::action_list::{Action, ActionList, Kind};
use crate::warm_spec::Corrupt;
use crate::wrappers::callouts_device;
use core::sync::atomic::Ordering;
use kernel::bindings;
use kernel::ffi::c_void;
use kernel::prelude::*;

/// The resources a dead instance kept, waiting for the next instance of its
/// implementation.
///
/// # Invariants
///
/// `list` holds only actions whose instance is gone and whose `Irq` handlers reach no
/// instance (`callouts_device::keep_irq`), or, during an adoption, the ones not adopted
/// yet; when `list` is not empty, `desc` is the implementation that kept them and the
/// device's PCI function is the one they belong to (it is detached only with an empty
/// kept set: detaching undoes it first, under `ctl`).
///
/// Lock order: an instance's undo list before the kept set (`ndriver_adopt` moves an
/// action from one to the other under both).
pub(crate) struct Kept {
    /// The implementation whose instance kept `list` (NULL once given back). Only
    /// compared, never followed, and only while `list` is not empty: a set its adopter
    /// emptied keeps the old value until the next warm discard or `drop_kept`.
    pub(super) desc: *const ImplDesc,
    /// The generation of that instance.
    pub(super) generation: u64,
    /// The kept actions, oldest first.
    pub(super) list: ActionList,
    /// The dead instance's mappings of memory the class lent it: streaming mappings
    /// towards the device of memory it settles ([`Class::adopted`]), and block
    /// requests' pages it issues again only after this is undone: undone after the
    /// adoption, or after DMA is stopped and the device reset.
    pub(super) lent: ActionList,
}

// SAFETY: `desc` is only compared, never followed (a registered descriptor while the
// set is not empty: it is withdrawn only after the device moved off it, which drops the
// kept set); the actions are owned values whose undo may run on any CPU in process
// context.
unsafe impl Send for Kept {}

// The kernel log takes `kernel::fmt::Display`; `warm_spec.rs` is kernel-free and
// implements only `core::fmt::Display`.
impl kernel::fmt::Display for Corrupt {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Display::fmt(self, f)
    }
}

impl Kept {
    /// An empty kept set.
    pub(crate) const fn new() -> Self {
        Self {
            desc: core::ptr::null(),
            generation: 0,
            list: ActionList::new(),
            lent: ActionList::new(),
        }
    }
}

impl<C: Class> Device<C> {
    /// Whether a failure of `entry` in the current instance may be recovered warm: the
    /// policy allows it, the device is not going away, the instance's implementation
    /// can adopt, the class allows it for this entry point and what the instance holds
    /// now, and the instance holds nothing the device may reach that it did not keep
    /// (checked again in [`Device::split_kept`]). `None` for no, else what the class
    /// said ([`Class::warm_ok`]). Process context, under `ctl`, after quiesce.
    pub(super) fn warm_allowed(&self, ctl: &Ctl, entry: usize) -> Option<bool> {
        // A class without `adopt` never restarts warm.
        if C::ADOPT.is_none() {
            return None;
        }
        let inst = ctl.instance.as_ref()?;
        if !ctl.policy.warm || self.leaving.load(Ordering::Acquire) {
            return None;
        }
        // SAFETY: `inst.desc` is registered under this class while the instance runs
        // (withdrawal swaps away first, under `ctl`, which we hold).
        let ops = unsafe { ops_of::<C>(inst.desc) }?;
        if !C::has_adopt(ops) {
            return None;
        }
        let lent = C::warm_ok(self, inst, entry)?;
        inst.undo.lock().warm_ok(lent).then_some(lent)
    }

    /// Moves the actions instance `st` kept out of its undo list, and its mappings of
    /// memory the class lent it (streaming mappings towards the device, only with
    /// `lent_tracked`, and block requests' data), which stay mapped until the adopter
    /// found the device done and the class settled what it lent
    /// ([`Device::finish_adoption`]); the rest stays there. Only if what it holds allows a warm restart and the kept set is empty;
    /// `None` (nothing moved) otherwise. Process context; `st` no longer runs.
    pub(super) fn split_kept(
        &self,
        st: &InstanceState,
        lent_tracked: bool,
    ) -> Option<(ActionList, ActionList)> {
        {
            let k = self.kept.lock();
            if k.list.len() != 0 || k.lent.len() != 0 {
                return None;
            }
        }
        let mut list = st.undo.lock().take();
        // All or nothing (room for both made first): on failure the list is as it was,
        // nothing dropped, and the restart is cold.
        let split = if list.warm_ok(lent_tracked) {
            list.take_kept_and_lent().ok()
        } else {
            None
        };
        // The lock's list is empty (the instance no longer runs): put the rest back.
        *st.undo.lock() = list;
        split
    }

    /// Makes `kept` and `lent`, split off the dead instance `st`, the device's kept set:
    /// its interrupt handlers stop reaching `st` (which is freed next) and wait for an
    /// adopter. Process context, under `ctl`.
    pub(super) fn store_kept(&self, st: &InstanceState, kept: ActionList, lent: ActionList) {
        for a in kept.of_kind(Kind::Irq) {
            // SAFETY: `a` is a live `Irq` action just taken out of `st`'s list; `st` no
            // longer runs and is freed only after this returns.
            unsafe { callouts_device::keep_irq(a) };
        }
        let mut k = self.kept.lock();
        // INVARIANT: `st` is gone from here on and its handlers reach nothing; `desc` is
        // its implementation.
        k.desc = st.desc;
        k.generation = st.generation;
        k.list = kept;
        k.lent = lent;
        drop(k);
        let c = self.corrupt.lock().take();
        if let Some(c) = c {
            self.apply_corrupt(c);
        }
    }

    /// Applies the test hook's damage `c` (`warm_spec.rs`) to the kept set, inside what
    /// it holds; a role, offset or register outside it is ignored (and logged).
    fn apply_corrupt(&self, c: Corrupt) {
        let k = self.kept.lock();
        let done = match c {
            Corrupt::Swap { role, a, b } => k
                .list
                .kept_role(Kind::DmaCoherent, role)
                .filter(|x| a.max(b).checked_add(8).is_some_and(|end| end <= x.arg))
                .map(|x| {
                    let (pa, pb) = ((x.obj + a) as *mut u64, (x.obj + b) as *mut u64);
                    // SAFETY: both words lie inside the kept coherent buffer (checked),
                    // which is page aligned, so 8-byte aligned at these offsets (checked
                    // multiples of 8 by the parser); volatile, as the device shares it.
                    unsafe {
                        let (va, vb) = (pa.read_volatile(), pb.read_volatile());
                        pa.write_volatile(vb);
                        pb.write_volatile(va);
                    }
                })
                .is_some(),
            Corrupt::Reg { role, off, mask } => k
                .list
                .kept_role(Kind::Iomap, role)
                .filter(|x| {
                    // SAFETY: `ctx` is the attached function, `arg` a BAR number it
                    // mapped (recorded by `ndriver_pci_iomap`).
                    let len = unsafe {
                        bindings::pci_resource_len(x.ctx as *mut bindings::pci_dev, x.arg as i32)
                    };
                    off.checked_add(4).is_some_and(|end| end as u64 <= len)
                })
                .map(|x| {
                    let p = (x.obj + off) as *mut c_void;
                    // SAFETY: a register inside the kept BAR mapped by `pci_iomap`
                    // (checked), 4-byte aligned (checked by the parser); `ioread32` and
                    // `iowrite32` take its cookie whether the BAR is memory or I/O ports.
                    unsafe { bindings::iowrite32(bindings::ioread32(p) ^ mask, p) };
                })
                .is_some(),
        };
        if done {
            pr_info!(
                "{}: warm_corrupt: {} applied to the kept set\n",
                self.name,
                c
            );
        } else {
            pr_warn!(
                "{}: warm_corrupt: {} is outside the kept set: ignored\n",
                self.name,
                c
            );
        }
    }

    /// Arms (or, `None`, disarms) the test hook's damage for the next warm restart.
    pub(crate) fn set_corrupt(&self, c: Option<Corrupt>) {
        *self.corrupt.lock() = c;
    }

    /// The armed damage, if any.
    pub(crate) fn corrupt(&self) -> Option<Corrupt> {
        *self.corrupt.lock()
    }

    /// Instance `st` adopted the whole kept set: the class settles what the dead
    /// instance was lent ([`Class::adopted`], step `settle_lent`), then the dead
    /// instance's mappings of lent memory are undone (the adopter found the device done
    /// with them; `unmap_lent`), each timed into `steps`; what was sent
    /// is freed once the adopter serves ([`Class::tidy`]). Process context, under
    /// `ctl`.
    pub(super) fn finish_adoption(&self, st: &InstanceState, steps: &mut SlowestStep) {
        steps.time("settle_lent", || C::adopted(self, st));
        let n = steps.time("unmap_lent", || {
            let mut lent = self.kept.lock().lent.take();
            // SAFETY: the instance that recorded the mappings is gone; the class settled
            // the memory behind them and the adopter found the device done with it.
            unsafe { lent.undo_all() }
        });
        self.counters.undone.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Whether the kept set is not empty and was kept by an instance of `desc`.
    pub(super) fn kept_by(&self, desc: *const ImplDesc) -> bool {
        let k = self.kept.lock();
        k.list.len() != 0 && core::ptr::eq(k.desc, desc)
    }

    /// Whether the kept set holds nothing, neither kept actions nor lent mappings.
    pub(super) fn kept_empty(&self) -> bool {
        let k = self.kept.lock();
        k.list.len() == 0 && k.lent.len() == 0
    }

    /// Resources in the kept set.
    pub(crate) fn kept_len(&self) -> usize {
        self.kept.lock().list.len()
    }

    /// A failed adoption, restarted cold: performs the device resets the kept set and
    /// the failed `adopter`'s list hold, then frees the kept set's interrupt lines, in
    /// place. Before the adopter's list gives back the mapping such a reset writes
    /// through or disables the PCI function a line's MSI-X vector belongs to, either of
    /// which the adopter may have taken already. Returns how many. Process context,
    /// under `ctl`, DMA stopped, no instance running.
    pub(super) fn undo_kept_resets_and_irqs(&self, adopter: &mut ActionList) -> usize {
        // Out of the lock: undo routines sleep (`free_irq`). Nothing else reaches the
        // kept set meanwhile (`ctl` is held and no instance runs).
        let mut kept = self.kept.lock().list.take();
        // The instances that recorded these actions are dead: the adopter failed, the
        // one that kept them before it. Resets before lines, both before anything they
        // depend on goes.
        // SAFETY: dead instance; the kept mappings the resets write through are held.
        let mut n = unsafe { kept.undo_resets_now() };
        // SAFETY: dead instance; the mappings its resets write through are in its list.
        n += unsafe { adopter.undo_resets_now() };
        // SAFETY: dead instance; the device is reset, its function still referenced.
        n += unsafe { kept.undo_irqs_now() };
        let mut k = self.kept.lock();
        if k.list.len() == 0 {
            k.list = kept;
            return n;
        }
        drop(k);
        // Cannot happen (see above); rather than lose them, the rest goes now (the
        // device is reset and its DMA stopped).
        // SAFETY: as for the resets and lines above: dead instances, reset device.
        n + unsafe { kept.undo_all() }
    }

    /// Stops the device's DMA (bus mastering off): before memory it may reach goes
    /// back.
    pub(super) fn stop_dma(&self) {
        let p = self.pci_dev();
        if !p.is_null() {
            // SAFETY: `p` is the attached function, referenced until detached (which
            // happens only with no instance and an empty kept set).
            unsafe { bindings::pci_clear_master(p) };
        }
    }

    /// Gives the kept set back (a cold restart, a swap, a detach, an unload, a device
    /// given up): DMA stopped first, then the kept resets, the lent mappings and the
    /// other actions undone newest first. Returns how
    /// many. Process context, under `ctl`, with no instance running.
    pub(super) fn drop_kept(&self) -> usize {
        let (mut list, mut lent) = {
            let mut k = self.kept.lock();
            k.desc = core::ptr::null();
            (k.list.take(), k.lent.take())
        };
        if list.len() == 0 && lent.len() == 0 {
            return 0;
        }
        self.stop_dma();
        // Put back for the class to read (its rings), then taken again.
        {
            let mut k = self.kept.lock();
            k.list = list;
            k.lent = lent;
        }
        C::dropping_kept(self);
        {
            let mut k = self.kept.lock();
            list = k.list.take();
            lent = k.lent.take();
        }
        // The recorded resets first: a device may still finish what it took before bus
        // mastering went off (QEMU maps a chain's memory when it takes the chain), and
        // the lent mappings (a block request's pages the device writes into) may go
        // only once it has stopped.
        // SAFETY: the instance that recorded the actions is gone; no handler reaches it;
        // DMA is stopped; the resets run before what they protect.
        let n = unsafe { list.undo_resets_now() + lent.undo_all() + list.undo_all() };
        self.counters.undone.fetch_add(n as u64, Ordering::Relaxed);
        n
    }

    /// Puts action `a`, taken out of the kept set by [`Device::adopt_kept`] as `role`
    /// and not recorded by the adopter after all, back: its interrupt handler (an `Irq`)
    /// reaches no instance again, and the adoption fails for the resource left
    /// unadopted (the kept set is given back with DMA stopped). In the adopter's `adopt`,
    /// which may hold a lock of its own: nothing here sleeps.
    pub(crate) fn return_kept(&self, mut a: Action, role: u32) {
        if a.kind == Kind::Irq {
            // SAFETY: `a` is a live `Irq` action taken out of this device's kept set for
            // the adopter, which runs this; the adoption fails for it, so the kept set is
            // undone (its `free_irq` first) before the adopter is freed.
            unsafe { callouts_device::detach_irq(&a) };
        }
        a.kept = Some(role);
        let mut k = self.kept.lock();
        // Where it was taken from, so within capacity: does not allocate.
        if k.list.record(a).is_err() {
            drop(k);
            pr_err!(
                "{}: no room to put a kept {} back: leaked\n",
                self.name,
                a.kind.name()
            );
        }
    }

    /// Whether `[start, start + len)` lies inside one coherent buffer of the kept set.
    pub(crate) fn kept_covers(&self, start: usize, len: usize) -> bool {
        self.kept.lock().list.covers(Kind::DmaCoherent, start, len)
    }

    /// Whether something of the kept set still uses `a` (a reset the previous instance
    /// kept writes into the BAR mapping `a`, which the adopter took back).
    pub(crate) fn kept_uses(&self, a: &Action) -> bool {
        self.kept.lock().list.dependent(a).is_some()
    }

    /// The kept action of `kind` with `role`, taken out of the kept set for instance
    /// `st`, which is starting (not serving yet) as an instance of the implementation
    /// that kept it; its interrupt handler (for an `Irq`) reaches `st` from now on. The
    /// caller records it in `st`'s undo list. `None` for anything else.
    pub(crate) fn adopt_kept(&self, st: &InstanceState, kind: Kind, role: u32) -> Option<Action> {
        if self.running.load(Ordering::Acquire)
            || !core::ptr::eq(self.current.load(Ordering::Acquire), st)
        {
            return None;
        }
        let a = {
            let mut k = self.kept.lock();
            if !core::ptr::eq(k.desc, st.desc) {
                return None;
            }
            k.list.take_role(kind, role)?
        };
        if kind == Kind::Irq {
            // SAFETY: `a` is a live `Irq` action of this device's kept set; the caller
            // records it in `st`'s list or undoes it.
            unsafe { callouts_device::adopt_irq(&a, st) };
        }
        Some(a)
    }
}
