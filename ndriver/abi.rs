// SPDX-License-Identifier: GPL-2.0

//! The boundary between `ndriver.ko` and implementation modules.
//!
//! Modules share no Rust types, so both sides compile this one file in (`#[path]`) and
//! meet only through these `#[repr(C)]` layouts and the functions `ndriver.ko` exports
//! (declared in `wrappers/callouts_api.rs`). Bump [`ABI_VERSION`] on any layout change:
//! the core refuses descriptors of another version instead of misreading them.

// Both sides compile this file; each uses only its part.
#![allow(dead_code)]

use kernel::ffi::{c_char, c_int, c_void};

/// Layout version of everything in this file.
pub(crate) const ABI_VERSION: u32 = 3;

/// Static description of one implementation of a device class.
#[repr(C)]
pub(crate) struct ImplDesc {
    /// Must be [`ABI_VERSION`].
    pub(crate) abi_version: u32,
    /// NUL-terminated device class this implementation drives (e.g. `"testdev"`).
    pub(crate) class: *const c_char,
    /// NUL-terminated implementation name, unique within its class.
    pub(crate) name: *const c_char,
    /// The class's operation table (for `testdev`: a [`TestdevOps`]); NULL for a class
    /// without entry points (`hello`).
    pub(crate) ops: *const c_void,
}

// SAFETY: an `ImplDesc` is an immutable static whose pointers refer to immutable
// statics (string literals, an operation table); sharing it between threads is sound.
unsafe impl Sync for ImplDesc {}

/// The framework's handle on one running instance of an implementation. Opaque to
/// implementations: they pass it back to the callouts.
#[repr(C)]
pub(crate) struct Instance {
    _opaque: [u8; 0],
}

/// Entry points of the `testdev` class, the guarded test device that proves the guard
/// runtime. Every entry point is called through a guard. `probe` creates the driver's
/// state (memory from `ndriver_alloc`, recorded with `ndriver_set_priv`); `remove`
/// releases it on an orderly swap and is never called after a fault.
#[repr(C)]
pub(crate) struct TestdevOps {
    /// Starts the instance. Process context.
    pub(crate) probe: unsafe extern "C" fn(inst: *mut Instance) -> c_int,
    /// Sets configuration item `key` to `value`. Process context.
    pub(crate) configure: unsafe extern "C" fn(inst: *mut Instance, key: u32, value: u64) -> c_int,
    /// A request handled in process context; returns a result or a negative errno.
    pub(crate) op: unsafe extern "C" fn(inst: *mut Instance, arg: u64) -> i64,
    /// A request handled in softirq context (a soft hrtimer).
    pub(crate) tick: unsafe extern "C" fn(inst: *mut Instance, arg: u64) -> i64,
    /// A request handled in hardirq context (a hard hrtimer, as an interrupt handler).
    pub(crate) irq: unsafe extern "C" fn(inst: *mut Instance, arg: u64) -> i64,
    /// Stops the instance in an orderly way. Process context.
    pub(crate) remove: unsafe extern "C" fn(inst: *mut Instance),
    /// The device's interrupt handler (hardirq context; `arg` is the IRQ number), run
    /// when the instance took an IRQ with `ndriver_request_irq`. Returns 1 when the
    /// interrupt was the device's, 0 when not (a shared line), or a negative errno.
    pub(crate) devirq: unsafe extern "C" fn(inst: *mut Instance, arg: u64) -> i64,
    /// A timer of the instance expired (softirq context; `arg` is the timer's cookie).
    pub(crate) timer: unsafe extern "C" fn(inst: *mut Instance, arg: u64) -> i64,
    /// A work item of the instance runs (process context; `arg` is its cookie).
    pub(crate) work: unsafe extern "C" fn(inst: *mut Instance, arg: u64) -> i64,
}

/// Names of the `testdev` entry points, in the order of [`TestdevEntry`]; `inject` and
/// `stats` use them.
pub(crate) const TESTDEV_ENTRIES: [&str; 9] = [
    "probe",
    "configure",
    "op",
    "tick",
    "irq",
    "remove",
    "devirq",
    "timer",
    "work",
];

/// Index of a `testdev` entry point, as passed to `ndriver_fault_point`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum TestdevEntry {
    /// [`TestdevOps::probe`].
    Probe = 0,
    /// [`TestdevOps::configure`].
    Configure = 1,
    /// [`TestdevOps::op`].
    Op = 2,
    /// [`TestdevOps::tick`].
    Tick = 3,
    /// [`TestdevOps::irq`].
    Irq = 4,
    /// [`TestdevOps::remove`].
    Remove = 5,
    /// [`TestdevOps::devirq`].
    DevIrq = 6,
    /// [`TestdevOps::timer`].
    Timer = 7,
    /// [`TestdevOps::work`].
    Work = 8,
}

/// `dir` of `ndriver_dma_map`: the device reads the buffer.
pub(crate) const DMA_TO_DEVICE: u32 = 1;
/// `dir` of `ndriver_dma_map`: the device writes the buffer.
pub(crate) const DMA_FROM_DEVICE: u32 = 2;
