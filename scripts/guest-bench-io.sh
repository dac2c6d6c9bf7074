#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Runs inside the guest for `make bench`, after scripts/guest-bench.sh: the NIC and
# the block device, each driven three ways in this one boot:
#   c           the kernel's C driver (e1000, virtio_blk; modules of the guest kernel),
#               with ndriver.ko and every ndriver_* module unloaded (no watchdog
#               hrtimer, no i6300ESB petting while C runs)
#   unguarded   the Rust driver under ndriver with policy guard=0 (no guard frame,
#               no watchdog: the framework's bypass, for measurement only)
#   guarded     the Rust driver under ndriver (the default)
#   base        with NDRIVER_BENCH_BASE_DIR (scripts/bench.sh's NDRIVER_BENCH_BASE): the
#               same, guarded, with the modules of another revision built there
#               (ndriver.ko and the drivers), in a load of its own
# NIC: netperf to the host side of the tap (10.99.0.1, netserver started by
# scripts/guest.sh; or, in a guest booted with NDRIVER_GUEST_NIC_PEER=guest, seen here
# as NDRIVER_NIC_PEER=guest, the guest's own virtio-net peer at that address,
# scripts/guest-nic-peer.sh) TCP_STREAM over a sweep of message sizes, TCP_RR, UDP_RR, and
# HTTP requests/s (wrk, else ab) against scripts/nic-peer.py, and Apache in the guest
# under the host-side client (nic-peer.py /load) at 1, 4 and 16 connections:
# requests/s and latency percentiles. Block: fio on the raw
# device, 4k random read and write at QD1 and QD32, 128k sequential read at QD32.
# NDRIVER_BENCH_IO_REPS rounds (default 5; the block device's NDRIVER_BENCH_IO_BLK_REPS
# when set), NDRIVER_BENCH_IO_SECS (default 5) s per test. In each round every test
# runs once per variant; the order of the variants turns from round to round (round 1: C, then the Rust variants unguarded before
# guarded test by test; round 2: Rust guarded-after-unguarded, then C; round 3: C,
# then guarded before unguarded; round 4: Rust guarded first, then C; and again), so
# that drift over the boot does not always favour one; each round loads the C driver
# and ndriver afresh; the base variant runs after the two Rust ones in rounds 1 and 4,
# before them in rounds 2 and 3. bench-report.py pairs the variants' runs by round.
# Raw results: bench-nic.txt ("nic VARIANT TEST SIZE VALUE UNIT ROUND", "niccpu
# VARIANT TEST SIZE PERCENT ROUND", "apache VARIANT CLIENTS REQ_PER_S P50_MS P99_MS
# FAILED ROUND"), bench-blk.txt ("blk VARIANT JOB ROUND IOPS MiB/s", "blkcpu VARIANT
# JOB ROUND US_PER_IO"), bench-order.txt
# ("order CLASS ROUND VARIANT..."), for scripts/bench-report.py. Under TCG a vCPU of a loaded host
# stalls for hundreds of ms, longer than the NIC's 200 ms deadline floor: the guarded
# runs raise the floor to 1 s so that the watchdog (still armed on every call; its
# cost does not depend on the deadline) does not recover slow calls in
# mid-measurement. Recoveries during the runs are reported (the devices' stats, one
# block per round in bench-nic-stats.txt / bench-blk-stats.txt; the base variant's in
# bench-nic-stats-base.txt / bench-blk-stats-base.txt).
# Then availability under repeated failure (MINIX 3's experiment, nDriver's swap
# test): TCP_STREAM throughput and HTTP requests through the guarded Rust driver
# while a real fault is raised in it every P seconds (NDRIVER_BENCH_FAULT_PERIODS,
# default "0 15 5 1"; 0: none), NDRIVER_BENCH_AVAIL_SECS (default 20) each, every
# faulted period twice, with warm restart (policy warm=1) and without (warm=0), the
# order alternating from period to period; the whole sequence, fault-free run
# included, NDRIVER_BENCH_AVAIL_REPS times (default 3), so that each faulted run has
# a fault-free run of its own round to be compared with; five pings a second and
# `ip monitor link` beside every run (pings lost, ndeth0's link events); raw lines
# "avail PERIOD METRIC VALUE ROUND" (warm, and the fault-free run) and
# "avail-cold PERIOD METRIC VALUE ROUND" in bench-avail.txt.
# Then what the host takes from a vCPU (ndriver's debugfs `stalls`, Documentation/
# debugfs.rst): pieces of NDRIVER_BENCH_PROBE_WORK_US (default 1000, about a warm
# recovery) with interrupts off for NDRIVER_BENCH_PROBE_SECS (default 10; 0: none)
# idle and under the availability runs' TCP stream (fault-free), in turn, AVAIL_REPS
# times; "stalls LOAD ROUND KEY=VALUE..." in bench-stalls.txt. No latency measured in
# this guest can be below what a piece of its length takes.
# NDRIVER_BENCH_MTU: the MTU of the interface under test in every variant (default
# 1500; 9000 compares jumbo frames, up to 16110, which the C e1000 and both Rust
# drivers take on this NIC).
set -u
R=${NDRIVER_RESULTS:?}
ROOT=${NDRIVER_ROOT:?}
KDIR=${NDRIVER_KDIR:?}
REPS=${NDRIVER_BENCH_IO_REPS:-5}
BLK_IO_REPS=${NDRIVER_BENCH_IO_BLK_REPS:-$REPS}
SECS=${NDRIVER_BENCH_IO_SECS:-5}
SIZES=${NDRIVER_BENCH_MSG_SIZES:-1 64 256 1024 4096 16384}
PERIODS=${NDRIVER_BENCH_FAULT_PERIODS:-0 15 5 1}
ASECS=${NDRIVER_BENCH_AVAIL_SECS:-20}
AREPS=${NDRIVER_BENCH_AVAIL_REPS:-3}
MTU=${NDRIVER_BENCH_MTU:-1500}
PROBE_SECS=${NDRIVER_BENCH_PROBE_SECS:-10}
PROBE_WORK_US=${NDRIVER_BENCH_PROBE_WORK_US:-1000}
CLIENTS=${NDRIVER_BENCH_APACHE_CLIENTS:-1 4 16}
BASE=${NDRIVER_BENCH_BASE_DIR:-}
WWW=/tmp/ndriver-bench-www
AVAILTXT=$R/bench-avail.txt
. "$ROOT/scripts/apache-site.sh"
D=/sys/kernel/debug/ndriver
NIC=$D/nic0
BD=$D/ndblk0
PEER=10.99.0.1
NICTXT=$R/bench-nic.txt
BLKTXT=$R/bench-blk.txt
ORDERTXT=$R/bench-order.txt
: > "$NICTXT"
: > "$BLKTXT"
: > "$AVAILTXT"
: > "$ORDERTXT"
: > "$R/bench-nic-stats.txt"
: > "$R/bench-blk-stats.txt"

