# SPDX-License-Identifier: GPL-2.0
# A block driver that refuses every request while it holds none is recovered
# (placeholders/blk_busy.rs). The fault is the campaign's (chunk 10 #437): a skip_insn
# at the store in vblk-b's `complete` that frees its one queue slot
# (`*state.lock() = QueueSlot::Idle`). The request in hand still ends; every later one
# is refused with EBUSY, and since the driver holds nothing, no completion will ever
# run the queue again, and blk-mq's request timeout never sees a refused request. The placeholder
# answers such refusals with BLK_STS_RESOURCE (blk-mq retries shortly) and, after 5 s
# of them, fails the instance as a hang in queue_rq; a fresh vblk-b serves the rest.
# Evidence: the site's own record (fired, applied), busy_stalls and a recovery line
# "cause=hang entry=queue_rq", and 8 MiB written with dd and read back identical
# (sha256) from the raw disk. Without the rule the write never finishes (the test
# gives it 60 s).
. "$(dirname "$0")/../lib.sh"

BLOB=/tmp/ndblk-busy.blob
BACK=/tmp/ndblk-busy.back

fail() {
	echo "FAIL: $*"
	cat "$BD/status" "$BD/stats" "$BD/inject" 2>/dev/null
	tail -n 5 "$BD/recoveries" 2>/dev/null
	exit 1
}

# slot_free_site: MODULE:FUNCTION+OFFSET of the last byte-immediate store before the
# last unlock call in vblk-b's BlkDriver::complete (a DriverLock is released through
# driver_lock::release; the slot's Idle store, made
# with its lock held; its discriminant value is the compiler's, so not matched).
slot_free_site() {
	local mod=ndriver_vblk_b a rest func= base= in=0 movb= at= where=
	while read -r a rest; do
		case "$rest" in
		"<"*">:")
			func=${rest#<}
			func=${func%>:}
			base=$a
			in=0
			[[ $func == *BlkDriver8complete ]] && in=1
			movb=
			;;
		R_X86_64_PLT32*rust_helper_spin_unlock* | R_X86_64_PLT32*11driver_lock7release*)
			[ $in = 1 ] && [ -n "$movb" ] && at=$movb where="$func $base"
			movb=
			;;
		movb*'$0x'*'(%r'*)
			[ $in = 1 ] && movb=${a%:}
			;;
		esac
	done < <(objdump -dr --no-show-raw-insn "$ROOT/sample-drivers/$mod.ko" |
		awk '/^[0-9a-f]+ <.*>:$/ { print; next } /R_X86_64_PLT32/ { print $1, $2, $3; next }
			/^ +[0-9a-f]+:/ { a = $1; $1 = ""; print a, $0 }')
	[ -n "$at" ] || return 1
	echo "$mod:${where% *}+$((0x$at - 0x${where#* }))"
}

command -v objdump > /dev/null || { echo "SKIP: no objdump"; exit 4; }
dmesg_mark
load_blk
echo "restarts=1000 backoff_ms=0 calm_ms=0" > "$BD/policy" || fail "policy"
echo vblk-b > "$BD/swap" || fail "swap to vblk-b"
[ "$(bd_status implementation)" = vblk-b ] || fail "not on vblk-b"
head -c $((8 << 20)) /dev/urandom > "$BLOB"
want=$(sha256sum < "$BLOB" | cut -d' ' -f1)
# The device works before the fault.
dd if="$BLOB" of=$BLKDEV bs=64k oflag=direct status=none || fail "write before the fault"

site=$(slot_free_site) || fail "no slot store before an unlock in vblk-b's complete (its code changed?)"
echo "site: $site"
stalls0=$(bd_stat busy_stalls)
[ -n "$stalls0" ] || fail "no busy_stalls in ndblk0/stats"
gen0=$(bd_status generation)
echo "class=skip_insn site=$site" > "$BD/inject" || fail "site $site: not placed"
t0=$(date +%s%N)
# dd waits uninterruptibly for its bios: `timeout` could not end it. Polled instead; if
# it is stuck, a swap re-runs the queue so that dd (and the disk) are let go first.
dd if="$BLOB" of=$BLKDEV bs=64k oflag=direct status=none &
ddpid=$!
for ((i = 0; i < 60; i++)); do
	kill -0 $ddpid 2> /dev/null || break
	sleep 1
done
if kill -0 $ddpid 2> /dev/null; then
	echo off > "$BD/inject"
	echo vblk-a > "$BD/swap"
	wait $ddpid
	fail "the write did not finish within 60 s across the fault"
fi
wait $ddpid || fail "the write across the fault failed (exit $?)"
t1=$(date +%s%N)
fired=$(inject_field "$BD" fired)
applied=$(inject_field "$BD" applied)
echo off > "$BD/inject"
echo "write across the fault: $(((t1 - t0) / 1000000)) ms; site fired=$fired applied=$applied"
[ "${fired:-0}" -ge 1 ] && [ "$applied" = 1 ] || fail "the site did not fire (fired=$fired applied=$applied)"
[ "$(bd_stat busy_stalls)" = $((stalls0 + 1)) ] ||
	fail "busy_stalls $(bd_stat busy_stalls), want $((stalls0 + 1))"
grep -q "cause=hang entry=queue_rq" "$BD/recoveries" ||
	fail "no recovery with cause=hang entry=queue_rq"
[ "$(bd_status generation)" -gt "$gen0" ] || fail "no new instance"
[ "$(bd_status state)" = running ] || fail "ndblk0 not running"
dd if=$BLKDEV of="$BACK" bs=64k count=128 iflag=direct status=none || fail "read back"
[ "$(sha256sum < "$BACK" | cut -d' ' -f1)" = "$want" ] || fail "data read back differs"
rm -f "$BLOB" "$BACK"
dmesg_clean --allow 'refuses every request and holds none'
unload_blk
echo "busy stall: recovered as a hang in queue_rq, 8 MiB intact"
