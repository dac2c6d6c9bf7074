# SPDX-License-Identifier: GPL-2.0
# Helpers for in-guest tests; sourced. A test exits 0 on pass, 4 to skip, else fails.

ROOT=${NDRIVER_ROOT:?}
DBG=/sys/kernel/debug/ndriver

fail() {
	echo "FAIL: $*"
	exit 1
}

# Marks the kernel log so dmesg_clean looks only at what this test caused.
dmesg_mark() {
	DMESG_MARK="ndriver-test-mark-$RANDOM$RANDOM"
	echo "$DMESG_MARK" > /dev/kmsg
}

# Fails if the kernel complained since dmesg_mark. An injected Rust panic prints its
# message and "kernel BUG at rust/helpers/bug.c" before the guard takes over: tests
# that inject panics pass --panics-expected to allow exactly that line;
# --allow REGEX allows the lines a test provoked on purpose (and checked itself).
dmesg_clean() {
	local bad allow='^$'
	[ "${1:-}" = --panics-expected ] && allow='kernel BUG at rust/helpers/bug.c'
	[ "${1:-}" = --allow ] && allow=$2
	bad=$(dmesg | sed -n "/$DMESG_MARK/,\$p" | grep -v -E "$allow" |
		grep -E 'WARNING:|BUG:|Oops|Call Trace|general protection|kernel BUG|UBSAN|KASAN|lockdep|possible recursive|circular locking|deprecated workqueue|scheduling while atomic|Kernel panic|soft lockup|hard LOCKUP|rcu.*stall|INFO: task .* blocked for more than' || true)
	[ -z "$bad" ] || fail "kernel log shows problems:
$bad"
	# Lockdep turns itself off for good after its first report or any taint-worthy
	# report (KASAN, WARN): then no lock problem would be seen any more.
	if lockdep_on && ! grep -q 'debug_locks: *1$' /proc/lockdep_stats; then
		fail "lockdep is off (debug_locks 0): an earlier report disabled it:
$(dmesg | grep -m 3 -E 'BUG:|WARNING:|Disabling lock debugging')"
	fi
}

# True on a kernel with KASAN (DEBUG_KERNEL=1).
kasan_on() {
	grep -q ' kasan_report$' /proc/kallsyms
}

# ping_loss_per_swap: pings (at 20 a second) a NIC swap or recovery may lose: QEMU's
# e1000 holds received frames back for 1 s after each new instance writes its receive
# control register, and the new instance takes a while to probe, which KASAN makes
# several times longer (make check-debug).
ping_loss_per_swap() {
	if kasan_on; then echo 50; else echo 25; fi
}

# recovery_last DIR: the number of the newest record in DIR/recoveries (0: none).
recovery_last() {
	awk 'END { print $1 + 0 }' "$1/recoveries"
}

# outage_loss_bound DIR REC0 COUNT: pings (at 20 a second) the device may lose in the
# swaps and recoveries DIR/recoveries lists after record REC0: each one's outage (its
# total_ns, from the contain or quiesce phase to the redirect) plus QEMU's 1 s receive
# hold plus a quarter second, at least COUNT x ping_loss_per_swap. The bound follows
# how long the device really was out, so a swap that a loaded host or KASAN makes
# slow is no failure, while a link still dead after its swap is.
outage_loss_bound() {
	local floor=$(($3 * $(ping_loss_per_swap))) b
	b=$(awk -v r0="$2" '$1 > r0 {
		for (i = 2; i <= NF; i++)
			if ($i ~ /^total_ns=/) { split($i, a, "="); s += a[2] / 1e9 + 1.25 }
	} END { printf "%d\n", s * 20 + 0.999 }' "$1/recoveries")
	[ "$b" -gt "$floor" ] && echo "$b" || echo "$floor"
}

# The sequence-numbered UDP stream through ndeth0, both ways (selftests/guest/udpseq.py;
# the peer's side in scripts/nic-peer.py): it sees datagrams lost, duplicated,
# corrupted or stale, which a TCP transfer's sha256 hides. NDRIVER_UDP_RATE datagrams
# a second each way (default 50: a small load for the emulated e1000 under TCG).
UDP_RATE=${NDRIVER_UDP_RATE:-50}
UDP=

# udp_start FILE [PEER]: starts the stream with the peer (PEER, default 10.99.0.1:
# ndeth0's; 10.99.1.1 is the second NIC's), its output into FILE; UDP is its pid.
# Returns once both sides send.
udp_start() {
	local i peer=${2:-10.99.0.1}
	UDP_OUT=$1
	python3 "$ROOT/selftests/guest/udpseq.py" --peer "$peer" --port 9100 --listen-port 9101 \
		--rate "$UDP_RATE" --control "http://$peer:8099" --secs 7200 > "$UDP_OUT" 2>&1 &
	UDP=$!
	for ((i = 0; i < 600; i++)); do
		grep -q '^udpseq ready' "$UDP_OUT" && return 0
		kill -0 $UDP 2>/dev/null || fail "udpseq did not start: $(cat "$UDP_OUT")"
		sleep 0.1
	done
	fail "udpseq not ready after 60 s: $(cat "$UDP_OUT")"
}

