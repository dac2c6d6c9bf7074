#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Runs inside the guest for `make run`: the guarded NIC (ndeth0 on the e1000, Rust
# e1000-napi/e1000-irq) and the guarded disk (ndblk0 on the virtio-blk test disk, Rust
# vblk-a/vblk-b) under load -- downloads from the host side of the tap, each checked
# against its sha256, and fio writing and verifying (crc32c) on ext4 -- while a real
# fault of every class is raised in the drivers on a timer (NDRIVER_DEMO_PERIOD
# seconds apart, default 4), alternating between the two devices, and at the end a
# device hang of the disk. A status line every second: throughput, IOPS, the current
# implementation and generation, recoveries, and the data verdicts so far. Ends with a
# summary; "ndriver: demo ok" when every fault was recovered and every byte intact.
# Output also goes to $NDRIVER_RESULTS/demo.txt.
set -u
R=${NDRIVER_RESULTS:-/tmp}
out=$R/demo.txt
. "$NDRIVER_ROOT/selftests/guest/lib.sh"
PERIOD=${NDRIVER_DEMO_PERIOD:-4}
NIC=$DBG/nic0
PEER=10.99.0.1
URL=http://$PEER:8099
MNT=/tmp/ndblk-demo
STOP=/tmp/demo.stop
# The faults, in order: device, class, entry point.
FAULTS="nic0:panic:poll ndblk0:null:queue_rq nic0:wild:start_xmit ndblk0:gpf:complete
nic0:div0:devirq ndblk0:spin:queue_rq nic0:spin_irqoff:devirq ndblk0:deadlock:complete
nic0:error:start_xmit ndblk0:error:queue_rq nic0:leak:poll ndblk0:leak:queue_rq"

fail() {
	echo "ndriver: demo FAILED: $*"
	touch "$STOP"
	exit 1
}

# The status line is drawn every second on a guest kept busy by the load, so the
# functions it uses are bash builtins only (no awk, sed or grep per line).

# kv FILE KEY: the value of "KEY VALUE" in FILE (a device's stats or status).
kv() {
	local l k v
	snapshot "$1"
	for l in "${SNAP[@]}"; do
		read -r k v <<< "$l"
		[ "$k" = "$2" ] && { echo "$v"; return 0; }
	done
	echo "?"
}
dev_stat() {
	kv "$DBG/$1/stats" "$2"
}
dev_status() {
	kv "$DBG/$1/status" "$2"
}
# count WORD FILE: lines of FILE that are WORD.
count() {
	local l n=0
	[ -f "$2" ] && while read -r l; do [ "$l" = "$1" ] && n=$((n + 1)); done < "$2"
	echo $n
}
# now_ms: milliseconds since the epoch, from bash's clock.
now_ms() {
	local t=${EPOCHREALTIME/./}
	echo $((t / 1000))
}

# setup: both devices under ndriver, the disk formatted and mounted, the peer's file.
setup() {
	local e1000 i
	e1000=$(free_e1000)
	[ -n "$e1000" ] || fail "no e1000 without a driver in this guest"
	load_blk
	load sample-drivers/ndriver_e1000_napi
	load sample-drivers/ndriver_e1000_irq
	for d in nic0 ndblk0; do
		echo "restarts=1000 backoff_ms=0 calm_ms=0" > "$DBG/$d/policy" || fail "policy of $d"
	done
	# A vCPU of a loaded TCG host stalls for tens of ms: a generous NIC floor.
	echo "floor_ns=200000000" > "$NIC/policy"
	echo "$e1000" > "$NIC/pci" || fail "attaching $e1000 to nic0"
	ip link set ndeth0 up && ip addr add 10.99.0.2/24 dev ndeth0 || fail "ndeth0 up"
	for i in $(seq 50); do
		busybox ping -q -c 1 -W 1 $PEER >/dev/null 2>&1 && break
	done
	mkfs.ext4 -q -F $BLKDEV || fail "mkfs.ext4 on $BLKDEV"
	mkdir -p $MNT
	mount $BLKDEV $MNT || fail "mount $BLKDEV"
	head -c $((2 << 20)) /dev/urandom > "$R/peer/demo-blob"
	REF=$(sha256sum < "$R/peer/demo-blob")
	REF=${REF%% *}
}

