// SPDX-License-Identifier: GPL-2.0

//! Bottom halves (softirqs) held back on this CPU for a scope.
//!
//! A recovery restores a NIC's service from process context; the service itself (the
//! receive poll, the stack's transmit queue) runs in softirqs, which anything the
//! recovery does may raise. Held back, they run when the scope ends, as the new
//! instance's work, instead of inside a recovery phase or a `ksoftirqd` that preempts it.

use core::marker::PhantomData;

extern "C" {
    fn ndriver_local_bh_disable();
    fn ndriver_local_bh_enable();
}

/// Bottom halves disabled on this CPU until the value is dropped; then any softirq
/// raised meanwhile runs.
///
/// # Invariants
///
/// Made by [`BottomHalvesOff::new`], which disabled bottom halves once on the current CPU;
/// the value never leaves that CPU (it is neither `Send` nor `Sync`, and the task cannot
/// migrate while they are off).
pub(crate) struct BottomHalvesOff(PhantomData<*mut ()>);

impl BottomHalvesOff {
    /// Disables bottom halves on this CPU. The caller must not sleep until the value is
    /// dropped (the kernel's rule for code that runs with bottom halves off).
    pub(crate) fn new() -> Self {
        // SAFETY: any context may disable bottom halves; they stay off until the drop
        // below enables them once on the same CPU.
        unsafe { ndriver_local_bh_disable() };
        // INVARIANT: disabled once, just now, on this CPU.
        Self(PhantomData)
    }
}

impl Drop for BottomHalvesOff {
    fn drop(&mut self) {
        // SAFETY: `new` disabled them once on this CPU, and the value has not left it
        // (type invariant): this enable pairs with that disable.
        unsafe { ndriver_local_bh_enable() };
    }
}
