#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turns the raw results of scripts/guest-bench.sh into bench.json, bench.md and plots.

Usage: bench-report.py RESULTS_DIR
"""
import json
import math
import re
import statistics
import sys
from pathlib import Path

PHASES = ["contain", "quiesce", "undo", "instantiate", "reconfigure", "redirect", "reissue", "total"]


def guard_runs(text):
    """Cycles per call by run: {'process': [(direct, guarded)], 'irqs_off': [...]}."""
    runs = {"process": [], "irqs_off": []}
    for line in text.splitlines():
        m = re.match(r"run \d+ (process|irqs_off) direct_cycles ([\d.]+) guarded_cycles ([\d.]+)", line)
        if m:
            runs[m.group(1)].append((float(m.group(2)), float(m.group(3))))
    return runs


def undo_runs(text):
    """Cycles per record + forget of one undo action, by run."""
    return [float(m.group(1)) for m in
            re.finditer(r"run \d+ undo_list record_forget_cycles ([\d.]+)", text)]


def unfinished_runs(text):
    """Cycles per lend + take of one skb in the unfinished-transmit table, by run."""
    return [float(m.group(1)) for m in
            re.finditer(r"run \d+ unfinished_tx lend_take_cycles ([\d.]+)", text)]


def clock_runs(text):
    """Cycles per clock read by run: (ktime_get, rdtsc)."""
    return [(float(m.group(1)), float(m.group(2))) for m in
            re.finditer(r"run \d+ clock ktime_get_cycles ([\d.]+) rdtsc_cycles ([\d.]+)", text)]


def tsc_mhz(console):
    """The guest's TSC rate in MHz from its kernel log (refined if there), or None."""
    if not console.exists():
        return None
    text = console.read_text(errors="replace")
    m = (re.search(r"Refined TSC clocksource calibration: ([\d.]+) MHz", text)
         or re.search(r"tsc: Detected ([\d.]+) MHz", text))
    return float(m.group(1)) if m else None


def split_causes(recs):
    """The recoveries that followed a fault, and every cause seen. Swaps and
    rejuvenations go through the same path but follow no fault: listed on their own
    rows, kept out of "all", as are retries in place."""
    planned = ("swap", "rejuvenation")
    # A retry in place (level=hot) replaces nothing: its own row, not in "all".
    return ([r for r in recs if r["cause"] not in planned and r.get("level") != "hot"],
            sorted({r["cause"] for r in recs}))


def recovery_dists(recs):
    """Distribution of each phase, over the faults ("all") and by cause."""
    faults, causes = split_causes(recs)
    return {
        "all": {p: dist([r[f"{p}_ns"] for r in faults]) for p in PHASES},
        "by_cause": {
            c: {p: dist([r[f"{p}_ns"] for r in recs if r["cause"] == c]) for p in PHASES}
            for c in causes
        },
    }


def recovery_table(dists, causes, title):
    """Markdown lines: medians by phase, then p90 and max of the total, by cause."""
    md = ["", f"## {title}", "",
          "| cause | n | " + " | ".join(f"{p} median" for p in PHASES) + " | total p90 | total max |",
          "|---|---|" + "---|" * (len(PHASES) + 2)]
    for c in ["all"] + causes:
        d = dists["all"] if c == "all" else dists["by_cause"][c]
        if not d["total"]:
            continue
        cells = [f"{d[p]['median'] / 1000:.1f}" for p in PHASES]
        md.append(f"| {c} | {d['total']['n']} | " + " | ".join(cells)
                  + f" | {d['total']['p90'] / 1000:.1f} | {d['total']['max'] / 1000:.1f} |")
    return md


# Published whole-recovery times to set the levels against (DESIGN.md's seeds): nDriver
# (Linux 2.4, real hardware, a total), MINIX 3 (an Ethernet driver, mean). The Arc
# restart framework defines the hot / warm / cold ladder but gives no time we can set
# beside these.
PUBLISHED_RECOVERY = [("nDriver, total", 468.71), ("MINIX 3, Ethernet driver (mean)", 360_000.0)]
LEVEL_QUANTILES = [("p10", 0.10), ("p50", 0.50), ("p90", 0.90), ("p99", 0.99)]


def level_records(recs, level):
    """The recoveries at `level` after a failure among `recs` that have a total time (no
    swaps or rejuvenations; a record without a level is cold)."""
    return [r for r in recs if r.get("level", "cold") == level
            and r["cause"].split()[0] not in ("swap", "rejuvenation")
            and isinstance(r.get("total_ns"), int)]


def level_totals(recs, level):
    """The total times of `level_records`."""
    return [r["total_ns"] for r in level_records(recs, level)]


def by_level(sets):
    """[(device, level, totals in ns)] for the recoveries after faults of each
    (device, records) in `sets`, one entry per level seen, hot first."""
    out = []
    for dev, recs in sets:
        for level in ("hot", "warm", "cold"):
            v = level_totals(recs, level)
            if v:
                out.append((dev, level, v))
    return out


def slowest_steps(sets, q=0.9):
    """Where the slow recoveries' time went: for each (device, records) in `sets` and
    level, the recoveries after a fault at or above quantile `q` of that level's totals,
    grouped by their slowest step (`slowest=STEP:NS` in `recoveries`; records written
    before it have none and are left out)."""
    out = []
    for dev, recs in sets:
        for level in ("warm", "cold"):
            rs = [r for r in level_records(recs, level) if ":" in str(r.get("slowest", ""))]
            # Fewer, and "at or above p90" is one recovery.
            if len(rs) < 10:
                continue
            cut = quantile([r["total_ns"] for r in rs], q)
            slow = [r for r in rs if r["total_ns"] >= cut]
            steps = {}
            for r in slow:
                name, _, ns = r["slowest"].rpartition(":")
                if ns.isdigit():
                    steps.setdefault(name, []).append((int(ns), r["total_ns"]))
            for name, v in sorted(steps.items(), key=lambda kv: -len(kv[1])):
                out.append({"device": dev, "level": level, "recoveries": len(rs), "slow": len(slow),
                            "cut_ns": cut, "step": name, "n": len(v),
                            "step_median_ns": statistics.median(x for x, _ in v),
                            "share_of_total": round(statistics.median(x / t for x, t in v), 3)})
    return out


def slowest_table(rows):
    """Markdown lines for `slowest_steps`."""
    md = ["", "## Where the slow recoveries' time went (recoveries at or above their level's p90)", "",
          "Each recovery names its longest single step of the undo and instantiate phases",
          "(`slowest=` in `recoveries`, Documentation/debugfs.rst).", "",
          "| device | level | recoveries | at/above p90 (µs) | slowest step | n | step median µs | median share of total |",
          "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        md.append(f"| {r['device']} | {r['level']} | {r['recoveries']} | {r['slow']} (≥ {r['cut_ns'] / 1000:.0f}) "
                  f"| {r['step']} | {r['n']} | {r['step_median_ns'] / 1000:.1f} | {r['share_of_total']:.2f} |")
    return md


def stall_results(path):
    """The stall probe's runs (bench-stalls.txt: "stalls LOAD ROUND key=value ...", the
    values in µs or counts), by load, in file order; runs without pieces left out."""
    runs = {}
    if not path.exists():
        return runs
    for line in path.read_text().splitlines():
        f = line.split()
        if len(f) < 4 or f[0] != "stalls":
            continue
        try:
            kv = {k: int(v) for k, v in (x.split("=", 1) for x in f[3:])}
            rnd = int(f[2])
        except ValueError:
            continue
        # A stream run whose stream gave no throughput did not run under it.
        if (kv.get("pieces", 0) > 0 and kv.get("probed_us", 0) > 0 and "work_us" in kv
                and (f[1] != "stream" or kv.get("tcp_mbit_s", 0) > 0)):
            runs.setdefault(f[1], []).append({"round": rnd, **kv})
    return runs


STALL_PCTS = ("p50_us", "p90_us", "p99_us", "p999_us", "max_us")


def stall_table(stalls, warm):
    """Markdown lines for `stall_results`: per load, the median over its runs of each
    percentile of a piece's duration [the runs' range], the stalls a second and the
    share of time lost; then the warm NIC recoveries' p99 beside the stream's."""
    if not stalls:
        return []
    md = ["", "## What the host takes from a vCPU (stall probe), µs", "",
          "Pieces of work with interrupts off, one after the other (debugfs `stalls`,",
          "Documentation/debugfs.rst): a gap of 10 µs or more between two clock reads is time",
          "the host took; each piece is followed by a sleep as long. Idle, and under the",
          "availability runs' TCP stream (fault-free). A code path as long as a piece, timed",
          "in this guest under that load, typically does no better than the pieces'",
          "percentiles (it also takes interrupts, and may sleep). Median over the runs [their",
          "range].", "",
          "| load | runs | work | pieces | p50 | p90 | p99 | p99.9 | max | stalls/s | lost, ms/s |",
          "|---|---|---|---|---|---|---|---|---|---|---|"]
    for load, runs in sorted(stalls.items()):
        cells = []
        for k in STALL_PCTS:
            v = [r[k] for r in runs if k in r]
            cells.append(f"{statistics.median(v):.0f} [{min(v)}, {max(v)}]" if v else "–")
        secs = sum(r["probed_us"] for r in runs) / 1e6
        lost = sum(r.get("lost_us", 0) for r in runs) / 1e6
        work = sorted({r.get("work_us") for r in runs})
        md.append(f"| {load} | {len(runs)} | {'/'.join(map(str, work))} | "
                  f"{sum(r['pieces'] for r in runs)} | " + " | ".join(cells)
                  + f" | {sum(r.get('stalls', 0) for r in runs) / secs:.1f} | {1000 * lost / secs:.1f} |")
    stream = stalls.get("stream", [])
    if warm and stream:
        work = "/".join(str(w) for w in sorted({r["work_us"] for r in stream}))
        md += ["", f"ndeth0's warm recoveries in the availability runs (every fault period): p50 "
               f"{quantile(warm, 0.5) / 1000:.0f} µs, p99 {quantile(warm, 0.99) / 1000:.0f} µs "
               f"({len(warm)} recoveries); a piece of {work} µs under the stream: p99 "
               f"{statistics.median(r['p99_us'] for r in stream):.0f} µs (median of {len(stream)} runs)."]
    return md


