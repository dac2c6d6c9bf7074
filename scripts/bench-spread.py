#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""The spread of identical runs over one or more `make bench` result directories of one
configuration, and what it lets a paired comparison judge.

Usage: bench-spread.py [--json FILE] [--width PCT] [--n N,N,...] RESULTS_DIR...

For every test and variant (the C-versus-Rust runs of bench-nic.txt / bench-blk.txt,
Apache, the independence runs of bench-indep.txt with their modes (quiet, faulted, failstop) as variants,
and the guard's cost per call in bench-guard.txt with direct and guarded): the
coefficient of variation (CV) and max/min of the runs within a boot, pooled over the
boots, and the CV of the boots' geometric means (between boots). For every pair of
variants measured in the same rounds (guarded/unguarded, guarded/C, unguarded/C,
faulted/quiet, failstop/quiet, faulted/failstop, guarded/direct, guarded/base with NDRIVER_BENCH_BASE): the standard
deviation of the per-round log ratio (within a boot, pooled), the ratio of each boot,
and from that the half-width of the 95 % interval of the geometric-mean ratio for n
rounds, the smallest true difference n rounds detect at 95 % with 80 % power (MDD),
and the rounds needed for a half-width of WIDTH (default 2 %) and of half that. A
target of ±2 % is judgeable when the half-width at the rounds one runs is well below
2 %.

The directories should share one configuration (bench-config.txt, written by
scripts/bench.sh): differences other than the commit and the host's load are listed
as a warning. Directories without C-versus-Rust results still give the guard and
independence figures.
"""
import argparse
import importlib.util
import json
import math
import statistics
import sys
from pathlib import Path

_spec = importlib.util.spec_from_file_location("bench_report", Path(__file__).with_name("bench-report.py"))
br = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(br)

# (denominator, numerator) of the ratios reported when both variants are there.
PAIRS = [("unguarded", "guarded"), ("c", "guarded"), ("c", "unguarded"), ("c_nooffload", "unguarded"),
         ("quiet", "faulted"), ("quiet", "failstop"), ("failstop", "faulted"), ("direct", "guarded"), ("base", "guarded")]
# Keys of bench-config.txt that may differ between runs of one configuration.
FREE_KEYS = {"commit", "host_loadavg"}


def load(res):
    """{test: {variant: {round: value}}} from one result directory."""
    tests = {}

    def put(test, variant, rnd, value):
        if value > 0:
            tests.setdefault(test, {}).setdefault(variant, {}).setdefault(rnd, value)

    for (test, size), by_v in br.io_raw(res / "bench-nic.txt", "nic").items():
        name = f"nic {test}" + ("" if size == "-" else f" {size} B")
        for v, runs in by_v.items():
            for rnd, x, _ in runs:
                put(name, v, rnd, x)
    for job, by_v in br.io_raw(res / "bench-blk.txt", "blk").items():
        for v, runs in by_v.items():
            for rnd, iops, _ in runs:
                put(f"blk {job} IOPS", v, rnd, iops)
    _, apache = br.nic_extra(res / "bench-nic.txt")
    for c, by_v in apache.items():
        for v, d in by_v.items():
            for rnd, rps in d["runs"]:
                put(f"apache {c} client(s)", v, rnd, rps)
    p = res / "bench-indep.txt"
    if p.exists():
        for line in p.read_text().splitlines():
            f = line.split()
            if len(f) == 8 and f[0] == "indep":
                try:
                    put(f"indep {f[1]}", f[2], int(f[3]), float(f[4]))
                except ValueError:
                    pass
    p = res / "bench-guard.txt"
    if p.exists():
        for ctx, runs in br.guard_runs(p.read_text()).items():
            for i, (d, g) in enumerate(runs, 1):
                put(f"guard {ctx} cycles/call", "direct", i, d)
                put(f"guard {ctx} cycles/call", "guarded", i, g)
    return tests


def pooled_sd(groups):
    """Pooled standard deviation of several samples (each about its own mean), its
    degrees of freedom; (None, 0) without any sample of two."""
    ss, df = 0.0, 0
    for xs in groups:
        if len(xs) > 1:
            m = statistics.mean(xs)
            ss += sum((x - m) ** 2 for x in xs)
            df += len(xs) - 1
    return (math.sqrt(ss / df), df) if df else (None, 0)


def pct(x, digits=1):
    return "–" if x is None else f"{x * 100:.{digits}f} %"


def fnum(x, fmt="{:.3f}"):
    return "–" if x is None else fmt.format(x)


def analyse(dirs, ns, width):
    data = {str(d): load(d) for d in dirs}
    tests = sorted({t for per in data.values() for t in per})
    variants_rows, pair_rows = [], []
    for t in tests:
        variants = sorted({v for per in data.values() for v in per.get(t, {})})
        for v in variants:
            boots = [list(per[t][v].values()) for per in data.values() if v in per.get(t, {})]
            logs = [[math.log(x) for x in b] for b in boots]
            sd, df = pooled_sd(logs)
            means = [math.exp(statistics.mean(lg)) for lg in logs]
            between = statistics.stdev([math.log(m) for m in means]) if len(means) > 1 else None
            mm = [max(b) / min(b) for b in boots if len(b) > 1]
            n = int(statistics.median([len(b) for b in boots]))
            # Two variants measured like this one, with no true difference and no pairing:
            # their log ratio has sqrt(2) times this standard deviation.
            aa = None if sd is None else sd * math.sqrt(2)
            variants_rows.append({
                "test": t, "variant": v, "boots": len(boots), "runs_per_boot": n,
                "median": statistics.median([x for b in boots for x in b]),
                "cv_within": None if sd is None else math.sqrt(math.exp(sd * sd) - 1),
                "max_over_min_median": statistics.median(mm) if mm else None,
                "max_over_min_max": max(mm) if mm else None,
                "cv_between_boots": None if between is None else math.sqrt(math.exp(between ** 2) - 1),
                "unpaired_half_width": {k: br.half_width(aa, k) for k in ns},
            })
        for a, b in PAIRS:
            if a not in variants or b not in variants:
                continue
            per_boot, boot_ratio = [], []
            for per in data.values():
                ra, rb = per.get(t, {}).get(a, {}), per.get(t, {}).get(b, {})
                lr = [math.log(rb[k] / ra[k]) for k in sorted(ra) if k in rb]
                if lr:
                    per_boot.append(lr)
                    boot_ratio.append(math.exp(statistics.mean(lr)))
            if not per_boot:
                continue
            sd, df = pooled_sd(per_boot)
            n = int(statistics.median([len(x) for x in per_boot]))
            between = statistics.stdev([math.log(r) for r in boot_ratio]) if len(boot_ratio) > 1 else None
            pair_rows.append({
                "test": t, "ratio": f"{b}/{a}", "boots": len(per_boot), "rounds_per_boot": n,
                "ratio_per_boot": [round(r, 4) for r in boot_ratio],
                "sd_log_within": sd, "df": df,
                "sd_log_between_boots": between,
                "half_width": {k: br.half_width(sd, k) for k in sorted(set(ns) | {n})},
                "mdd80": {k: br.mdd(sd, k) for k in sorted(set(ns) | {n})},
                "rounds_for_width": br.n_for(sd, width),
                "rounds_for_half_width": br.n_for(sd, width / 2),
            })
    return variants_rows, pair_rows


def configs(dirs):
    """Configuration differences between the directories, as lines."""
    cfgs = {str(d): br.bench_config(d / "bench-config.txt") for d in dirs}
    keys = sorted({k for c in cfgs.values() for k in c} - FREE_KEYS)
    out = []
    for k in keys:
        vals = {d: c.get(k, "(none)") for d, c in cfgs.items()}
        if len(set(vals.values())) > 1:
            out.append(f"{k}: " + "; ".join(f"{Path(d).name} {v}" for d, v in vals.items()))
    missing = [Path(d).name for d, c in cfgs.items() if not c]
    return out, missing


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dirs", nargs="+", type=Path)
    ap.add_argument("--json", type=Path, help="also write the figures as JSON here")
    ap.add_argument("--width", type=float, default=2.0, help="target half-width, %% (default 2)")
    ap.add_argument("--n", default="5,10,20", help="rounds to give half-widths for (default 5,10,20)")
    args = ap.parse_args()
    for d in args.dirs:
        if not d.is_dir():
            sys.exit(f"bench-spread.py: {d} is not a directory")
    ns = sorted({int(x) for x in args.n.split(",") if x.strip()})
    width = args.width / 100
    vrows, prows = analyse(args.dirs, ns, width)
    diffs, missing = configs(args.dirs)

    md = [f"# Spread of identical runs: {len(args.dirs)} boot(s)", "",
          "Directories: " + ", ".join(f"`{d}`" for d in args.dirs) + "."]
    if diffs:
        md += ["", "**Warning: the directories differ in configuration** (bench-config.txt):", ""]
        md += [f"- {x}" for x in diffs]
    if missing:
        md += ["", "No bench-config.txt (runs before it existed) in: " + ", ".join(missing) + "."]
    md += ["", "## Identical runs, per test and variant", "",
           "*CV within*: coefficient of variation of the runs of one boot, pooled over the boots "
           "(from the standard deviation of the logs). *max/min*: over the runs of a boot, median "
           "and largest over the boots. *CV between*: of the boots' geometric means. *unpaired "
           "±*: the 95 % half-width a ratio of two variants measured like this one would get "
           "from that many unpaired runs each.", "",
           "| test | variant | boots | runs/boot | median | CV within | max/min (median, max) | CV between | "
           + " | ".join(f"unpaired ± n={k}" for k in ns) + " |",
           "|---|---|---|---|---|---|---|---|" + "---|" * len(ns)]
    for r in vrows:
        mm = ("–" if r["max_over_min_median"] is None
              else f"{r['max_over_min_median']:.2f}, {r['max_over_min_max']:.2f}")
        md.append(f"| {r['test']} | {r['variant']} | {r['boots']} | {r['runs_per_boot']} | {r['median']:.2f} "
                  f"| {pct(r['cv_within'])} | {mm} | {pct(r['cv_between_boots'])} | "
                  + " | ".join(pct(r["unpaired_half_width"][k]) for k in ns) + " |")
    if prows:
        md += ["", "## Ratios paired by round", "",
               "*sd*: standard deviation of the per-round log ratio within a boot, pooled. *±*: "
               "half-width of the 95 % t interval of the geometric-mean ratio over that many rounds; "
               "*MDD*: the true difference detected at 95 % with 80 % power. *rounds for ±W*: rounds "
               f"needed for a half-width of {args.width:g} % and of {args.width / 2:g} % ('>200' past "
               "200). *between*: standard deviation of the boots' log ratios: well above sd/√rounds, "
               "the boots disagree by more than their own intervals say.", "",
               "| test | ratio | boots | rounds/boot | ratio per boot | sd | ± at rounds/boot | MDD at rounds/boot | "
               + " | ".join(f"± n={k}" for k in ns)
               + f" | rounds for ±{args.width:g} % | rounds for ±{args.width / 2:g} % | between |",
               "|---|---|---|---|---|---|---|---|" + "---|" * len(ns) + "---|---|---|"]
        for r in prows:
            n = r["rounds_per_boot"]
            md.append(f"| {r['test']} | {r['ratio']} | {r['boots']} | {n} | "
                      + ", ".join(f"{x:.3f}" for x in r["ratio_per_boot"])
                      + f" | {fnum(r['sd_log_within'])} | {pct(r['half_width'][n])} | {pct(r['mdd80'][n])} | "
                      + " | ".join(pct(r["half_width"][k]) for k in ns)
                      + f" | {r['rounds_for_width'] or '>200'} | {r['rounds_for_half_width'] or '>200'} "
                      + f"| {fnum(r['sd_log_between_boots'])} |")
        sds = [r["sd_log_within"] for r in prows if r["sd_log_within"] is not None]
        if sds:
            sd = statistics.median(sds)
            need = br.n_for(sd, width)
            md += ["", f"Median over the paired ratios: sd {sd:.3f}; ±{args.width:g} % needs about "
                   + (f"{need} rounds." if need else "more than 200 rounds.")]
    print("\n".join(md))
    if args.json:
        args.json.write_text(json.dumps({"dirs": [str(d) for d in args.dirs], "config_differences": diffs,
                                         "variants": vrows, "pairs": prows}, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
