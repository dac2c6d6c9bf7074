// SPDX-License-Identifier: GPL-2.0

//! The classes of driver failure that ndriver contains, and their names in debugfs.
//! Free of kernel types: the host tests compile it.

/// One class of failure. The discriminants are part of the ABI (`abi.rs` passes them
/// to implementation modules' fault sites) and index the statistics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum FaultClass {
    /// A Rust `panic!` (ends in `BUG()`, an invalid-opcode trap).
    Panic = 1,
    /// A load through a NULL pointer (page fault).
    Null = 2,
    /// A store through a wild, unmapped kernel address (page fault).
    Wild = 3,
    /// A load through a non-canonical address (general protection fault).
    Gpf = 4,
    /// An integer division by zero (divide error).
    Div0 = 5,
    /// A loop that never ends, interrupts on.
    Spin = 6,
    /// A loop that never ends, interrupts off.
    SpinIrqoff = 7,
    /// Taking a driver-owned spinlock the caller already holds.
    Deadlock = 8,
    /// The entry point returns an error it should not.
    Error = 9,
    /// Memory taken and lost without being freed, over and over (a runaway leak).
    Leak = 10,
    /// A kernel function called with an argument that makes it fault in core kernel
    /// code (a divide error in `reciprocal_value(0)`): a `kernel_fault`, not the
    /// driver's own instruction.
    KernelDiv0 = 11,
    /// A core-kernel `BUG_ON()` reached with bad driver arguments (`dql_completed()`
    /// told of more completions than were queued): left to the kernel unless policy
    /// `kernel_bug=1`.
    KernelBug = 12,
    /// A loop that never ends and spends nearly all its time in kernel code: it looks
    /// its own return address up with `sprint_symbol()` (`__module_address()`, module
    /// kallsyms) over and over.
    SpinKernel = 13,
    /// `KernelDiv0` with the driver's own lock held and inside an RCU read-side section
    /// (preemption disabled, as a kernel spinlock disables it): kernel code that faults
    /// with more held than the entry point had at entry, less the driver's own locks, is
    /// left to the kernel unless policy `kernel_bug=1`.
    KernelDiv0Locked = 14,
    /// A block the driver allocated through the callouts, freed twice: the second
    /// `ndriver_free` names memory the instance no longer holds (a `misuse`).
    DoubleFree = 15,
    /// A timer handle the framework never gave out (the address of a local) passed to
    /// `ndriver_timer_arm` (a `misuse`).
    ForgedHandle = 16,
    /// A transmit token the framework never lent reported done through
    /// `ndriver_net_tx_done` (a `misuse`; from an instance that serves no NIC, the
    /// callout itself is the misuse).
    ForgedToken = 17,
    /// At a driver instruction (`site=`): a bit flipped in the register the instruction
    /// wrote (the first one whose value it changed, else its flags).
    FlipDest = 18,
    /// At a driver instruction: the instruction is not executed.
    SkipInsn = 19,
    /// At a driver instruction: a bit flipped in a register that holds a kernel pointer
    /// when the instruction is about to run.
    CorruptPtr = 20,
    /// A block from `ndriver_alloc`, freed, then mapped for the device to write into
    /// (`ndriver_dma_map`, `DMA_FROM_DEVICE`): memory the instance no longer holds,
    /// which the device would overwrite behind the allocator's back (a `misuse`). Needs
    /// a PCI function (without one the callout returns `-ENODEV`).
    WildDma = 21,
    /// A block from `ndriver_alloc`, mapped for the device to write into
    /// (`ndriver_dma_map`, `DMA_FROM_DEVICE`), then freed while still mapped: the device
    /// would write into memory the allocator has handed on; the framework refuses the
    /// free (a `misuse`). Needs a PCI function, as `WildDma` does.
    MappedFree = 22,
    /// The driver's own lock taken through its address with a bit flipped after the lock
    /// checked itself, as a register corrupted right there would: the kernel's try-lock
    /// faults on the lock word (a #GP in `_raw_spin_trylock`, with the preemption and
    /// interrupt-disable counts the try-lock path raised first), a `kernel_fault` with no
    /// lock held. Refused on kernels where the guard does not know that path.
    BadLock = 23,
    /// `BadLock` with the lock's address corrupted into unmapped memory instead: a page
    /// fault on the lock word.
    BadLockUnmapped = 24,
    /// `BadLock` with the driver's own lock held besides: no kernel lock either (the
    /// guard counts the driver's locks), so contained as `BadLock` is.
    BadLockLocked = 25,
    /// The driver's own lock released through its address corrupted into unmapped memory
    /// (the lock taken, its guard forgotten, the kernel's unlock called on the bad
    /// address): a page fault on the lock word in `_raw_spin_unlock_irq_enable`, the
    /// driver's own fault, as one in `memcpy()` is.
    BadUnlock = 26,
    /// A recursion without end in driver code, each level with a frame of its own: the
    /// stack runs into its guard page (a `stack_overflow`). Refused on kernels where the
    /// guard does not hear of that in time (`guard::stack_guard_known`).
    StackOverflow = 27,
    /// A store from driver code through a pointer into the guard page below the current
    /// task's stack, with the stack pointer well inside the stack (a stack address with
    /// a high bit flipped): a wild access, no overflow, detected as a `page_fault`.
    /// Refused on kernels that take it for an overflow before the guard hears of it
    /// (`guard::stack_guard_wild_known`).
    StackGuardStore = 28,
    /// A received frame delivered through `ndriver_net_rx` from memory the instance does
    /// not hold (a buffer on the driver's stack): copied into an skb, it would take
    /// whatever kernel memory a driver names out of the machine (a `misuse`; from an
    /// instance that serves no NIC, the callout itself is the misuse).
    ForgedFrame = 29,
    /// A work item handle the framework never gave out (the address of a local) passed
    /// to `ndriver_work_queue` (a `misuse`).
    ForgedWork = 30,
    /// A streaming DMA mapping never made (a made-up bus address) given back through
    /// `ndriver_dma_unmap` (a `misuse`).
    ForgedDma = 31,
    /// The unit of work of the call reported done twice: the skb `start_xmit` was
    /// given, through `ndriver_net_tx_done` (the first report is honest, the second a
    /// `misuse`), or the request `complete` was called for, which the driver already
    /// reported through `ndriver_blk_done` (any report is a `misuse`). The entry point
    /// then returns `-EIO` without running the driver's method; at other entry points
    /// that is all it does.
    DoubleComplete = 32,
    /// An answer out of range: `poll` reports more frames than its budget allowed, a
    /// block `complete` a status that is none of the ABI's (a `misuse`, which the
    /// framework sees in the returned value). Elsewhere the entry point returns
    /// `-EOVERFLOW`, an error return.
    BadReturn = 33,
    /// `printk()` called with a wild `%s` pointer: `vsnprintf()` faults on it inside
    /// `printk()`, whose recursion depth the call has raised (a `kernel_fault`, as
    /// `KernelDiv0`; the guard gives the depth back).
    KernelPrintk = 34,
}

