# SPDX-License-Identifier: GPL-2.0
# The guarded block device: ndblk0 on the guest's virtio-blk test disk, driven by
# vblk-a (deep queue, each request's pages mapped for the device, interrupts on an
# MSI-X vector of the function's own) and
# vblk-b (one request at a time copied through a buffer, polled). ext4 on it; fio
# random writes verified with crc32c at queue depth 1 and 32 on each implementation
# (the placeholder's counters say which path each took), and at depth 128 with
# requests of 4 to 256 KiB on vblk-a; swaps while fio runs (NDRIVER_REPS x 4 of them, make check: 12);
# then 100 swaps in a row, with no pause between them, while fio keeps writing and
# verifying at QD32; then fsck finds the file system clean and the files read back identical after a
# remount. The disk stays registered and mounted throughout.
. "$(dirname "$0")/../lib.sh"

REPS=${NDRIVER_REPS:-3}
SWAPS=$((REPS * 4))
MNT=$(mktemp -d /tmp/ndblk.XXXXXX)

fail() {
	echo "FAIL: $*"
	touch "$MNT/.stop"
	cat "$BD/status" "$BD/stats" 2>/dev/null
	tail -n 5 "$BD/recoveries" 2>/dev/null
	mountpoint -q "$MNT" && umount "$MNT"
	exit 1
}

command -v fio >/dev/null || { echo "SKIP: no fio"; exit 4; }
dmesg_mark
load_blk
echo "restarts=1000 backoff_ms=0 calm_ms=0" > "$BD/policy" || fail "policy"
# The e1000 is no virtio-blk: no block implementation may probe it, and the disk
# stays attached and served.
refused_kind "$BD" 0x8086 0x100e
sectors=$(bd_status capacity_sectors)
[ "$sectors" = $((512 * 2048)) ] || fail "capacity $sectors sectors, want $((512 * 2048))"
[ "$(cat /sys/block/ndblk0/size)" = "$sectors" ] || fail "gendisk size $(cat /sys/block/ndblk0/size)"

mkfs.ext4 -q -F $BLKDEV || fail "mkfs.ext4"
mount $BLKDEV "$MNT" || fail "mount"

# The queue the kernel sees: 128 tags, requests of up to 256 KiB in up to 64 pieces.
q=/sys/block/ndblk0/queue
[ "$(cat /sys/block/ndblk0/mq/0/nr_tags)" = 128 ] || fail "$(cat /sys/block/ndblk0/mq/0/nr_tags) tags, want 128"
[ "$(cat $q/max_hw_sectors_kb)" = 256 ] || fail "max_hw_sectors_kb $(cat $q/max_hw_sectors_kb), want 256"
[ "$(cat $q/max_segments)" = 64 ] || fail "max_segments $(cat $q/max_segments), want 64"
grep -q '\[none\]' $q/scheduler || fail "I/O scheduler $(cat $q/scheduler), want none by default"

# Each implementation, QD1 and QD32: vblk-a maps each request's pages for the device
# (mapped_requests), vblk-b copies them through its buffer (copied_requests).
for impl in vblk-a vblk-b; do
	echo "$impl" > "$BD/swap" || fail "swap to $impl"
	[ "$(bd_status implementation)" = "$impl" ] || fail "not on $impl"
	m0=$(bd_stat mapped_requests) c0=$(bd_stat copied_requests)
	irq0=$(blk_irq)
	blk_fio "$MNT/qd1-$impl" 1 4M || fail "$impl: fio QD1"
	blk_fio "$MNT/qd32-$impl" 32 16M || fail "$impl: fio QD32"
	m=$(( $(bd_stat mapped_requests) - m0 )) c=$(( $(bd_stat copied_requests) - c0 ))
	irq1=$(blk_irq)
	echo "$impl: $m requests mapped in place, $c copied; interrupt line: ${irq1:-none}"
	if [ $impl = vblk-a ]; then
		[ $m -ge 4096 ] && [ $c = 0 ] || fail "vblk-a: $m mapped, $c copied; want every request mapped"
		# Completion by an MSI-X vector of the function's own, which fired.
		set -- $irq0 $irq1
		[ $# = 6 ] && [ "$1" = "$4" ] || fail "vblk-a: interrupt line ${irq0:-none} -> ${irq1:-none}"
		case $2 in *MSI*) ;; *) fail "vblk-a: line $1 is $2, want an MSI-X vector" ;; esac
		[ "$6" -gt "$3" ] || fail "vblk-a: no interrupt on line $1 during fio"
	else
		[ $m = 0 ] && [ $c -ge 4096 ] || fail "vblk-b: $m mapped, $c copied; want every request copied"
		# Polled: no line at all (vblk-a's vector went with its instance, and the
		# kernel's MSI state of the function with it).
		[ -z "$irq1" ] || fail "vblk-b polls, yet ndblk0 holds a line: $irq1"
		[ ! -e "/sys/bus/pci/devices/$(cat "$BD/pci")/msi_irqs" ] ||
			fail "vblk-b: MSI state left on the function: $(ls "/sys/bus/pci/devices/$(cat "$BD/pci")/msi_irqs")"
	fi
