# SPDX-License-Identifier: GPL-2.0
# Device and deferred-work callouts on real hardware: testdev0 is given the guest's
# e1000 (no kernel driver bound), and each instance enables it, maps BAR 0, takes
# its interrupt line, a coherent and a streaming DMA buffer, an hrtimer and a work
# item. Requests make the device interrupt for real; the interrupt, timer and work
# entry points run guarded. Faults there (no caller waits) are recovered in the
# background; faults in a request undo every device resource, which the next
# instance can only take again if the undo really gave it back. Detaching returns
# the device untouched.
. "$(dirname "$0")/../lib.sh"

need_e1000

# res KIND: how many resources of KIND the current instance holds.
res() {
	sed -n 's/^resources //p' "$TD/status" | tr ' ' '\n' | sed -n "s/^$1=//p"
}
irq_lines() {
	grep -c 'ndriver-testdev0' /proc/interrupts || true
}
# calls ENTRY: how often entry point ENTRY was called.
calls() {
	awk -v e="$1" '$1 == "entry" && $2 == e { print $4 }' "$TD/stats"
}
# inject_off_n: 1 once testdev0's armed fault was raised, else 0.
inject_off_n() {
	if inject_off; then echo 1; else echo 0; fi
}
fail() {
	echo "FAIL: $*"
	cat "$TD/stats" "$DBG/status"
	tail -n 5 "$TD/recoveries"
	exit 1
}
# Waits up to 30 s for "$@" (a command printing a number) to reach at least $N.
# Bounded by the clock, not by a number of tries: on a debug kernel one try (a fork
# of awk) takes seconds.
wait_for() {
	local want=$1 end=$((SECONDS + 30)); shift
	while [ $SECONDS -lt $end ]; do
		[ "$("$@")" -ge "$want" ] && return 0
		sleep 0.02
	done
	fail "'$*' stayed at $("$@"), expected >= $want"
}

dmesg_mark
load_testdev
# Every fault here is to be recovered at once: the policy's give-up is 12-policy's.
echo "restarts=1000 backoff_ms=0 calm_ms=0" > "$TD/policy" || fail "policy"
refused "$TD/pci" "00:03"
refused "$TD/pci" "0000:00:1f.9"
refused "$TD/pci" "0000:ff:1f.7"
[ "$(cat "$TD/pci")" = none ] || fail "pci attached after refused writes"
# A function of the wrong kind (the virtio-blk disk; testdev drives the e1000 only)
# is refused, without a function and with one attached.
refused_kind "$TD" 0x1af4 0x1001

echo "$e1000" > "$TD/pci" || fail "attaching $e1000"
[ "$(cat "$TD/pci")" = "$e1000" ] || fail "pci reads $(cat "$TD/pci")"
refused_kind "$TD" 0x1af4 0x1001
[ "$(status_of state)" = running ] || fail "not running with the device: $(cat "$TD/status")"
for k in pci_enable iomap irq dma_coherent dma_mapping timer work; do
	[ "$(res $k)" = 1 ] || fail "instance holds $(res $k) $k, expected 1: $(cat "$TD/status")"
done
grep -q ': ndriver$' /proc/iomem || fail "BAR 0 not claimed in /proc/iomem"
[ "$(irq_lines)" = 1 ] || fail "interrupt handler not in /proc/interrupts"

# Requests still answer, and each one makes the device interrupt, then the timer
# fire and the work run, all in the current instance.
for i in 1 2 3 4 5; do
	[ "$(td_call op "$i")" = "$i" ] || fail "op $i with the device"
done
wait_for 5 calls devirq
wait_for 1 calls timer
wait_for 1 calls work

# A fault in each asynchronous entry point: contained where it happens (hardirq,
# softirq, process context) and recovered with nobody waiting.
n=0
for entry in devirq timer work; do
	for class in panic null div0; do
		n=$((n + 1))
		echo "class=$class entry=$entry" > "$TD/inject" || fail "inject $class $entry"
		td_call op 7 > /dev/null || fail "op during $class in $entry"
		wait_for "$n" stat recoveries
		for i in $(seq 100); do
			[ "$(status_of state)" = running ] && break
			sleep 0.1
		done
		[ "$(status_of state)" = running ] || fail "not running after $class in $entry"
		[ "$(irq_lines)" = 1 ] || fail "$(irq_lines) handlers after $class in $entry"
		[ "$(res irq)" = 1 ] || fail "irq not re-taken after $class in $entry"
	done
done
grep -q "cause=bug entry=devirq" "$TD/recoveries" || fail "no devirq recovery recorded"
grep -q "cause=$(detected_as null) entry=timer" "$TD/recoveries" || fail "no timer recovery recorded"
grep -q "cause=divide_error entry=work" "$TD/recoveries" || fail "no work recovery recorded"

