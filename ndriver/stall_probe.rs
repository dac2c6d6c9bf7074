// SPDX-License-Identifier: GPL-2.0

//! What the platform takes from a CPU (`/sys/kernel/debug/ndriver/stalls`): the floor
//! under any latency measured in this guest, recoveries included.
//!
//! Writing `SECS WORK_US` runs, for about `SECS` seconds, pieces of work, each followed
//! by a sleep as long (so that the probe takes about half a CPU, not all of it): a
//! piece spins with interrupts off until it has made `WORK_US` of progress, and its
//! duration is kept. Progress is the time between two consecutive clock reads that lie
//! less than [`GAP_NS`] apart; a longer gap is a stall: with interrupts off only an NMI
//! can run on this CPU in the guest, so the time went to the host (under QEMU, the vCPU
//! thread descheduled or waiting for another vCPU). A piece's duration is then
//! `WORK_US` plus the stalls it met. Run beside the load a latency is measured under, a
//! code path of that length, which also takes interrupts and may sleep, can typically
//! do no better than the pieces' percentiles.

use core::fmt;
use core::sync::atomic::{
    AtomicBool, AtomicU64, Ordering::Acquire, Ordering::Relaxed, Ordering::Release,
};
use kernel::alloc::KVVec;
use kernel::prelude::*;
use kernel::time::{delay::fsleep, Delta};
use kernel::uaccess::UserSliceReader;

use crate::device::now_ns as now;
use crate::guard;

/// A gap between two clock reads at least this long is a stall (a read takes well under
/// a microsecond, even under QEMU's TCG).
const GAP_NS: u64 = 10_000;
/// Longest run, in seconds.
const MAX_SECS: u64 = 60;
/// Smallest and largest piece of work, in microseconds (the largest well below the
/// 10 ms after which ndriver's watchdog sends a CPU that does not tick an NMI).
const WORK_US: core::ops::RangeInclusive<u64> = 10..=5_000;
/// Most pieces one run keeps.
const MAX_PIECES: usize = 100_000;
/// A piece still not done this long past its work is given up, and the run with it (a
/// clock that does not advance with interrupts off, or reads slower than [`GAP_NS`]).
const PIECE_SLACK_NS: u64 = 50_000_000;
/// Clock reads a piece makes at most: what a clock that stands still allows, since the
/// slack above needs it to advance.
const PIECE_READS: u64 = 2_000_000;

/// The percentiles [`StallProbe::pct`] holds, in tenths of a percent.
const PERMILLE: [usize; 5] = [500, 900, 990, 999, 1000];

