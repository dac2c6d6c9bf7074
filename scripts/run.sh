#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# run.sh: set up, build, boot the guest, put its NIC and disk under ndriver, inject
# faults while traffic and I/O flow (scripts/guest-demo.sh) and show that service
# continued. On a terminal the
# guest then leaves you a root shell; otherwise it powers off.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

[ "${NDRIVER_SKIP_SETUP:-0}" = 1 ] || "$NDRIVER_ROOT"/scripts/setup.sh
"$NDRIVER_ROOT"/scripts/build-modules.sh >/dev/null
results=$NDRIVER_ROOT/results/run-$(date +%Y%m%d-%H%M%S)
demo="env NDRIVER_DEMO_PERIOD=${NDRIVER_DEMO_PERIOD:-4} $NDRIVER_ROOT/scripts/guest-demo.sh"
if [ -t 0 ] && [ -t 1 ]; then
	exec "$NDRIVER_ROOT"/scripts/guest.sh --interactive --results "$results" -- "$demo"
fi
# Without a terminal for the guest, follow its transcript live from here.
mkdir -p "$results"
: > "$results/demo.txt"
tail -n +1 -F "$results/demo.txt" 2>/dev/null &
tailer=$!
trap 'kill $tailer 2>/dev/null' EXIT
"$NDRIVER_ROOT"/scripts/guest.sh --results "$results" -- "$demo"
sleep 1
[ -s "$results/demo.txt" ] || die "the guest did not run the demo (see $results/console.log)"
grep -q '^ndriver: demo ok$' "$results/demo.txt" || die "demo failed (see $results/demo.txt)"
