# SPDX-License-Identifier: GPL-2.0
# Issue 14's report as a user met it: a hang with interrupts off in ndeth0's start_xmit
# at the same moment as one in ndblk0's complete, each on its own CPU, leaves no CPU
# whose watchdog tick could end the other's hang (26-all-cpu-hang does it with one
# device). Here ndeth0's interrupt and a ping run on CPU 0, ndblk0's interrupt and fio
# (every block verified) on the last CPU; spin_irqoff is armed in both entry points at
# once. A round counts when both hangs were detected and recovered and one was ended
# by the i6300ESB's NMI, which fires only when no CPU ticked: the two hung together.
# A round where one hang ended before the other began (the ESB silent) is tried again,
# a bounded number of times. Afterwards both devices serve: the peer answers pings, fio
# verified every block it wrote, the kernel log is clean and no NMI went unclaimed.
# With one vCPU the two hangs follow each other on CPU 0, each ended by the ESB; with
# more than two CPUs the others tick and the case cannot arise (skipped).
. "$(dirname "$0")/../lib.sh"

NIC=$DBG/nic0
PEER=10.99.0.1
ROUNDS=${NDRIVER_REPS:-3}
[ "$ROUNDS" -ge 3 ] || ROUNDS=3
TRIES=$((ROUNDS * 4))
WAIT_SECS=30
work=$(mktemp -d)
STOP=$work/stop
FIOLOG=$work/fio.log
ERRS=$work/fio.errors

# cleanup [now]: stops the ping and the fio loop (after its current run, 60 s at most;
# with "now" at once), and gives the interrupts back to every CPU.
cleanup() {
	local k
	: > "$STOP"
	[ -n "${PING:-}" ] && kill "$PING" 2> /dev/null
	if [ -n "${FIO:-}" ]; then
		[ "${1:-}" = now ] && { pkill -x fio; kill "$FIO"; } 2> /dev/null
		for ((k = 0; k < 600; k++)); do
			kill -0 "$FIO" 2> /dev/null || break
			sleep 0.1
		done
		kill -0 "$FIO" 2> /dev/null && { pkill -x fio; kill "$FIO"; } 2> /dev/null
		wait "$FIO" 2> /dev/null
		FIO=
	fi
	[ -n "${nirq:-}" ] && echo 3 > /proc/irq/$nirq/smp_affinity 2> /dev/null
	# ndblk0's line now (a cold restart may have allocated its vector anew).
	birq=$(blk_irq)
	birq=${birq%%:*}
	[ -n "$birq" ] && echo 3 > /proc/irq/$birq/smp_affinity 2> /dev/null
	return 0
}

fail() {
	echo "FAIL: $*"
	cleanup now
	cat "$NIC/stats" "$BD/stats" "$DBG/status" 2> /dev/null
	tail -n 3 "$NIC/recoveries" "$BD/recoveries" 2> /dev/null
	exit 1
}

ncpu=$(nproc)
if [ "$ncpu" -gt 2 ]; then
	echo "SKIP: $ncpu CPUs: the CPUs beyond the two hung ones tick and end both hangs"
	exit 4
fi
last=$((ncpu - 1))
need_e1000

dmesg_mark
unload_all
disk=$(blk_take_disk) || exit $?
load ndriver
if [ "$(guard_count esb state)" != armed ]; then
	echo "SKIP: no armed i6300ESB ($(guard_line esb)): both CPUs hung would lose the guest"
	unload ndriver
	exit 4
fi
for m in e1000_napi e1000_irq vblk_a vblk_b; do
	load sample-drivers/ndriver_$m
done
# Retried at once without limit; a 300 ms deadline leaves the second hang time to
# begin before a tick of its CPU could end the first.
policy="restarts=1000 backoff_ms=0 calm_ms=0 floor_ns=300000000"
echo "$policy" > "$NIC/policy" || fail "nic0 policy"
echo "$policy" > "$BD/policy" || fail "ndblk0 policy"
echo "$e1000" > "$NIC/pci" || fail "attaching $e1000 to nic0"
echo "$disk" > "$BD/pci" || fail "attaching $disk to ndblk0"
ip link set ndeth0 up || fail "ndeth0 up"
ip addr add 10.99.0.2/24 dev ndeth0 || fail "ndeth0 address"
blk_wait_dev

# answered: true once the peer answers a ping through ndeth0 (10 s at most; a cold
# recovery holds received frames back for 1 s).
answered() {
	local k
	for ((k = 0; k < 10; k++)); do
		busybox ping -q -c 1 -W 1 $PEER > /dev/null 2>&1 && return 0
	done
	return 1
}
answered || fail "the host side does not answer through ndeth0"

nirq=$(cat /sys/bus/pci/devices/$e1000/irq)
# pin_disk_irq: ndblk0's line (vblk-a's MSI-X vector, which a cold restart allocates
# anew) to the last CPU.
pin_disk_irq() {
	birq=$(blk_irq)
	birq=${birq%%:*}
	[ -n "$birq" ] || fail "ndblk0 holds no interrupt line"
	if [ "$ncpu" = 2 ] && [ "$nirq" = "$birq" ]; then
		fail "the e1000 and the disk share interrupt line $nirq: their CPUs cannot differ"
	fi
	printf %x $((1 << last)) > /proc/irq/$birq/smp_affinity || fail "irq $birq to CPU $last"
}
echo 1 > /proc/irq/$nirq/smp_affinity || fail "irq $nirq to CPU 0"
pin_disk_irq
# This shell arms both faults from CPU 0 (before ping's first frame there hangs it).
taskset -p 1 $$ > /dev/null || fail "shell to CPU 0"

