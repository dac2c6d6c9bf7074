#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Runs inside the guest for `make bench`, after scripts/guest-bench.sh loaded ndriver:
# the NIC and the block device, each driven three ways in this one boot:
#   c           the kernel's C driver (e1000, virtio_blk; modules of the guest kernel)
#   unguarded   the Rust driver under ndriver with policy guard=0 (no guard frame,
#               no watchdog: the framework's bypass, for measurement only)
#   guarded     the Rust driver under ndriver (the default)
# NIC: netperf to the host side of the tap (10.99.0.1, netserver started by
# scripts/guest.sh) TCP_STREAM over a sweep of message sizes, TCP_RR, UDP_RR, and
# HTTP requests/s (wrk, else ab) against scripts/nic-peer.py, and Apache in the guest
# under the host-side client (nic-peer.py /load) at 1, 4 and 16 connections:
# requests/s and latency percentiles. Block: fio on the raw
# device, 4k random read and write at QD1 and QD32, 128k sequential read at QD32.
# The two Rust variants alternate test by test (only the policy changes); each test
# runs NDRIVER_BENCH_IO_REPS times (default 1). Raw results: bench-nic.txt
# ("nic VARIANT TEST SIZE VALUE UNIT" lines) and bench-blk.txt ("blk VARIANT JOB REP
# IOPS MiB/s"), for scripts/bench-report.py. Under TCG a vCPU of a loaded host stalls
# for hundreds of ms, longer than the NIC's 200 ms deadline floor: the guarded runs
# raise the floor to 1 s so that the watchdog (still armed on every call; its cost
# does not depend on the deadline) does not recover slow calls in mid-measurement.
# Recoveries during the runs are reported (the devices' stats).
# Then availability under repeated failure (MINIX 3's experiment, nDriver's swap
# test): TCP_STREAM throughput and HTTP requests through the guarded Rust driver
# while a real fault is raised in it every P seconds (NDRIVER_BENCH_FAULT_PERIODS,
# default "0 15 5 1"; 0: none), NDRIVER_BENCH_AVAIL_SECS (default 30) each; raw
# lines "avail PERIOD METRIC VALUE" in bench-avail.txt.
set -u
R=${NDRIVER_RESULTS:?}
ROOT=${NDRIVER_ROOT:?}
KDIR=${NDRIVER_KDIR:?}
REPS=${NDRIVER_BENCH_IO_REPS:-1}
SECS=${NDRIVER_BENCH_IO_SECS:-5}
SIZES=${NDRIVER_BENCH_MSG_SIZES:-1 64 256 1024 4096 16384}
PERIODS=${NDRIVER_BENCH_FAULT_PERIODS:-0 15 5 1}
ASECS=${NDRIVER_BENCH_AVAIL_SECS:-30}
CLIENTS=${NDRIVER_BENCH_APACHE_CLIENTS:-1 4 16}
WWW=/tmp/ndriver-bench-www
AVAILTXT=$R/bench-avail.txt
. "$ROOT/scripts/apache-site.sh"
D=/sys/kernel/debug/ndriver
NIC=$D/nic0
BD=$D/ndblk0
PEER=10.99.0.1
NICTXT=$R/bench-nic.txt
BLKTXT=$R/bench-blk.txt
: > "$NICTXT"
: > "$BLKTXT"
: > "$AVAILTXT"

note() {
	echo "bench-io: $*" | tee -a "$R/bench-io.log"
}

# kmod NAME PATH: loads a module of the guest kernel (modprobe, else the built file).
kmod() {
	modprobe "$1" 2>/dev/null || insmod "$KDIR/$2"
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
	ip link set "$1" up || return 1
	ip addr add 10.99.0.2/24 dev "$1" || return 1
	for i in $(seq 100); do
		[ "$(cat "/sys/class/net/$1/carrier" 2>/dev/null)" = 1 ] && break
		sleep 0.1
	done
	for i in $(seq 20); do
		busybox ping -q -c 1 -W 1 $PEER >/dev/null 2>&1 && return 0
	done
	return 1
}

