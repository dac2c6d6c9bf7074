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
echo "$kdir"
