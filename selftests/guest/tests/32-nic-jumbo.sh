# SPDX-License-Identifier: GPL-2.0
# Jumbo frames on ndeth0: the placeholder offers the largest MTU of the implementation
# serving it (16110 for both Rust e1000 drivers, as the C e1000 on this NIC), refuses
# one beyond it and keeps the MTU across swaps and recoveries. At MTU 9000, 8972-byte
# pings cross both ways as single frames: the guest's IP layer neither fragments nor
# reassembles (its own counters in /proc/net/snmp, not the driver's). Downloads and
# uploads at that MTU (TCP segments of 8960 bytes, each frame gathered from five
# receive buffers), one pair after another for as long as the swaps or faults go on,
# keep their sha256 across a swap to the other implementation and back, a fault of
# every class at the NAPI poll's entry, and a fault of every fail-stop site class in
# the middle of gathering a frame (at the copy of a piece, receive lock held: a kprobe
# site on that call in e1000-napi's poll, found in the module's disassembly), with a
# sequence-numbered UDP stream running both ways (no duplicate, loss bounded).
. "$(dirname "$0")/../lib.sh"

NIC=$DBG/nic0
IF=ndeth0
PEER=10.99.0.1
URL=http://$PEER:8099
PEERDIR=$NDRIVER_RESULTS/peer
MB=${NDRIVER_NIC_MB:-2}
JUMBO=9000
# ICMP payload of a 9000-byte IP packet (20 bytes of IP header, 8 of ICMP).
PAYLOAD=$((JUMBO - 28))

need_e1000

fail() {
	echo "FAIL: $*"
	cat "$NIC/status" "$NIC/stats" 2>/dev/null
	tail -n 5 "$NIC/recoveries" 2>/dev/null
	[ -z "${UDP:-}" ] || kill "$UDP" 2>/dev/null
	if [ -n "${WORK:-}" ]; then
		kill "$WORK" 2>/dev/null
		sed 's/^/swaps or faults: /' /tmp/jumbo-work.txt
	fi
	pkill -f jumbo-blob 2>/dev/null
	exit 1
}
impl() {
	ethtool -i $IF | sed -n 's/^version: //p'
}
# ip_stat NAME: the guest IP layer's counter NAME (Ip: line of /proc/net/snmp).
ip_stat() {
	awk -v k="$1" '$1 == "Ip:" && !h { for (i = 2; i <= NF; i++) col[$i] = i; h = 1; next }
		$1 == "Ip:" && h { print $col[k]; exit }' /proc/net/snmp
}
# big_pings N WHAT: N pings of a 9000-byte packet, every one answered, none of them
# fragmented or reassembled by the guest.
big_pings() {
	local frag reasm got
	frag=$(ip_stat FragCreates)
	reasm=$(ip_stat ReasmReqds)
	got=$(busybox ping -q -c "$1" -i 0.2 -W 5 -s $PAYLOAD $PEER 2>&1 |
		sed -n 's/.* \([0-9]*\) packets received.*/\1/p')
	[ "${got:-0}" = "$1" ] || fail "$2: ${got:-0} of $1 pings of $JUMBO bytes answered"
	[ "$(ip_stat FragCreates)" = "$frag" ] || fail "$2: the guest fragmented its pings"
	[ "$(ip_stat ReasmReqds)" = "$reasm" ] || fail "$2: the replies came in fragments"
}

dmesg_mark
load_nic
[ "$(impl)" = e1000-napi ] || fail "serving: $(impl)"
[ "$(nstatus max_mtu)" = 16110 ] || fail "largest MTU $(nstatus max_mtu), want 16110"
# Beyond the largest: refused by the kernel, nothing changes.
if ip link set $IF mtu 16111 2>/dev/null; then
	fail "MTU 16111 accepted"
fi
[ "$(nstatus mtu)" = 1500 ] || fail "mtu $(nstatus mtu) after a refused change"
ip link set $IF mtu $JUMBO || fail "mtu $JUMBO"
[ "$(cat /sys/class/net/$IF/mtu)" = $JUMBO ] || fail "mtu $(cat /sys/class/net/$IF/mtu)"
busybox ping -q -c 3 -W 5 $PEER > /dev/null || fail "no ping at MTU $JUMBO"
big_pings 10 "e1000-napi"
echo "mtu $JUMBO: 10 pings of $JUMBO bytes answered unfragmented"
# The largest MTU works too.
ip link set $IF mtu 16110 || fail "mtu 16110"
got=$(busybox ping -q -c 3 -i 0.2 -W 5 -s $((16110 - 28)) $PEER 2>&1 |
	sed -n 's/.* \([0-9]*\) packets received.*/\1/p')
[ "${got:-0}" = 3 ] || fail "${got:-0} of 3 pings of 16110 bytes answered"
ip link set $IF mtu $JUMBO || fail "mtu $JUMBO again"