# nperf VARIANT TEST SIZE: one netperf run; appends "nic VARIANT TEST SIZE VALUE UNIT"
# and the guest's CPU utilisation, "niccpu VARIANT TEST SIZE PERCENT".
nperf() {
	local v=$1 t=$2 s=$3 out val unit cpu extra=()
	[ "$s" = - ] || extra=(-m "$s")
	out=$(timeout $((SECS + 30)) netperf -H $PEER -t "$t" -l "$SECS" -P 0 -c -- \
		"${extra[@]}" -o THROUGHPUT,THROUGHPUT_UNITS,LOCAL_CPU_UTIL 2>>"$R/bench-io.log" |
		tail -n 1)
	IFS=, read -r val unit cpu <<< "$out"
	case $val in
	[0-9]*)
		echo "nic $v $t $s $val $unit" >> "$NICTXT"
		case $cpu in [0-9]*) echo "niccpu $v $t $s $cpu" >> "$NICTXT" ;; esac
		;;
	*) note "netperf $t $s on $v: no result ($out)" ;;
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

# apache VARIANT: the host-side client fetches the page set from Apache in the guest
# with 1, 4 and 16 keep-alive connections (NDRIVER_BENCH_APACHE_CLIENTS); appends
# "apache VARIANT CLIENTS REQ_PER_S P50_MS P99_MS FAILED".
apache() {
	local v=$1 c out
	[ -f $WWW/conf/httpd.pid ] || return 0
	for c in $CLIENTS; do
		out=$(curl -sf --max-time $((SECS + 60)) \
			"http://$PEER:8099/load?host=10.99.0.2&port=8080&set=bench-pages&secs=$SECS&conns=$c" |
			python3 -c 'import json, sys
r = json.load(sys.stdin)
print(round(r["ok"] / r["secs"], 2), r["p50_ms"], r["p99_ms"], r["failed"])' 2>>"$R/bench-io.log")
		if [ -n "$out" ]; then
			echo "apache $v $c $out" >> "$NICTXT"
		else
			note "apache with $c clients on $v: no result"
		fi
	done
}

# http VARIANT: HTTP GETs of a 1 KiB file from nic-peer.py, requests per second.
http() {
	local v=$1 rps=
	if command -v wrk >/dev/null; then
		rps=$(timeout $((SECS + 30)) wrk -t 1 -c 4 -d "${SECS}s" "http://$PEER:8099/bench-1k" \
			2>>"$R/bench-io.log" | awk '/^Requests\/sec:/ { print $2 }')
		[ -z "$rps" ] || echo "nic $v http_wrk - $rps req/s" >> "$NICTXT"
	elif command -v ab >/dev/null; then
		rps=$(timeout $((SECS + 30)) ab -q -c 4 -t "$SECS" -n 1000000 "http://$PEER:8099/bench-1k" \
			2>>"$R/bench-io.log" | awk '/^Requests per second:/ { print $4 }')
		[ -z "$rps" ] || echo "nic $v http_ab - $rps req/s" >> "$NICTXT"
	fi
	[ -n "$rps" ] || note "http on $v: no result"
}

# nic_tests VARIANT...: every NIC test once per repetition; with two variants (the
# Rust ones) the policy flips between them before each test.
nic_tests() {
	local rep t s v
	for rep in $(seq "$REPS"); do
		for s in $SIZES; do
			for v in "$@"; do
				rust_guard "$v"
				nperf "$v" TCP_STREAM "$s"
			done
		done
		for t in TCP_RR UDP_RR; do
			for v in "$@"; do
				rust_guard "$v"
				nperf "$v" $t -
			done
		done
		for v in "$@"; do
			rust_guard "$v"
			http "$v"
		done
		for v in "$@"; do
			rust_guard "$v"
			apache "$v"
		done
	done
}

# rust_guard VARIANT: sets the policy of the Rust device under test (RUST_DEV).
rust_guard() {
	case $1 in
	unguarded) echo "guard=0" > "$RUST_DEV/policy" ;;
	guarded) echo "guard=1" > "$RUST_DEV/policy" ;;
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

