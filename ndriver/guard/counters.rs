// SPDX-License-Identifier: GPL-2.0

//! The runtime's counters, and [`show`], which writes them.

use core::sync::atomic::{AtomicU64, Ordering};

use super::fault::{FaultClass, FAULT_CLASSES};
use super::frame::{CPUS, SLOTS};

pub(super) static STATS: [AtomicU64; FAULT_CLASSES] = [const { AtomicU64::new(0) }; FAULT_CLASSES];
pub(super) static HANG_BY_TIMER: AtomicU64 = AtomicU64::new(0);
pub(super) static HANG_FORCED: AtomicU64 = AtomicU64::new(0);
pub(super) static HANG_HELD: AtomicU64 = AtomicU64::new(0);
/// Faults in core kernel code reached from guarded calls and contained (`kernel_fault`).
pub(super) static KERNEL_FAULTS: AtomicU64 = AtomicU64::new(0);
/// Faults in core kernel code reached from guarded calls and left to the kernel (a `BUG()`,
/// or a fault while the kernel code held a lock).
pub(super) static KERNEL_FAULTS_LEFT: AtomicU64 = AtomicU64::new(0);
pub(super) static HANG_BY_WAIT: AtomicU64 = AtomicU64::new(0);

pub(super) static HANG_BY_NMI: AtomicU64 = AtomicU64::new(0);
pub(super) static NMI_KICKS: AtomicU64 = AtomicU64::new(0);
/// Hangs ended from the ESB's NMI (counted in `HANG_BY_NMI` too).
pub(super) static HANG_BY_ESB: AtomicU64 = AtomicU64::new(0);

/// Writes the runtime's counters (for the top-level `status` file).
pub(crate) fn show(f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
    write!(f, "guard faults")?;
    for class in [
        FaultClass::Bug,
        FaultClass::PageFault,
        FaultClass::GeneralProtection,
        FaultClass::DivideError,
        FaultClass::OtherTrap,
        FaultClass::Hang,
        FaultClass::Unavailable,
    ] {
        write!(
            f,
            " {}={}",
            class.name(),
            STATS[class as usize].load(Ordering::Relaxed)
        )?;
    }
    writeln!(f)?;
    writeln!(
        f,
        "guard hangs by_timer={} by_nmi={} by_wait={} forced={} held={} nmi_kicks={} by_esb={}",
        HANG_BY_TIMER.load(Ordering::Relaxed),
        HANG_BY_NMI.load(Ordering::Relaxed),
        HANG_BY_WAIT.load(Ordering::Relaxed),
        HANG_FORCED.load(Ordering::Relaxed),
        HANG_HELD.load(Ordering::Relaxed),
        NMI_KICKS.load(Ordering::Relaxed),
        HANG_BY_ESB.load(Ordering::Relaxed)
    )?;
    crate::esb::show(f)?;
    let slots = SLOTS
        .iter()
        .filter(|s| !s.task.load(Ordering::Relaxed).is_null())
        .count();
    let chained = CPUS
        .iter()
        .filter(|s| !s.top.load(Ordering::Relaxed).is_null())
        .count();
    writeln!(f, "guard frames task_slots={slots} cpu_chains={chained}")?;
    writeln!(
        f,
        "guard kernel_faults contained={} left_to_kernel={}",
        KERNEL_FAULTS.load(Ordering::Relaxed),
        KERNEL_FAULTS_LEFT.load(Ordering::Relaxed)
    )
}