def level_table(levels):
    """Markdown lines: the recovery-time distribution by device and level (its CDF at
    a few points), with the published figures below."""
    md = ["", "## Recovery time by level, µs (every recovery after a fault in this run)", "",
          "| device | level | n | " + " | ".join(q for q, _ in LEVEL_QUANTILES) + " | max |",
          "|---|---|---|" + "---|" * (len(LEVEL_QUANTILES) + 1)]
    for dev, level, v in levels:
        cells = [f"{quantile(v, q) / 1000:.1f}" for _, q in LEVEL_QUANTILES]
        md.append(f"| {dev} | {level} | {len(v)} | " + " | ".join(cells) + f" | {max(v) / 1000:.1f} |")
    md += ["", "Published, for the shape (real hardware, not TCG): "
           + "; ".join(f"{n} {t:g} µs" for n, t in PUBLISHED_RECOVERY) + "."]
    return md


def recoveries(text):
    """One dict per recovery, deduplicated by sequence number within a round (a
    "round N" line starts one: each load of ndriver numbers its recoveries from 1). A
    retry in place (level=hot: no instance replaced) is its own cause row
    ("error_return (hot)"), not mixed with the replacements of that cause."""
    seen = {}
    rnd = 0
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "round" and parts[1].isdigit():
            rnd = int(parts[1])
            continue
        if not parts or not parts[0].isdigit():
            continue
        rec = {"seq": int(parts[0])}
        for kv in parts[1:]:
            k, _, v = kv.partition("=")
            rec[k] = int(v) if v.isdigit() else v
        if rec.get("level") == "hot" and "cause" in rec:
            rec["cause"] = f"{rec['cause']} (hot)"
        seen[(rnd, rec["seq"])] = rec
    return [seen[k] for k in sorted(seen)]


VARIANTS = ["c", "unguarded", "guarded"]
VLABEL = {"c": "C driver", "unguarded": "Rust, unguarded", "guarded": "Rust, guarded"}
# The targets: loss of guarded against unguarded at most 1 % (throughput) or
# 2 % (transaction rates, IOPS); Rust (guarded) at least 90 % of C's throughput.
TARGET_GUARD_TPUT = 0.99
TARGET_GUARD_RATE = 0.98
TARGET_RUST_VS_C = 0.90
# Issue 16: guarded Rust e1000 at least 95 % of C on TCP_RR.
TARGET_RUST_VS_C_RR = 0.95
# The ratios reported per test: name -> (denominator, numerator).
PAIRS = {"guarded_vs_unguarded": ("unguarded", "guarded"), "unguarded_vs_c": ("c", "unguarded"),
         "guarded_vs_c": ("c", "guarded")}


def bench_config(path):
    """bench-config.txt (scripts/bench.sh): {key: rest of the line}, or {}."""
    if not path.exists():
        return {}
    out = {}
    for line in path.read_text().splitlines():
        k, _, v = line.partition(" ")
        if k:
            out[k] = v.strip()
    return out


def io_raw(path, kind):
    """Every run from bench-nic.txt / bench-blk.txt, with its round.

    NIC lines "nic VARIANT TEST SIZE VALUE UNIT [ROUND]": {(test, size): {variant:
    [(round, value, unit)]}}. Block lines "blk VARIANT JOB ROUND IOPS MIBS": {job:
    {variant: [(round, iops, mibs)]}}; "blkcpu VARIANT JOB ROUND US_PER_IO" (kind
    "blkcpu"): {job: {variant: [(round, us)]}}. Lines of older runs without a round are numbered
    by their order per test and variant."""
    raw = {}
    if not path.exists():
        return raw
    for line in path.read_text().splitlines():
        f = line.split()
        try:
            if kind == "nic" and len(f) in (6, 7) and f[0] == "nic":
                runs = raw.setdefault((f[2], f[3]), {}).setdefault(f[1], [])
                rnd = int(f[6]) if len(f) == 7 else len(runs) + 1
                runs.append((rnd, float(f[4]), f[5]))
            elif kind == "blk" and len(f) == 6 and f[0] == "blk":
                raw.setdefault(f[2], {}).setdefault(f[1], []).append((int(f[3]), float(f[4]), float(f[5])))
            elif kind == "blkcpu" and len(f) == 5 and f[0] == "blkcpu":
                raw.setdefault(f[2], {}).setdefault(f[1], []).append((int(f[3]), float(f[4])))
        except ValueError:
            continue
    return raw


# Guest CPU per request, guarded against unguarded: at most this much more (a cost).
TARGET_GUARD_CPU = 1.02


def blk_cpu_rows(raw):
    """Per fio job: each variant's median busy us per request, the spread of its runs,
    and the paired ratios (guarded/unguarded, unguarded/C, guarded/C, and guarded/base
    when the base ran)."""
    rows = []
    for job, by_v in raw.items():
        med = {v: statistics.median(x for _, x in runs) for v, runs in by_v.items()}
        spread = {v: cv([x for _, x in runs]) for v, runs in by_v.items()}
        paired = {k: paired_by_round(by_v, a, b) for k, (a, b) in PAIRS.items()}
        paired["guarded_vs_base"] = paired_by_round(by_v, "base", "guarded")
        rows.append({"job": job, "us_per_io": med, "cv": spread, "paired": paired,
                     "guard_verdict": verdict_ci(paired["guarded_vs_unguarded"], TARGET_GUARD_CPU,
                                                 higher_is_better=False)})
    return rows


def io_results(path, kind):
    """Medians over repetitions from bench-nic.txt / bench-blk.txt (io_raw), with the
    spread of the repetitions (min, max, coefficient of variation).

    NIC: {(test, size): {variant: {value, unit, n, min, max, cv}}}.
    Block: {job: {variant: {iops, mib_s, n, min, max, cv}}}."""
    out = {}
    for key, by_v in io_raw(path, kind).items():
        out[key] = {}
        for v, runs in by_v.items():
            xs = [x for _, x, _ in runs]
            d = {"n": len(xs), "min": min(xs), "max": max(xs), "cv": cv(xs)}
            if kind == "nic":
                d.update(value=statistics.median(xs), unit=runs[0][2])
            else:
                d.update(iops=statistics.median(xs), mib_s=statistics.median(y for _, _, y in runs))
            out[key][v] = d
    return out


def by_round(runs):
    """{round: value} from [(round, value, ...)] (the first run of a round)."""
    out = {}
    for r in runs:
        out.setdefault(r[0], r[1])
    return out


def paired_by_round(by_v, a, b):
    """paired_ratio of b/a over the rounds in which both variants gave a number."""
    if a not in by_v or b not in by_v:
        return None
    ra, rb = by_round(by_v[a]), by_round(by_v[b])
    return paired_ratio([(ra[k], rb[k]) for k in sorted(ra) if k in rb])


def nic_extra(path):
    """Medians over repetitions of the guest's CPU utilisation during netperf
    ("niccpu VARIANT TEST SIZE PERCENT [ROUND]": {(test, size): {variant: percent}}) and
    of the Apache runs ("apache VARIANT CLIENTS REQ_PER_S P50_MS P99_MS FAILED [ROUND]":
    {clients: {variant: {rps, p50_ms, p99_ms, failed, n, runs}}}, failures summed; runs:
    [(round, rps)])."""
    cpu, apache = {}, {}
    if not path.exists():
        return {}, {}
    for line in path.read_text().splitlines():
        f = line.split()
        try:
            if len(f) in (5, 6) and f[0] == "niccpu":
                cpu.setdefault((f[2], f[3]), {}).setdefault(f[1], []).append(float(f[4]))
            elif len(f) in (7, 8) and f[0] == "apache":
                runs = apache.setdefault(int(f[2]), {}).setdefault(f[1], [])
                rnd = int(f[7]) if len(f) == 8 else len(runs) + 1
                runs.append((float(f[3]), float(f[4]), float(f[5]), int(f[6]), rnd))
        except ValueError:
            continue
    cpu = {k: {v: statistics.median(x) for v, x in by_v.items()} for k, by_v in cpu.items()}
    apache = {c: {v: {"rps": statistics.median(r[0] for r in runs),
                      "p50_ms": statistics.median(r[1] for r in runs),
                      "p99_ms": statistics.median(r[2] for r in runs),
                      "failed": sum(r[3] for r in runs), "n": len(runs),
                      "min": min(r[0] for r in runs), "max": max(r[0] for r in runs),
                      "cv": cv([r[0] for r in runs]),
                      "runs": [(r[4], r[0]) for r in runs]}
                  for v, runs in by_v.items()}
              for c, by_v in apache.items()}
    return cpu, apache


# bench-avail.txt's tags: recoveries warm where they can be (and the fault-free run),
# or always cold (policy warm=0).
AVAIL_TAGS = {"avail": "warm", "avail-cold": "cold"}


