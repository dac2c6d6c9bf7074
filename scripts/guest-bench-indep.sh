#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Runs inside the guest for `make bench` (scripts/guest-bench.sh, last): does the
# recovery of one device disturb another device of the same class?
#
# ndriver is loaded with nics=2 disks=2 and both implementations of each class (one
# module serves both devices). The measured devices are ndeth1 (netperf TCP_STREAM,
# 16 KiB messages, to the host side of the second tap, 10.99.1.1) and ndblk1 (fio 4 KiB
# random reads at queue depth 8 on the raw disk; that disk has no MSI-X, so vblk-a runs
# on its INTx there). Their neighbours carry light traffic
# in every run (ndeth0 a ping every 50 ms to 10.99.0.1, ndblk0 a read loop). Three
# modes:
#
#   quiet     nothing injected;
#   faulted   a real fault injected into the neighbour every
#             NDRIVER_BENCH_INDEP_PERIOD_MS (default 800) ms, in its data path
#             (start_xmit, queue_rq), the classes panic, null, div0 and spin in turn,
#             so that it recovers again and again while the measured device runs;
#   failstop  the same without spin: panic, null and div0 in turn.
#
# A hang holds its CPU until the neighbour's deadline (200 ms here), with bottom
# halves off in start_xmit, so softirq work queued on that CPU for the measured
# device waits too; failstop against faulted tells that cost from the recoveries'.
#
# NDRIVER_BENCH_INDEP_ROUNDS (default 6) rounds of one run per mode of
# NDRIVER_BENCH_INDEP_SECS (default 8) s each per class, the order of the modes
# turning from round to round (balanced over six rounds, see ORDERS), so that drift
# over the boot hits every mode alike; bench-report.py pairs each injected run with
# the quiet run of its round, and faulted with failstop. Raw lines in
# bench-indep.txt:
#
#   indep CLASS MODE ROUND VALUE UNIT NEIGHBOUR_RECOVERIES MEASURED_RECOVERIES
#
# (CLASS nic or blk; the recoveries are those of the run). A run whose measured
# device recovered, or that gave no number, is noted in bench-indep.log.
set -u
R=${NDRIVER_RESULTS:?}
ROOT=${NDRIVER_ROOT:?}
ROUNDS=${NDRIVER_BENCH_INDEP_ROUNDS:-6}
SECS=${NDRIVER_BENCH_INDEP_SECS:-8}
PERIOD_MS=${NDRIVER_BENCH_INDEP_PERIOD_MS:-800}
OUT=$R/bench-indep.txt
LOG=$R/bench-indep.log
. "$ROOT/selftests/guest/lib.sh"
: > "$OUT"

note() {
	echo "bench-indep: $*" | tee -a "$LOG"
}

# Failing ends this part of the benchmark, not the guest.
fail() {
	note "aborted: $*"
	exit 1
}

for v in ROUNDS SECS PERIOD_MS; do
	case ${!v} in '' | *[!0-9]*) fail "NDRIVER_BENCH_INDEP_$v must be a number, not '${!v}'" ;; esac
	printf -v "$v" '%d' "$((10#${!v}))"
	[ "${!v}" -ge 1 ] || fail "NDRIVER_BENCH_INDEP_$v must be at least 1"
done
command -v netperf >/dev/null || fail "no netperf in the guest"
command -v fio >/dev/null || fail "no fio in the guest"
mapfile -t NICS < <(pci_all 0x8086 0x100e)
[ "${#NICS[@]}" -ge 2 ] || fail "the guest has ${#NICS[@]} e1000s, this needs two"

unload_all
# The C driver may hold the NICs after the C-versus-Rust runs.
for a in "${NICS[@]:0:2}"; do
	[ -e "/sys/bus/pci/devices/$a/driver" ] || continue
	echo "$a" > "/sys/bus/pci/devices/$a/driver/unbind" || fail "unbind $a from its driver"
done
DISK0=$(blk_take_disk 0) || fail "no first test disk"
DISK1=$(blk_take_disk 1) || fail "no second test disk"
insmod "$ROOT/ndriver.ko" nics=2 disks=2 || fail "insmod ndriver nics=2 disks=2"
for m in ndriver_e1000_napi ndriver_e1000_irq ndriver_vblk_a ndriver_vblk_b; do
	insmod "$ROOT/sample-drivers/$m.ko" || fail "insmod $m"
done
# The neighbours recover as often as they are faulted. The measured devices' calls get
# a deadline floor of 1 s, as in 29-many-devices and the guarded I/O runs: under TCG
# the host stalls a vCPU for hundreds of ms, which must not end their calls.
for d in nic0 ndblk0; do
	echo "restarts=1000 backoff_ms=0 calm_ms=0 floor_ns=200000000" > "$DBG/$d/policy" ||
		fail "$d policy"
done
for d in nic1 ndblk1; do
	echo "floor_ns=1000000000 ceiling_ns=2000000000" > "$DBG/$d/policy" || fail "$d policy"
done
echo "${NICS[0]}" > "$DBG/nic0/pci" || fail "attach ${NICS[0]} to nic0"
echo "${NICS[1]}" > "$DBG/nic1/pci" || fail "attach ${NICS[1]} to nic1"
echo "$DISK0" > "$DBG/ndblk0/pci" || fail "attach $DISK0 to ndblk0"
echo "$DISK1" > "$DBG/ndblk1/pci" || fail "attach $DISK1 to ndblk1"
pairs_serving
note "nic0 ${NICS[0]}, nic1 ${NICS[1]}, ndblk0 $DISK0, ndblk1 $DISK1: serving"