/// Results of the last run (0 before the first); durations in nanoseconds. Written only
/// while `running` is set, and before it is cleared (release): a reader that sees it
/// clear (acquire) reads one run's results.
pub(crate) struct StallProbe {
    running: AtomicBool,
    work_ns: AtomicU64,
    pieces: AtomicU64,
    /// Percentiles of the pieces' durations ([`PERMILLE`]).
    pct: [AtomicU64; 5],
    stalls: AtomicU64,
    lost_ns: AtomicU64,
    longest_ns: AtomicU64,
    probed_ns: AtomicU64,
}

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
/// duration and the stalls it met, or `None` if it had to be given up
/// ([`PIECE_SLACK_NS`], [`PIECE_READS`]).
fn piece(work_ns: u64) -> Option<(u64, Piece)> {
    guard::with_irqs_off(|| {
        let mut p = Piece::default();
        let start = now();
        let limit = start + work_ns + PIECE_SLACK_NS;
        let (mut last, mut done, mut reads) = (start, 0u64, 0u64);
        while done < work_ns {
            let t = now();
            reads += 1;
            if t > limit || reads > PIECE_READS {
                return None;
            }
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
        Some((last.saturating_sub(start), p))
    })
}

/// The nearest-rank `permille`/1000 quantile of `sorted` (ascending): the smallest value
/// that at least that share of the values does not exceed; 0 for none.
fn nearest_rank(sorted: &[u64], permille: usize) -> u64 {
    let rank = (sorted.len() * permille).div_ceil(1000).max(1);
    sorted.get(rank - 1).copied().unwrap_or(0)
}

/// Runs pieces of `work_ns` for about `secs` seconds, keeps the results in `s`.
/// `EINTR` on a signal, `ETIME` if a piece had to be given up: the last results stay.
fn run(s: &StallProbe, secs: u64, work_ns: u64) -> Result {
    let cap = usize::try_from(secs * 1_000_000_000 / work_ns)
        .unwrap_or(MAX_PIECES)
        .min(MAX_PIECES);
    let mut durations = KVVec::<u64>::with_capacity(cap, GFP_KERNEL)?;
    let mut all = Piece::default();
    let start = now();
    let end = start + secs * 1_000_000_000;
    let pause = Delta::from_nanos(i64::try_from(work_ns).unwrap_or(i64::MAX));
    while durations.len() < cap && now() < end {
        if kernel::current!().signal_pending() {
            return Err(EINTR);
        }
        let Some((d, p)) = piece(work_ns) else {
            pr_warn!(
                "stalls: a piece of {} us did not end within {} ms: run given up\n",
                work_ns / 1000,
                PIECE_SLACK_NS / 1_000_000
            );
            return Err(ETIME);
        };
        all.stalls += p.stalls;
        all.lost_ns += p.lost_ns;
        all.longest_ns = all.longest_ns.max(p.longest_ns);
        if durations.push_within_capacity(d).is_err() {
            break;
        }
        fsleep(pause);
    }
    let probed = now().saturating_sub(start);
    durations.sort_unstable();
    for (slot, pm) in s.pct.iter().zip(PERMILLE) {
        slot.store(nearest_rank(&durations, pm), Relaxed);
    }
    s.work_ns.store(work_ns, Relaxed);
    s.pieces.store(durations.len() as u64, Relaxed);
    s.stalls.store(all.stalls, Relaxed);
    s.lost_ns.store(all.lost_ns, Relaxed);
    s.longest_ns.store(all.longest_ns, Relaxed);
    s.probed_ns.store(probed, Relaxed);
    Ok(())
}

pub(crate) fn show(s: &StallProbe, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    if s.running.load(Acquire) {
        return writeln!(f, "running");
    }
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

/// A decimal number of digits only (no sign).
fn number(word: &str) -> Option<u64> {
    if word.is_empty() || !word.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    word.parse().ok()
}

/// Parses `SECS WORK_US`: seconds and nanoseconds of work.
fn parse(text: &str) -> Option<(u64, u64)> {
    let mut it = text.split_whitespace();
    let secs = number(it.next()?)?;
    let work = number(it.next()?)?;
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
    if s.running.swap(true, Acquire) {
        return Err(EBUSY);
    }
    let r = run(s, secs, work_ns);
    s.running.store(false, Release);
    r
}

#[kunit_tests(ndriver_stall_probe)]
mod tests {
    use super::*;

    #[test]
    fn parses_seconds_and_work() {
        assert_eq!(parse("10 1000\n"), Some((10, 1_000_000)));
        assert_eq!(parse(" 1 10"), Some((1, 10_000)));
        assert_eq!(parse("60 5000"), Some((60, 5_000_000)));
    }

    #[test]
    fn refuses_what_it_cannot_run() {
        for bad in [
            "",
            "10",
            "0 1000",
            "61 1000",
            "10 9",
            "10 5001",
            "10 1000 5",
            "-1 1000",
            "+10 1000",
            "10 +1000",
            "1e1 1000",
        ] {
            assert_eq!(parse(bad), None);
        }
    }

    #[test]
    fn nearest_rank_quantiles() {
        assert_eq!(nearest_rank(&[], 500), 0);
        assert_eq!(nearest_rank(&[7], 1), 7);
        assert_eq!(nearest_rank(&[7], 1000), 7);
        let v: [u64; 100] = core::array::from_fn(|i| i as u64 + 1);
        assert_eq!(nearest_rank(&v, 500), 50);
        assert_eq!(nearest_rank(&v, 990), 99);
        assert_eq!(nearest_rank(&v, 999), 100);
        assert_eq!(nearest_rank(&v, 1000), 100);
        let w: [u64; 101] = core::array::from_fn(|i| i as u64 + 1);
        assert_eq!(nearest_rank(&w, 990), 100);
        assert_eq!(nearest_rank(&w[..99], 990), 99);
    }

    #[test]
    fn a_piece_makes_its_progress() {
        let r = piece(50_000);
        assert!(r.is_some());
        if let Some((d, p)) = r {
            // Its duration is its progress plus its stalls.
            assert!(d >= 50_000 + p.lost_ns);
            assert!(p.longest_ns <= p.lost_ns);
        }
    }
}