def avail_results(path):
    """bench-avail.txt lines "TAG PERIOD METRIC VALUE ROUND" (TAG avail or avail-cold;
    without ROUND: one round): [{period, restart, ...}], by period, warm before cold.
    Throughput and requests are medians over the rounds, failed requests and
    recoveries sums; each faulted run's throughput is compared with the fault-free run
    of its own round: the geometric mean of those ratios and, with two rounds or more,
    its 95 % interval (`paired_ratio`)."""
    if not path.exists():
        return []
    by_p = {}
    for line in path.read_text().splitlines():
        f = line.split()
        if len(f) in (4, 5) and f[0] in AVAIL_TAGS:
            rnd = int(f[4]) if len(f) == 5 else 1
            by_p.setdefault((int(f[1]), AVAIL_TAGS[f[0]]), {}).setdefault(rnd, {})[f[2]] = float(f[3])
    base = by_p.get((0, "warm"), {})
    rows = []
    for p, level in sorted(by_p, key=lambda k: (k[0] != 0, -k[0], k[1] != "warm")):
        rounds = by_p[(p, level)]

        def med(m):
            v = [d[m] for d in rounds.values() if m in d]
            return statistics.median(v) if v else None

        def total(m):
            v = [d[m] for d in rounds.values() if m in d]
            return sum(v) if v else None

        pairs = [(base[r]["tcp_mbit_s"], d["tcp_mbit_s"]) for r, d in sorted(rounds.items())
                 if "tcp_mbit_s" in d and "tcp_mbit_s" in base.get(r, {})]
        logs = [math.log(b / a) for a, b in pairs if a > 0 and b > 0]
        point = round(math.exp(statistics.mean(logs)), 4) if logs and p != 0 else None
        reqs, failed = total("http_requests"), total("http_failed") or 0
        pinged = [d for d in rounds.values() if "pings_sent" in d and "pings_lost" in d]
        rows.append({"period_s": p, "restart": None if p == 0 else level,
                     "rounds": len(rounds),
                     "tcp_mbit_s": med("tcp_mbit_s"),
                     "tcp_vs_fault_free": point if p != 0 else (1.0 if logs else None),
                     "tcp_vs_fault_free_ci": paired_ratio(pairs) if p != 0 else None,
                     "http_requests": reqs, "http_failed": failed,
                     "http_success": ratio(reqs - failed, reqs) if reqs else None,
                     "recoveries": total("recoveries"), "secs": total("secs"),
                     "pings_sent": sum(d["pings_sent"] for d in pinged) if pinged else None,
                     "pings_lost": sum(d["pings_lost"] for d in pinged) if pinged else None,
                     "recoveries_pinged": sum(d.get("recoveries", 0) for d in pinged),
                     "link_events": total("link_events")})
    return rows


# Issue 17's targets for ndeth0 under traffic: warm recoveries p50 <= 1 ms and p99 <=
# 5 ms; TCP throughput with a fault every 1 s at least 80 % of the fault-free run's,
# every 5 s at least 95 %.
WARM_P50_NS = 1_000_000
WARM_P99_NS = 5_000_000
AVAIL_TARGETS = {1: 0.80, 5: 0.95}


def quantile(values, q):
    """The q-quantile of values (nearest rank), or None."""
    if not values:
        return None
    v = sorted(values)
    return v[min(len(v) - 1, max(0, int(q * len(v) + 0.999999) - 1))]


def quantile_ci(values, q, z=1.96):
    """A distribution-free 95 % interval of the q-quantile of the population the values
    were drawn from (order statistics, normal approximation of the binomial): (low,
    high), high None when the sample is too small to bound it from above (low None from
    below)."""
    n = len(values)
    if n == 0:
        return (None, None)
    v = sorted(values)
    h = z * math.sqrt(n * q * (1 - q))
    lo = math.floor(n * q - h)  # 1-based rank
    hi = math.ceil(n * q + h) + 1
    return (v[lo - 1] if lo >= 1 else None, v[hi - 1] if hi <= n else None)


def quantile_target(values, q, target, what):
    """A target row (what, value, target, verdict) for quantile `q` of `values` (ns) at
    most `target`, judged from its 95 % interval: "met" when the interval lies below the
    target, "missed" above, else "undecided"; None without values."""
    v = quantile(values, q)
    if v is None:
        return None
    lo, hi = quantile_ci(values, q)
    ci = (f" (95 % CI {lo / 1000 if lo is not None else 0:.0f}-"
          + (f"{hi / 1000:.0f}" if hi is not None else "?") + " µs)")
    if hi is not None and hi <= target:
        verdict = "met"
    elif lo is not None and lo > target:
        verdict = "missed"
    else:
        verdict = "undecided"
    return (f"{what} ({len(values)} recoveries)", f"{v / 1000:.0f} µs{ci}",
            f"<= {target / 1000:.0f} µs", verdict)


def warm_targets(nic_recs, avail):
    """Issue 17's targets, each (what, value, target, verdict). The recovery-time
    quantiles are judged from their 95 % interval over the run's recoveries
    (`quantile_target`); the throughput ratios from the interval of the ratio paired by
    round (`avail_results`), "undecided" with one round."""
    warm = level_totals(nic_recs, "warm")
    rows = [quantile_target(warm, q, target, f"ndeth0 warm recovery total, {name}")
            for name, q, target in (("p50", 0.5, WARM_P50_NS), ("p99", 0.99, WARM_P99_NS))]
    rows = [r for r in rows if r is not None]
    for r in avail:
        t = AVAIL_TARGETS.get(r["period_s"])
        if t is None or r["restart"] != "warm" or r["tcp_vs_fault_free"] is None:
            continue
        ci = r["tcp_vs_fault_free_ci"]
        value = fmt_ratio(r["tcp_vs_fault_free"])
        value += f" [{ci['lo']:.3f}, {ci['hi']:.3f}], {ci['n']} rounds" if ci else ", one round"
        rows.append((f"TCP_STREAM with a fault every {r['period_s']} s, warm, vs fault-free",
                     value, f">= {t:.2f}", verdict_ci(ci, t) if ci else "undecided"))
    # Pings lost and link events over the warm faulted runs (the fault-free runs' losses,
    # if any, are the stream's own: shown beside them).
    warm_runs = [r for r in avail if r["restart"] == "warm" and r["recoveries"]]
    free = next((r for r in avail if r["period_s"] == 0), None)
    pinged = [r for r in warm_runs if r["pings_sent"] is not None and r["recoveries_pinged"]]
    if pinged:
        lost = sum(r["pings_lost"] for r in pinged)
        recs = sum(r["recoveries_pinged"] for r in pinged)
        sent = sum(r["pings_sent"] for r in pinged)
        free_lost = free["pings_lost"] if free and free["pings_sent"] is not None else None
        base = (f"; fault-free runs: {free_lost:.0f} of {free['pings_sent']:.0f}"
                if free_lost is not None else "")
        # Pings the fault-free runs lose too are the stream's (a full queue), not the
        # recoveries': then the count cannot tell.
        verdict = "met" if lost == 0 else ("undecided" if free_lost else "missed")
        rows.append(("pings lost per warm recovery (5 pings/s beside the stream)",
                     f"{lost / recs:.2f} ({lost:.0f} of {sent:.0f} over {recs:.0f} recoveries{base})",
                     "0", verdict))
    if warm_runs and all(r["link_events"] is not None for r in warm_runs):
        ev = sum(r["link_events"] for r in warm_runs)
        rows.append(("ndeth0 link events (ip monitor link) during the warm runs",
                     f"{ev:.0f} over {sum(r['recoveries'] for r in warm_runs):.0f} recoveries",
                     "0", "met" if ev == 0 else "missed"))
    return rows


def blk_warm_targets(blk_recs):
    """Issue 17's block target: ndblk0's warm recovery p50 (`quantile_target`)."""
    row = quantile_target(level_totals(blk_recs, "warm"), 0.5, WARM_P50_NS,
                          "ndblk0 warm recovery total under fio, p50")
    return [row] if row else []


def dev_stats(path):
    """Recoveries, swaps and failed calls of a device during the benchmark (its stats;
    summed over the rounds when the file has one block per round)."""
    if not path.exists():
        return None
    st = {}
    for line in path.read_text().splitlines():
        f = line.split()
        if len(f) == 2 and f[1].isdigit() and f[0] != "round":
            st[f[0]] = st.get(f[0], 0) + int(f[1])
        elif len(f) == 6 and f[0] == "entry":
            st["failures"] = st.get("failures", 0) + int(f[5])
    return {k: st.get(k, 0) for k in ("recoveries", "swaps", "failures")}


def ratio(a, b):
    return round(a / b, 4) if a is not None and b else None


def fmt_ratio(r):
    return "–" if r is None else f"{r:.3f}"


def verdict_target(point, ci, target):
    """A target's verdict from the paired interval; with one round there is none."""
    if point is None and ci is None:
        return "not measured"
    if ci is None:
        return "undecided"
    return verdict_ci(ci, target)


def spread_rows(nic, blk, apache):
    """The spread of identical runs: per test and variant, n, median, coefficient of
    variation and max/min over the repetitions."""
    rows = []
    for (test, size), by_v in nic.items():
        for v, d in by_v.items():
            rows.append({"what": test if size == "-" else f"{test} {size} B", "variant": v, "n": d["n"],
                         "median": d["value"], "cv": d["cv"],
                         "max_over_min": round(d["max"] / d["min"], 3) if d["min"] > 0 else None})
    for c, by_v in sorted(apache.items()):
        for v, d in by_v.items():
            rows.append({"what": f"Apache {c} client(s)", "variant": v, "n": d["n"], "median": d["rps"],
                         "cv": d["cv"], "max_over_min": round(d["max"] / d["min"], 3) if d["min"] > 0 else None})
    for job, by_v in blk.items():
        for v, d in by_v.items():
            rows.append({"what": f"fio {job}", "variant": v, "n": d["n"], "median": d["iops"], "cv": d["cv"],
                         "max_over_min": round(d["max"] / d["min"], 3) if d["min"] > 0 else None})
    return rows