# udp_snap: the stream's counts so far (udpseq's SIGUSR1 line) into UDP_LINE.
udp_snap() {
	local i n0
	n0=$(grep -c '^udpseq snap' "$UDP_OUT")
	kill -USR1 $UDP || fail "udpseq is gone: $(tail -n 5 "$UDP_OUT")"
	for ((i = 0; i < 600; i++)); do
		if [ "$(grep -c '^udpseq snap' "$UDP_OUT")" -gt "$n0" ]; then
			UDP_LINE=$(grep '^udpseq snap' "$UDP_OUT" | tail -n 1)
			return 0
		fi
		sleep 0.1
	done
	fail "udpseq gave no snapshot in 60 s: $(tail -n 5 "$UDP_OUT")"
}

# udp_stop: ends the stream (the peer's side too) and leaves its final counts in
# UDP_LINE.
udp_stop() {
	kill -TERM $UDP
	wait $UDP || fail "udpseq failed: $(tail -n 5 "$UDP_OUT")"
	UDP=
	UDP_LINE=$(grep '^udpseq final' "$UDP_OUT")
	[ -n "$UDP_LINE" ] || fail "udpseq printed no counts: $(tail -n 5 "$UDP_OUT")"
}

# udp_get KEY: KEY's value in UDP_LINE (e.g. g2p_dup: guest to peer, duplicated).
udp_get() {
	[[ " $UDP_LINE " =~ \ $1=(-?[0-9]+)\  ]] && echo "${BASH_REMATCH[1]}"
}

# udp_verdict RECOVERIES [report]: prints both directions of UDP_LINE and fails on
# any datagram duplicated, corrupt or of an earlier stream (stale), or on a direction
# where nothing arrived. Loss is bounded like ping loss per swap or recovery
# (ping_loss_per_swap at 20 a second, scaled to UDP_RATE), unless "report" is given
# (a link the test saturates loses to congestion).
udp_verdict() {
	local rec=$1 d name sent recv lost dup corrupt stale bad= bound=
	local per=$(($(ping_loss_per_swap) * UDP_RATE / 20))
	[ "$rec" -gt 0 ] || rec=1
	[ "${2:-}" = report ] || bound=" (bound $per)"
	for d in g2p p2g; do
		name="guest->peer"
		[ $d = p2g ] && name="peer->guest"
		sent=$(udp_get ${d}_sent)
		recv=$(udp_get ${d}_received)
		lost=$(udp_get ${d}_lost)
		dup=$(udp_get ${d}_dup)
		corrupt=$(udp_get ${d}_corrupt)
		stale=$(udp_get ${d}_stale)
		[ -n "$sent" ] && [ -n "$recv" ] && [ -n "$lost" ] && [ -n "$dup" ] &&
			[ -n "$corrupt" ] && [ -n "$stale" ] || fail "udp $name: counts missing in: $UDP_LINE"
		echo "udp $name: sent $sent received $recv lost $lost duplicated $dup corrupt $corrupt" \
			"stale $stale reordered $(udp_get ${d}_reordered)" \
			"socket-dropped $(udp_get ${d}_rx_drops); lost per recovery" \
			"$(awk "BEGIN { printf \"%.1f\", $lost / $rec }") over $rec$bound"
		[ "$sent" -gt 0 ] && [ "$recv" -gt 0 ] || bad+=" $name: nothing went through;"
		[ "$dup" = 0 ] || bad+=" $name: $dup datagrams duplicated;"
		[ "$corrupt" = 0 ] || bad+=" $name: $corrupt corrupt;"
		[ "$stale" = 0 ] || bad+=" $name: $stale of an earlier stream;"
		[ "${2:-}" = report ] || [ "$lost" -le $((rec * per)) ] ||
			bad+=" $name: lost $lost, more than $((rec * per)) for $rec recoveries;"
	done
	[ -z "$bad" ] || fail "udp stream:$bad"
}

# True on a kernel with lockdep (DEBUG_KERNEL=1).
lockdep_on() {
	[ -e /proc/lockdep ]
}

# Every fault class inject takes. Also on a lockdep kernel: the injected deadlock
# re-takes a DriverLock, whose waiters only try-lock (lockdep checks no deadlock for
# a try-lock), and the guard makes lockdep forget the abandoned call's locks.
fault_classes() {
	echo "panic null wild gpf div0 spin spin_irqoff deadlock error leak"
}

# detected_as CLASS: the cause stats counts an injected CLASS under (double_complete and
# bad_return where they apply: start_xmit and a block complete, poll and a block
# complete; elsewhere they are error returns).
detected_as() {
	case $1 in
	panic) echo bug ;;
	null)
		# Under KASAN the compiler checks the shadow byte first, and the shadow of
		# page 0 lies at a non-canonical address: the NULL load traps as #GP.
		if kasan_on; then echo gpf; else echo page_fault; fi
		;;
	wild | bad_unlock | stack_guard_store) echo page_fault ;;
	gpf) echo gpf ;;
	div0) echo divide_error ;;
	spin | spin_irqoff | deadlock | spin_kernel) echo hang ;;
	error) echo error_return ;;
	leak) echo leak ;;
	kernel_div0 | kernel_div0_locked | kernel_bug | kernel_printk | bad_lock*) echo kernel_fault ;;
	double_free | forged_handle | forged_token | wild_dma | mapped_free | forged_frame | \
		forged_work | forged_dma | double_complete | bad_return) echo misuse ;;
	stack_overflow) echo stack_overflow ;;
	esac
}

