# SPDX-License-Identifier: GPL-2.0
# Faults at random instructions of testdev0's serving implementation (inject
# site=random): a kprobe raises the fault when a guarded call reaches the
# instruction, in the middle of the driver's work, not at the door of an entry point.
#
# Fail-stop classes (NDRIVER_SITES of them, make check: 300): each placed at a fresh
# random instruction (seed = its number, so a failure can be replayed), then requests
# (op, tick, irq, each answer checked) and, if the site is still not reached, a
# re-probe of the same implementation. A site the workload reaches must fire, be
# detected as its class, recovered, and every answer must be right; the site's own
# record (hits, fired, its address) is the evidence it was reached. Each recovery
# from such a site leaves a crash report (testdev0/reports) whose ip: line names the
# site's SYMBOL+OFFSET, whose cause is the class's and which says "injected yes"; a
# site reached only by the re-probe (its remove or probe) is handled by the swap,
# without a recovery and without a report.
#
# Corruption classes (NDRIVER_SITE_CORRUPTIONS each, make check: 30): the outcome of
# each is counted, not judged: not reached, nothing to corrupt, detected (and
# recovered), a wrong answer nothing detected (silent corruption), or no visible
# effect. The device must serve correctly again after a swap, and the kernel log must
# show nothing but the contained faults.
. "$(dirname "$0")/../lib.sh"

SITES=${NDRIVER_SITES:-300}
CORRUPTIONS=${NDRIVER_SITE_CORRUPTIONS:-30}
FAILSTOP="panic null wild gpf div0 spin spin_irqoff"
CORRUPT="flip_dest skip_insn corrupt_ptr"

fail() { td_fail "$@"; }

dmesg_mark
load_testdev
echo "restarts=1000 backoff_ms=0 calm_ms=0" > "$TD/policy" || fail "policy"
echo "config 0 1000" > "$TD/call" || fail "config"

# Bad requests are refused and change nothing.
refused "$TD/inject" "class=deadlock site=random"
refused "$TD/inject" "class=flip_dest entry=op"
refused "$TD/inject" "class=null site=random entry=op"
refused "$TD/inject" "class=null site=no_such_function_anywhere+0x4"
inject_off || fail "a refused request armed something: $(cat "$TD/inject")"