note() {
	echo "bench-io: $*" | tee -a "$R/bench-io.log"
}

# kmod NAME PATH: loads a module of the guest kernel (modprobe, else the built file).
kmod() {
	modprobe "$1" 2>/dev/null || insmod "$KDIR/$2"
}

loaded() {
	grep -q "^$1 " /proc/modules
}

# unload_ndriver: removes every ndriver_* module, then ndriver.ko (its per-CPU watchdog
# hrtimers and the i6300ESB's petting go with it): the C driver runs without them.
unload_ndriver() {
	local m
	for m in $(awk '$1 ~ /^ndriver_/ { print $1 }' /proc/modules) ndriver; do
		if loaded "$m"; then
			rmmod "$m" || { note "rmmod $m failed"; return 1; }
		fi
	done
	return 0
}

pci_find() {
	local d
	for d in /sys/bus/pci/devices/*; do
		if [ "$(cat "$d/vendor")" = "$1" ] && [ "$(cat "$d/device")" = "$2" ]; then
			basename "$d"
			return 0
		fi
	done
	return 1
}

# net_up IF: addresses IF and waits for its carrier and the peer.
net_up() {
	local i
	ip link set "$1" mtu "$MTU" || return 1
	ip link set "$1" up || return 1
	ip addr replace 10.99.0.2/24 dev "$1" || return 1
	for i in $(seq 100); do
		[ "$(cat "/sys/class/net/$1/carrier" 2>/dev/null)" = 1 ] && break
		sleep 0.1
	done
	for i in $(seq 20); do
		busybox ping -q -c 1 -W 1 $PEER >/dev/null 2>&1 && return 0
	done
	return 1
}

# order ROUND: the variants of round ROUND in the order they run. The two Rust variants
# share one load of ndriver and alternate test by test; C runs before or after them,
# base (when there is one) before or after them too, the other way round every two
# rounds.
order() {
	local o
	case $((($1 - 1) % 4)) in
	0) o="c unguarded guarded base" ;;
	1) o="base unguarded guarded c" ;;
	2) o="c base guarded unguarded" ;;
	3) o="guarded unguarded base c" ;;
	esac
	[ -n "$BASE" ] || o=${o//base/}
	# shellcheck disable=SC2086 # unquoted: the words without the gap of base
	echo $o
}

# rounds KIND WHAT C_RUN RUST_RUN C_DRIVER RUST_DRIVER: $REPS rounds of the variants in
# the order order() gives each (C with ndriver unloaded; both Rust variants in one load
# of ndriver, where the first of them is; base in a load of the base revision's
# modules, $KO and $SFX pointing RUST_RUN at them), each round's order kept in
# $ORDERTXT. Every load of ndriver starts with none of its modules loaded.
rounds() {
	local kind=$1 what=$2 c_run=$3 rust_run=$4 c_drv=$5 rust_drv=$6 rep v vs rust
	for rep in $(seq "$REPS"); do
		read -ra vs <<< "$(order "$rep")"
		rust=()
		for v in "${vs[@]}"; do
			case $v in c | base) ;; *) rust+=("$v") ;; esac
		done
		echo "order $kind $rep ${vs[*]}" >> "$ORDERTXT"
		note "$what round $rep of $REPS: ${vs[*]}"
		for v in "${vs[@]}"; do
			case $v in
			c) "$c_run" "$rep" || note "$what round $rep: C $c_drv failed" ;;
			base)
				{ unload_ndriver && KO=$BASE SFX=-base "$rust_run" "$rep" base; } ||
					note "$what round $rep: Rust $rust_drv of the base revision failed"
				;;
			"${rust[0]}")
				{ unload_ndriver && "$rust_run" "$rep" "${rust[@]}"; } ||
					note "$what round $rep: Rust $rust_drv failed"
				;;
			esac
		done
	done
}

# nperf VARIANT TEST SIZE ROUND: one netperf run; appends "nic VARIANT TEST SIZE VALUE
# UNIT ROUND" and the guest's CPU utilisation, "niccpu VARIANT TEST SIZE PERCENT ROUND".
nperf() {
	local v=$1 t=$2 s=$3 rep=$4 out val unit cpu extra=()
	[ "$s" = - ] || extra=(-m "$s")
	out=$(timeout $((SECS + 30)) netperf -H $PEER -t "$t" -l "$SECS" -P 0 -c -- \
		"${extra[@]}" -o THROUGHPUT,THROUGHPUT_UNITS,LOCAL_CPU_UTIL 2>>"$R/bench-io.log" |
		tail -n 1)
	IFS=, read -r val unit cpu <<< "$out"
	case $val in
	[0-9]*)
		echo "nic $v $t $s $val $unit $rep" >> "$NICTXT"
		case $cpu in [0-9]*) echo "niccpu $v $t $s $cpu $rep" >> "$NICTXT" ;; esac
		;;
	*) note "netperf $t $s on $v round $rep: no result ($out)" ;;
	esac
}

# Apache in the guest on port 8080 of every address (the interface under test
# changes between variants).
apache_start() {
	apache_site $WWW "$R/peer/bench-pages" 8080 2>>"$R/bench-io.log"
}

apache_stop() {
	apache_site_stop $WWW
}

# apache VARIANT ROUND: the host-side client fetches the page set from Apache in the
# guest with 1, 4 and 16 keep-alive connections (NDRIVER_BENCH_APACHE_CLIENTS);
# appends "apache VARIANT CLIENTS REQ_PER_S P50_MS P99_MS FAILED ROUND".
apache() {
	local v=$1 rep=$2 c out
	[ -f $WWW/conf/httpd.pid ] || return 0
	for c in $CLIENTS; do
		out=$(curl -sf --max-time $((SECS + 60)) \
			"http://$PEER:8099/load?host=10.99.0.2&port=8080&set=bench-pages&secs=$SECS&conns=$c" |
			python3 -c 'import json, sys
r = json.load(sys.stdin)
print(round(r["ok"] / r["secs"], 2), r["p50_ms"], r["p99_ms"], r["failed"])' 2>>"$R/bench-io.log")
		if [ -n "$out" ]; then
			echo "apache $v $c $out $rep" >> "$NICTXT"
		else
			note "apache with $c clients on $v round $rep: no result"
		fi
	done
}

# http VARIANT ROUND: HTTP GETs of a 1 KiB file from nic-peer.py, requests per second.
http() {
	local v=$1 rep=$2 rps=
	if command -v wrk >/dev/null; then
		rps=$(timeout $((SECS + 30)) wrk -t 1 -c 4 -d "${SECS}s" "http://$PEER:8099/bench-1k" \
			2>>"$R/bench-io.log" | awk '/^Requests\/sec:/ { print $2 }')
		[ -z "$rps" ] || echo "nic $v http_wrk - $rps req/s $rep" >> "$NICTXT"
	elif command -v ab >/dev/null; then
		rps=$(timeout $((SECS + 30)) ab -q -c 4 -t "$SECS" -n 1000000 "http://$PEER:8099/bench-1k" \
			2>>"$R/bench-io.log" | awk '/^Requests per second:/ { print $4 }')
		[ -z "$rps" ] || echo "nic $v http_ab - $rps req/s $rep" >> "$NICTXT"
	fi
	[ -n "$rps" ] || note "http on $v round $rep: no result"
}

# nic_tests ROUND VARIANT...: every NIC test once; with two variants (the Rust ones)
# the policy flips between them before each test.
nic_tests() {
	local rep=$1 t s v
	shift
	for s in $SIZES; do
		for v in "$@"; do
			rust_guard "$v"
			nperf "$v" TCP_STREAM "$s" "$rep"
		done
	done
	for t in TCP_RR UDP_RR; do
		for v in "$@"; do
			rust_guard "$v"
			nperf "$v" $t - "$rep"
		done
	done
	for v in "$@"; do
		rust_guard "$v"
		http "$v" "$rep"
	done
	for v in "$@"; do
		rust_guard "$v"
		apache "$v" "$rep"
	done
}

# rust_guard VARIANT: sets the policy of the Rust device under test (RUST_DEV).
rust_guard() {
	case $1 in
	unguarded) echo "guard=0" > "$RUST_DEV/policy" ;;
	guarded | base) echo "guard=1" > "$RUST_DEV/policy" ;;
	esac
}

# nic_stat NAME: a counter from nic0's stats.
nic_stat() {
	awk -v k="$1" '$1 == k && NF == 2 { print $2 }' "$NIC/stats"
}

# injector PERIOD: every PERIOD seconds arms one real fault in the running driver,
# rotating through classes and data-path entry points, until killed.
injector() {
	local p=$1 n=0 classes=(panic null div0 spin) entries=(poll start_xmit devirq)
	while sleep "$p"; do
		echo "class=${classes[n % 4]} entry=${entries[n % 3]}" > "$NIC/inject"
		n=$((n + 1))
	done
}

# avail: TCP throughput and HTTP success with a fault every P seconds, P in PERIODS,
# each faulted P with warm restart and without, AREPS rounds.
avail() {
	local p level levels n rnd periods i
	read -ra periods <<< "$PERIODS"
	for rnd in $(seq 1 "$AREPS"); do
		# The periods' order turns by one from round to round (the fault-free run
		# included), and warm and cold swap from period to period and round to round.
		n=$((rnd - 1))
		for i in "${!periods[@]}"; do
			p=${periods[$(((i + rnd - 1) % ${#periods[@]}))]}
			levels="warm cold"
			[ $((n % 2)) = 1 ] && levels="cold warm"
			[ "$p" = 0 ] && levels=warm
			n=$((n + 1))
			for level in $levels; do
				avail_run "$p" "$level" "$rnd"
			done
		done
	done
	echo "warm=1" > "$NIC/policy"
}

# avail_run PERIOD LEVEL ROUND: one availability run, a fault every PERIOD seconds
# (0: none), recoveries warm where they can be (LEVEL warm) or always cold (cold).
avail_run() {
	local p=$1 level=$2 rnd=$3 tag=avail inj r0 out reqs non2xx sockerr png mon tx rx
	if [ "$level" = cold ]; then
		tag=avail-cold
		echo "warm=0" > "$NIC/policy"
	else
		echo "warm=1" > "$NIC/policy"
	fi
	r0=$(nic_stat recoveries)
	# Five pings a second and the link's events across the run: what a recovery costs
	# a latency-bound flow beside the stream, and whether the link went down. As many
	# pings as the two runs' seconds allow: ping ends by itself (waiting 2 s for the
	# last answers) rather than being stopped with answers in flight.
	busybox ping -q -i 0.2 -W 2 -c $((ASECS * 2 * 5)) "$PEER" > "$R/avail-ping.txt" 2>&1 &
	png=$!
	ip monitor link > "$R/avail-link.txt" 2>&1 &
	mon=$!
	sleep 0.5
	inj=
	if [ "$p" != 0 ]; then
		injector "$p" &
		inj=$!
	fi
	out=$(timeout $((ASECS + 30)) netperf -H $PEER -t TCP_STREAM -l "$ASECS" -P 0 -- \
		-o THROUGHPUT 2>>"$R/bench-io.log" | tail -n 1)
	case $out in
	[0-9]*) echo "$tag $p tcp_mbit_s $out $rnd" >> "$AVAILTXT" ;;
	*) note "availability TCP run ($level) with a fault every ${p}s: no result ($out)" ;;
	esac
	if command -v wrk >/dev/null; then
		out=$(timeout $((ASECS + 30)) wrk -t 1 -c 4 -d "${ASECS}s" --timeout 5s \
			"http://$PEER:8099/bench-1k" 2>>"$R/bench-io.log")
		reqs=$(echo "$out" | awk '/requests in/ { print $1 }')
		non2xx=$(echo "$out" | awk -F': ' '/Non-2xx/ { print $2 }')
		sockerr=$(echo "$out" | awk '/Socket errors/ { gsub(",", ""); print $4 + $6 + $8 + $10 }')
		if [ -n "$reqs" ]; then
			echo "$tag $p http_requests $reqs $rnd" >> "$AVAILTXT"
			echo "$tag $p http_failed $(( ${non2xx:-0} + ${sockerr:-0} )) $rnd" >> "$AVAILTXT"
		else
			note "availability HTTP run ($level) with a fault every ${p}s: no result"
		fi
	fi
	[ -n "$inj" ] && { kill "$inj"; wait "$inj" 2>/dev/null; }
	echo off > "$NIC/inject"
	sleep 2
	wait "$png" 2>/dev/null
	# busybox: "N packets transmitted, M packets received"; iputils: "..., M received".
	read -r tx rx < <(sed -n 's/^\([0-9]*\) packets transmitted, \([0-9]*\) \(packets \)\{0,1\}received.*/\1 \2/p' "$R/avail-ping.txt")
	if [ -n "$tx" ] && [ -n "$rx" ]; then
		echo "$tag $p pings_sent $tx $rnd" >> "$AVAILTXT"
		echo "$tag $p pings_lost $((tx - rx)) $rnd" >> "$AVAILTXT"
	else
		note "availability run ($level) with a fault every ${p}s: no ping counts ($(tail -n 2 "$R/avail-ping.txt" | tr '\n' ' '))"
	fi
	# Only a monitor that ran the whole time can say there was no event.
	if kill -0 "$mon" 2>/dev/null; then
		kill "$mon" 2>/dev/null
		wait "$mon" 2>/dev/null
		echo "$tag $p link_events $(grep -c 'ndeth0' "$R/avail-link.txt") $rnd" >> "$AVAILTXT"
	else
		note "availability run ($level) with a fault every ${p}s: ip monitor ended early ($(head -n 2 "$R/avail-link.txt" | tr '\n' ' '))"
	fi
	echo "$tag $p recoveries $(( $(nic_stat recoveries) - r0 )) $rnd" >> "$AVAILTXT"
	echo "$tag $p secs $((ASECS * 2)) $rnd" >> "$AVAILTXT"
	cat "$NIC/recoveries" >> "$R/bench-nic-recoveries.txt"
}

