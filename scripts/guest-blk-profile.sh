#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# guest-blk-profile.sh RESULTS: the guest half of scripts/blk-profile.sh.
set -uo pipefail
R=$1
ROOT=$(cd "$(dirname "$0")/.." && pwd)
KDIR=${NDRIVER_KDIR:?}
ROUNDS=${NDRIVER_PROFILE_ROUNDS:-3}
CALLERS=${NDRIVER_PROFILE_CALLERS:-}
[ "$CALLERS" != 0 ] || CALLERS=
# The functions where interrupts come back on, for callers().
IRQ_ON='^(_raw_spin_unlock_irq_enable|_raw_spin_unlock_irq|_raw_spin_unlock_irqrestore|handle_softirqs|__local_bh_enable_ip|irqentry_exit)$'

BD=/sys/kernel/debug/ndriver/ndblk0
OUT=$R/profile.txt
: > "$OUT"
echo 0 > /proc/sys/kernel/kptr_restrict
echo -1 > /proc/sys/kernel/perf_event_paranoid

pci_find() {
	local d
	for d in /sys/bus/pci/devices/*; do
		[ "$(cat "$d/vendor")" = "$1" ] && [ "$(cat "$d/device")" = "$2" ] && { basename "$d"; return 0; }
	done
	return 1
}
VBLK=$(pci_find 0x1af4 0x1001) || { echo "no virtio-blk"; exit 1; }
DISK=/sys/bus/pci/devices/$VBLK

# job VARIANT DEV JOB ROUND: one fio run, a line of profile.txt.
job() {
	local rw bs qd
	case $3 in
	randread-qd1) rw=randread bs=4k qd=1 ;;
	randread-qd32) rw=randread bs=4k qd=32 ;;
	randwrite-qd32) rw=randwrite bs=4k qd=32 ;;
	seqread-128k) rw=read bs=128k qd=32 ;;
	esac
	fio --name=p --filename="$2" --rw=$rw --bs=$bs --iodepth=$qd --ioengine=libaio \
		--direct=1 --runtime=4 --time_based --size=256M --randrepeat=0 --norandommap \
		--output-format=terse --terse-version=3 2>/dev/null |
		awk -F';' -v t="$1 $3 $4" '/^3;/ { print t, ($49 > 0) ? $49 : $8 }' >> "$OUT"
}

# callers VARIANT QD: with NDRIVER_PROFILE_CALLERS=1 (samples taken with call chains),
# where the samples charged to a point that turns interrupts back on came from: each
# such sample's address and the three return addresses above it, counted
# (callers-raw-VARIANT-qdQD.txt: "COUNT IP CALLER1 CALLER2 CALLER3"; blk-profile.sh
# names them from text-VARIANT.txt, perf leaves the modules' unnamed). Time with
# interrupts off is sampled where they come back on, so this names the section
# (which lock, which handler) the time was spent in. The guest kernel unwinds by
# guessing (CONFIG_UNWINDER_GUESS: kernel-text words on the stack), so the first
# caller is reliable, the ones above it may be stale words.
callers() {
	perf script -i /dev/shm/p.data -F ip,sym 2> /dev/null | awk -v pat="$IRQ_ON" '
		function flush() { if (n > 0 && top ~ pat) count[chain]++; n = 0; chain = ""; top = "" }
		NF == 0 { flush(); next }
		{ n++; if (n == 1) top = $2; if (n <= 4) chain = chain " " $1 }
		END { flush(); for (c in count) printf "%d%s\n", count[c], c }' |
		sort -rn | head -n 60 > "$R/callers-raw-$1-qd$2.txt"
}

# profile VARIANT DEV QD: fio 4 KiB random reads at depth QD under perf for 5 s.
profile() {
	fio --name=p --filename="$2" --rw=randread --bs=4k --iodepth="$3" --ioengine=libaio \
		--direct=1 --runtime=8 --time_based --size=256M --randrepeat=0 --norandommap \
		--output-format=terse --terse-version=3 2> /dev/null |
		awk -F';' '/^3;/ { print $8 }' > "$R/iops-$1-qd$3.txt" &
	sleep 2
	perf record -e cpu-clock -F 1999 -a ${CALLERS:+-g} -o /dev/shm/p.data -- sleep 5 > /dev/null 2>&1
	wait
	[ -z "$CALLERS" ] || callers "$1" "$3"
	perf report -i /dev/shm/p.data --no-children -g none --sort dso,sym --stdio 2> /dev/null | grep '%' |
		grep -v '^#' | head -n 25 > "$R/perf-$1-qd$3.txt"
	# Every sampled address, and every text symbol (the kernel's and the modules': perf
	# files the samples of modules loaded after ndriver.ko under it), for the
	# per-request cost by function (blk-profile.sh's cost-*.txt); the hottest 20
	# addresses apart, to place by hand.
	perf script -i /dev/shm/p.data -G -F ip 2> /dev/null | sort | uniq -c > "$R/ips-all-$1-qd$3.txt"
	sort -rn "$R/ips-all-$1-qd$3.txt" | head -n 20 > "$R/ips-$1-qd$3.txt"
	awk '$2 ~ /^[tT]$/' /proc/kallsyms | sort > "$R/text-$1.txt"
	rm -f /dev/shm/p.data
}

# c_on [QUEUES]: C virtio_blk on the disk, with QUEUES request queues (its
# num_request_queues; default: one per CPU, the device allowing).
c_on() {
	local q=${1:-0}
	if [ ! -e "$DISK/driver" ]; then
		echo > "$DISK/driver_override"
		echo "$VBLK" > /sys/bus/pci/drivers_probe
	fi
	modprobe virtio_blk num_request_queues="$q" 2> /dev/null ||
		insmod "$KDIR/drivers/block/virtio_blk.ko" num_request_queues="$q"
	local b i
	for i in $(seq 50); do
		for b in /sys/block/vd*; do
			[ "$(cat "$b/serial" 2> /dev/null)" = ndriver-test ] && { echo "/dev/${b##*/}"; return 0; }
		done
		sleep 0.1
	done
	return 1
}