# unload_all: removes ndriver and every implementation module (ndriver_*) an earlier,
# failed test may have left loaded, implementations first; a test that stops half way
# must not make the next one fail to load ndriver.
unload_all() {
	local m
	for m in $(awk '$1 ~ /^ndriver_/ { print $1 }' /proc/modules) ndriver; do
		loaded $m && rmmod $m
	done
	return 0
}

# insmod a module of this tree by name (e.g. ndriver, sample-drivers/ndriver_hello).
load() {
	insmod "$ROOT/$1.ko" || fail "insmod $1.ko failed"
}

unload() {
	rmmod "$1" || fail "rmmod $1 failed"
}

loaded() {
	grep -q "^$1 " /proc/modules
}

TD=$DBG/testdev0

# Loads ndriver and both testdev implementations (testdev-a binds first), after
# removing what an earlier, failed test may have left.
load_testdev() {
	unload_all
	load ndriver
	load sample-drivers/ndriver_testdev_a
	load sample-drivers/ndriver_testdev_b
	grep -q '^state running$' "$TD/status" || fail "testdev0 not running: $(cat "$TD/status")"
}

unload_testdev() {
	unload ndriver_testdev_b
	unload ndriver_testdev_a
	unload ndriver
}

# The helpers below are plain bash, without fork or exec: the fault matrices call
# them thousands of times, and under TCG every new process costs tens of ms.

# td_call VERB ARG: issues a request through testdev0 and prints the driver's result,
# also left in TD_LAST (so that hot loops need no command substitution).
td_call() {
	local line
	TD_LAST=
	echo "$1 $2" > "$TD/call" || return 1
	read -r line < "$TD/call" || return 1
	[[ $line =~ ^requests\ [0-9]+\ last\ (-?[0-9]+)$ ]] && TD_LAST=${BASH_REMATCH[1]}
	echo "$TD_LAST"
}

# snapshot FILE: FILE's lines into the array SNAP, read front to back in one pass.
# A debugfs file is generated anew whenever it is seeked, and a `while read` loop
# seeks back after every line (bash reads ahead on a seekable file), so its lines
# can come from two generations of the file, one cut in the middle.
snapshot() {
	SNAP=()
	mapfile -t SNAP < "$1"
}

# stat_in FILE NAME...: the value of NAME in a device's stats file FILE (the last
# word of the line whose other words are NAME).
stat_in() {
	local line f=$1
	shift
	local k="$*"
	snapshot "$f"
	for line in "${SNAP[@]}"; do
		[ "${line% *}" = "$k" ] && echo "${line##* }"
	done
	return 0
}

# stat NAME...: a value from testdev0/stats (e.g. stat recoveries, stat detected hang).
stat() {
	stat_in "$TD/stats" "$@"
}

# free_e1000: the PCI address of the guest's e1000 (8086:100e) when no kernel driver
# is bound to it; nothing otherwise.
free_e1000() {
	local d
	for d in /sys/bus/pci/devices/*; do
		if [ "$(cat "$d/vendor")" = 0x8086 ] && [ "$(cat "$d/device")" = 0x100e ] &&
			[ ! -e "$d/driver" ]; then
			echo "${d##*/}"
			return 0
		fi
	done
}

# need_e1000: sets e1000 to free_e1000's address, or skips the test (exit 4).
need_e1000() {
	e1000=$(free_e1000)
	[ -n "$e1000" ] || { echo "SKIP: no e1000 without a driver in this guest"; exit 4; }
}

# status_of KEY: the value of KEY in testdev0/status.
status_of() {
	local line
	snapshot "$TD/status"
	for line in "${SNAP[@]}"; do
		[ "${line%% *}" = "$1" ] && echo "${line#* }"
	done
	return 0
}

# inject_off: true when testdev0's injection is disarmed (the armed fault was raised).
inject_off() {
	local line
	snapshot "$TD/inject"
	for line in "${SNAP[@]}"; do
		[ "$line" = off ] && return 0
	done
	return 1
}

# raised_in DEVDIR CLASS ENTRY [MODULE]: true when the device's inject file holds the
# record of an entry-point fault of CLASS handed out at ENTRY, whose raising code said
# it runs at an address inside the serving implementation's module text (in_text=1),
# in MODULE if given (what kallsyms names). The fault's own evidence, not the
# injector's disarming.
raised_in() {
	local line
	snapshot "$1/inject"
	for line in "${SNAP[@]}"; do
		case "$line" in
		"raised class=$2 entry=$3 in_text=1 at="*)
			[ -z "${4:-}" ] || [[ $line == *"[$4]" ]] && return 0 ;;
		esac
	done
	return 1
}

