// SPDX-License-Identifier: GPL-2.0

//! What the platform takes from a CPU (`/sys/kernel/debug/ndriver/stalls`): the floor
//! under any latency measured in this guest, recoveries included.
//!
//! Writing `SECS WORK_US` runs, for about `SECS` seconds, one piece of work after the
//! other: each spins with interrupts off until it has made `WORK_US` of progress, and
//! its duration is kept. Progress is the time between two consecutive clock reads that
//! lie less than [`GAP_NS`] apart; a longer gap is a stall: with interrupts off nothing
//! in the guest can run on this CPU, so the time went to the host (under QEMU, the vCPU
//! thread descheduled or waiting for another vCPU). A piece's duration is then
//! `WORK_US` plus the stalls it met, the least any code path of that length can take
//! here. Run it beside the load a latency is measured under, and compare the
//! percentiles: a recovery's p99 cannot be below the p99 of a piece of its length.

use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use kernel::alloc::KVVec;
use kernel::prelude::*;
use kernel::uaccess::UserSliceReader;

use crate::device::now_ns as now;
use crate::guard;

/// A gap between two clock reads at least this long is a stall (a read takes well under
/// a microsecond, even under QEMU's TCG).
const GAP_NS: u64 = 10_000;
/// Longest run, in seconds.
const MAX_SECS: u64 = 60;
/// Smallest and largest piece of work, in microseconds.
const WORK_US: core::ops::RangeInclusive<u64> = 10..=10_000;

/// Results of the last run (0 before the first); the percentiles in nanoseconds.
pub(crate) struct StallProbe {
    running: AtomicBool,
    work_ns: AtomicU64,
    pieces: AtomicU64,
    /// Percentiles of the pieces' durations: 50, 90, 99, 99.9, 100.
    pct: [AtomicU64; 5],
    stalls: AtomicU64,
    lost_ns: AtomicU64,
    longest_ns: AtomicU64,
    probed_ns: AtomicU64,
}

/// The percentiles [`StallProbe::pct`] holds, in tenths of a percent.
const PERMILLE: [usize; 5] = [500, 900, 990, 999, 1000];

impl StallProbe {
    pub(crate) const fn new() -> Self {
        Self {
            running: AtomicBool::new(false),
            work_ns: AtomicU64::new(0),
            pieces: AtomicU64::new(0),
            pct: [const { AtomicU64::new(0) }; 5],
            stalls: AtomicU64::new(0),
            lost_ns: AtomicU64::new(0),
            longest_ns: AtomicU64::new(0),
            probed_ns: AtomicU64::new(0),
        }
    }
}

/// The stalls one piece met.
#[derive(Default)]
struct Piece {
    stalls: u64,
    lost_ns: u64,
    longest_ns: u64,
}

/// One piece: spins with interrupts off until `work_ns` of progress; returns its
/// duration and the stalls it met.
fn piece(work_ns: u64) -> (u64, Piece) {
    guard::with_irqs_off(|| {
        let mut p = Piece::default();
        let start = now();
        let (mut last, mut done) = (start, 0u64);
        while done < work_ns {
            let t = now();
            let d = t.saturating_sub(last);
            last = t;
            if d < GAP_NS {
                done += d;
            } else {
                p.stalls += 1;
                p.lost_ns += d;
                p.longest_ns = p.longest_ns.max(d);
            }
        }
        (last.saturating_sub(start), p)
    })
}

