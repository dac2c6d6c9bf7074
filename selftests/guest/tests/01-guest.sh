# SPDX-License-Identifier: GPL-2.0
# The guest is what the driver tests need: two CPUs (the watchdog sends NMIs from
# one to the other), the e1000 and virtio-blk test devices, debugfs, the C baseline
# drivers as modules of the guest kernel, and the workload tools.
. "$(dirname "$0")/../lib.sh"

dmesg_mark
[ "$(nproc)" -ge 2 ] || fail "guest has $(nproc) CPU(s), tests need 2"
dev_of() { # vendor device -> sysfs path of the first match
	for d in /sys/bus/pci/devices/*; do
		[ "$(cat "$d/vendor")" = "$1" ] && [ "$(cat "$d/device")" = "$2" ] && { echo "$d"; return 0; }
	done
	return 1
}
e1000=$(dev_of 0x8086 0x100e) || fail "no e1000 (8086:100e) on the PCI bus"
vblk=$(dev_of 0x1af4 0x1001) || vblk=$(dev_of 0x1af4 0x1042) || fail "no virtio-blk on the PCI bus"
echo "e1000 at $e1000, virtio-blk at $vblk"
[ -e "$e1000/driver" ] && fail "e1000 is already bound to $(readlink "$e1000/driver")"
mountpoint -q /sys/kernel/debug || fail "debugfs not mounted"
for m in drivers/net/ethernet/intel/e1000/e1000.ko drivers/block/virtio_blk.ko; do
	[ -f "$NDRIVER_KDIR/$m" ] || fail "C baseline $m missing from $NDRIVER_KDIR"
done
for t in netperf netserver apache2 fio iperf3 ethtool ip mkfs.ext4 wrk ab; do
	command -v "$t" >/dev/null || [ -x "/usr/sbin/$t" ] || fail "$t missing in the guest"
done
dmesg_clean
echo PASS