def spread_table(report):
    """Markdown: the spread of identical runs, then what it lets the paired ratios judge."""
    rows = [r for r in report.get("spread", []) if r["n"] > 1]
    if not rows:
        return []
    md = ["", "## Spread of identical runs", "",
          "Per test and variant over the rounds of this boot: coefficient of variation (standard",
          "deviation / mean) and max/min. scripts/bench-spread.py compares several boots.", "",
          "| test | variant | runs | median | CV | max/min |", "|---|---|---|---|---|---|"]
    for r in rows:
        cvs = "–" if r["cv"] is None else f"{r['cv'] * 100:.1f} %"
        mm = "–" if r["max_over_min"] is None else f"{r['max_over_min']:.2f}"
        md.append(f"| {r['what']} | {r['variant']} | {r['n']} | {r['median']:.2f} | {cvs} | {mm} |")
    sp, cvsum = report.get("run_to_run_spread_max_over_min"), report.get("run_to_run_cv")
    if sp and cvsum:
        md += ["", f"Over all tests and variants: CV median {cvsum['median'] * 100:.1f} %, largest "
               f"{cvsum['max'] * 100:.1f} %; max/min median {sp['median']:.2f}, largest {sp['max']:.2f}."]
    sds = [ci["sd_log"] for t in report.get("targets", []) for ci in [t["paired"]] if ci]
    if sds:
        sd = statistics.median(sds)
        n = statistics.median([t["paired"]["n"] for t in report["targets"] if t["paired"]])
        n = int(n)
        hw = half_width(sd, n)
        need = n_for(sd, 0.02)
        md += ["", f"Paired ratios (the targets above): median standard deviation of the per-round log "
               f"ratio {sd:.3f}; with {n} rounds that gives a 95 % interval of ±{hw * 100:.1f} % "
               f"(a true difference of {mdd(sd, n) * 100:.1f} % is detected with 80 % power); "
               + (f"±2 % needs about {need} rounds." if need else "±2 % needs more than 200 rounds.")]
    return md


def dist(values):
    if not values:
        return {}
    v = sorted(values)
    q = statistics.quantiles(v, n=10) if len(v) > 1 else [v[0]] * 9
    return {"n": len(v), "min": v[0], "median": statistics.median(v), "p90": q[8], "max": v[-1]}


# Two-sided 95 % quantiles of Student's t, for 1 to 30 degrees of freedom.
T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
        2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
        2.060, 2.056, 2.052, 2.048, 2.045, 2.042]
# One-sided 80 % quantiles of Student's t (for the difference detectable with 80 %
# power), 1 to 30 degrees of freedom.
T80 = [1.376, 1.061, 0.978, 0.941, 0.920, 0.906, 0.896, 0.889, 0.883, 0.879, 0.876, 0.873,
       0.870, 0.868, 0.866, 0.865, 0.863, 0.862, 0.861, 0.860, 0.859, 0.858, 0.858, 0.857,
       0.856, 0.856, 0.855, 0.855, 0.854, 0.854]


def t975(df):
    return T975[df - 1] if df <= len(T975) else 1.96


def t80(df):
    return T80[df - 1] if df <= len(T80) else 0.842


def cv(xs):
    """Coefficient of variation (sample standard deviation / mean), or None."""
    if len(xs) < 2 or statistics.mean(xs) == 0:
        return None
    return round(statistics.stdev(xs) / statistics.mean(xs), 4)


def half_width(sd_log, n):
    """Relative half-width of the 95 % interval of a geometric-mean ratio over n pairs
    whose log-ratios have standard deviation sd_log (exp(t * sd / sqrt n) - 1)."""
    if sd_log is None or n < 2:
        return None
    return math.exp(t975(n - 1) * sd_log / math.sqrt(n)) - 1


def mdd(sd_log, n):
    """Smallest true difference (relative) that n pairs detect at 95 % with 80 % power."""
    if sd_log is None or n < 2:
        return None
    return math.exp((t975(n - 1) + t80(n - 1)) * sd_log / math.sqrt(n)) - 1


def n_for(sd_log, width, most=200):
    """Pairs needed for a 95 % half-width at most `width` (relative), or None past most."""
    if sd_log is None:
        return None
    if sd_log == 0:
        return 2
    for n in range(2, most + 1):
        if half_width(sd_log, n) <= width:
            return n
    return None


# The other devices during one device's recoveries: within 5 % of undisturbed.
TARGET_INDEP = 0.95
INDEP_WHAT = {"nic": ("ndeth1", "TCP_STREAM 16 KiB", "nic0 (start_xmit)"),
              "blk": ("ndblk1", "4 KiB random read, QD8", "ndblk0 (queue_rq)")}


def paired_ratio(pairs):
    """Geometric mean of b/a over (a, b) pairs and its 95 % t interval (on the logs)."""
    logs = [math.log(b / a) for a, b in pairs if a > 0 and b > 0]
    n = len(logs)
    if n < 2:
        return None
    m, sd = statistics.mean(logs), statistics.stdev(logs)
    h = (T975[n - 2] if n - 1 <= len(T975) else 1.96) * sd / math.sqrt(n)
    return {"n": n, "ratio": round(math.exp(m), 4), "lo": round(math.exp(m - h), 4),
            "hi": round(math.exp(m + h), 4), "sd_log": round(sd, 5)}


def verdict_ci(ci, target, higher_is_better=True):
    """met / missed / undecided from the interval, never from the point estimate: met
    when all of it is at or above the target (at or below it for a cost, not
    higher_is_better), missed when all of it is on the other side."""
    if ci is None:
        return "not measured"
    lo, hi = (ci["lo"], ci["hi"]) if higher_is_better else (-ci["hi"], -ci["lo"])
    t = target if higher_is_better else -target
    if lo >= t:
        return "met"
    if hi < t:
        return "missed"
    return "undecided"


# The injected modes of scripts/guest-bench-indep.sh, each paired with the quiet run of
# its round (faulted: panic, null, div0, spin in turn; failstop: the same without spin).
INDEP_MODES = ("faulted", "failstop")


def indep_results(path):
    """bench-indep.txt: per class and injected mode, the runs paired with the quiet run
    of their round and the ratio."""
    if not path.exists():
        return {}
    runs = {}
    for line in path.read_text().splitlines():
        f = line.split()
        if len(f) != 8 or f[0] != "indep":
            continue
        _, cls, mode, rnd, val, unit, nb, me = f
        runs.setdefault(cls, {}).setdefault(rnd, {})[mode] = (float(val), unit, int(nb), int(me))
    out = {}
    for cls, rounds in runs.items():
        quiet = [r["quiet"][0] for r in rounds.values() if "quiet" in r]
        unit = next(iter(next(iter(rounds.values())).values()))[1].replace("10^6bits/s", "Mbit/s")
        modes = {}
        for mode in INDEP_MODES:
            runs_m = [r[mode] for r in rounds.values() if mode in r]
            if not runs_m:
                continue
            # A pair counts when its quiet run saw no neighbour recovery and its
            # injected run at least one.
            both = [r for r in rounds.values() if "quiet" in r and mode in r]
            dropped = [r for r in both if r["quiet"][2] != 0 or r[mode][2] == 0]
            both = [r for r in both if r not in dropped]
            ci = paired_ratio([(r["quiet"][0], r[mode][0]) for r in both])
            modes[mode] = {
                "rounds": len(both), "rounds_dropped": len(dropped),
                "median": statistics.median(m[0] for m in runs_m),
                "neighbour_recoveries_per_run": statistics.median(m[2] for m in runs_m),
                "over_quiet": ci,
                "verdict": verdict_ci(ci, TARGET_INDEP),
            }
        # What the hangs cost beyond the fail-stop faults: faulted against failstop in
        # the same round.
        hang = [r for r in rounds.values() if "faulted" in r and "failstop" in r
                and r["faulted"][2] > 0 and r["failstop"][2] > 0]
        hang_ci = paired_ratio([(r["failstop"][0], r["faulted"][0]) for r in hang])
        out[cls] = {
            "unit": unit,
            "faulted_over_failstop": hang_ci,
            "quiet_median": statistics.median(quiet) if quiet else None,
            "quiet_spread_max_over_min": round(max(quiet) / min(quiet), 3) if quiet and min(quiet) > 0 else None,
            "measured_device_recoveries": sum(m[3] for r in rounds.values() for m in r.values()),
            "modes": modes,
        }
    return out


