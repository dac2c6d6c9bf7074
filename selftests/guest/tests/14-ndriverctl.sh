# SPDX-License-Identifier: GPL-2.0
# The ndriverctl front end drives a recovery end to end and refuses bad input with
# a message and a non-zero exit.
. "$(dirname "$0")/../lib.sh"

C=$ROOT/tools/ndriverctl
dmesg_mark
load_testdev
$C status | grep -q 'testdev/testdev-a' || fail "status"
$C status testdev0 | grep -q '^state running$' || fail "device status"
$C call testdev0 config 0 7 >/dev/null || fail "config"
$C inject testdev0 div0 op || fail "inject"
$C call testdev0 op 3 | grep -q 'last 10$' || fail "call after injected divide error"
$C recoveries testdev0 | grep -q 'cause=divide_error entry=op' || fail "recovery not listed"
r=$($C report testdev0) || fail "report"
[[ $r == "report 1: testdev0 generation "*" cause divide_error entry op injected yes"* ]] ||
	fail "crash report: $r"
grep -q '^ip: ' <<< "$r" || fail "crash report without ip: $r"
[ "$($C report testdev0 5 | grep -c '^report ')" = 1 ] || fail "report N shows more than there are"
$C report testdev0 zero 2>/dev/null && fail "bad report count accepted"
# top: one row per device, its fields the device's own status and stats files.
t=$($C top -n 1 | awk '$1 == "testdev0"')
read -r _ st impl gen rec rep n unit _ <<< "$t"
[ "$st" = running ] && [ "$impl" = testdev-a ] || fail "top state/implementation: $t"
[ "$gen" = "$(awk '$1 == "generation" { print $2 }' "$TD/status")" ] || fail "top generation: $t"
[ "$rec" = "$(awk '$1 == "recoveries" { print $2 }' "$TD/stats")" ] && [ "$rec" -ge 1 ] ||
	fail "top recoveries: $t"
[ "$rep" = 1 ] && [ "$unit" = requests ] && [ "$n" -ge 1 ] || fail "top reports/traffic: $t"
[ "$($C top -n 2 -d 1 | grep -c '^testdev0 ')" = 2 ] || fail "top -n 2"
$C top -n x 2>/dev/null && fail "bad top count accepted"
$C top -d 0 2>/dev/null && fail "bad top interval accepted"
$C swap testdev0 testdev-b | grep -q 'implementation testdev-b' || fail "swap"
$C policy testdev0 restarts=5 | grep -q 'restarts=5 ' || fail "policy"
[ "$($C pci testdev0)" = none ] || fail "pci"
$C pci testdev0 0000:00:1f.9 2>/dev/null && fail "bad PCI address accepted"
$C inject testdev0 nosuchclass op 2>/dev/null && fail "bad class accepted"
$C status nosuchdev 2>/dev/null && fail "unknown device accepted"
$C frobnicate 2>/dev/null && fail "unknown command accepted"
unload_testdev
dmesg_clean
echo PASS