# inject_off_n: 1 once testdev0's armed fault was raised, else 0 (for wait_for).
inject_off_n() {
	if inject_off; then echo 1; else echo 0; fi
}

# detected_all DEVDIR: failures the device detected, of every cause.
detected_all() {
	awk '/^detected / { s += $3 } END { print s + 0 }' "$1/stats"
}

# file_field FILE KEY: the value of KEY=... in the first line of FILE (empty without).
file_field() {
	local line w
	read -r line < "$1"
	for w in $line; do
		[ "${w%%=*}" = "$2" ] && { echo "${w#*=}"; return 0; }
	done
	return 0
}

# inject_field DEVDIR KEY: the value of KEY=... in a device's inject file (empty when
# it reads "off").
inject_field() {
	file_field "$1/inject" "$2"
}

# site_field KEY: a field of testdev0's armed site (its inject record).
site_field() { inject_field "$TD" "$1"; }

# running_n: 1 if testdev0 serves (state running), else 0 (for wait_for).
running_n() { if [ "$(status_of state)" = running ]; then echo 1; else echo 0; fi; }

# nstat KEY...: a counter of nic0's stats; nstatus KEY: a field of its status.
nstat() {
	stat_in "$DBG/nic0/stats" "$@"
}
nstatus() {
	sed -n "s/^$1 //p" "$DBG/nic0/status"
}

# sha_of FILE: FILE's sha256, hex.
sha_of() {
	local s
	s=$(sha256sum < "$1")
	echo "${s%% *}"
}

# nic_inject_off: true once nic0's armed fault fired (its inject file reads "off").
nic_inject_off() {
	local line
	read -r line < "$DBG/nic0/inject"
	[ "$line" = off ]
}

# dev_inject_off DIR: true when the device of debugfs directory DIR has no fault armed
# (the armed one was raised).
dev_inject_off() {
	local line
	read -r line < "$1/inject"
	[ "$line" = off ]
}

# race_active POINT: 1 while race point POINT holds a call (the global race file's
# `active` column).
race_active() {
	local l w
	snapshot "$DBG/race"
	for l in "${SNAP[@]}"; do
		read -r -a w <<< "$l"
		[ "${w[0]}" = "$1" ] && { echo "${w[3]}"; return 0; }
	done
}

# fault_in_adopt DIR ENTRY CLASS: raises CLASS at ENTRY of DIR's device, holds its
# recovery after its quiesce (race point recover_quiesced, 5 s) until a panic is armed
# in the next instance's adopt, and waits (30 s at most) until the device was recovered
# and runs again. The caller checks the cold fallback.
fault_in_adopt() {
	local dir=$1 entry=$2 class=$3 rec i
	echo "recover_quiesced 5000000" > "$dir/race" || fail "arming recover_quiesced"
	rec=$(stat_in "$dir/stats" recoveries)
	echo "class=$class entry=$entry" > "$dir/inject" || fail "inject $class $entry"
	for ((i = 0; i < 400; i++)); do
		dev_inject_off "$dir" && break
		sleep 0.05
	done
	dev_inject_off "$dir" || fail "$class in $entry not raised: $(cat "$dir/inject")"
	for ((i = 0; i < 60; i++)); do
		[ "$(race_active recover_quiesced)" = 1 ] && break
		sleep 0.05
	done
	[ "$(race_active recover_quiesced)" = 1 ] ||
		fail "the recovery of $class in $entry is not held at recover_quiesced: $(cat "$DBG/race")"
	echo "class=panic entry=adopt" > "$dir/inject" || fail "inject panic adopt"
	[ "$(race_active recover_quiesced)" = 1 ] ||
		fail "the hold at recover_quiesced ended before the fault in adopt was armed"
	for ((i = 0; i < 600; i++)); do
		[ "$(stat_in "$dir/stats" recoveries)" -gt "$rec" ] &&
			[ "$(sed -n 's/^state //p' "$dir/status")" = running ] && break
		sleep 0.05
	done
	[ "$(stat_in "$dir/stats" recoveries)" -gt "$rec" ] ||
		fail "$class in $entry, then a panic in adopt: not recovered"
	dev_inject_off "$dir" || fail "panic in adopt not raised: $(cat "$dir/inject")"
}

# blk_fio_loop DIR STOP ERRS: fio writing and verifying files in DIR (blk_fio), at QD32
# and QD1 in turn, until the file STOP exists; each run's output goes to ERRS, with a
# line "run N qd Q FAILED" for a run that failed; DIR/.runs gets the count at the end.
blk_fio_loop() {
	local dir=$1 stop=$2 errs=$3 n=0 qd
	while [ ! -e "$stop" ]; do
		n=$((n + 1))
		qd=32
		[ $((n % 2)) = 0 ] && qd=1
		blk_fio "$dir/f$((n % 4))" $qd 4M >> "$errs" 2>&1 || echo "run $n qd $qd FAILED" >> "$errs"
	done
	echo "fio runs: $n" > "$dir/.runs"
}

