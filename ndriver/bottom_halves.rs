// SPDX-License-Identifier: GPL-2.0

//! Bottom halves (softirqs) held back on this CPU for a scope.
//!
//! A recovery restores a NIC's service from process context; the service itself (the
//! receive poll, the stack's transmit queue) runs in softirqs, which what the recovery
//! does may raise. Held back, they run when the scope ends, as the new instance's work,
//! instead of inside a recovery phase or in a `ksoftirqd` that preempts it.

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
/// Made by [`BottomHalvesOff::new`], which disabled bottom halves once on the current
/// CPU, in task context. The value is not `Send`, so it is dropped by the task that made
/// it, which cannot migrate meanwhile (disabled bottom halves raise its preempt count).
pub(crate) struct BottomHalvesOff(PhantomData<*mut ()>);

impl BottomHalvesOff {
    /// Disables bottom halves on this CPU.
    ///
    /// # Safety
    ///
    /// Task context (not a hardirq, softirq or NMI handler). Until the value is dropped
    /// the caller does not sleep, and when it is dropped local interrupts are enabled
    /// (enabling bottom halves may run softirqs, which turn them on): no
    /// `local_interrupt_disable()` or irq-disabling lock guard taken after it outlives it.
    pub(crate) unsafe fn new() -> Self {
        // SAFETY: task context (this function's contract), where bottom halves may be
        // disabled; the drop below enables them once, on the same CPU.
        unsafe { ndriver_local_bh_disable() };
        // INVARIANT: disabled once, just now, on this CPU, in task context.
        Self(PhantomData)
    }
}

impl Drop for BottomHalvesOff {
    fn drop(&mut self) {
        // SAFETY: `new` disabled them once on this CPU in task context, and the value
        // has not left the task (type invariant); interrupts are on again (`new`'s
        // contract): this enable pairs with that disable.
        unsafe { ndriver_local_bh_enable() };
    }
}
