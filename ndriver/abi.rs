// SPDX-License-Identifier: GPL-2.0

//! The boundary between `ndriver.ko` and implementation modules.
//!
//! Modules share no Rust types, so both sides compile this one file in (`#[path]`) and
//! meet only through these `#[repr(C)]` layouts and the functions `ndriver.ko` exports.
//! Bump [`ABI_VERSION`] on any layout change: the core refuses descriptors of another
//! version instead of misreading them.

use kernel::ffi::c_char;

/// Layout version of everything in this file.
pub(crate) const ABI_VERSION: u32 = 1;

/// Static description of one implementation of a device class.
#[repr(C)]
pub(crate) struct ImplDesc {
    /// Must be [`ABI_VERSION`].
    pub(crate) abi_version: u32,
    /// NUL-terminated device class this implementation drives (e.g. `"hello"`).
    pub(crate) class: *const c_char,
    /// NUL-terminated implementation name, unique within its class.
    pub(crate) name: *const c_char,
}

// SAFETY: an `ImplDesc` is an immutable static whose pointers refer to immutable,
// NUL-terminated string literals; sharing it between threads is sound.
unsafe impl Sync for ImplDesc {}
