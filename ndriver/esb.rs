// SPDX-License-Identifier: GPL-2.0

//! An NMI source that needs no running CPU: QEMU's emulated Intel 6300ESB watchdog
//! (`-device i6300esb`, PCI 8086:25ab) with `-action watchdog=inject-nmi`.
//!
//! The guard's cross-CPU NMI (see `guard.rs`) is sent by another CPU's watchdog tick;
//! when every CPU hangs with interrupts off at once, no tick runs anywhere. The ESB
//! counts down on the host: the guard's ticks pet it (at most every [`PET_INTERVAL_NS`],
//! any CPU), and when no CPU has ticked for both stages ([`STAGE_NS`] each) QEMU
//! performs its watchdog action: `inject-nmi` raises LINT1 on every local APIC. Linux
//! unmasks LINT1 on the boot CPU only unless booted with `apic_extnmi=all`; either way
//! a CPU that gets the NMI ends its hung call, and the first tick that runs again
//! kicks the others as before.
//!
//! QEMU's model (`hw/watchdog/wdt_i6300esb.c`): configuration register 0x60 (clock
//! scale, stage-1 interrupt type, action enable) and lock register 0x68 (enable) in
//! PCI configuration space; in the 16-byte memory BAR the two preload registers (0x00,
//! 0x04, 20 bits) and the reload register (0x0c), each write to them preceded by the
//! unlock sequence 0x80, 0x86 written to 0x0c. With the 1 MHz scale one preload unit is
//! 32 clocks of 30 ns. After the stage-2 action the device resets itself (disabled,
//! defaults) and sets its "timed out" flag (bit 9 of the reload register), which stays
//! set until written back: that flag tells the NMI handler the NMI is the ESB's, and
//! the next pet re-arms the device from hard-interrupt context (configuration space
//! takes a spinlock; an NMI may not).
//!
//! On real hardware the second stage resets the machine; the ESB is used only under a
//! hypervisor.

use core::ffi::{c_int, c_void};
use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};

use kernel::{bindings, prelude::*};

const PCI_VENDOR_INTEL: u32 = 0x8086;
const PCI_DEVICE_ESB_WDT: u32 = 0x25ab;

/// Configuration space: configuration register (16 bits) and lock register (8 bits).
const CFG_CONFIG: c_int = 0x60;
const CFG_LOCK: c_int = 0x68;
/// Configuration register: 1 MHz clock scale.
const CONFIG_1MHZ: u16 = 1 << 2;
/// Configuration register: no stage-1 interrupt (0b11; QEMU keeps bit 0 of it and
/// treats it as "none" too). Bit 5 (stage-2 action disabled) stays clear.
const CONFIG_INT_NONE: u16 = 0x03;
/// Lock register: watchdog enabled; locked (cannot be disabled again).
const LOCK_ENABLE: u8 = 1 << 1;
const LOCK_LOCKED: u8 = 1 << 0;

/// Memory BAR registers.
const REG_PRELOAD1: usize = 0x00;
const REG_PRELOAD2: usize = 0x04;
const REG_RELOAD: usize = 0x0c;
/// Reload register: restart stage 1; clear the "timed out" flag (write); the flag (read).
const RELOAD_PING: u16 = 1 << 8;
const RELOAD_TIMED_OUT: u16 = 1 << 9;
const UNLOCK1: u16 = 0x80;
const UNLOCK2: u16 = 0x86;

/// Length of each stage: no CPU ticked for twice this long means every CPU is stuck.
pub(crate) const STAGE_NS: u64 = 100_000_000;
/// One preload unit at the 1 MHz scale: 32 clocks of 30 ns.
const UNIT_NS: u64 = 32 * 30;
const PRELOAD_MAX: u64 = 0xfffff;
/// Pets are MMIO writes, each a VM exit: at most one per this period, by any CPU.
const PET_INTERVAL_NS: u64 = 10_000_000;
/// How long after a firing an NMI that finds the flag already cleared (by the re-arm on
/// a CPU that recovered first) is still the ESB's.
const LATE_NS: u64 = 100_000_000;

