# SPDX-License-Identifier: GPL-2.0
# Recovery races, each made to happen every time by a race point
# (/sys/kernel/debug/ndriver/race: the next pass through a named point in the core
# stalls for the time written). The guest runs with init_on_free=1 (check.sh), so a
# freed instance is zeroed and a call that still uses one goes wrong visibly; under
# KASAN it is reported as a use after free.
#
# 1. admit: a call admitted in the window between a recovery's quiesce and its new
#    instance must not pair the dead instance with the new instance's table. On
#    ndblk0 under reads, the recovery stalls after quiesce; the next admission
#    stalls between its loads of the instance and of its table. No call may be
#    seen past admission inside the recovery, and the injected failure must be the
#    only one.
# 2. pending: an asynchronous failure of a newer instance must not be thrown away
#    because an older one is still pending. The recovery work item stalls before it
#    takes the pending failure (of generation N) while an operator swap starts N+1,
#    whose interrupt handler then fails too: the device must recover from that and
#    answer, not stay refused.
# 3. fail_async: a failed asynchronous call marks its instance failed while it is
#    still admitted, so a swap waiting in quiesce cannot free the instance first
#    (KASAN reports the write otherwise): the swap must not return before the
#    stalled call is done with its instance.
# 4. nic_redirect: across a recovery under a UDP flood and a ping every 10 ms, with
#    the resend held back 300 ms after the new instance serves, no reply may come
#    twice (busybox ping marks duplicates by their ICMP sequence numbers) and no
#    failure besides the injected one may follow. What the dead instance's device had
#    sent is completed from its registered ring, not sent again. (The old code's race
#    here, an skb lent to the new instance resent as the dead one's, needs the queue
#    woken before the resend, which these drivers do not do; the token table rules it
#    out whatever the driver does.)
#
# Cases 2 and 3 check that the interleaving happened (the race file's `active`
# column: the stall was still running when the other side acted), and the test
# shell runs on CPU 1 with the e1000's interrupt on CPU 0, so a stall with
# interrupts off in the handler never stops the shell.
. "$(dirname "$0")/../lib.sh"

NIC=$DBG/nic0
RACE=$DBG/race

need_e1000

fail() {
	echo "FAIL: $*"
	[ -n "${PING:-}" ] && kill "$PING" 2>/dev/null
	for f in "$TD/stats" "$NIC/stats" "$RACE" "$DBG/status"; do
		[ -r "$f" ] && cat "$f"
	done
	exit 1
}
# hits POINT: how often race point POINT stalled; active POINT: stalling now.
hits() {
	awk -v p="$1" '$1 == p { print $3 }' "$RACE"
}
active() {
	awk -v p="$1" '$1 == p { print $4 }' "$RACE"
}
# failures_total STATS: the sum of the detected causes in STATS.
failures_total() {
	awk '$1 == "detected" { n += $3 } END { print n + 0 }' "$1"
}

dmesg_mark
load_testdev
echo "restarts=1000 backoff_ms=0 calm_ms=0" > "$TD/policy" || fail "policy"
# Under KASAN a probe with the e1000 (enable, map, IRQ, DMA) can overrun the default
# deadline in kernel code, an extra failure that the cases below, which count
# failures, would take for the race's; no case here injects a hang.
if kasan_on; then
	echo "floor_ns=1000000000 ceiling_ns=2000000000" > "$TD/policy" || fail "policy deadlines"
fi
grep -q '^admit 0 0 0$' "$RACE" || fail "race points armed before the test: $(cat "$RACE")"
refused "$RACE" "nonsense 5"
refused "$RACE" "admit"
refused "$RACE" "admit 99999999999"
refused "$RACE" "admit 10000001"
refused "$RACE" "recover_pending 60000001"

# Cases 2 and 3 with the e1000, its interrupt on CPU 0, this shell on CPU 1.
echo "$e1000" > "$TD/pci" || fail "attaching $e1000"
[ "$(td_call op 1)" = 1 ] || fail "op with the device"
irq=$(cat /sys/bus/pci/devices/$e1000/irq)
echo 1 > /proc/irq/$irq/smp_affinity || fail "irq $irq to CPU 0"
taskset -p 2 $$ > /dev/null || fail "shell to CPU 1"