# nic_wait_recovered N WHAT: until nic0 recorded N recoveries and runs (20 s at most).
nic_wait_recovered() {
	local i
	for ((i = 0; i < 400; i++)); do
		if [ "$(nstat recoveries)" -ge "$1" ] && [ "$(nstatus state)" = running ]; then
			return 0
		fi
		sleep 0.05
	done
	fail "$2: recoveries $(nstat recoveries), want $1; state $(nstatus state)"
}

# report_newest DEVDIR: parses the newest crash report of a device (the last block of
# its reports file, Documentation/debugfs.rst) into REPORT (the whole block),
# REPORT_N, REPORT_GEN, REPORT_CAUSE, REPORT_ENTRY, REPORT_INJECTED (yes or no) and
# REPORT_IP (what follows "ip: "). Fails when the file is missing or its newest
# header is malformed; REPORT_N is 0 when there is no report yet.
report_newest() {
	local line head= block=
	[ -r "$1/reports" ] || fail "$1/reports missing: no crash reports"
	snapshot "$1/reports"
	for line in "${SNAP[@]}"; do
		if [[ $line == "report "* ]]; then
			head=$line
			block=$line
		elif [ -n "$head" ]; then
			block+=$'\n'$line
		fi
	done
	REPORT=$block REPORT_N=0 REPORT_GEN= REPORT_CAUSE= REPORT_ENTRY= REPORT_INJECTED= REPORT_IP=
	[ -z "$head" ] && return 0
	[[ $head =~ ^report\ ([0-9]+):\ [^\ ]+\ generation\ ([0-9]+)\ cause\ ([^\ ]+)\ entry\ ([^\ ]+)\ injected\ (yes|no)$ ]] ||
		fail "malformed report header in $1/reports: '$head'"
	REPORT_N=${BASH_REMATCH[1]} REPORT_GEN=${BASH_REMATCH[2]} REPORT_CAUSE=${BASH_REMATCH[3]}
	REPORT_ENTRY=${BASH_REMATCH[4]} REPORT_INJECTED=${BASH_REMATCH[5]}
	while IFS= read -r line; do
		[[ $line == "ip: "* ]] && { REPORT_IP=${line#ip: }; break; }
	done <<< "$block"
	[ -n "$REPORT_IP" ] || fail "report $REPORT_N of $1 has no ip: line: $block"
}

# site_drive N [all]: N rounds of testdev0 op, tick and irq requests, each answer
# checked; stops early once testdev0's site fired, unless "all". Sets WRONG to the
# number of wrong answers (25-sites, 28-traced-sites).
site_drive() {
	local j e
	WRONG=0
	for ((j = 1; j <= $1; j++)); do
		for e in op tick irq; do
			td_call $e $j > /dev/null
			[ "$TD_LAST" = $((1000 + j)) ] || WRONG=$((WRONG + 1))
		done
		[ "${2:-}" != all ] && [ "$(inject_field "$TD" fired)" != 0 ] && return 0
	done
	return 0
}

# wait_for N COMMAND...: waits up to WAIT_SECS (default 30) for COMMAND (printing a
# number) to reach at least N; fails otherwise. Bounded by the clock, not by a number
# of tries: on a debug kernel one try can take seconds.
wait_for() {
	local want=$1 end=$((SECONDS + ${WAIT_SECS:-30})); shift
	while [ $SECONDS -lt $end ]; do
		[ "$("$@")" -ge "$want" ] && return 0
		sleep 0.02
	done
	fail "'$*' stayed at $("$@"), expected >= $want"
}

# guard_line WHAT: the "guard WHAT ..." line of ndriver's status, without its head.
guard_line() {
	sed -n "s/^guard $1 //p" "$DBG/status"
}

# guard_count WHAT KEY: the value of KEY=N on that line.
guard_count() {
	guard_line "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"
}

# td_fail MESSAGE: fails with testdev0's and the guard's state (tests that use it
# define fail() as td_fail).
td_fail() {
	echo "FAIL: $*"
	cat "$TD/stats" "$DBG/status"
	tail -n 5 "$TD/recoveries"
	exit 1
}

# td_with_e1000: loads testdev0, lets its policy restart at once, as often as needed,
# and gives it the guest's e1000 ($e1000, from need_e1000).
td_with_e1000() {
	load_testdev
	echo "restarts=1000 backoff_ms=0 calm_ms=0" > "$TD/policy" || fail "policy"
	echo "$e1000" > "$TD/pci" || fail "attaching $e1000"
	[ "$(td_call op 1)" = 1 ] || fail "op with the device"
}

# td_inject CLASS ENTRY: raises CLASS in testdev0's ENTRY (a request reaches the
# asynchronous ones through the attached device) and waits for the recovery and a
# running instance.
td_inject() {
	local r0
	r0=$(stat recoveries)
	echo "class=$1 entry=$2" > "$TD/inject" || fail "inject $1 $2"
	td_call op 7 > /dev/null || fail "op during $1 in $2"
	wait_for 1 inject_off_n
	wait_for $((r0 + 1)) stat recoveries
	for _ in $(seq 100); do
		[ "$(status_of state)" = running ] && break
		sleep 0.1
	done
	[ "$(status_of state)" = running ] || fail "not running after $1 in $2"
}

# Expects a write to be refused.
refused() {
	local file=$1; shift
	if echo "$*" > "$file" 2>/dev/null; then
		fail "'$*' > $file was accepted"
	fi
}

# pci_all VENDOR DEVICE: the addresses of every PCI function with these IDs, in PCI
# order, bound to a kernel driver or not (e.g. pci_all 0x8086 0x100e).
pci_all() {
	local d
	for d in /sys/bus/pci/devices/*; do
		if [ "$(cat "$d/vendor")" = "$1" ] && [ "$(cat "$d/device")" = "$2" ]; then
			echo "${d##*/}"
		fi
	done
}

# pci_find VENDOR DEVICE: the address of the first PCI function with these IDs
# (e.g. pci_find 0x1af4 0x1001), bound to a kernel driver or not; nothing when the
# guest has none.
pci_find() {
	pci_all "$1" "$2" | head -n 1
}

# dev_snapshot DEVDIR: the state, implementation, generation and pci lines of a
# device's status.
dev_snapshot() {
	grep -E '^(state|implementation|generation|pci) ' "$1/status"
}

# refused_kind DEVDIR VENDOR DEVICE: attaching the guest's function VENDOR:DEVICE,
# which no implementation of the device's class drives, must be refused with ENXIO
# and a warning naming the function, and change nothing (same state,
# implementation, generation and pci). Skips only this check, saying so, when the
# guest has no such function.
refused_kind() {
	local dir=$1 ids=${2#0x}:${3#0x} addr class before after err
	addr=$(pci_find "$2" "$3")
	if [ -z "$addr" ]; then
		echo "SKIP (this check only): no $ids function in this guest, wrong-kind attach to ${dir##*/} not checked"
		return 0
	fi
	class=$(sed -n 's/^class //p' "$dir/status")
	before=$(dev_snapshot "$dir")
	if err=$( { echo "$addr" > "$dir/pci"; } 2>&1 ); then
		fail "${dir##*/}: attaching $addr ($ids), which no $class implementation drives, was accepted"
	fi
	[[ $err == *"No such device or address"* ]] ||
		fail "${dir##*/}: attaching $addr ($ids) refused with '$err', expected ENXIO"
	after=$(dev_snapshot "$dir")
	[ "$after" = "$before" ] ||
		fail "${dir##*/}: the refused attach of $addr changed the device: '$before' -> '$after'"
	dmesg | tail -n 50 | grep -qF "$addr ($ids) is not driven by any $class implementation" ||
		fail "${dir##*/}: no warning naming $addr ($ids) in the kernel log"
	echo "${dir##*/}: attaching $addr ($ids) refused: no $class implementation drives it"
}

# Block device tests (18-blk, 19-blk-faults): the placeholder disk ndblk0.
BD=$DBG/ndblk0
BLKDEV=/dev/ndblk0

# bd_stat NAME...: a value from ndblk0/stats.
bd_stat() {
	local line k="$*"
	snapshot "$BD/stats"
	for line in "${SNAP[@]}"; do
		[ "${line% *}" = "$k" ] && echo "${line##* }"
	done
	return 0
}

# bd_status KEY: the value of KEY in ndblk0/status.
bd_status() {
	local line
	snapshot "$BD/status"
	for line in "${SNAP[@]}"; do
		[ "${line%% *}" = "$1" ] && echo "${line#* }"
	done
	return 0
}

# bd_inject_off: true when ndblk0's armed fault was raised.
bd_inject_off() {
	local line
	snapshot "$BD/inject"
	for line in "${SNAP[@]}"; do
		[ "$line" = off ] && return 0
	done
	return 1
}

# blk_take_disk [N]: the PCI address of the guest's Nth virtio-blk test disk
# (transitional 1af4:1001, in PCI order from 0, default 0: serial "ndriver-test"),
# taken away from the C virtio driver: unbound from virtio-pci and given a
# driver_override that no driver matches, so nothing binds it again. Prints it;
# exits with "skip" when the guest has none.
blk_take_disk() {
	local found d
	found=$(pci_all 0x1af4 0x1001 | sed -n "$((${1:-0} + 1))p")
	[ -n "$found" ] || { echo "SKIP: no transitional virtio-blk number ${1:-0} in this guest" >&2; exit 4; }
	d=/sys/bus/pci/devices/$found
	echo ndriver-none > "$d/driver_override"
	if [ -e "$d/driver" ]; then
		echo "$found" > "$d/driver/unbind" || fail "cannot unbind $found"
	fi
	echo "$found"
}

# blk_give_back PCI: hands virtio-blk function PCI (taken by blk_take_disk) back to
# the kernel's virtio-pci; false if that does not bind it.
blk_give_back() {
	local d=/sys/bus/pci/devices/$1
	echo > "$d/driver_override"
	echo "$1" > /sys/bus/pci/drivers_probe 2> /dev/null
	[ -e "$d/driver" ]
}

# Waits up to 10 s for /dev/ndblk0 to appear; fails otherwise.
blk_wait_dev() {
	local i
	for i in $(seq 100); do
		[ -b $BLKDEV ] && return 0
		sleep 0.1
	done
	fail "no $BLKDEV: $(cat "$BD/status")"
}

# Loads ndriver and both block implementations (vblk-a binds first), gives ndblk0 the
# test disk and waits for /dev/ndblk0.
load_blk() {
	local pci i
	unload_all
	pci=$(blk_take_disk) || exit $?
	load ndriver
	load sample-drivers/ndriver_vblk_a
	load sample-drivers/ndriver_vblk_b
	echo "$pci" > "$BD/pci" || fail "attaching $pci to ndblk0"
	blk_wait_dev
	grep -q '^state running$' "$BD/status" || fail "ndblk0 not running: $(cat "$BD/status")"
}

# blk_irq [DEV]: DEV's (ndblk0's) interrupt line in /proc/interrupts as "IRQ CHIP
# COUNT" (COUNT summed over the CPUs), or nothing when no instance holds one. The
# handler may be one of several on a shared line ("virtio1, ndriver-ndblk1").
blk_irq() {
	awk -v h="ndriver-${1:-ndblk0}" '{
		for (j = 2; j <= NF; j++)
			if ($j == h || $j == h ",") {
				n = 0
				for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) n += $i
				print $1, $i, n
				next
			}
	}' /proc/interrupts
}

