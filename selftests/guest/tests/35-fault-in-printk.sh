# SPDX-License-Identifier: GPL-2.0
# A fault inside printk(): the driver passes printk() a wild %s pointer (class
# kernel_printk), vsnprintf() faults on it, and the guard contains that as a kernel
# fault and abandons the call, printk() half done. printk() counts its recursion per
# CPU and had raised the count; past its limit of 3 it drops every message of that
# CPU, silently. Found by make check-full: after a corruption at a random site made
# testdev-a's remove pass printk() a flipped pointer (25-sites), two thirds of the
# kernel log went missing for the rest of the boot, and five tests failed on log lines
# that were never written. The guard now gives the depth back (kernel patch 0005).
# Here: six such faults in a row on CPU 0, each contained and reported, then messages
# written on CPU 0 (a /dev/kmsg line and the driver's own probe line) must reach the
# kernel log.
. "$(dirname "$0")/../lib.sh"

N=6

fail() { td_fail "$@"; }

dmesg_mark
load_testdev
if [ "$(guard_count printk_depth restore)" != 1 ]; then
	refused "$TD/inject" "class=kernel_printk entry=op"
	echo "SKIP: this kernel lets the guard not give printk's depth back (no patch 0005): $(guard_line printk_depth); the class is refused"
	unload_testdev
	exit 4
fi
echo "restarts=1000 backoff_ms=0 calm_ms=0" > "$TD/policy" || fail "policy"
# The request's entry point runs on the CPU of the task that writes it.
taskset -p 1 $$ > /dev/null || fail "shell to CPU 0"
before=$(stat detected kernel_fault)
for i in $(seq $N); do
	echo "class=kernel_printk entry=op" > "$TD/inject" || fail "inject $i"
	td_call op "$i" > /dev/null || fail "request $i failed"
	[ "$TD_LAST" = "$i" ] || fail "request $i answered '$TD_LAST'"
	inject_off || fail "fault $i not raised"
	raised_in "$TD" kernel_printk op || fail "fault $i: no record of its raising"
done
[ $(($(stat detected kernel_fault) - before)) = $N ] ||
	fail "$(($(stat detected kernel_fault) - before)) kernel faults detected, want $N"
# Each fault's own report, printed on CPU 0 during the fault. Without the depth given
# back the fourth report is already dropped (printed at depth 4), and the fifth and
# sixth faults never happen: printk() returns before it formats.
n=$(dmesg | sed -n "/$DMESG_MARK/,\$p" |
	grep -c 'ndriver: page fault in kernel code at string_nocheck+0x.*contained as kernel_fault')
[ "$n" = $N ] || fail "$n kernel-fault reports in the log, want $N"
mark=ndriver-printk-after-$RANDOM$RANDOM
echo "$mark" > /dev/kmsg
echo testdev-b > "$TD/swap" || fail "swap"
dmesg | grep -q "$mark" || fail "a line written on CPU 0 after the faults is not in the kernel log"
dmesg | sed -n "/$mark/,\$p" | grep -q 'testdev-b: probed' ||
	fail "the driver's probe line after the faults is not in the kernel log"
echo "$N faults inside printk() contained on CPU 0; its messages still reach the log"
taskset -p 3 $$ > /dev/null
unload_testdev
# The reports' own lines only: their call traces (exactly N), their "? " frames.
[ "$(dmesg | sed -n "/$DMESG_MARK/,\$p" | grep -c 'Call Trace')" = $N ] ||
	fail "call traces in the log besides the $N reports"
dmesg_clean --allow 'contained as kernel_fault|Call Trace|\]  \? [_A-Za-z0-9.]+\+0x[0-9a-f]+/0x[0-9a-f]+'
echo PASS