rec() { stat_in "$DBG/$1/stats" recoveries; }

# injector DEVICE ENTRY MODE: a fault into DEVICE's ENTRY every PERIOD_MS until
# killed, of the classes MODE names.
injector() {
	local dev=$1 entry=$2 k=0 classes
	case $3 in
	faulted) classes=(panic null div0 spin) ;;
	failstop) classes=(panic null div0) ;;
	*) return 1 ;;
	esac
	while :; do
		echo "class=${classes[k % ${#classes[@]}]} entry=$entry" > "$DBG/$dev/inject" 2>/dev/null
		k=$((k + 1))
		sleep "$(printf '%d.%03d' $((PERIOD_MS / 1000)) $((PERIOD_MS % 1000)))"
	done
}

# background CLASS: the neighbour's light traffic, until killed.
background() {
	case $1 in
	nic) exec busybox ping -q -i 0.05 10.99.0.1 > /dev/null 2>&1 ;;
	blk)
		# Killed with its dd, not after it (see run).
		trap 'kill $dd 2>/dev/null; exit 0' TERM
		while :; do
			dd if=/dev/ndblk0 of=/dev/null bs=4k count=256 iflag=direct status=none 2>/dev/null &
			dd=$!
			wait $dd
		done
		;;
	esac
}

# measure CLASS: one run on the measured device; prints "VALUE UNIT" or nothing.
measure() {
	local out
	case $1 in
	nic)
		out=$(timeout $((SECS + 30)) netperf -H 10.99.1.1 -t TCP_STREAM -l "$SECS" -P 0 -- \
			-m 16384 -o THROUGHPUT,THROUGHPUT_UNITS 2>>"$LOG" | tail -n 1)
		case $out in [0-9]*) echo "${out%%,*} ${out#*,}" ;; esac
		;;
	blk)
		out=$(timeout $((SECS + 30)) fio --name=indep --filename=/dev/ndblk1 --rw=randread \
			--bs=4k --iodepth=8 --ioengine=libaio --direct=1 --time_based --runtime="$SECS" \
			--output-format=json 2>>"$LOG" |
			python3 -c 'import json, sys; print(round(json.load(sys.stdin)["jobs"][0]["read"]["iops"], 1))' \
				2>>"$LOG")
		case $out in [0-9]*) echo "$out IOPS" ;; esac
		;;
	esac
}

# run CLASS MODE ROUND: one run, its line in $OUT.
run() {
	local class=$1 mode=$2 round=$3 nb me inj= bg val r0 m0
	case $class in
	nic) nb=nic0 me=nic1 ;;
	blk) nb=ndblk0 me=ndblk1 ;;
	esac
	r0=$(rec $nb) m0=$(rec $me)
	background "$class" &
	bg=$!
	if [ "$mode" != quiet ]; then
		case $class in
		nic) injector nic0 start_xmit "$mode" & ;;
		blk) injector ndblk0 queue_rq "$mode" & ;;
		esac
		inj=$!
	fi
	val=$(measure "$class")
	[ -z "$inj" ] || { kill "$inj"; wait "$inj" 2>/dev/null; }
	echo off > "$DBG/$nb/inject" 2>/dev/null
	kill "$bg"
	wait "$bg" 2>/dev/null
	local nr=$(($(rec $nb) - r0)) mr=$(($(rec $me) - m0))
	# A fault armed just before "off" may still fire, or a hang still run out its
	# deadline: the neighbour settles before the next run starts.
	settle "$nb"
	if [ -z "$val" ]; then
		note "$class $mode round $round: no result"
		return 0
	fi
	echo "indep $class $mode $round $val $nr $mr" >> "$OUT"
	[ "$mr" = 0 ] || note "$class $mode round $round: the measured device recovered $mr times"
}

# settle DEV: waits (up to 10 s) until DEV runs and its recoveries have not moved for
# 0.5 s, past its 200 ms deadline floor.
settle() {
	local k r last=-1 still=0
	for ((k = 0; k < 100; k++)); do
		r=$(rec "$1")
		if [ "$r" = "$last" ] && [ "$(sed -n 's/^state //p' "$DBG/$1/status")" = running ]; then
			still=$((still + 1))
			[ $still -ge 5 ] && return 0
		else
			still=0
		fi
		last=$r
		sleep 0.1
	done
	note "$1 did not settle after its run"
}

# The modes' orders, one per round in turn: over six rounds each mode runs first,
# second and last twice, and follows each other mode equally often (a Williams
# design), so that neither drift nor what the run before left behind favours a mode.
ORDERS=("quiet faulted failstop" "faulted failstop quiet" "failstop quiet faulted"
	"failstop faulted quiet" "faulted quiet failstop" "quiet failstop faulted")
((ROUNDS % 6 == 0)) || note "$ROUNDS rounds: the modes' orders balance over multiples of 6"
CLASSES="nic blk"
# The measured NIC's peer is the host's side of the second tap, which under -icount runs
# in the host's time (scripts/bench.sh boots such a guest with its own peer for the
# first NIC only): its runs are left out, and said so.
if [ "${NDRIVER_NIC_PEER:-host}" = guest ]; then
	CLASSES=blk
	note "nic: skipped (the guest was booted with its own NIC peer, for -icount; ndeth1's peer is on the host)"
fi
for class in $CLASSES; do
	for ((round = 1; round <= ROUNDS; round++)); do
		for mode in ${ORDERS[(round - 1) % 6]}; do
			run $class "$mode" $round
		done
	done
done
for d in nic0 nic1 ndblk0 ndblk1; do
	echo "$d recoveries $(rec $d)" >> "$LOG"
done
unload_all
note "done"
