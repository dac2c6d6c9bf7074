#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# campaign.sh: `make campaign`. Boots the guest and runs the fault-injection campaign
# (scripts/guest-campaign.sh) with a progress bar, then writes campaign.json and
# campaign.md (scripts/campaign-report.py) into results/campaign-*/.
# NDRIVER_CAMPAIGN_REPS (default 7) injections per class, entry point and
# implementation on testdev0; NDRIVER_CAMPAIGN_DEV_REPS (default 2) on the NIC and
# the block device; NDRIVER_CAMPAIGN_SITES (default 30) random instructions per
# device and implementation, NDRIVER_CAMPAIGN_TESTDEV_SITES (default the same) on
# testdev0, whose sites cost a fraction of the others'; NDRIVER_CAMPAIGN_CHUNK (default
# 0) numbers a run that is
# one chunk of a longer campaign (its own seeds; merge the runs with
# campaign-report.py --merge OUT RUN...).
#
# A lost guest (a kernel crash, or a hang: campaign-progress unchanged for
# NDRIVER_CAMPAIGN_STALL_SECS, default 600, after which the guest is stopped through
# its QEMU monitor) does not end the run: the injection in flight (the last one
# written, plus one) is counted as lost, and a fresh guest runs the rest of the same
# plan from the injection after it (NDRIVER_CAMPAIGN_SKIP for the guest) in a part
# directory of its own, results/campaign-*/part2, part3, ... (each with its own
# console.log; part 1 is the run directory itself). The run ends at its
# NDRIVER_CAMPAIGN_MAX_LOST-th lost guest (default 3; 1: never resume), with the report
# over the parts so far. One report covers every part: the lost injections are counted
# in their class, site kind and device rows and named with what the console said.
# A campaign the guest script gave up on (campaign-aborted: a set-up step failed) or
# that never started in the guest is not resumed: the run ends there.
# NDRIVER_CAMPAIGN_SKIP (default 0) starts the run itself after that injection.
# Test knobs (pass-through, see guest-campaign.sh): NDRIVER_CAMPAIGN_TEST_CRASH_AT=K
# ends the guest as a crash would before injection K, NDRIVER_CAMPAIGN_TEST_STALL_AT=K
# stalls it there.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

max_lost=${NDRIVER_CAMPAIGN_MAX_LOST:-3}
stall_secs=${NDRIVER_CAMPAIGN_STALL_SECS:-600}
skip=${NDRIVER_CAMPAIGN_SKIP:-0}
for v in "$max_lost" "$stall_secs" "$skip"; do
	case $v in '' | *[!0-9]*) die "NDRIVER_CAMPAIGN_MAX_LOST, _STALL_SECS and _SKIP: numbers" ;; esac
done

[ "${NDRIVER_SKIP_SETUP:-0}" = 1 ] || "$NDRIVER_ROOT"/scripts/setup.sh
"$NDRIVER_ROOT"/scripts/build-modules.sh >/dev/null
results=$NDRIVER_ROOT/results/campaign-$(date +%Y%m%d-%H%M%S)
mkdir -p "$results"
guest_cmd="env NDRIVER_CAMPAIGN_REPS=${NDRIVER_CAMPAIGN_REPS:-7} NDRIVER_CAMPAIGN_DEV_REPS=${NDRIVER_CAMPAIGN_DEV_REPS:-2} NDRIVER_CAMPAIGN_SITES=${NDRIVER_CAMPAIGN_SITES:-30} NDRIVER_CAMPAIGN_TESTDEV_SITES=${NDRIVER_CAMPAIGN_TESTDEV_SITES:-${NDRIVER_CAMPAIGN_SITES:-30}} NDRIVER_CAMPAIGN_SITE_KIND=${NDRIVER_CAMPAIGN_SITE_KIND:-traced} NDRIVER_CAMPAIGN_CHUNK=${NDRIVER_CAMPAIGN_CHUNK:-0} NDRIVER_CAMPAIGN_TEST_CRASH_AT=${NDRIVER_CAMPAIGN_TEST_CRASH_AT:-0} NDRIVER_CAMPAIGN_TEST_STALL_AT=${NDRIVER_CAMPAIGN_TEST_STALL_AT:-0}"

# The progress bar: the guest writes "done total seconds" after each injection.
bar() {
	local ndone total secs width=40 fill label=''
	read -r ndone total secs 2>/dev/null < "$1/campaign-progress" || return 0
	[ "$total" -gt 0 ] 2>/dev/null || return 0
	[ "$part" = 1 ] || label=", part $part"
	fill=$((ndone * width / total))
	printf '\r[%-*s] %d/%d injections, %ds%s' $width "$(printf '%*s' $fill '' | tr ' ' '#')" \
		"$ndone" "$total" "$secs" "$label"
}

# last_done DIR: the number of the last injection the part in DIR wrote (its last
# complete line in campaign.tsv or its progress, whichever is later; the progress
# starts at the part's NDRIVER_CAMPAIGN_SKIP).
last_done() {
	local p=0 r
	{ read -r p _ < "$1/campaign-progress"; } 2>/dev/null || true
	r=$(awk -F '\t' 'NR > 1 && NF >= 15 && $1 ~ /^[0-9]+$/ { n = $1 } END { print n + 0 }' \
		"$1/campaign.tsv" 2>/dev/null) || r=0
	case $p in '' | *[!0-9]*) p=0 ;; esac
	echo $((p > r ? p : r))
}

