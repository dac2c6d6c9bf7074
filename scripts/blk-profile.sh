#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# blk-profile.sh: where a block request's time goes, C virtio_blk against ndblk0
# (vblk-a). Boots the guest once (scripts/guest.sh) with the modules as built
# (scripts/build-modules.sh first), and there (scripts/guest-blk-profile.sh):
#   - NDRIVER_PROFILE_ROUNDS rounds (default 3) of fio 4 KiB random reads at depth 1
#     and 32, random writes at depth 32 and 128 KiB reads at depth 32, 4 s each, on C
#     virtio_blk and on ndblk0 (guarded) with the I/O scheduler none and mq-deadline in
#     turn: profile.txt, one line per run ("VARIANT JOB ROUND IOPS");
#   - a perf profile (cpu-clock, every CPU, 5 s) of each variant's 4 KiB random reads
#     at depth 32 and 1: perf-VARIANT-qdN.txt, the hottest symbols.
# Results in results/blk-profile-<time>/. Not part of make check or make bench.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

[ -f "$NDRIVER_ROOT/ndriver.ko" ] || die "no ndriver.ko: run scripts/build-modules.sh first"
command -v perf > /dev/null || die "no perf on the host (the guest runs the host's): apt install linux-perf"
results=$NDRIVER_ROOT/results/blk-profile-$(date +%Y%m%d-%H%M%S)
mkdir -p "$results"
"$NDRIVER_ROOT"/scripts/guest.sh --timeout 900 --results "$results" -- \
	env NDRIVER_PROFILE_ROUNDS="${NDRIVER_PROFILE_ROUNDS:-3}" \
	"$NDRIVER_ROOT"/scripts/guest-blk-profile.sh "$results"
echo "results: $results"
cat "$results/profile.txt"
