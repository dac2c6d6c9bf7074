#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# bench.sh: `make bench`. Boots the guest once, measures the guard's fault-free cost
# per call (direct vs guarded, same run) and the recovery time by phase over a fault
# campaign, then the NIC (netperf, HTTP) and block device (fio) with the C driver,
# the Rust driver unguarded and guarded (scripts/guest-bench-io.sh), then a second
# NIC's and disk's throughput while their neighbour recovers again and again
# (scripts/guest-bench-indep.sh; NDRIVER_BENCH_INDEP=0 leaves it out), and writes
# bench.json, bench.md and PNG plots into results/bench-*/.
#
# The C-versus-Rust comparisons run NDRIVER_BENCH_IO_REPS rounds (default 5) of every
# test, NDRIVER_BENCH_IO_SECS (default 5) s each, the order of the variants rotated
# from round to round and ndriver.ko unloaded during the C runs; bench-report.py
# judges each target met / missed / undecided from the 95 % interval of the ratio
# paired by round and reports the spread of identical runs. scripts/bench-spread.py
# compares several result directories of one configuration. A default run takes
# about 45 minutes under TCG on a 2-core host (Documentation/evaluation.rst).
#
# Method knobs, all off by default (Documentation/evaluation.rst, "A measurement
# that holds still"); bench-config.txt in the results records them:
#   NDRIVER_BENCH_ICOUNT=1    QEMU -icount shift=1: guest time (and the guest's TSC)
#                             advance 2 ns per executed instruction, not with the
#                             host's clock; single-threaded TCG (all vCPUs on one host
#                             thread). Any other value containing "=" is passed as
#                             the -icount argument verbatim (e.g. shift=auto,
#                             shift=2,sleep=off).
#   NDRIVER_BENCH_NIC_PEER=host|guest  the other end of ndeth0's e1000: the host's
#                             side of a tap (default), or a virtio-net NIC of the
#                             guest itself on a QEMU hub (scripts/guest-nic-peer.sh;
#                             the default under icount, where a host peer fails).
#   NDRIVER_BENCH_VCPUS=N     an N-vCPU guest (default 2) for the whole run.
#   NDRIVER_BENCH_PIN=1       QEMU's vCPU threads pinned one to each host CPU of
#                             NDRIVER_BENCH_PIN_CPUS (default: all, in order; vCPU 0
#                             to the first), by virtme-ng's --pin.
#   NDRIVER_BENCH_PIN=process the whole QEMU process under taskset -c
#                             NDRIVER_BENCH_PIN_CPUS (required then).
#   NDRIVER_BENCH_TIMEOUT     the guest's time limit in seconds (default from the
#                             repetitions and seconds asked for).
# NDRIVER_BENCH_MSG_SIZES, _APACHE_CLIENTS, _FAULT_PERIODS, _AVAIL_SECS, _AVAIL_REPS, _MTU,
# _PROBE_SECS, _PROBE_WORK_US, _IO_BLK_REPS (guest-bench-io.sh), _CALLS and
# _GR_ROUNDS (guest-bench.sh: rounds of the guard's cost and the testdev0 recovery
# campaign, current and base in turn; default 1) go to the guest when set.
#
# Before vs after, in the same boot (off by default):
#   NDRIVER_BENCH_BASE=REV    a git revision of this tree: its modules (git archive of
#                             REV into results/bench-*/base/, built there by REV's own
#                             scripts/build-modules.sh against this run's kernel) run
#                             as a fourth variant, "base" (Rust guarded, REV's
#                             ndriver.ko and drivers), in every round of the NIC and
#                             block comparisons, and the guard's cost per call and the
#                             recovery campaign run again with them. bench.md's "Before
#                             vs after" judges current/base per test from the interval
#                             paired by round: a regression is more than 5 % worse. A
#                             REV that does not resolve or build stops the run before
#                             the guest boots, leaving nothing behind. About 12 minutes
#                             more guest time with the default rounds.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

io_reps=${NDRIVER_BENCH_IO_REPS:-5}
io_secs=${NDRIVER_BENCH_IO_SECS:-5}
icount=${NDRIVER_BENCH_ICOUNT:-0}
vcpus=${NDRIVER_BENCH_VCPUS:-}
pin=${NDRIVER_BENCH_PIN:-0}
pin_cpus=${NDRIVER_BENCH_PIN_CPUS:-}
indep_rounds=${NDRIVER_BENCH_INDEP_ROUNDS:-6}
indep_secs=${NDRIVER_BENCH_INDEP_SECS:-8}
for v in io_reps io_secs indep_rounds indep_secs; do
	case ${!v} in '' | *[!0-9]*) die "NDRIVER_BENCH_${v^^} must be a number, not '${!v}'" ;; esac
