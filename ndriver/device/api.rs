// SPDX-License-Identifier: GPL-2.0

//! [`DeviceApi`]: a device as debugfs and the device set reach it without knowing its
//! class, and its implementation for every [`Device<C>`]: the registry's hooks,
//! shutdown, and the debugfs files (status, statistics, recoveries, injection, policy,
//! PCI attachment, `call`). Also the implementation of [`ServedDevice`], what the
//! callouts reach through an instance (defined with the instance, `instance.rs`).

use super::state::{func_id, Injection, Raised};
use super::{Class, Device};
use crate::abi::ImplDesc;
use crate::inject_spec::{Armed, SiteSpec};
use crate::instance::{Event, InstanceState, ServedDevice};
use crate::ksym::{self, KSYM_BUF};
use crate::pci_addr::Text;
use crate::pci_claim;
use crate::policy::Policy;
use crate::registry;
use crate::stats::{Cause, Phases, Record};
use crate::timeout::Bounds;
use crate::undo::action_list::{Action, Kind};
use core::any::Any;
use core::sync::atomic::{AtomicU64, Ordering};
use kernel::bindings;
use kernel::prelude::*;
use kernel::workqueue::Work;

/// A device as debugfs and the device set see it, whatever its class; what its
/// instances' callouts reach is [`ServedDevice`], which this extends.
pub(crate) trait DeviceApi: ServedDevice + Send + Sync {
    /// Name in debugfs and logs.
    fn name(&self) -> &'static str;
    /// The same, as a C string.
    fn cname(&self) -> &'static CStr;
    /// The tag its guarded calls carry (`guard::guarded_owner`): fault sites and traces
    /// armed on it see its calls only.
    fn owner_tag(&self) -> usize;
    /// Entry point names.
    fn entries(&self) -> &'static [&'static str];
    /// An implementation of the device's class registered.
    fn on_register(&self, desc: *const ImplDesc);
    /// An implementation of the device's class is being withdrawn.
    fn on_unregister(&self, desc: *const ImplDesc);
    /// Stops the device for good.
    fn shutdown(&self);
    /// Writes `status`.
    fn show_status(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result;
    /// Writes `stats`.
    fn show_stats(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result;
    /// Writes `recoveries`.
    fn show_recoveries(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result;
    /// Writes `reports`.
    fn show_reports(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result;
    /// Writes `inject`.
    fn show_inject(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result;
    /// Arms (or disarms) fault injection at an entry point; disarms any site.
    fn set_inject(&self, armed: Option<Armed>);
    /// Arms fault injection at an instruction of the serving implementation; disarms any
    /// entry-point request.
    fn set_site(&self, spec: &SiteSpec<'_>) -> Result;
    /// The text (start, length) of the serving implementation's module, if any.
    fn serving_text(&self) -> Option<(usize, usize)>;
    /// Orderly swap to `name` (or the next implementation).
    fn swap(&self, name: Option<&str>) -> Result;
    /// The policy and watchdog bounds.
    fn policy(&self) -> (Policy, Bounds);
    /// Sets the policy and watchdog bounds.
    fn set_policy(&self, p: Policy, b: Bounds);
    /// Writes the attached function's address (or `none`) and a newline.
    fn show_pci(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result;
    /// Attaches a PCI function (`None`: detaches).
    fn set_pci(&self, addr: Option<u64>) -> Result;
    /// Arms (or disarms) the test hook's damage of the next warm restart's kept set.
    fn set_warm_corrupt(&self, c: Option<crate::warm_spec::Corrupt>);
    /// The armed damage, if any.
    fn warm_corrupt(&self) -> Option<crate::warm_spec::Corrupt>;
    /// Whether the class has a `call` file.
    fn has_call(&self) -> bool;
    /// A write to the `call` file.
    fn call(&self, text: &str) -> Result<i64>;
}

// The kernel log takes `kernel::fmt::Display`; `pci_addr.rs` is kernel-free and
// implements only `core::fmt::Display`.
impl kernel::fmt::Display for Text {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Display::fmt(self, f)
    }
}

impl<C: Class> ServedDevice for Device<C> {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn class_name(&self) -> &'static str {
        C::NAME
    }

    fn event(&self, st: &InstanceState, ev: Event, arg: u64) -> Option<i64> {
        self.async_entry(st, ev, arg)
    }

    fn serves(&self, st: &InstanceState) -> bool {
        self.running.load(Ordering::SeqCst)
            && core::ptr::eq(self.current.load(Ordering::Acquire), st)
            && !st.failed.load(Ordering::Acquire)
    }

    fn fault_point(&self, entry: usize) -> u32 {
        if !self.inject_armed.load(Ordering::Acquire) {
            return 0;
        }
        let mut inj = self.inject.lock();
        let Some(mut armed) = inj.armed else {
            return 0;
        };
        let fired = armed.on_call(entry);
        inj.armed = if armed.spent() { None } else { Some(armed) };
        self.inject_armed
            .store(inj.armed.is_some(), Ordering::Release);
        let Some(class) = fired else {
            return 0;
        };
        inj.handed = Some((class, entry));
        self.counters.injected[class as usize].fetch_add(1, Ordering::Relaxed);
        self.counters.injected_total.fetch_add(1, Ordering::Relaxed);
        class as u32
    }

    fn fault_raising(&self, class: u32, at: usize) {
        let mut inj = self.inject.lock();
        let Some((c, entry)) = inj.handed else {
            return;
        };
        if c as u32 != class {
            return;
        }
        inj.handed = None;
        inj.raised = Some(Raised {
            class: c,
            entry,
            at,
            // Checked now: the module may be gone when `inject` is read.
            in_text: crate::guard::in_driver_text(at),
        });
    }

    fn step(&self, st: &InstanceState, name: usize, len: usize) {
        // Only the task making the timed call names its parts (`mark` checks), never a
        // serving instance.
        if self.serves(st) {
            return;
        }
        // A name that is not a constant of the module is not read, and the part not
        // named: the time goes to the next one.
        let _ = self
            .driver_steps
            .mark(st.generation, name, len, super::now_ns);
    }

    fn pci_dev(&self) -> *mut bindings::pci_dev {
        self.pci.load(Ordering::Acquire)
    }

    fn irq_name(&self) -> &'static CStr {
        self.irq_name
    }

    fn adopt(&self, st: &InstanceState, kind: Kind, role: u32) -> Option<Action> {
        self.adopt_kept(st, kind, role)
    }

    fn unadopt(&self, a: Action, role: u32) {
        self.return_kept(a, role)
    }

    fn kept_uses(&self, a: &Action) -> bool {
        Device::<C>::kept_uses(self, a)
    }
}

impl<C: Class> DeviceApi for Device<C> {
    fn name(&self) -> &'static str {
        self.name
    }

    fn owner_tag(&self) -> usize {
        Device::<C>::owner_tag(self)
    }

    fn cname(&self) -> &'static CStr {
        self.cname
    }

    fn entries(&self) -> &'static [&'static str] {
        C::ENTRIES
    }

    /// Binds to the new implementation if the device has none and the implementation
    /// drives the attached PCI function (if there is one).
    fn on_register(&self, desc: *const ImplDesc) {
        let mut ctl = self.ctl.lock();
        if ctl.instance.is_some() {
            return;
        }
        if let Some(f) = self.pci_func().filter(|f| !registry::drives(desc, Some(f))) {
            let mut buf = [0u8; 16];
            pr_info!(
                "{}: {} does not drive the attached {} ({}): left unbound\n",
                self.name,
                registry::name_of(desc).unwrap_or("?"),
                self.pci_text(&mut buf),
                f
            );
            return;
        }
        let mut p = Phases::default();
        let started = match self.instantiate(&mut ctl, desc, &mut p) {
            Ok(()) => Ok(()),
            Err(f) => self.restart(&mut ctl, f.detected, C::PROBE, &mut p),
        };
        if started.is_ok() {
            ctl.down = false;
            self.redirect(&ctl, &mut p);
        }
    }

    /// Moves off `desc` (to another implementation, if any).
    fn on_unregister(&self, desc: *const ImplDesc) {
        self.site.disarm_in(desc);
        let mut ctl = self.ctl.lock();
        if ctl.start_view.is_some_and(|(d, _)| core::ptr::eq(d, desc)) {
            ctl.start_view = None;
        }
        if !core::ptr::eq(ctl.desc, desc) {
            return;
        }
        let other = registry::impls_of(C::NAME, self.pci_func().as_ref())
            .iter()
            .copied()
            .find(|d| !core::ptr::eq(*d, desc))
            .unwrap_or(core::ptr::null());
        if self
            .swap_locked(&mut ctl, other, Some(Cause::Swap))
            .is_err()
        {
            pr_err!("{}: no implementation could take over\n", self.name);
        }
        if other.is_null() {
            ctl.desc = core::ptr::null();
        }
    }

    /// Undoes the current instance, waits for a queued recovery and lets go of the
    /// PCI function.
    fn shutdown(&self) {
        self.site.disarm();
        C::shutdown(self);
        self.leaving.store(true, Ordering::Release);
        {
            let mut ctl = self.ctl.lock();
            let _ = self.swap_locked(&mut ctl, core::ptr::null(), None);
        }
        self.cancel_rejuvenation();
        // SAFETY: `recovery_work` is a field of this live, pinned device.
        unsafe { bindings::flush_work(Work::raw_get(&self.recovery_work)) };
        self.pending.lock().take();
        self.put_pci(&mut self.ctl.lock(), core::ptr::null_mut(), 0, None);
    }

    fn show_status(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let ctl = self.ctl.lock();
        let state = if ctl.down {
            "down"
        } else if ctl.instance.is_none() {
            "unbound"
        } else if self.running.load(Ordering::Relaxed) {
            "running"
        } else {
            "recovering"
        };
        let name = ctl.instance.as_ref().map_or("-", |i| i.impl_name);
        writeln!(f, "device {}", self.name)?;
        writeln!(f, "class {}", C::NAME)?;
        writeln!(f, "state {}", state)?;
        writeln!(f, "implementation {}", name)?;
        writeln!(f, "generation {}", ctl.generation)?;
        write!(f, "pci ")?;
        self.show_pci(f)?;
        let held = ctl.instance.as_ref().map_or(0, |i| i.undo.lock().len());
        writeln!(f, "resources_held {}", held)?;
        if let Some(i) = ctl.instance.as_ref() {
            let list = i.undo.lock();
            write!(f, "resources")?;
            for k in Kind::ALL {
                write!(f, " {}={}", k.name(), list.count(k))?;
            }
            writeln!(f)?;
        }
        writeln!(f, "kept {}", self.kept_len())?;
        writeln!(f, "level {}", ctl.level.name())?;
        drop(ctl);
        for (e, name) in C::ENTRIES.iter().enumerate() {
            writeln!(f, "deadline_ns {} {}", name, self.deadline(e))?;
        }
        C::show_status(self, f)
    }

    fn show_stats(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.counters.show(f, C::ENTRIES)?;
        C::show_stats(self, f)
    }

    fn show_recoveries(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let ctl = self.ctl.lock();
        let mut recs: KVec<&Record> = KVec::new();
        for r in ctl.records.iter() {
            if recs.push(r, GFP_KERNEL).is_err() {
                break;
            }
        }
        recs.sort_unstable_by_key(|r| r.seq);
        for r in recs {
            crate::stats::show_record(f, r, C::ENTRIES)?;
        }
        Ok(())
    }

    fn show_reports(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.write_reports(f)
    }

    fn show_inject(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        if self.site.show(f)? {
            return Ok(());
        }
        let inj = *self.inject.lock();
        match inj.armed {
            None => writeln!(f, "off")?,
            Some(a) => writeln!(
                f,
                "class={} entry={} after={} times={} probability={} calls={} fired={}",
                a.spec.class.name(),
                C::ENTRIES[a.spec.entry],
                a.spec.after,
                a.spec.times,
                a.spec.probability,
                a.calls,
                a.fired
            )?,
        }
        let Some(r) = inj.raised else {
            return Ok(());
        };
        let mut buf = [0u8; KSYM_BUF];
        writeln!(
            f,
            "raised class={} entry={} in_text={} at={}",
            r.class.name(),
            C::ENTRIES.get(r.entry).copied().unwrap_or("?"),
            r.in_text as u32,
            ksym::symbol(r.at as u64, &mut buf)
        )
    }

    fn set_inject(&self, armed: Option<Armed>) {
        self.site.disarm();
        let mut inj = self.inject.lock();
        *inj = Injection {
            armed,
            ..Injection::NONE
        };
        self.inject_armed.store(armed.is_some(), Ordering::Release);
    }

    fn set_site(&self, spec: &SiteSpec<'_>) -> Result {
        {
            let mut inj = self.inject.lock();
            *inj = Injection::NONE;
            self.inject_armed.store(false, Ordering::Release);
        }
        let desc = self.ctl.lock().desc;
        let injected: *const AtomicU64 = &self.counters.injected[spec.class as usize];
        let total: *const AtomicU64 = &self.counters.injected_total;
        // SAFETY: `counters` is a field of this device declared after `site`, so it is
        // dropped after the slot; `shutdown` disarms the slot before that anyway.
        unsafe {
            self.site
                .arm(self.name, self.owner_tag(), spec, desc, injected, total)
        }
    }

    fn serving_text(&self) -> Option<(usize, usize)> {
        crate::registry::text_of(self.ctl.lock().desc)
    }

    fn swap(&self, name: Option<&str>) -> Result {
        self.swap_to(name)
    }

    fn policy(&self) -> (Policy, Bounds) {
        (self.ctl.lock().policy, self.bounds())
    }

    fn set_policy(&self, p: Policy, b: Bounds) {
        let mut ctl = self.ctl.lock();
        let period_changed = ctl.policy.rejuvenate_ms != p.rejuvenate_ms;
        ctl.policy = p;
        ctl.ladder.reset();
        self.guard_ns.store(b.guard_ns, Ordering::Relaxed);
        self.bypass.store(!p.guard, Ordering::Relaxed);
        self.contain_kernel_bug
            .store(p.kernel_bug, Ordering::Relaxed);
        self.floor_ns.store(b.floor_ns, Ordering::Relaxed);
        self.ceiling_ns.store(b.ceiling_ns, Ordering::Relaxed);
        drop(ctl);
        if period_changed {
            // The new period counts from now (outside `ctl`: a running rejuvenation
            // takes it, and cancelling waits for that).
            self.cancel_rejuvenation();
            self.arc().arm_rejuvenation(p.rejuvenate_ms);
        }
    }

    fn show_pci(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        if self.pci_dev().is_null() {
            return writeln!(f, "none");
        }
        writeln!(f, "{}", Text(self.pci_addr.load(Ordering::Relaxed)))
    }

    /// Attaches the PCI function at `addr` (domain << 16 | bus << 8 | devfn; `None`
    /// detaches): the current instance is removed and a fresh one probes with the new
    /// function, of the same implementation if it drives the function, else of the
    /// first registered one that does. `ENODEV`: no such function; `ENXIO`: no
    /// registered implementation of the class drives it (its IDs are in none of their
    /// tables); `EBUSY`: a kernel driver is bound to it, or another device of
    /// ndriver's is attached to it. A refusal changes nothing.
    fn set_pci(&self, addr: Option<u64>) -> Result {
        let new = match addr {
            None => core::ptr::null_mut(),
            Some(a) => {
                // SAFETY: a lookup; it returns a referenced function or NULL.
                let p = unsafe {
                    bindings::pci_get_domain_bus_and_slot(
                        (a >> 16) as i32,
                        ((a >> 8) & 0xff) as u32,
                        (a & 0xff) as u32,
                    )
                };
                if p.is_null() {
                    return Err(ENODEV);
                }
                p
            }
        };
        let refuse = |e: Error| {
            if !new.is_null() {
                // SAFETY: drops the lookup's reference.
                unsafe { bindings::pci_dev_put(new) };
            }
            Err(e)
        };
        // Under `ctl`, which implementations coming and going take too: the
        // candidates stay what they are until the swap.
        let mut ctl = self.ctl.lock();
        // SAFETY: `new` is referenced (from the lookup).
        let func = (!new.is_null()).then(|| unsafe { func_id(new) });
        let impls = registry::impls_of(C::NAME, func.as_ref());
        if let (Some(f), Some(a)) = (func, addr) {
            // Checked before the driver: unbinding one would not help.
            if impls.is_empty() {
                // Formatted here: `printk` runs `Display` with interrupts off.
                let mut buf = [0u8; 256];
                let driven = registry::driven_by(C::NAME, &mut buf);
                pr_warn!(
                    "{}: {} ({}) is not driven by any {} implementation ({})\n",
                    self.name,
                    Text(a),
                    f,
                    C::NAME,
                    driven
                );
                return refuse(ENXIO);
            }
            // SAFETY: `new` is referenced; reading its driver pointer is a snapshot.
            if !unsafe { (*new).driver }.is_null() {
                pr_warn!(
                    "{}: {} is bound to a kernel driver; unbind it first\n",
                    self.name,
                    Text(a)
                );
                return refuse(EBUSY);
            }
        }
        // Another device of ndriver's driving the function is as bad as a kernel
        // driver bound to it. Attaching the same function again keeps this device's
        // hold.
        let same = !new.is_null() && new == self.pci_dev();
        let claim = if new.is_null() || same {
            None
        } else {
            match pci_claim::claim(new, self.name) {
                Ok(c) => Some(c),
                Err(holder) => {
                    pr_warn!(
                        "{}: {} is attached to {}; detach it there first\n",
                        self.name,
                        Text(addr.unwrap_or(0)),
                        holder
                    );
                    return refuse(EBUSY);
                }
            }
        };
        let target = if registry::drives(ctl.desc, func.as_ref()) {
            ctl.desc
        } else {
            impls.first().copied().unwrap_or(core::ptr::null())
        };
        if let Err(e) = self.swap_locked(&mut ctl, core::ptr::null(), None) {
            return refuse(e);
        }
        let claim = if same { ctl.claim.take() } else { claim };
        self.put_pci(&mut ctl, new, addr.unwrap_or(0), claim);
        if target.is_null() {
            return Ok(());
        }
        self.swap_locked(&mut ctl, target, None)
    }

    fn set_warm_corrupt(&self, c: Option<crate::warm_spec::Corrupt>) {
        self.set_corrupt(c);
    }

    fn warm_corrupt(&self) -> Option<crate::warm_spec::Corrupt> {
        self.corrupt()
    }

    fn has_call(&self) -> bool {
        C::HAS_CALL
    }

    fn call(&self, text: &str) -> Result<i64> {
        C::call(&self.arc(), text)
    }
}