placed=0 reached=0 fired=0 recovered=0 unreached=0 outside=0 reported=0 inprobe=0
# Fails already here on a module without crash reports.
report_newest "$TD"
last_report=$REPORT_N
impls=(testdev-a testdev-b)
set -- $FAILSTOP
classes=("$@")
for ((i = 1; i <= SITES; i++)); do
	class=${classes[i % ${#classes[@]}]}
	impl=${impls[(i / ${#classes[@]}) % 2]}
	[ "$(status_of implementation)" = "$impl" ] || echo "$impl" > "$TD/swap" || fail "swap to $impl"
	echo "class=$class site=random seed=$i" > "$TD/inject" || fail "site $i: not placed"
	placed=$((placed + 1))
	site="$(site_field site) $(site_field symbol)"
	sym=$(site_field symbol)
	d=$(detected_as $class)
	# The stub's NULL load is not compiler-instrumented: a page fault even under KASAN.
	[ $class = null ] && d=page_fault
	det=$(stat detected $d)
	rec=$(stat recoveries)
	gen=$(status_of generation)
	site_drive 3
	[ "$WRONG" = 0 ] || fail "site $i ($class at $site): $WRONG wrong answers"
	if [ "$(site_field fired)" = 0 ]; then
		# Not reached by requests: maybe by probe, remove or configure.
		echo "$impl" > "$TD/swap" || fail "site $i ($class at $site): re-probe"
		site_drive 1
		[ "$WRONG" = 0 ] || fail "site $i ($class at $site): $WRONG wrong answers after re-probe"
	fi
	outside=$((outside + $(site_field outside)))
	if [ "$(site_field fired)" = 0 ]; then
		unreached=$((unreached + 1))
		[ "$(stat recoveries)" = "$rec" ] || fail "site $i ($class at $site): recovery without a fault: $(cat "$TD/inject")"
		[ "$(stat detected $d)" = "$det" ] || fail "site $i ($class at $site): detected without a fault"
	else
		reached=$((reached + 1))
		fired=$((fired + 1))
		[ "$(site_field applied)" = 1 ] || fail "site $i ($class at $site): fired without effect: $(cat "$TD/inject")"
		# Detected as its class; recovered (a fault in probe or configure during the
		# re-probe is recovered by the ladder, not counted as a recovery).
		wait_for $((det + 1)) stat detected $d
		wait_for 1 running_n
		[ "$(status_of generation)" -gt "$gen" ] || fail "site $i ($class at $site): no new instance"
		site_drive 1
		[ "$WRONG" = 0 ] || fail "site $i ($class at $site): wrong answer after the recovery"
		[ "$(status_of state)" = running ] || fail "site $i ($class at $site): $(status_of state)"
		recovered=$((recovered + 1))
		if [ "$(stat recoveries)" -gt "$rec" ]; then
			# The crash report names the site, its cause and the injection.
			report_newest "$TD"
			[ "$REPORT_N" -gt "$last_report" ] ||
				fail "site $i ($class at $site): recovered without a new crash report: $REPORT"
			last_report=$REPORT_N
			[ "$REPORT_CAUSE" = "$d" ] ||
				fail "site $i ($class at $site): report cause $REPORT_CAUSE, want $d: $REPORT"
			[ "$REPORT_INJECTED" = yes ] ||
				fail "site $i ($class at $site): report says injected $REPORT_INJECTED: $REPORT"
			[ "${REPORT_IP%%/*}" = "${sym%%/*}" ] ||
				fail "site $i ($class at $site): report ip $REPORT_IP, want ${sym%%/*}: $REPORT"
			[ "$REPORT_GEN" -ge "$gen" ] ||
				fail "site $i ($class at $site): report of generation $REPORT_GEN, before $gen: $REPORT"
			reported=$((reported + 1))
		else
			# Fired in the re-probe's remove or probe: the swap handled it.
			inprobe=$((inprobe + 1))
		fi
	fi
	echo off > "$TD/inject"
done
echo "fail-stop: $placed sites placed, $reached reached ($outside hits outside guarded calls)," \
	"$fired fired, $recovered detected and recovered with every answer right; $unreached not reached"
echo "crash reports: $reported name the site, its cause and the injection; $inprobe fired in a" \
	"re-probe (no recovery, no report)"
[ "$reported" -gt 0 ] || fail "no reached site was followed by a crash report"
[ "$reached" -gt $((SITES / 10)) ] || fail "only $reached of $SITES random sites reached: the workload misses the driver"
dmesg_clean --panics-expected
dmesg_mark
kf0=$(guard_count kernel_faults contained)

# Corruptions: outcomes counted. make check-debug sets none: under KASAN a corruption
# may write out of bounds, which KASAN reports and which turns lockdep off for every
# later test (the debug campaign counts those reports instead).
[ "$CORRUPTIONS" = 0 ] && echo "corruptions: none asked for (NDRIVER_SITE_CORRUPTIONS=0)"
declare -A out
k=0
[ "$CORRUPTIONS" = 0 ] && CORRUPT=
for class in $CORRUPT; do
	k=$((k + 1))
	for o in unreached nothing detected silent none; do out[$class.$o]=0; done
	for ((i = 1; i <= CORRUPTIONS; i++)); do
		all=$(detected_all "$TD")
		echo "class=$class site=random seed=$((1000 * k + i))" > "$TD/inject" || fail "$class site $i: not placed"
		site="$(site_field site) $(site_field symbol)"
		site_drive 3
		[ "$(site_field fired)" = 0 ] && { echo testdev-a > "$TD/swap"; site_drive 1; }
		wrong=$WRONG
		# Give a latent fault a few more requests to show.
		site_drive 3 all
		wrong=$((wrong + WRONG))
		if [ "$(site_field fired)" = 0 ]; then
			o=unreached
		elif [ "$(site_field applied)" = 0 ]; then
			o=nothing
		elif [ "$(detected_all "$TD")" -gt "$all" ]; then
			o=detected
		elif [ "$wrong" -gt 0 ]; then
			o=silent
		else
			o=none
		fi
		out[$class.$o]=$((out[$class.$o] + 1))
		echo "  $class at $site: $o ($(site_field last))"
		echo off > "$TD/inject"
		# Whatever the corruption left, a fresh instance serves correctly.
		echo testdev-a > "$TD/swap" || fail "$class site $i: swap after the corruption"
		wait_for 1 running_n
		site_drive 1
		[ "$WRONG" = 0 ] || fail "$class site $i ($site): wrong answers from a fresh instance"
	done
	echo "$class: ${out[$class.unreached]} not reached, ${out[$class.nothing]} nothing to corrupt," \
		"${out[$class.detected]} detected and recovered, ${out[$class.silent]} silent (wrong answers)," \
		"${out[$class.none]} no visible effect"
done

# The frame pointer is outside the fault model: flip_dest at the instruction that sets
# it (`mov %rsp,%rbp` in the one testdev-a function that keeps a frame pointer) fires
# and changes nothing. Before, the flipped rbp became the stack pointer in the
# function's epilogue and the next exception a double fault: the guest was lost.
fp_site() {
	local mod=ndriver_testdev_a a rest func= base= at=
	while read -r a rest; do
		case "$rest" in
		"<"*">:") func=${rest#<}; func=${func%>:}; base=$a ;;
		*"mov "*"%rsp,%rbp") [ -n "$func" ] && { at=${a%:}; break; } ;;
		esac
	done < <(objdump -d --no-show-raw-insn "$ROOT/sample-drivers/$mod.ko")
	[ -n "$at" ] || return 1
	echo "$mod:$func+$((0x$at - 0x$base))"
}
command -v objdump > /dev/null || fail "no objdump to find testdev-a's frame pointer"
echo testdev-a > "$TD/swap" || fail "swap to testdev-a for the frame-pointer site"
wait_for 1 running_n
fp=$(fp_site) || fail "no mov %rsp,%rbp in testdev-a (its code changed?)"
rec=$(stat recoveries)
echo "class=flip_dest site=$fp" > "$TD/inject" || fail "frame-pointer site $fp: not placed"
site_drive 3 all
[ "$(site_field fired)" -ge 1 ] || fail "frame-pointer site $fp: not reached: $(cat "$TD/inject")"
[ "$(site_field last)" = frame-pointer ] && [ "$(site_field applied)" = 0 ] ||
	fail "frame-pointer site $fp: rbp corrupted: $(cat "$TD/inject")"
[ "$WRONG" = 0 ] || fail "frame-pointer site $fp: $WRONG wrong answers"
[ "$(stat recoveries)" = "$rec" ] || fail "frame-pointer site $fp: a recovery, the flip was not harmless"
echo off > "$TD/inject"
echo "frame pointer: flip_dest at $fp fired $(site_field fired) times, rbp left alone"

# A hang with the driver lock held while the other CPU waits for the lock. The site is
# testdev-a's call that releases a driver lock (in release, which request's lock drops
# through; nothing else of testdev-a takes a lock on this path): the holder loops there with
# interrupts off (the lock keeps them off), its CPU no longer ticks; the waiter
# re-enables interrupts between its tries, so its own tick finds it overdue a moment
# after the holder. The recovery must report the holder's hang, at the site, not the
# wait for it (campaign chunk 9, #404: the waiter's tick ended it first). Each round
# must give one recovery, one new report naming the site. (The waiter may still be
# ended first; the recovery then reports the holder's failure, noted by the time it
# has quiesced: the "waiters ended by their own wait" of the summary.)
unlock_site() {
	local mod=ndriver_testdev_a a rest func= base= prev= at=
	while read -r a rest; do
		case "$rest" in
		"<"*">:") func=${rest#<}; func=${func%>:}; base=$a ;;
		R_X86_64_PLT32*rust_helper_spin_unlock_irq_enable*)
			[[ $func == *11driver_lock7release ]] && { at=$prev; break; } ;;
		*) prev=${a%:} ;;
		esac
	done < <(objdump -dr --no-show-raw-insn "$ROOT/sample-drivers/$mod.ko")
	[ -n "$at" ] || return 1
	echo "$mod:$func+$((0x$at - 0x$base))"
}
WAITER_ROUNDS=${NDRIVER_WAITER_ROUNDS:-16}
# op_field N: word N (4: calls, 6: failures) of testdev0's "entry op calls C failures F".
op_field() {
	local l w
	snapshot "$TD/stats"
	for l in "${SNAP[@]}"; do
		read -r -a w <<< "$l"
		[ "${w[0]} ${w[1]} ${w[4]}" = "entry op failures" ] && { echo "${w[$1 - 1]}"; return; }
	done
	echo 0
}
op_failures() { op_field 6; }
op_calls() { op_field 4; }
# What the round's loops were doing when it failed: their state, CPU and kernel stack,
# whether testdev0 still answered calls, and kprobes' view of its probes.
loops_at_exit() {
	local p c0
	for p in "${pids[@]}"; do
		echo "loop $p: state/cpu $(awk '{print $3, $39}' "/proc/$p/stat" 2> /dev/null)"
		sed 's/^/  /' "/proc/$p/stack" 2> /dev/null
	done
	c0=$(op_calls)
	sleep 1
	echo "op calls $c0 -> $(op_calls) in 1 s"
	sed 's/^/kprobe: /' /sys/kernel/debug/kprobes/list 2> /dev/null
}
# QEMU's TCG (7.2 here) at times goes on running a translation of request made before
# the probe's int3 was written: the site reads 0xcc in the text (text=), thousands of
# calls go through it, and not one arrives (hits=0, missed=0), while the same probe
# removed and placed again fires at once (seen in 5 of 143 rounds, on main and
# with every guard tried: an emulator artefact, not the guard's). A round whose site
# stays unhit that way for 5 to 6 s while calls flow places it again, up to 3 times,
# and counts it.
STALE=0
rearm_if_stale() {
	local try c0 end
	# Under KVM the CPU runs the text itself: nothing to excuse.
	grep -q kvm-clock /sys/devices/system/clocksource/clocksource0/available_clocksource &&
		return 0
	for try in 1 2 3; do
		c0=$(op_calls)
		end=$((SECONDS + 6))
		while [ $SECONDS -lt $end ]; do
			[ "$(stat recoveries)" -gt "$rec" ] && return 0
			sleep 0.05
		done
		# Not one arrival of any kind (inside a guarded call, outside one, or one
		# kprobes kept from the handlers): an arrival the guard did not own would be
		# `outside`, the guard's failure, and is left to fail the round.
		[ "$(site_field hits)" = 0 ] && [ "$(site_field outside)" = 0 ] &&
			[ "$(site_field calls)" = 0 ] && [ "$(site_field missed)" = 0 ] &&
			[ "$(site_field text)" = 0xcc ] && [ $(($(op_calls) - c0)) -ge 1000 ] || return 0
		echo "lock holder round $i: site armed (text=0xcc) but not one arrival in" \
			"$(($(op_calls) - c0)) calls through it: placed again"
		echo "  $(cat "$TD/inject")"
		grep -F "$(site_field site | sed 's/^0x//')" /sys/kernel/debug/kprobes/list | sed 's/^/  kprobe: /'
		STALE=$((STALE + 1))
		echo off > "$TD/inject"
		echo "class=$class site=$ws" > "$TD/inject" || fail "lock holder site $ws: not placed again"
	done
}
ws=$(unlock_site) || fail "no unlock call in testdev-a's driver_lock::release (its code changed?)"
wsym= holder=0 waiter=0 waited=0 wait0=$(guard_count hangs by_wait)
for ((i = 1; i <= WAITER_ROUNDS; i++)); do
	class=spin
	((i % 2)) || class=spin_irqoff
	rec=$(stat recoveries)
	gen=$(status_of generation)
	hangs0=$(guard_line hangs)
	opf0=$(op_failures)
	# Both loops run before the site is placed: starting a shell takes longer under
	# TCG than the holder's deadline, and a loop that is not yet calling is no waiter.
	pids=()
	for cpu in 0 1; do
		taskset -c $cpu bash -c "while :; do echo 'op 1' > '$TD/call'; done" 2> /dev/null &
		pids+=($!)
	done
	# A failing round must not leave its loops calling into the tests that follow.
	trap 'loops_at_exit; kill "${pids[@]}" 2> /dev/null; echo "inject at exit: $(cat "$TD/inject")"' EXIT
	calls=$(op_calls)
	wait_for $((calls + 20)) op_calls
	echo "class=$class site=$ws" > "$TD/inject" || fail "lock holder site $ws: not placed"
	wsym=$(site_field symbol)
	rearm_if_stale
	WAIT_SECS=20 wait_for $((rec + 1)) stat recoveries
	kill "${pids[@]}" 2> /dev/null
	wait "${pids[@]}" 2> /dev/null
	trap - EXIT
	wait_for 1 running_n
	[ "$(site_field fired)" = 1 ] || fail "lock holder round $i: site fired $(site_field fired) times"
	[ "$(stat recoveries)" = $((rec + 1)) ] ||
		fail "lock holder round $i: $(($(stat recoveries) - rec)) recoveries, want 1"
	# The holder's call and its waiter's both failed: the round had a waiter. (Not
	# every round has one: the other CPU may be held elsewhere meanwhile, e.g. waiting
	# for the holder's CPU to answer an IPI, until the holder is ended.)
	[ $(($(op_failures) - opf0)) -ge 2 ] && waited=$((waited + 1))
	report_newest "$TD"
	[ "$REPORT_GEN" -ge "$gen" ] || fail "lock holder round $i: no new report: $REPORT"
	if [ "$REPORT_CAUSE" = hang ] && [ "${REPORT_IP%%/*}" = "${wsym%%/*}" ]; then
		holder=$((holder + 1))
	else
		waiter=$((waiter + 1))
		echo "lock holder round $i ($class): the report names $REPORT_CAUSE at $REPORT_IP, not the holder's hang"
		echo "  guard hangs before: $hangs0"
		echo "  guard hangs after:  $(guard_line hangs)"
		echo "$REPORT"
	fi
	echo off > "$TD/inject"
	site_drive 1
	[ "$WRONG" = 0 ] || fail "lock holder round $i: wrong answer after the recovery"
done
echo "lock holder: $WAITER_ROUNDS hangs at $ws (${wsym%%/*}) with a waiter on the other CPU:" \
	"$waited with a waiter that failed too; $holder reported as the holder's, $waiter as the waiter's;" \
	"$(($(guard_count hangs by_wait) - wait0)) waiters ended by their own wait"
echo "lock holder: $STALE sites placed again (armed, never arrived at: stale code in the emulator)"
# Seen in 5 of 143 rounds: more than a fifth of the rounds is no emulator artefact.
[ $((STALE * 5)) -le "$WAITER_ROUNDS" ] ||
	fail "$STALE of $WAITER_ROUNDS lock-holder sites had to be placed again"
[ "$waiter" = 0 ] || fail "$waiter of $WAITER_ROUNDS lock holders' hangs reported as their waiter's"
[ $((2 * waited)) -ge "$WAITER_ROUNDS" ] ||
	fail "only $waited of $WAITER_ROUNDS lock-holder rounds had a waiter: the test misses its case"

cat "$TD/stats" "$DBG/status"
# A corruption may make the driver call or return into kernel code with a bad value:
# contained as a kernel_fault, whose report (registers and stack) is in the log. Allow
# those, no more than the guard counted; anything else fails.
kf=$(( $(guard_count kernel_faults contained) - kf0 ))
unload_testdev
n=$(dmesg | sed -n "/$DMESG_MARK/,\$p" | grep -c 'called from a guarded call (contained as kernel_fault')
[ "$n" -le "$kf" ] || fail "$n kernel-fault reports, the guard counted $kf"
echo "corruptions: $kf kernel faults contained"
dmesg_clean --allow 'kernel BUG at rust/helpers/bug.c|contained as kernel_fault|Call Trace'
echo PASS
