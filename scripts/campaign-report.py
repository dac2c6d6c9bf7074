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
compared with the injection (the report column; campaigns before it lack it).

A run is made of parts: RESULTS itself and, when scripts/campaign.sh resumed after a
lost guest, RESULTS/part2, part3, ..., each one guest's rows of the same plan
(injections keep their numbers across parts). The report takes the rows of every
part; a part whose guest was lost (no campaign-done, no campaign-aborted) counts one
guest lost, at the injection after the last one it wrote, which is named (from the
part's campaign-current: class, device, site) with what its console said since its
mark, and counted in the "guests lost" column of its class, site kind, device, entry
point, implementation and workload rows (not among the injections). A merged report
numbers injections RUN:N and takes the parts of each run, a lost one's rows included.
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
    # Data damaged with nothing detected (corruptions at sites; 0 for fail-stop rows).
    t["silent"] = sum(1 for r in rows if r.get("outcome") == "silent")
    t["lost"] = 0  # guests lost to injections of the group (not in the counts above)
    # Recovered with data intact, out of the faults that manifested.
    ok = sum(1 for r in rows if r["manifested"] == "1" and r["detected"] == "1"
             and r["recovered"] == "1" and r["intact"] == "1")
    t["ok"] = ok
    t["rate"] = ok / t["manifested"] if t["manifested"] else None
    t["ci95"] = wilson(ok, t["manifested"])
    return t


def grouped(rows, key, lost=()):
    """Tallies by KEY, and the lost injections (named ones) in their group's "lost"."""
    groups = {}
    for r in rows:
        groups.setdefault(r[key], []).append(r)
    out = {k: tally(v) for k, v in groups.items()}
    for li in lost:
        out.setdefault(li[key], tally([]))["lost"] += 1
    return out


def table(title, key, groups):
    """Every column the issue asks for, a group's guests lost included (0 or not)."""
    lines = [f"### By {title}", "",
             f"| {key} | " + " | ".join(STAGES) + " | silent | recovered & intact | guests lost |",
             "|---|" + "---:|" * (len(STAGES) + 3)]
    for k, t in groups.items():
        rate = fmt_rate(t["ok"], t["manifested"])
        lines.append(f"| {k} | " + " | ".join(str(t[s]) for s in STAGES)
                     + f" | {t['silent']} | {rate} | {t['lost']} |")
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


def outcomes(rows, lost=()):
    """Per corruption class and device: how many ended how (and guests lost, apart)."""
    out = {}

    def new():
        return {k: 0 for k in OUTCOMES + ["injected", "recovered_intact", "lost"]}

    for r in rows:
        for key in (r["class"], f"{r['class']} on {r['device']}",
                    f"{r['class']} at {r['kind']} sites"):
            o = out.setdefault(key, new())
            o["injected"] += 1
            if r["outcome"] in OUTCOMES:
                o[r["outcome"]] += 1
            if r["outcome"] == "detected" and r["recovered"] == "1" and r["intact"] == "1":
                o["recovered_intact"] += 1
    for li in lost:
        keys = [li["class"], f"{li['class']} on {li['device']}"]
        if li.get("kind"):
            keys.append(f"{li['class']} at {li['kind']} sites")
        for key in keys:
            out.setdefault(key, new())["lost"] += 1
    return out


def corruption_table(out):
    lost_col = " guests lost |"
    lines = ["### Corruption classes at instructions (random or traced)", "",
             "manifested = the site fired and changed a register, a flag or the control flow; "
             "recovered = of those, a fault or hang was detected and recovered with data intact "
             "(a corruption that shows nothing is not counted as recovered).", "",
             "| class | injected | " + " | ".join(OUTCOMES) + f" | manifested | recovered |{lost_col}",
             "|---|" + "---:|" * (len(OUTCOMES) + 4)]
    for k, o in sorted(out.items()):
        manifested = o["detected"] + o["silent"] + o["none"]
        lost = f" {o['lost']} |"
        lines.append(f"| {k} | {o['injected']} | " + " | ".join(str(o[x]) for x in OUTCOMES)
                     + f" | {manifested} | {fmt_rate(o['recovered_intact'], manifested)} |{lost}")
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
            # Not the last line of a part lost while writing it.
            return [r for r in csv.DictReader(f, delimiter="\t") if None not in r.values()]
    except OSError as e:
        sys.exit(f"campaign-report: cannot read {path}: {e}")


def part_dirs(run):
    """A run's parts: RUN itself, then RUN/part2, part3, ... (scripts/campaign.sh makes
    one for each fresh guest after a lost one)."""
    parts = []
    try:
        names = os.listdir(run)
    except OSError:
        names = []
    for name in names:
        m = re.fullmatch(r"part([0-9]+)", name)
        if m and int(m.group(1)) > 1 and os.path.isdir(os.path.join(run, name)):
            parts.append((int(m.group(1)), os.path.join(run, name)))
    return [run] + [p for _, p in sorted(parts)]


def last_done(part, rows):
    """The last injection a part wrote: its last line, or its progress (which starts at
    the part's NDRIVER_CAMPAIGN_SKIP), whichever is later."""
    done = [int(r["n"]) for r in rows if r["n"].isdigit()]
    try:
        with open(os.path.join(part, "campaign-progress")) as f:
            done.append(int(f.read().split()[0]))
    except (OSError, ValueError, IndexError):
        pass
    return max(done, default=0)


CURRENT = ["n", "impl", "workload", "class", "entry", "kind", "site"]


def lost_injection(part, rows):
    """The injection in flight when a part's guest was lost: the one after the last it
    wrote, named from campaign-current if that is the one it had begun."""
    n = last_done(part, rows) + 1
    li = {"n": str(n), "named": False}
    try:
        with open(os.path.join(part, "campaign-current")) as f:
            cur = dict(zip(CURRENT, f.readline().rstrip("\n").split("\t")))
    except OSError:
        cur = {}
    if len(cur) == len(CURRENT) and cur["n"] == str(n):
        li.update(cur, named=True, device=DEVICE.get(cur["workload"], cur["workload"]))
    return li


def lost_at(part, li):
    """What a part that did not finish was doing: the injection in flight, and what the
    guest's console says since that injection's mark (the site that fired, the first
    report of the kernel's)."""
    text = f"Injection {li['n']} was in flight"
    if li["named"]:
        where = li["entry"] if li["kind"] == "entry" else (
            f"site {li['site']}" if li["site"] != "-" else f"a {li['kind']} site not drawn yet")
        text += (f" ({li['class']} at {where}, {li['impl']} {li['workload']} on "
                 f"{li['device']})")
    else:
        text += " (not named: campaign-current does not show it begun)"
    try:
        with open(os.path.join(part, "campaign-stalled")) as f:
            text += "; campaign.sh: " + f.read().strip()
    except OSError:
        pass
    try:
        with open(os.path.join(part, "console.log"), errors="replace") as f:
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


def aborted(res):
    return not finished(res) and os.path.exists(os.path.join(res, "campaign-aborted"))


def main():
    args = sys.argv[1:]
    if len(args) == 1 and not args[0].startswith("-"):
        res, runs, merged = args[0], [args[0]], False
    elif len(args) >= 3 and args[0] == "--merge":
        res, runs, merged = args[1], args[2:], True
        if os.path.abspath(res) in (os.path.abspath(r) for r in runs):
            sys.exit("campaign-report: OUT must not be one of the runs")
        os.makedirs(res, exist_ok=True)
    else:
        sys.exit("usage: campaign-report.py RESULTS | --merge OUT RESULTS...")
    # Every part of every run: (run, label, directory), its rows, its lost injection.
    parts, rows, lost = [], [], []
    for run in runs:
        name = os.path.basename(os.path.normpath(run))
        dirs = part_dirs(run)
        for k, part in enumerate(dirs, 1):
            label = " ".join(x for x in ((name if merged else ""),
                                         (f"part {k}" if len(dirs) > 1 else "")) if x)
            parts.append((run, label, part))
            prows = read_rows(part, lost_ok=merged or len(dirs) > 1)
            if not finished(part) and not aborted(part):
                li = lost_injection(part, prows)
                li["text"] = lost_at(part, li)
                li["part"] = label
                li["resumed"] = (" ".join(x for x in (name if merged else "", f"part {k + 1}") if x)
                                 if k < len(dirs) else None)
                if merged:
                    li["n"] = f"{name}:{li['n']}"
                lost.append(li)
            for r in prows:
                log = f"campaign-miss-{r['n']}.log"
                r["log"] = (os.path.join(os.path.abspath(part), log) if merged
                            else os.path.join(os.path.relpath(part, res), log) if part != run
                            else log)
                if merged:
                    r["n"] = f"{name}:{r['n']}"
                rows.append(r)
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
    # The lost injections that are named, in their rows' "guests lost" column.
    named = [li for li in lost if li["named"]]
    lost_fs = [li for li in named if li["class"] not in CORRUPTIONS]
    lost_sites = [li for li in lost_fs if li["kind"] != "entry"]
    show_lost = bool(named)

    total = tally(failstop)
    total["lost"] = len(lost_fs)
    misses = [r for r in rows if is_miss(r)]
    report = {
        "run": os.path.basename(os.path.normpath(res)),
        "total": total,
        "by_class": grouped(failstop, "class", lost_fs),
        "by_kind": grouped(failstop, "kind", lost_fs),
        "by_device": grouped(failstop, "device", lost_fs),
        "by_entry": grouped(failstop, "entry", lost_fs),
        "by_impl": grouped(failstop, "impl", lost_fs),
        "by_workload": grouped(failstop, "workload", lost_fs),
        "by_class_sites": grouped([r for r in failstop if r["kind"] != "entry"], "class",
                                  lost_sites),
        "by_device_sites": grouped([r for r in failstop if r["kind"] != "entry"], "device",
                                   lost_sites),
        "corruptions": outcomes(corrupt, [li for li in named if li["class"] in CORRUPTIONS]),
        "misses": misses,
    }

    rate = fmt_rate(total["ok"], total["manifested"])
    report["guest_lost"] = len(lost)
    report["lost"] = lost
    report["runs"] = [os.path.basename(os.path.normpath(r)) for r in runs]
    report["parts"] = [os.path.relpath(p, os.path.dirname(os.path.normpath(r)))
                       for r, _, p in parts]
    with open(os.path.join(res, "campaign.json"), "w") as f:
        json.dump(report, f, indent=1)
    lost_list = (f" (injection{'s' if len(lost) > 1 else ''} "
                 f"{', '.join(li['n'] for li in lost)})" if lost else "")
    md = [f"# ndriver fault-injection campaign ({report['run']})", "",
          "Made by `make campaign` (scripts/campaign.sh); raw data in campaign.tsv"
          + (f" of the runs {', '.join(report['runs'])} (merged)" if len(runs) > 1 else "")
          + (f"{',' if len(runs) > 1 else ''} in the parts {', '.join(report['parts'])} "
             "(one guest each)" if len(parts) > len(runs) else "")
          + ".",
          "",
          f"**{len(rows)} injections ({sum(1 for r in rows if r['kind'] != 'entry')} at "
          f"instructions, random or traced); guests lost: {len(lost)}{lost_list}. Fail-stop classes: {total['count']} injections, "
          f"{total['manifested']} manifested, {total['ok']} detected and recovered with data "
          f"intact: {rate} of manifested.**", ""]
    if show_lost:
        md += ["A lost injection is counted in its rows' \"guests lost\" column, not among "
               "the injections.", ""]
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
    lost_in = {li["part"]: li for li in lost}
    for run, label, part in parts:
        head = f" ({label})" if label else ""
        for name, what in (("campaign-fio-errors.txt", "fio / fsck errors"),
                           ("campaign-skipped", "skipped workloads"),
                           ("campaign-killed.txt", "campaign processes killed (a driver's wild write into its caller's stack)"),
                           ("campaign-kernel-reports.txt", "sanitizer and kernel reports")):
            p = os.path.join(part, name)
            if os.path.exists(p):
                with open(p) as f:
                    text = f.read().strip()
                if text:
                    md += [f"### {what}{head}", "", "```", text[-3000:], "```", ""]
        if os.path.exists(os.path.join(part, "campaign-fsck.txt")):
            p = os.path.join(part, "campaign-fio-errors.txt")
            errors = os.path.exists(p) and "fsck: errors" in open(p).read()
            md += [f"ext4 on ndblk0 after the block workload{head}: the last fsck "
                   + ("found errors (campaign-fsck.txt)." if errors else "clean.")
                   + " Checks after single corruptions: campaign-fsck-N.txt, listed above.", ""]
        if aborted(part):
            with open(os.path.join(part, "campaign-aborted"), errors="replace") as f:
                why = f.read().strip()
            md += [f"**Campaign aborted{head}** (not a guest lost): {why}", ""]
        elif label in lost_in:
            li = lost_in[label]
            then = (f"the run resumed after it in {li['resumed']}" if li["resumed"]
                    else "the run did not finish")
            md += [f"**Guest lost{head}**: {then}. " + li["text"], ""]
    with open(os.path.join(res, "campaign.md"), "w") as f:
        f.write("\n".join(md))


if __name__ == "__main__":
    main()
