// SPDX-License-Identifier: GPL-2.0

//! Exclusive ownership of PCI functions among ndriver's devices.
//!
//! ndriver does not bind its devices' functions as a `pci_driver` (an instance can be
//! replaced while the function stays put), so the driver core does not stop two of
//! them from driving one function. A device holds a [`PciClaim`] on the function it is
//! attached to; a second device asking for it is refused with the holder's name.

use kernel::bindings;
use kernel::prelude::*;

/// Most functions claimed at once (one per device).
const MAX_CLAIMS: usize = 16;

/// A claimed function: its `pci_dev` (only compared, never dereferenced) and the
/// name of the device holding it.
#[derive(Clone, Copy)]
struct Entry {
    pdev: usize,
    holder: &'static str,
}

kernel::sync::global_lock! {
    // SAFETY: `init` is called from the module's initialiser, before any device
    // exists to claim a function.
    unsafe(uninit) static CLAIMS: Mutex<[Option<Entry>; MAX_CLAIMS]> = [None; MAX_CLAIMS];
}

/// Makes the claim table usable.
///
/// # Safety
///
/// Called once, from the module's initialiser, before any [`claim`].
pub(crate) unsafe fn init() {
    // SAFETY: called once, by this function's contract.
    unsafe { CLAIMS.init() };
}

/// A device's hold on a PCI function; released when dropped.
///
/// # Invariants
///
/// The claim table has exactly one entry for `pdev`, made by [`claim`] for this
/// value.
pub(crate) struct PciClaim {
    pdev: usize,
}

/// Claims `pdev` for the device `holder`.
///
/// `Err(other)`: the device named `other` holds it.
pub(crate) fn claim(
    pdev: *mut bindings::pci_dev,
    holder: &'static str,
) -> core::result::Result<PciClaim, &'static str> {
    let key = pdev as usize;
    let mut table = CLAIMS.lock();
    if let Some(e) = table.iter().flatten().find(|e| e.pdev == key) {
        return Err(e.holder);
    }
    // Every device holds one claim at most and there are fewer devices than slots,
    // but a full table is refused rather than trusted.
    let Some(slot) = table.iter_mut().find(|e| e.is_none()) else {
        return Err("(no free claim slot)");
    };
    *slot = Some(Entry { pdev: key, holder });
    // INVARIANT: the entry for `key` was just added; there was none before.
    Ok(PciClaim { pdev: key })
}

impl Drop for PciClaim {
    fn drop(&mut self) {
        let mut table = CLAIMS.lock();
        for e in table.iter_mut() {
            if e.is_some_and(|e| e.pdev == self.pdev) {
                *e = None;
            }
        }
    }
}