def indep_table(indep):
    if not indep:
        return []
    md = ["", "## One device's recoveries, seen from another (two NICs, two disks)", "",
          "The measured device runs while its neighbour of the same class carries light traffic;",
          "in the injected runs a real fault is raised in the neighbour's data path every",
          "`NDRIVER_BENCH_INDEP_PERIOD_MS`, so it recovers again and again: *faulted* panic, null,",
          "div0 and spin in turn, *failstop* the same without spin (a hang holds its CPU until the",
          "neighbour's deadline). Each round has one run per mode (the order turning); the ratio is",
          "the geometric mean of injected/quiet over the rounds with its 95 % t interval, judged",
          f"against ≥ {TARGET_INDEP:.2f} from the interval (scripts/guest-bench-indep.sh).", "",
          "| measured | test | neighbour | mode | rounds | quiet median | injected median "
          "| quiet spread | neighbour recoveries / run | measured recoveries | injected/quiet [95 % CI] | verdict |",
          "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for cls, r in indep.items():
        dev, test, nb = INDEP_WHAT.get(cls, (cls, "?", "?"))
        q = "–" if r["quiet_median"] is None else f"{r['quiet_median']:.1f} {r['unit']}"
        sp = "–" if r["quiet_spread_max_over_min"] is None else f"{r['quiet_spread_max_over_min']:.2f}"
        for mode, m in r["modes"].items():
            ci = m["over_quiet"]
            cis = "–" if ci is None else f"{ci['ratio']:.3f} [{ci['lo']:.3f}, {ci['hi']:.3f}]"
            rounds = f"{m['rounds']}" + (f" ({m['rounds_dropped']} dropped)" if m["rounds_dropped"] else "")
            md.append(f"| {dev} | {test} | {nb} | {mode} | {rounds} | {q} | {m['median']:.1f} {r['unit']} "
                      f"| {sp} | {m['neighbour_recoveries_per_run']:.0f} "
                      f"| {r['measured_device_recoveries']} | {cis} | {m['verdict']} |")
    hang = [(INDEP_WHAT.get(cls, (cls,))[0], r["faulted_over_failstop"]) for cls, r in indep.items()
            if r.get("faulted_over_failstop")]
    if hang:
        md += ["", "What the hangs add (faulted against failstop, paired by round): "
               + "; ".join(f"{dev} {ci['ratio']:.3f} [{ci['lo']:.3f}, {ci['hi']:.3f}] (n={ci['n']})"
                           for dev, ci in hang) + "."]
    md += ["", "*quiet spread*: max/min of the quiet runs, the spread of identical runs. A round is",
           "dropped from a mode's pairs when its quiet run saw the neighbour recover or its injected",
           "run did not. *measured recoveries*: the measured device's, over all its runs."]
    return md


def nic_key(key):
    """Sort key of a NIC test (test, size): the tests in this order, sizes ascending."""
    test, size = key
    order = ["TCP_STREAM", "TCP_RR", "UDP_RR", "http_wrk", "http_ab"]
    return (order.index(test) if test in order else len(order), test, int(size) if size.isdigit() else 0)


# NDRIVER_BENCH_BASE (scripts/bench.sh): this tree's modules, guarded, against the base
# revision's (variant "base", guarded); more than this much worse is a regression.
REGRESSION = 0.05


def regression_verdict(ci, higher_is_better):
    """From the 95 % interval of current/base: *no regression* when all of it is better
    than 5 % worse (a rate at or above 0.95 times the base's, cycles or a time at or
    below 1.05 times), *regression* when all of it is worse, *undecided* otherwise."""
    if ci is None:
        return "undecided"
    if higher_is_better:
        ok, bad = ci["lo"] >= 1 - REGRESSION, ci["hi"] < 1 - REGRESSION
    else:
        ok, bad = ci["hi"] <= 1 + REGRESSION, ci["lo"] > 1 + REGRESSION
    return "no regression" if ok else "regression" if bad else "undecided"


def before_after(res, nic_raw, blk_raw, apache, recs):
    """Current (variant guarded, bench-guard.txt, bench-recoveries.txt) against base
    (variant base, bench-guard-base.txt, bench-recoveries-base.txt): rows {what, unit,
    base, current, paired: current/base, higher_is_better, verdict}, and the base's
    recoveries. NIC and block tests pair by round, the guard's cycles by run, the
    recovery time by cause (each cause's median total)."""
    rows = []

    def add(what, unit, base, current, ci, higher=True):
        rows.append({"what": what, "unit": unit, "base": base, "current": current, "paired": ci,
                     "higher_is_better": higher, "verdict": regression_verdict(ci, higher)})

    def med(runs):
        return statistics.median(r[1] for r in runs)

    for key in sorted(nic_raw, key=nic_key):
        by_v = nic_raw[key]
        if "base" in by_v and "guarded" in by_v:
            test, size = key
            add(f"NIC {test}" + ("" if size == "-" else f" {size} B"), by_v["guarded"][0][2].replace("10^6bits/s", "Mbit/s"),
                med(by_v["base"]), med(by_v["guarded"]), paired_by_round(by_v, "base", "guarded"))
    for c, by_v in sorted(apache.items()):
        if "base" in by_v and "guarded" in by_v:
            add(f"Apache {c} client(s)", "req/s", by_v["base"]["rps"], by_v["guarded"]["rps"],
                paired_by_round({v: d["runs"] for v, d in by_v.items()}, "base", "guarded"))
    for job, by_v in blk_raw.items():
        if "base" in by_v and "guarded" in by_v:
            raw_v = {v: [(r, x) for r, x, _ in runs] for v, runs in by_v.items()}
            add(f"fio {job}", "IOPS", med(raw_v["base"]), med(raw_v["guarded"]),
                paired_by_round(raw_v, "base", "guarded"))
    guard_file = res / "bench-guard-base.txt"
    if guard_file.exists():
        cur, base = (res / "bench-guard.txt").read_text(), guard_file.read_text()
        parts = [(f"guarded call, {ctx}", [g for _, g in guard_runs(cur)[ctx]], [g for _, g in guard_runs(base)[ctx]])
                 for ctx in ("process", "irqs_off")]
        parts += [("undo list record + forget", undo_runs(cur), undo_runs(base)),
                  ("unfinished table lend + take", unfinished_runs(cur), unfinished_runs(base))]
        for what, c, b in parts:
            if c and b:
                add(what, "cycles", statistics.median(b), statistics.median(c),
                    paired_ratio(list(zip(b, c))), higher=False)
    rec_file = res / "bench-recoveries-base.txt"
    base_recs = recoveries(rec_file.read_text()) if rec_file.exists() else []
    if base_recs and recs:
        d_cur, d_base = recovery_dists(recs), recovery_dists(base_recs)
        pairs = [(d_base["by_cause"][c]["total"]["median"], d["total"]["median"])
                 for c, d in d_cur["by_cause"].items() if c in d_base["by_cause"]]
        add("recovery, total (testdev0)", "µs", d_base["all"]["total"]["median"] / 1000,
            d_cur["all"]["total"]["median"] / 1000, paired_ratio(pairs), higher=False)
    return rows, base_recs


def before_after_table(ba, label):
    """Markdown: the section "Before vs after"."""
    md = ["", f"## Before vs after ({label})", "",
          "This tree's modules (Rust guarded) against those of the base revision",
          "(`NDRIVER_BENCH_BASE`; variant *base*: built against the same kernel, loaded in this",
          "boot, guarded, in a load of its own before or after the other Rust runs in turn).",
          "*current/base*: the geometric mean of the ratio paired by round (NIC, Apache, fio),",
          "by run (the guard's cycles, three runs) or by cause (recovery: each cause's median",
          "total), with its 95 % t interval. A regression is more than "
          f"{REGRESSION * 100:.0f} % worse: a rate below",
          f"{1 - REGRESSION:.2f} × the base's, cycles or a time above {1 + REGRESSION:.2f} ×. "
          "*regression* when the whole",
          "interval is past that, *no regression* when all of it is on the good side,",
          "*undecided* otherwise (or with fewer than two pairs). base and current: medians."]
    if not ba["rows"]:
        return md + ["", "No results of the base variant (bench-io.log says why)."]
    md += ["", "| measurement | unit | base | current | current/base [95 % CI] | pairs | verdict |",
           "|---|---|---|---|---|---|---|"]
    for r in ba["rows"]:
        ci = r["paired"]
        cis = "–" if ci is None else f"{ci['ratio']:.3f} [{ci['lo']:.3f}, {ci['hi']:.3f}]"
        md.append(f"| {r['what']} | {r['unit']} | {r['base']:.2f} | {r['current']:.2f} | {cis} "
                  f"| {ci['n'] if ci else '–'} | {r['verdict']} |")
    counts = {k: sum(r["verdict"] == k for r in ba["rows"]) for k in ("no regression", "regression", "undecided")}
    md += ["", f"{counts['regression']} regression(s), {counts['no regression']} without regression, "
           f"{counts['undecided']} undecided, of {len(ba['rows'])}."]
    for dev, name in (("nic", "nic0"), ("blk", "ndblk0")):
        st = ba["io_device_stats"][dev]
        if st:
            md.append(f"{name} during the base runs: {st['recoveries']} recoveries, {st['failures']} failed calls.")
    return md


def main():
    res = Path(sys.argv[1])
    guard_text = (res / "bench-guard.txt").read_text()
    runs = guard_runs(guard_text)
    undo = undo_runs(guard_text)
    unfinished = unfinished_runs(guard_text)
    clocks = clock_runs(guard_text)
    recs = recoveries((res / "bench-recoveries.txt").read_text())
    faults, causes = split_causes(recs)
    nic_recs_file = res / "bench-nic-recoveries.txt"
    nic_recs = recoveries(nic_recs_file.read_text()) if nic_recs_file.exists() else []
    blk_recs_file = res / "bench-blk-recoveries.txt"
    blk_recs = recoveries(blk_recs_file.read_text()) if blk_recs_file.exists() else []
    report = {
        "guard_cycles_per_call": {
            ctx: [{"direct": d, "guarded": g, "added": round(g - d, 2)} for d, g in v]
            for ctx, v in runs.items()
        },
        "undo_list_cycles_per_record_forget": undo,
        "unfinished_table_cycles_per_lend_take": unfinished,
        "clock_read_cycles": [{"ktime_get": k, "rdtsc": c} for k, c in clocks],
        "recovery_ns": recovery_dists(recs),
        "nic_recovery_ns": recovery_dists(nic_recs),
        "nic_recovery_ns_by_level": {
            level: recovery_dists([r for r in nic_recs if r.get("level", "cold") == level])
            for level in ("warm", "cold")
        },
        "blk_recovery_ns_by_level": {
            level: recovery_dists([r for r in blk_recs if r.get("level", "cold") == level])
            for level in ("warm", "cold")
        },
        "tsc_mhz": tsc_mhz(res / "console.log"),
    }
    nic = io_results(res / "bench-nic.txt", "nic")
    nic_raw = io_raw(res / "bench-nic.txt", "nic")
    nic_cpu, apache = nic_extra(res / "bench-nic.txt")
    blk = io_results(res / "bench-blk.txt", "blk")
    blk_raw = io_raw(res / "bench-blk.txt", "blk")
    report["config"] = bench_config(res / "bench-config.txt")
    targets = []  # (what, ratio name, ratio of medians, paired interval, target)
    nic_rows = []
    for (test, size), by_v in sorted(nic.items(), key=lambda kv: nic_key(kv[0])):
        val = {v: by_v[v]["value"] if v in by_v else None for v in VARIANTS}
        unit = next(iter(by_v.values()))["unit"].replace("10^6bits/s", "Mbit/s")
        val["c_nooffload"] = by_v["c_nooffload"]["value"] if "c_nooffload" in by_v else None
        row = {"test": test, "size": size, "unit": unit, **val,
               "guarded_vs_unguarded": ratio(val["guarded"], val["unguarded"]),
               "unguarded_vs_c": ratio(val["unguarded"], val["c"]),
               "guarded_vs_c": ratio(val["guarded"], val["c"])}
        raw_v = nic_raw.get((test, size), {})
        row["paired"] = {k: paired_by_round(raw_v, a, b) for k, (a, b) in PAIRS.items()}
        nic_rows.append(row)
        name = test if size == "-" else f"{test} {size} B"
        gu, gc = row["paired"]["guarded_vs_unguarded"], row["paired"]["guarded_vs_c"]
        if test == "TCP_STREAM":
            targets.append((f"NIC {name} throughput", "guarded/unguarded", row["guarded_vs_unguarded"], gu, TARGET_GUARD_TPUT))
            targets.append((f"NIC {name} throughput", "Rust guarded/C", row["guarded_vs_c"], gc, TARGET_RUST_VS_C))
        else:
            targets.append((f"NIC {name} rate", "guarded/unguarded", row["guarded_vs_unguarded"], gu, TARGET_GUARD_RATE))
            if test == "TCP_RR":
                targets.append((f"NIC {name} rate", "Rust guarded/C", row["guarded_vs_c"], gc, TARGET_RUST_VS_C_RR))
    blk_rows = []
    for job, by_v in blk.items():
        iops = {v: by_v[v]["iops"] if v in by_v else None for v in VARIANTS}
        mibs = {v: by_v[v]["mib_s"] if v in by_v else None for v in VARIANTS}
        row = {"job": job, "iops": iops, "mib_s": mibs,
               "guarded_vs_unguarded": ratio(iops["guarded"], iops["unguarded"]),
               "unguarded_vs_c": ratio(iops["unguarded"], iops["c"]),
               "guarded_vs_c": ratio(iops["guarded"], iops["c"])}
        raw_v = {v: [(r, x) for r, x, _ in runs] for v, runs in blk_raw.get(job, {}).items()}
        row["paired"] = {k: paired_by_round(raw_v, a, b) for k, (a, b) in PAIRS.items()}
        blk_rows.append(row)
        targets.append((f"block {job} IOPS", "guarded/unguarded", row["guarded_vs_unguarded"],
                        row["paired"]["guarded_vs_unguarded"], TARGET_GUARD_RATE))
        targets.append((f"block {job} throughput", "Rust guarded/C", row["guarded_vs_c"],
                        row["paired"]["guarded_vs_c"], TARGET_RUST_VS_C))
    stats = {"nic": dev_stats(res / "bench-nic-stats.txt"), "blk": dev_stats(res / "bench-blk-stats.txt")}
    report["io_device_stats"] = stats
    report["nic"] = nic_rows
    report["nic_cpu_percent"] = [{"test": t, "size": sz, **by_v} for (t, sz), by_v in nic_cpu.items()]
    report["apache"] = [{"clients": c, **by_v} for c, by_v in sorted(apache.items())]
    for c, by_v in sorted(apache.items()):
        if "guarded" in by_v and "unguarded" in by_v:
            ci = paired_by_round({v: d["runs"] for v, d in by_v.items()}, "unguarded", "guarded")
            targets.append((f"Apache {c} client(s) rate", "guarded/unguarded",
                            ratio(by_v["guarded"]["rps"], by_v["unguarded"]["rps"]), ci, TARGET_GUARD_RATE))
    report["blk"] = blk_rows
    blk_cpu = blk_cpu_rows(io_raw(res / "bench-blk.txt", "blkcpu"))
    report["blk_cpu_per_io"] = blk_cpu
    avail = avail_results(res / "bench-avail.txt")
    report["availability"] = avail
    report["warm_targets"] = [
        {"what": w, "value": v, "target": t, "verdict": x}
        for w, v, t, x in warm_targets(nic_recs, avail) + blk_warm_targets(blk_recs)
    ]
    report["independence"] = indep_results(res / "bench-indep.txt")
    cfg = report["config"]
    if "base" in cfg:
        rows, base_recs = before_after(res, nic_raw, blk_raw, apache, recs)
        report["before_after"] = {
            "base": cfg["base"], "regression_threshold": REGRESSION, "rows": rows,
            "io_device_stats": {"nic": dev_stats(res / "bench-nic-stats-base.txt"),
                                "blk": dev_stats(res / "bench-blk-stats-base.txt")},
            "recovery_ns": recovery_dists(base_recs)}
    report["targets"] = [{"what": w, "ratio": n, "measured": r, "paired": ci, "target": t,
                          "verdict": verdict_target(r, ci, t)}
                         for w, n, r, ci, t in targets]
    report["spread"] = spread_rows(nic, blk, apache)
    (res / "bench.json").write_text(json.dumps(report, indent=2) + "\n")

    method = ", ".join(f"{k} {cfg[k]}" for k in ("commit", "vcpus", "icount", "nic_peer", "pin", "io_reps", "io_secs",
                                                   "host_cpus", "host_loadavg") if cfg.get(k))
    md = ["# ndriver benchmark", "", f"Raw data and plots: `{res}`. Under QEMU's TCG absolute",
          "numbers mean little; compare the columns of one run."]
    if method:
        md += ["", f"Method (bench-config.txt): {method}."]
    md += ["",
          "## Guard cost per call (TSC cycles, fault-free)", "",
          "| context | run | direct | guarded | added |", "|---|---|---|---|---|"]
    for ctx, v in report["guard_cycles_per_call"].items():
        for i, r in enumerate(v, 1):
            md.append(f"| {ctx} | {i} | {r['direct']:.2f} | {r['guarded']:.2f} | {r['added']:.2f} |")
    added = [r["added"] for r in report["guard_cycles_per_call"]["process"]]
    if added or undo or unfinished:
        md += ["", "## Per-request overhead by part (TSC cycles, fault-free; nDriver's Table 2)", "",
               "Median of the runs, then the runs. *guard*: a guarded call minus a direct one",
               "(process context). *undo list*: recording a resource a callout hands out and",
               "forgetting it when the driver gives it back, under the list's lock. *unfinished",
               "table*: lending a transmitted skb to the driver under a token and taking it",
               "back when the driver reports the token done. *clock read*: one read of the",
               "clock recoveries are timed with (its price is the clocksource's), and of the",
               "TSC alone.", "",
               "| part | median, cycles | median, µs | runs, cycles |", "|---|---|---|---|"]
        mhz = report["tsc_mhz"]
        parts = (("guard", added), ("undo list", undo), ("unfinished table", unfinished),
                 ("clock read (ktime_get, recovery timing)", [k for k, _ in clocks]),
                 ("clock read (TSC alone)", [c for _, c in clocks]))
        for name, v in parts:
            if v:
                med = statistics.median(v)
                us = f"{med / mhz:.3f}" if mhz else "–"
                md.append(f"| {name} | {med:.1f} | {us} | " + ", ".join(f"{x:.1f}" for x in v) + " |")
        if mhz:
            md += ["", f"µs at the guest's TSC rate, {mhz:.1f} MHz (its kernel log); emulated time, not native."]
    md += recovery_table(report["recovery_ns"], causes,
                         f"Recovery time by phase, µs ({len(faults)} recoveries of testdev0, `all` = after faults)")
    # (records, the title's words before and after the count, whether the class
    # redirects with bottom halves off and so has a backlog to show: the NIC, which
    # alone has a tidy step too)
    by_device = [
        (blk_recs, "ndblk0 under fio verify", ", vblk-a; scripts/guest-bench-blk.sh", False),
        (nic_recs, "ndeth0 under traffic", " in the availability runs, guarded e1000-napi", True),
    ]
    for dev_recs, what, where, has_backlog in by_device:
        for level in ("warm", "cold"):
            recs_l = [r for r in dev_recs if r.get("level", "cold") == level]
            if not recs_l:
                continue
            faults_l, causes_l = split_causes(recs_l)
            md += recovery_table(recovery_dists(recs_l), causes_l,
                                 f"Recovery time of {what}, {level} restarts, µs "
                                 f"({len(faults_l)} recoveries{where})")
            backlog = [r["backlog_ns"] for r in faults_l if isinstance(r.get("backlog_ns"), int)]
            if has_backlog and backlog:
                md += ["", "Not in the total: the softirq time on the recovering CPU when the redirect "
                       "turned bottom halves back on (mostly the new instance's transmit queue and "
                       "receive poll), "
                       f"median {statistics.median(backlog) / 1000:.1f} µs, p90 "
                       f"{quantile(backlog, 0.9) / 1000:.1f} µs, max {max(backlog) / 1000:.1f} µs."]
            # Only the NIC tidies (the others' tidy_ns is the clock reads around a no-op).
            tidy = [r["tidy_ns"] for r in faults_l if isinstance(r.get("tidy_ns"), int)]
            if has_backlog and tidy:
                md += ["", "Not in the total either: the class's tidying once the new instance "
                       "served (`tidy_ns`: the NIC frees the skbs the dead instance's device had "
                       f"sent), median {statistics.median(tidy) / 1000:.1f} µs, p90 "
                       f"{quantile(tidy, 0.9) / 1000:.1f} µs, max {max(tidy) / 1000:.1f} µs."]
    levels = by_level([("testdev0", recs), ("ndeth0", nic_recs), ("ndblk0", blk_recs)])
    report["recovery_ns_by_level"] = [
        {"device": d, "level": lv, "n": len(v), **{q: quantile(v, x) for q, x in LEVEL_QUANTILES},
         "max": max(v)} for d, lv, v in levels]
    if levels:
        md += level_table(levels)
    slowest = slowest_steps([("ndeth0", nic_recs), ("ndblk0", blk_recs)])
    report["slowest_steps_of_slow_recoveries"] = slowest
    if slowest:
        md += slowest_table(slowest)
    stalls = stall_results(res / "bench-stalls.txt")
    report["stall_probe"] = stalls
    md += stall_table(stalls, level_totals(nic_recs, "warm"))
    reps = sorted({d["n"] for by_v in list(nic.values()) + list(blk.values()) for d in by_v.values()})
    # Run-to-run spread of one variant and test (max/min over the repetitions): a
    # ratio between variants smaller than this is noise.
    spreads = [d["max"] / d["min"] for by_v in list(nic.values()) + list(blk.values())
               for d in by_v.values() if d["n"] > 1 and d["min"] > 0]
    report["run_to_run_spread_max_over_min"] = (
        {"median": round(statistics.median(spreads), 3), "max": round(max(spreads), 3)} if spreads else None)
    cvs = [r["cv"] for r in report["spread"] if r["cv"] is not None]
    report["run_to_run_cv"] = (
        {"median": round(statistics.median(cvs), 4), "max": round(max(cvs), 4)} if cvs else None)
    (res / "bench.json").write_text(json.dumps(report, indent=2) + "\n")
    if nic_rows:
        if report["config"].get("nic_peer") == "guest":
            peer = ["netperf from the guest to a peer inside the same guest (10.99.0.1: its virtio-net",
                    "NIC, C driver, in a network namespace, wired to the e1000 by a QEMU hub;",
                    "scripts/guest-nic-peer.sh), so both ends run on the guest's vCPUs and in guest",
                    "time: every ratio is of the whole system, the peer's and the stack's work",
                    "included, which dilutes a driver's difference; HTTP: requests/s of a 1 KiB GET",
                    "from scripts/nic-peer.py, a Python server in that namespace;"]
        else:
            peer = ["netperf from the guest to the host side of the tap (10.99.0.1); HTTP: requests/s of",
                    "a 1 KiB GET from scripts/nic-peer.py (a Python server: it bounds the rate);"]
        md += ["", "## NIC: C e1000 vs Rust e1000 (ndeth0) unguarded and guarded", ""] + peer + [
               f"median of {'/'.join(map(str, reps))} run(s) each.", "",
               "| test | message size, B | unit | C | Rust unguarded | Rust guarded | guarded/unguarded | unguarded/C | guarded/C |",
               "|---|---|---|---|---|---|---|---|---|"]
        for r in nic_rows:
            cells = ["–" if r[v] is None else f"{r[v]:.2f}" for v in VARIANTS]
            md.append(f"| {r['test']} | {r['size']} | {r['unit']} | " + " | ".join(cells) + " | "
                      + " | ".join(fmt_ratio(r[k]) for k in ("guarded_vs_unguarded", "unguarded_vs_c", "guarded_vs_c")) + " |")
        if stats["nic"]:
            md += ["", "nic0 during the Rust runs: {recoveries} recoveries, {failures} failed calls.".format(**stats["nic"])]
        if nic_cpu:
            md += ["", "Guest CPU utilisation during each netperf test (netperf `-c`), %"
                   + (" (the peer's included: it runs in the same guest):"
                      if report["config"].get("nic_peer") == "guest" else ":"), "",
                   "| test | message size, B | C | C, no offloads | Rust unguarded | Rust guarded |",
                   "|---|---|---|---|---|---|"]
            for r in nic_rows:
                by_v = nic_cpu.get((r["test"], r["size"]), {})
                if by_v:
                    cells = ["–" if v not in by_v else f"{by_v[v]:.1f}"
                             for v in ("c", "c_nooffload", "unguarded", "guarded")]
                    md.append(f"| {r['test']} | {r['size']} | " + " | ".join(cells) + " |")
        if apache:
            md += ["", "Apache in the guest (40 pages of 0.5 to 256 KiB) under the peer's client",
                   "(scripts/nic-peer.py /load, keep-alive connections, every reply compared with",
                   "the file): requests/s, then median and 99th-percentile latency in ms; failed",
                   "requests summed over the runs.", "",
                   "| clients | C | Rust unguarded | Rust guarded | guarded/unguarded | failed (C/unguarded/guarded) |",
                   "|---|---|---|---|---|---|"]
            for c, by_v in sorted(apache.items()):
                cells = ["–" if v not in by_v else
                         f"{by_v[v]['rps']:.1f} ({by_v[v]['p50_ms']:.1f} / {by_v[v]['p99_ms']:.1f})"
                         for v in VARIANTS]
                rat = ratio(by_v["guarded"]["rps"], by_v["unguarded"]["rps"]) \
                    if "guarded" in by_v and "unguarded" in by_v else None
                failed = "/".join(str(by_v[v]["failed"]) if v in by_v else "–" for v in VARIANTS)
                md.append(f"| {c} | " + " | ".join(cells) + f" | {fmt_ratio(rat)} | {failed} |")
        nooff = [r for r in nic_rows if r["c_nooffload"] is not None]
        if nooff:
            md += ["", "The C driver again with its offloads off (`ethtool -K tso off sg off tx off`):",
                   "what segmentation, scatter-gather and checksum offload are worth to it (the",
                   "Rust e1000-napi has the same three); TCP_STREAM, Mbit/s:", "",
                   "| message size, B | C | C, no offloads | Rust unguarded | Rust guarded | unguarded/C no offloads |",
                   "|---|---|---|---|---|---|"]
            for r in nooff:
                cells = ["–" if r[v] is None else f"{r[v]:.2f}" for v in ("c", "c_nooffload", "unguarded", "guarded")]
                md.append(f"| {r['size']} | " + " | ".join(cells) + " | "
                          + fmt_ratio(ratio(r["unguarded"], r["c_nooffload"])) + " |")
    if blk_rows:
        md += ["", "## Block: C virtio_blk vs Rust virtio-blk (ndblk0) unguarded and guarded", "",
               "fio on the raw device, libaio, O_DIRECT; IOPS (MiB/s in brackets).", "",
               "| job | C | Rust unguarded | Rust guarded | guarded/unguarded | unguarded/C | guarded/C |",
               "|---|---|---|---|---|---|---|"]
        for r in blk_rows:
            cells = ["–" if r["iops"][v] is None else f"{r['iops'][v]:.0f} ({r['mib_s'][v]:.1f})" for v in VARIANTS]
            md.append(f"| {r['job']} | " + " | ".join(cells) + " | "
                      + " | ".join(fmt_ratio(r[k]) for k in ("guarded_vs_unguarded", "unguarded_vs_c", "guarded_vs_c")) + " |")
        if stats["blk"]:
            md += ["", "ndblk0 during the Rust runs: {recoveries} recoveries, {failures} failed calls.".format(**stats["blk"])]
    if blk_cpu:
        icount = report["config"].get("icount", "off")
        md += ["", "## Block: guest CPU per request, µs", "",
               "The guest's busy time over every vCPU (`/proc/stat`: user, system, irq, softirq,",
               "steal, as the periodic tick samples them) from 1 s into each fio run to 1 s before",
               "its end, divided by the run's IOPS times that window; median over the rounds, CV",
               "of the runs in brackets. Ratios paired by round with their 95 % interval; a cost,",
               f"so lower is better. Guarded/unguarded is judged against +{(TARGET_GUARD_CPU - 1) * 100:.0f} % "
               "(met when the whole interval is at or below).",
               "A hard interrupt taken while a vCPU idles is counted as idle (the tick cannot",
               "sample it), which leaves out C virtio_blk's completions more than ndblk0's (in the",
               "block softirq, counted).",
               f"QEMU icount: {icount}" + (" -- guest time advances with the instructions executed "
                                          "while any vCPU runs, so this is guest instructions, counted "
                                          "for every vCPU that is not idle meanwhile."
                                          if icount not in ("off", "") else
                                          " -- busy time is guest time the vCPUs did not idle, which "
                                          "includes time the host did not run them."), "",
               "| job | C | Rust unguarded | Rust guarded | base | guarded/unguarded | verdict | unguarded/C | guarded/C | guarded/base |",
               "|---|---|---|---|---|---|---|---|---|---|"]

        def cpu_ci(ci):
            return "–" if ci is None else f"{ci['ratio']:.3f} [{ci['lo']:.3f}, {ci['hi']:.3f}]"

        for r in blk_cpu:
            cells = []
            for v in VARIANTS + ["base"]:
                x, c = r["us_per_io"].get(v), r["cv"].get(v)
                cells.append("–" if x is None else f"{x:.1f}" + ("" if c is None else f" ({c * 100:.1f} %)"))
            p = r["paired"]
            md.append(f"| {r['job']} | " + " | ".join(cells) + f" | {cpu_ci(p['guarded_vs_unguarded'])} | "
                      f"{r['guard_verdict']} | {cpu_ci(p['unguarded_vs_c'])} | {cpu_ci(p['guarded_vs_c'])} | "
                      f"{cpu_ci(p['guarded_vs_base'])} |")
    if avail:
        md += ["", "## Availability under repeated failure (Rust e1000 guarded on ndeth0)", "",
               "TCP_STREAM from the guest to its peer, then HTTP GETs (wrk, 4 connections), each for",
               "the same time, while a real fault (panic, NULL load, divide error, endless loop in turn)",
               "is raised in the driver's poll / start_xmit / interrupt entry every P seconds;",
               "each faulted run with warm restart (policy warm=1) and without (warm=0), in",
               "alternating order; the whole sequence, fault-free run included, repeated each round.",
               "TCP: median over the rounds; vs fault-free: geometric mean of the ratio to the",
               "fault-free run of the same round [95 % interval]; HTTP requests, failed, recoveries,",
               "pings and link events: all rounds.", "",
               "| fault every | restart | rounds | TCP Mbit/s | vs fault-free | HTTP requests | failed | success | recoveries | pings lost | link events |",
               "|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in avail:
            per = "never" if r["period_s"] == 0 else f"{r['period_s']} s"
            per += f" | {r['restart'] or '–'}"
            tcp = "–" if r["tcp_mbit_s"] is None else f"{r['tcp_mbit_s']:.1f}"
            req = "–" if r["http_requests"] is None else f"{r['http_requests']:.0f}"
            succ = "–" if r["http_success"] is None else f"{r['http_success'] * 100:.2f} %"
            rec = "–" if r["recoveries"] is None else f"{r['recoveries']:.0f}"
            ci = r["tcp_vs_fault_free_ci"]
            vs = fmt_ratio(r["tcp_vs_fault_free"]) + (f" [{ci['lo']:.3f}, {ci['hi']:.3f}]" if ci else "")
            pl = "–" if r["pings_sent"] is None else f"{r['pings_lost']:.0f} of {r['pings_sent']:.0f}"
            le = "–" if r["link_events"] is None else f"{r['link_events']:.0f}"
            md.append(f"| {per} | {r['rounds']} | {tcp} | {vs} | {req} | {r['http_failed']:.0f} | {succ} | {rec} | {pl} | {le} |")
    if report["warm_targets"]:
        md += ["", "## Warm restart targets (issue 17; recovery quantiles with a 95 % interval over the run's recoveries, throughput ratios with the interval paired by round)", "",
               "| what | value | target | verdict |", "|---|---|---|---|"]
        for t in report["warm_targets"]:
            md.append(f"| {t['what']} | {t['value']} | {t['target']} | {t['verdict']} |")
    if targets:
        md += ["", "## Targets (judged from the 95 % interval of the ratio paired by round)", "",
               f"Guarded vs unguarded: at most {100 - TARGET_GUARD_TPUT * 100:.0f} % throughput loss, "
               f"{100 - TARGET_GUARD_RATE * 100:.0f} % transaction-rate or IOPS loss; Rust (guarded) at least "
               f"{TARGET_RUST_VS_C * 100:.0f} % of C's throughput and {TARGET_RUST_VS_C_RR * 100:.0f} % of its "
               "TCP_RR rate. *paired*: the geometric mean over the rounds of the two variants' ratio "
               "in the same round, with its 95 % t interval; *met* when the whole interval is at or "
               "above the target, *missed* when it is below, *undecided* otherwise (and with one "
               "round, which gives no interval). *medians*: the ratio of the medians, for reference.", "",
               "| measurement | ratio | rounds | paired [95 % CI] | medians | target | verdict |",
               "|---|---|---|---|---|---|---|"]
        for t in report["targets"]:
            ci = t["paired"]
            cis = "–" if ci is None else f"{ci['ratio']:.3f} [{ci['lo']:.3f}, {ci['hi']:.3f}]"
            md.append(f"| {t['what']} | {t['ratio']} | {ci['n'] if ci else '–'} | {cis} "
                      f"| {fmt_ratio(t['measured'])} | ≥ {t['target']:.2f} | {t['verdict']} |")
        counts = {k: sum(t["verdict"] == k for t in report["targets"]) for k in ("met", "missed", "undecided")}
        md += ["", f"{counts['met']} of {len(report['targets'])} targets met, {counts['missed']} missed, "
               f"{counts['undecided']} undecided."]
    ba = report.get("before_after")
    if ba:
        short, _, given = ba["base"].partition(" ")
        md += before_after_table(ba, short if given in ("", short) else f"{given}, {short}")
        base_rec = ba["recovery_ns"]
        if base_rec["all"]["total"]:
            md += recovery_table(base_rec, sorted(base_rec["by_cause"]), "Recovery time by phase with the base "
                                 f"revision's modules, µs ({base_rec['all']['total']['n']} recoveries of testdev0)")
    md += spread_table(report)
    md += indep_table(report["independence"])
    (res / "bench.md").write_text("\n".join(md) + "\n")

    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib missing: no plots", file=sys.stderr)
        return
    fig, ax = plt.subplots(figsize=(9, 4.5))
    data = [[r["total_ns"] / 1000 for r in recs if r["cause"] == c] for c in causes]
    ax.boxplot(data, tick_labels=causes)
    ax.set_ylabel("recovery time, µs")
    ax.set_yscale("log")
    ax.set_title("testdev0 recovery time by detected cause (QEMU TCG)")
    fig.tight_layout()
    fig.savefig(res / "recovery-by-cause.png", dpi=110)
    fig, ax = plt.subplots(figsize=(9, 4.5))
    phases = PHASES[:-1]
    med = [statistics.median([r[f"{p}_ns"] / 1000 for r in recs]) for p in phases]
    ax.bar(phases, med)
    ax.set_ylabel("median, µs")
    ax.set_title("testdev0 recovery phases (median over all causes)")
    fig.tight_layout()
    fig.savefig(res / "recovery-phases.png", dpi=110)
    # CDF of the total and of the larger phases, over the recoveries after faults.
    fig, ax = plt.subplots(figsize=(9, 4.5))
    for p in ["total", "contain", "undo", "instantiate", "reissue"]:
        v = sorted(r[f"{p}_ns"] / 1000 for r in faults)
        if not v:
            continue
        ax.step(v, [(i + 1) / len(v) for i in range(len(v))], where="post", label=p)
    ax.set_xscale("log")
    ax.set_xlabel("time, µs (log scale)")
    ax.set_ylabel("fraction of recoveries")
    ax.set_title(f"testdev0 recovery time CDF by phase ({len(faults)} recoveries after faults, QEMU TCG)")
    ax.legend()
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(res / "recovery-cdf.png", dpi=110)
    # CDF of the total by device and level, with the published totals as lines.
    if levels:
        fig, ax = plt.subplots(figsize=(9, 4.5))
        for dev, level, v in levels:
            v = sorted(x / 1000 for x in v)
            ax.step(v, [(i + 1) / len(v) for i in range(len(v))], where="post",
                    label=f"{dev} {level} (n={len(v)})")
        for name, t in PUBLISHED_RECOVERY:
            ax.axvline(t, color="gray", linestyle=":")
            ax.annotate(name, (t, 0.02), rotation=90, fontsize=8, va="bottom", ha="right")
        ax.set_xscale("log")
        ax.set_xlabel("recovery time, µs (log scale)")
        ax.set_ylabel("fraction of recoveries")
        ax.set_title("Recovery time CDF by level (QEMU TCG; published figures: real hardware)")
        ax.legend(fontsize=8)
        ax.grid(True, alpha=0.3)
        fig.tight_layout()
        fig.savefig(res / "recovery-cdf-by-level.png", dpi=110)
    styles = {"c": ("tab:gray", "s", "--"), "c_nooffload": ("tab:gray", "x", ":"),
              "unguarded": ("tab:blue", "o", "-"), "guarded": ("tab:red", "^", "-")}
    labels = {**VLABEL, "c_nooffload": "C driver, offloads off"}
    stream = [r for r in nic_rows if r["test"] == "TCP_STREAM"]
    if stream:
        fig, ax = plt.subplots(figsize=(9, 4.5))
        for v in ["c", "c_nooffload", "unguarded", "guarded"]:
            pts = [(int(r["size"]), r[v]) for r in stream if r[v] is not None]
            if pts:
                c, m, ls = styles[v]
                ax.plot([p[0] for p in pts], [p[1] for p in pts], color=c, marker=m, linestyle=ls, label=labels[v])
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        sizes = sorted({int(r["size"]) for r in stream})
        ax.set_xticks(sizes, [str(x) for x in sizes])
        ax.set_xlabel("netperf TCP_STREAM message size, bytes (log scale)")
        ax.set_ylabel(f"throughput, {stream[0]['unit']} (log scale)")
        ax.set_title("e1000: C driver vs Rust driver unguarded / guarded (QEMU TCG)")
        ax.legend()
        ax.grid(True, alpha=0.3)
        fig.tight_layout()
        fig.savefig(res / "nic-tcp-stream.png", dpi=110)
    pts = avail
    if any(r["tcp_mbit_s"] is not None for r in pts):
        fig, ax = plt.subplots(figsize=(9, 4.5))
        labels = ["never" if r["period_s"] == 0 else f"every {r['period_s']} s, {r['restart']}" for r in pts]
        ax.bar(range(len(pts)), [r["tcp_mbit_s"] or 0 for r in pts], color="tab:red")
        for i, r in enumerate(pts):
            rec = "?" if r["recoveries"] is None else f"{r['recoveries']:.0f}"
            what = f"{rec} recoveries" if r["tcp_mbit_s"] is not None else f"netperf failed ({rec} recoveries)"
            ax.annotate(what, (i, r["tcp_mbit_s"] or 0), ha="center", va="bottom", fontsize=8)
        ax.set_xticks(range(len(pts)), labels)
        ax.set_xlabel("a fault raised in the guarded Rust e1000 driver")
        ax.set_ylabel("TCP_STREAM throughput, Mbit/s")
        ax.set_title("Availability under repeated driver failure (ndeth0, QEMU TCG)")
        ax.grid(True, axis="y", alpha=0.3)
        fig.tight_layout()
        fig.savefig(res / "nic-availability.png", dpi=110)
    if blk_rows:
        fig, ax = plt.subplots(figsize=(9, 4.5))
        w = 0.27
        for i, v in enumerate(VARIANTS):
            xs = [j + (i - 1) * w for j in range(len(blk_rows))]
            ys = [r["iops"][v] or 0 for r in blk_rows]
            ax.bar(xs, ys, w, color=styles[v][0], label=VLABEL[v])
        ax.set_xticks(range(len(blk_rows)), [r["job"] for r in blk_rows])
        ax.set_xlabel("fio job (4 KiB random at queue depth 1 / 32; 128 KiB sequential read, QD32)")
        ax.set_ylabel("IOPS (I/O operations per second)")
        ax.set_title("virtio-blk: C driver vs Rust driver unguarded / guarded (QEMU TCG)")
        ax.legend()
        ax.grid(True, axis="y", alpha=0.3)
        fig.tight_layout()
        fig.savefig(res / "blk-fio-iops.png", dpi=110)


if __name__ == "__main__":
    main()