# 2. pending.
g0=$(status_of generation)
r0=$(stat recoveries)
# The stall (a sleep: the work item runs in process context) must outlast a swap to
# testdev-b and one op, which take about 8 s under KASAN and 1 s without.
if kasan_on; then pending_s=30; else pending_s=8; fi
echo "recover_pending ${pending_s}000000" > "$RACE" || fail "arming recover_pending"
echo "class=error entry=devirq" > "$TD/inject" || fail "inject devirq 1"
td_call op 7 > /dev/null || fail "op raising the first devirq fault"
wait_for 1 inject_off_n
WAIT_SECS=10 wait_for 1 hits recover_pending
echo testdev-b > "$TD/swap" || fail "swap while a failure is pending"
echo "class=error entry=devirq" > "$TD/inject" || fail "inject devirq 2"
td_call op 8 > /dev/null || fail "op raising the second devirq fault"
wait_for 1 inject_off_n
[ "$(active recover_pending)" = 1 ] ||
	fail "pending race not set up: the work item's stall ended before the second failure (machine too slow?)"
# The stalled work item takes the newer failure and recovers from it.
WAIT_SECS=$((pending_s + 12)) wait_for $((r0 + 1)) stat recoveries
[ "$(td_call op 9)" = 9 ] || fail "pending race: the device does not answer after the newer failure"
[ "$(status_of state)" = running ] || fail "pending race: $(status_of state)"
echo "pending race: generation $g0 -> $(status_of generation), the newer failure recovered"

# 3. fail_async.
f0=$(failures_total "$TD/stats")
# A busy-wait with interrupts off on CPU 0 (hardirq), which this shell, on CPU 1,
# must see running: each of its commands takes a few hundred ms under KASAN, so
# 6 s there (the hard-lockup detector allows 10), 1.5 s without.
if kasan_on; then async_us=6000000; else async_us=1500000; fi
echo "fail_async $async_us" > "$RACE" || fail "arming fail_async"
echo "class=error entry=devirq" > "$TD/inject" || fail "inject devirq 3"
td_call op 3 > /dev/null || fail "op raising the third devirq fault"
WAIT_SECS=10 wait_for 1 hits fail_async
[ "$(active fail_async)" = 1 ] || fail "fail_async race not set up: the stall ended before the swap"
echo testdev-a > "$TD/swap" || fail "swap while a failed call is marking its instance"
# The swap's quiesce waited for the failed call, which was still admitted: the stall
# had ended when it returned, and the swap's record shows the wait (over a second of
# the stall was left when it began). Had the call let go of its admission first, the
# swap would have gone on at once and freed the instance under it.
[ "$(active fail_async)" = 0 ] ||
	fail "fail_async race: the swap returned while the failed call still used its instance"
q=$(grep ' cause=swap ' "$TD/recoveries" | tail -n 1 | sed -n 's/.* quiesce_ns=\([0-9]*\).*/\1/p')
[ "${q:-0}" -ge 200000000 ] ||
	fail "fail_async race: the swap did not wait for the failed call (quiesce ${q:-?} ns)"
[ "$(td_call op 4)" = 4 ] || fail "fail_async race: wrong answer"
got=$(( $(failures_total "$TD/stats") - f0 ))
[ "$got" = 1 ] || fail "fail_async race: $got failures, want only the injected one"
echo "fail_async race: the swap waited $((q / 1000000)) ms for the failed call"
taskset -p 3 $$ > /dev/null
echo 3 > /proc/irq/$irq/smp_affinity || true
unload_testdev

# 1. admit, on ndblk0 under reads: blk-mq dispatches again every few milliseconds
# while admission refuses, without the control lock the recovery holds, so
# dispatches keep arriving while the recovery stalls after its quiesce.
load_blk
echo "restarts=1000 backoff_ms=0 calm_ms=0" > "$BD/policy" || fail "ndblk0 policy"
# Under KASAN a new vblk-a instance's probe overran the default deadline (10 ms plus
# what it learnt) in the recovery: two more failures than the injected one. No case
# here injects a hang on ndblk0 either.
if kasan_on; then
	echo "floor_ns=1000000000 ceiling_ns=2000000000" > "$BD/policy" || fail "ndblk0 deadlines"
