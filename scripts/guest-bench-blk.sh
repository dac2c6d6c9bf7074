#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Runs inside the guest for `make bench`, last: the recovery time of ndblk0 (vblk-a)
# under fio verify (ext4, QD32 and QD1 in turn), warm and cold: NDRIVER_BENCH_BLK_REPS
# rounds (default 20), each with one real fault under policy warm=1 and one under
# warm=0, the order of the two turning from round to round; the fault a panic, NULL
# load, divide error or endless loop in turn, in queue_rq, complete or devirq in turn,
# the same for both levels of a round.
# Raw results for scripts/bench-report.py: bench-blk-recoveries.txt (ndblk0's
# `recoveries`, with level=), bench-blk-fio.txt (fio's output; a failed run is a line
# "run N qd Q FAILED"), bench-blk-rec.log (what did not go as planned).
set -u
R=${NDRIVER_RESULTS:?}
. "${NDRIVER_ROOT:?}/selftests/guest/lib.sh"
REPS=${NDRIVER_BENCH_BLK_REPS:-20}
LOG=$R/bench-blk-rec.log
MNT=$(mktemp -d /tmp/bench-blk.XXXXXX)
STOP=$MNT/.stop
ERRS=$R/bench-blk-fio.txt
: > "$ERRS"
: > "$LOG"
fail() {
	echo "FAIL: $*" >> "$LOG"
	touch "$STOP"
	exit 1
}

mount -t debugfs none /sys/kernel/debug 2>/dev/null || true
load_blk
echo "restarts=1000 backoff_ms=0 calm_ms=0" > "$BD/policy" || fail "policy"
echo vblk-a > "$BD/swap" || fail "swap to vblk-a"
mkfs.ext4 -q -F $BLKDEV || fail "mkfs.ext4"
mount $BLKDEV "$MNT" || fail "mount"
blk_fio_loop "$MNT" "$STOP" "$ERRS" &
loop=$!
sleep 0.5
classes=(panic null div0 spin)
entries=(queue_rq complete devirq)
for ((r = 1; r <= REPS; r++)); do
	order="1 0"
	[ $((r % 2)) = 0 ] && order="0 1"
	# The same fault for both levels of a round.
	c=${classes[r % 4]} e=${entries[r % 3]}
	for w in $order; do
		echo "warm=$w" > "$BD/policy" || fail "warm=$w"
		r0=$(bd_stat recoveries)
		echo "class=$c entry=$e" > "$BD/inject" || fail "inject $c $e"
		for ((i = 0; i < 1500; i++)); do
			bd_inject_off && [ "$(bd_stat recoveries)" -gt "$r0" ] &&
				[ "$(bd_status state)" = running ] && break
			sleep 0.02
		done
		[ "$(bd_stat recoveries)" -gt "$r0" ] ||
			echo "round $r: $c in $e (warm=$w) not recovered in 30 s" >> "$LOG"
	done
done
echo "warm=1" > "$BD/policy"
touch "$STOP"
wait $loop
cat "$MNT/.runs" >> "$LOG"
cat "$BD/recoveries" > "$R/bench-blk-recoveries.txt"
umount "$MNT" || echo "umount failed" >> "$LOG"
unload_blk
