// SPDX-License-Identifier: GPL-2.0

//! Device callouts: the PCI function, its BARs, its interrupt line and DMA, each
//! recorded in the calling instance's undo action list.
//!
//! The device is the PCI function attached to the instance's placeholder (for
//! `testdev`, the `pci` debugfs file); the driver never sees the `struct pci_dev`. The
//! kernel crate's `pci`, `irq` and `dma` types tie each resource's lifetime to a bound
//! driver through devres, which is the opposite of what ndriver needs (a resource
//! outlives the instance that took it until recovery gives it back), so this module is
//! the one small layer over the raw calls.
//!
//! Each concept is a part of this module, compiled in below with `#[path]`:
//!
//! - `callouts_pci.rs`: enabling and disabling the function;
//! - `callouts_bar.rs`: its BARs, claimed and mapped;
//! - `callouts_config.rs`: reads of its configuration space;
//! - `callouts_irq.rs`: its interrupt line, and the masking of its INTx while the
//!   instance cannot take interrupts;
//! - `callouts_dma.rs`: coherent DMA buffers and streaming mappings.
//!
//! This file holds what they share: how a callout finds the instance's PCI function.

use crate::abi;
use crate::instance::{InstanceState, ServedDevice};
use kernel::bindings;

#[path = "callouts_bar.rs"]
pub(super) mod bar;
#[path = "callouts_config.rs"]
pub(super) mod config;
#[path = "callouts_dma.rs"]
pub(super) mod dma;
#[path = "callouts_irq.rs"]
pub(super) mod irq;
#[path = "callouts_pci.rs"]
pub(super) mod pci;

pub(crate) use dma::dma_dev;
pub(crate) use irq::{adopt_irq, detach_irq, keep_irq, unmask_irqs};

/// The placeholder an instance serves.
fn device_of(st: &InstanceState) -> &dyn ServedDevice {
    st.device()
}

/// The instance behind `inst` and its device's PCI function, if `inst` is a live
/// instance's handle and a function is attached.
fn pci_of<'a>(inst: *mut abi::Instance) -> Option<(&'a InstanceState, *mut bindings::pci_dev)> {
    // SAFETY: a callout's caller is the instance's code, which outlives the call.
    let st = unsafe { InstanceState::from_handle(inst) }?;
    let p = device_of(st).pci_dev();
    (!p.is_null()).then_some((st, p))
}
