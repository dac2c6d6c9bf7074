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
GR_ROUNDS=${NDRIVER_BENCH_GR_ROUNDS:-1}
# guard_and_recovery DIR SUFFIX ROUND: ndriver.ko and testdev's two implementations
# loaded from DIR, the guard's cost per call three times (appended to
# bench-guard$SUFFIX.txt, runs numbered on from round to round), then the recovery
# campaign (appended to bench-recoveries$SUFFIX.txt after a "round ROUND" line: each
# load numbers its recoveries from 1; bench-stats$SUFFIX.txt: the last round's).
guard_and_recovery() {
	local ko=$1 sfx=$2 rnd=$3 run class i
	insmod "$ko/ndriver.ko" || return 1
	insmod "$ko/sample-drivers/ndriver_testdev_a.ko" || return 1
	insmod "$ko/sample-drivers/ndriver_testdev_b.ko" || return 1

	for run in 1 2 3; do
		echo "$CALLS" > "$D/bench"
		sed "s/^/run $(((rnd - 1) * 3 + run)) /" "$D/bench" >> "$R/bench-guard$sfx.txt"
	done

	echo "restarts=1000 backoff_ms=0 calm_ms=0" > "$T/policy"
	echo "round $rnd" >> "$R/bench-recoveries$sfx.txt"
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

# NDRIVER_BENCH_BASE (scripts/bench.sh): the same with the base revision's modules,
# built in NDRIVER_BENCH_BASE_DIR; its failure costs only its files. NDRIVER_BENCH_GR_ROUNDS
# rounds (default 1), current and base in turn, the first of them alternating
# (current first in odd rounds), so that drift over the boot favours neither.
gr_unload() {
	local m
	for m in ndriver_testdev_a ndriver_testdev_b ndriver; do
		if grep -q "^$m " /proc/modules; then rmmod "$m" || return 1; fi
	done
}
: > "$R/bench-guard.txt"
: > "$R/bench-recoveries.txt"
if [ -n "${NDRIVER_BENCH_BASE_DIR:-}" ]; then
	: > "$R/bench-guard-base.txt"
	: > "$R/bench-recoveries-base.txt"
fi
for rnd in $(seq 1 "$GR_ROUNDS"); do
	order="current base"
	[ $((rnd % 2)) = 0 ] && order="base current"
	for v in $order; do
		if [ "$v" = current ]; then
			gr_unload && guard_and_recovery "$NDRIVER_ROOT" "" "$rnd"
		elif [ -n "${NDRIVER_BENCH_BASE_DIR:-}" ]; then
			{ gr_unload && guard_and_recovery "$NDRIVER_BENCH_BASE_DIR" -base "$rnd"; } ||
				echo "guard and recovery with the base revision's modules failed (round $rnd)" \
					>> "$R/bench-io.log"
		fi
	done
done
# A guest booted with its own NIC peer (NDRIVER_GUEST_NIC_PEER=guest: bench.sh under
# -icount) serves the first e1000's traffic from inside; without it the NIC tests
# find no peer and say so.
if [ "${NDRIVER_NIC_PEER:-host}" = guest ]; then
	"$NDRIVER_ROOT/scripts/guest-nic-peer.sh" start 2>> "$R/bench-io.log" ||
		echo "the guest's NIC peer did not start (guest-nic-peer.sh)" >> "$R/bench-io.log"
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
[ "${NDRIVER_NIC_PEER:-host}" != guest ] || "$NDRIVER_ROOT/scripts/guest-nic-peer.sh" stop
echo "ndriver: bench done" > "$R/bench-done"
