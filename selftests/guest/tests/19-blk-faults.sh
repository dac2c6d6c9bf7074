# SPDX-License-Identifier: GPL-2.0
# Every fault class at every guarded entry point of both block implementations that
# I/O reaches (vblk-a: queue_rq, complete, devirq; vblk-b: queue_rq, complete, timer;
# both: probe and remove, through swaps), raised for real while fio writes and
# verifies (crc32c) on ext4 on ndblk0: each fault is detected, the device recovered,
# the requests the dead instance held re-issued, and fio sees no I/O or verify
# error. NDRIVER_REPS/3 rounds (make check: 1; make check-full: 34). Then a fault of
# each class (make check: one) in commit_rqs, which blk-mq calls when a batch is cut
# short (a batch submitted at once to vblk-b). Then a device hang on each
# implementation: bus mastering switched off behind the driver's back
# (the device can no longer read its queue), so requests stop completing, blk-mq's
# request timer (io_timeout 2 s) expires, the driver's timeout entry finds no progress,
# and recovery resets the device and re-issues the stuck requests; again with a fault
# armed in the timeout entry itself. Afterwards fsck finds the file system clean.
. "$(dirname "$0")/../lib.sh"

REPS=$(( (${NDRIVER_REPS:-3} + 2) / 3 ))
CLASSES=$(fault_classes)
MNT=$(mktemp -d /tmp/ndblk.XXXXXX)
STOP=$MNT/.stop
ERRS=/tmp/ndblk-fio-errors

fail() {
	echo "FAIL: $*"
	touch "$STOP"
	cat "$BD/status" "$BD/stats" "$DBG/status" 2>/dev/null
	tail -n 5 "$BD/recoveries" 2>/dev/null
	[ -s "$ERRS" ] && cat "$ERRS"
	exit 1
}

# Waits up to 30 s for the armed fault to be raised and its recovery to finish.
wait_recovered() {
	local want=$1 i
	for ((i = 0; i < 1500; i++)); do
		if bd_inject_off && [ "$(bd_stat recoveries)" -ge "$want" ] &&
			[ "$(bd_status state)" = running ]; then
			return 0
		fi
		sleep 0.02
	done
	fail "$2: inject $(cat "$BD/inject"), recoveries $(bd_stat recoveries), want $want"
}

command -v fio >/dev/null || { echo "SKIP: no fio"; exit 4; }
dmesg_mark
load_blk
echo "restarts=1000 backoff_ms=0 calm_ms=0" > "$BD/policy" || fail "policy"
mkfs.ext4 -q -F $BLKDEV || fail "mkfs.ext4"
mount $BLKDEV "$MNT" || fail "mount"
rm -f "$ERRS"

# fio in a loop until told to stop: QD32 and QD1 in turn, each run verified.
blk_fio_loop "$MNT" "$STOP" "$ERRS" &
loop=$!

m=0
for impl in vblk-a vblk-b; do
	echo "$impl" > "$BD/swap" || fail "swap to $impl"
	case $impl in
	vblk-a) io_entries="queue_rq complete devirq" ;;
	vblk-b) io_entries="queue_rq complete timer" ;;
	esac
	for class in $CLASSES; do
		d=$(detected_as "$class")
		for entry in $io_entries probe remove; do
			# remove returns nothing: an error return there is not a failure.
			[ "$class" = error ] && [ "$entry" = remove ] && continue
			before=$(bd_stat detected "$d")
			for i in $(seq "$REPS"); do
				m=$((m + 1))
				r0=$(bd_stat recoveries)
				echo "class=$class entry=$entry" > "$BD/inject" || fail "inject $class $entry"
				case $entry in
				probe | remove)
					# The swap itself gets past a failed remove (undo) or probe (the
					# ladder starts another instance); it counts no recovery.
					echo "$impl" > "$BD/swap" || fail "$impl: swap with $class in $entry"
					want=$r0
					;;
				*) want=$((r0 + 1)) ;;
				esac
				wait_recovered "$want" "$impl: $class in $entry"
				[ -s "$ERRS" ] && grep -q FAILED "$ERRS" && fail "$impl: fio failed around $class in $entry"
			done
			got=$(( $(bd_stat detected "$d") - before ))
			# A hang can make another call overrun too (a waiter for the deadlocked
			# lock, or a call stalled past its deadline by a starved vCPU).
			case $d in
			hang) [ "$got" -ge "$REPS" ] ;;
			*) [ "$got" = "$REPS" ] ;;
			esac || fail "$impl: $class in $entry detected $got times, want $REPS"
		done
	done