# stall_probe LOAD ROUND: one run of the stall probe, the guest idle (LOAD idle) or
# under a fault-free TCP stream through ndeth0 (stream).
# The stream's throughput goes on its line (tcp_mbit_s=): a stream run without it did
# not run under the stream, and bench-report.py leaves it out.
stall_probe() {
	local load=$1 rnd=$2 np= out tcp=
	if [ "$load" = stream ]; then
		timeout $((PROBE_SECS + 30)) netperf -H $PEER -t TCP_STREAM -l $((PROBE_SECS + 4)) \
			-P 0 -- -o THROUGHPUT > "$R/stall-stream.txt" 2>>"$R/bench-io.log" &
		np=$!
		sleep 2
	fi
	if echo "$PROBE_SECS $PROBE_WORK_US" > "$D/stalls"; then
		out=$(cat "$D/stalls")
	else
		out=
		note "stall probe ($load, round $rnd) failed: $PROBE_SECS s of $PROBE_WORK_US us"
	fi
	if [ -n "$np" ]; then
		wait "$np"
		tcp=$(tail -n 1 "$R/stall-stream.txt")
		case $tcp in
		[0-9]*) out="$out tcp_mbit_s=${tcp%%.*}" ;;
		*) note "stall probe (stream, round $rnd): netperf gave no result" ;;
		esac
	fi
	[ -z "$out" ] || echo "stalls $load $rnd $out" >> "$R/bench-stalls.txt"
}