# Background load: downloads checked by sha256, fio write+verify loops.
start_load() {
	rm -f "$STOP" /tmp/demo-nic.log /tmp/demo-blk.log
	(
		while [ ! -e "$STOP" ]; do
			if curl -sf --max-time 60 -o /tmp/demo-dl "$URL/demo-blob" &&
				[ "$(sha256sum < /tmp/demo-dl | cut -d' ' -f1)" = "$REF" ]; then
				echo ok >> /tmp/demo-nic.log
			else
				echo BAD >> /tmp/demo-nic.log
			fi
		done
	) &
	NICLOAD=$!
	fio_verify_loop "$MNT" "$STOP" /tmp/demo-blk.log "$R/demo-fio-errors.txt" &
	BLKLOAD=$!
}

# status LAST: one line with the state of both devices and of the load since the
# previous line.
RX0=0
IO0=0
MS0=0
status() {
	local rx io ms a b c d e rest dt mbit
	read -r rx < /sys/class/net/ndeth0/statistics/rx_bytes
	read -r a b c d e rest < /sys/block/ndblk0/stat
	io=$((a + e))
	ms=$(now_ms)
	dt=$((ms - MS0))
	[ $dt -gt 0 ] || dt=1
	mbit=$(((rx - RX0) * 8 / dt / 100))
	printf '%4ss | ndeth0 %-10s gen %-3s %3d.%d Mbit/s rec %-3s | ndblk0 %-6s gen %-3s %5d IOPS rec %-3s | downloads %s ok %s bad | fio %s ok %s bad | %s\n' \
		$(((ms - T0MS) / 1000)) "$(dev_status nic0 implementation)" "$(dev_status nic0 generation)" \
		$((mbit / 10)) $((mbit % 10)) "$(dev_stat nic0 recoveries)" \
		"$(dev_status ndblk0 implementation)" "$(dev_status ndblk0 generation)" \
		$(((io - IO0) * 1000 / dt)) "$(dev_stat ndblk0 recoveries)" \
		"$(count ok /tmp/demo-nic.log)" "$(count BAD /tmp/demo-nic.log)" \
		"$(count ok /tmp/demo-blk.log)" "$(count BAD /tmp/demo-blk.log)" "$1"
	RX0=$rx
	IO0=$io
	MS0=$ms
}

# tick SECS LAST: SECS status lines, a second apart.
tick() {
	local i
	for i in $(seq "$1"); do
		sleep 1
		status "$2"
	done
}

# hang_disk: clears Bus Master Enable behind vblk's back: requests stop completing,
# blk-mq's timer (io_timeout 2 s) calls the guarded timeout entry, which reports no
# progress, and ndriver recovers the device.
hang_disk() {
	local cfg cmd new
	cfg=/sys/bus/pci/devices/$(cat "$BD/pci")/config
	echo 2000 > /sys/block/ndblk0/queue/io_timeout
	cmd=$(od -An -tu2 -j4 -N2 "$cfg" | tr -d ' ')
	new=$((cmd & ~4))
	printf "$(printf '\\x%02x\\x%02x' $((new & 255)) $((new >> 8)))" |
		dd of="$cfg" bs=1 seek=4 count=2 conv=notrunc status=none
}

