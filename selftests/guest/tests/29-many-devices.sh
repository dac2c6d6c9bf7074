# SPDX-License-Identifier: GPL-2.0
# Two NICs and two disks under one ndriver (nics=2 disks=2), each recovered on its
# own. The guest has two e1000s (on ndtap0 and ndtap1, host sides 10.99.0.1 and
# 10.99.1.1) and two virtio-blk disks (scripts/guest.sh), the second without MSI-X:
# vblk-a takes a vector of the first and the INTx of the second.
#  - Bad counts at load (nics=5) are refused and load nothing.
#  - Each device has its own debugfs directory, net_device or disk; a function
#    attached to one device is refused to another (EBUSY, a log line naming the
#    holder) and the refusal changes nothing; `ndriverctl attach/detach` place and
#    free functions.
#  - Every fault class is raised in one NIC's start_xmit and one disk's queue_rq
#    while the other NIC carries a sequence-numbered UDP stream both ways and the
#    other disk runs fio with crc32c verify: the faulted devices recover, the others
#    record no recovery, lose no datagram (and duplicate none) and fio sees no error.
#    Then the roles swap: every class in nic1 and ndblk1 while nic0 and ndblk0 carry the traffic.
#  - `ethtool -S` shows each NIC's own counters. The usual tools see ordinary devices
#    (`ethtool -i/-k/-S`, `ip -s link`, `/sys/class/net/*/statistics`,
#    `/sys/block/*/stat`, `lsblk`), and the faulted devices' counters never go
#    backwards across their recoveries (read after each one).
#  - A race point armed through nic1's own race file stalls nic1 only.
#  - A fault site armed on nic0 in the module both NICs run fires only in nic0's
#    calls: nic1 reaches the instruction (the site's own count) and does not recover.
#  - Both NICs, then both disks, hang at the same moment: both recoveries complete,
#    and their spans in the kernel log overlap.
# Both implementations of each class serve both devices (one instance per device).
. "$(dirname "$0")/../lib.sh"

CLASSES=$(fault_classes)
STOP=/tmp/many-stop
ERRS=/tmp/many-fio-errors

fail() {
	echo "FAIL: $*"
	touch "$STOP"
	[ -z "$UDP" ] || kill "$UDP" 2>/dev/null
	local d
	for d in nic0 nic1 ndblk0 ndblk1; do
		[ -d "$DBG/$d" ] || continue
		echo "== $d"
		grep -E '^(state|implementation|generation|pci) ' "$DBG/$d/status"
		tail -n 3 "$DBG/$d/recoveries"
	done
	[ -s "$ERRS" ] && tail -n 20 "$ERRS"
	# Leave nothing behind for the next test.
	pkill -f 'busybox ping' 2>/dev/null
	sleep 3
	for d in 0 1; do ip link set ndeth$d down 2>/dev/null; done
	unload_all
	exit 1
}

command -v fio >/dev/null || { echo "SKIP: no fio"; exit 4; }
mapfile -t NICS < <(pci_all 0x8086 0x100e)
[ "${#NICS[@]}" -ge 2 ] || { echo "SKIP: the guest has ${#NICS[@]} e1000s, this test needs two"; exit 4; }
for a in "${NICS[@]:0:2}"; do
	[ ! -e "/sys/bus/pci/devices/$a/driver" ] || fail "e1000 $a is bound to a kernel driver"
done

dmesg_mark
unload_all
DISK0=$(blk_take_disk 0) || exit $?
DISK1=$(blk_take_disk 1) || exit $?

# Counts out of range: refused, nothing loaded.
if insmod "$ROOT/ndriver.ko" nics=5 2>/dev/null; then
	fail "ndriver loaded with nics=5"
fi
loaded ndriver && fail "ndriver is loaded after a refused insmod"
dmesg | sed -n "/$DMESG_MARK/,\$p" | grep -q 'nics=5 disks=1: each may be 0 to 4' ||
	fail "no log line for nics=5"
echo "nics=5: refused"

