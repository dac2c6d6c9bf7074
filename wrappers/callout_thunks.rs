// SPDX-License-Identifier: GPL-2.0

//! The exported callout symbols: a thunk per callout that calls the Rust function and
//! clears, before it returns to the driver, every register the C calling convention
//! lets a callee leave as it likes (the argument registers, `r10`, `r11`, and `rax`
//! beyond the return value).
//!
//! Why: what a callout leaves in those registers are ndriver's own addresses (the
//! device a handle leads to, a lock, a list). A driver whose code skips or damages the
//! instruction that sets a register (`skip_insn` at the `mov` of a result pointer before
//! a call) uses whatever the last callee left there, and a store through it lands in
//! ndriver's memory, where nothing sees it until ndriver itself reads the damage (a
//! device name whose address had its low half zeroed, read by `status`: an oops in
//! ndriver's code, not contained). After a thunk the register holds 0, and the same
//! store is a NULL write in driver code: a page fault the guard contains. Registers the
//! driver's code last set itself, those a kernel function it calls directly leaves, and
//! those ndriver's code left when it called the entry point are not cleared
//! (design.rst, "Known limits").
//!
//! The Rust functions keep their names in Rust (ndriver calls some of them itself); the
//! C symbol `ndriver_*` that `callouts_exports.c` exports and the implementation modules
//! link against is the thunk's.

/// What a callout returns, which decides what of `rax` and `rdx` the thunk keeps.
macro_rules! thunk_return {
    // Nothing: `rax` and `rdx` are cleared too.
    (none) => {
        "xor eax, eax\nxor edx, edx"
    };
    // A 64-bit value, a pointer, or (for a struct returned in memory) the address of
    // the caller's buffer: `rax` kept.
    (u64) => {
        "xor edx, edx"
    };
    // A 32-bit value: its upper half, which the convention leaves undefined, cleared.
    (u32) => {
        "mov eax, eax\nxor edx, edx"
    };
}

/// How the thunk calls the callout: with its arguments in registers only (`regs`), or
/// with two more on the stack (`stack2`, copied below the thunk's return address where
/// the callout looks for them).
macro_rules! thunk_call {
    (regs) => {
        "sub rsp, 8\ncall {body}\nadd rsp, 8"
    };
    (stack2) => {
        "sub rsp, 24\nmov rax, [rsp + 32]\nmov [rsp], rax\nmov rax, [rsp + 40]\nmov [rsp + 8], rax\ncall {body}\nadd rsp, 24"
    };
}

/// Defines the exported thunk of each callout `name` (the function of that name in
/// `module`), with its argument passing (`regs`, `stack2`) and return (`none`, `u32`,
/// `u64`).
macro_rules! callout_thunks {
    ($($name:ident in $($module:ident)::+, $call:ident, $ret:ident;)*) => {
        $(
            const _: () = {
                // The thunk moves the stack pointer by 8 (or 24) before its call, so that
                // the callout finds the stack aligned as the thunk's caller had it for
                // the thunk. `endbr64`: exported, so an indirect call may reach it (IBT).
                // A plain `ret`, as `guard_enter`'s: the kernel this builds against has
                // no return thunks (`MITIGATION_RETHUNK`).
                /// The exported symbol of the callout: calls it, then clears the registers
                /// it may leave behind.
                ///
                /// # Safety
                ///
                /// Called only as the callout it stands for, by implementation modules
                /// through that callout's C prototype, with its arguments; never from
                /// Rust (the signature here is not the callout's).
                #[unsafe(naked)]
                #[unsafe(export_name = stringify!($name))]
                unsafe extern "C" fn thunk() {
                    core::arch::naked_asm!(
                        "endbr64",
                        thunk_call!($call),
                        "xor edi, edi",
                        "xor esi, esi",
                        "xor ecx, ecx",
                        "xor r8d, r8d",
                        "xor r9d, r9d",
                        "xor r10d, r10d",
                        "xor r11d, r11d",
                        thunk_return!($ret),
                        "ret",
                        body = sym super::$($module)::+::$name,
                    )
                }
            };
        )*
    };
}

callout_thunks! {
    ndriver_alloc in callouts, regs, u64;
    ndriver_free in callouts, regs, none;
    ndriver_set_priv in callouts, regs, none;
    ndriver_get_priv in callouts, regs, u64;
    ndriver_generation in callouts, regs, u64;
    ndriver_lock_held in callouts, regs, none;
    ndriver_lock_wait in callouts, regs, none;
    ndriver_fault_point in callouts, regs, u32;
    ndriver_step in callouts, regs, none;
    ndriver_fault_raising in callouts, regs, none;
    ndriver_timer_setup in callouts_async, regs, u64;
    ndriver_timer_arm in callouts_async, regs, none;
    ndriver_timer_cancel in callouts_async, regs, none;
    ndriver_work_setup in callouts_async, regs, u64;
    ndriver_work_queue in callouts_async, regs, none;
    ndriver_work_cancel in callouts_async, regs, none;
    ndriver_pci_bar_len in callouts_device::bar, regs, u64;
    ndriver_pci_iomap in callouts_device::bar, regs, u64;
    ndriver_pci_iounmap in callouts_device::bar, regs, none;
    ndriver_blk_set_capacity in callouts_blk, regs, u32;
    ndriver_blk_copy in callouts_blk, regs, u32;
    ndriver_blk_map in callouts_blk, regs, u32;
    ndriver_blk_lent in callouts_blk, regs, u32;
    ndriver_blk_done in callouts_blk, regs, u32;
    ndriver_pci_config_read in callouts_device::config, regs, u32;
    ndriver_dma_alloc in callouts_device::dma, regs, u64;
    ndriver_dma_free in callouts_device::dma, regs, none;
    ndriver_dma_map in callouts_device::dma, regs, u32;
    ndriver_dma_unmap in callouts_device::dma, regs, none;
    ndriver_request_irq in callouts_device::irq, regs, u32;
    ndriver_request_irq_msix in callouts_device::irq, regs, u32;
    ndriver_free_irq in callouts_device::irq, regs, none;
    ndriver_net_tx_done in callouts_net, regs, none;
    ndriver_net_rx in callouts_net, regs, u32;
    ndriver_net_napi_schedule in callouts_net, regs, u32;
    ndriver_net_napi_complete in callouts_net, regs, u32;
    ndriver_net_carrier in callouts_net, regs, none;
    ndriver_net_stop_queue in callouts_net, regs, none;
    ndriver_net_wake_queue in callouts_net, regs, none;
    ndriver_net_mac in callouts_net, regs, u64;
    ndriver_net_mtu in callouts_net, regs, u32;
    ndriver_net_rx_filter in callouts_net, regs, u32;
    ndriver_net_rx_ring in callouts_net, regs, none;
    ndriver_net_tx_ring in callouts_net, stack2, none;
    ndriver_pci_present in callouts_device::pci, regs, u32;
    ndriver_pci_enable in callouts_device::pci, regs, u32;
    ndriver_pci_enable_quiet in callouts_device::pci, regs, u32;
    ndriver_pci_set_master in callouts_device::pci, regs, none;
    ndriver_pci_clear_master in callouts_device::pci, regs, none;
    ndriver_pci_disable in callouts_device::pci, regs, none;
    ndriver_io_reset_on_undo in callouts_reset, regs, u32;
    ndriver_io_reset_cancel in callouts_reset, regs, none;
    ndriver_keep in callouts_warm, regs, u32;
    ndriver_adopt in callouts_warm, regs, u64;
}
