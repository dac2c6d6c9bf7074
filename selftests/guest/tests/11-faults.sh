# SPDX-License-Identifier: GPL-2.0
# Every fault class at every guarded entry point of testdev0, raised for real in the
# driver, NDRIVER_REPS times in a row (make check: 3; make check-full: 100), on
# both implementations: each is detected as its class, the device recovers, the
# request is re-issued and answers correctly, and the counters agree. Every fault's
# raising code recorded its address in the implementation's module (inject's "raised"
# line). Every recovery leaves a crash report (testdev0/reports) naming the entry
# point, the cause and the injection.
. "$(dirname "$0")/../lib.sh"

REPS=${NDRIVER_REPS:-3}
CLASSES=$(fault_classes)

fail() {
	echo "FAIL: $*"
	cat "$TD/stats" "$DBG/status"
	tail -n 5 "$TD/recoveries"
	tail -n 30 "$TD/reports"
	exit 1
}

# check_report N0 COUNT ENTRY CAUSE WHAT: COUNT new crash reports after report N0, the
# newest of a failure of ENTRY detected as CAUSE, with the injection noted.
check_report() {
	report_newest "$TD"
	[ $((REPORT_N - $1)) = "$2" ] || fail "$5: $((REPORT_N - $1)) new crash reports, want $2"
	[ "$REPORT_ENTRY" = "$3" ] && [ "$REPORT_CAUSE" = "$4" ] && [ "$REPORT_INJECTED" = yes ] ||
		fail "$5: newest crash report is not of $4 in $3, injected: $REPORT"
	# A fault the guard saw (not an error return, leak or misuse) has its context: the
	# faulting instruction (for a panic or a kernel fault, in kernel code) and the return
	# addresses into the implementation on its stack (the fault is raised in a function
	# the entry point calls).
	case $4 in error_return | leak | misuse) ;;
	*)
		[[ $REPORT_IP != n/a* ]] && [[ $REPORT == *$'\nstack: #0 '*"[ndriver_testdev_"* ]] ||
			fail "$5: crash report without the faulting context: $REPORT" ;;
	esac
}

dmesg_mark
load_testdev
# Retry without limit and at once: this test wants every fault recovered, not the
# policy's give-up (tested in 12-policy).
echo "restarts=1000 backoff_ms=0 calm_ms=0" > "$TD/policy" || fail "policy"
echo "config 0 1000" > "$TD/call" || fail "config"

n=0
for impl in testdev-a testdev-b; do
	echo "$impl" > "$TD/swap" || fail "swap to $impl"
	mod=ndriver_${impl/-/_}
	for class in $CLASSES; do
		d=$(detected_as $class)
		# Request entry points: the failed request is re-issued and must answer.
		for entry in op tick irq; do
			before=$(stat detected $d)
			rec=$(stat recoveries)
			report_newest "$TD"
			n0=$REPORT_N
			for i in $(seq 1 "$REPS"); do
				echo "class=$class entry=$entry" > "$TD/inject" || fail "inject $class/$entry"
				td_call $entry $i > /dev/null || fail "$impl: $class in $entry: request failed"
				[ "$TD_LAST" = $((1000 + i)) ] || fail "$impl: $class in $entry: answer '$TD_LAST', want $((1000 + i))"
				inject_off || fail "$impl: $class in $entry: fault not raised: $(cat "$TD/inject")"
				raised_in "$TD" $class $entry "$mod" ||
					fail "$impl: $class in $entry: no record from the raising code in $mod: $(cat "$TD/inject")"
			done
			got=$(( $(stat detected $d) - before ))
			[ "$got" = "$REPS" ] || fail "$impl: $class in $entry: detected $d $got times, want $REPS"
			[ $(( $(stat recoveries) - rec )) = "$REPS" ] || fail "$impl: $class in $entry: recoveries"
			check_report "$n0" "$REPS" $entry $d "$impl: $class in $entry"
			n=$((n + REPS))
		done
		# configure: the logged value is set again on the new instance.
		before=$(stat detected $d)
		report_newest "$TD"
		n0=$REPORT_N
		echo "class=$class entry=configure" > "$TD/inject"
		echo "config 0 1000" > "$TD/call" || fail "$impl: $class in configure"
		raised_in "$TD" $class configure "$mod" || fail "$impl: $class in configure: not raised in $mod"
		[ $(( $(stat detected $d) - before )) = 1 ] || fail "$impl: $class in configure not detected"
		check_report "$n0" 1 configure $d "$impl: $class in configure"
		# probe and remove run during a swap; a failed probe is recovered by the ladder.
		for entry in probe remove; do
			# remove returns nothing: an error return there is not a failure.
			[ $class = error ] && [ $entry = remove ] && { echo "class=$class entry=$entry" > "$TD/inject"; echo "$impl" > "$TD/swap"; continue; }
			before=$(stat detected $d)
			echo "class=$class entry=$entry" > "$TD/inject"
			echo "$impl" > "$TD/swap" || fail "$impl: swap with $class in $entry"
			raised_in "$TD" $class $entry "$mod" || fail "$impl: $class in $entry: not raised in $mod"
			[ $(( $(stat detected $d) - before )) = 1 ] || fail "$impl: $class in $entry not detected"
			grep -q '^state running$' "$TD/status" || fail "$impl: $class in $entry: $(cat "$TD/status")"
			[ "$(td_call op 1)" = 1001 ] || fail "$impl: after $class in $entry: wrong answer"
		done
		n=$((n + 3))
	done
done
echo "$n faults injected and recovered"
total_injected=$(awk '/^injected /{ s += $3 } END { print s }' "$TD/stats")
[ "$total_injected" = "$n" ] || fail "stats count $total_injected injections, test made $n"
cat "$TD/stats"
cat "$DBG/status"
[ "$(stat giveups)" = 0 ] || fail "policy gave up"
unload_testdev
# The guard restores preempt count and IRQ state; nothing may be left broken.
dmesg_clean --panics-expected
echo PASS