done

# vblk-a with the queue full and requests of every size up to the largest: 128 in
# flight of 4 KiB to 256 KiB, written and verified.
echo vblk-a > "$BD/swap" || fail "swap to vblk-a"
blk_fio "$MNT/deep" 128 64M --bsrange=4k-256k || fail "vblk-a: fio QD128 4k-256k"
# An I/O scheduler chosen and dropped again (its requests are freed with it), with
# I/O through it; idle, the instance holds no request mapped.
echo mq-deadline > $q/scheduler || fail "scheduler mq-deadline"
blk_fio "$MNT/sched" 32 4M || fail "vblk-a: fio under mq-deadline"
echo none > $q/scheduler || fail "scheduler none"
blk_fio "$MNT/sched" 32 4M || fail "vblk-a: fio after mq-deadline"
grep -q ' rq_mapping=0' "$BD/status" || fail "requests left mapped while idle: $(grep -o 'rq_mapping=[0-9]*' "$BD/status")"

# Swaps while fio writes and verifies at QD32, alternating implementations.
gen0=$(bd_status generation)
blk_fio "$MNT/swaps" 32 32M --loops=2 > "$MNT/fio-swaps.log" 2>&1 &
fio_pid=$!
sleep 1
i=0
while [ $i -lt $SWAPS ]; do
	i=$((i + 1))
	if [ $((i % 2)) = 1 ]; then impl=vblk-b; else impl=vblk-a; fi
	echo "$impl" > "$BD/swap" || { kill $fio_pid; fail "swap $i to $impl"; }
	sleep 0.2
done
wait $fio_pid || { cat "$MNT/fio-swaps.log"; fail "fio during $SWAPS swaps"; }
gens=$(( $(bd_status generation) - gen0 ))
[ "$gens" -ge "$SWAPS" ] || fail "$gens new instances for $SWAPS swaps"
echo "swaps during fio: $SWAPS, requests re-issued $(bd_stat reissued), requeued $(bd_stat requeued)"

# 100 swaps in a row while fio loops (write, then verify) at QD32.
ROW=100
ERRS=/tmp/ndblk-row-errors
rm -f "$ERRS" "$MNT/.stop"
(
	n=0
	while [ ! -e "$MNT/.stop" ]; do
		n=$((n + 1))
		blk_fio "$MNT/row" 32 8M >> "$ERRS" 2>&1 || echo "run $n FAILED" >> "$ERRS"
	done
	echo "$n" > "$MNT/.runs"
) &
loop=$!
gen0=$(bd_status generation)
t0=$(date +%s)
for i in $(seq $ROW); do
	if [ $((i % 2)) = 1 ]; then impl=vblk-b; else impl=vblk-a; fi
	echo "$impl" > "$BD/swap" || fail "swap $i of $ROW to $impl"
done
secs=$(( $(date +%s) - t0 ))
touch "$MNT/.stop"
wait $loop
grep -q FAILED "$ERRS" && { cat "$ERRS"; fail "fio failed during $ROW swaps in a row"; }
gens=$(( $(bd_status generation) - gen0 ))
[ "$gens" -ge "$ROW" ] || fail "$gens new instances for $ROW swaps"
echo "$ROW swaps in a row in ${secs}s under $(cat "$MNT/.runs") verified fio runs: nothing lost"
rm -f "$MNT/.stop" "$MNT/.runs"

# Files survive an unmount, a file system check and a remount.
sums=$(cd "$MNT" && md5sum qd* deep swaps row)
umount "$MNT" || fail "umount"
fsck.ext4 -n -f $BLKDEV > /tmp/ndblk-fsck.log 2>&1 || { cat /tmp/ndblk-fsck.log; fail "fsck"; }
mount $BLKDEV "$MNT" || fail "remount"
[ "$(cd "$MNT" && md5sum qd* deep swaps row)" = "$sums" ] || fail "checksums differ after remount"
umount "$MNT" || fail "final umount"

[ "$(bd_stat giveups)" = 0 ] || fail "policy gave up"
[ "$(bd_stat failed_requests)" = 0 ] || fail "requests failed: $(bd_stat failed_requests)"
cat "$BD/stats"
pci=$(cat "$BD/pci")
unload_blk
# The function goes back to the kernel's own driver as it came: nothing of ndriver's
# (its MSI-X state among it) left on it.
blk_give_back "$pci" || fail "virtio-pci did not take $pci back"
dmesg | sed -n "/$DMESG_MARK/,\$p" | grep -q 'Resources present before probing' &&
	fail "$pci kept resources after ndriver let it go"
echo "$pci back with $(basename "$(readlink /sys/bus/pci/devices/$pci/driver)")"
dmesg_clean
echo PASS
