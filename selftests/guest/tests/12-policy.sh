# SPDX-License-Identifier: GPL-2.0
# The recovery policy: with restarts=1 each implementation is started once per burst
# of failures: testdev-a fails, testdev-a is restarted and fails, testdev-b takes over
# and fails, and the device is given up (down, requests
# fail with an error, no crash); an operator swap revives it. Back-off between
# repeated failures is honoured.
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
unload_testdev
dmesg_clean --panics-expected
echo PASS
