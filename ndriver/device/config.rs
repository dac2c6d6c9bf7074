// SPDX-License-Identifier: GPL-2.0

//! Configuration: items set on the current instance through `configure`, and the log
//! of them that every new instance replays (`Device::instantiate`, `recovery.rs`).

use super::{Class, Device, MAX_ATTEMPTS};
use crate::detected::Detected;
use kernel::prelude::*;
use kernel::sync::Arc;
use kernel::time::Delta;

impl<C: Class> Device<C> {
    /// Sets configuration item `key` on the current instance and logs it for replay.
    /// `-EINVAL` from the driver refuses the value (not a failure); other failures are
    /// retried in place (hot, once, where the failure allows it) or recovered, and the
    /// item retried. `ENODEV`: no instance.
    pub(crate) fn configure(self: &Arc<Self>, key: u32, value: u64) -> Result {
        let entry = C::config_entry(key);
        let mut retried_hot = false;
        for _ in 0..MAX_ATTEMPTS {
            self.recover_pending();
            let mut ctl = self.ctl.lock();
            let gen = ctl.generation;
            let r = match self.admit() {
                None => {
                    if ctl.instance.is_none() || ctl.down {
                        return Err(ENODEV);
                    }
                    // Starting or recovering: retry after the pending recovery.
                    drop(ctl);
                    kernel::time::delay::fsleep(Delta::from_millis(1));
                    continue;
                }
                Some(a) => {
                    let h = a.handle();
                    let ops = a.ops();
                    // SAFETY: `h` is the live instance `ops` belongs to.
                    self.guarded_entry_hot(a.inst, entry, || unsafe {
                        C::configure(ops, h, key, value)
                    })
                }
            };
            match r {
                Ok(_) => {
                    match ctl.config.iter_mut().find(|(k, _)| *k == key) {
                        Some(item) => item.1 = value,
                        None => ctl.config.push((key, value), GFP_KERNEL)?,
                    }
                    return Ok(());
                }
                Err(fail)
                    if fail.detected == Detected::Error
                        && fail.errno == EINVAL.to_errno() as i64 =>
                {
                    // The driver refused the value: an answer, not a failure.
                    self.uncount_failure(entry, &fail);
                    return Err(EINVAL);
                }
                Err(fail) => {
                    drop(ctl);
                    if self.retry_hot(gen, entry, &fail, retried_hot).is_some() {
                        retried_hot = true;
                    } else {
                        self.recover(gen, entry, fail)?;
                    }
                }
            }
        }
        Err(EIO)
    }

    /// Logs configuration item `key` without calling the driver (a value the
    /// framework knows before any instance runs, e.g. a NIC's MAC address).
    pub(crate) fn log_config(&self, key: u32, value: u64) -> Result {
        let mut ctl = self.ctl.lock();
        match ctl.config.iter_mut().find(|(k, _)| *k == key) {
            Some(item) => item.1 = value,
            None => ctl.config.push((key, value), GFP_KERNEL)?,
        }
        Ok(())
    }
}