{
	mount -t debugfs none /sys/kernel/debug 2>/dev/null
	echo "guest kernel: $(uname -r), $(nproc) CPUs"
	setup
	echo "--- ndeth0 on the e1000 ($(ethtool -i ndeth0 | sed -n 's/^version: //p')), ndblk0 on the virtio-blk disk ($(dev_status ndblk0 implementation)), ext4 mounted"
	echo "--- load: 2 MiB downloads from $PEER checked by sha256; fio randwrite QD16 verified by crc32c"
	start_load
	T0=$(date +%s)
	T0MS=$(now_ms)
	MS0=$T0MS
	read -r RX0 < /sys/class/net/ndeth0/statistics/rx_bytes
	read -r a b c d e rest < /sys/block/ndblk0/stat
	IO0=$((a + e))
	tick 3 "no fault yet"
	injected=0
	recovered=0
	for f in $FAULTS; do
		dev=${f%%:*}
		rest=${f#*:}
		class=${rest%%:*}
		entry=${rest#*:}
		r0=$(dev_stat "$dev" recoveries)
		echo "class=$class entry=$entry" > "$DBG/$dev/inject" || fail "inject $f"
		injected=$((injected + 1))
		echo "--- inject: $class in $dev's $entry"
		tick "$PERIOD" "$class in $dev/$entry armed"
		if [ "$(dev_stat "$dev" recoveries)" -gt "$r0" ]; then
			recovered=$((recovered + 1))
			echo "--- $dev recovered: $(tail -n 1 "$DBG/$dev/recoveries" | cut -d' ' -f2-5)"
		else
			echo "--- $dev: $class in $entry not raised yet ($(cat "$DBG/$dev/inject"))"
		fi
	done
	r0=$(dev_stat ndblk0 recoveries)
	echo "--- device hang: the disk stops processing its queue (Bus Master Enable cleared)"
	hang_disk
	injected=$((injected + 1))
	tick $((PERIOD + 3)) "disk hung"
	if [ "$(dev_stat ndblk0 recoveries)" -gt "$r0" ]; then
		recovered=$((recovered + 1))
		echo "--- ndblk0 recovered: $(tail -n 1 "$BD/recoveries" | cut -d' ' -f2-5)"
	fi
	tick 3 "all faults raised"
	touch "$STOP"
	echo "--- stopping the load (the running download and fio finish first)"
	wait $NICLOAD $BLKLOAD
	umount $MNT || fail "umount"
	fsck_ok=yes
	fsck.ext4 -n -f $BLKDEV > /tmp/demo-fsck.log 2>&1 || fsck_ok=no
	nok=$(count ok /tmp/demo-nic.log)
	nbad=$(count BAD /tmp/demo-nic.log)
	bok=$(count ok /tmp/demo-blk.log)
	bbad=$(count BAD /tmp/demo-blk.log)
	echo "=== summary after $(($(date +%s) - T0)) s"
	echo "faults raised in driver code: $injected, devices recovered after: $recovered"
	echo "nic0:   $(dev_stat nic0 recoveries) recoveries, implementation now $(dev_status nic0 implementation), generation $(dev_status nic0 generation), rx_lost $(dev_stat nic0 rx_lost), tx_resent $(dev_stat nic0 tx_resent)"
	echo "ndblk0: $(dev_stat ndblk0 recoveries) recoveries, implementation now $(dev_status ndblk0 implementation), generation $(dev_status ndblk0 generation), requeued $(dev_stat ndblk0 requeued), failed requests $(dev_stat ndblk0 failed_requests)"
	echo "downloads: $nok intact, $nbad corrupt or failed; fio runs: $bok verified, $bbad with errors; fsck clean: $fsck_ok"
	echo "--- recoveries of nic0"
	cat "$NIC/recoveries"
	echo "--- recoveries of ndblk0"
	cat "$BD/recoveries"
	if [ "$recovered" = "$injected" ] && [ "$nbad" = 0 ] && [ "$bbad" = 0 ] && [ "$nok" -gt 0 ] &&
		[ "$bok" -gt 0 ] && [ $fsck_ok = yes ] && [ "$(dev_stat ndblk0 failed_requests)" = 0 ]; then
		echo "ndriver: demo ok"
	else
		echo "ndriver: demo FAILED"
	fi
} 2>&1 | tee "$out"
