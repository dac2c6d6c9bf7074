# SPDX-License-Identifier: GPL-2.0
# Hangs that spend their time in kernel code, on testdev0 with the guest's e1000 so
# that every context is covered (a request, the interrupt handler, the hrtimer, the
# work item): the driver looks its own return address up with sprint_symbol()
# forever, which keeps __module_address() busy with a return address into driver
# text. Each hang is ended as a hang, and the guard writes nothing into the stack
# meanwhile. The stack-scanning "return hijack" this replaced rewrote the register
# mod_find() had saved, and __module_address() then hit its BUG_ON (issue 19: the
# debug kernel's 15-device-callouts; this test reproduced it on the normal kernel
# before the fix). Documentation/design.rst, "Why the guard never writes into a
# stack".
. "$(dirname "$0")/../lib.sh"

need_e1000

calls() {
	awk -v e="$1" '$1 == "entry" && $2 == e { print $4 }' "$TD/stats"
}
inject_off_n() {
	if inject_off; then echo 1; else echo 0; fi
}
fail() {
	echo "FAIL: $*"
	cat "$TD/stats" "$DBG/status"
	tail -n 5 "$TD/recoveries"
	exit 1
}
wait_for() {
	local want=$1 end=$((SECONDS + 60)); shift
	while [ $SECONDS -lt $end ]; do
		[ "$("$@")" -ge "$want" ] && return 0
		sleep 0.02
	done
	fail "'$*' stayed at $("$@"), expected >= $want"
}
guard_line() {
	sed -n "s/^guard $1 //p" "$DBG/status"
}
guard_count() {
	guard_line "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"
}
# inject CLASS ENTRY: raises CLASS in ENTRY (a request reaches the asynchronous
# ones through the device) and waits for the recovery.
inject() {
	local r0
	r0=$(stat recoveries)
	echo "class=$1 entry=$2" > "$TD/inject" || fail "inject $1 $2"
	td_call op 7 > /dev/null || fail "op during $1 in $2"
	wait_for 1 inject_off_n
	wait_for $((r0 + 1)) stat recoveries
	for _ in $(seq 100); do
		[ "$(status_of state)" = running ] && break
		sleep 0.1
	done
	[ "$(status_of state)" = running ] || fail "not running after $1 in $2"
}

dmesg_mark
load_testdev
echo "restarts=1000 backoff_ms=0 calm_ms=0" > "$TD/policy" || fail "policy"
echo "$e1000" > "$TD/pci" || fail "attaching $e1000"
[ "$(td_call op 1)" = 1 ] || fail "op with the device"

REPS=${NDRIVER_REPS:-1}
[ "$REPS" -gt 1 ] || REPS=1
ENTRIES="op devirq timer work"

# Hangs in kernel code.
before=$(stat detected hang)
for entry in $ENTRIES; do
	forced=$(guard_count hangs forced)
	for i in $(seq "$REPS"); do
		inject spin_kernel "$entry"
	done
	# A call in task context is never abandoned inside kernel code: it ends at a
	# tick that finds it back in driver text.
	case $entry in
	op | work)
		[ "$(guard_count hangs forced)" = "$forced" ] ||
			fail "a hang in $entry (task context) was forced out of kernel code"
		;;
	esac
done
got=$(( $(stat detected hang) - before ))
[ "$got" -ge $((4 * REPS)) ] || fail "spin_kernel: $got hangs detected, want $((4 * REPS))"
[ "$(stat detected bug)" = 0 ] || fail "a hang in kernel code ended as a BUG: $(grep 'cause=bug' "$TD/recoveries" | tail -n 3)"
dmesg | sed -n "/$DMESG_MARK/,\$p" | grep -E 'kernel BUG at kernel/module' &&
	fail "__module_address() BUG while hangs in kernel code were ended"
echo "spin_kernel: $got hangs in kernel code ended, $(guard_line hangs)"

[ "$(td_call op 3)" = 3 ] || fail "op after the hangs"
echo none > "$TD/pci" || fail "detaching"
unload_testdev
dmesg_clean
echo PASS