/// The mapped memory BAR while the watchdog is armed, NULL otherwise. Read by the NMI
/// handler; cleared before the BAR is unmapped, with an RCU grace period in between.
static BASE: AtomicPtr<c_void> = AtomicPtr::new(ptr::null_mut());
/// The function, while armed (for the re-arm's configuration writes).
static PDEV: AtomicPtr<bindings::pci_dev> = AtomicPtr::new(ptr::null_mut());
/// Ticks pet or re-arm the device only while set.
static ARMED: AtomicBool = AtomicBool::new(false);
/// Held by whoever writes the device: the unlock sequence is device-global state.
static BUSY: AtomicBool = AtomicBool::new(false);
/// `ktime_get_mono_fast_ns()` of the last pet (or arm).
static LAST_PET_NS: AtomicU64 = AtomicU64::new(0);
/// When an NMI first saw the last firing, 0 if never.
static FIRED_NS: AtomicU64 = AtomicU64::new(0);
static FIRES: AtomicU64 = AtomicU64::new(0);
static REARMS: AtomicU64 = AtomicU64::new(0);
/// What [`Esb::new`] found, for the status file.
static STATE: AtomicU64 = AtomicU64::new(STATE_ABSENT);
const STATE_ABSENT: u64 = 0;
const STATE_ARMED: u64 = 1;
const STATE_UNUSABLE: u64 = 2;
const STATE_NOT_VM: u64 = 3;

extern "C" {
    fn ndg_in_vm() -> bool;
}

fn now_ns() -> u64 {
    // SAFETY: FFI call without preconditions; NMI-safe.
    unsafe { bindings::ktime_get_mono_fast_ns() }
}

/// Preload value for `ns` at the 1 MHz scale.
fn preload(ns: u64) -> u32 {
    (ns / UNIT_NS).clamp(1, PRELOAD_MAX) as u32
}

/// A mapped ESB BAR.
///
/// # Invariants
///
/// `base` is the live mapping of the ESB's 16-byte memory BAR.
#[derive(Clone, Copy)]
struct Regs {
    base: *mut c_void,
}

impl Regs {
    fn at(self, off: usize) -> *mut c_void {
        self.base.wrapping_byte_add(off)
    }

    fn read_reload(self) -> u16 {
        // SAFETY: by the type invariant, `base + 0x0c` is a register of the mapping.
        unsafe { bindings::readw(self.at(REG_RELOAD)) }
    }

    fn unlock(self) {
        // SAFETY: by the type invariant, `base + 0x0c` is a register of the live mapping.
        unsafe {
            bindings::writew(UNLOCK1, self.at(REG_RELOAD));
            bindings::writew(UNLOCK2, self.at(REG_RELOAD));
        }
    }

    fn write_reload(self, v: u16) {
        self.unlock();
        // SAFETY: by the type invariant, `base + 0x0c` is a register of the live mapping.
        unsafe { bindings::writew(v, self.at(REG_RELOAD)) };
    }

    fn write_preload(self, reg: usize, v: u32) {
        self.unlock();
        // SAFETY: by the type invariant `base` maps the 16-byte BAR, and `reg` is one of its
        // preload registers (0x00 or 0x04).
        unsafe { bindings::writel(v, self.at(reg)) };
    }
}

/// Programs and enables the watchdog (from its reset state or a disabled one): 1 MHz
/// scale, no stage-1 interrupt, the action at the end of stage 2, both stages
/// [`STAGE_NS`], the "timed out" flag cleared.
///
/// # Safety
///
/// `pdev` is the referenced, enabled ESB function whose BAR `regs` maps; the caller
/// holds [`BUSY`] (or is the only user) and runs where a PCI configuration access may
/// be made (not NMI).
unsafe fn program(pdev: *mut bindings::pci_dev, regs: Regs) {
    // SAFETY: `pdev` is a live function (this function's contract); configuration writes take
    // `pci_lock` with interrupts saved, which any non-NMI context may do.
    unsafe { bindings::pci_write_config_word(pdev, CFG_CONFIG, CONFIG_1MHZ | CONFIG_INT_NONE) };
    regs.write_preload(REG_PRELOAD1, preload(STAGE_NS));
    regs.write_preload(REG_PRELOAD2, preload(STAGE_NS));
    regs.write_reload(RELOAD_TIMED_OUT);
    // SAFETY: `pdev` is a live function (the contract); the write takes `pci_lock` with
    // interrupts saved, which any non-NMI context may do. Enabling starts stage 1.
    unsafe { bindings::pci_write_config_byte(pdev, CFG_LOCK, LOCK_ENABLE) };
}

