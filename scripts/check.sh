#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# check.sh [GUEST_TEST...]: the whole test suite. Sets up what is missing, builds
# the kernel (cached) and the modules, runs the host unit tests, boots the guest and
# runs the in-guest selftests. Ends with "N passed, N failed, N skipped"; exits non-zero on
# any failure, including a build failure or a guest that died.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

# A test named that does not exist is refused before anything is set up or booted.
for t in "$@"; do
	[ -f "$NDRIVER_ROOT/selftests/guest/tests/$t.sh" ] || {
		echo "check.sh: no guest test '$t' (selftests/guest/tests/$t.sh); the tests:" \
			$(cd "$NDRIVER_ROOT/selftests/guest/tests" && ls *.sh | sed 's/\.sh$//') >&2
		exit 2
	}
done

passed=0 failed=0 skipped=0
results=$NDRIVER_ROOT/results/check-$(date +%Y%m%d-%H%M%S)
mkdir -p "$results"

pass() { passed=$((passed + 1)); echo "PASS: $*"; }
flunk() { failed=$((failed + 1)); echo "FAIL: $*"; }
summary() {
	echo
	echo "results: $results"
	echo "$passed passed, $failed failed, $skipped skipped"
	[ "$failed" = 0 ]
	exit $?
}

[ "${NDRIVER_SKIP_SETUP:-0}" = 1 ] || "$NDRIVER_ROOT"/scripts/setup.sh || { flunk "set-up"; summary; }

if kdir=$("$NDRIVER_ROOT"/scripts/build-kernel.sh); then
	pass "kernel build ($kdir)"
else
	flunk "kernel build"
	summary
fi

# From clean: an incremental build would hide the warnings of unchanged objects.
if "$NDRIVER_ROOT"/scripts/build-modules.sh clean >/dev/null &&
	"$NDRIVER_ROOT"/scripts/build-modules.sh >/dev/null; then
	pass "module build, no warnings"
else
	flunk "module build"
	summary
fi

# Formatting: the kernel's rustfmt settings (.rustfmt.toml), where rustfmt exists.
if command -v rustfmt >/dev/null; then
	rs=$(cd "$NDRIVER_ROOT" && git ls-files '*.rs' 2>/dev/null || find . -name '*.rs' -not -path '*/target/*')
	if (cd "$NDRIVER_ROOT" && rustfmt --check --config-path .rustfmt.toml $rs) >"$results/rustfmt.log" 2>&1; then
		pass "rustfmt clean"
	else
		head -n 30 "$results/rustfmt.log"
		flunk "sources are not rustfmt-clean (run: rustfmt --config-path .rustfmt.toml FILES)"
	fi
fi

# Host unit tests: count cargo's own per-test results.
hostlog=$results/host-tests.log
(cd "$NDRIVER_ROOT/selftests/host" && cargo test --offline 2>&1) > "$hostlog"
hostrc=$?
hp=$(grep -cE '^test .* \.\.\. ok$' "$hostlog")
hf=$(grep -cE '^test .* \.\.\. FAILED$' "$hostlog")
passed=$((passed + hp))
failed=$((failed + hf))
echo "host unit tests: $hp passed, $hf failed"
if [ $hostrc != 0 ] && [ "$hf" = 0 ]; then
	tail -n 20 "$hostlog"
	flunk "host unit tests did not build or run (see $hostlog)"
fi

# The NIC tests' UDP stream counted right (TAP, on the host's loopback).
udplog=$results/udpseq-test.log
"$NDRIVER_ROOT"/selftests/host/udpseq_test.py > "$udplog" 2>&1
udprc=$?
up=$(grep -cE '^ok ' "$udplog")
uf=$(grep -cE '^not ok ' "$udplog")
passed=$((passed + up))
failed=$((failed + uf))
echo "udpseq host tests: $up passed, $uf failed"
if [ $udprc != 0 ] && [ "$uf" = 0 ]; then
	tail -n 20 "$udplog"
	flunk "udpseq host tests did not run (see $udplog)"
fi

