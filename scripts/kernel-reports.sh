#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# kernel-reports.sh [--log FILE] RESULTS: summarises the sanitizer and kernel reports in
# a guest run's kernel log (RESULTS/dmesg.txt, written by selftests/guest/run.sh, or
# FILE: the console log of a guest that never wrote one, up to where it was lost) and
# kmemleak's last scan (RESULTS/kmemleak.txt, DEBUG_KERNEL=1). Reports that a test
# provokes on purpose and checks itself are counted apart as expected: injected Rust
# panics ("kernel BUG at rust/helpers/bug.c"), and 90-guard-scope's kernel BUG in
# dql_completed() with the oops that follows it. Exits 1 if anything else is there.
set -uo pipefail
log=
if [ "${1:-}" = --log ]; then
	log=${2:?usage: kernel-reports.sh [--log FILE] RESULTS}
	shift 2
fi
results=${1:?usage: kernel-reports.sh [--log FILE] RESULTS}
[ -n "$log" ] || log=$results/dmesg.txt
if [ ! -f "$log" ]; then
	echo "kernel reports: no kernel log in $results (guest did not finish)"
	exit 0
fi
if ! grep -q 'Linux version' "$log"; then
	echo "kernel reports: the kernel log in $log lost its beginning (log buffer too small)"
	exit 1
fi
expected_oops=$(grep -c 'ndriver: BUG in kernel code at dql_completed.*not contained' "$log")
strip() {
	# Drops the expected oops (from 90-guard-scope's note on the BUG it leaves to
	# the kernel to the end of the oops) and the expected single lines.
	awk '/ndriver: BUG in kernel code at dql_completed.*not contained/ { skip = 1 }
		!skip { print }
		skip && /---\[ end trace/ { skip = 0 }' "$log" |
		grep -v -E 'kernel BUG at rust/helpers/bug.c|kernel BUG at lib/dynamic_queue_limits.c'
}
count() {
	strip | grep -c -E "$1"
}
kasan=$(count 'BUG: KASAN|KASAN: ')
lockdep=$(count 'possible recursive locking|circular locking|inconsistent lock state|lock held when returning|held lock freed|suspicious RCU usage|BUG: sleeping function|BUG: scheduling while atomic|INFO: possible|Disabling lock debugging')
ubsan=$(count 'UBSAN:')
bugs=$(count 'kernel BUG at|BUG: |Oops')
warns=$(count 'WARNING:')
# Hung tasks and RCU stalls: no BUG or WARNING line of their own.
stalls=$(count 'INFO: task .* blocked for more than|rcu: INFO: .*detected stalls|self-detected stall')
leaks=0
if [ -f "$results/kmemleak.txt" ]; then
	leaks=$(grep -c '^unreferenced object' "$results/kmemleak.txt")
fi
panics=$(grep -c 'kernel BUG at rust/helpers/bug.c' "$log")
echo "kernel reports: kasan=$kasan lockdep=$lockdep ubsan=$ubsan bug=$bugs warning=$warns stall=$stalls kmemleak=$leaks" \
	"(expected, checked by their tests: $panics injected Rust panics, $expected_oops core-kernel BUGs from 90-guard-scope)"
if [ $((kasan + lockdep + ubsan + bugs + warns + stalls + leaks)) != 0 ]; then
	strip | grep -n -m 20 -E 'KASAN|UBSAN|WARNING:|kernel BUG at|BUG: |Oops|possible recursive|circular locking|inconsistent lock|suspicious RCU|INFO: possible|INFO: task .* blocked|detected stalls|self-detected stall' || true
	[ -f "$results/kmemleak.txt" ] && head -n 20 "$results/kmemleak.txt"
	exit 1
fi
exit 0