# avail: TCP throughput and HTTP success with a fault every P seconds, P in PERIODS.
avail() {
	local p inj r0 f0 out reqs non2xx sockerr
	for p in $PERIODS; do
		r0=$(nic_stat recoveries)
		inj=
		if [ "$p" != 0 ]; then
			injector "$p" &
			inj=$!
		fi
		out=$(timeout $((ASECS + 30)) netperf -H $PEER -t TCP_STREAM -l "$ASECS" -P 0 -- \
			-o THROUGHPUT 2>>"$R/bench-io.log" | tail -n 1)
		case $out in
		[0-9]*) echo "avail $p tcp_mbit_s $out" >> "$AVAILTXT" ;;
		*) note "availability TCP run with a fault every ${p}s: no result ($out)" ;;
		esac
		if command -v wrk >/dev/null; then
			out=$(timeout $((ASECS + 30)) wrk -t 1 -c 4 -d "${ASECS}s" --timeout 5s \
				"http://$PEER:8099/bench-1k" 2>>"$R/bench-io.log")
			reqs=$(echo "$out" | awk '/requests in/ { print $1 }')
			non2xx=$(echo "$out" | awk -F': ' '/Non-2xx/ { print $2 }')
			sockerr=$(echo "$out" | awk '/Socket errors/ { gsub(",", ""); print $4 + $6 + $8 + $10 }')
			if [ -n "$reqs" ]; then
				echo "avail $p http_requests $reqs" >> "$AVAILTXT"
				echo "avail $p http_failed $(( ${non2xx:-0} + ${sockerr:-0} ))" >> "$AVAILTXT"
			else
				note "availability HTTP run with a fault every ${p}s: no result"
			fi
		fi
		[ -n "$inj" ] && { kill "$inj"; wait "$inj" 2>/dev/null; }
		echo off > "$NIC/inject"
		sleep 2
		echo "avail $p recoveries $(( $(nic_stat recoveries) - r0 ))" >> "$AVAILTXT"
		echo "avail $p secs $((ASECS * 2))" >> "$AVAILTXT"
	done
}

bench_nic() {
	local e1000 ifc
	command -v netperf >/dev/null || { note "no netperf: NIC benchmark skipped"; return 0; }
	e1000=$(pci_find 0x8086 0x100e) || { note "no e1000: NIC benchmark skipped"; return 0; }
	head -c 1024 /dev/urandom > "$R/peer/bench-1k"
	apache_start || note "no Apache in the guest: Apache benchmark skipped"

	note "NIC: C e1000"
	if kmod e1000 drivers/net/ethernet/intel/e1000/e1000.ko; then
		ifc=$(ls "/sys/bus/pci/devices/$e1000/net" 2>/dev/null | head -n 1)
		if [ -n "$ifc" ] && net_up "$ifc"; then
			RUST_DEV=
			nic_tests c
			# The placeholder offers no offloads (segmentation, scatter-gather,
			# checksum); the C driver does. The same C driver without them
			# measures what that alone costs.
			if ethtool -K "$ifc" tso off sg off tx off 2>>"$R/bench-io.log"; then
				for rep in $(seq "$REPS"); do
					for s in $SIZES; do
						nperf c_nooffload TCP_STREAM "$s"
					done
				done
			else
				note "C e1000: offloads could not be turned off"
			fi
		else
			note "C e1000: no interface or no peer"
		fi
		rmmod e1000
	else
		note "C e1000 module did not load"
	fi

	note "NIC: Rust e1000 on ndeth0"
	insmod "$ROOT/sample-drivers/ndriver_e1000_napi.ko" || return 1
	insmod "$ROOT/sample-drivers/ndriver_e1000_irq.ko" || return 1
	echo "restarts=1000 backoff_ms=0 calm_ms=0 floor_ns=1000000000 ceiling_ns=2000000000" > "$NIC/policy"
	echo "$e1000" > "$NIC/pci" || { note "attaching $e1000 to nic0 failed"; return 1; }
	net_up ndeth0 || { note "ndeth0: no carrier or no peer"; return 1; }
	note "ndeth0 served by $(ethtool -i ndeth0 | sed -n 's/^version: //p')"
	RUST_DEV=$NIC
	nic_tests unguarded guarded
	echo "guard=1" > "$NIC/policy"
	cat "$NIC/stats" > "$R/bench-nic-stats.txt"
	# The injected faults need the data-path deadline back at its default (a spin).
	echo "floor_ns=200000000 ceiling_ns=500000000" > "$NIC/policy"
	avail
	cat "$NIC/recoveries" > "$R/bench-nic-recoveries.txt"
	apache_stop
	ip link set ndeth0 down
	echo none > "$NIC/pci"
	rmmod ndriver_e1000_irq
	rmmod ndriver_e1000_napi
}