# stall_probes: the stall probe idle and under the stream in turn (the first load
# turning from round to round), AREPS rounds.
stall_probes() {
	local rnd
	: > "$R/bench-stalls.txt"
	[ "$PROBE_SECS" != 0 ] || return 0
	for rnd in $(seq 1 "$AREPS"); do
		if [ $((rnd % 2)) = 1 ]; then
			stall_probe idle "$rnd"
			stall_probe stream "$rnd"
		else
			stall_probe stream "$rnd"
			stall_probe idle "$rnd"
		fi
	done
}

# nic_c ROUND: the C e1000 (ndriver unloaded): every test, then TCP_STREAM again
# without offloads (segmentation, scatter-gather, checksum): what they are worth to
# the C driver, against which the Rust one's (e1000-napi has the same three; before
# 2026-12-06 it had none) can be read.
nic_c() {
	local rep=$1 ifc s
	unload_ndriver || return 1
	kmod e1000 drivers/net/ethernet/intel/e1000/e1000.ko || { note "C e1000 module did not load"; return 1; }
	ifc=$(find "/sys/bus/pci/devices/$E1000/net" -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null | head -n 1)
	if [ -n "$ifc" ] && net_up "$ifc"; then
		RUST_DEV=
		nic_tests "$rep" c
		if ethtool -K "$ifc" tso off sg off tx off 2>>"$R/bench-io.log"; then
			for s in $SIZES; do
				nperf c_nooffload TCP_STREAM "$s" "$rep"
			done
		else
			note "C e1000: offloads could not be turned off"
		fi
	else
		note "C e1000: no interface or no peer"
	fi
	rmmod e1000
}