insmod "$ROOT/ndriver.ko" nics=2 disks=2 || fail "insmod ndriver nics=2 disks=2"
load sample-drivers/ndriver_e1000_napi
load sample-drivers/ndriver_e1000_irq
load sample-drivers/ndriver_vblk_a
load sample-drivers/ndriver_vblk_b
# testdev0 drives e1000s too: the refusal below is about the holder, not the kind.
load sample-drivers/ndriver_testdev_a
for d in nic0 nic1 ndblk0 ndblk1; do
	[ -f "$DBG/$d/status" ] || fail "no debugfs directory $d"
	echo "restarts=1000 backoff_ms=0 calm_ms=0 floor_ns=200000000" > "$DBG/$d/policy" ||
		fail "$d policy"
done
[ ! -d "$DBG/nic2" ] && [ ! -d "$DBG/ndblk2" ] || fail "more devices than asked for"
[ -d /sys/class/net/ndeth0 ] && [ -d /sys/class/net/ndeth1 ] || fail "no ndeth0/ndeth1"

# Attach: nic0 and ndblk0 through their pci files, the others with ndriverctl.
echo "${NICS[0]}" > "$DBG/nic0/pci" || fail "attaching ${NICS[0]} to nic0"
echo "$DISK0" > "$DBG/ndblk0/pci" || fail "attaching $DISK0 to ndblk0"
out=$("$ROOT/tools/ndriverctl" attach "${NICS[1]}") || fail "ndriverctl attach ${NICS[1]}: $out"
[[ $out == *nic1* ]] || fail "ndriverctl attach ${NICS[1]} went elsewhere: $out"
out=$("$ROOT/tools/ndriverctl" attach "$DISK1") || fail "ndriverctl attach $DISK1: $out"
[[ $out == *ndblk1* ]] || fail "ndriverctl attach $DISK1 went elsewhere: $out"

# A function held by one device is refused to another, which stays as it was.
for pair in "nic1 ${NICS[0]} nic0" "ndblk1 $DISK0 ndblk0" "testdev0 ${NICS[1]} nic1"; do
	set -- $pair
	before=$(dev_snapshot "$DBG/$1")
	if err=$( { echo "$2" > "$DBG/$1/pci"; } 2>&1 ); then
		fail "$1: attaching $2, which $3 holds, was accepted"
	fi
	[[ $err == *"Device or resource busy"* ]] || fail "$1: attaching $2 refused with '$err', want EBUSY"
	[ "$(dev_snapshot "$DBG/$1")" = "$before" ] || fail "$1: the refused attach of $2 changed it"
	dmesg | sed -n "/$DMESG_MARK/,\$p" | grep -q "$1: $2 is attached to $3; detach it there first" ||
		fail "no log line for $2 refused to $1"
done
echo "a function held by one device: refused to the others (EBUSY), nothing changed"
# The same function again re-attaches on the device holding it.
g=$(sed -n 's/^generation //p' "$DBG/nic1/status")
echo "${NICS[1]}" > "$DBG/nic1/pci" || fail "re-attaching ${NICS[1]} to nic1"
[ "$(sed -n 's/^generation //p' "$DBG/nic1/status")" -gt "$g" ] || fail "re-attach made no new instance"

pairs_serving
[ "$(cat /sys/block/ndblk1/size)" -lt "$(cat /sys/block/ndblk0/size)" ] ||
	fail "ndblk0 and ndblk1 are not the two different disks"
echo "nic0 ${NICS[0]} ndeth0, nic1 ${NICS[1]} ndeth1, ndblk0 $DISK0, ndblk1 $DISK1: serving"
# vblk-a on each disk: an MSI-X vector of its own on the first; the second has no
# MSI-X (scripts/guest.sh: vectors=0), so its INTx.
irq0=$(blk_irq ndblk0) irq1=$(blk_irq ndblk1)
case "$irq0" in *MSI*) ;; *) fail "ndblk0's line is '${irq0:-none}', want an MSI-X vector" ;; esac
case "$irq1" in "" | *MSI*) fail "ndblk1's line is '${irq1:-none}', want its INTx" ;; esac
echo "interrupt lines: ndblk0 $irq0, ndblk1 $irq1"

rec() { stat_in "$DBG/$1/stats" recoveries; }

