#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""campaign-report.py RESULTS: summarises a fault-injection campaign.

Reads RESULTS/campaign.tsv (one line per injection, written by
scripts/guest-campaign.sh) and writes RESULTS/campaign.json and RESULTS/campaign.md:
injected / manifested / detected / recovered / data intact per fault class, per
entry point and per implementation, the recovery rate of manifested faults, and
every miss with its kept kernel log.
"""

import csv
import json
import os
import sys

STAGES = ["injected", "manifested", "detected", "recovered", "intact"]


def tally(rows):
    t = {s: sum(int(r[s]) for r in rows) for s in STAGES}
    t["count"] = len(rows)
    # Recovered with data intact, out of the faults that manifested.
    ok = sum(1 for r in rows if r["manifested"] == "1" and r["detected"] == "1"
             and r["recovered"] == "1" and r["intact"] == "1")
    t["ok"] = ok
    t["rate"] = ok / t["manifested"] if t["manifested"] else None
    return t


def grouped(rows, key):
    groups = {}
    for r in rows:
        groups.setdefault(r[key], []).append(r)
    return {k: tally(v) for k, v in groups.items()}


def table(title, key, groups):
    lines = [f"### By {title}", "",
             f"| {key} | " + " | ".join(STAGES) + " | recovered & intact |",
             "|---|" + "---:|" * (len(STAGES) + 1)]
    for k, t in groups.items():
        rate = "n/a" if t["rate"] is None else f"{100 * t['rate']:.2f} %"
        lines.append(f"| {k} | " + " | ".join(str(t[s]) for s in STAGES) + f" | {rate} |")
    lines.append("")
    return lines


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: campaign-report.py RESULTS")
    res = sys.argv[1]
    path = os.path.join(res, "campaign.tsv")
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f, delimiter="\t"))
    except OSError as e:
        sys.exit(f"campaign-report: cannot read {path}: {e}")
    if not rows:
        sys.exit(f"campaign-report: {path} has no injections")

    total = tally(rows)
    misses = [r for r in rows if not (r["manifested"] == "1" and r["detected"] == "1"
                                      and r["recovered"] == "1" and r["intact"] == "1")]
    report = {
        "run": os.path.basename(os.path.normpath(res)),
        "total": total,
        "by_class": grouped(rows, "class"),
        "by_entry": grouped(rows, "entry"),
        "by_impl": grouped(rows, "impl"),
        "by_workload": grouped(rows, "workload"),
        "misses": [dict(r, log=f"campaign-miss-{r['n']}.log") for r in misses],
    }
    with open(os.path.join(res, "campaign.json"), "w") as f:
        json.dump(report, f, indent=1)

    rate = "n/a" if total["rate"] is None else f"{100 * total['rate']:.2f} %"
    md = [f"# ndriver fault-injection campaign ({report['run']})", "",
          "Made by `make campaign` (scripts/campaign.sh); raw data in campaign.tsv.", "",
          f"**{total['count']} injections; {total['manifested']} manifested; "
          f"{total['ok']} detected, recovered with data intact: {rate} of manifested.**", ""]
    md += table("fault class", "class", report["by_class"])
    md += table("entry point", "entry", report["by_entry"])
    md += table("implementation", "impl", report["by_impl"])
    md += table("workload", "workload", report["by_workload"])
    md.append("### Misses")
    md.append("")
    if not misses:
        md.append("None.")
    for r in misses:
        md.append(f"- #{r['n']} {r['impl']} {r['workload']} {r['class']} in {r['entry']}: "
                  + " ".join(f"{s}={r[s]}" for s in STAGES)
                  + f" (kernel log: campaign-miss-{r['n']}.log)")
    md.append("")
    # The block workload's own data checks, beyond the per-injection verdicts.
    for name, what in (("campaign-fio-errors.txt", "fio / fsck errors"),
                       ("campaign-skipped", "skipped workloads")):
        p = os.path.join(res, name)
        if os.path.exists(p):
            with open(p) as f:
                text = f.read().strip()
            if text:
                md += [f"### {what}", "", "```", text[-3000:], "```", ""]
    fsck = os.path.join(res, "campaign-fsck.txt")
    if os.path.exists(fsck):
        md += ["ext4 on ndblk0 after the block workload: fsck "
               + ("clean." if not os.path.exists(os.path.join(res, "campaign-fio-errors.txt"))
                  else "see above."), ""]
    with open(os.path.join(res, "campaign.md"), "w") as f:
        f.write("\n".join(md))


if __name__ == "__main__":
    main()
