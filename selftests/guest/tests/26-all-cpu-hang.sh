# SPDX-License-Identifier: GPL-2.0
# Every CPU hangs with interrupts off inside a guarded call at the same moment (issue
# 14): one testdev0 request pinned to each CPU, all released together, each hitting
# spin_irqoff in op. No CPU's watchdog tick runs, so no CPU can send the NMI that ends
# the others' hangs; the i6300ESB the ticks pet (ndriver/esb.rs) fires on the host's
# clock and its NMI ends them. Each round checks that every call was ended as a hang
# and recovered, that every request answered, that the ESB fired and was re-armed,
# and that no NMI went unclaimed. Without an armed ESB the test is skipped: the guest
# would not come back. The kernel command-line word ndriver_allcpu_without_esb
# (NDRIVER_GUEST_APPEND) removes the ESB from the guest's PCI tree and runs it anyway,
# to show that.
. "$(dirname "$0")/../lib.sh"

fail() { td_fail "$@"; }
WAIT_SECS=30
ROUNDS=${NDRIVER_REPS:-3}
[ "$ROUNDS" -ge 3 ] || ROUNDS=3

dmesg_mark
without=0
if grep -qw ndriver_allcpu_without_esb /proc/cmdline; then
	without=1
	for d in /sys/bus/pci/devices/*; do
		if [ "$(cat "$d/vendor")" = 0x8086 ] && [ "$(cat "$d/device")" = 0x25ab ]; then
			echo "removing the i6300ESB ${d##*/}"
			echo 1 > "$d/remove"
		fi
	done
fi
load_testdev
if [ "$(guard_count esb state)" != armed ] && [ $without = 0 ]; then
	echo "SKIP: no armed i6300ESB ($(guard_line esb)): an all-CPU hang would lose the guest"
	unload_testdev
	exit 4
fi
ncpu=$(nproc)
# Retry at once, without limit; a 300 ms deadline leaves every CPU time to join the
# hang before any of them could be ended by another's tick.
echo "restarts=1000 backoff_ms=0 calm_ms=0 floor_ns=300000000" > "$TD/policy" || fail "policy"
echo "config 0 1000" > "$TD/call" || fail "config"

# The start line and the answers live in a tmpfs of their own: the guest's /tmp is an
# overlay on 9p, whose requests complete through an interrupt that a hung CPU may be
# the one to take, which would hold the other CPUs' requests back until it is freed.
dir=$(mktemp -d)
mount -t tmpfs ndriver-allcpu "$dir" || fail "tmpfs"
go=$dir/go
out=$dir/out
for round in $(seq "$ROUNDS"); do
	fires=$(guard_count esb fires)
	rearms=$(guard_count esb rearms)
	by_esb=$(guard_count hangs by_esb)
	hangs=$(stat detected hang)
	recs=$(stat recoveries)
	rm -f "$go" "$out".*
	pids=
	for k in $(seq 0 $((ncpu - 1))); do
		# Each makes one request to warm the path up, opens its answer file, says it
		# is ready and waits, spinning on its own CPU, for the start; then one request.
		taskset -c "$k" bash -c "echo 'op 0' > $TD/call; exec 3> $out.$k; : > $out.$k.ready
			while [ ! -e $go ]; do :; done
			if echo 'op $((k + 1))' > $TD/call; then echo ok >&3; else echo failed >&3; fi" &
		pids="$pids $!"
	done
	for k in $(seq 0 $((ncpu - 1))); do
		for _ in $(seq 500); do
			[ -e "$out.$k.ready" ] && break
			sleep 0.02
		done
	done
	reqs=$(read -r _ n _ < "$TD/call"; echo "$n")
	echo "class=spin_irqoff entry=op times=$ncpu" > "$TD/inject" || fail "inject"
	sleep 0.1
	t0=$EPOCHREALTIME
	: > "$go"
	# shellcheck disable=SC2086
	wait $pids
	t1=$EPOCHREALTIME
	ms=$(( (${t1/./} - ${t0/./}) / 1000 ))
	for k in $(seq 0 $((ncpu - 1))); do
		[ "$(cat "$out.$k" 2>/dev/null)" = ok ] || fail "round $round: the request on CPU $k failed"
	done
	inject_off || fail "round $round: not every CPU hung: $(cat "$TD/inject")"
	got=$(( $(stat detected hang) - hangs ))
	[ "$got" = "$ncpu" ] || fail "round $round: $got hangs detected, want $ncpu"
	[ $(( $(stat recoveries) - recs )) -ge 1 ] || fail "round $round: no recovery"
	[ "$(guard_count esb fires)" -gt "$fires" ] ||
		fail "round $round: the ESB did not fire (the CPUs did not all hang at once?): $(guard_line hangs)"
	[ "$(guard_count hangs by_esb)" -gt "$by_esb" ] || fail "round $round: no hang ended by the ESB's NMI"
	n=$(read -r _ n _ < "$TD/call"; echo "$n")
	[ $((n - reqs)) = "$ncpu" ] || fail "round $round: $((n - reqs)) requests answered, want $ncpu"
	# The first tick that runs again re-arms the watchdog.
	wait_for $((rearms + 1)) guard_count esb rearms
	[ "$(guard_count esb state)" = armed ] || fail "round $round: ESB $(guard_line esb)"
	echo "round $round: $ncpu CPUs hung at once, $got hangs ended ($(( $(guard_count hangs by_esb) - by_esb )) by the ESB's NMI), $(( $(stat recoveries) - recs )) recoveries, all answered in $ms ms"
done
umount "$dir" && rmdir "$dir"

# Healthy again: the answers are right, and the petted ESB stays quiet.
fires=$(guard_count esb fires)
[ "$(td_call op 5)" = 1005 ] || fail "op after the hangs: '$TD_LAST'"
sleep 2
[ "$(guard_count esb fires)" = "$fires" ] || fail "the ESB fired while every CPU ticked"
echo "$(guard_line hangs); esb $(guard_line esb)"
unload_testdev
dmesg | sed -n "/$DMESG_MARK/,\$p" | grep -E 'Uhhuh|NMI received for unknown reason|Dazed and confused' &&
	fail "an NMI went unclaimed"
dmesg_clean
echo PASS