# Hangs: in the interrupt handler (IRQs off, caught by NMI from the other CPU), in
# the work item (caught by the hrtimer watchdog) and a deadlock in the timer.
hangs="spin devirq|spin work|deadlock timer"
IFS='|' read -r -a specs <<< "$hangs"
for spec in "${specs[@]}"; do
	set -- $spec
	n=$((n + 1))
	echo "class=$1 entry=$2" > "$TD/inject" || fail "inject $1 $2"
	td_call op 8 > /dev/null || fail "op during $1 in $2"
	wait_for "$n" stat recoveries
done
[ "$(stat detected hang)" -ge 3 ] || fail "hangs detected: $(stat detected hang)"

# The matrix: every fault class in every asynchronous entry point on both
# implementations, NDRIVER_REPS times each (make check: 3; make check-full: 100).
REPS=${NDRIVER_REPS:-1}
[ "$REPS" -gt 1 ] || REPS=1
CLASSES=$(fault_classes)
m=0
extra=0
for impl in testdev-a testdev-b; do
	echo "$impl" > "$TD/swap" || fail "swap to $impl"
	for class in $CLASSES; do
		d=$(detected_as "$class")
		for entry in devirq timer work; do
			before=$(stat detected "$d")
			rec=$(stat recoveries)
			for i in $(seq "$REPS"); do
				m=$((m + 1))
				r0=$(stat recoveries)
				echo "class=$class entry=$entry" > "$TD/inject" || fail "inject $class $entry"
				td_call op "$i" > /dev/null || fail "$impl: op during $class in $entry"
				# The entry point runs when the device, timer or workqueue gets to it.
				wait_for 1 inject_off_n
				wait_for $((r0 + 1)) stat recoveries
			done
			got=$(( $(stat detected "$d") - before ))
			nrec=$(( $(stat recoveries) - rec ))
			# A deadlocked event handler holds the instance's lock: other entry points
			# that take it on the dead instance before it is replaced hang behind it and
			# are detected too, within the same recovery. A guarded call stalled past
			# its 50 ms floor (a host that starves the vCPU) is a hang as well, with a
			# recovery of its own. No other class can be detected without being raised.
			case $d in
			hang) [ "$got" -ge "$REPS" ] ;;
			*) [ "$got" = "$REPS" ] ;;
			esac || fail "$impl: $class in $entry detected $got times, want $REPS"
			[ "$nrec" -ge "$REPS" ] || fail "$impl: $class in $entry: $nrec recoveries, want $REPS"
			extra=$((extra + nrec - REPS))
			n=$((n + nrec))
		done
	done
done
[ "$(stat giveups)" = 0 ] || fail "policy gave up in the matrix"
echo "matrix: $m asynchronous faults recovered ($extra more recoveries from hangs they caused)"
for i in $(seq 100); do
	[ "$(status_of state)" = running ] && break
	sleep 0.1
done
[ "$(irq_lines)" = 1 ] || fail "$(irq_lines) handlers after the matrix"

# A fault in a request undoes every device resource; the new instance takes them all
# again (BAR 0 and the line are exclusive, so that only works if undo freed them).
gen=$(status_of generation)
echo "class=gpf entry=op" > "$TD/inject"
[ "$(td_call op 9)" = 9 ] || fail "op after a #GP with the device"
[ "$(status_of generation)" -gt "$gen" ] || fail "no new instance after #GP"
for k in pci_enable iomap irq dma_coherent dma_mapping timer work; do
	[ "$(res $k)" = 1 ] || fail "after #GP the instance holds $(res $k) $k"
done
[ "$(grep -c ': ndriver$' /proc/iomem)" = 1 ] || fail "BAR claimed $(grep -c ': ndriver$' /proc/iomem) times"

# Orderly swap: the old instance gives everything back itself.
other=testdev-b
[ "$(status_of implementation)" = testdev-b ] && other=testdev-a
echo "$other" > "$TD/swap" || fail "swap with the device"
[ "$(status_of implementation)" = "$other" ] || fail "swap did not reach $other"
[ "$(td_call op 3)" = 3 ] || fail "op on $other with the device"
wait_for 2 calls work

echo none > "$TD/pci" || fail "detaching"
[ "$(cat "$TD/pci")" = none ] || fail "still attached"
[ "$(res irq)" = 0 ] && [ "$(res iomap)" = 0 ] || fail "device resources left: $(cat "$TD/status")"
grep -q ': ndriver$' /proc/iomem && fail "BAR 0 still claimed after detach"
[ "$(irq_lines)" = 0 ] || fail "handler still installed after detach"
[ "$(td_call op 2)" = 2 ] || fail "op without the device"
echo "device recoveries: $n asynchronous, $(stat recoveries) in all"
unload_testdev
dmesg_clean --panics-expected
echo PASS
