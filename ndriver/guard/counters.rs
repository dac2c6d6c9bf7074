// SPDX-License-Identifier: GPL-2.0

//! The runtime's counters, and [`show`], which writes them.

use core::sync::atomic::{AtomicU64, Ordering};

use super::frame::{CPUS, SLOTS};
use crate::detected::{Detected, NR_DETECTED};

/// Calls ended by the guard, by what ended them (indexed by [`Detected`]).
pub(super) static STATS: [AtomicU64; NR_DETECTED] = [const { AtomicU64::new(0) }; NR_DETECTED];
/// Calls the guard could not arm (runtime stopped, no free task slot): they did not run.
pub(super) static UNAVAILABLE: AtomicU64 = AtomicU64::new(0);
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
        Detected::Bug,
        Detected::PageFault,
        Detected::Gpf,
        Detected::Divide,
        Detected::StackOverflow,
        Detected::OtherTrap,
        Detected::Hang,
    ] {
        write!(
            f,
            " {}={}",
            class.guard_name(),
            STATS[class as usize].load(Ordering::Relaxed)
        )?;
    }
    writeln!(f, " unavailable={}", UNAVAILABLE.load(Ordering::Relaxed))?;
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
    writeln!(
        f,
        "guard frames task_slots={slots} cpu_chains={chained} lost={}",
        super::entry::FRAMES_LOST.load(Ordering::Relaxed)
    )?;
    writeln!(
        f,
        "guard kernel_faults contained={} left_to_kernel={}",
        KERNEL_FAULTS.load(Ordering::Relaxed),
        KERNEL_FAULTS_LEFT.load(Ordering::Relaxed)
    )?;
    super::lock_paths::show(f)?;
    super::stack_guard::show(f)?;
    writeln!(
        f,
        "guard printk_depth restore={}",
        u8::from(super::printk_depth_restorable())
    )
}
