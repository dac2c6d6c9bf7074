#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""campaign-report.py RESULTS: summarises a fault-injection campaign.
campaign-report.py --merge OUT RESULTS...: one report over several campaign runs
(chunks of a campaign too long for one boot), written into OUT.

Reads RESULTS/campaign.tsv (one line per injection, written by
scripts/guest-campaign.sh) and writes RESULTS/campaign.json and RESULTS/campaign.md:
injected / manifested / detected / recovered / data intact per fault class, per
site kind (entry point, random or traced instruction), per device, per entry point and per
implementation, the recovery rate of manifested faults with a 95 % confidence
interval, the outcomes of the corruption classes, and every miss with its kept
kernel log, and how the device's crash report of each detected fail-stop fault
compared with the injection (the report column; campaigns before it lack it). A
merged report numbers injections RUN:N, counts a guest lost per run that did not
finish, and takes the rows a lost run wrote before it ended.
"""

import csv
import json
import math
import os
import re
import sys

STAGES = ["injected", "manifested", "detected", "recovered", "intact"]
CORRUPTIONS = {"flip_dest", "skip_insn", "corrupt_ptr"}
OUTCOMES = ["unreached", "nothing", "detected", "silent", "none"]
REPORTS = ["site", "module", "n/a", "mismatch", "missing"]
DEVICE = {"request": "testdev0", "device": "testdev0", "fio": "ndblk0", "download": "ndeth0"}


def wilson(k, n, z=1.96):
    """95 % Wilson score interval of k successes out of n."""
    if n == 0:
        return None
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return (max(0.0, c - h), min(1.0, c + h))


def fmt_rate(k, n):
    ci = wilson(k, n)
    if ci is None:
        return "n/a"
    return f"{100 * k / n:.2f} % (95 % CI {100 * ci[0]:.2f}-{100 * ci[1]:.2f})"


def tally(rows):
    t = {s: sum(int(r[s]) for r in rows) for s in STAGES}
    t["count"] = len(rows)
    # Recovered with data intact, out of the faults that manifested.
    ok = sum(1 for r in rows if r["manifested"] == "1" and r["detected"] == "1"
             and r["recovered"] == "1" and r["intact"] == "1")
    t["ok"] = ok
    t["rate"] = ok / t["manifested"] if t["manifested"] else None
    t["ci95"] = wilson(ok, t["manifested"])
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
        rate = fmt_rate(t["ok"], t["manifested"])
        lines.append(f"| {k} | " + " | ".join(str(t[s]) for s in STAGES) + f" | {rate} |")
    lines.append("")
    return lines


def is_miss(r):
    """A fault that manifested and was not detected, recovered with data intact; a
    corruption that damaged data unseen or was detected but not recovered; a crash
    report that names the wrong code or is missing."""
    if r["report"] in ("mismatch", "missing"):
        return True
    if r["kind"] == "entry":
        return not all(r[s] == "1" for s in ("manifested", "detected", "recovered", "intact"))
    if r["manifested"] != "1":
        return r["intact"] != "1"
    if r["outcome"] == "silent":
        return True
    if r["class"] not in CORRUPTIONS:
        return not all(r[s] == "1" for s in ("detected", "recovered", "intact"))
    if r["outcome"] == "detected":
        return r["recovered"] != "1" or r["intact"] != "1"
    return False


def outcomes(rows):
    """Per corruption class and device: how many ended how."""
    out = {}
    for r in rows:
        for key in (r["class"], f"{r['class']} on {r['device']}"):
            o = out.setdefault(key, {k: 0 for k in OUTCOMES + ["injected", "recovered_intact"]})
            o["injected"] += 1
            if r["outcome"] in OUTCOMES:
                o[r["outcome"]] += 1
            if r["outcome"] == "detected" and r["recovered"] == "1" and r["intact"] == "1":
                o["recovered_intact"] += 1
    return out


def corruption_table(out):
    lines = ["### Corruption classes at instructions (random or traced)", "",
             "manifested = the site fired and changed a register, a flag or the control flow; "
             "recovered = of those, a fault or hang was detected and recovered with data intact "
             "(a corruption that shows nothing is not counted as recovered).", "",
             "| class | injected | " + " | ".join(OUTCOMES) + " | manifested | recovered |",
             "|---|" + "---:|" * (len(OUTCOMES) + 3)]
    for k, o in sorted(out.items()):
        manifested = o["detected"] + o["silent"] + o["none"]
        lines.append(f"| {k} | {o['injected']} | " + " | ".join(str(o[x]) for x in OUTCOMES)
                     + f" | {manifested} | {fmt_rate(o['recovered_intact'], manifested)} |")
    lines.append("")
    return lines


def report_table(rows):
    """Crash reports of detected fail-stop faults, by site kind."""
    by = {}
    for r in rows:
        if r["report"] == "-":
            continue
        t = by.setdefault(r["kind"], {k: 0 for k in REPORTS})
        t[r["report"]] = t.get(r["report"], 0) + 1
    lines = ["### Crash reports checked against the injection", "",
             "site = the report's ip is the site's own symbol+offset; module = it names "
             "the serving implementation module (an entry point's fault); n/a = nothing to "
             "name (error return, leak, misuse, device hang) or no report due (a fault in "
             "a new instance's probe); mismatch and missing are misses.", ""]
    if not by:
        return lines + ["No report column (a campaign before it).", ""]
    lines += ["| kind | " + " | ".join(REPORTS) + " | named correctly |",
              "|---|" + "---:|" * (len(REPORTS) + 1)]
    for k, t in by.items():
        due = t["site"] + t["module"] + t["mismatch"] + t["missing"]
        lines.append(f"| {k} | " + " | ".join(str(t[x]) for x in REPORTS)
                     + f" | {fmt_rate(t['site'] + t['module'], due)} |")
    lines.append("")
    return lines


def read_rows(res, lost_ok=False):
    path = os.path.join(res, "campaign.tsv")
    if lost_ok and not os.path.exists(path) and not finished(res):
        return []  # lost before its first injection: counted as a guest lost
    try:
        with open(path, newline="") as f:
            return list(csv.DictReader(f, delimiter="\t"))
    except OSError as e:
        sys.exit(f"campaign-report: cannot read {path}: {e}")


def lost_at(run, rows):
    """What a run that did not finish was doing: the injection after its last line, and
    what the guest's console says since that injection's mark (the site that fired,
    the first report of the kernel's)."""
    name = os.path.basename(os.path.normpath(run))
    done = [int(r["n"].split(":")[-1]) for r in rows
            if r["n"].startswith(name + ":") or ":" not in r["n"]]
    text = f"Injection {max(done, default=0) + 1} was in flight"
    try:
        with open(os.path.join(run, "console.log"), errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return text + " (no console.log)."
    marks = [i for i, l in enumerate(lines) if "ndriver-test-mark-" in l]
    tail = lines[marks[-1] + 1:] if marks else lines[-200:]
    keep = [l.strip() for l in tail
            if re.search(r"fired|inject|BUG:|Oops|Kernel panic|general protection", l)][:4]
    if not keep:
        return text + "; its console.log says why."
    return text + "; console.log since its mark:\n\n```\n" + "\n".join(keep) + "\n```"


def finished(res):
    return os.path.exists(os.path.join(res, "campaign-done"))


def main():
    args = sys.argv[1:]
    if len(args) == 1 and not args[0].startswith("-"):
        res, runs = args[0], [args[0]]
        rows = read_rows(res)
        for r in rows:
            r["log"] = f"campaign-miss-{r['n']}.log"
    elif len(args) >= 3 and args[0] == "--merge":
        res, runs = args[1], args[2:]
        if os.path.abspath(res) in (os.path.abspath(r) for r in runs):
            sys.exit("campaign-report: OUT must not be one of the runs")
        os.makedirs(res, exist_ok=True)
        rows = []
        for run in runs:
            name = os.path.basename(os.path.normpath(run))
            for r in read_rows(run, lost_ok=True):
                if None in r.values():
                    continue  # the last line of a run lost while writing it
                r["log"] = os.path.join(os.path.abspath(run), f"campaign-miss-{r['n']}.log")
                r["n"] = f"{name}:{r['n']}"
                rows.append(r)
    else:
        sys.exit("usage: campaign-report.py RESULTS | --merge OUT RESULTS...")
    if not rows:
        sys.exit(f"campaign-report: no injections in {' '.join(runs)}")
    for r in rows:
        r.setdefault("kind", "entry")
        r["kind"] = r.get("kind") or "entry"
        r["outcome"] = r.get("outcome") or "-"
        r["report"] = r.get("report") or "-"
        r["device"] = DEVICE.get(r["workload"], r["workload"])
    failstop = [r for r in rows if r["class"] not in CORRUPTIONS]
    corrupt = [r for r in rows if r["class"] in CORRUPTIONS]

    total = tally(failstop)
    misses = [r for r in rows if is_miss(r)]
    report = {
        "run": os.path.basename(os.path.normpath(res)),
        "total": total,
        "by_class": grouped(failstop, "class"),
        "by_kind": grouped(failstop, "kind"),
        "by_device": grouped(failstop, "device"),
        "by_entry": grouped(failstop, "entry"),
        "by_impl": grouped(failstop, "impl"),
        "by_workload": grouped(failstop, "workload"),
        "by_class_sites": grouped([r for r in failstop if r["kind"] != "entry"], "class"),
        "by_device_sites": grouped([r for r in failstop if r["kind"] != "entry"], "device"),
        "corruptions": outcomes(corrupt),
        "misses": misses,
    }

    rate = fmt_rate(total["ok"], total["manifested"])
    lost = sum(0 if finished(r) else 1 for r in runs)
    report["guest_lost"] = lost
    report["runs"] = [os.path.basename(os.path.normpath(r)) for r in runs]
    with open(os.path.join(res, "campaign.json"), "w") as f:
        json.dump(report, f, indent=1)
    md = [f"# ndriver fault-injection campaign ({report['run']})", "",
          "Made by `make campaign` (scripts/campaign.sh); raw data in campaign.tsv"
          + (f" of the runs {', '.join(report['runs'])} (merged)." if len(runs) > 1 else "."),
          "",
          f"**{len(rows)} injections ({sum(1 for r in rows if r['kind'] != 'entry')} at "
          f"instructions, random or traced); guests lost: {lost}. Fail-stop classes: {total['count']} injections, "
          f"{total['manifested']} manifested, {total['ok']} detected and recovered with data "
          f"intact: {rate} of manifested.**", ""]
    md += table("site kind (fail-stop classes)", "kind", report["by_kind"])
    md += table("device (fail-stop classes)", "device", report["by_device"])
    md += table("fault class (fail-stop, entry points and instruction sites)", "class",
                report["by_class"])
    md += table("fault class (fail-stop, instruction sites only)", "class",
                report["by_class_sites"])
    md += table("device (fail-stop, instruction sites only)", "device",
                report["by_device_sites"])
    md += corruption_table(report["corruptions"])
    md += report_table(rows)
    md += table("entry point", "entry", report["by_entry"])
    md += table("implementation", "impl", report["by_impl"])
    md += table("workload", "workload", report["by_workload"])
    md.append("### Misses")
    md.append("")
    if not misses:
        md.append("None.")
    for r in misses:
        where = r["entry"] if r["kind"] == "entry" else f"site {r.get('site', '?')}"
        md.append(f"- #{r['n']} {r['impl']} {r['workload']} {r['class']} at {where}: "
                  + " ".join(f"{s}={r[s]}" for s in STAGES) + f" outcome={r['outcome']}"
                  + f" report={r['report']}"
                  + f" (kernel log: {r['log']})")
    md.append("")
    # The block workload's own data checks, beyond the per-injection verdicts.
    for run in runs:
        head = f" ({os.path.basename(os.path.normpath(run))})" if len(runs) > 1 else ""
        for name, what in (("campaign-fio-errors.txt", "fio / fsck errors"),
                           ("campaign-skipped", "skipped workloads"),
                           ("campaign-killed.txt", "campaign processes killed (a driver's wild write into its caller's stack)"),
                           ("campaign-kernel-reports.txt", "sanitizer and kernel reports")):
            p = os.path.join(run, name)
            if os.path.exists(p):
                with open(p) as f:
                    text = f.read().strip()
                if text:
                    md += [f"### {what}{head}", "", "```", text[-3000:], "```", ""]
        if os.path.exists(os.path.join(run, "campaign-fsck.txt")):
            p = os.path.join(run, "campaign-fio-errors.txt")
            errors = os.path.exists(p) and "fsck: errors" in open(p).read()
            md += [f"ext4 on ndblk0 after the block workload{head}: the last fsck "
                   + ("found errors (campaign-fsck.txt)." if errors else "clean.")
                   + " Checks after single corruptions: campaign-fsck-N.txt, listed above.", ""]
        if not finished(run):
            md += [f"**Guest lost{head}**: the run did not finish. " + lost_at(run, rows), ""]
    with open(os.path.join(res, "campaign.md"), "w") as f:
        f.write("\n".join(md))


if __name__ == "__main__":
    main()
