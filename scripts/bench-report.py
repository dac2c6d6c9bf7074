#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turns the raw results of scripts/guest-bench.sh into bench.json, bench.md and plots.

Usage: bench-report.py RESULTS_DIR
"""
import json
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


def recoveries(text):
    """One dict per recovery, deduplicated by sequence number."""
    seen = {}
    for line in text.splitlines():
        parts = line.split()
        if not parts or not parts[0].isdigit():
            continue
        rec = {"seq": int(parts[0])}
        for kv in parts[1:]:
            k, _, v = kv.partition("=")
            rec[k] = int(v) if v.isdigit() else v
        seen[rec["seq"]] = rec
    return [seen[k] for k in sorted(seen)]


def dist(values):
    if not values:
        return {}
    v = sorted(values)
    q = statistics.quantiles(v, n=10) if len(v) > 1 else [v[0]] * 9
    return {"n": len(v), "min": v[0], "median": statistics.median(v), "p90": q[8], "max": v[-1]}


def main():
    res = Path(sys.argv[1])
    guard_text = (res / "bench-guard.txt").read_text()
    runs = guard_runs(guard_text)
    undo = undo_runs(guard_text)
    recs = recoveries((res / "bench-recoveries.txt").read_text())
    # Swaps and rejuvenations go through the same path but follow no fault: listed on
    # their own rows, kept out of "all".
    planned = ("swap", "rejuvenation")
    faults = [r for r in recs if r["cause"] not in planned]
    causes = sorted({r["cause"] for r in recs})
    report = {
        "guard_cycles_per_call": {
            ctx: [{"direct": d, "guarded": g, "added": round(g - d, 2)} for d, g in v]
            for ctx, v in runs.items()
        },
        "undo_list_cycles_per_record_forget": undo,
        "recovery_ns": {
            "all": {p: dist([r[f"{p}_ns"] for r in faults]) for p in PHASES},
            "by_cause": {
                c: {p: dist([r[f"{p}_ns"] for r in recs if r["cause"] == c]) for p in PHASES}
                for c in causes
            },
        },
    }
    (res / "bench.json").write_text(json.dumps(report, indent=2) + "\n")

    md = ["# ndriver benchmark", "", f"Raw data and plots: `{res}`. Under QEMU's TCG absolute",
          "numbers mean little; compare the columns of one run.", "",
          "## Guard cost per call (TSC cycles, fault-free)", "",
          "| context | run | direct | guarded | added |", "|---|---|---|---|---|"]
    for ctx, v in report["guard_cycles_per_call"].items():
        for i, r in enumerate(v, 1):
            md.append(f"| {ctx} | {i} | {r['direct']:.2f} | {r['guarded']:.2f} | {r['added']:.2f} |")
    if undo:
        md += ["", "## Undo action list cost per resource (TSC cycles, fault-free)", "",
               "Recording one resource in the instance's undo list and forgetting it when the",
               "driver releases it, under the list's lock: "
               + ", ".join(f"run {i}: {u:.2f}" for i, u in enumerate(undo, 1)) + "."]
    md += ["", f"## Recovery time by phase, µs ({len(faults)} recoveries of testdev0, `all` = after faults)", "",
           "| cause | n | " + " | ".join(f"{p} median" for p in PHASES) + " | total p90 | total max |",
           "|---|---|" + "---|" * (len(PHASES) + 2)]
    for c in ["all"] + causes:
        d = report["recovery_ns"]["all"] if c == "all" else report["recovery_ns"]["by_cause"][c]
        if not d["total"]:
            continue
        cells = [f"{d[p]['median'] / 1000:.1f}" for p in PHASES]
        md.append(f"| {c} | {d['total']['n']} | " + " | ".join(cells)
                  + f" | {d['total']['p90'] / 1000:.1f} | {d['total']['max'] / 1000:.1f} |")
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


if __name__ == "__main__":
    main()