# stop_guest DIR PID: ends the guest of the part in DIR, run by guest.sh (PID): "quit"
# to its QEMU monitor (DIR/monitor.sock), after which vng, timeout and guest.sh end as
# after a power-off and guest.sh cleans up; a QEMU still serving that socket 30 s
# later is killed.
stop_guest() {
	local dir=$1 pid=$2 k q
	"$NDRIVER_CACHE/venv/bin/python" - "$dir/monitor.sock" <<'EOF' || true
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
s.connect(sys.argv[1])
time.sleep(0.5)
s.sendall(b"quit\n")
try:
    while s.recv(4096):
        pass
except OSError:
    pass
EOF
	for ((k = 0; k < 30; k++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 1
	done
	# The QEMU whose command line names this part's socket, compared as a fixed string
	# (a path may hold characters a pattern would read).
	for q in $(pgrep qemu-system || true); do
		tr '\0' ' ' < "/proc/$q/cmdline" 2>/dev/null | grep -qF -- "unix:$dir/monitor.sock" &&
			as_root kill -KILL "$q" 2>/dev/null
	done
	return 0
}

# run_part DIR SKIP: one guest running the campaign after injection SKIP, results in
# DIR, with the progress bar; a guest whose progress does not change for stall_secs
# (counted from the boot while there is none) is stopped. Sets rc (guest.sh's exit).
run_part() {
	local dir=$1 skip=$2 guest seen='' now_p changed=$EPOCHSECONDS stopped=0
	mkdir -p "$dir"
	"$NDRIVER_ROOT"/scripts/guest.sh --timeout 14400 --results "$dir" -- \
		"$guest_cmd NDRIVER_CAMPAIGN_SKIP=$skip $NDRIVER_ROOT/scripts/guest-campaign.sh" &
	guest=$!
	while kill -0 $guest 2>/dev/null; do
		[ -t 1 ] && bar "$dir"
		now_p=
		{ read -r now_p < "$dir/campaign-progress"; } 2>/dev/null || true
		if [ "$now_p" != "$seen" ]; then
			seen=$now_p changed=$EPOCHSECONDS
		elif [ $stopped = 0 ] && ((EPOCHSECONDS - changed >= stall_secs)); then
			stopped=1
			echo "no progress for ${stall_secs} s (campaign-progress: ${seen:-none}): guest stopped" |
				tee "$dir/campaign-stalled" >&2
			stop_guest "$dir" $guest
		fi
		sleep 2
	done
	rc=0
	wait $guest || rc=$?
	bar "$dir"
	echo
}

# report: sanitizer and kernel reports of each part (a corruption may make KASAN speak:
# an outcome, listed, not a failure of the run): from the kernel log of a part that
# finished, from the console of one whose guest was lost (up to where it was lost, the
# report of what ended it included); then the report over every part.
report() {
	local d
	for d in "$results" "$results"/part*; do
		if [ -f "$d/campaign-done" ]; then
			"$NDRIVER_ROOT"/scripts/kernel-reports.sh "$d" > "$d/campaign-kernel-reports.txt" 2>&1 || true
		elif [ -f "$d/console.log" ]; then
			{
				echo "guest lost: from its console, the report of what ended it included"
				"$NDRIVER_ROOT"/scripts/kernel-reports.sh --log "$d/console.log" "$d" 2>&1 || true
			} > "$d/campaign-kernel-reports.txt"
		fi
	done
	"$NDRIVER_CACHE/venv/bin/python" "$NDRIVER_ROOT/scripts/campaign-report.py" "$results"
	cat "$results/campaign.md"
}

part=1
lost=0
dir=$results
while :; do
	run_part "$dir" "$skip"
	[ -f "$dir/campaign-done" ] && break
	tail -n 30 "$dir/console.log" 2>/dev/null || true
	if [ -f "$dir/campaign-aborted" ]; then
		cat "$dir/campaign-aborted"
		report || true
		die "the campaign aborted in the guest (part $part, $dir; guest.sh exit $rc; console tail above)"
	fi
	if [ ! -f "$dir/campaign-progress" ]; then
		[ "$part" -gt 1 ] && { report || true; }
		die "the campaign did not start in the guest (part $part, $dir; guest.sh exit $rc; console tail above)"
	fi
	lost=$((lost + 1))
	done_n=$(last_done "$dir")
	at=$((done_n + 1))
	total=0
	{ read -r _ total _ < "$dir/campaign-progress"; } 2>/dev/null || true
	case $total in '' | *[!0-9]*) total=0 ;; esac
	# The injection the guest had begun (campaign-current): if it is not the next one,
	# the guest was lost between injections (set-up, a trace, teardown): nothing is
	# skipped, the next part starts with that injection.
	cur=
	{ IFS=$'\t' read -r cur _ < "$dir/campaign-current"; } 2>/dev/null || true
	skip=$at
	if [ "$cur" != "$at" ]; then
		skip=$done_n
		info "guest lost between injections $done_n and $at (part $part, $dir; guest.sh exit $rc; console tail above)"
	else
		info "guest lost at injection $at (part $part, $dir; guest.sh exit $rc; console tail above)"
	fi
	if [ "$lost" -ge "$max_lost" ] || { [ "$total" -gt 0 ] && [ "$skip" -ge "$total" ]; }; then
		report || true
		die "the run ends at injection $at of $total, its lost guest number $lost (NDRIVER_CAMPAIGN_MAX_LOST=$max_lost)"
	fi
	part=$((part + 1))
	dir=$results/part$part
	info "resuming after injection $at in a fresh guest: part $part ($dir)"
done
report
