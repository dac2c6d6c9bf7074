#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# guest-nic-peer.sh start|stop: inside a guest booted with NDRIVER_GUEST_NIC_PEER=guest
# (scripts/guest.sh), the other end of the first e1000's wire: the guest's virtio-net
# NIC (MAC 52:54:00:6e:64:10, the kernel's C virtio_net driver) in a network namespace
# of its own at 10.99.0.1/24 -- the address the host's side of ndtap0 has otherwise --
# with netperf's server on port 12865 and scripts/nic-peer.py on 8099 there. Under
# QEMU -icount both ends then run in guest time, on the guest's vCPUs (the peer's work
# is part of every variant's, the same for each).
# The namespace is held by a process of its own (unshare -n; `ip netns` needs a
# writable /run/netns and a namespace of PID 1's, which virtme-ng's guest lacks).
# start fails, leaving nothing behind, when the NIC, its module, the namespace or a
# server cannot be set up; stop ends the servers and the namespace's holder (the NIC
# goes back to the guest's first namespace with it).
set -u
R=${NDRIVER_RESULTS:?}
ROOT=${NDRIVER_ROOT:?}
KDIR=${NDRIVER_KDIR:?}
MAC=52:54:00:6e:64:10
ADDR=10.99.0.1
# Its first line: the namespace's holder; then the servers.
PIDS=$R/nic-peer.pids
HOLDER=

fail() {
	echo "guest-nic-peer: $*" >&2
	stop
	exit 1
}

# in_ns COMMAND...: COMMAND in the peer's namespace, in the foreground (a function run
# in the background is a subshell of its own: the servers below call nsenter directly).
in_ns() {
	nsenter -t "$HOLDER" -n "$@"
}

# peer_if: the name of the interface with the peer's MAC, in this namespace.
peer_if() {
	local d
	for d in /sys/class/net/*; do
		[ "$(cat "$d/address" 2>/dev/null)" = $MAC ] && { basename "$d"; return 0; }
	done
	return 1
}

# own_ns: whether the holder runs, in a network namespace other than ours.
own_ns() {
	local ns
	ns=$(readlink "/proc/$HOLDER/ns/net" 2> /dev/null) && [ -n "$ns" ] &&
		[ "$ns" != "$(readlink /proc/self/ns/net)" ]
}

start() {
	local m i ifc= moved=0
	# A second start leaves the running peer alone (fail would stop it).
	if [ -s "$PIDS" ]; then
		echo "guest-nic-peer: a peer runs already ($PIDS)" >&2
		exit 1
	fi
	for m in net/core/failover drivers/net/net_failover drivers/net/virtio_net; do
		grep -q "^${m##*/} " /proc/modules && continue
		modprobe "${m##*/}" 2>/dev/null || insmod "$KDIR/$m.ko" ||
			fail "cannot load ${m##*/} (the guest kernel's $m.ko)"
	done
	# udev may still rename the new interface.
	command -v udevadm > /dev/null && udevadm settle --timeout=5 2> /dev/null
	unshare -n sleep infinity &
	HOLDER=$!
	echo $HOLDER > "$PIDS"
	# The namespace exists once the holder runs in it (its link differs from ours); a
	# move into our own namespace would succeed and leave the peer on the loopback.
	for i in $(seq 50); do
		own_ns && break
		sleep 0.1
	done
	own_ns || fail "no network namespace of its own for the peer (CONFIG_NET_NS?)"
	for i in $(seq 50); do
		if ifc=$(peer_if) && ip link set "$ifc" netns "$HOLDER" 2> /dev/null; then
			moved=1
			break
		fi
		sleep 0.1
	done
	[ -n "$ifc" ] || fail "no interface with MAC $MAC: was the guest booted with NDRIVER_GUEST_NIC_PEER=guest?"
	[ $moved = 1 ] && ! peer_if > /dev/null ||
		fail "cannot move $ifc into a namespace of its own"
	in_ns ip link set lo up || fail "no loopback in the peer's namespace"
	# Jumbo frames as the host's tap takes them (32-nic-jumbo, NDRIVER_BENCH_MTU).
	if ! in_ns ip link set "$ifc" mtu 16110 2> /dev/null; then
		in_ns ip link set "$ifc" mtu 9000 || fail "cannot raise $ifc's MTU"
		echo "guest-nic-peer: $ifc takes at most MTU 9000" >&2
	fi
	in_ns ip addr add $ADDR/24 dev "$ifc" || fail "cannot address $ifc"
	in_ns ip link set "$ifc" up || fail "cannot bring $ifc up"
	mkdir -p "$R/peer"
	# nsenter execs the server: $! is the server's own PID.
	nsenter -t "$HOLDER" -n netserver -D -L $ADDR -p 12865 > "$R/netserver-guest.log" 2>&1 &
	echo $! >> "$PIDS"
	nsenter -t "$HOLDER" -n /usr/bin/python3 "$ROOT/scripts/nic-peer.py" $ADDR 8099 "$R/peer" \
		> "$R/peer-guest.log" 2>&1 &
	echo $! >> "$PIDS"
	local listening
	for i in $(seq 100); do
		listening=$(in_ns ss -ltn 2> /dev/null)
		grep -q "$ADDR:12865 " <<< "$listening" && grep -q "$ADDR:8099 " <<< "$listening" &&
			return 0
		sleep 0.1
	done
	fail "netserver or nic-peer.py did not listen on $ADDR (netserver-guest.log, peer-guest.log)"
}

# stop: the servers first, the namespace's holder last (its first line).
stop() {
	local p
	if [ -f "$PIDS" ]; then
		for p in $(tac "$PIDS"); do
			kill "$p" 2> /dev/null
			wait "$p" 2> /dev/null
		done
		rm -f "$PIDS"
	fi
	return 0
}

case ${1:-} in
start) start ;;
stop) stop ;;
*) echo "usage: guest-nic-peer.sh start|stop" >&2; exit 2 ;;
esac