# fio_loop DEV: fio with verify on DEV until $STOP, each failure into $ERRS.
fio_loop() {
	local n=0
	while [ ! -e "$STOP" ]; do
		n=$((n + 1))
		blk_fio "$1" $((n % 2 ? 16 : 1)) 8M --offset=$(((n % 4) * 8))M >> "$ERRS" 2>&1 ||
			echo "$1 run $n FAILED" >> "$ERRS"
	done
	echo "$1 fio runs: $n" >> "$ERRS.runs"
}

# fault_once DEV ENTRY CLASS: raises CLASS in DEV's ENTRY and waits for its recovery.
fault_once() {
	local r0 k
	r0=$(rec $1)
	echo "class=$3 entry=$2" > "$DBG/$1/inject" || fail "inject $3 in $1 $2"
	for ((k = 0; k < 600; k++)); do
		[ "$(rec $1)" -gt "$r0" ] && [ "$(inject_field "$DBG/$1" class)" = "" ] && return 0
		sleep 0.05
	done
	fail "$3 in $1 $2: not recovered (recoveries $r0 -> $(rec $1), inject $(cat "$DBG/$1/inject"))"
}

# counters I: ndethI's and ndblkI's traffic counters as the usual tools show them, one
# line: rx/tx packets and bytes (/sys/class/net/*/statistics), ip -s link's RX and TX
# packets, and the fields of /sys/block/ndblkI/stat up to the eleventh (ios, merges,
# sectors, ticks of reads and writes, io_ticks, time in queue) but the ninth, the
# requests in flight, which goes down.
counters() {
	local n=/sys/class/net/ndeth$1/statistics ipl
	ipl=$(ip -s link show ndeth$1 | awk '/RX:/ { getline; rx = $2 } /TX:/ { getline; tx = $2 } END { print rx, tx }')
	echo "$(cat $n/rx_packets $n/tx_packets $n/rx_bytes $n/tx_bytes | tr '\n' ' ')$ipl" \
		"$(awk '{ print $1, $2, $3, $4, $5, $6, $7, $8, $10, $11 }' /sys/block/ndblk$1/stat)"
}

# monotonic I WHAT: fails if a counter of counters I went down since the last call
# (the first call only notes them).
declare -A LAST_COUNTERS
monotonic() {
	local now=($(counters $1)) was=(${LAST_COUNTERS[$1]:-}) k
	for k in "${!was[@]}"; do
		[ "${now[k]}" -ge "${was[k]}" ] ||
			fail "ndeth$1/ndblk$1 counter $k went back from ${was[k]} to ${now[k]} ($2)"
	done
	LAST_COUNTERS[$1]="${now[*]}"
}

