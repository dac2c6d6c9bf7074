#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# build-modules.sh [clean]: builds ndriver.ko and the sample modules against the
# guest kernel (see build-kernel.sh for KDIR and the cache).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/toolchain.sh"

kdir=$("$NDRIVER_ROOT"/scripts/build-kernel.sh)
# shellcheck disable=SC2046
margs=($(kmake_args))
target=${1:-modules}
log=$NDRIVER_ROOT/.build-modules.log
if ! make -C "$kdir" M="$NDRIVER_ROOT" "${margs[@]}" -j"$(nproc)" "$target" >"$log" 2>&1; then
	cat "$log" >&2
	die "module build failed"
fi
if grep -E 'warning:' "$log" >&2; then
	[ "${NDRIVER_ALLOW_WARNINGS:-0}" = 1 ] || die "module build has warnings (see above)"
fi
# A stack frame of a page or more can step over the guard page below a kernel stack
# into the memory beneath (Documentation/design.rst, "Stack overflow"); rustc emits no
# stack probes for the kernel. Refuse a module with such a function.
if [ "$target" = modules ]; then
	big=$(for ko in "$NDRIVER_ROOT"/*.ko "$NDRIVER_ROOT"/sample-drivers/*.ko \
		"$NDRIVER_ROOT"/selftests/kunit/*.ko; do
		# selftests/kunit/ndriver_kunit.ko exists only on a kernel with KUnit.
		[ -f "$ko" ] || continue
		objdump -d --no-show-raw-insn "$ko" | awk -v ko="${ko##*/}" '
			/^[0-9a-f]+ <.*>:$/ { fn = $2 }
			/sub +\$0x[0-9a-f]+,%rsp/ {
				v = $0; sub(/.*\$0x/, "", v); sub(/,.*/, "", v)
				if (length(v) > 3) print ko " " fn " 0x" v
			}'
	done)
	[ -z "$big" ] || die "stack frames of 4 KiB or more (they can step over the stack's guard page):
$big"
	# Between a driver's return and guard_enter's check of the callee-saved registers,
	# the closure trampolines may touch no memory but their own stack: a register the
	# driver gave back corrupted would carry the access (design.rst, "Known limits").
	# After each trampoline's call, any memory operand other than the stack pointer's
	# is refused.
	touch=$(objdump -d --no-show-raw-insn "$NDRIVER_ROOT/ndriver.ko" | awk '
		/^[0-9a-f]+ <.*>:$/ { fn = $2; tramp = fn ~ /guarded10trampoline/; called = 0; next }
		!tramp { next }
		/\tcall / { called = 1; next }
		called && /\(%/ && !/\(%rsp\)/ { print fn ": " $0 }')
	[ -z "$touch" ] || die "a guarded closure touches memory after the driver returned:
$touch"
fi
echo "$kdir"
