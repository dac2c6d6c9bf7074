// SPDX-License-Identifier: GPL-2.0

//! The implementation side of the module boundary: the functions `ndriver.ko` exports
//! (see `wrappers/callouts.rs` and `ndriver/registry.rs`). Compiled into each
//! implementation module with `#[path]`, next to `ndriver/abi.rs` (as `abi`).

// Each implementation uses only the calls it needs.
#![allow(dead_code)]

use crate::abi::{ImplDesc, Instance};
use kernel::ffi::{c_int, c_void};

unsafe extern "C" {
    /// Offers an implementation of module `owner` (its `struct module`); 0 or a
    /// negative errno.
    pub(crate) fn ndriver_register_impl(desc: *const ImplDesc, owner: *mut c_void) -> c_int;
    /// Withdraws it (the framework first swaps any device away from it).
    pub(crate) fn ndriver_unregister_impl(desc: *const ImplDesc);
    /// Zeroed memory recorded in the instance's undo list; NULL on failure.
    pub(crate) fn ndriver_alloc(inst: *mut Instance, size: usize, atomic: u32) -> *mut c_void;
    /// Frees memory from `ndriver_alloc`.
    pub(crate) fn ndriver_free(inst: *mut Instance, ptr: *mut c_void);
    /// Sets the instance's private data.
    pub(crate) fn ndriver_set_priv(inst: *mut Instance, data: *mut c_void);
    /// Gets the instance's private data.
    pub(crate) fn ndriver_get_priv(inst: *mut Instance) -> *mut c_void;
    /// The instance's generation.
    pub(crate) fn ndriver_generation(inst: *mut Instance) -> u64;
    /// A fault-injection site: the class to raise now, or 0.
    pub(crate) fn ndriver_fault_point(inst: *mut Instance, entry: u32) -> u32;
}
