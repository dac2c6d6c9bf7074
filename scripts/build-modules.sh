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
fi
echo "$kdir"