/// Pets the watchdog, or re-arms it if it fired; called from every CPU's guard tick
/// (hard-interrupt context). Rate-limited to one device access per
/// [`PET_INTERVAL_NS`] across all CPUs.
pub(crate) fn tick() {
    if !ARMED.load(Ordering::Relaxed) {
        return;
    }
    let now = now_ns();
    let last = LAST_PET_NS.load(Ordering::Relaxed);
    if (now.wrapping_sub(last) as i64) < PET_INTERVAL_NS as i64
        || LAST_PET_NS
            .compare_exchange(last, now, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        || BUSY.swap(true, Ordering::Acquire)
    {
        return;
    }
    let base = BASE.load(Ordering::Acquire);
    let pdev = PDEV.load(Ordering::Acquire);
    if ARMED.load(Ordering::Acquire) && !base.is_null() && !pdev.is_null() {
        // INVARIANT: `base` stays mapped while `ARMED` is set and `BUSY` held: `Drop`
        // clears `ARMED` under `BUSY` before it unmaps.
        let regs = Regs { base };
        if regs.read_reload() & RELOAD_TIMED_OUT != 0 {
            // SAFETY: `pdev` is the referenced, enabled ESB function while `ARMED` is set, and
            // `regs` maps its BAR (the INVARIANT just stated); we hold `BUSY`; a
            // hard-interrupt handler may access configuration space.
            unsafe { program(pdev, regs) };
            REARMS.fetch_add(1, Ordering::Relaxed);
        } else {
            regs.write_reload(RELOAD_PING);
        }
    }
    BUSY.store(false, Ordering::Release);
}

/// Whether the NMI being handled is the ESB's (it fired: no CPU ticked for both
/// stages). Called from the guard's NMI handler; reads one register, writes nothing.
pub(crate) fn nmi_claim() -> bool {
    let base = BASE.load(Ordering::Acquire);
    if base.is_null() {
        return false;
    }
    let now = now_ns();
    let fired = FIRED_NS.load(Ordering::Acquire);
    if fired != 0 && (now.wrapping_sub(fired) as i64) < LATE_NS as i64 {
        return true;
    }
    // INVARIANT: `base` is mapped: `Drop` clears `BASE` and waits for running NMI
    // handlers (`synchronize_rcu()`; `nmi_handle()` holds the RCU read lock) before
    // unmapping it.
    let regs = Regs { base };
    if regs.read_reload() & RELOAD_TIMED_OUT == 0 {
        return false;
    }
    if FIRED_NS
        .compare_exchange(fired, now, Ordering::AcqRel, Ordering::Relaxed)
        .is_ok()
    {
        FIRES.fetch_add(1, Ordering::Relaxed);
    }
    true
}

/// Writes the ESB line of the top-level `status` file.
pub(crate) fn show(f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
    let state = match STATE.load(Ordering::Relaxed) {
        STATE_ARMED => "armed",
        STATE_UNUSABLE => "unusable",
        STATE_NOT_VM => "not_vm",
        _ => "absent",
    };
    writeln!(
        f,
        "guard esb state={} timeout_ms={} fires={} rearms={}",
        state,
        2 * STAGE_NS / 1_000_000,
        FIRES.load(Ordering::Relaxed),
        REARMS.load(Ordering::Relaxed)
    )
}

/// Owner of the ESB while ndriver runs: armed on creation (if present), disarmed and
/// released on drop. Create it after the guard runtime (whose NMI handler takes the
/// ESB's NMI) and drop it before.
///
/// # Invariants
///
/// When `pdev` is not NULL it is a referenced, enabled function whose BAR 0 is
/// requested and mapped at `base`, and the watchdog is armed.
pub(crate) struct Esb {
    pdev: *mut bindings::pci_dev,
    base: *mut c_void,
}

// SAFETY: The pointers are only used by `Drop`, from whichever thread drops it; the
// kernel objects they name have no thread affinity.
unsafe impl Send for Esb {}
// SAFETY: `&Esb` gives no access to anything.
unsafe impl Sync for Esb {}

const NOT_COVERED: &str = "a hang with interrupts off on every CPU at once is not ended";

impl Esb {
    /// Finds, claims and arms the ESB. Never fails: without a usable ESB, ndriver runs
    /// as before, and says so once.
    pub(crate) fn new() -> Self {
        let none = Self {
            pdev: ptr::null_mut(),
            base: ptr::null_mut(),
        };
        // SAFETY: FFI call without preconditions.
        if !unsafe { ndg_in_vm() } {
            STATE.store(STATE_NOT_VM, Ordering::Relaxed);
            pr_info!("guard: not under a hypervisor, i6300ESB not used: {NOT_COVERED}\n");
            return none;
        }
        // SAFETY: a lookup; returns a referenced function or NULL.
        let pdev = unsafe {
            bindings::pci_get_device(PCI_VENDOR_INTEL, PCI_DEVICE_ESB_WDT, ptr::null_mut())
        };
        if pdev.is_null() {
            STATE.store(STATE_ABSENT, Ordering::Relaxed);
            pr_info!("guard: no i6300ESB watchdog (QEMU -device i6300esb): {NOT_COVERED}\n");
            return none;
        }
        // SAFETY: `pdev` is referenced (just looked up).
        match unsafe { Self::claim(pdev) } {
            Ok(base) => {
                LAST_PET_NS.store(now_ns(), Ordering::Relaxed);
                FIRED_NS.store(0, Ordering::Relaxed);
                PDEV.store(pdev, Ordering::Release);
                BASE.store(base, Ordering::Release);
                ARMED.store(true, Ordering::Release);
                STATE.store(STATE_ARMED, Ordering::Relaxed);
                pr_info!(
                    "guard: i6300ESB armed ({} ms): ends hangs with interrupts off on every CPU at once\n",
                    2 * STAGE_NS / 1_000_000
                );
                // INVARIANT: `claim` enabled, requested, mapped and armed the function.
                Self { pdev, base }
            }
            Err(e) => {
                // SAFETY: drops the lookup's reference; `claim` undid the rest.
                unsafe { bindings::pci_dev_put(pdev) };
                STATE.store(STATE_UNUSABLE, Ordering::Relaxed);
                pr_warn!("guard: i6300ESB not usable ({e:?}): {NOT_COVERED}\n");
                none
            }
        }
    }

    /// Enables the function, takes and maps its BAR and arms the watchdog; undoes what
    /// it did on failure.
    ///
    /// # Safety
    ///
    /// `pdev` is a referenced function.
    unsafe fn claim(pdev: *mut bindings::pci_dev) -> Result<*mut c_void> {
        // SAFETY: `pdev` is referenced; reading its driver pointer is a snapshot.
        if !unsafe { (*pdev).driver }.is_null() {
            return Err(EBUSY);
        }
        // SAFETY: `pdev` is referenced (this function's contract), so it is a valid function.
        kernel::error::to_result(unsafe { bindings::pci_enable_device(pdev) })?;
        // SAFETY: `pdev` is referenced (this function's contract) and enabled; the name is a
        // static string.
        let r = unsafe { bindings::pci_request_region(pdev, 0, c"ndriver-esb".as_char_ptr()) };
        if r != 0 {
            // SAFETY: enabled just above.
            unsafe { bindings::pci_disable_device(pdev) };
            return Err(Error::from_errno(r));
        }
        // SAFETY: `pdev` is referenced (this function's contract); the region of BAR 0 is ours.
        let base = unsafe { bindings::pci_iomap(pdev, 0, 0) };
        let mut lock = 0u8;
        // SAFETY: `pdev` is referenced (this function's contract); `lock` is a valid out-pointer.
        let r = unsafe { bindings::pci_read_config_byte(pdev, CFG_LOCK, &mut lock) };
        let err = if base.is_null() {
            Some(ENOMEM)
        } else if r != 0 || lock & LOCK_LOCKED != 0 {
            // Locked by firmware or an earlier user: it could never be disabled again.
            Some(EPERM)
        } else {
            None
        };
        if let Some(e) = err {
            // SAFETY: undoes the mapping, request and enable made above.
            unsafe {
                if !base.is_null() {
                    bindings::pci_iounmap(pdev, base);
                }
                bindings::pci_release_region(pdev, 0);
                bindings::pci_disable_device(pdev);
            }
            return Err(e);
        }
        // SAFETY: `pdev` is enabled and `base` maps its BAR; nobody else uses the
        // device yet (not armed); process context.
        unsafe { program(pdev, Regs { base }) };
        Ok(base)
    }
}

impl Drop for Esb {
    fn drop(&mut self) {
        if self.pdev.is_null() {
            return;
        }
        // Disarm first, with no tick in the middle of a pet (they only try `BUSY`).
        while BUSY
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            core::hint::spin_loop();
        }
        ARMED.store(false, Ordering::Release);
        // SAFETY: by the type invariant `pdev` is a live, enabled function; process
        // context. Clearing the enable bit stops the countdown.
        unsafe { bindings::pci_write_config_byte(self.pdev, CFG_LOCK, 0) };
        BUSY.store(false, Ordering::Release);
        BASE.store(ptr::null_mut(), Ordering::Release);
        PDEV.store(ptr::null_mut(), Ordering::Release);
        STATE.store(STATE_ABSENT, Ordering::Relaxed);
        // NMI handlers hold the RCU read lock and ticks run with interrupts off: after
        // a grace period none of them still uses the mapping.
        // SAFETY: process context, may sleep.
        unsafe { bindings::synchronize_rcu() };
        // SAFETY: by the type invariant; undoes `claim` and the lookup's reference.
        unsafe {
            bindings::pci_iounmap(self.pdev, self.base);
            bindings::pci_release_region(self.pdev, 0);
            bindings::pci_disable_device(self.pdev);
            bindings::pci_dev_put(self.pdev);
        }
    }
}
