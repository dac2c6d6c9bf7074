# SPDX-License-Identifier: GPL-2.0
# Warm restart of ndeth0 (Documentation/design.rst, "Warm restart"): every fault class
# at the data-path entry points of e1000-napi (poll, devirq, start_xmit), raised under
# ping and a sequence-numbered UDP stream both ways, is recovered warm: the recovery
# says level=warm, the device is not reset (no link event in `ip monitor link`), no
# datagram arrives twice, and far fewer pings are lost than the cold restart's second
# of receive hold-off costs. A panic in the middle of the poll, with a batch of
# received descriptors cleared but not yet given to the device, is recovered warm and
# receive resumes (the adopter gives the batch). Then each structure the adopter checks is damaged in the
# kept set before a warm restart (debugfs warm_corrupt: two receive descriptors'
# buffers swapped, the receive tail out of range, the station address register, the
# transmit head off the tail), and a fault is raised in the adopter itself (race point
# recover_quiesced holds the recovery while the fault is armed): each time the
# adoption is refused, the recovery falls back to a cold one (level=cold,
# warm_fallbacks counted) and traffic resumes. Policy warm=0 makes a recovery cold.
. "$(dirname "$0")/../lib.sh"

NIC=$DBG/nic0
IF=ndeth0
PEER=10.99.0.1

need_e1000

fail() {
	echo "FAIL: $*"
	cat "$NIC/status" "$NIC/stats" 2>/dev/null
	tail -n 5 "$NIC/recoveries" 2>/dev/null
	[ -z "${UDP:-}" ] || kill "$UDP" 2>/dev/null
	[ -z "${PING:-}" ] || kill "$PING" 2>/dev/null
	[ -z "${MON:-}" ] || kill "$MON" 2>/dev/null
	[ -z "${NP:-}" ] || kill "$NP" 2>/dev/null
	exit 1
}
# last_level: the level= of nic0's newest recovery.
last_level() {
	tail -n 1 "$NIC/recoveries" | sed -n 's/.* level=\([a-z]*\)$/\1/p'
}
# last_reconfigure: the reconfigure_ns= of nic0's newest recovery (0: nothing replayed).
last_reconfigure() {
	tail -n 1 "$NIC/recoveries" | sed -n 's/.* reconfigure_ns=\([0-9]*\).*/\1/p'
}
# refusals: the adoptions the kernel log says were refused since dmesg_mark.
refusals() {
	dmesg | sed -n "/$DMESG_MARK/,\$p" | grep -c 'warm restart refused' || true
}
# wait_rx_back WHAT: until the peer answers a ping again (30 s at most).
wait_rx_back() {
	local i
	for ((i = 0; i < 30; i++)); do
		busybox ping -c 1 -W 1 $PEER > /dev/null 2>&1 && return 0
	done
	fail "$1: no ping answered within 30 s of the recovery"
}
# fault ENTRY CLASS: raises CLASS at ENTRY and waits for its recovery (traffic
# reaches every entry point tested: the ping and the UDP stream).
fault() {
	local rec i
	rec=$(nstat recoveries)
	echo "class=$2 entry=$1" > "$NIC/inject" || fail "inject $2 $1"
	for ((i = 0; i < 400; i++)); do
		nic_inject_off && break
		sleep 0.05
	done
	nic_inject_off || fail "$2 in $1 not raised: $(cat "$NIC/inject")"
	nic_wait_recovered $((rec + 1)) "$2 in $1"
}
# fallback WHAT WHY: the newest recovery fell back to cold: level=cold, one more
# warm_fallbacks, one more refusal in the kernel log, for reason WHY (what the failed
# adopter was detected with, the start of what the log line says in parentheses), and
# the peer answers again.
fallback() {
	local why
	[ "$(last_level)" = cold ] || fail "$1: recovered $(last_level), want a cold fallback"
	[ "$(nstat warm_fallbacks)" -gt "$fb" ] || fail "$1: warm_fallbacks still $fb"
	fb=$(nstat warm_fallbacks)
	[ "$(refusals)" -gt "$nref" ] || fail "$1: no refusal in the kernel log"
	nref=$(refusals)
	why=$(dmesg | sed -n "/$DMESG_MARK/,\$p" | grep 'warm restart refused' | tail -n 1)
	echo "$why" | grep -qF "refused ($2" || fail "$1: refused for another reason: $why"
	wait_rx_back "$1"
	echo "$1: adoption refused, cold restart"
}

