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

fail() { td_fail "$@"; }
WAIT_SECS=60

dmesg_mark
td_with_e1000

REPS=${NDRIVER_REPS:-1}
[ "$REPS" -gt 1 ] || REPS=1
ENTRIES="op devirq timer work"

# Hangs in kernel code.
before=$(stat detected hang)
for entry in $ENTRIES; do
	forced=$(guard_count hangs forced)
	for i in $(seq "$REPS"); do
		td_inject spin_kernel "$entry"
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