done
case $icount in
0 | '') icount_arg= ;;
1) icount_arg=shift=1 ;;
*=*) icount_arg=$icount ;;
*) die "NDRIVER_BENCH_ICOUNT: 0, 1 or an -icount argument such as shift=auto, not '$icount'" ;;
esac
case $vcpus in '' | [1-9] | [1-9][0-9]) ;; *) die "NDRIVER_BENCH_VCPUS must be a CPU count, not '$vcpus'" ;; esac
case $pin in
0 | '') ;;
1) export NDRIVER_GUEST_PIN=${pin_cpus:-all} ;;
process)
	[ -n "$pin_cpus" ] || die "NDRIVER_BENCH_PIN=process needs NDRIVER_BENCH_PIN_CPUS (e.g. 1)"
	export NDRIVER_GUEST_TASKSET=$pin_cpus
	;;
*) die "NDRIVER_BENCH_PIN: 0, 1 or process, not '$pin'" ;;
esac
[ -z "$icount_arg" ] || export NDRIVER_GUEST_QEMU_OPTS="-icount $icount_arg"
# Under -icount a peer on the host runs in the host's time while the guest's clock
# follows its instructions: netperf's streams failed that way. The guest's own peer
# (scripts/guest-nic-peer.sh) keeps both ends in guest time.
nic_peer=${NDRIVER_BENCH_NIC_PEER:-}
[ -n "$nic_peer" ] || { [ -n "$icount_arg" ] && nic_peer=guest || nic_peer=host; }
case $nic_peer in
host | guest) export NDRIVER_GUEST_NIC_PEER=$nic_peer ;;
*) die "NDRIVER_BENCH_NIC_PEER: host or guest, not '$nic_peer'" ;;
esac
[ -z "$vcpus" ] || export NDRIVER_GUEST_CPUS=$vcpus
base=${NDRIVER_BENCH_BASE:-}
base_sha=
if [ -n "$base" ]; then
	base_sha=$(git -C "$NDRIVER_ROOT" rev-parse -q --verify "$base^{commit}") ||
		die "NDRIVER_BENCH_BASE: '$base' is not a revision of $NDRIVER_ROOT"
fi

# The guest's time limit (at least the 2700 s it always had): 15 min for boot, guard,
# recovery campaign and availability runs, about 60 tests of IO_SECS plus start-up per
# round of the C-versus-Rust comparisons, 6 runs per round of the independence runs;
# under -icount guest time may run slower than the host's, so twice that.
# The availability runs: AVAIL_REPS rounds of (at most) seven runs of TCP and HTTP.
avail_secs=${NDRIVER_BENCH_AVAIL_SECS:-20}
avail_reps=${NDRIVER_BENCH_AVAIL_REPS:-3}
probe_secs=${NDRIVER_BENCH_PROBE_SECS:-10}
probe_work_us=${NDRIVER_BENCH_PROBE_WORK_US:-1000}
io_blk_reps=${NDRIVER_BENCH_IO_BLK_REPS:-$io_reps}
gr_rounds=${NDRIVER_BENCH_GR_ROUNDS:-1}
for v in avail_secs avail_reps probe_secs probe_work_us io_blk_reps gr_rounds; do
	case ${!v} in '' | *[!0-9]* | 0?*) die "NDRIVER_BENCH_${v^^} must be a number, not '${!v}'" ;; esac
done
[ "$probe_secs" -le 60 ] || die "NDRIVER_BENCH_PROBE_SECS: at most 60 (ndriver's stalls file), not $probe_secs"
[ "$probe_work_us" -ge 10 ] && [ "$probe_work_us" -le 5000 ] ||
	die "NDRIVER_BENCH_PROBE_WORK_US: 10 to 5000, not $probe_work_us"
# The NIC's rounds and the block device's (IO_BLK_REPS) share the 60 tests of a round.
timeout=$((900 + (io_reps > io_blk_reps ? io_reps : io_blk_reps) * 60 * (io_secs + 4)))
timeout=$((timeout + indep_rounds * 6 * (indep_secs + 3)))
timeout=$((timeout + avail_reps * 7 * (2 * avail_secs + 5)))
[ "$gr_rounds" -ge 1 ] || die "NDRIVER_BENCH_GR_ROUNDS: at least 1, not $gr_rounds"
# The guard and recovery rounds past the first: about 2 minutes each with a base.
timeout=$((timeout + (gr_rounds - 1) * 120))
# The stall probe: idle and under the stream, every availability round.
timeout=$((timeout + avail_reps * 2 * (probe_secs + 5)))
# The base variant: about 17 more tests per round, the guard and the campaign again.
[ -z "$base_sha" ] || timeout=$((timeout + 120 + io_reps * 20 * (io_secs + 4)))
[ -z "$icount_arg" ] || timeout=$((timeout * 2))
[ "$timeout" -ge 2700 ] || timeout=2700
timeout=${NDRIVER_BENCH_TIMEOUT:-$timeout}

[ "${NDRIVER_SKIP_SETUP:-0}" = 1 ] || "$NDRIVER_ROOT"/scripts/setup.sh
kdir=$("$NDRIVER_ROOT"/scripts/build-modules.sh)
if [ "$nic_peer" = guest ]; then
	# A kernel of one's own (KDIR=) may lack what the guest's peer needs.
	for opt in CONFIG_NET_NS=y 'CONFIG_VIRTIO_NET=[ym]'; do
		grep -qE "^$opt\$" "$kdir/.config" ||
			die "NDRIVER_BENCH_NIC_PEER=guest (the default under icount) needs ${opt%%=*} in $kdir"
	done