# faults BAD GOOD CLASSES: each class once in nicBAD's start_xmit and ndblkBAD's
# queue_rq, while nicGOOD carries the UDP stream and ndblkGOOD runs fio.
faults() {
	local bad=$1 good=$2 classes=$3 class g0 gb0 k d
	rm -f "$STOP" "$ERRS" "$ERRS.runs"
	# The undisturbed devices' own calls get a deadline floor of 1 s: a vCPU the host
	# starves (TCG on 2 cores, KASAN) must not make them fail on their own.
	for d in nic$good ndblk$good; do
		echo "floor_ns=1000000000 ceiling_ns=2000000000" > "$DBG/$d/policy" || fail "$d policy"
	done
	g0=$(rec nic$good)
	gb0=$(rec ndblk$good)
	fio_loop /dev/ndblk$good &
	local fg=$!
	fio_loop /dev/ndblk$bad &
	local fb=$!
	udp_start "$NDRIVER_RESULTS/29-udp-ndeth$good.txt" 10.99.$good.1
	busybox ping -q -i 0.05 -W 2 -w 3600 10.99.$bad.1 > /dev/null 2>&1 &
	local ping=$!
	sleep 1
	monotonic $bad start
	local first=(${LAST_COUNTERS[$bad]})
	for class in $classes; do
		# One device at a time: spin_irqoff in both at once could leave no CPU to
		# end the other's hang but the i6300ESB's NMI (26-all-cpu-hang's matter).
		fault_once nic$bad start_xmit $class
		monotonic $bad "after $class in nic$bad"
		fault_once ndblk$bad queue_rq $class
		monotonic $bad "after $class in ndblk$bad"
		for ((k = 0; k < 30; k++)); do
			busybox ping -c 1 -W 1 10.99.$bad.1 > /dev/null 2>&1 && break
		done
		[ -s "$ERRS" ] && grep -q FAILED "$ERRS" && fail "fio failed around $class"
	done
	sleep 1
	udp_stop
	kill -INT $ping 2>/dev/null
	wait $ping 2>/dev/null
	touch "$STOP"
	wait $fg $fb
	[ ! -s "$ERRS" ] || ! grep -q FAILED "$ERRS" || fail "fio failed: $(grep FAILED "$ERRS")"
	monotonic $bad end
	local last=(${LAST_COUNTERS[$bad]})
	# Traffic went through the faulted devices: packets both ways, reads completed.
	for k in 0 1 6; do
		[ "${last[k]}" -gt "${first[k]}" ] ||
			fail "ndeth$bad/ndblk$bad counter $k did not grow over the faults (${first[k]} -> ${last[k]})"
	done
	[ "$(rec nic$good)" = "$g0" ] || fail "nic$good recovered while nic$bad was faulted"
	[ "$(rec ndblk$good)" = "$gb0" ] || fail "ndblk$good recovered while ndblk$bad was faulted"
	# The undisturbed NIC: nothing lost, nothing twice, nothing corrupt, both ways.
	udp_verdict 1
	for k in g2p_lost p2g_lost; do
		[ "$(udp_get $k)" = 0 ] || fail "ndeth$good lost datagrams ($k $(udp_get $k)) while nic$bad recovered"
	done
	echo "faults in nic$bad and ndblk$bad ($(echo $classes | wc -w) classes): recovered;" \
		"ndeth$good lost nothing, ndblk$good fio clean ($(tr '\n' ' ' < "$ERRS.runs"))"
	for d in nic$good ndblk$good; do
		echo "floor_ns=200000000 ceiling_ns=500000000" > "$DBG/$d/policy" || fail "$d policy"
	done
}

faults 0 1 "$CLASSES"
faults 1 0 "$CLASSES"

# ethtool -S shows each NIC's own recovery counters, as its stats file does.
for i in 0 1; do
	es=$(ethtool -S ndeth$i) || fail "ethtool -S ndeth$i"
	v=$(echo "$es" | sed -n 's/^ *recoveries: //p')
	[ "$v" = "$(rec nic$i)" ] || fail "ethtool -S ndeth$i: recoveries '$v', stats $(rec nic$i)"
	v=$(echo "$es" | sed -n 's/^ *failures_bug: //p')
	[ "$v" = "$(stat_in "$DBG/nic$i/stats" detected bug)" ] ||
		fail "ethtool -S ndeth$i: failures_bug '$v', stats $(stat_in "$DBG/nic$i/stats" detected bug)"
	echo "ethtool -S ndeth$i: recoveries $(rec nic$i), failures_bug $v"
	drv=$(ethtool -i ndeth$i | sed -n 's/^driver: //p')
	[ -n "$drv" ] || fail "ethtool -i ndeth$i names no driver"
	ethtool -k ndeth$i | grep -q '^scatter-gather:' || fail "ethtool -k ndeth$i shows no features"
	lsblk -n -o NAME /dev/ndblk$i | grep -qx "ndblk$i" || fail "lsblk does not list ndblk$i"
	echo "ndeth$i/ndblk$i: ethtool -i driver $drv, ethtool -k, lsblk; counters: $(counters $i)"
done

