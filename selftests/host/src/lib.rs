// SPDX-License-Identifier: GPL-2.0

//! Host unit tests: the kernel-free parts of ndriver compiled for the host.

#[path = "../../../ndriver/names.rs"]
pub mod names;

#[cfg(test)]
mod names_tests;