/// Number of classes, plus one for "none" at index 0.
pub(crate) const NR_CLASSES: usize = 35;

impl FaultClass {
    /// Every class, in ABI order.
    pub(crate) const ALL: [FaultClass; NR_CLASSES - 1] = [
        FaultClass::Panic,
        FaultClass::Null,
        FaultClass::Wild,
        FaultClass::Gpf,
        FaultClass::Div0,
        FaultClass::Spin,
        FaultClass::SpinIrqoff,
        FaultClass::Deadlock,
        FaultClass::Error,
        FaultClass::Leak,
        FaultClass::KernelDiv0,
        FaultClass::KernelBug,
        FaultClass::SpinKernel,
        FaultClass::KernelDiv0Locked,
        FaultClass::DoubleFree,
        FaultClass::ForgedHandle,
        FaultClass::ForgedToken,
        FaultClass::FlipDest,
        FaultClass::SkipInsn,
        FaultClass::CorruptPtr,
        FaultClass::WildDma,
        FaultClass::MappedFree,
        FaultClass::BadLock,
        FaultClass::BadLockUnmapped,
        FaultClass::BadLockLocked,
        FaultClass::BadUnlock,
        FaultClass::StackOverflow,
        FaultClass::StackGuardStore,
        FaultClass::ForgedFrame,
        FaultClass::ForgedWork,
        FaultClass::ForgedDma,
        FaultClass::DoubleComplete,
        FaultClass::BadReturn,
        FaultClass::KernelPrintk,
    ];

