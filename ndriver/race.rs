// SPDX-License-Identifier: GPL-2.0

//! Race points: named places in the core where a test can make one pass stall, so
//! that an interleaving which is otherwise a few instructions wide happens every time.
//!
//! `/sys/kernel/debug/ndriver/race` takes `POINT MICROSECONDS`: the next pass through
//! `POINT` waits that long, then the point disarms itself. Points in process context
//! sleep (up to a minute, so that a test on a slow debug kernel has room); the others
//! spin (up to 10 s, the hard-lockup detector's threshold), so that any context may
//! pass, interrupts off included. Reading the file lists each point as `POINT armed_us hits active`,
//! `hits` counting the passes that stalled (the point's own record that it was
//! reached), `active` those stalling now (so a test can tell that the interleaving it
//! wanted really overlapped the stall).
//! Each device's own `race` file takes the same words and arms the point for that
//! device's passes only (the others go through); reading it shows `armed_us` for the
//! points armed for it.
//! Disarmed, a point costs one load.

use core::fmt;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use kernel::prelude::*;
use kernel::time::{delay::fsleep, Delta};
use kernel::uaccess::UserSliceReader;

/// In `Device::admit`, between loading the current instance and its table.
pub(crate) const ADMIT: usize = 0;
/// In `Device::recover`, after `quiesce`, before the instance is discarded.
pub(crate) const RECOVER_QUIESCED: usize = 1;
/// In `Nic::redirected`, before the dead instance's transmits are sent again.
pub(crate) const NIC_REDIRECT: usize = 2;
/// At the start of `Device::fail_async`, before the failed instance is marked.
pub(crate) const FAIL_ASYNC: usize = 3;
/// In `Device::recover_pending` (the recovery work item), before it takes the pending
/// failure.
pub(crate) const RECOVER_PENDING: usize = 4;
/// In a NIC's `ndo_start_xmit` of a GSO skb, before it admits the serving instance:
/// the skb was checked against the offloads of the instance serving when the stack
/// passed it.
pub(crate) const NIC_XMIT_GSO: usize = 5;

const NAMES: [&str; 6] = [
    "admit",
    "recover_quiesced",
    "nic_redirect",
    "fail_async",
    "recover_pending",
    "nic_xmit_gso",
];

/// Whether a point is passed only in process context, where it may sleep.
const SLEEPS: [bool; NAMES.len()] = [false, true, false, false, true, false];

/// Longest stall a write may ask for at a spinning point (10 s).
const MAX_SPIN_US: u64 = 10_000_000;
/// Longest stall a write may ask for at a sleeping point (60 s).
const MAX_SLEEP_US: u64 = 60_000_000;

static ARMED_US: [AtomicU64; NAMES.len()] = [const { AtomicU64::new(0) }; NAMES.len()];
static HITS: [AtomicU64; NAMES.len()] = [const { AtomicU64::new(0) }; NAMES.len()];
static ACTIVE: [AtomicU64; NAMES.len()] = [const { AtomicU64::new(0) }; NAMES.len()];
/// The owner tag of the device each point is armed for, 0 for any; stored before
/// `ARMED_US` (Release), read after it (Acquire).
static ARMED_FOR: [AtomicUsize; NAMES.len()] = [const { AtomicUsize::new(0) }; NAMES.len()];

/// Passes race point `id` for the device with owner tag `owner`: stalls there if a test
/// armed it, for any device or for this one.
#[inline]
pub(crate) fn point(id: usize, owner: usize) {
    let Some(armed) = ARMED_US.get(id) else {
        return;
    };
    if armed.load(Ordering::Acquire) == 0 {
        return;
    }
    let want = ARMED_FOR[id].load(Ordering::Relaxed);
    if want != 0 && want != owner {
        return;
    }
    let us = armed.swap(0, Ordering::AcqRel);
    if us == 0 {
        return;
    }
    HITS[id].fetch_add(1, Ordering::Relaxed);
    ACTIVE[id].fetch_add(1, Ordering::Relaxed);
    if SLEEPS[id] {
        // The caller is in process context (`SLEEPS`); `us` is at most a minute.
        fsleep(Delta::from_micros(us as i64));
    } else {
        // Busy in steps of a millisecond: a point may be passed with interrupts off.
        for _ in 0..us / 1000 {
            // SAFETY: `__udelay` only spins; any context may call it.
            unsafe { kernel::bindings::__udelay(1000) };
        }
        // SAFETY: `__udelay` only spins, and the remainder is below a millisecond.
        unsafe { kernel::bindings::__udelay((us % 1000) as _) };
    }
    ACTIVE[id].fetch_sub(1, Ordering::Relaxed);
}

/// `race` read: one line per point.
pub(crate) fn show(_: &(), f: &mut fmt::Formatter<'_>) -> fmt::Result {
    show_for(f, 0)
}

/// A `race` file's lines: for the device with owner tag `owner`, `armed_us` counts only
/// where the point is armed for it (0: the global file, every point).
pub(crate) fn show_for(f: &mut fmt::Formatter<'_>, owner: usize) -> fmt::Result {
    for (i, name) in NAMES.iter().enumerate() {
        let armed = ARMED_US[i].load(Ordering::Acquire);
        let mine = owner == 0 || ARMED_FOR[i].load(Ordering::Relaxed) == owner;
        writeln!(
            f,
            "{} {} {} {}",
            name,
            if mine { armed } else { 0 },
            HITS[i].load(Ordering::Relaxed),
            ACTIVE[i].load(Ordering::Relaxed)
        )?;
    }
    Ok(())
}

/// `race` write: `POINT MICROSECONDS` arms a point for any device (0 disarms it).
pub(crate) fn write(_: &(), r: &mut UserSliceReader) -> Result {
    write_for(r, 0)
}

/// A `race` file's write: `POINT MICROSECONDS` arms a point for the device with owner
/// tag `owner` (0: any device), or disarms it.
pub(crate) fn write_for(r: &mut UserSliceReader, owner: usize) -> Result {
    let mut buf = [0u8; 48];
    let len = r.len();
    if len == 0 || len > buf.len() {
        pr_warn!("race: write `POINT MICROSECONDS`\n");
        return Err(EINVAL);
    }
    r.read_slice(&mut buf[..len])?;
    let text = core::str::from_utf8(&buf[..len]).map_err(|_| EINVAL)?;
    let mut words = text.split_whitespace();
    let (Some(name), Some(us), None) = (words.next(), words.next(), words.next()) else {
        pr_warn!("race: write `POINT MICROSECONDS`\n");
        return Err(EINVAL);
    };
    let Some(id) = NAMES.iter().position(|n| *n == name) else {
        pr_warn!("race: no point `{}` (see the file for the list)\n", name);
        return Err(EINVAL);
    };
    let max = if SLEEPS[id] {
        MAX_SLEEP_US
    } else {
        MAX_SPIN_US
    };
    let us = us
        .parse::<u64>()
        .ok()
        .filter(|us| *us <= max)
        .ok_or_else(|| {
            pr_warn!("race: {}: microseconds 0..={}\n", name, max);
            EINVAL
        })?;
    ARMED_FOR[id].store(owner, Ordering::Relaxed);
    ARMED_US[id].store(us, Ordering::Release);
    Ok(())
}