dd if=/dev/urandom of=/tmp/jumbo-blob bs=1M count="$MB" status=none || fail "blob"
cp /tmp/jumbo-blob "$PEERDIR/jblob" || fail "blob to the peer"
ref=$(sha_of /tmp/jumbo-blob)
udp_start "$NDRIVER_RESULTS/32-nic-jumbo-udp.txt"
# transfer_once WHAT: a download and an upload of the blob at 512 KiB/s, both intact.
transfer_once() {
	local dl ul
	rm -f "$PEERDIR/jup"
	curl -sSf --max-time 120 --limit-rate 512k -o /tmp/jumbo-dl "$URL/jblob" 2> /tmp/jumbo-dl.err &
	dl=$!
	curl -sSf --max-time 120 --limit-rate 512k -T /tmp/jumbo-blob "$URL/jup" 2> /tmp/jumbo-ul.err &
	ul=$!
	wait $dl || fail "$1: download failed (curl $?: $(cat /tmp/jumbo-dl.err))"
	wait $ul || fail "$1: upload failed (curl $?: $(cat /tmp/jumbo-ul.err))"
	[ "$(sha_of /tmp/jumbo-dl)" = "$ref" ] || fail "$1: download sha256 mismatch"
	[ "$(sha_of "$PEERDIR/jup")" = "$ref" ] || fail "$1: upload sha256 mismatch"
}
# transfer WHAT CMD...: CMD in the background while downloads and uploads follow one
# another, the first started before CMD and the last ended after it: every swap or
# fault of CMD lands in a transfer. CMD's own failure ends the test with its output.
transfer() {
	local what=$1 n=0
	shift
	transfer_once "$what" &
	local first=$!
	sleep 1
	("$@") > /tmp/jumbo-work.txt 2>&1 &
	WORK=$!
	wait $first || fail "$what: the first transfer failed"
	n=1
	while kill -0 $WORK 2>/dev/null; do
		transfer_once "$what"
		n=$((n + 1))
	done
	wait $WORK || fail "$what: $(cat /tmp/jumbo-work.txt)"
	WORK=
	cat /tmp/jumbo-work.txt
	echo "$what: $n downloads and uploads of $MB MiB at MTU $JUMBO, sha256 match both ways"
}
swaps() {
	local to
	for to in e1000-irq e1000-napi; do
		echo $to > "$NIC/swap" || fail "swap to $to"
		[ "$(impl)" = $to ] || fail "swap to $to: serving $(impl)"
		[ "$(nstatus mtu)" = $JUMBO ] || fail "mtu $(nstatus mtu) after the swap to $to"
		[ "$(nstatus max_mtu)" = 16110 ] || fail "largest MTU $(nstatus max_mtu) on $to"
		if [ $to = e1000-irq ]; then
			sleep 1.5
			big_pings 3 "e1000-irq"
		fi
		sleep 1.5
	done
}
faults() {
	local class rec d det i n=0
	for class in $(fault_classes); do
		rec=$(nstat recoveries)
		d=$(detected_as $class)
		det=$(nstat detected $d)
		echo "class=$class entry=poll" > "$NIC/inject" || fail "inject $class in poll"
		for ((i = 0; i < 400; i++)); do
			nic_inject_off && break
			sleep 0.05
		done
		nic_inject_off || fail "$class in poll not raised: $(cat "$NIC/inject")"
		nic_wait_recovered $((rec + 1)) "$class in poll"
		[ "$(nstat detected $d)" -gt "$det" ] || fail "$class in poll not detected as $d"
		[ "$(nstatus mtu)" = $JUMBO ] || fail "mtu $(nstatus mtu) after $class in poll"
		for ((i = 0; i < 30; i++)); do
			busybox ping -c 1 -W 1 $PEER > /dev/null 2>&1 && break
		done
		[ $i -lt 30 ] || fail "no ping answered within 30 s of $class in poll"
		n=$((n + 1))
	done
	echo "poll: $n faults recovered at MTU $JUMBO"
}
# dl_progress WHAT: until the download in progress grew by 64 KiB, or the next one
# started (60 s at most). A site armed at once would fire at the very retransmission
# the last fault made the peer send: its TCP's backoff then doubles with every fault
# (1, 3, 4, 9, 18, 35 s apart), until the transfer times out.
# (`command`: lib.sh has a function named stat.)
dl_progress() {
	local i s s0
	s0=$(command stat -c %s /tmp/jumbo-dl 2>/dev/null || echo 0)
	for ((i = 0; i < 600; i++)); do
		s=$(command stat -c %s /tmp/jumbo-dl 2>/dev/null || echo 0)
		[ $((s - s0)) -ge 65536 ] || [ "$s" -lt "$s0" ] && return 0
		sleep 0.1
	done
	fail "$1: the download made no progress in 60 s"
}
site_faults() {
	local class i site n=0
	site=$(call_site ndriver_e1000_napi NicDriver4poll memmove) || fail "no memmove call in e1000-napi's poll (its code changed?)"
	for class in panic null wild gpf div0 spin spin_irqoff; do
		nic_site_fault $class "$site" "long frame"
		[ "$(nstatus mtu)" = $JUMBO ] || fail "mtu $(nstatus mtu) after $class at $site"
		for ((i = 0; i < 30; i++)); do
			busybox ping -c 1 -W 1 $PEER > /dev/null 2>&1 && break
		done
		[ $i -lt 30 ] || fail "no ping answered within 30 s of $class at $site"
		dl_progress "$class at $site"
		n=$((n + 1))
	done
	echo "gathering ($site): $n site faults recovered at MTU $JUMBO"
}
rec0=$(nstat recoveries)
transfer "swaps to e1000-irq and back" swaps
transfer "every fault class in poll" faults
transfer "every fail-stop class while gathering" site_faults
big_pings 10 "after the faults"
udp_stop
udp_verdict $(($(nstat recoveries) - rec0 + 2))

# Back to the standard MTU: the largest stays, ordinary traffic works.
ip link set $IF mtu 1500 || fail "mtu 1500"
[ "$(nstatus max_mtu)" = 16110 ] || fail "largest MTU $(nstatus max_mtu) at the end"
busybox ping -q -c 3 -W 5 $PEER > /dev/null || fail "no ping back at MTU 1500"
[ "$(nstat giveups)" = 0 ] || fail "policy gave up"
unload_nic
dmesg_clean --panics-expected
echo PASS
