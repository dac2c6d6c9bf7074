// SPDX-License-Identifier: GPL-2.0

//! The implementation side of the module boundary: the functions `ndriver.ko` exports
//! (see `wrappers/callouts.rs` and `ndriver/registry.rs`), and [`free_slot`], the end of
//! the instance's private data that every class glue shares. Compiled into each
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
    /// An entry point's fault-injection point (called by the class glue at the top of
    /// each entry function): the class to raise now, or 0.
    pub(crate) fn ndriver_fault_point(inst: *mut Instance, entry: u32) -> u32;
    /// The code about to raise `class` (what `ndriver_fault_point` handed out) runs at
    /// `at`: recorded as the fault's own evidence.
    pub(crate) fn ndriver_fault_raising(inst: *mut Instance, class: u32, at: usize);
    /// The driver ended the part of its `probe` or `adopt` call named by the `len` bytes
    /// at `name` (timed for the recovery's slowest step).
    pub(crate) fn ndriver_step(inst: *mut Instance, name: *const u8, len: usize);
    /// One spin of a wait for a driver lock: ends the waiting guarded call if overdue.
    pub(crate) fn ndriver_lock_wait();
    /// A driver lock taken (1) or about to be released (-1) on this CPU.
    pub(crate) fn ndriver_lock_held(delta: c_int);

    /// 1 if the device has a PCI function the instance may drive, else 0.
    pub(crate) fn ndriver_pci_present(inst: *mut Instance) -> u32;
    /// Enables the PCI function (bus mastering, INTx); 0 or a negative errno.
    pub(crate) fn ndriver_pci_enable(inst: *mut Instance) -> c_int;
    /// The same without bus mastering; 0 or a negative errno.
    pub(crate) fn ndriver_pci_enable_quiet(inst: *mut Instance) -> c_int;
    /// Turns bus mastering on (after `ndriver_pci_enable_quiet`).
    pub(crate) fn ndriver_pci_set_master(inst: *mut Instance);
    /// Turns bus mastering off.
    pub(crate) fn ndriver_pci_clear_master(inst: *mut Instance);
    /// Disables it again.
    pub(crate) fn ndriver_pci_disable(inst: *mut Instance);
    /// The length of a BAR (what `ndriver_pci_iomap` maps); 0 for none, or (`mem_only`
    /// non-zero) for one that is not memory.
    pub(crate) fn ndriver_pci_bar_len(inst: *mut Instance, bar: u32, mem_only: u32) -> u64;
    /// Reads `width` bytes (1, 2, 4; aligned) of the function's configuration space at
    /// `offset` into `*out`; 0 or a negative errno.
    pub(crate) fn ndriver_pci_config_read(
        inst: *mut Instance,
        offset: u32,
        width: u32,
        out: *mut u32,
    ) -> c_int;
    /// Claims and maps a BAR; NULL on failure.
    pub(crate) fn ndriver_pci_iomap(inst: *mut Instance, bar: u32) -> *mut c_void;
    /// Unmaps and releases a BAR.
    pub(crate) fn ndriver_pci_iounmap(inst: *mut Instance, addr: *mut c_void);
    /// Routes the device's interrupt line to the `devirq` entry; 0 or a negative errno.
    pub(crate) fn ndriver_request_irq(inst: *mut Instance) -> c_int;
    /// Gives the function one MSI-X vector and routes it to the `devirq` entry; 0,
    /// `-EOPNOTSUPP` without MSI-X or a vector for it, or a negative errno.
    pub(crate) fn ndriver_request_irq_msix(inst: *mut Instance) -> c_int;
    /// Frees it.
    pub(crate) fn ndriver_free_irq(inst: *mut Instance);
    /// Keeps resource `obj` of `kind` (`abi::KEEP_*`) across a warm restart under
    /// `role`; 0 or a negative errno (a misuse).
    pub(crate) fn ndriver_keep(
        inst: *mut Instance,
        kind: u32,
        obj: *const c_void,
        role: u32,
    ) -> c_int;
    /// Adopts the resource of `kind` kept under `role` (only in `adopt`): status 0 and
    /// the resource, `-ENOENT` for none, or another negative errno (a misuse).
    pub(crate) fn ndriver_adopt(inst: *mut Instance, kind: u32, role: u32) -> crate::abi::Adopted;
    /// A coherent DMA buffer (CPU address; bus address in `*dma`); NULL on failure.
    pub(crate) fn ndriver_dma_alloc(inst: *mut Instance, size: usize, dma: *mut u64)
        -> *mut c_void;
    /// Frees it.
    pub(crate) fn ndriver_dma_free(inst: *mut Instance, cpu: *mut c_void);
    /// Maps driver memory for streaming DMA; 0 (bus address in `*dma`) or a negative errno.
    /// A range the instance does not hold (towards the device: outside the direct
    /// mapping) is refused and fails the instance as a misuse.
    pub(crate) fn ndriver_dma_map(
        inst: *mut Instance,
        ptr: *mut c_void,
        size: usize,
        dir: u32,
        dma: *mut u64,
    ) -> c_int;
    /// Unmaps it.
    pub(crate) fn ndriver_dma_unmap(inst: *mut Instance, dma: u64);
    /// A stopped timer that runs the `timer` entry with `cookie`; NULL on failure.
    pub(crate) fn ndriver_timer_setup(inst: *mut Instance, cookie: u64) -> *mut c_void;
    /// (Re)arms it, relative to now.
    pub(crate) fn ndriver_timer_arm(inst: *mut Instance, timer: *mut c_void, delay_ns: u64);
    /// Cancels and frees it.
    pub(crate) fn ndriver_timer_cancel(inst: *mut Instance, timer: *mut c_void);
    /// A work item that runs the `work` entry with `cookie`; NULL on failure.
    pub(crate) fn ndriver_work_setup(inst: *mut Instance, cookie: u64) -> *mut c_void;
    /// Queues it.
    pub(crate) fn ndriver_work_queue(inst: *mut Instance, work: *mut c_void);
    /// Cancels and frees it.
    pub(crate) fn ndriver_work_cancel(inst: *mut Instance, work: *mut c_void);
    /// The driver is done with a lent skb (`sent`: it went out).
    pub(crate) fn ndriver_net_tx_done(inst: *mut Instance, token: *mut c_void, sent: u32);
    /// Delivers a received frame (copied); `napi` non-zero from `poll`.
    pub(crate) fn ndriver_net_rx(
        inst: *mut Instance,
        data: *const u8,
        len: u32,
        napi: u32,
    ) -> c_int;
    /// Schedules the placeholder's NAPI poll.
    pub(crate) fn ndriver_net_napi_schedule(inst: *mut Instance) -> u32;
    /// Ends the current poll.
    pub(crate) fn ndriver_net_napi_complete(inst: *mut Instance, work: i32) -> u32;
    /// Reports the link state.
    pub(crate) fn ndriver_net_carrier(inst: *mut Instance, on: u32);
    /// Stops the transmit queue.
    pub(crate) fn ndriver_net_stop_queue(inst: *mut Instance);
    /// Wakes the transmit queue.
    pub(crate) fn ndriver_net_wake_queue(inst: *mut Instance);
    /// The placeholder's station address.
    pub(crate) fn ndriver_net_mac(inst: *mut Instance) -> u64;
    /// The placeholder's MTU.
    pub(crate) fn ndriver_net_mtu(inst: *mut Instance) -> u32;
    /// The receive filter: flags, multicast addresses and their number.
    pub(crate) fn ndriver_net_rx_filter(
        inst: *mut Instance,
        mc: *mut u64,
        max: u32,
        count: *mut u32,
    ) -> u32;
    /// Registers the receive ring for counting frames lost in it.
    pub(crate) fn ndriver_net_rx_ring(
        inst: *mut Instance,
        base: *const c_void,
        count: u32,
        stride: u32,
        status_off: u32,
        done_mask: u32,
    );
    /// Registers the transmit ring and the token of each descriptor, so that frames
    /// the device sent before the instance died are not sent again.
    pub(crate) fn ndriver_net_tx_ring(
        inst: *mut Instance,
        base: *const c_void,
        count: u32,
        stride: u32,
        status_off: u32,
        done_mask: u32,
        tokens: *const c_void,
        token_stride: u32,
    );
}

/// Drops the value of type `S` that the instance's private data points to, clears the
/// pointer and frees the memory: the end of a class glue's `remove` (its `probe` put the
/// value in memory from [`ndriver_alloc`] and [`ndriver_set_priv`]). Nothing if the
/// private data is NULL.
///
/// # Safety
///
/// - `inst` is a live instance, and nothing else runs on it until this returns (an
///   orderly remove);
/// - its private data is NULL or points to an initialised `S` in memory that
///   [`ndriver_alloc`] gave for `inst`, not freed;
/// - no reference to that `S` is used after this is called.
pub(crate) unsafe fn free_slot<S>(inst: *mut Instance) {
    // SAFETY: `inst` is live (this function's contract).
    let p = unsafe { ndriver_get_priv(inst) }.cast::<S>();
    if p.is_null() {
        return;
    }
    // SAFETY: `p` is an initialised `S` that nothing else uses any more (this function's
    // contract), so it is ours to drop; the instance stops pointing to it before its
    // memory, from `ndriver_alloc` for `inst`, is freed there, once.
    unsafe {
        core::ptr::drop_in_place(p);
        ndriver_set_priv(inst, core::ptr::null_mut());
        ndriver_free(inst, p.cast());
    }
}
