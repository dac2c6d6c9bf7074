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

# Back-off: the 2nd failure of a burst waits backoff_ms, the 3rd twice that (hot=0:
# an error return would first be retried in place, below).
echo "restarts=10 backoff_ms=200 backoff_max_ms=1000 calm_ms=60000 hot=0" > "$TD/policy"
echo "class=error entry=op times=3" > "$TD/inject"
start=$(date +%s%N)
[ "$(td_call op 5)" = 5 ] || fail "request after three failures"
ms=$(( ($(date +%s%N) - start) / 1000000 ))
echo "three failures with back-off took ${ms} ms"
[ "$ms" -ge 600 ] || fail "back-off not honoured: ${ms} ms < 200 + 400"

# The ladder's first rung: an error return that took and gave back nothing is retried
# in place, on the same instance (level=hot); a second failure of the same request goes
# on to a new instance; hot=0 never retries in place. The crash report and the log say
# which; the generation (no instance started) is the evidence outside the counters.
echo "restarts=10 backoff_ms=0 calm_ms=0" > "$TD/policy"
refused "$TD/policy" "hot=2"
refused "$TD/policy" "hot=yes"
echo "hot=1" > "$TD/policy" || fail "hot=1 refused"
grep -q ' hot=1 ' "$TD/policy" || fail "hot not on: $(cat "$TD/policy")"
last_recovery() {
	local l last=
	snapshot "$TD/recoveries"
	for l in "${SNAP[@]}"; do last=$l; done
	echo "$last"
}
# hot_case INJECT CMD WANT_GEN_STEP WANT_HOT WANT_COLD LEVEL: injects, runs CMD, and
# checks the generation step, the new hot and cold recoveries and the newest level.
hot_case() {
	local gen rec hot cold err l
	gen=$(status_of generation)
	rec=$(stat recoveries)
	hot=$(stat recoveries_hot)
	cold=$(stat recoveries_cold)
	err=$(stat detected error_return)
	echo "$1" > "$TD/inject" || fail "inject $1"
	eval "$2" || fail "$1: '$2' failed"
	inject_off || fail "$1: not raised: $(cat "$TD/inject")"
	[ $(( $(status_of generation) - gen )) = "$3" ] ||
		fail "$1: generation $gen -> $(status_of generation), want +$3"
	[ $(( $(stat recoveries_hot) - hot )) = "$4" ] || fail "$1: hot recoveries +$(( $(stat recoveries_hot) - hot )), want +$4"
	[ $(( $(stat recoveries_cold) - cold )) = "$5" ] || fail "$1: cold recoveries +$(( $(stat recoveries_cold) - cold )), want +$5"
	[ $(( $(stat recoveries) - rec )) = $(($4 + $5)) ] || fail "$1: recoveries"
	[ $(( $(stat detected error_return) - err )) = $(($4 + $5)) ] || fail "$1: error returns detected"
	l=$(last_recovery)
	[[ $l == *" cause=error_return "*" level=$6" ]] || fail "$1: newest recovery '$l', want level=$6"
	report_newest "$TD"
	[[ $REPORT == *"level=$6"* ]] || fail "$1: newest report not level=$6: $REPORT"
}
hot_case "class=error entry=op" '[ "$(td_call op 6)" = 6 ]' 0 1 0 hot
hot_case "class=error entry=tick" '[ "$(td_call tick 7)" = 7 ]' 0 1 0 hot
hot_case "class=error entry=configure" 'echo "config 0 0" > "$TD/call"' 0 1 0 hot
dmesg | sed -n "/$DMESG_MARK/,\$p" | grep -q "testdev0: retried testdev-[ab] generation [0-9]* in place after error_return (-5) in op, injected (report [0-9]*) level=hot" ||
	fail "no log line for the hot retry"
# The retry fails too: the second failure replaces the instance.
hot_case "class=error entry=op times=2" '[ "$(td_call op 8)" = 8 ]' 1 1 1 cold
hot_case "class=error entry=irq times=2" '[ "$(td_call irq 8)" = 8 ]' 1 1 1 cold
# A fault is never retried in place.
gen=$(status_of generation)
echo "class=div0 entry=op" > "$TD/inject"
[ "$(td_call op 9)" = 9 ] || fail "request after a divide error"
[ "$(status_of generation)" -gt "$gen" ] || fail "divide error retried in place"
[[ $(last_recovery) == *" cause=divide_error "*" level=cold" ]] || fail "divide error: $(last_recovery)"
echo "hot=0" > "$TD/policy" || fail "hot=0 refused"
hot_case "class=error entry=op" '[ "$(td_call op 10)" = 10 ]' 1 0 1 cold
echo "hot=1" > "$TD/policy" || fail "hot=1 refused"
echo "hot restart: error returns at op, tick and configure retried in place; second failures and hot=0 cold"

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