    /// Whether the class faults in the kernel's try-lock, which needs a kernel where the
    /// guard knows that path (`guard::trylock_path_known`).
    pub(crate) fn in_trylock(self) -> bool {
        matches!(
            self,
            FaultClass::BadLock | FaultClass::BadLockUnmapped | FaultClass::BadLockLocked
        )
    }

    /// Whether the class faults in the kernel's unlock, which needs a kernel where the
    /// guard knows that path (`guard::unlock_path_known`).
    pub(crate) fn in_unlock(self) -> bool {
        self == FaultClass::BadUnlock
    }

    /// Whether the class overflows the stack, which needs a kernel where the guard hears
    /// of a hit stack guard page (`guard::stack_guard_known`).
    pub(crate) fn overflows_stack(self) -> bool {
        self == FaultClass::StackOverflow
    }

    /// Whether the class stores into a stack's guard page without overflowing, which
    /// needs a kernel that lets the guard hear of it as a page fault
    /// (`guard::stack_guard_wild_known`).
    pub(crate) fn stores_to_stack_guard(self) -> bool {
        self == FaultClass::StackGuardStore
    }

    /// The name used in debugfs.
    pub(crate) fn name(self) -> &'static str {
        match self {
            FaultClass::Panic => "panic",
            FaultClass::Null => "null",
            FaultClass::Wild => "wild",
            FaultClass::Gpf => "gpf",
            FaultClass::Div0 => "div0",
            FaultClass::Spin => "spin",
            FaultClass::SpinIrqoff => "spin_irqoff",
            FaultClass::Deadlock => "deadlock",
            FaultClass::Error => "error",
            FaultClass::Leak => "leak",
            FaultClass::KernelDiv0 => "kernel_div0",
            FaultClass::KernelBug => "kernel_bug",
            FaultClass::SpinKernel => "spin_kernel",
            FaultClass::KernelDiv0Locked => "kernel_div0_locked",
            FaultClass::DoubleFree => "double_free",
            FaultClass::ForgedHandle => "forged_handle",
            FaultClass::ForgedToken => "forged_token",
            FaultClass::FlipDest => "flip_dest",
            FaultClass::SkipInsn => "skip_insn",
            FaultClass::CorruptPtr => "corrupt_ptr",
            FaultClass::WildDma => "wild_dma",
            FaultClass::MappedFree => "mapped_free",
            FaultClass::BadLock => "bad_lock",
            FaultClass::BadLockUnmapped => "bad_lock_unmapped",
            FaultClass::BadLockLocked => "bad_lock_locked",
            FaultClass::BadUnlock => "bad_unlock",
            FaultClass::StackOverflow => "stack_overflow",
            FaultClass::StackGuardStore => "stack_guard_store",
            FaultClass::ForgedFrame => "forged_frame",
            FaultClass::ForgedWork => "forged_work",
            FaultClass::ForgedDma => "forged_dma",
            FaultClass::DoubleComplete => "double_complete",
            FaultClass::BadReturn => "bad_return",
            FaultClass::KernelPrintk => "kernel_printk",
        }
    }

    /// Whether the class can be raised at an arbitrary driver instruction (`site=`): the
    /// ones that stop the CPU on the spot, whatever the driver holds, and the corruptions.
    /// The others are raised by the class glue at an entry point, which has the instance's
    /// lock, return value and handle (`wrappers/entry_faults.rs`).
    pub(crate) fn at_site(self) -> bool {
        matches!(
            self,
            FaultClass::Panic
                | FaultClass::Null
                | FaultClass::Wild
                | FaultClass::Gpf
                | FaultClass::Div0
                | FaultClass::Spin
                | FaultClass::SpinIrqoff
                | FaultClass::FlipDest
                | FaultClass::SkipInsn
                | FaultClass::CorruptPtr
        )
    }

    /// Whether the class is a corruption, which may never show, show later, or damage data.
    pub(crate) fn corrupts(self) -> bool {
        matches!(
            self,
            FaultClass::FlipDest | FaultClass::SkipInsn | FaultClass::CorruptPtr
        )
    }

    /// Looks a class up by its debugfs name.
    pub(crate) fn from_name(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| c.name() == s)
    }
}
