# SPDX-License-Identifier: GPL-2.0
# The KUnit suites of the typed layer (Documentation/building.rst, "KUnit suites"):
# ndriver.ko's run when it loads, the implementation side's (the wrappers/ files every
# implementation compiles in) when selftests/kunit/ndriver_kunit.ko does. Every suite
# listed below must have run, with every case passed, none failed or skipped; the
# results are read from debugfs (/sys/kernel/debug/kunit/<suite>/results), or from
# the KTAP lines in the kernel log on a kernel without CONFIG_KUNIT_DEBUGFS. A suite
# named ndriver_* that is not listed fails the test too, so that the list (and the
# documentation) stays complete. Skipped on a kernel without KUnit.
. "$(dirname "$0")/../lib.sh"

KUNIT=/sys/kernel/debug/kunit
# Suites of ndriver.ko, then of ndriver_kunit.ko.
CORE_SUITES="ndriver_undo_actions ndriver_guard_slots ndriver_slowest_step ndriver_stall_probe ndriver_nic_tx ndriver_blk_describe ndriver_blk_busy ndriver_blk_rq_state ndriver_net"
IMPL_SUITES="ndriver_bar ndriver_dma ndriver_memory ndriver_blk_request ndriver_nic_rings ndriver_events ndriver_e1000_gather"

if ! grep -q ' kunit_run_tests$' /proc/kallsyms; then
	echo "SKIP: kernel without KUnit (CONFIG_KUNIT): no suite to run"
	exit 4
fi
[ -f "$ROOT/selftests/kunit/ndriver_kunit.ko" ] ||
	fail "selftests/kunit/ndriver_kunit.ko missing: the modules were built against a kernel without CONFIG_KUNIT=y"

# ktap_counts: reads one suite's KTAP (kernel log time stamps stripped) and prints
# "VERDICT PASS FAIL SKIP TOTAL": VERDICT is ok, "not_ok" or missing (no result line
# for the suite); the counts are those of its test cases (the indented result lines).
ktap_counts() {
	awk -v suite="$1" '
		$0 ~ "^[ \t]+(not )?ok [0-9]+ " {
			total++
			if ($1 == "not") fail++
			else if ($0 ~ /# SKIP/) skip++
			else pass++
			next
		}
		$0 ~ "^ok [0-9]+ " suite "( |$)" { verdict = ($0 ~ /# SKIP/) ? "skipped" : "ok" }
		$0 ~ "^not ok [0-9]+ " suite "( |$)" { verdict = "not_ok" }
		END { printf "%s %d %d %d %d\n", verdict == "" ? "missing" : verdict, pass, fail, skip, total }'
}

# suite_ktap SUITE: the suite's KTAP, from debugfs or else from the kernel log since
# dmesg_mark (the lines from its "# Subtest:" header to its result line).
suite_ktap() {
	if [ -d "$KUNIT" ]; then
		[ -r "$KUNIT/$1/results" ] && cat "$KUNIT/$1/results"
		return 0
	fi
	dmesg | sed -n "/$DMESG_MARK/,\$p" | sed 's/^\[[^]]*\] \{0,1\}//' |
		awk -v suite="$1" '
			$0 ~ "# Subtest: " suite "$" { on = 1; n = 0 }
			on { buf[n++] = $0 }
			on && $0 ~ "^(not )?ok [0-9]+ " suite "( |$)" { for (i = 0; i < n; i++) print buf[i]; on = 0 }'
}

dmesg_mark
unload_all
load ndriver
load selftests/kunit/ndriver_kunit
dmesg | sed -n "/$DMESG_MARK/,\$p" | grep -q 'kunit: disabled' &&
	{ echo "SKIP: KUnit is disabled on this kernel's command line (kunit.enable=0)"; exit 4; }

bad='' suites=0 cases=0
for s in $CORE_SUITES $IMPL_SUITES; do
	read -r verdict pass nfail skip total < <(suite_ktap "$s" | ktap_counts "$s")
	echo "$s: $verdict, pass:$pass fail:$nfail skip:$skip total:$total"
	if [ "$verdict" = missing ]; then
		bad+=" $s did not run;"
		continue
	fi
	if [ "$verdict" != ok ] || [ "$nfail" != 0 ] || [ "$skip" != 0 ] || [ "$total" = 0 ] ||
		[ "$pass" != "$total" ]; then
		bad+=" $s: $verdict, $nfail of $total failed, $skip skipped;"
		suite_ktap "$s" | grep -E '^[[:space:]]+not ok |ASSERTION FAILED|Expected ' | sed 's/^/    /'
	fi
	suites=$((suites + 1))
	cases=$((cases + pass))
done
if [ -d "$KUNIT" ]; then
	for d in "$KUNIT"/ndriver_*; do
		[ -d "$d" ] || continue
		case " $CORE_SUITES $IMPL_SUITES " in
		*" ${d##*/} "*) ;;
		*) bad+=" suite ${d##*/} ran but is not listed in 02-kunit.sh;" ;;
		esac
	done
fi
echo "kunit: $suites suites ran, $cases test cases passed"

unload ndriver_kunit
unload ndriver
if [ -d "$KUNIT" ]; then
	for s in $CORE_SUITES $IMPL_SUITES; do
		[ -e "$KUNIT/$s" ] && bad+=" $KUNIT/$s still there after rmmod;"
	done
fi
[ -z "$bad" ] || fail "kunit:$bad"
dmesg_clean
echo PASS
