#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Runs inside the guest for `make bench`: the guard's fault-free cost, then a
# recovery campaign on testdev0 (every fault class at the `op` entry point), then
# (unless NDRIVER_BENCH_IO=0) the NIC and block device with the C driver and the
# Rust driver unguarded and guarded (scripts/guest-bench-io.sh), then (unless
# NDRIVER_BENCH_INDEP=0) one device's throughput while another recovers
# (scripts/guest-bench-indep.sh), leaving raw results in $NDRIVER_RESULTS for
# scripts/bench-report.py.
set -eu
R=${NDRIVER_RESULTS:?}
REPS=${NDRIVER_BENCH_REPS:-40}
CALLS=${NDRIVER_BENCH_CALLS:-1000000}
mount -t debugfs none /sys/kernel/debug 2>/dev/null || true
D=/sys/kernel/debug/ndriver
T=$D/testdev0
insmod "$NDRIVER_ROOT/ndriver.ko"
insmod "$NDRIVER_ROOT/sample-drivers/ndriver_testdev_a.ko"
insmod "$NDRIVER_ROOT/sample-drivers/ndriver_testdev_b.ko"

: > "$R/bench-guard.txt"
for run in 1 2 3; do
	echo "$CALLS" > "$D/bench"
	sed "s/^/run $run /" "$D/bench" >> "$R/bench-guard.txt"
done

echo "restarts=1000 backoff_ms=0 calm_ms=0" > "$T/policy"
: > "$R/bench-recoveries.txt"
for class in panic null wild gpf div0 spin spin_irqoff deadlock error leak; do
	for i in $(seq 1 "$REPS"); do
		echo "class=$class entry=op" > "$T/inject"
		echo "op $i" > "$T/call"
	done
	cat "$T/recoveries" >> "$R/bench-recoveries.txt"
done
# Proactive rejuvenation: a fresh instance every 50 ms for two seconds, timed by the
# same phases (no contain, nothing re-issued).
echo "rejuvenate_ms=50" > "$T/policy"
sleep 2
echo "rejuvenate_ms=0" > "$T/policy"
cat "$T/recoveries" >> "$R/bench-recoveries.txt"
cat "$T/stats" > "$R/bench-stats.txt"
cat "$D/status" >> "$R/bench-stats.txt"
if [ "${NDRIVER_BENCH_IO:-1}" = 1 ]; then
	"$NDRIVER_ROOT/scripts/guest-bench-io.sh" || echo "guest-bench-io.sh failed" >> "$R/bench-io.log"
fi
# Last: it reloads ndriver with two NICs and two disks.
if [ "${NDRIVER_BENCH_INDEP:-1}" = 1 ]; then
	"$NDRIVER_ROOT/scripts/guest-bench-indep.sh" ||
		echo "guest-bench-indep.sh failed" >> "$R/bench-indep.log"
fi
echo "ndriver: bench done" > "$R/bench-done"
