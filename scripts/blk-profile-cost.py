#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Per-request guest time by function, from a scripts/blk-profile.sh run.

For each queue depth profiled, reads every variant's sampled addresses
(ips-all-VARIANT-qdN.txt: "COUNT ADDRESS"), its text symbols (text-VARIANT.txt, the
guest's /proc/kallsyms) and the IOPS of the fio run perf sampled (iops-VARIANT-qdN.txt),
and prints, per function, the guest time it took per request in each variant:

    samples / (all samples / (CPUS * SECONDS)) / (IOPS * SECONDS)

perf samples cpu-clock on every CPU for SECONDS; a sample stands for the share of a
CPU-second that all samples over CPUS * SECONDS give it (perf may sample below the rate
it was asked for). Under QEMU -icount guest time advances with the instructions
executed, so the table approximates guest instructions per request by function;
without icount it is guest time, host stalls included. Time with interrupts off (a
hard interrupt's among it) is charged where interrupts come back on. The IOPS are the
whole fio run's (8 s), the samples its middle 5 s. Idle (default_idle and the like)
is left out. Writes cost-qdN.txt in the results directory, largest difference from the
first variant first.

With NDRIVER_PROFILE_CALLERS=1 the samples carry call chains (perf -g), whose
unwinding is guest time too: the totals then come out larger (the sampled addresses
are still each sample's own, perf script -G) and the table is for the callers, not
the costs. Those are named here:
callers-raw-VARIANT-qdN.txt into callers-VARIANT-qdN.txt.

Usage: blk-profile-cost.py RESULTS [CPUS SECONDS]
"""
import bisect
import sys
from pathlib import Path

IDLE = {"default_idle", "default_idle_call", "cpuidle_idle_call", "do_idle", "pv_native_safe_halt",
        "arch_cpu_idle", "native_safe_halt", "cpuidle_enter_state", "cpuidle_enter", "poll_idle",
        "acpi_idle_enter", "acpi_idle_do_entry", "acpi_safe_halt", "menu_select", "cpu_idle_poll"}


def symbols(path):
    """Sorted addresses and names of the text symbols in a kallsyms dump."""
    addrs, names = [], []
    for line in path.read_text().splitlines():
        f = line.split()
        if len(f) < 3:
            continue
        try:
            a = int(f[0], 16)
        except ValueError:
            continue
        name = f[2] + (" " + f[3] if len(f) > 3 else "")
        addrs.append(a)
        names.append(name)
    order = sorted(range(len(addrs)), key=addrs.__getitem__)
    return [addrs[i] for i in order], [names[i] for i in order]


def name_at(a, syms):
    """FUNCTION+0xOFFSET of kernel address a, or what it is not."""
    addrs, names = syms
    if a < 1 << 63:
        return "[user space]"
    i = bisect.bisect_right(addrs, a) - 1
    return f"{names[i].split()[0]}+{a - addrs[i]:#x}" if i >= 0 else "[unknown]"


def name_callers(res):
    """callers-raw-VARIANT-qdN.txt ("COUNT IP CALLER..."; guest-blk-profile.sh with
    NDRIVER_PROFILE_CALLERS=1) named into callers-VARIANT-qdN.txt."""
    for raw in sorted(res.glob("callers-raw-*-qd*.txt")):
        v = raw.name[len("callers-raw-"):].rsplit("-qd", 1)[0]
        text = res / f"text-{v}.txt"
        if not text.exists():
            continue
        syms = symbols(text)
        lines = []
        for line in raw.read_text().splitlines():
            f = line.split()
            try:
                chain = [name_at(int(x, 16), syms) for x in f[1:]]
            except ValueError:
                continue
            lines.append(f"{f[0]:>7} " + " < ".join(chain))
        (res / raw.name.replace("callers-raw-", "callers-")).write_text("\n".join(lines) + "\n")


def by_function(ips, syms):
    """{function: samples} from "COUNT ADDRESS" lines."""
    addrs, names = syms
    out = {}
    for line in ips.read_text().splitlines():
        f = line.split()
        if len(f) != 2:
            continue
        n, a = int(f[0]), int(f[1], 16)
        if a < 1 << 63:
            name = "[user space]"
        else:
            i = bisect.bisect_right(addrs, a) - 1
            name = names[i] if i >= 0 else "[unknown]"
        out[name] = out.get(name, 0) + n
    return out


def main():
    res = Path(sys.argv[1])
    cpus = float(sys.argv[2]) if len(sys.argv) > 2 else 2.0
    secs = float(sys.argv[3]) if len(sys.argv) > 3 else 5.0
    name_callers(res)
    depths = sorted({p.name.rsplit("-qd", 1)[1][:-4] for p in res.glob("ips-all-*-qd*.txt")}, key=int)
    for qd in depths:
        per_v = {}
        for ips in sorted(res.glob(f"ips-all-*-qd{qd}.txt")):
            v = ips.name[len("ips-all-"):-len(f"-qd{qd}.txt")]
            text, iops_f = res / f"text-{v}.txt", res / f"iops-{v}-qd{qd}.txt"
            if not text.exists() or not iops_f.exists():
                continue
            try:
                iops = float(iops_f.read_text().split()[0])
            except (IndexError, ValueError):
                continue
            if iops <= 0:
                continue
            funcs = by_function(ips, symbols(text))
            total = sum(funcs.values())
            if total == 0:
                continue
            rate = total / (cpus * secs)
            per_v[v] = {k: n / rate / (iops * secs) * 1e6 for k, n in funcs.items() if k.split()[0] not in IDLE}
        if not per_v:
            continue
        vs = sorted(per_v, key=lambda v: (v != "c", v))
        first = vs[0]
        names = set().union(*per_v.values())
        rows = sorted(names, key=lambda k: -max(abs(per_v[v].get(k, 0) - per_v[first].get(k, 0)) for v in vs[1:])
                      if len(vs) > 1 else -per_v[first].get(k, 0))
        lines = [f"guest time per request by function, us (4 KiB random reads, QD{qd}); "
                 f"first: {first}", "total " + " ".join(f"{v}={sum(per_v[v].values()):.2f}" for v in vs), "",
                 f"{'function':60} " + " ".join(f"{v:>10}" for v in vs)]
        for k in rows[:60]:
            lines.append(f"{k[:60]:60} " + " ".join(f"{per_v[v].get(k, 0):10.3f}" for v in vs))
        (res / f"cost-qd{qd}.txt").write_text("\n".join(lines) + "\n")
        print("\n".join(lines[:45]))


if __name__ == "__main__":
    main()