rust_on() {
	rmmod virtio_blk 2> /dev/null
	echo ndriver-none > "$DISK/driver_override"
	[ ! -e "$DISK/driver" ] || echo "$VBLK" > "$DISK/driver/unbind"
	insmod "$ROOT/ndriver.ko" && insmod "$ROOT/sample-drivers/ndriver_vblk_a.ko" &&
		insmod "$ROOT/sample-drivers/ndriver_vblk_b.ko" || return 1
	echo "restarts=1000 backoff_ms=0 calm_ms=0 floor_ns=1000000000 ceiling_ns=2000000000" > "$BD/policy"
	echo "$VBLK" > "$BD/pci"
	local i
	for i in $(seq 100); do
		[ -b /dev/ndblk0 ] && return 0
		sleep 0.1
	done
	return 1
}

rust_off() {
	echo none > "$BD/pci"
	rmmod ndriver_vblk_b ndriver_vblk_a ndriver
}

JOBS="randread-qd1 randread-qd32 randwrite-qd32 seqread-128k"
SCHEDS=${NDRIVER_PROFILE_SCHEDS:-none}
for r in $(seq "$ROUNDS"); do
	# C with its default queues (one per CPU here), then with one, as ndblk0 has.
	for v in c c-1q; do
		q=0
		[ $v = c-1q ] && q=1
		vd=$(c_on $q) || { echo "C virtio_blk: no disk"; exit 1; }
		# No I/O scheduler, as ndblk0 (the kernel gives a one-queue disk mq-deadline).
		echo none > "/sys/block/${vd#/dev/}/queue/scheduler"
		echo "$v queues $(ls "/sys/block/${vd#/dev/}/mq" | wc -l)" \
			"$(cat "/sys/block/${vd#/dev/}/queue/scheduler")" >> "$R/queues.txt"
		for j in $JOBS; do job $v "$vd" $j "$r"; done
		[ "$r" = 1 ] && { profile $v "$vd" 32; profile $v "$vd" 1; }
		rmmod virtio_blk
	done
	rust_on || { echo "ndblk0 did not come up"; exit 1; }
	for s in $SCHEDS; do
		echo $s > /sys/block/ndblk0/queue/scheduler
		for j in $JOBS; do job "rust-$s" /dev/ndblk0 $j "$r"; done
		[ "$r" = 1 ] && { profile "rust-$s" /dev/ndblk0 32; profile "rust-$s" /dev/ndblk0 1; }
	done
	rust_off
done
dmesg | grep -E 'BUG|WARNING|Oops' && exit 1
exit 0