# In-guest selftests: the guest writes TAP into the results directory.
# The guest inherits nothing: hand the test knobs over explicitly.
knobs="NDRIVER_REPS=${NDRIVER_REPS:-3} NDRIVER_LEAK_ROUNDS=${NDRIVER_LEAK_ROUNDS:-200}"
[ -n "${NDRIVER_NIC_REPS:-}" ] && knobs+=" NDRIVER_NIC_REPS=$NDRIVER_NIC_REPS"
[ -n "${NDRIVER_NIC_CONFIG:-}" ] && knobs+=" NDRIVER_NIC_CONFIG=$NDRIVER_NIC_CONFIG"
[ -n "${NDRIVER_SITES:-}" ] && knobs+=" NDRIVER_SITES=$NDRIVER_SITES"
[ -n "${NDRIVER_SITE_CORRUPTIONS:-}" ] && knobs+=" NDRIVER_SITE_CORRUPTIONS=$NDRIVER_SITE_CORRUPTIONS"
[ -n "${NDRIVER_WAITER_ROUNDS:-}" ] && knobs+=" NDRIVER_WAITER_ROUNDS=$NDRIVER_WAITER_ROUNDS"
[ -n "${NDRIVER_TRACED_SITES:-}" ] && knobs+=" NDRIVER_TRACED_SITES=$NDRIVER_TRACED_SITES"
knobs+=" NDRIVER_TEST_TIMEOUT=${NDRIVER_TEST_TIMEOUT:-900} NDRIVER_TRACE=${NDRIVER_TRACE:-0}"
# init_on_free: memory is zeroed when freed, so that a use after free in a test shows
# (a driver handed a freed instance faults on its zeroed state) on the normal kernel
# too, not only under KASAN.
NDRIVER_GUEST_APPEND="init_on_free=1 ${NDRIVER_GUEST_APPEND:-}" \
	"$NDRIVER_ROOT"/scripts/guest.sh --timeout "${NDRIVER_GUEST_TIMEOUT:-2400}" --results "$results" -- \
	"env $knobs $NDRIVER_ROOT/selftests/guest/run.sh $*"
grc=$?
echo "check.sh so far: $((SECONDS / 60)) min $((SECONDS % 60)) s"
tap=$results/tap.txt
if [ -f "$tap" ]; then
	cat "$tap"
	# 02-kunit counts as one test; its summary line gives the KUnit cases.
	[ -f "$results/02-kunit.log" ] && grep '^kunit: ' "$results/02-kunit.log"
	gs=$(grep -cE '^ok .* # SKIP' "$tap")
	gp=$(( $(grep -cE '^ok ' "$tap") - gs ))
	gf=$(grep -cE '^not ok ' "$tap")
	passed=$((passed + gp))
	failed=$((failed + gf))
	skipped=$((skipped + gs))
	# The guest this script boots has every device the tests need (two e1000s and two
	# virtio-blk disks): a test that skips there did not test what it is for. Only
	# 02-kunit may skip, on a KDIR= kernel without CONFIG_KUNIT=y (building.rst).
	gsx=$gs
	if ! grep -q '^CONFIG_KUNIT=y' "$kdir/.config" &&
		grep -qE '^ok [0-9]+ 02-kunit # SKIP' "$tap"; then
		gsx=$((gs - 1))
	fi
	[ "$gsx" = 0 ] || flunk "$gsx guest tests skipped on the guest built for them"
	planned=$(sed -n 's/^1\.\.\([0-9]*\)$/\1/p' "$tap")
	if ! grep -q '^# guest-done' "$tap" || [ $((gp + gs + gf)) != "${planned:-0}" ]; then
		tail -n 40 "$results/console.log"
		flunk "guest stopped before finishing its tests (ran $((gp + gf)) of ${planned:-?}; console tail above)"
	fi
else
	[ -f "$results/console.log" ] && tail -n 40 "$results/console.log"
	flunk "guest produced no test report: it died, was killed or never ran the tests (exit $grc; console tail above)"
fi
[ $grc = 0 ] || flunk "guest run failed (exit $grc)"
"$NDRIVER_ROOT"/scripts/kernel-reports.sh "$results" || flunk "the kernel log has reports no test provoked (see above)"
summary