# nic_rust_up: ndriver and both e1000 implementations loaded (from $KO), nic0 attached
# to the e1000 and ndeth0 up, deadline floor 1 s.
nic_rust_up() {
	loaded e1000 && rmmod e1000
	if ! loaded ndriver; then
		insmod "$KO/ndriver.ko" || { note "insmod ndriver failed"; return 1; }
	fi
	insmod "$KO/sample-drivers/ndriver_e1000_napi.ko" || return 1
	insmod "$KO/sample-drivers/ndriver_e1000_irq.ko" || return 1
	echo "restarts=1000 backoff_ms=0 calm_ms=0 floor_ns=1000000000 ceiling_ns=2000000000" > "$NIC/policy"
	echo "$E1000" > "$NIC/pci" || { note "attaching $E1000 to nic0 failed"; return 1; }
	net_up ndeth0 || { note "ndeth0: no carrier or no peer"; return 1; }
	RUST_DEV=$NIC
}

nic_rust_down() {
	ip link set ndeth0 down 2>/dev/null
	echo none > "$NIC/pci" 2>/dev/null
	RUST_DEV=
	unload_ndriver
}

# nic_rust ROUND VARIANT...: the Rust variants in this order, test by test.
nic_rust() {
	local rep=$1
	shift
	nic_rust_up || { nic_rust_down; return 1; }
	[ "$rep" != 1 ] || note "ndeth0 served by $(ethtool -i ndeth0 | sed -n 's/^version: //p')${SFX:+ (base)}"
	nic_tests "$rep" "$@"
	echo "guard=1" > "$NIC/policy"
	{ echo "round $rep"; cat "$NIC/stats"; } >> "$R/bench-nic-stats$SFX.txt"
	nic_rust_down
}