# fio on the raw disk, every block read back and checked, on the disk's CPU (the loop
# moves itself off this shell's CPU 0).
: > "$FIOLOG"
(
	taskset -p $((1 << last)) $BASHPID > /dev/null || exit 1
	k=0
	while [ ! -e "$STOP" ]; do
		k=$((k + 1))
		if blk_fio $BLKDEV 16 4M --offset=$(((k % 8) * 4))M > "$work/fio.out" 2>&1; then
			echo ok >> "$FIOLOG"
		else
			echo BAD >> "$FIOLOG"
			cat "$work/fio.out" >> "$ERRS"
		fi
	done
) &
FIO=$!
taskset -c 0 busybox ping -q -i 0.01 -W 1 -w 3600 $PEER > /dev/null 2>&1 &
PING=$!
wait_for 1 grep -c ok "$FIOLOG"

done_rounds=0
tries=0
while [ "$done_rounds" -lt "$ROUNDS" ]; do
	tries=$((tries + 1))
	[ "$tries" -le "$TRIES" ] ||
		fail "$done_rounds of $ROUNDS rounds in $TRIES tries had both CPUs hung at once"
	fires=$(guard_count esb fires)
	by_esb=$(guard_count hangs by_esb)
	rearms=$(guard_count esb rearms)
	nrec=$(nstat recoveries)
	brec=$(bd_stat recoveries)
	nhang=$(nstat detected hang)
	bhang=$(bd_stat detected hang)
	pin_disk_irq
	echo "class=spin_irqoff entry=complete" > "$BD/inject" || fail "inject in ndblk0 complete"
	echo "class=spin_irqoff entry=start_xmit" > "$NIC/inject" || fail "inject in nic0 start_xmit"
	for ((k = 0; k < 600; k++)); do
		nic_inject_off && bd_inject_off &&
			[ "$(nstat recoveries)" -gt "$nrec" ] && [ "$(bd_stat recoveries)" -gt "$brec" ] &&
			[ "$(nstatus state)" = running ] && [ "$(bd_status state)" = running ] && break
		sleep 0.05
	done
	nic_inject_off || fail "try $tries: start_xmit never reached: $(cat "$NIC/inject")"
	bd_inject_off || fail "try $tries: complete never reached: $(cat "$BD/inject")"
	[ "$(nstat recoveries)" -gt "$nrec" ] || fail "try $tries: ndeth0 not recovered"
	[ "$(bd_stat recoveries)" -gt "$brec" ] || fail "try $tries: ndblk0 not recovered"
	[ $(($(nstat detected hang) - nhang)) = 1 ] || fail "try $tries: ndeth0 hangs $nhang -> $(nstat detected hang)"
	[ $(($(bd_stat detected hang) - bhang)) = 1 ] || fail "try $tries: ndblk0 hangs $bhang -> $(bd_stat detected hang)"
	answered || fail "try $tries: the peer no longer answers through ndeth0"
	[ -s "$ERRS" ] && fail "try $tries: fio: $(head -n 5 "$ERRS")"
	ended=$(($(guard_count hangs by_esb) - by_esb))
	if [ "$ended" -lt 1 ] || [ "$(guard_count esb fires)" = "$fires" ]; then
		echo "try $tries: the hangs did not overlap (none ended by the ESB): tried again"
		continue
	fi
	wait_for $((rearms + 1)) guard_count esb rearms
	[ "$(guard_count esb state)" = armed ] || fail "try $tries: ESB $(guard_line esb)"
	done_rounds=$((done_rounds + 1))
	echo "round $done_rounds (try $tries): start_xmit on CPU 0 and complete on CPU $last hung," \
		"$ended ended by the ESB's NMI; ndeth0 and ndblk0 recovered and serving"
done

# fio runs on to the end of its current job, which must verify too.
fires=$(guard_count esb fires)
oks=$(grep -c ok "$FIOLOG")
wait_for $((oks + 1)) grep -c ok "$FIOLOG"
cleanup
[ -s "$ERRS" ] && fail "fio: $(head -n 5 "$ERRS")"
grep -q BAD "$FIOLOG" && fail "a fio run failed"
[ "$(guard_count esb fires)" = "$fires" ] || fail "the ESB fired while every CPU ticked"
echo "fio: $(grep -c ok "$FIOLOG") runs verified; $(guard_line hangs); esb $(guard_line esb)"
echo "ndeth0: $(tail -n 1 "$NIC/recoveries")"
echo "ndblk0: $(tail -n 1 "$BD/recoveries")"
ip link set ndeth0 down
echo none > "$NIC/pci" || fail "detaching the e1000 from nic0"
for m in ndriver_e1000_irq ndriver_e1000_napi ndriver_vblk_b ndriver_vblk_a ndriver; do
	unload $m
done
rm -rf "$work"
dmesg | sed -n "/$DMESG_MARK/,\$p" | grep -E 'Uhhuh|NMI received for unknown reason|Dazed and confused' &&
	fail "an NMI went unclaimed"
dmesg_clean
echo PASS
