# SPDX-License-Identifier: GPL-2.0
# Warm restart of ndblk0 (vblk-a): every fault class in queue_rq, complete and devirq,
# raised for real while fio writes and verifies (crc32c) on ext4, recovered warm: the
# next instance adopts the virtqueue, headers, indirect tables, registers, reset record
# and interrupt line the dead one kept, checks that the device still drives the kept
# queue with every chain on it its tag's chain, pointing at exactly the pages the
# framework mapped for the request the dead instance held under that tag (still mapped:
# lent), lets the device finish those chains, and serves on without a device reset; the
# requests the dead instance held are unmapped and issued again (never also completed
# from the old ring). Then four fail-stop faults at an instruction inside vblk-a's fill
# (a request's pages mapped, its chain not yet published), recovered warm as well. Then the fallbacks:
# a kept register damaged (debugfs warm_corrupt: the device status says NEEDS_RESET) and
# a panic in adopt itself each refuse the adoption and restart cold; warm=0 and
# vblk-b (no adopt) recover cold. fio sees no I/O or verify error, fsck finds the file
# system clean, no request failed.
. "$(dirname "$0")/../lib.sh"

CLASSES=$(fault_classes)
MNT=$(mktemp -d /tmp/ndblkw.XXXXXX)
STOP=$MNT/.stop
ERRS=/tmp/ndblkw-fio-errors

fail() {
	echo "FAIL: $*"
	touch "$STOP"
	cat "$BD/status" "$BD/stats" 2>/dev/null
	tail -n 5 "$BD/recoveries" 2>/dev/null
	dmesg | sed -n "/$DMESG_MARK/,\$p" | grep -E 'warm restart refused|vblk-a' | tail -n 5
	[ -s "$ERRS" ] && cat "$ERRS"
	exit 1
}

# last_field KEY: KEY's value in ndblk0's newest recovery.
last_field() {
	tail -n 1 "$BD/recoveries" | sed -n "s/.* $1=\([a-z0-9_]*\).*/\1/p;s/.* $1=\([a-z]*\)\$/\1/p" | head -n 1
}
refusals() {
	dmesg | sed -n "/$DMESG_MARK/,\$p" | grep -c 'ndblk0: warm restart refused' || true
}

# fault ENTRY CLASS: arms CLASS at ENTRY and waits (30 s at most) until it was raised
# and its recovery is over.
fault() {
	local r0 i
	r0=$(bd_stat recoveries)
	echo "class=$2 entry=$1" > "$BD/inject" || fail "inject $2 $1"
	for ((i = 0; i < 1500; i++)); do
		if bd_inject_off && [ "$(bd_stat recoveries)" -gt "$r0" ] &&
			[ "$(bd_status state)" = running ]; then
			break
		fi
		sleep 0.02
	done
	bd_inject_off || fail "$2 in $1 not raised: $(cat "$BD/inject")"
	[ "$(bd_stat recoveries)" -gt "$r0" ] || fail "$2 in $1: not recovered"
	[ -s "$ERRS" ] && grep -q FAILED "$ERRS" && fail "fio failed around $2 in $1"
	return 0
}

# fallback WHAT WHY: the newest recovery fell back to cold, counted and logged, for
# reason WHY (the start of what the log line says in parentheses).
fallback() {
	local why
	[ "$(last_field level)" = cold ] || fail "$1: recovered $(last_field level), want a cold fallback"
	[ "$(bd_stat warm_fallbacks)" -gt "$fb" ] || fail "$1: warm_fallbacks still $fb"
	fb=$(bd_stat warm_fallbacks)
	[ "$(refusals)" -gt "$nref" ] || fail "$1: no refusal in the kernel log"
	nref=$(refusals)
	why=$(dmesg | sed -n "/$DMESG_MARK/,\$p" | grep 'ndblk0: warm restart refused' | tail -n 1)
	echo "$why" | grep -qF "refused ($2" || fail "$1: refused for another reason: $why"
	echo "$1: adoption refused, cold restart"
}

command -v fio >/dev/null || { echo "SKIP: no fio"; exit 4; }
dmesg_mark
load_blk
echo "restarts=1000 backoff_ms=0 calm_ms=0" > "$BD/policy" || fail "policy"
grep -q ' warm=1 ' "$BD/policy" || fail "warm is not on by default: $(cat "$BD/policy")"
echo vblk-a > "$BD/swap" || fail "swap to vblk-a"
[ "$(bd_status kept)" = 0 ] || fail "kept $(bd_status kept) while an instance serves"
mkfs.ext4 -q -F $BLKDEV || fail "mkfs.ext4"
mount $BLKDEV "$MNT" || fail "mount"
rm -f "$ERRS"
blk_fio_loop "$MNT" "$STOP" "$ERRS" &
loop=$!
sleep 0.5

# --- Warm recoveries under fio.
n=0
gen=$(bd_status generation)
irq0=$(blk_irq)
warm0=$(bd_stat recoveries_warm)
totals=
for entry in queue_rq complete devirq; do
	for class in $CLASSES; do
		fault $entry "$class"
		[ "$(last_field level)" = warm ] || fail "$class in $entry: recovered $(last_field level), want warm"
		totals+=" $(last_field total_ns)"
		n=$((n + 1))
	done
done
[ $(( $(bd_stat recoveries_warm) - warm0 )) -ge "$n" ] || fail "recoveries_warm $(bd_stat recoveries_warm), want $warm0 + $n"
[ "$(refusals)" = 0 ] || fail "adoptions refused: $(refusals)"
[ "$(bd_status level)" = warm ] || fail "status level $(bd_status level)"
[ "$(bd_status generation)" -gt "$gen" ] || fail "no new instance"
echo "$n faults in queue_rq, complete and devirq recovered warm, total µs:" \
	"$(echo $totals | tr ' ' '\n' | sort -n | awk '{ a[NR] = $1 } END { printf "median %d, max %d", a[int((NR + 1) / 2)] / 1000, a[NR] / 1000 }')"

