#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Runs inside the guest for `make bench`: the guard's fault-free cost, then a
# recovery campaign on testdev0 (every fault class at the `op` entry point), both
# again with the base revision's modules when NDRIVER_BENCH_BASE_DIR is set, then
# (unless NDRIVER_BENCH_IO=0) the NIC and block device with the C driver and the
# Rust driver unguarded and guarded (scripts/guest-bench-io.sh), then (unless
# NDRIVER_BENCH_INDEP=0) one device's throughput while another recovers
# (scripts/guest-bench-indep.sh), then (unless NDRIVER_BENCH_BLK=0) ndblk0's recovery
# time warm and cold (scripts/guest-bench-blk.sh), leaving raw results in $NDRIVER_RESULTS for
# scripts/bench-report.py.
set -eu
R=${NDRIVER_RESULTS:?}
REPS=${NDRIVER_BENCH_REPS:-40}
CALLS=${NDRIVER_BENCH_CALLS:-1000000}
mount -t debugfs none /sys/kernel/debug 2>/dev/null || true
D=/sys/kernel/debug/ndriver
T=$D/testdev0
# guard_and_recovery DIR SUFFIX: ndriver.ko and testdev's two implementations loaded
# from DIR, the guard's cost per call three times (bench-guard$SUFFIX.txt), then the
# recovery campaign (bench-recoveries$SUFFIX.txt, bench-stats$SUFFIX.txt).
guard_and_recovery() {
	local ko=$1 sfx=$2 run class i
	insmod "$ko/ndriver.ko" || return 1
	insmod "$ko/sample-drivers/ndriver_testdev_a.ko" || return 1
	insmod "$ko/sample-drivers/ndriver_testdev_b.ko" || return 1

	: > "$R/bench-guard$sfx.txt"
	for run in 1 2 3; do
		echo "$CALLS" > "$D/bench"
		sed "s/^/run $run /" "$D/bench" >> "$R/bench-guard$sfx.txt"
	done

	echo "restarts=1000 backoff_ms=0 calm_ms=0" > "$T/policy"
	: > "$R/bench-recoveries$sfx.txt"
	for class in panic null wild gpf div0 spin spin_irqoff deadlock error leak; do
		for i in $(seq 1 "$REPS"); do
			echo "class=$class entry=op" > "$T/inject"
			echo "op $i" > "$T/call"
		done
		cat "$T/recoveries" >> "$R/bench-recoveries$sfx.txt"
	done
	# An error return that changed nothing is retried in place (hot); the same with
	# hot=0 replaces the instance (cold), for the ladder's two rungs side by side.
	# (A base revision without the rung has no "hot=" to set.)
	if grep -q ' hot=' "$T/policy"; then
		echo "hot=0" > "$T/policy"
		for i in $(seq 1 "$REPS"); do
			echo "class=error entry=op" > "$T/inject"
			echo "op $i" > "$T/call"
		done
		echo "hot=1" > "$T/policy"
		cat "$T/recoveries" >> "$R/bench-recoveries$sfx.txt"
	fi
	# Proactive rejuvenation: a fresh instance every 50 ms for two seconds, timed by the
	# same phases (no contain, nothing re-issued).
	echo "rejuvenate_ms=50" > "$T/policy"
	sleep 2
	echo "rejuvenate_ms=0" > "$T/policy"
	cat "$T/recoveries" >> "$R/bench-recoveries$sfx.txt"
	cat "$T/stats" > "$R/bench-stats$sfx.txt"
	cat "$D/status" >> "$R/bench-stats$sfx.txt"
}

guard_and_recovery "$NDRIVER_ROOT" ""
# NDRIVER_BENCH_BASE (scripts/bench.sh): the same with the base revision's modules,
# built in NDRIVER_BENCH_BASE_DIR; its failure costs only these files.
if [ -n "${NDRIVER_BENCH_BASE_DIR:-}" ]; then
	{ rmmod ndriver_testdev_a ndriver_testdev_b ndriver &&
		guard_and_recovery "$NDRIVER_BENCH_BASE_DIR" -base; } ||
		echo "guard and recovery with the base revision's modules failed" >> "$R/bench-io.log"
fi
if [ "${NDRIVER_BENCH_IO:-1}" = 1 ]; then
	"$NDRIVER_ROOT/scripts/guest-bench-io.sh" || echo "guest-bench-io.sh failed" >> "$R/bench-io.log"
fi
# It reloads ndriver with two NICs and two disks.
if [ "${NDRIVER_BENCH_INDEP:-1}" = 1 ]; then
	"$NDRIVER_ROOT/scripts/guest-bench-indep.sh" ||
		echo "guest-bench-indep.sh failed" >> "$R/bench-indep.log"
fi
# Last: ndblk0's recovery time under fio, warm and cold.
if [ "${NDRIVER_BENCH_BLK:-1}" = 1 ]; then
	"$NDRIVER_ROOT/scripts/guest-bench-blk.sh" ||
		echo "guest-bench-blk.sh failed (exit $?)" >> "$R/bench-blk-rec.log"
fi
echo "ndriver: bench done" > "$R/bench-done"
