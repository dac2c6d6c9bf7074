#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# blk-profile.sh: where a block request's time goes, C virtio_blk against ndblk0
# (vblk-a). Boots the guest once (scripts/guest.sh) with the modules as built
# (scripts/build-modules.sh first), and there (scripts/guest-blk-profile.sh):
#   - NDRIVER_PROFILE_ROUNDS rounds (default 3) of fio 4 KiB random reads at depth 1
#     and 32, random writes at depth 32 and 128 KiB reads at depth 32, 4 s each, on C
#     virtio_blk with its default queues (one per CPU: "c") and with one ("c-1q", as
#     ndblk0 has), both without an I/O scheduler, and on ndblk0 (guarded) with each I/O scheduler of
#     NDRIVER_PROFILE_SCHEDS (default "none"; e.g. "none mq-deadline") in turn:
#     profile.txt, one line per run ("VARIANT JOB ROUND IOPS");
#   - a perf profile (cpu-clock, every CPU, 5 s) of each variant's 4 KiB random reads
#     at depth 32 and 1: perf-VARIANT-qdN.txt, the hottest symbols, and cost-qdN.txt,
#     the guest time per request by function (scripts/blk-profile-cost.py);
#   - with NDRIVER_PROFILE_CALLERS=1, the profiles take call chains (perf -g) and
#     callers-VARIANT-qdN.txt counts the three callers above every sample charged
#     where interrupts come back on (a spin unlock that enables them, the softirq
#     loop): which section the time with interrupts off was spent in (the unwinding
#     costs guest time too: cost-qdN.txt is then not a cost table);
#   - summary.txt: per job, each variant against "c", paired by round (geometric mean
#     of the ratios and its 95 % t interval, scripts/bench-report.py's).
# Results in results/blk-profile-<time>/. Not part of make check or make bench.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

[ -f "$NDRIVER_ROOT/ndriver.ko" ] || die "no ndriver.ko: run scripts/build-modules.sh first"
command -v perf > /dev/null || die "no perf on the host (the guest runs the host's): apt install linux-perf"
results=$NDRIVER_ROOT/results/blk-profile-$(date +%Y%m%d-%H%M%S)
mkdir -p "$results"
"$NDRIVER_ROOT"/scripts/guest.sh --timeout 900 --results "$results" -- \
	env NDRIVER_PROFILE_ROUNDS="${NDRIVER_PROFILE_ROUNDS:-3}" \
	NDRIVER_PROFILE_SCHEDS="${NDRIVER_PROFILE_SCHEDS:-none}" \
	NDRIVER_PROFILE_CALLERS="${NDRIVER_PROFILE_CALLERS:-}" \
	"$NDRIVER_ROOT"/scripts/guest-blk-profile.sh "$results"
echo "results: $results"
cat "$results/profile.txt"
python3 - "$results" "$NDRIVER_ROOT/scripts/bench-report.py" << 'EOF' | tee "$results/summary.txt"
import importlib.util, sys
from pathlib import Path
spec = importlib.util.spec_from_file_location("report", sys.argv[2])
report = importlib.util.module_from_spec(spec)
spec.loader.exec_module(report)
runs = {}
for line in (Path(sys.argv[1]) / "profile.txt").read_text().splitlines():
    f = line.split()
    if len(f) == 4:
        runs.setdefault(f[1], {}).setdefault(f[0], {})[f[2]] = float(f[3])
for job, by_v in sorted(runs.items()):
    base = by_v.get("c", {})
    for v in sorted(by_v):
        if v == "c":
            continue
        pairs = [(base[r], by_v[v][r]) for r in by_v[v] if r in base]
        ci = report.paired_ratio(pairs)
        if ci:
            print(f"{job:15} {v:12}/c {ci['ratio']:.3f} [{ci['lo']:.3f}, {ci['hi']:.3f}] n={ci['n']}")
EOF
# Per-request guest time by function (cost-qdN.txt; under -icount, instructions).
python3 "$NDRIVER_ROOT"/scripts/blk-profile-cost.py "$results" "${NDRIVER_GUEST_CPUS:-2}" 5