# --- Faults in the middle of queue_rq: at vblk-a's last ring write of a request whose
# pages are mapped and written into its table, not yet published. The request stays
# the dead instance's (mapped, it may be on the device), the adopter finds its chain
# unpublished, the mapping is undone and the request issued again.
site=$(call_site ndriver_vblk_a 4fill write_desc) || fail "no write_desc call in vblk-a's fill"
for class in panic null div0 spin; do
	r0=$(bd_stat recoveries)
	echo "class=$class site=$site" > "$BD/inject" || fail "$class at $site refused"
	# A site stays armed once it fired (fired=1) until it is disarmed.
	for ((i = 0; i < 1500; i++)); do
		[ "$(inject_field "$BD" fired)" = 1 ] || bd_inject_off && break
		sleep 0.02
	done
	[ "$(inject_field "$BD" fired)" = 1 ] || bd_inject_off || fail "$class at $site not reached"
	echo off > "$BD/inject"
	for ((i = 0; i < 1500; i++)); do
		[ "$(bd_stat recoveries)" -gt "$r0" ] && [ "$(bd_status state)" = running ] && break
		sleep 0.02
	done
	[ "$(bd_stat recoveries)" -gt "$r0" ] || fail "$class at $site: not recovered"
	[ "$(last_field level)" = warm ] || fail "$class at $site: recovered $(last_field level), want warm"
	dmesg | sed -n "/$DMESG_MARK/,\$p" | grep -q "site .* fired $class" ||
		fail "$class at $site: no kernel-log line of the site firing"
	[ -s "$ERRS" ] && grep -q FAILED "$ERRS" && fail "fio failed around $class at $site"
done
[ "$(refusals)" = 0 ] || fail "adoptions refused after the mid-queue_rq faults: $(refusals)"
echo "4 faults inside vblk-a's fill ($site), pages mapped, recovered warm"
# The interrupt line (vblk-a's MSI-X vector) was kept, not requested again, and kept
# firing under the adopters.
irq1=$(blk_irq)
set -- $irq0 $irq1
[ $# = 6 ] && [ "$1" = "$4" ] && [ "$2" = "$5" ] || fail "line ${irq0:-none} -> ${irq1:-none} across warm restarts"
[ "$6" -gt "$3" ] || fail "no interrupt on line $1 across the warm restarts"
echo "interrupt line $1 ($2) kept across the warm restarts"

# --- The fallbacks.
fb=$(bd_stat warm_fallbacks)
nref=$(refusals)
# The device's state changed behind the adopter's back: its status gains NEEDS_RESET
# (the common configuration's device_status, at 0x14 of the kept register BAR where
# QEMU places the common configuration, bit 6): the adopter refuses the device.
# QEMU-specific: the layout, and warm_corrupt's 32-bit read-modify-write of an 8-bit
# register, which QEMU's common configuration takes as a write of the status alone.
echo "reg 0 0x14 0x40" > "$BD/warm_corrupt" || fail "warm_corrupt"
[ "$(cat "$BD/warm_corrupt")" != off ] || fail "warm_corrupt not armed"
fault queue_rq div0
[ "$(cat "$BD/warm_corrupt")" = off ] || fail "warm_corrupt not applied"
fallback "device status changed" "error_return, -5)"
# A panic in adopt itself, armed while the recovery of a fault in complete is held.
fault_in_adopt "$BD" complete null
fallback "panic in adopt" "bug,"
# The adopter after a fallback is a probed instance: it keeps again, and the next
# restart is warm.
fault devirq panic
[ "$(last_field level)" = warm ] || fail "after the fallbacks: $(last_field level), want warm"
# warm=0: cold.
echo "warm=0" > "$BD/policy" || fail "warm=0"
fault queue_rq null
[ "$(last_field level)" = cold ] || fail "warm=0: $(last_field level)"
echo "warm=1" > "$BD/policy" || fail "warm=1"
# vblk-b has no adopt: cold, and no refusal counted.
echo vblk-b > "$BD/swap" || fail "swap to vblk-b"
fault queue_rq div0
[ "$(last_field level)" = cold ] || fail "vblk-b: $(last_field level)"
[ "$(bd_stat warm_fallbacks)" = "$fb" ] || fail "vblk-b counted a fallback"
[ "$(bd_status kept)" = 0 ] || fail "kept $(bd_status kept) after the restarts"

touch "$STOP"
wait $loop
cat "$MNT/.runs"
grep -q FAILED "$ERRS" 2>/dev/null && fail "fio reported errors"
umount "$MNT" || fail "umount"
fsck.ext4 -n -f $BLKDEV > /tmp/ndblkw-fsck.log 2>&1 || { cat /tmp/ndblkw-fsck.log; fail "fsck"; }
[ "$(bd_stat giveups)" = 0 ] || fail "policy gave up"
[ "$(bd_stat failed_requests)" = 0 ] || fail "requests failed"
grep -E 'recoveries_warm|recoveries_cold|warm_fallbacks|reissued' "$BD/stats"
pci=$(cat "$BD/pci")
unload_blk
# Nothing of the vectors kept, adopted and given back by failed adoptions is left on
# the function: the kernel's own driver takes it back.
blk_give_back "$pci" || fail "virtio-pci did not take $pci back"
dmesg | sed -n "/$DMESG_MARK/,\$p" | grep -q 'Resources present before probing' &&
	fail "$pci kept resources after ndriver let it go"
dmesg_clean --panics-expected
echo PASS