bench_nic() {
	local rep v vs rust
	command -v netperf >/dev/null || { note "no netperf: NIC benchmark skipped"; return 0; }
	E1000=$(pci_find 0x8086 0x100e) || { note "no e1000: NIC benchmark skipped"; return 0; }
	head -c 1024 /dev/urandom > "$R/peer/bench-1k"
	apache_start || note "no Apache in the guest: Apache benchmark skipped"

	rounds nic NIC nic_c nic_rust e1000 e1000

	note "NIC: availability under repeated failure (Rust e1000, guarded)"
	{ unload_ndriver && nic_rust_up; } || { nic_rust_down; apache_stop; return 1; }
	echo "guard=1" > "$NIC/policy"
	# The injected faults need the data-path deadline back at its default (a spin).
	echo "floor_ns=200000000 ceiling_ns=500000000" > "$NIC/policy"
	: > "$R/bench-nic-recoveries.txt"
	avail
	note "NIC: what the host takes from a vCPU, idle and under the stream (stall probe)"
	stall_probes
	apache_stop
	nic_rust_down
}

# cpu_busy: "BUSY UPTIME": the guest's busy time so far, summed over its CPUs, in
# USER_HZ ticks (user nice system irq softirq steal, as the periodic tick samples
# them), and its uptime in seconds.
cpu_busy() {
	awk '/^cpu / { printf "%d ", $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat
	cut -d' ' -f1 /proc/uptime
}

