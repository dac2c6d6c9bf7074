// SPDX-License-Identifier: GPL-2.0

//! The fault-free cost of the guard (`/sys/kernel/debug/ndriver/bench`).
//!
//! Writing N runs N direct calls of an empty driver-like function and N calls of the
//! same function through the guard, in process context and with interrupts off (the
//! per-CPU path that softirq and hardirq callers take), and keeps the cycle counts
//! (TSC) for reading. Compare the two inside one run: under QEMU's TCG absolute
//! cycle counts mean little.
//!
//! It also times the undo action list's share of a callout: recording a resource and
//! forgetting it again when the driver releases it (what a per-request streaming DMA
//! mapping costs on top of the mapping itself), under the list's IRQ-safe lock, and
//! the unfinished-transmit table's share of a transmitted skb: lending it to the driver
//! under a token and taking it back when the driver reports that token done.
//!
//! And what one read of the clock that recoveries are timed with costs (`ktime_get`,
//! whose price depends on the clocksource: under QEMU a HPET or ACPI PM timer read is
//! an exit to the emulator), beside a plain read of the TSC (`ktime_get` reads it
//! ordered, so a little more than this).

use crate::device::now_ns;
use crate::guard::{self, GuardFn};
use crate::placeholders::nic::TX_STALL_NS;
use crate::placeholders::nic_tx::TxLent;
use crate::undo::action_list::{Action, ActionList, Kind};
use crate::wrappers::net::spare_skb;
use core::fmt;
use core::hint::black_box;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
use kernel::ffi::c_void;
use kernel::new_spinlock_irq;
use kernel::prelude::*;
use kernel::uaccess::UserSliceReader;

/// Calls per chunk with interrupts off, to bound interrupt latency.
const CHUNK: u64 = 10_000;
/// Most calls per run.
const MAX_CALLS: u64 = 10_000_000;
/// Deadline armed for the guarded calls (as an entry point would have).
const DEADLINE_NS: u64 = 50_000_000;
/// Most clock reads per run (a read that exits to the emulator takes microseconds).
const MAX_CLOCK_READS: u64 = 100_000;

/// Results of the last run, in cycles per call (times 100 for two decimals).
pub(crate) struct Bench {
    calls: AtomicU64,
    direct: AtomicU64,
    guarded: AtomicU64,
    direct_atomic: AtomicU64,
    guarded_atomic: AtomicU64,
    undo_pair: AtomicU64,
    unfinished_pair: AtomicU64,
    ktime_get: AtomicU64,
    tsc_read: AtomicU64,
}

impl Bench {
    pub(crate) const fn new() -> Self {
        Self {
            calls: AtomicU64::new(0),
            direct: AtomicU64::new(0),
            guarded: AtomicU64::new(0),
            direct_atomic: AtomicU64::new(0),
            guarded_atomic: AtomicU64::new(0),
            undo_pair: AtomicU64::new(0),
            unfinished_pair: AtomicU64::new(0),
            ktime_get: AtomicU64::new(0),
            tsc_read: AtomicU64::new(0),
        }
    }
}

#[inline(never)]
unsafe extern "C" fn empty_entry(arg: *mut c_void) -> i64 {
    black_box(arg);
    0
}

/// Undo routine of the benchmark's actions: they hold nothing.
///
/// # Safety
///
/// Any action may be passed; nothing is done.
unsafe fn undo_nothing(_a: &Action) {}

/// Cycles (times 100) per record + forget of one action, on a list that holds a few
/// other actions, as an instance's does. `None` without memory for the list.
fn time_undo_pair(n: u64) -> Option<u64> {
    let list = KBox::pin_init(
        new_spinlock_irq!(ActionList::new(), "ndriver_bench_undo"),
        GFP_KERNEL,
    )
    .ok()?;
    let action = |obj: usize| Action {
        kind: Kind::DmaMapping,
        obj,
        arg: 64,
        aux: 0,
        ctx: 0,
        depends_on: 0,
        kept: None,
        undo: undo_nothing,
    };
    for obj in 1..=8 {
        list.lock().record(action(obj)).ok()?;
    }
    let t0 = guard::rdtsc();
    for i in 0..n {
        let obj = black_box(0x1000 + i as usize);
        list.lock().record(action(obj)).ok()?;
        black_box(list.lock().forget(Kind::DmaMapping, obj));
    }
    let t1 = guard::rdtsc();
    t1.wrapping_sub(t0).saturating_mul(100).checked_div(n)
}

/// Cycles (times 100) per lend + stall check + take of one skb in an
/// unfinished-transmit table (what `ndo_start_xmit` adds). `None` without memory for
/// the table or skb.
fn time_unfinished_pair(n: u64) -> Option<u64> {
    let mut skb = spare_skb().ok()?;
    let lent = TxLent::new().ok()?;
    let t0 = guard::rdtsc();
    for _ in 0..n {
        let token = black_box(&lent).lend(skb, 1).ok()?;
        black_box(lent.stalled(1, now_ns(), TX_STALL_NS));
        skb = black_box(lent.take(token, 1).ok()?);
    }
    let t1 = guard::rdtsc();
    t1.wrapping_sub(t0).saturating_mul(100).checked_div(n)
}

