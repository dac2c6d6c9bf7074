#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# bench.sh: `make bench`. Boots the guest once, measures the guard's fault-free cost
# per call (direct vs guarded, same run) and the recovery time by phase over a fault
# campaign, then the NIC (netperf, HTTP) and block device (fio) with the C driver,
# the Rust driver unguarded and guarded (scripts/guest-bench-io.sh), then a second
# NIC's and disk's throughput while their neighbour recovers again and again
# (scripts/guest-bench-indep.sh; NDRIVER_BENCH_INDEP=0 leaves it out), and writes
# bench.json, bench.md and PNG plots into results/bench-*/.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

[ "${NDRIVER_SKIP_SETUP:-0}" = 1 ] || "$NDRIVER_ROOT"/scripts/setup.sh
"$NDRIVER_ROOT"/scripts/build-modules.sh >/dev/null
results=$NDRIVER_ROOT/results/bench-$(date +%Y%m%d-%H%M%S)
"$NDRIVER_ROOT"/scripts/guest.sh --timeout 2700 --results "$results" -- \
	"env NDRIVER_BENCH_REPS=${NDRIVER_BENCH_REPS:-40} NDRIVER_BENCH_IO=${NDRIVER_BENCH_IO:-1}" \
	"NDRIVER_BENCH_IO_REPS=${NDRIVER_BENCH_IO_REPS:-1} NDRIVER_BENCH_IO_SECS=${NDRIVER_BENCH_IO_SECS:-5}" \
	"NDRIVER_BENCH_INDEP=${NDRIVER_BENCH_INDEP:-1} NDRIVER_BENCH_INDEP_ROUNDS=${NDRIVER_BENCH_INDEP_ROUNDS:-6}" \
	"NDRIVER_BENCH_INDEP_SECS=${NDRIVER_BENCH_INDEP_SECS:-8}" \
	"NDRIVER_BENCH_INDEP_PERIOD_MS=${NDRIVER_BENCH_INDEP_PERIOD_MS:-800}" \
	"$NDRIVER_ROOT/scripts/guest-bench.sh"
[ -f "$results/bench-done" ] || {
	tail -n 30 "$results/console.log"
	die "the benchmark did not finish in the guest (console tail above)"
}
"$NDRIVER_CACHE/venv/bin/python" "$NDRIVER_ROOT/scripts/bench-report.py" "$results"
cat "$results/bench.md"