# fio_job VARIANT DEV JOB REP: one fio run on the raw device; appends
# "blk VARIANT JOB REP IOPS MiB/s" (read or write side, whichever the job does) and
# "blkcpu VARIANT JOB REP US_PER_IO": the guest's busy time over every vCPU per request,
# between 1 s into the run and 1 s before its end (fio's start and exit left out), the
# requests counted as the run's IOPS times that window; runs shorter than 3 s give none
# (Documentation/evaluation.rst, "The disk under icount").
fio_job() {
	local v=$1 dev=$2 job=$3 rep=$4 rw bs qd out pid b0 t0 b1 t1 tmp=$R/fio-job.out
	case $job in
	randread-qd1) rw=randread bs=4 qd=1 ;;
	randread-qd32) rw=randread bs=4 qd=32 ;;
	randwrite-qd1) rw=randwrite bs=4 qd=1 ;;
	randwrite-qd32) rw=randwrite bs=4 qd=32 ;;
	seqread-128k) rw=read bs=128 qd=32 ;;
	esac
	timeout $((SECS + 60)) fio --name=bench --filename="$dev" --rw=$rw --bs=${bs}k \
		--iodepth=$qd --ioengine=libaio --direct=1 --runtime="$SECS" --time_based \
		--size=256M --randrepeat=0 --norandommap --output-format=terse \
		--terse-version=3 > "$tmp" 2>>"$R/bench-io.log" &
	pid=$!
	b0= b1=
	if [ "$SECS" -ge 3 ]; then
		sleep 1
		read -r b0 t0 <<< "$(cpu_busy)"
		sleep $((SECS - 2))
		read -r b1 t1 <<< "$(cpu_busy)"
	fi
	wait $pid || true
	out=$(cat "$tmp")
	rm -f "$tmp"
	# Terse v3: 5 error, 7/8 read KiB/s and IOPS; 48/49 the same for writes.
	echo "$out" | awk -F';' -v v="$v" -v j="$job" -v r="$rep" -v rw="$rw" \
		-v busy=$((${b1:-0} - ${b0:-0})) -v secs="$(awk -v a="${t0:-0}" -v b="${t1:-0}" 'BEGIN { print b - a }')" \
		-v hz="$(getconf CLK_TCK)" '
		/^3;/ && $5 == 0 {
			if (rw ~ /write/) { iops = $49; kib = $48 } else { iops = $8; kib = $7 }
			printf "blk %s %s %s %s %.2f\n", v, j, r, iops, kib / 1024
			if (iops > 0 && secs > 0 && hz > 0)
				printf "blkcpu %s %s %s %.3f\n", v, j, r, busy * 1e6 / hz / (iops * secs)
		}' >> "$BLKTXT"
	grep -q "^blk $v $job $rep " "$BLKTXT" || note "fio $job on $v round $rep: no result"
}

JOBS="randwrite-qd1 randwrite-qd32 randread-qd1 randread-qd32 seqread-128k"

