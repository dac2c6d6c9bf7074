#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# In-guest test runner (kselftest style). Runs selftests/guest/tests/*.sh, or the
# tests named on the command line, and writes TAP to $NDRIVER_RESULTS/tap.txt as
# well as to stdout. Each test's own output goes to $NDRIVER_RESULTS/<test>.log.
set -u
here=$(cd "$(dirname "$0")" && pwd)
results=${NDRIVER_RESULTS:?NDRIVER_RESULTS must name the results directory}
tap=$results/tap.txt

if [ $# -gt 0 ]; then
	tests=()
	for t in "$@"; do tests+=("$here/tests/$t.sh"); done
else
	tests=("$here"/tests/*.sh)
fi

mount -t debugfs none /sys/kernel/debug 2>/dev/null
{
	echo "TAP version 13"
	echo "1..${#tests[@]}"
} | tee "$tap"
# After a test overran its time: what is stuck, for the log (no stack traces in the
# normal kernel, so each blocked task's wait channel and every ndriver device's state).
stuck_report() {
	local p st comm stack
	echo "== every task: pid state comm wait channel, and the kernel stack of those"
	echo "   blocked, running, in a work item or inside ndriver"
	for p in /proc/[0-9]*; do
		st=$(awk '{print $3}' "$p/stat" 2>/dev/null) || continue
		comm=$(cat "$p/comm" 2>/dev/null)
		echo "$(basename "$p") $st $comm wchan=$(cat "$p/wchan" 2>/dev/null)"
		# Kernels with CONFIG_STACKTRACE (DEBUG_KERNEL=1) keep the whole stack.
		stack=$(cat "$p/stack" 2>/dev/null)
		if [ -n "$stack" ] && { [ "$st" = D ] || [ "$st" = R ] || [[ $comm == *+* ]] ||
			[[ $stack == *ndriver* ]]; }; then
			echo "$stack" | sed 's/^/    /'
		fi
	done
	for p in /sys/kernel/debug/ndriver/*/status; do
		[ -f "$p" ] && { echo "== $p"; cat "$p"; }
	done
	echo "== kernel log tail"
	dmesg | tail -n 60
}

n=0
for t in "${tests[@]}"; do
	n=$((n + 1))
	name=$(basename "$t" .sh)
	log=$results/$name.log
	start=$(date +%s)
	if [ ! -f "$t" ]; then
		echo "no such test: $name" > "$log"
		rc=1
	else
		# The report on a stuck test is taken 10 s before the time limit, while
		# whatever it waits for still waits.
		limit=${NDRIVER_TEST_TIMEOUT:-600}
		(
			sleep $((limit > 20 ? limit - 10 : limit))
			stuck_report
		) > "$log.stuck" 2>&1 &
		watcher=$!
		if [ "${NDRIVER_TRACE:-0}" = 1 ]; then
			# Not rate-limited, or most of the trace is dropped.
			echo on > /proc/sys/kernel/printk_devkmsg 2>/dev/null
			# Every command of the test into the kernel log (and so the console),
			# to see where a test stands when the guest no longer answers.
			timeout "$limit" bash -c 'exec 19>/dev/kmsg; BASH_XTRACEFD=19; set -x; . "$0"' "$t" \
				> "$log" 2>&1
		else
			timeout "$limit" bash "$t" > "$log" 2>&1
		fi
		rc=$?
		kill $watcher 2>/dev/null
		wait $watcher 2>/dev/null
		[ $rc = 124 ] && cat "$log.stuck" >> "$log"
		rm -f "$log.stuck"
	fi
	secs=$(( $(date +%s) - start ))
	if [ $rc = 0 ]; then
		echo "ok $n $name # ${secs}s" | tee -a "$tap"
	elif [ $rc = 4 ]; then
		echo "ok $n $name # SKIP $(tail -n 1 "$log")" | tee -a "$tap"
	else
		echo "not ok $n $name # exit $rc after ${secs}s" | tee -a "$tap"
		sed 's/^/# /' "$log" | tail -n 30 | tee -a "$tap"
	fi
done
# The whole kernel log, and on a kmemleak kernel what a last scan finds, for the
# summary of sanitizer reports (scripts/check.sh).
dmesg > "$results/dmesg.txt" 2>/dev/null
if [ -w /sys/kernel/debug/kmemleak ]; then
	echo scan > /sys/kernel/debug/kmemleak 2>/dev/null
	cat /sys/kernel/debug/kmemleak > "$results/kmemleak.txt" 2>/dev/null
fi
echo "# guest-done" | tee -a "$tap"
