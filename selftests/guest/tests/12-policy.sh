# SPDX-License-Identifier: GPL-2.0
# The recovery policy: with restarts=1 each implementation is started once per burst
# of failures: testdev-a fails, testdev-a is restarted and fails, testdev-b takes over
# and fails, and the device is given up (down, requests
# fail with an error, no crash); an operator swap revives it. Back-off between
# repeated failures is honoured. Periodic rejuvenation swaps in fresh instances
# without a request noticing.
. "$(dirname "$0")/../lib.sh"

dmesg_mark
load_testdev
echo "restarts=1 backoff_ms=0 calm_ms=60000" > "$TD/policy" || fail "policy"
grep -q 'restarts=1 ' "$TD/policy" || fail "policy not applied: $(cat "$TD/policy")"
echo "class=panic entry=op times=-1" > "$TD/inject"
if echo "op 1" > "$TD/call" 2>/dev/null; then
	fail "request succeeded although every implementation keeps failing"
fi
[ "$(status_of state)" = down ] || fail "device not down: $(cat "$TD/status")"
[ "$(stat giveups)" = 1 ] || fail "giveups $(stat giveups)"
[ "$(stat recoveries)" = 2 ] || fail "expected 2 recoveries before giving up, got $(stat recoveries)"
[ "$(stat detected bug)" = 3 ] || fail "expected 3 failures, got $(stat detected bug)"
grep -q 'device down' <(dmesg) || fail "give-up not reported in the kernel log"
echo off > "$TD/inject"
echo testdev-a > "$TD/swap" || fail "operator swap did not revive the device"
[ "$(status_of state)" = running ] || fail "not running after revive: $(cat "$TD/status")"
[ "$(td_call op 4)" = 4 ] || fail "wrong answer after revive"

# Back-off: the 2nd failure of a burst waits backoff_ms, the 3rd twice that.
echo "restarts=10 backoff_ms=200 backoff_max_ms=1000 calm_ms=60000" > "$TD/policy"
echo "class=error entry=op times=3" > "$TD/inject"
start=$(date +%s%N)
[ "$(td_call op 5)" = 5 ] || fail "request after three failures"
ms=$(( ($(date +%s%N) - start) / 1000000 ))
echo "three failures with back-off took ${ms} ms"
[ "$ms" -ge 600 ] || fail "back-off not honoured: ${ms} ms < 200 + 400"

# The unguarded bypass (guard=0, for measurement): on by default, only 0 or 1; calls
# still answered and counted, an error return still recovered.
grep -q ' guard=1 ' "$TD/policy" || fail "guard not on by default: $(cat "$TD/policy")"
refused "$TD/policy" "guard=2"
refused "$TD/policy" "guard=on"
refused "$TD/policy" "guard="
op_calls() {
	awk '$1 == "entry" && $2 == "op" { print $4 }' "$TD/stats"
}
echo "restarts=2 backoff_ms=0 calm_ms=0" > "$TD/policy"
echo "config 0 300" > "$TD/call" || fail "config"
echo "guard=0" > "$TD/policy" || fail "guard=0 refused"
grep -q ' guard=0 ' "$TD/policy" || fail "guard=0 not applied"
calls=$(op_calls)
for i in 1 2 3 4 5; do
	[ "$(td_call op "$i")" = $((300 + i)) ] || fail "request $i unguarded"
done
[ $(( $(op_calls) - calls )) = 5 ] || fail "unguarded calls not counted: $calls -> $(op_calls)"
rec=$(stat recoveries)
echo "class=error entry=op" > "$TD/inject" || fail "inject error"
[ "$(td_call op 7)" = 307 ] || fail "request after an unguarded error return"
[ "$(stat recoveries)" = $((rec + 1)) ] || fail "unguarded error return not recovered"
echo "guard=1" > "$TD/policy" || fail "guard=1 refused"
grep -q ' guard=1 ' "$TD/policy" || fail "guard=1 not applied"

# Memory limit: out of range refused; a smaller limit applies from the next
# instance, and a leak is stopped at it (the slab grows by at most the limit).
refused "$TD/policy" "mem_kb=0"
refused "$TD/policy" "mem_kb=63"
refused "$TD/policy" "mem_kb=1048577"
refused "$TD/policy" "mem_kb=64k"
grep -q ' mem_kb=256 ' "$TD/policy" || fail "default mem_kb is not 256: $(cat "$TD/policy")"
echo "mem_kb=64" > "$TD/policy" || fail "mem_kb=64 refused"
grep -q ' mem_kb=64 ' "$TD/policy" || fail "mem_kb=64 not applied"
echo "$(status_of implementation)" > "$TD/swap" || fail "swap to apply mem_kb"
leaks=$(stat detected leak)
echo "class=leak entry=op" > "$TD/inject" || fail "inject leak"
[ "$(td_call op 9)" = 309 ] || fail "request after a leak"
[ "$(stat detected leak)" = $((leaks + 1)) ] || fail "leak not detected"
dmesg | grep -q 'over its memory limit (64 KiB)' || fail "no log line for the leak at 64 KiB"
echo "mem_kb=256" > "$TD/policy"

# Proactive rejuvenation: every rejuvenate_ms a fresh instance of the same
# implementation takes over at a quiescent point, with the configuration replayed;
# requests issued meanwhile all answer, and no failure is counted.
refused "$TD/policy" "rejuvenate_ms=5"
refused "$TD/policy" "rejuvenate_ms=-1"
refused "$TD/policy" "rejuvenate_ms=100x"
echo "restarts=2 backoff_ms=0 calm_ms=1000" > "$TD/policy"
echo "config 0 500" > "$TD/call" || fail "config"
gen=$(status_of generation)
rec=$(stat recoveries)
impl=$(status_of implementation)
echo "rejuvenate_ms=100" > "$TD/policy" || fail "rejuvenate_ms=100 refused"
grep -q 'rejuvenate_ms=100 ' "$TD/policy" || fail "rejuvenation period not applied"
end=$(( $(date +%s) + 2 ))
i=0
while [ "$(date +%s)" -lt "$end" ]; do
	i=$((i + 1))
	[ "$(td_call op "$i")" = $((500 + i)) ] || fail "request $i during rejuvenation"
done
echo "rejuvenate_ms=0" > "$TD/policy"
n=$(stat rejuvenations)
echo "$i requests answered during $n rejuvenations"
[ "$n" -ge 3 ] || fail "only $n rejuvenations in two seconds at 100 ms"
[ $(( $(status_of generation) - gen )) -ge "$n" ] || fail "generation did not follow rejuvenations"
[ "$(stat recoveries)" = "$rec" ] || fail "rejuvenation counted as a failure recovery"
[ "$(status_of implementation)" = "$impl" ] || fail "rejuvenation changed the implementation"
grep -q 'cause=rejuvenation entry=- ' "$TD/recoveries" || fail "rejuvenation not in recoveries"
# Off means off.
gen=$(status_of generation)
sleep 0.5
[ "$(status_of generation)" = "$gen" ] || fail "instances still replaced after rejuvenate_ms=0"
# Left armed at unload: the queued rejuvenation is cancelled with the device.
echo "rejuvenate_ms=10" > "$TD/policy"
sleep 0.2
unload_testdev
dmesg_clean --panics-expected
echo PASS
