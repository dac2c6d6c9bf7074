# SPDX-License-Identifier: GPL-2.0
# A NIC that stops sending: the test clears Bus Master Enable in the e1000's PCI
# command register behind the driver's back, so the device no longer fetches transmit
# descriptors. Under a UDP flood the transmit ring fills, the driver stops the queue,
# the kernel's netdev watchdog (5 s) calls ndo_tx_timeout, ndriver runs the guarded
# tx_timeout entry and recovers: the next instance enables bus mastering again and
# the peer answers. On both implementations, plainly and with a fault of a class
# (make check: one; check-full: every class) armed in tx_timeout itself.
. "$(dirname "$0")/../lib.sh"

NIC=$DBG/nic0
IF=ndeth0
PEER=10.99.0.1
CLASSES=$(fault_classes)
REPS=$(( (${NDRIVER_REPS:-3} + 2) / 3 ))
RARE=div0
[ "$REPS" -gt 1 ] && RARE=$CLASSES

need_e1000

fail() {
	echo "FAIL: $*"
	[ -n "${FLOOD:-}" ] && kill "$FLOOD" 2>/dev/null
	cat "$NIC/status" "$NIC/stats" 2>/dev/null
	tail -n 5 "$NIC/recoveries" 2>/dev/null
	exit 1
}

dmesg_mark
load_nic
cfg=/sys/bus/pci/devices/$e1000/config

# hang IMPL [CLASS]: one device hang, recovered through tx_timeout.
hang() {
	local impl=$1 class=${2:-} r0 t0 cmd new i want
	echo "$impl" > "$NIC/swap" || fail "swap to $impl"
	sleep 1
	r0=$(nstat recoveries)
	t0=$(nstat tx_timeouts)
	[ -n "$class" ] && { echo "class=$class entry=tx_timeout" > "$NIC/inject" || fail "inject $class"; }
	cmd=$(od -An -tu2 -j4 -N2 "$cfg" | tr -d ' ')
	new=$((cmd & ~4))
	printf "$(printf '\\x%02x\\x%02x' $((new & 255)) $((new >> 8)))" |
		dd of="$cfg" bs=1 seek=4 count=2 conv=notrunc status=none || fail "writing $cfg"
	# A UDP flood (to the discard port) from 8 non-blocking sockets: a frame holds its
	# socket's send buffer until the device completes it, so one socket alone would
	# stall before the transmit ring (256 descriptors) is full.
	python3 -c '
import socket, time
socks = []
for _ in range(8):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setblocking(False)
    socks.append(s)
end = time.time() + 40
while time.time() < end:
    for s in socks:
        try:
            s.sendto(b"x" * 64, ("10.99.0.1", 9))
        except OSError:
            time.sleep(0.001)
' &
	FLOOD=$!
	for i in $(seq 400); do
		[ "$(nstat recoveries)" -gt "$r0" ] && [ "$(nstatus state)" = running ] && break
		sleep 0.1
	done
	kill $FLOOD 2>/dev/null
	wait $FLOOD 2>/dev/null
	FLOOD=
	[ "$(nstat tx_timeouts)" -gt "$t0" ] || fail "$impl: no transmit timeout with the device hung"
	[ "$(nstat recoveries)" -gt "$r0" ] || fail "$impl: no recovery from the device hang ${class:+with $class in tx_timeout}"
	want=hang
	if [ -n "$class" ]; then
		nic_inject_off || fail "$impl: $class armed in tx_timeout was not raised"
		want=$(detected_as "$class")
	fi
	grep -q "cause=$want entry=tx_timeout" "$NIC/recoveries" || fail "$impl: no tx_timeout recovery (cause $want) recorded"
	[ $(( $(od -An -tu2 -j4 -N2 "$cfg" | tr -d ' ') & 4 )) = 4 ] || fail "$impl: bus mastering not restored"
	for i in $(seq 20); do
		busybox ping -q -c 1 -W 1 $PEER > /dev/null 2>&1 && break
	done
	busybox ping -q -c 1 -W 2 $PEER > /dev/null 2>&1 || fail "$impl: the peer does not answer after the recovery"
	echo "$impl: transmit hang ${class:+with $class in tx_timeout }recovered after $(( $(nstat tx_timeouts) - t0 )) transmit timeout(s)"
}

for impl in e1000-napi e1000-irq; do
	hang $impl
	for class in $RARE; do
		hang $impl "$class"
	done
done

ip link set $IF down
echo none > "$NIC/pci"
rmmod ndriver_e1000_irq ndriver_e1000_napi ndriver || fail "unload"
dmesg_clean --panics-expected
echo PASS