done
# commit_rqs: blk-mq calls it when it issued part of a batch and the driver refused
# the rest. vblk-b takes one request at a time, so a batch submitted in one io_submit
# (plugged) gets there. make check: one class; check-full: every class.
RARE=div0
[ "$REPS" -gt 1 ] && RARE=$CLASSES
echo vblk-b > "$BD/swap" || fail "swap to vblk-b"
for class in $RARE; do
	m=$((m + 1))
	r0=$(bd_stat recoveries)
	echo "class=$class entry=commit_rqs" > "$BD/inject" || fail "inject $class commit_rqs"
	for i in $(seq 20); do
		bd_inject_off && break
		blk_fio "$MNT/batch" 32 2M --iodepth_batch_submit=16 >> "$ERRS" 2>&1 ||
			echo "batch run FAILED" >> "$ERRS"
	done
	wait_recovered $((r0 + 1)) "vblk-b: $class in commit_rqs"
	grep -q "cause=$(detected_as "$class") entry=commit_rqs" "$BD/recoveries" ||
		fail "vblk-b: no commit_rqs recovery from $class recorded"
done

# Device hangs: clear Bus Master Enable in the function's PCI command register, so
# the device can no longer read its queue and requests time out (io_timeout 2 s).
# First plain (the driver's timeout entry sees no progress: a hang), then with a fault
# armed in the timeout entry itself (make check: one class; check-full: every class
# but an error return, which timeout reports as "no progress" anyway).
pci=$(cat "$BD/pci")
cfg=/sys/bus/pci/devices/$pci/config
echo 2000 > /sys/block/ndblk0/queue/io_timeout || fail "io_timeout"
hang_device() {
	local impl=$1 class=${2:-} r0 t0 cmd new i
	echo "$impl" > "$BD/swap" || fail "swap to $impl"
	r0=$(bd_stat recoveries)
	t0=$(bd_stat timeouts)
	[ -n "$class" ] && { echo "class=$class entry=timeout" > "$BD/inject" || fail "inject $class timeout"; }
	sleep 1
	cmd=$(od -An -tu2 -j4 -N2 "$cfg" | tr -d ' ')
	new=$((cmd & ~4))
	printf "$(printf '\\x%02x\\x%02x' $((new & 255)) $((new >> 8)))" |
		dd of="$cfg" bs=1 seek=4 count=2 conv=notrunc status=none || fail "writing $cfg"
	for i in $(seq 300); do
		[ "$(bd_stat recoveries)" -gt "$r0" ] && [ "$(bd_status state)" = running ] && break
		sleep 0.1
	done
	[ "$(bd_stat timeouts)" -gt "$t0" ] || fail "$impl: no request timed out with the device hung"
	[ "$(bd_stat recoveries)" -gt "$r0" ] || fail "$impl: no recovery from the device hang ${class:+with $class in timeout}"
	if [ -n "$class" ]; then
		bd_inject_off || fail "$impl: $class armed in timeout was not raised"
		grep -q "cause=$(detected_as "$class") entry=timeout" "$BD/recoveries" ||
			fail "$impl: no timeout recovery from $class recorded"
	else
		grep -q "cause=hang entry=timeout" "$BD/recoveries" || fail "$impl: no timeout recovery recorded"
	fi
	[ $(( $(od -An -tu2 -j4 -N2 "$cfg" | tr -d ' ') & 4 )) = 4 ] || fail "$impl: bus mastering not restored"
	echo "$impl: device hang ${class:+with $class in timeout }recovered after $(( $(bd_stat timeouts) - t0 )) request timeouts"
}
RARE=panic
[ "$REPS" -gt 1 ] && RARE=${CLASSES/error/}
for impl in vblk-a vblk-b; do
	hang_device $impl
	for class in $RARE; do
		m=$((m + 1))
		hang_device $impl "$class"
	done
done
touch "$STOP"
wait $loop
cat "$MNT/.runs"
grep -q FAILED "$ERRS" 2>/dev/null && fail "fio reported errors"
echo "$m faults injected at block entry points under fio, all recovered"
umount "$MNT" || fail "umount"
fsck.ext4 -n -f $BLKDEV > /tmp/ndblk-fsck.log 2>&1 || { cat /tmp/ndblk-fsck.log; fail "fsck"; }
[ "$(bd_stat giveups)" = 0 ] || fail "policy gave up"
[ "$(bd_stat failed_requests)" = 0 ] || fail "requests failed"
cat "$BD/stats"
tail -n 3 "$BD/recoveries"
unload_blk
dmesg_clean --panics-expected
echo PASS
