#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Runs inside the guest for `make run`: loads ndriver and the sample implementation,
# and shows what ndriver reports. Output also goes to $NDRIVER_RESULTS/demo.txt.
set -u
out=${NDRIVER_RESULTS:-/tmp}/demo.txt
{
	mount -t debugfs none /sys/kernel/debug 2>/dev/null
	echo "guest kernel: $(uname -r), $(nproc) CPUs"
	ok=1
	insmod "$NDRIVER_ROOT/ndriver.ko" || ok=0
	insmod "$NDRIVER_ROOT/sample-drivers/ndriver_hello.ko" || ok=0
	echo "--- /sys/kernel/debug/ndriver/status"
	cat /sys/kernel/debug/ndriver/status || ok=0
	echo "--- devices attached for the drivers under test"
	for d in /sys/bus/pci/devices/*; do
		id="$(cat "$d/vendor"):$(cat "$d/device")"
		case "$id" in
		0x8086:0x100e) echo "  $(basename "$d") e1000 (82540EM) NIC" ;;
		0x1af4:0x1001 | 0x1af4:0x1042) echo "  $(basename "$d") virtio-blk disk" ;;
		esac
	done
	echo "--- kernel log"
	dmesg | grep -E '\] ndriver' | tail -n 10
	[ $ok = 1 ] && echo "ndriver: demo ok" || echo "ndriver: demo FAILED"
} 2>&1 | tee "$out"