# A race point armed through nic1's own race file stalls nic1's passes only: nic0's
# recovery goes through its redirect with the point armed, nic1's next recovery takes
# it (the point's own count of stalls, in the global race file). Not `admit`: on a
# shared interrupt line nic1's handler is admitted for nic0's interrupts too.
race_col() { awk -v p="$1" -v c="$2" '$1 == p { print $c }' "$3"; }
h0=$(race_col nic_redirect 3 "$DBG/race")
echo "nic_redirect 1000" > "$DBG/nic1/race" || fail "race on nic1"
[ "$(race_col nic_redirect 2 "$DBG/nic1/race")" = 1000 ] || fail "nic1's race file: $(cat "$DBG/nic1/race")"
[ "$(race_col nic_redirect 2 "$DBG/nic0/race")" = 0 ] ||
	fail "nic0's race file shows nic1's point: $(cat "$DBG/nic0/race")"
for i in 0 1; do
	busybox ping -q -i 0.05 -W 2 -w 3600 10.99.$i.1 > /dev/null 2>&1 &
done
fault_once nic0 start_xmit panic
[ "$(race_col nic_redirect 2 "$DBG/nic1/race")" = 1000 ] ||
	fail "nic0's recovery took nic1's race point: $(cat "$DBG/race")"
fault_once nic1 start_xmit panic
for ((k = 0; k < 100; k++)); do
	[ "$(race_col nic_redirect 3 "$DBG/race")" -gt "$h0" ] && break
	sleep 0.05
done
[ "$(race_col nic_redirect 3 "$DBG/race")" = $((h0 + 1)) ] && [ "$(race_col nic_redirect 2 "$DBG/race")" = 0 ] ||
	fail "nic1's recovery did not take its race point once: $(cat "$DBG/race")"
pkill -f 'busybox ping' 2>/dev/null
echo "race point armed on nic1: nic0's recovery passed it, nic1's stalled once"

# A fault site is an instruction of the module both NICs' instances run: armed on
# nic0, it fires in nic0's calls only; nic1's arrivals count as outside.
impl=$(sed -n 's/^implementation //p' "$DBG/nic0/status")
[ "$(sed -n 's/^implementation //p' "$DBG/nic1/status")" = "$impl" ] ||
	echo "$impl" > "$DBG/nic1/swap" || fail "swap nic1 to $impl"
