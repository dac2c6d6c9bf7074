# SPDX-License-Identifier: GPL-2.0
# Faults at instructions the workload is known to execute (inject site=traced): a
# trace of testdev0's serving implementation (<device>/trace on, requests, off) steps
# every guarded call and marks each instruction executed; site=traced then draws from
# those. Where 25-sites' random sites are mostly never reached (most of a module's text
# is code a given workload does not run), nearly every traced site must be: each is
# placed (seed = its number), the same requests run, and a reached site must fire,
# be detected as its class and recovered with every answer right, as in 25-sites.
# Also: a trace is one device's (another device's trace file shows it as "other" and
# cannot stop it), records only while on, is refused while a site is armed (and a site
# while it runs), and site=traced is refused without a trace of the serving
# implementation (one of the other implementation does not count). NDRIVER_TRACED_SITES (make check: 60)
# sites, half on each implementation.
. "$(dirname "$0")/../lib.sh"

SITES=${NDRIVER_TRACED_SITES:-60}
FAILSTOP="panic null wild gpf div0 spin spin_irqoff"

fail() { td_fail "$@"; }
# trace_field NAME: a word of the trace file's line.
trace_field() {
	file_field "$TD/trace" "$1"
}


dmesg_mark
load_testdev
echo "restarts=1000 backoff_ms=0 calm_ms=0" > "$TD/policy" || fail "policy"
echo "config 0 1000" > "$TD/call" || fail "config"

refused "$TD/trace" "maybe"
echo testdev-b > "$TD/swap" || fail "swap"
refused "$TD/inject" "class=panic site=traced"
# A trace of the other implementation is not one of the serving implementation.
echo testdev-a > "$TD/swap" || fail "swap"
echo on > "$TD/trace" || fail "trace on"
# One trace at a time, and a device's trace file speaks for its own: nic0's shows
# testdev0's as another's, and can neither stop it nor start one of its own.
read -r word _ < "$DBG/nic0/trace"
[ "$word" = other ] || fail "nic0's trace file while testdev0's trace runs: $(cat "$DBG/nic0/trace")"
refused "$DBG/nic0/trace" off
read -r word _ < "$TD/trace"
[ "$word" = on ] || fail "nic0's trace file stopped testdev0's trace: $(cat "$TD/trace")"
site_drive 1 all
echo off > "$TD/trace" || fail "trace off"
[ "$(trace_field executed)" -gt 0 ] || fail "nothing traced: $(cat "$TD/trace")"
echo testdev-b > "$TD/swap" || fail "swap"
[ "$(trace_field serving)" = 0 ] || fail "testdev-b served by testdev-a's trace: $(cat "$TD/trace")"
refused "$TD/inject" "class=panic site=traced"
inject_off || fail "a refused request armed something: $(cat "$TD/inject")"
echo testdev-a > "$TD/swap" || fail "swap"
echo "class=panic site=traced seed=1 after=1000000" > "$TD/inject" || fail "site=traced refused with a trace of the serving implementation"
echo off > "$TD/inject"

placed=0 reached=0 unreached=0 outside=0
impls=(testdev-a testdev-b)
set -- $FAILSTOP
classes=("$@")
i=0
for impl in "${impls[@]}"; do
	echo "$impl" > "$TD/swap" || fail "swap to $impl"
	echo on > "$TD/trace" || fail "$impl: trace on"
	[ "$(trace_field serving)" = 1 ] || fail "$impl: the trace is not of the serving implementation: $(cat "$TD/trace")"
	refused "$TD/inject" "class=panic site=random"
	site_drive 3 all
	[ "$WRONG" = 0 ] || fail "$impl: $WRONG wrong answers while traced"
	echo off > "$TD/trace" || fail "$impl: trace off"
	executed=$(trace_field executed)
	steps=$(trace_field steps)
	# Nothing records once off.
	site_drive 1 all
	[ "$(trace_field steps)" = "$steps" ] || fail "$impl: the trace recorded after off"
	[ "$executed" -gt 20 ] || fail "$impl: only $executed instructions seen executed: $(cat "$TD/trace")"
	echo "$impl: trace of 3 rounds of requests: $executed instructions executed, $steps steps," \
		"$(trace_field strays) stray"
	for ((k = 1; k <= SITES / 2; k++)); do
		i=$((i + 1))
		class=${classes[i % ${#classes[@]}]}
		echo "class=$class site=traced seed=$i" > "$TD/inject" || fail "traced site $i: not placed"
		[ $k = 1 ] && refused "$TD/trace" "on"
		placed=$((placed + 1))
		site="$(site_field site) $(site_field symbol)"
		d=$(detected_as $class)
		# The stub's NULL load is not compiler-instrumented: a page fault even under KASAN.
		[ $class = null ] && d=page_fault
		det=$(stat detected $d)
		gen=$(status_of generation)
		site_drive 3
		[ "$WRONG" = 0 ] || fail "traced site $i ($class at $site): $WRONG wrong answers"
		outside=$((outside + $(site_field outside)))
		if [ "$(site_field fired)" = 0 ]; then
			unreached=$((unreached + 1))
			echo "  not reached: $site"
		else
			reached=$((reached + 1))
			[ "$(site_field applied)" = 1 ] || fail "traced site $i ($class at $site): fired without effect"
			wait_for $((det + 1)) stat detected $d
			wait_for 1 running_n
			[ "$(status_of generation)" -gt "$gen" ] || fail "traced site $i ($class at $site): no new instance"
			site_drive 1
			[ "$WRONG" = 0 ] || fail "traced site $i ($class at $site): wrong answer after the recovery"
		fi
		echo off > "$TD/inject"
	done
done
echo "traced sites: $placed placed, $reached reached and recovered with every answer right," \
	"$unreached not reached ($outside hits outside guarded calls)"
# The requests are the traced ones; only code that runs once per instance, or depends
# on timing, may be missed.
[ $((reached * 10)) -ge $((placed * 9)) ] || fail "only $reached of $placed traced sites reached"
cat "$TD/stats" "$TD/trace"
unload_testdev
dmesg_clean --panics-expected
echo PASS
