// SPDX-License-Identifier: GPL-2.0

//! Admission: a call enters the current instance only while the device runs, and is
//! counted in flight by its [`Admitted`] guard until that drops; [`Device::quiesce`]
//! stops admitting and waits for the calls in flight to leave.

use super::{Class, Device};
use crate::abi::Instance;
use crate::instance::InstanceState;
use core::sync::atomic::Ordering;
use kernel::time::Delta;

/// An admitted call: keeps the instance alive until dropped.
pub(crate) struct Admitted<'a, C: Class> {
    dev: &'a Device<C>,
    /// The instance the call goes to.
    pub(crate) inst: &'a InstanceState,
    /// Its operation table: reached through [`Admitted::ops`], which ties it to this
    /// admission.
    ops: &'a C::Ops,
}

impl<C: Class> Admitted<'_, C> {
    /// The instance's operation table, valid while this admission lasts.
    pub(crate) fn ops(&self) -> &C::Ops {
        self.ops
    }

    /// The driver's handle of the instance.
    pub(crate) fn handle(&self) -> *mut Instance {
        self.inst.handle()
    }
}

impl<C: Class> Drop for Admitted<'_, C> {
    fn drop(&mut self) {
        self.dev.inflight.fetch_sub(1, Ordering::Release);
    }
}

impl<C: Class> Device<C> {
    /// Admits a call into the current instance, from any context.
    ///
    /// `SeqCst` on `inflight` and `running`, here and in [`Self::quiesce`]: each side
    /// stores one and then loads the other, so either this call sees `running` cleared
    /// or `quiesce` sees this call counted.
    ///
    /// `current` and `ops` are loaded only after `running` was seen set: loaded before,
    /// a caller that stalls between the loads could pair an instance a recovery freed
    /// meanwhile with the next instance's table.
    pub(crate) fn admit(&self) -> Option<Admitted<'_, C>> {
        self.inflight.fetch_add(1, Ordering::SeqCst);
        if !self.running.load(Ordering::SeqCst) {
            self.inflight.fetch_sub(1, Ordering::Release);
            return None;
        }
        let inst = self.current.load(Ordering::Acquire);
        crate::race::point(crate::race::ADMIT, self.owner_tag());
        let ops = self.ops.load(Ordering::Acquire);
        if inst.is_null() || ops.is_null() {
            self.inflight.fetch_sub(1, Ordering::Release);
            return None;
        }
        // SAFETY: `running` was seen set after we were counted in `inflight`, so no
        // `quiesce` has finished since: the instance and table published before it
        // was set stay alive, and together, until the `Admitted` drops.
        let (inst, ops) = unsafe { (&*inst, &*ops) };
        if inst.failed.load(Ordering::Acquire) {
            self.inflight.fetch_sub(1, Ordering::Release);
            return None;
        }
        Some(Admitted {
            dev: self,
            inst,
            ops,
        })
    }

    /// Stops admitting calls and waits for those in flight to leave.
    pub(super) fn quiesce(&self) {
        self.running.store(false, Ordering::SeqCst);
        while self.inflight.load(Ordering::SeqCst) != 0 {
            kernel::time::delay::fsleep(Delta::from_micros(100));
        }
    }
}
