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
	grep -H . /sys/bus/pci/devices/*/vendor 2>/dev/null |
		grep -E '0x8086|0x1af4' | sed 's|/vendor:| vendor |'
	echo "--- kernel log"
	dmesg | grep -E 'ndriver' | tail -n 10
	[ $ok = 1 ] && echo "ndriver: demo ok" || echo "ndriver: demo FAILED"
} 2>&1 | tee "$out"