# blk_tests DEV ROUND VARIANT...: every job once per variant, the policy flipping
# between the Rust variants before each job.
blk_tests() {
	local dev=$1 rep=$2 job v
	shift 2
	for job in $JOBS; do
		for v in "$@"; do
			rust_guard "$v"
			fio_job "$v" "$dev" "$job" "$rep"
		done
	done
}

# blk_c ROUND: C virtio_blk on the test disk (ndriver unloaded; the disk handed back
# to virtio-pci if ndblk0 had it).
blk_c() {
	local rep=$1 i b vd=
	unload_ndriver || return 1
	if [ ! -e "$DISK/driver" ]; then
		echo > "$DISK/driver_override"
		echo "$VBLK" > /sys/bus/pci/drivers_probe 2>/dev/null
		[ -e "$DISK/driver" ] || { note "$VBLK: virtio-pci did not take it back"; return 1; }
	fi
	kmod virtio_blk drivers/block/virtio_blk.ko || { note "C virtio_blk module did not load"; return 1; }
	for i in $(seq 50); do
		for b in /sys/block/vd*; do
			[ "$(cat "$b/serial" 2>/dev/null)" = ndriver-test ] && vd=/dev/${b##*/}
		done
		[ -n "$vd" ] && break
		sleep 0.1
	done
	if [ -n "$vd" ]; then
		RUST_DEV=
		blk_tests "$vd" "$rep" c
	else
		note "C virtio_blk: no disk with serial ndriver-test"
	fi
	rmmod virtio_blk
}

# blk_rust ROUND VARIANT...: the disk taken from virtio-pci and given to ndblk0 (vblk-a
# and vblk-b loaded), the Rust variants in this order, job by job.
blk_rust() {
	local rep=$1 i
	shift
	loaded virtio_blk && rmmod virtio_blk
	echo ndriver-none > "$DISK/driver_override"
	[ ! -e "$DISK/driver" ] || echo "$VBLK" > "$DISK/driver/unbind"
	if ! loaded ndriver; then
		insmod "$KO/ndriver.ko" || { note "insmod ndriver failed"; return 1; }
	fi
	insmod "$KO/sample-drivers/ndriver_vblk_a.ko" || { unload_ndriver; return 1; }
	insmod "$KO/sample-drivers/ndriver_vblk_b.ko" || { unload_ndriver; return 1; }
	echo "restarts=1000 backoff_ms=0 calm_ms=0 floor_ns=1000000000 ceiling_ns=2000000000" > "$BD/policy"
	echo "$VBLK" > "$BD/pci" || { note "attaching $VBLK to ndblk0 failed"; unload_ndriver; return 1; }
	for i in $(seq 100); do
		[ -b /dev/ndblk0 ] && break
		sleep 0.1
	done
	[ -b /dev/ndblk0 ] || { note "no /dev/ndblk0"; unload_ndriver; return 1; }
	[ "$rep" != 1 ] || note "ndblk0 served by $(sed -n 's/^implementation //p' "$BD/status")${SFX:+ (base)}"
	RUST_DEV=$BD
	blk_tests /dev/ndblk0 "$rep" "$@"
	echo "guard=1" > "$BD/policy"
	{ echo "round $rep"; cat "$BD/stats"; } >> "$R/bench-blk-stats$SFX.txt"
	echo none > "$BD/pci"
	RUST_DEV=
	unload_ndriver
}

bench_blk() {
	local rep v vs rust
	command -v fio >/dev/null || { note "no fio: block benchmark skipped"; return 0; }
	VBLK=$(pci_find 0x1af4 0x1001) || { note "no virtio-blk: block benchmark skipped"; return 0; }
	DISK=/sys/bus/pci/devices/$VBLK

	REPS=$BLK_IO_REPS rounds blk block blk_c blk_rust virtio_blk virtio-blk
}

RUST_DEV=
E1000=
VBLK=
DISK=
# The modules the Rust runs load and the suffix of their stats files: this tree's, or
# the base revision's for the variant base (rounds()).
KO=$ROOT
SFX=
if [ -n "$BASE" ] && [ ! -f "$BASE/ndriver.ko" ]; then
	note "no $BASE/ndriver.ko: the base variant left out"
	BASE=
fi
note "guest: $(nproc) CPUs, clocksource $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource 2>/dev/null)"
unload_ndriver || note "ndriver could not be unloaded before the C runs"
bench_nic || note "NIC benchmark failed"
bench_blk || note "block benchmark failed"
echo "done" > "$R/bench-io-done"