fi
rm -f /tmp/race-stop /tmp/race-dd
(
	while [ ! -e /tmp/race-stop ]; do
		dd if=$BLKDEV of=/dev/null bs=4k count=64 iflag=direct 2> /dev/null || echo "dd failed" >> /tmp/race-dd
	done
) &
DD=$!
sleep 1
f0=$(failures_total "$BD/stats")
r0=$(bd_stat recoveries)
echo "recover_quiesced 1500000" > "$RACE" || fail "arming recover_quiesced"
echo "class=error entry=queue_rq" > "$BD/inject" || fail "inject queue_rq"
WAIT_SECS=10 wait_for 1 hits recover_quiesced
echo "admit 2000000" > "$RACE" || fail "arming admit"
# No call may get past admission while the recovery sits between quiesce and its
# new instance (the old code let the next dispatch through and stall there, holding
# the instance the recovery then freed). One read of the race file per look: it
# shows admit's line (read first) before recover_quiesced's, so a call admitted
# after the recovery's stall ended never shows as active together with it.
seen=0
while :; do
	snap=$(cat "$RACE")
	q=$(echo "$snap" | awk '$1 == "recover_quiesced" { print $4 }')
	a=$(echo "$snap" | awk '$1 == "admit" { print $4 }')
	[ "$q" = 1 ] || break
	seen=1
	[ "$a" = 0 ] || { touch /tmp/race-stop; fail "admit race: a call was admitted inside the recovery"; }
	sleep 0.01
done
[ $seen = 1 ] || { touch /tmp/race-stop; fail "admit race not set up: the recovery's stall ended before the first look"; }
WAIT_SECS=20 wait_for $((r0 + 1)) bd_stat recoveries
# The first call admitted after the recovery takes the admit stall now.
WAIT_SECS=10 wait_for 1 hits admit
for _ in $(seq 100); do
	[ "$(active admit)" = 0 ] && break
	sleep 0.05
done
sleep 1
touch /tmp/race-stop
wait $DD
[ ! -s /tmp/race-dd ] || fail "admit race: reads failed: $(cat /tmp/race-dd)"
got=$(( $(failures_total "$BD/stats") - f0 ))
[ "$got" = 1 ] || fail "admit race: $got failures, want only the injected one"
echo "admit race: one failure, reads go on"
unload_blk

load_nic
busybox ping -i 0.01 -W 2 -w 3600 10.99.0.1 > /tmp/race-ping.txt 2>&1 &
PING=$!
sleep 1

# 4. nic_redirect.
sleep 1
# The flood (to the peer's discard port) from 8 non-blocking sockets, for 3 s.
python3 -c '
import socket, time
socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(8)]
for s in socks:
    s.setblocking(False)
end = time.time() + 3
while time.time() < end:
    for s in socks:
        try:
            s.sendto(b"x" * 1000, ("10.99.0.1", 9))
        except BlockingIOError:
            pass
' &
FLOOD=$!
sleep 0.5
f0=$(failures_total "$NIC/stats")
r0=$(nstat recoveries)
echo "nic_redirect 300000" > "$RACE" || fail "arming nic_redirect"
echo "class=error entry=get_stats64" > "$NIC/inject" || fail "inject get_stats64"
read -r _ < /sys/class/net/ndeth0/statistics/rx_packets
WAIT_SECS=20 wait_for $((r0 + 1)) nstat recoveries
WAIT_SECS=10 wait_for 1 hits nic_redirect
wait $FLOOD
sleep 1
kill -INT $PING
wait $PING
PING=
dups=$(grep -c 'DUP!' /tmp/race-ping.txt || true)
[ "$dups" = 0 ] || fail "nic_redirect race: $dups duplicate replies"
got=$(( $(failures_total "$NIC/stats") - f0 ))
[ "$got" = 1 ] || fail "nic_redirect race: $got failures, want only the injected one"
tail -n 2 /tmp/race-ping.txt
echo "nic_redirect race: no duplicate, resent $(nstat tx_resent)"
unload_nic

dmesg_clean --panics-expected
echo PASS