# fio_job VARIANT DEV JOB REP: one fio run on the raw device; appends
# "blk VARIANT JOB REP IOPS MiB/s" (read or write side, whichever the job does).
fio_job() {
	local v=$1 dev=$2 job=$3 rep=$4 rw bs qd out
	case $job in
	randread-qd1) rw=randread bs=4k qd=1 ;;
	randread-qd32) rw=randread bs=4k qd=32 ;;
	randwrite-qd1) rw=randwrite bs=4k qd=1 ;;
	randwrite-qd32) rw=randwrite bs=4k qd=32 ;;
	seqread-128k) rw=read bs=128k qd=32 ;;
	esac
	out=$(timeout $((SECS + 60)) fio --name=bench --filename="$dev" --rw=$rw --bs=$bs \
		--iodepth=$qd --ioengine=libaio --direct=1 --runtime="$SECS" --time_based \
		--size=256M --randrepeat=0 --norandommap --output-format=terse \
		--terse-version=3 2>>"$R/bench-io.log")
	# Terse v3: 5 error, 8 read IOPS, 7 read KiB/s, 49 write IOPS, 48 write KiB/s.
	echo "$out" | awk -F';' -v v="$v" -v j="$job" -v r="$rep" -v rw="$rw" '
		/^3;/ && $5 == 0 {
			if (rw ~ /write/) { iops = $49; kib = $48 } else { iops = $8; kib = $7 }
			printf "blk %s %s %s %s %.2f\n", v, j, r, iops, kib / 1024
		}' >> "$BLKTXT"
	grep -q "^blk $v $job $rep " "$BLKTXT" || note "fio $job on $v: no result"
}

JOBS="randwrite-qd1 randwrite-qd32 randread-qd1 randread-qd32 seqread-128k"

blk_tests() {
	local dev=$1 rep job v
	shift
	for rep in $(seq "$REPS"); do
		for job in $JOBS; do
			for v in "$@"; do
				rust_guard "$v"
				fio_job "$v" "$dev" "$job" "$rep"
			done
		done
	done
}

bench_blk() {
	local pci d vd= i
	command -v fio >/dev/null || { note "no fio: block benchmark skipped"; return 0; }
	pci=$(pci_find 0x1af4 0x1001) || { note "no virtio-blk: block benchmark skipped"; return 0; }
	d=/sys/bus/pci/devices/$pci

	note "block: C virtio_blk"
	if kmod virtio_blk drivers/block/virtio_blk.ko; then
		for i in $(seq 50); do
			for b in /sys/block/vd*; do
				[ "$(cat "$b/serial" 2>/dev/null)" = ndriver-test ] && vd=/dev/${b##*/}
			done
			[ -n "$vd" ] && break
			sleep 0.1
		done
		if [ -n "$vd" ]; then
			RUST_DEV=
			blk_tests "$vd" c
		else
			note "C virtio_blk: no disk with serial ndriver-test"
		fi
		rmmod virtio_blk
	else
		note "C virtio_blk module did not load"
	fi

	note "block: Rust virtio-blk on ndblk0"
	echo ndriver-none > "$d/driver_override"
	[ ! -e "$d/driver" ] || echo "$pci" > "$d/driver/unbind"
	insmod "$ROOT/sample-drivers/ndriver_vblk_a.ko" || return 1
	insmod "$ROOT/sample-drivers/ndriver_vblk_b.ko" || return 1
	echo "restarts=1000 backoff_ms=0 calm_ms=0 floor_ns=1000000000 ceiling_ns=2000000000" > "$BD/policy"
	echo "$pci" > "$BD/pci" || { note "attaching $pci to ndblk0 failed"; return 1; }
	for i in $(seq 100); do
		[ -b /dev/ndblk0 ] && break
		sleep 0.1
	done
	[ -b /dev/ndblk0 ] || { note "no /dev/ndblk0"; return 1; }
	note "ndblk0 served by $(sed -n 's/^implementation //p' "$BD/status")"
	RUST_DEV=$BD
	blk_tests /dev/ndblk0 unguarded guarded
	echo "guard=1" > "$BD/policy"
	cat "$BD/stats" > "$R/bench-blk-stats.txt"
}

RUST_DEV=
bench_nic || note "NIC benchmark failed"
bench_blk || note "block benchmark failed"
echo done > "$R/bench-io-done"