unload_blk() {
	unload ndriver_vblk_b
	unload ndriver_vblk_a
	unload ndriver
}

# blk_fio NAME QD SIZE [ARGS...]: random writes of SIZE with 4 KiB blocks at queue
# depth QD to file NAME, each block checked (crc32c) when read back; fails on any
# I/O or verify error.
blk_fio() {
	local name=$1 qd=$2 size=$3 out
	shift 3
	out=$(fio --name=ndblk --filename="$name" --size="$size" --rw=randwrite --bs=4k \
		--ioengine=libaio --direct=1 --iodepth="$qd" --verify=crc32c --verify_fatal=1 \
		--do_verify=1 --randrepeat=0 --norandommap=0 --output-format=terse \
		--terse-version=3 "$@" 2>&1)
	local rc=$?
	# Terse v3: field 5 is the job's error (0: none).
	local errs
	errs=$(echo "$out" | awk -F';' '/^3;/ { print $5 }' | head -n 1)
	if [ $rc != 0 ] || [ "${errs:-x}" != 0 ]; then
		echo "fio $name qd $qd failed (exit $rc, errors ${errs:-?}):"
		echo "$out" | tail -n 5
		return 1
	fi
	return 0
}

# unload_nic: ndeth0 down, its e1000 detached, both implementations and ndriver
# unloaded.
unload_nic() {
	ip link set ndeth0 down
	echo none > "$DBG/nic0/pci" || fail "detaching the e1000 from nic0"
	unload ndriver_e1000_irq
	unload ndriver_e1000_napi
	unload ndriver
}

