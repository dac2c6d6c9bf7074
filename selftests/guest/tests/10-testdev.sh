# SPDX-License-Identifier: GPL-2.0
# The guarded test device without faults: requests in process, softirq and hardirq
# context reach the bound implementation; configuration is applied and survives
# swaps in both directions; an implementation in use can be rmmod'ed (the device
# swaps away) and loaded again; bad debugfs writes are refused and change nothing.
. "$(dirname "$0")/../lib.sh"

dmesg_mark
load_testdev
[ "$(status_of implementation)" = testdev-a ] || fail "bound to $(status_of implementation)"
echo "config 0 100" > "$TD/call" || fail "config refused"
for v in op tick irq; do
	r=$(td_call $v 5) || fail "$v failed"
	[ "$r" = 105 ] || fail "$v 5 gave '$r', want 105"
done

# Swap to B and back: configuration replayed, results unchanged.
echo testdev-b > "$TD/swap" || fail "swap to testdev-b failed"
[ "$(status_of implementation)" = testdev-b ] || fail "swap did not switch: $(cat "$TD/status")"
[ "$(td_call op 7)" = 107 ] || fail "configuration lost across swap"
echo next > "$TD/swap" || fail "swap next failed"
[ "$(status_of implementation)" = testdev-a ] || fail "swap next went to $(status_of implementation)"
[ "$(stat swaps)" = 2 ] || fail "swaps: $(stat swaps)"

# rmmod of the implementation in use moves the device to the other one.
unload ndriver_testdev_a
[ "$(status_of implementation)" = testdev-b ] || fail "after rmmod: $(cat "$TD/status")"
[ "$(td_call irq 1)" = 101 ] || fail "irq after rmmod"
load sample-drivers/ndriver_testdev_a
echo testdev-a > "$TD/swap" || fail "swap to the reloaded testdev-a failed"
[ "$(td_call tick 2)" = 102 ] || fail "tick after reload"

# Bad writes: refused, nothing changes.
before=$(cat "$TD/policy")
refused "$TD/inject" garbage
refused "$TD/inject" class=meltdown entry=op
refused "$TD/inject" class=null entry=xmit
refused "$TD/inject" class=null entry=op times=0
refused "$TD/inject" class=null entry=op probability=1000
refused "$TD/policy" restarts=0
refused "$TD/policy" floor_ns=10 ceiling_ns=5
refused "$TD/policy" colour=blue
refused "$TD/call" op
refused "$TD/call" op five
refused "$TD/call" fly 1
refused "$TD/call" "config 7 1"
refused "$TD/swap" no-such-impl
[ "$(cat "$TD/policy")" = "$before" ] || fail "policy changed by refused writes"
grep -q '^off$' "$TD/inject" || fail "inject armed by refused writes: $(cat "$TD/inject")"
[ "$(status_of implementation)" = testdev-a ] || fail "refused swap changed the device"
[ "$(stat recoveries)" = 0 ] || fail "recoveries without faults: $(stat recoveries)"
[ -e "$DBG/nosuchdev/inject" ] && fail "unknown device exists"
dmesg | grep -q 'inject: UnknownClass' || fail "refused inject not logged"

unload_testdev
dmesg_clean
echo PASS
