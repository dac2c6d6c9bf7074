#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Runs inside the guest for `make run`: loads ndriver and the testdev implementations,
# keeps requests flowing through testdev0 while real faults are injected into the
# driver (a panic in hardirq context, a NULL dereference in softirq context, an
# endless loop with interrupts off in process context), and shows that every request
# was answered and how each recovery went. Output also goes to $NDRIVER_RESULTS/demo.txt.
set -u
out=${NDRIVER_RESULTS:-/tmp}/demo.txt
ctl=$NDRIVER_ROOT/tools/ndriverctl
{
	mount -t debugfs none /sys/kernel/debug 2>/dev/null
	echo "guest kernel: $(uname -r), $(nproc) CPUs"
	ok=1
	for m in ndriver sample-drivers/ndriver_hello sample-drivers/ndriver_testdev_a \
		sample-drivers/ndriver_testdev_b; do
		insmod "$NDRIVER_ROOT/$m.ko" || ok=0
	done
	echo "--- devices attached for the drivers under test"
	for d in /sys/bus/pci/devices/*; do
		id="$(cat "$d/vendor"):$(cat "$d/device")"
		case "$id" in
		0x8086:0x100e) echo "  $(basename "$d") e1000 (82540EM) NIC" ;;
		0x1af4:0x1001 | 0x1af4:0x1042) echo "  $(basename "$d") virtio-blk disk" ;;
		esac
	done
	$ctl call testdev0 config 0 1000 >/dev/null || ok=0
	answered=0
	for round in 1 2 3 4 5 6; do
		case $round in
		2) echo "--- inject: Rust panic in the hardirq entry point"; $ctl inject testdev0 panic irq ;;
		4) echo "--- inject: NULL dereference in the softirq entry point"; $ctl inject testdev0 null tick ;;
		6) echo "--- inject: endless loop with IRQs off in the process-context entry point"; $ctl inject testdev0 spin_irqoff op ;;
		esac
		for e in op tick irq; do
			r=$($ctl call testdev0 $e $round | sed -n 's/.* last //p')
			if [ "$r" = $((1000 + round)) ]; then answered=$((answered + 1)); else ok=0; fi
		done
	done
	echo "--- $answered of 18 requests answered correctly"
	echo "--- /sys/kernel/debug/ndriver/testdev0/status"
	$ctl status testdev0
	echo "--- recoveries"
	$ctl recoveries testdev0
	echo "--- /sys/kernel/debug/ndriver/status"
	$ctl status
	[ $ok = 1 ] && echo "ndriver: demo ok" || echo "ndriver: demo FAILED"
} 2>&1 | tee "$out"