# load_nic: ndriver and both Rust e1000 implementations, nic0 given the free e1000
# ($e1000, from need_e1000) with a generous deadline floor (a vCPU of a loaded TCG
# host stalls for tens of ms), ndeth0 up as 10.99.0.2 and the host side answering.
load_nic() {
	local m i
	unload_all
	load ndriver
	load sample-drivers/ndriver_e1000_napi
	load sample-drivers/ndriver_e1000_irq
	echo "restarts=1000 backoff_ms=0 calm_ms=0 floor_ns=200000000" > "$DBG/nic0/policy" ||
		fail "nic0 policy"
	echo "$e1000" > "$DBG/nic0/pci" || fail "attaching $e1000 to nic0"
	ip link set ndeth0 up || fail "ip link set ndeth0 up"
	ip addr add 10.99.0.2/24 dev ndeth0 || fail "ip addr add"
	for i in $(seq 50); do
		busybox ping -q -c 1 -W 1 10.99.0.1 > /dev/null 2>&1 && return 0
	done
	fail "the host side does not answer through ndeth0"
}

# pairs_serving: ndeth0 and ndeth1 up as 10.99.0.2 and 10.99.1.2, each answered by the
# host side of its tap, and /dev/ndblk0 and /dev/ndblk1 present (ndriver nics=2
# disks=2 with functions attached); fails otherwise.
pairs_serving() {
	local i k ok
	for i in 0 1; do
		ip link set ndeth$i up || fail "ndeth$i up"
		ip addr add 10.99.$i.2/24 dev ndeth$i || fail "ndeth$i address"
	done
	for i in 0 1; do
		ok=
		for ((k = 0; k < 50; k++)); do
			busybox ping -q -c 1 -W 1 10.99.$i.1 > /dev/null 2>&1 && { ok=1; break; }
		done
		[ -n "$ok" ] || fail "10.99.$i.1 does not answer through ndeth$i"
		for ((k = 0; k < 100; k++)); do
			[ -b /dev/ndblk$i ] && break
			sleep 0.1
		done
		[ -b /dev/ndblk$i ] || fail "no /dev/ndblk$i"
	done
}