fi
results=$NDRIVER_ROOT/results/bench-$(date +%Y%m%d-%H%M%S)
mkdir -p "$results"
if [ -n "$base_sha" ]; then
	# REV's tree without a checkout, built by its own script (its layout and Kbuild may
	# differ from this one's) against the kernel the guest boots; the guest loads the
	# modules named below from it. Any failure takes the results directory with it.
	trap 'rm -rf "$results"' EXIT
	b=$results/base
	info "building the modules of $base ($(git -C "$NDRIVER_ROOT" rev-parse --short "$base_sha")) in $b"
	mkdir "$b"
	git -C "$NDRIVER_ROOT" archive "$base_sha" | tar -x -C "$b"
	[ -x "$b/scripts/build-modules.sh" ] || die "$base has no scripts/build-modules.sh"
	KDIR=$kdir "$b/scripts/build-modules.sh" >/dev/null ||
		die "the modules of $base did not build against $kdir (output above). An older" \
			"revision may need the kernel of its time; NDRIVER_ALLOW_WARNINGS=1 lets warnings through"
	for ko in ndriver.ko sample-drivers/ndriver_{testdev_a,testdev_b,e1000_napi,e1000_irq,vblk_a,vblk_b}.ko; do
		[ -f "$b/$ko" ] || die "$base built no $ko, which the guest loads"
	done
	trap - EXIT
fi
# What the run was asked for, for bench-report.py and bench-spread.py (which compare
# only runs of one configuration).
{
	echo "commit $(git -C "$NDRIVER_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
	echo "host_cpus $(nproc)"
	echo "host_loadavg $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "kvm $([ -w /dev/kvm ] && grep -qE '\b(vmx|svm)\b' /proc/cpuinfo && echo 1 || echo 0)"
	echo "vcpus ${vcpus:-2}"
	echo "icount ${icount_arg:-off}"
	echo "nic_peer $nic_peer"
	echo "pin ${NDRIVER_GUEST_PIN:-${NDRIVER_GUEST_TASKSET:+process:$NDRIVER_GUEST_TASKSET}}"
	echo "io_reps $io_reps"
	echo "io_secs $io_secs"
	echo "indep ${NDRIVER_BENCH_INDEP:-1} rounds $indep_rounds secs $indep_secs period_ms ${NDRIVER_BENCH_INDEP_PERIOD_MS:-800}"
	[ -z "$base_sha" ] || echo "base $(git -C "$NDRIVER_ROOT" rev-parse --short "$base_sha") $base"
} > "$results/bench-config.txt"
# The guest does not inherit this environment: the in-guest scripts' other settings
# go over when they are set here (quoted, they may hold lists).
more=
for v in NDRIVER_BENCH_MSG_SIZES NDRIVER_BENCH_APACHE_CLIENTS NDRIVER_BENCH_FAULT_PERIODS \
	NDRIVER_BENCH_AVAIL_SECS NDRIVER_BENCH_AVAIL_REPS NDRIVER_BENCH_MTU NDRIVER_BENCH_CALLS \
	NDRIVER_BENCH_BLK NDRIVER_BENCH_BLK_REPS NDRIVER_BENCH_PROBE_SECS NDRIVER_BENCH_PROBE_WORK_US \
	NDRIVER_BENCH_IO_BLK_REPS NDRIVER_BENCH_GR_ROUNDS; do
	[ -z "${!v:-}" ] || more+=" $(printf '%s=%q' "$v" "${!v}")"
	[ -z "${!v:-}" ] || echo "${v#NDRIVER_BENCH_} ${!v}" | tr '[:upper:]' '[:lower:]' >> "$results/bench-config.txt"
done
[ -z "$base_sha" ] || more+=" $(printf 'NDRIVER_BENCH_BASE_DIR=%q' "$results/base")"
"$NDRIVER_ROOT"/scripts/guest.sh --timeout "$timeout" --results "$results" -- \
	"env NDRIVER_BENCH_REPS=${NDRIVER_BENCH_REPS:-40} NDRIVER_BENCH_IO=${NDRIVER_BENCH_IO:-1}$more" \
	"NDRIVER_BENCH_IO_REPS=$io_reps NDRIVER_BENCH_IO_SECS=$io_secs" \
	"NDRIVER_BENCH_INDEP=${NDRIVER_BENCH_INDEP:-1} NDRIVER_BENCH_INDEP_ROUNDS=$indep_rounds" \
	"NDRIVER_BENCH_INDEP_SECS=$indep_secs" \
	"NDRIVER_BENCH_INDEP_PERIOD_MS=${NDRIVER_BENCH_INDEP_PERIOD_MS:-800}" \
	"$NDRIVER_ROOT/scripts/guest-bench.sh"
[ -f "$results/bench-done" ] || {
	tail -n 30 "$results/console.log"
	die "the benchmark did not finish in the guest (console tail above)"
}
"$NDRIVER_CACHE/venv/bin/python" "$NDRIVER_ROOT/scripts/bench-report.py" "$results"
cat "$results/bench.md"