mod=ndriver_${impl//-/_}
sym=$(awk -v m="[$mod]" '$3 ~ /start_xmit$/ && $4 == m { print $3; exit }' /proc/kallsyms)
[ -n "$sym" ] || fail "no start_xmit symbol of $mod in /proc/kallsyms"
busybox ping -q -i 0.05 -W 2 -w 3600 10.99.0.1 > /dev/null 2>&1 &
P0=$!
busybox ping -q -i 0.05 -W 2 -w 3600 10.99.1.1 > /dev/null 2>&1 &
P1=$!
r0=$(rec nic0)
r1=$(rec nic1)
echo "class=panic site=$mod:$sym+0 times=3" > "$DBG/nic0/inject" || fail "site on nic0 not placed"
for ((k = 0; k < 600; k++)); do
	[ "$(inject_field "$DBG/nic0" fired)" = 3 ] && [ "$(rec nic0)" -ge $((r0 + 3)) ] && break
	sleep 0.05
done
out=$(inject_field "$DBG/nic0" outside)
echo "site $mod:$sym+0 on nic0: fired $(inject_field "$DBG/nic0" fired)," \
	"hits $(inject_field "$DBG/nic0" hits), outside $out;" \
	"recoveries nic0 $r0 -> $(rec nic0), nic1 $r1 -> $(rec nic1)"
echo off > "$DBG/nic0/inject" || fail "site off"
kill -INT $P0 $P1
wait $P0 $P1 2>/dev/null
[ "$(rec nic0)" -ge $((r0 + 3)) ] || fail "the site on nic0 did not fire three times"
[ "$(rec nic1)" = "$r1" ] || fail "nic1 recovered from a site armed on nic0"
[ "${out:-0}" -gt 0 ] || fail "nic1 never reached the site (outside $out): nothing shown"

# Both devices of a class at once: a hang of at least 1 s in each, armed together.
# Each recovery's span ends at its log line and began total_ns plus the 1 s deadline
# floor before it (a hang's contain phase starts when the watchdog fires): the spans
# must overlap.
span_end() {
	# The kernel-log time (s) of the newest "DEV: replaced" line.
	dmesg | sed -n "/$DMESG_MARK/,\$p" | grep " $1: replaced " | tail -n 1 |
		sed -n 's/^\[ *\([0-9.]*\)\].*/\1/p'
}
span_total() {
	awk 'END { for (i = 2; i <= NF; i++) if ($i ~ /^total_ns=/) { split($i, a, "="); print a[2] } }' \
		"$DBG/$1/recoveries"
}
together() {
	local a=$1 b=$2 entry=$3 ra rb k ea eb ta tb
	ra=$(rec $a)
	rb=$(rec $b)
	for d in $a $b; do
		echo "restarts=1000 backoff_ms=0 calm_ms=0 floor_ns=1000000000 ceiling_ns=2000000000" \
			> "$DBG/$d/policy" || fail "$d policy"
	done
	echo "class=spin entry=$entry" > "$DBG/$a/inject" || fail "inject $a"
	echo "class=spin entry=$entry" > "$DBG/$b/inject" || fail "inject $b"
	for ((k = 0; k < 600; k++)); do
		[ "$(rec $a)" -gt "$ra" ] && [ "$(rec $b)" -gt "$rb" ] && break
		sleep 0.05
	done
	[ "$(rec $a)" -gt "$ra" ] && [ "$(rec $b)" -gt "$rb" ] ||
		fail "$a and $b hung together: recoveries $ra -> $(rec $a), $rb -> $(rec $b)"
	ea=$(span_end $a)
	eb=$(span_end $b)
	ta=$(span_total $a)
	tb=$(span_total $b)
	awk -v ea="$ea" -v eb="$eb" -v ta="$ta" -v tb="$tb" -v a=$a -v b=$b 'BEGIN {
		sa = ea - ta / 1e9 - 1; sb = eb - tb / 1e9 - 1
		printf "%s: %.3f-%.3f s, %s: %.3f-%.3f s\n", a, sa, ea, b, sb, eb
		exit !(ea != "" && eb != "" && sa < eb && sb < ea)
	}' || fail "the recoveries of $a and $b did not overlap"
	for d in $a $b; do
		echo "restarts=1000 backoff_ms=0 calm_ms=0 floor_ns=200000000" > "$DBG/$d/policy" ||
			fail "$d policy"
	done
}
busybox ping -q -i 0.05 -W 2 -w 3600 10.99.0.1 > /dev/null 2>&1 &
P0=$!
busybox ping -q -i 0.05 -W 2 -w 3600 10.99.1.1 > /dev/null 2>&1 &
P1=$!
together nic0 nic1 start_xmit
kill -INT $P0 $P1
wait $P0 $P1 2>/dev/null
rm -f "$STOP" "$ERRS"
fio_loop /dev/ndblk0 &
f0=$!
fio_loop /dev/ndblk1 &
f1=$!
sleep 1
together ndblk0 ndblk1 queue_rq
touch "$STOP"
wait $f0 $f1
[ ! -s "$ERRS" ] || ! grep -q FAILED "$ERRS" || fail "fio failed: $(grep FAILED "$ERRS")"
echo "simultaneous hangs: both NICs, then both disks, recovered together"

for i in 0 1; do
	ip link set ndeth$i down
done
out=$("$ROOT/tools/ndriverctl" detach "${NICS[1]}") || fail "ndriverctl detach ${NICS[1]}: $out"
grep -q '^pci none$' "$DBG/nic1/status" || fail "nic1 still attached after detach: $(grep '^pci ' "$DBG/nic1/status")"
# Released: the function can go to another device now.
echo "${NICS[1]}" > "$DBG/testdev0/pci" || fail "${NICS[1]}, detached from nic1, refused to testdev0"
echo none > "$DBG/testdev0/pci" || fail "detaching testdev0"
for d in nic0 ndblk0 ndblk1; do
	echo none > "$DBG/$d/pci" || fail "detaching $d"
done
unload ndriver_testdev_a
unload ndriver_vblk_b
unload ndriver_vblk_a
unload ndriver_e1000_irq
unload ndriver_e1000_napi
unload ndriver
dmesg_clean --panics-expected
echo "29-many-devices: ok"