# fio_verify_loop DIR STOP LOG ERRORS: fio writing and verifying files in DIR (blk_fio,
# 16 deep, 4 MiB) until the file STOP exists; appends "ok" or "BAD" per run to LOG and
# a failed run's output to ERRORS. Meant to run in the background.
fio_verify_loop() {
	local dir=$1 stop=$2 log=$3 errs=$4 k=0 out
	out=$(mktemp)
	while [ ! -e "$stop" ]; do
		k=$((k + 1))
		if blk_fio "$dir/f$((k % 3))" 16 4M > "$out" 2>&1; then
			echo ok >> "$log"
		else
			echo BAD >> "$log"
			cat "$out" >> "$errs"
		fi
	done
	rm -f "$out"
}

# first_draw SEED: DRAW becomes the first draw of an inject request at site=SYMBOL
# seeded with SEED (ndriver/inject_spec.rs: mix, then xorshift32; pinned by a host
# test). Products are split so that nothing overflows; no fork.
first_draw() {
	local x m=$((0x9e3779b9)) k
	x=$((($1 + m) & 0xffffffff))
	x=$(((x * (m & 0xffff) + (((x * (m >> 16)) & 0xffff) << 16)) & 0xffffffff))
	for k in 1 2 3 4 5; do
		[ $k -lt 5 ] && x=$((x ^ (x >> 16)))
		[ $k = 5 ] && [ $x = 0 ] && x=$m
		x=$(((x ^ (x << 13)) & 0xffffffff))
		x=$((x ^ (x >> 17)))
		x=$(((x ^ (x << 5)) & 0xffffffff))
	done
	DRAW=$x
}

# seed_for_bit B: the smallest seed whose flip_dest at a named site flips bit B.
seed_for_bit() {
	local s
	for ((s = 1; s < 10000; s++)); do
		first_draw $s
		[ $((DRAW % 64)) = "$1" ] && { echo $s; return 0; }
	done
	return 1
}

# nic_site_fault CLASS SITE WHAT: arms fault CLASS at code site SITE of nic0's
# implementation, armed again once if nothing reached the site in 20 s (QEMU's TCG can
# run a stale translation of the patched instruction: 25-sites; WHAT names what should
# have), then waits for the recovery it causes and for the kernel-log line of the site
# firing (since dmesg_mark).
nic_site_fault() {
	local class=$1 site=$2 rec i k fired=
	: "${DMESG_MARK:?nic_site_fault needs dmesg_mark first}"
	rec=$(nstat recoveries)
	for k in 1 2; do
		echo "class=$class site=$site" > "$DBG/nic0/inject" || fail "$class at $site refused"
		for ((i = 0; i < 400; i++)); do
			# Fired, or fired and went off (before anything here disarmed it).
			if [ "$(inject_field "$DBG/nic0" fired)" = 1 ] || nic_inject_off; then
				fired=1
				break
			fi
			sleep 0.05
		done
		[ -n "$fired" ] && break
		echo off > "$DBG/nic0/inject"
		# It may have fired as it was disarmed: then it recovers.
		sleep 0.5
		[ "$(nstat recoveries)" -gt "$rec" ] && { fired=1; break; }
	done
	[ -n "$fired" ] || fail "$class at $site: no $3 reached it in 40 s"
	nic_wait_recovered $((rec + 1)) "$class at $site"
	dmesg | sed -n "/$DMESG_MARK/,\$p" | grep -q "site .* fired $class" ||
		fail "$class at $site: no kernel-log line of the site firing"
}

# call_site MODULE SUFFIX CALLEE [AFTER]: MODULE:symbol+offset of the first call of
# CALLEE in MODULE's function whose symbol ends in SUFFIX (the call instruction whose
# relocation names exactly CALLEE, or, for a call within the module's own text, whose
# target symbol contains CALLEE), and with AFTER given, the first one after a non-call
# instruction containing AFTER. Read from the module's disassembly: a site placed there
# fires in the middle of the function's work (27-nic-tx-stall, 32-nic-jumbo,
# 37-nic-offload).
call_site() {
	local mod=$1 suffix=$2 callee=$3 after=${4-} sym a rest base= armed= call= at=
	[ -n "$after" ] || armed=1
	sym=$(awk -v m="[$mod]" -v s="$suffix\$" '$3 ~ s && $4 == m {print $3; exit}' /proc/kallsyms)
	[ -n "$sym" ] || return 1
	while read -r a rest; do
		case "$a $rest" in
		*"<$sym>:"*) base=$a ;;
		*R_X86_64_*[[:space:]]"$callee"[-+]*) [ -n "$call" ] && { at=$call; break; } ;;
		*R_X86_64*) ;;
		# A call within the module's own text needs no relocation: named in the line.
		*" call "*"<"*"$callee"*">"*) [ -n "$armed" ] && { at=${a%:}; break; } ;;
		*" call "*) [ -n "$armed" ] && call=${a%:} ;;
		*)
			call=
			[ -n "$after" ] && [[ "$rest" == *"$after"* ]] && armed=1
			;;
		esac
	done < <(objdump -dr --no-show-raw-insn "$ROOT/sample-drivers/$mod.ko" | sed -n "/<$sym>:/,/^\$/p")
	[ -n "$base" ] && [ -n "$at" ] || return 1
	echo "$mod:$sym+$((0x$at - 0x$base))"
}