/// Cycles (times 100) per read of `ktime_get` and of the TSC alone, `n` reads each
/// (at most [`MAX_CLOCK_READS`]).
fn time_clock_reads(n: u64) -> (u64, u64) {
    let n = n.min(MAX_CLOCK_READS);
    let t0 = guard::rdtsc();
    for _ in 0..n {
        black_box(now_ns());
    }
    let t1 = guard::rdtsc();
    for _ in 0..n {
        black_box(guard::rdtsc());
    }
    let t2 = guard::rdtsc();
    let per = |c: u64| c.saturating_mul(100).checked_div(n).unwrap_or(0);
    (per(t1.wrapping_sub(t0)), per(t2.wrapping_sub(t1)))
}

fn run(b: &Bench, n: u64) {
    let f: GuardFn = black_box(empty_entry);
    let arg = black_box(core::ptr::null_mut::<c_void>());
    let t0 = guard::rdtsc();
    for _ in 0..n {
        // SAFETY: `empty_entry` ignores its argument.
        black_box(unsafe { f(arg) });
    }
    let t1 = guard::rdtsc();
    for _ in 0..n {
        // SAFETY: `f` is `empty_entry`, which ignores its argument, so `f(arg)` is safe to call;
        // it publishes nothing.
        let _ = black_box(unsafe { guard::guarded_call(f, arg, DEADLINE_NS, false, None, 0) });
    }
    let t2 = guard::rdtsc();
    let (mut da, mut ga) = (0u64, 0u64);
    for _ in 0..n.div_ceil(CHUNK) {
        guard::with_irqs_off(|| {
            let a = guard::rdtsc();
            for _ in 0..CHUNK {
                // SAFETY: `f` is `empty_entry`, which ignores its argument.
                black_box(unsafe { f(arg) });
            }
            let m = guard::rdtsc();
            for _ in 0..CHUNK {
                // SAFETY: `f` is `empty_entry`, which ignores its argument, so `f(arg)` is safe to
                // call; it publishes nothing and takes no lock.
                let _ =
                    black_box(unsafe { guard::guarded_call(f, arg, DEADLINE_NS, false, None, 0) });
            }
            let e = guard::rdtsc();
            da = da.wrapping_add(m.wrapping_sub(a));
            ga = ga.wrapping_add(e.wrapping_sub(m));
        });
    }
    // `checked_div`: no division panic path (and `n` is never 0 here anyway).
    let per = |c: u64, k: u64| c.saturating_mul(100).checked_div(k).unwrap_or(0);
    let k = n.div_ceil(CHUNK) * CHUNK;
    b.calls.store(n, Relaxed);
    b.direct.store(per(t1.wrapping_sub(t0), n), Relaxed);
    b.guarded.store(per(t2.wrapping_sub(t1), n), Relaxed);
    b.direct_atomic.store(per(da, k), Relaxed);
    b.guarded_atomic.store(per(ga, k), Relaxed);
    b.undo_pair.store(time_undo_pair(n).unwrap_or(0), Relaxed);
    b.unfinished_pair
        .store(time_unfinished_pair(n).unwrap_or(0), Relaxed);
    let (kt, tsc) = time_clock_reads(n);
    b.ktime_get.store(kt, Relaxed);
    b.tsc_read.store(tsc, Relaxed);
}

pub(crate) fn show(b: &Bench, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let c = |v: &AtomicU64| {
        let v = v.load(Relaxed);
        (v / 100, v % 100)
    };
    let (d, g, da, ga) = (
        c(&b.direct),
        c(&b.guarded),
        c(&b.direct_atomic),
        c(&b.guarded_atomic),
    );
    writeln!(f, "calls {}", b.calls.load(Relaxed))?;
    writeln!(
        f,
        "process direct_cycles {}.{:02} guarded_cycles {}.{:02}",
        d.0, d.1, g.0, g.1
    )?;
    writeln!(
        f,
        "irqs_off direct_cycles {}.{:02} guarded_cycles {}.{:02}",
        da.0, da.1, ga.0, ga.1
    )?;
    let u = c(&b.undo_pair);
    writeln!(f, "undo_list record_forget_cycles {}.{:02}", u.0, u.1)?;
    let q = c(&b.unfinished_pair);
    writeln!(f, "unfinished_tx lend_take_cycles {}.{:02}", q.0, q.1)?;
    let (kt, tsc) = (c(&b.ktime_get), c(&b.tsc_read));
    writeln!(
        f,
        "clock ktime_get_cycles {}.{:02} rdtsc_cycles {}.{:02}",
        kt.0, kt.1, tsc.0, tsc.1
    )
}

pub(crate) fn write(b: &Bench, r: &mut UserSliceReader) -> Result {
    let mut buf = [0u8; 24];
    let len = r.len();
    if len == 0 || len > buf.len() {
        return Err(EINVAL);
    }
    r.read_slice(&mut buf[..len])?;
    let n = core::str::from_utf8(&buf[..len])
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .filter(|n| (1..=MAX_CALLS).contains(n))
        .ok_or_else(|| {
            pr_warn!("bench: write a number of calls, 1..={}\n", MAX_CALLS);
            EINVAL
        })?;
    run(b, n);
    Ok(())
}