/// Runs pieces of `work_ns` for about `secs` seconds, keeps the results in `s`.
fn run(s: &StallProbe, secs: u64, work_ns: u64) -> Result {
    let cap = usize::try_from(secs * 1_000_000_000 / work_ns).map_err(|_| EINVAL)?;
    let mut durations = KVVec::<u64>::with_capacity(cap, GFP_KERNEL)?;
    let mut all = Piece::default();
    let start = now();
    let end = start + secs * 1_000_000_000;
    while durations.len() < cap && now() < end {
        let (d, p) = piece(work_ns);
        all.stalls += p.stalls;
        all.lost_ns += p.lost_ns;
        all.longest_ns = all.longest_ns.max(p.longest_ns);
        // Within the capacity reserved above: does not allocate.
        if durations.push(d, GFP_NOWAIT).is_err() {
            break;
        }
    }
    let probed = now().saturating_sub(start);
    durations.sort_unstable();
    let n = durations.len();
    for (slot, pm) in s.pct.iter().zip(PERMILLE) {
        // The smallest duration at least `pm` per mille of the pieces do not exceed.
        let rank = (n * pm).div_ceil(1000).max(1);
        slot.store(durations.get(rank - 1).copied().unwrap_or(0), Relaxed);
    }
    s.work_ns.store(work_ns, Relaxed);
    s.pieces.store(n as u64, Relaxed);
    s.stalls.store(all.stalls, Relaxed);
    s.lost_ns.store(all.lost_ns, Relaxed);
    s.longest_ns.store(all.longest_ns, Relaxed);
    s.probed_ns.store(probed, Relaxed);
    Ok(())
}

pub(crate) fn show(s: &StallProbe, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let us = |v: &AtomicU64| v.load(Relaxed) / 1000;
    let [p50, p90, p99, p999, max] = &s.pct;
    writeln!(
        f,
        "work_us={} pieces={} p50_us={} p90_us={} p99_us={} p999_us={} max_us={} \
         stalls={} lost_us={} longest_us={} probed_us={}",
        us(&s.work_ns),
        s.pieces.load(Relaxed),
        us(p50),
        us(p90),
        us(p99),
        us(p999),
        us(max),
        s.stalls.load(Relaxed),
        us(&s.lost_ns),
        us(&s.longest_ns),
        us(&s.probed_ns)
    )
}

/// Parses `SECS WORK_US`.
fn parse(text: &str) -> Option<(u64, u64)> {
    let mut it = text.split_whitespace();
    let secs = it.next()?.parse::<u64>().ok()?;
    let work = it.next()?.parse::<u64>().ok()?;
    if it.next().is_some() || !(1..=MAX_SECS).contains(&secs) || !WORK_US.contains(&work) {
        return None;
    }
    Some((secs, work * 1000))
}

pub(crate) fn write(s: &StallProbe, r: &mut UserSliceReader) -> Result {
    let mut buf = [0u8; 32];
    let len = r.len();
    if len == 0 || len > buf.len() {
        return Err(EINVAL);
    }
    r.read_slice(&mut buf[..len])?;
    let (secs, work_ns) = core::str::from_utf8(&buf[..len])
        .ok()
        .and_then(parse)
        .ok_or_else(|| {
            pr_warn!(
                "stalls: write SECS WORK_US, SECS 1..={}, WORK_US {}..={}\n",
                MAX_SECS,
                WORK_US.start(),
                WORK_US.end()
            );
            EINVAL
        })?;
    if s.running.swap(true, Relaxed) {
        return Err(EBUSY);
    }
    let r = run(s, secs, work_ns);
    s.running.store(false, Relaxed);
    r
}

#[kunit_tests(ndriver_stall_probe)]
mod tests {
    use super::*;

    #[test]
    fn parses_seconds_and_work() {
        assert_eq!(parse("10 1000\n"), Some((10, 1_000_000)));
        assert_eq!(parse(" 1 10"), Some((1, 10_000)));
        assert_eq!(parse("60 10000"), Some((60, 10_000_000)));
    }

    #[test]
    fn refuses_what_it_cannot_run() {
        assert_eq!(parse(""), None);
        assert_eq!(parse("10"), None);
        assert_eq!(parse("0 1000"), None);
        assert_eq!(parse("61 1000"), None);
        assert_eq!(parse("10 9"), None);
        assert_eq!(parse("10 10001"), None);
        assert_eq!(parse("10 1000 5"), None);
        assert_eq!(parse("-1 1000"), None);
    }

    #[test]
    fn a_piece_makes_its_progress() {
        let (d, p) = piece(50_000);
        // Its duration is its progress plus its stalls.
        assert!(d >= 50_000 + p.lost_ns);
        assert!(p.longest_ns <= p.lost_ns);
    }
}
