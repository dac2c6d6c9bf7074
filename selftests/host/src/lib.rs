// SPDX-License-Identifier: GPL-2.0

//! Host unit tests: the kernel-free parts of ndriver compiled for the host.

// The kernel-free files carry items only the kernel side uses.
#![allow(dead_code)]

#[path = "../../../ndriver/detected.rs"]
pub mod detected;
#[path = "../../../ndriver/fault_class.rs"]
pub mod fault_class;
#[path = "../../../ndriver/inject_spec.rs"]
pub mod inject_spec;
#[path = "../../../ndriver/names.rs"]
pub mod names;
#[path = "../../../ndriver/pci_addr.rs"]
pub mod pci_addr;
#[path = "../../../ndriver/pci_ids.rs"]
pub mod pci_ids;
#[path = "../../../ndriver/policy.rs"]
pub mod policy;
#[path = "../../../ndriver/site_insn.rs"]
pub mod site_insn;
#[path = "../../../ndriver/timeout.rs"]
pub mod timeout;
#[path = "../../../ndriver/warm_spec.rs"]
pub mod warm_spec;

#[cfg(test)]
mod detected_tests;
#[cfg(test)]
mod inject_tests;
#[cfg(test)]
mod names_tests;
#[cfg(test)]
mod pci_addr_tests;
#[cfg(test)]
mod pci_ids_tests;
#[cfg(test)]
mod policy_tests;
#[cfg(test)]
mod site_insn_tests;
#[cfg(test)]
mod timeout_tests;
#[cfg(test)]
mod warm_spec_tests;