dmesg_mark
load_nic
[ "$(ethtool -i $IF | sed -n 's/^version: //p')" = e1000-napi ] || fail "not served by e1000-napi"
grep -q ' warm=1 ' "$NIC/policy" || fail "warm is not on by default: $(cat "$NIC/policy")"
refused "$NIC/policy" "warm=2"
[ "$(nstatus kept)" = 0 ] || fail "kept $(nstatus kept) while an instance serves"

# --- Warm recoveries under traffic.
ip monitor link > "$NDRIVER_RESULTS/33-nic-monitor.txt" 2>&1 &
MON=$!
busybox ping -q -i 0.05 -W 2 -w 3600 $PEER > /tmp/warm-ping.txt 2>&1 &
PING=$!
udp_start "$NDRIVER_RESULTS/33-nic-udp.txt"
sleep 0.3
n=0
warm0=$(nstat recoveries_warm)
cold0=$(nstat recoveries_cold)
for entry in poll devirq start_xmit; do
	for class in $(fault_classes); do
		fault $entry $class
		[ "$(last_level)" = warm ] || fail "$class in $entry: recovered $(last_level), want warm"
		# The placeholder keeps its carrier across a cold restart too: that no link
		# event shows proves nothing alone. A warm start replays no configuration.
		[ "$(last_reconfigure)" = 0 ] ||
			fail "$class in $entry: reconfigure_ns=$(last_reconfigure), want 0 (warm)"
		n=$((n + 1))
		sleep 0.2
	done
	echo "$entry: $(fault_classes | wc -w) classes recovered warm"
done
[ "$(nstat recoveries_warm)" -eq $((warm0 + n)) ] ||
	fail "recoveries_warm $(nstat recoveries_warm), want $((warm0 + n))"
[ "$(nstat recoveries_cold)" -eq "$cold0" ] ||
	fail "recoveries_cold $(nstat recoveries_cold) during warm recoveries, want $cold0"
[ "$(nstatus level)" = warm ] || fail "status level $(nstatus level) after warm recoveries"
[ "$(nstatus kept)" = 0 ] || fail "kept $(nstatus kept) after the adoptions"
sleep 1
udp_stop
kill -INT $PING
wait $PING
PING=
kill $MON
wait $MON 2>/dev/null
MON=
tx=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' /tmp/warm-ping.txt)
rx=$(sed -n 's/.* \([0-9]*\) packets received.*/\1/p' /tmp/warm-ping.txt)
[ -n "$tx" ] && [ "$tx" -gt 0 ] || fail "ping did not run"
echo "warm: $n recoveries; ping $rx of $tx answered, $((tx - rx)) lost"
# A cold restart loses a second of receive (QEMU holds frames after an RCTL write):
# 20 pings. A warm one writes no RCTL: at most one ping a recovery, in all.
[ $((tx - rx)) -le "$n" ] || fail "ping lost $((tx - rx)) over $n warm recoveries"
# No datagram twice: what the dead instance's ring showed sent is completed, the rest
# sent again, never both.
udp_verdict "$n"
if grep -q "$IF" "$NDRIVER_RESULTS/33-nic-monitor.txt"; then
	fail "ip monitor saw link events: $(head -5 "$NDRIVER_RESULTS/33-nic-monitor.txt")"
fi
echo "ip monitor link: no event during warm recoveries"

