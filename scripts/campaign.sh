#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# campaign.sh: `make campaign`. Boots the guest once and runs the fault-injection
# campaign (scripts/guest-campaign.sh) with a progress bar, then writes
# campaign.json and campaign.md (scripts/campaign-report.py) into results/campaign-*/.
# NDRIVER_CAMPAIGN_REPS (default 7) injections per class, entry point and
# implementation on testdev0; NDRIVER_CAMPAIGN_DEV_REPS (default 2) on the NIC and
# the block device; NDRIVER_CAMPAIGN_SITES (default 30) random instructions per
# device and implementation, NDRIVER_CAMPAIGN_TESTDEV_SITES (default the same) on
# testdev0, whose sites cost a fraction of the others'; NDRIVER_CAMPAIGN_CHUNK (default
# 0) numbers a run that is
# one chunk of a longer campaign (its own seeds; merge the runs with
# campaign-report.py --merge OUT RUN...).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

[ "${NDRIVER_SKIP_SETUP:-0}" = 1 ] || "$NDRIVER_ROOT"/scripts/setup.sh
"$NDRIVER_ROOT"/scripts/build-modules.sh >/dev/null
results=$NDRIVER_ROOT/results/campaign-$(date +%Y%m%d-%H%M%S)
mkdir -p "$results"
"$NDRIVER_ROOT"/scripts/guest.sh --timeout 14400 --results "$results" -- \
	"env NDRIVER_CAMPAIGN_REPS=${NDRIVER_CAMPAIGN_REPS:-7} NDRIVER_CAMPAIGN_DEV_REPS=${NDRIVER_CAMPAIGN_DEV_REPS:-2} NDRIVER_CAMPAIGN_SITES=${NDRIVER_CAMPAIGN_SITES:-30} NDRIVER_CAMPAIGN_TESTDEV_SITES=${NDRIVER_CAMPAIGN_TESTDEV_SITES:-${NDRIVER_CAMPAIGN_SITES:-30}} NDRIVER_CAMPAIGN_SITE_KIND=${NDRIVER_CAMPAIGN_SITE_KIND:-traced} NDRIVER_CAMPAIGN_CHUNK=${NDRIVER_CAMPAIGN_CHUNK:-0} $NDRIVER_ROOT/scripts/guest-campaign.sh" &
guest=$!

# The progress bar: the guest writes "done total seconds" after each injection.
bar() {
	local done total secs width=40 fill
	read -r done total secs 2>/dev/null < "$results/campaign-progress" || return 0
	[ "$total" -gt 0 ] 2>/dev/null || return 0
	fill=$((done * width / total))
	printf '\r[%-*s] %d/%d injections, %ds' $width "$(printf '%*s' $fill '' | tr ' ' '#')" \
		"$done" "$total" "$secs"
}
while kill -0 $guest 2>/dev/null; do
	[ -t 1 ] && bar
	sleep 2
done
rc=0
wait $guest || rc=$?
bar
echo
[ -f "$results/campaign-done" ] || {
	tail -n 30 "$results/console.log"
	cat "$results/campaign-aborted" 2>/dev/null || true
	die "the campaign did not finish in the guest (guest.sh exit $rc; console tail above)"
}
# Sanitizer and kernel reports (a corruption may make KASAN speak: an outcome, listed,
# not a failure of the run).
"$NDRIVER_ROOT"/scripts/kernel-reports.sh "$results" > "$results/campaign-kernel-reports.txt" 2>&1 || true
"$NDRIVER_CACHE/venv/bin/python" "$NDRIVER_ROOT/scripts/campaign-report.py" "$results"
cat "$results/campaign.md"