# --- A fault in the middle of the poll, between clearing a batch of received
# descriptors and giving them to the device (the tail write every 16 frames): the
# adopter must give all of them, or the receiver stops there for good. The site is the
# call of the batch's tail write inside the loop (after the "every 16" test), fired
# under a receive flood (netperf TCP_MAERTS: the host sends) so that a poll gets there.
mod=ndriver_e1000_napi
poll_sym=$(awk -v m="[$mod]" '$3 ~ /9NicDriver4poll$/ && $4 == m { print $3; exit }' /proc/kallsyms)
[ -n "$poll_sym" ] || fail "no NicDriver poll symbol of $mod in /proc/kallsyms"
at=$(objdump -d --no-show-raw-insn "$ROOT/sample-drivers/$mod.ko" | sed -n "/<$poll_sym>:/,/^\$/p" |
	awk 'NR == 1 { base = $1 } /test +\$0xf,/ { armed = 1 }
		armed && /call .*7give_rx>/ { sub(/:$/, "", $1); print base, $1; exit }')
off=
[ -z "$at" ] || off=$((0x${at#* } - 0x${at% *}))
[ -n "$off" ] || fail "no batch tail write (give_rx after the test of 16) in $mod's poll (its code changed?)"
netperf -H $PEER -t TCP_MAERTS -l 120 -P 0 -- -o THROUGHPUT > /tmp/warm-maerts.txt 2>&1 &
NP=$!
rec=$(nstat recoveries)
echo "class=panic site=$mod:$poll_sym+$off times=1" > "$NIC/inject" || fail "site $poll_sym+$off not placed"
for ((i = 0; i < 600; i++)); do
	[ "$(inject_field "$NIC" fired)" = 1 ] && break
	sleep 0.1
done
[ "$(inject_field "$NIC" fired)" = 1 ] || fail "mid-poll site not fired in 60 s: $(cat "$NIC/inject")"
nic_wait_recovered $((rec + 1)) "panic in the middle of the poll"
[ "$(last_level)" = warm ] || fail "panic in the middle of the poll: recovered $(last_level), want warm"
wait_rx_back "panic in the middle of the poll"
echo off > "$NIC/inject"
kill $NP 2>/dev/null
wait $NP 2>/dev/null
NP=
echo "mid-poll panic (16 descriptors cleared, not given): recovered warm, receive resumed"

# --- Damaged kept state: the adopter's checks refuse it, the recovery goes cold.
fb=$(nstat warm_fallbacks)
nref=$(refusals)
busybox ping -q -i 0.2 -W 2 -w 3600 $PEER > /dev/null 2>&1 &
PING=$!
for spec in "swap 0 0 16" "reg 0 0x2818 0x8000" "reg 0 0x5400 0x1" "reg 0 0x3810 0x1"; do
	echo "$spec" > "$NIC/warm_corrupt" || fail "warm_corrupt $spec"
	[ "$(cat "$NIC/warm_corrupt")" != off ] || fail "warm_corrupt $spec not armed"
	fault poll panic
	[ "$(cat "$NIC/warm_corrupt")" = off ] || fail "warm_corrupt $spec not applied"
	fallback "warm_corrupt $spec" "error_return, -5)"
	# And the next recovery is warm again.
	fault poll error
	[ "$(last_level)" = warm ] || fail "after $spec: recovered $(last_level), want warm"
done
refused "$NIC/warm_corrupt" "swap 0 4 16"
refused "$NIC/warm_corrupt" "reg 0 0x2818 0"

# A fault in the adopter: held in the recovery (after its quiesce, 5 s) while it is
# armed; armed only once the race file shows the recovery stalling there.
fault_in_adopt "$NIC" poll panic
fallback "panic in adopt" "bug,"

# Policy warm=0: cold.
echo "warm=0" > "$NIC/policy" || fail "warm=0"
fault poll error
[ "$(last_level)" = cold ] || fail "warm=0: recovered $(last_level)"
echo "warm=1" > "$NIC/policy" || fail "warm=1"
fault poll error
[ "$(last_level)" = warm ] || fail "warm=1: recovered $(last_level)"
kill $PING
wait $PING 2>/dev/null
PING=
# A swap is cold, and leaves nothing kept.
echo e1000-irq > "$NIC/swap" || fail "swap to e1000-irq"
[ "$(last_level)" = cold ] || fail "swap: $(last_level)"
echo e1000-napi > "$NIC/swap" || fail "swap back"
[ "$(nstatus kept)" = 0 ] || fail "kept $(nstatus kept) after swaps"
wait_rx_back "swaps"
grep -E 'recoveries_warm|recoveries_cold|warm_fallbacks' "$NIC/stats"
unload_nic
dmesg_clean --panics-expected
echo "PASS"
