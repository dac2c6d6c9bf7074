#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Runs inside the guest for `make campaign`: a fault-injection campaign over fault
# classes x entry points x implementations x workloads. Each injection becomes one
# line of $NDRIVER_RESULTS/campaign.tsv:
#
#   n impl workload class entry injected manifested detected recovered intact cause
#   kind site outcome report
#
# kind       "entry" (raised at the top of the entry function, before the driver's
#            method: wrappers/entry_faults.rs),
#            "random" (inject site=random: a kprobe raises it at an instruction drawn
#            at random from the serving implementation's text; entry is "site") or
#            "traced" (site=traced: drawn among the instructions a trace of the
#            workload saw executed);
# site       the instruction, as the site's own record names it (address and symbol);
# report     the device's first crash report since the injection, checked against it
#            (detected fail-stop faults only; "-" otherwise). Its header must name the
#            cause detected, say "injected yes" and, for an entry point, name that entry
#            point, and its ip must be the failed call's own (no "context: another failed
#            call"); then "site" (a site's report
#            names the site's own SYMBOL+OFF/SIZE [module] as its ip), "module" (an entry
#            point's report names an instruction of the serving implementation module:
#            its ip, or, for a Rust panic (ip rust_helper_BUG) or a hang ended in the
#            framework's lock wait, its innermost stack word), "n/a" (no faulting
#            instruction to name: an error return, a leak, a misuse, a device hang; or
#            no report due: a fault in a new instance's probe, which the swap or
#            recovery starting it handles; for a deadlock or a leak, the report may
#            be of another call it made fail, "injected no": a waiter for the lock, a
#            call whose allocation hit the limit), "mismatch" (the report names something
#            else: a miss), "missing" (a recovery without a new report: a miss);
# outcome    for random sites: "unreached" (the workload never ran the instruction in a
#            guarded call), "nothing" (a corruption with nothing to corrupt there),
#            "detected" (a fault detected and recovered), "silent" (data damaged and
#            nothing detected), "none" (no visible effect); "-" for entry points.
#
# injected   the inject write was accepted;
# manifested the armed fault was raised in the driver: inject reads "off" and its
#            "raised" line (the raising code's own address, in the serving module's
#            text) names the class and entry (entry points); the site's record
#            says it fired and changed the driver's execution or state (applied=1,
#            the kernel log names its address);
# detected   the cause it is counted under went up by one (or more, for hangs);
# recovered  a recovery ran and the device is running on a fresh instance (or, for a
#            request's error return that changed nothing, on the same one after a
#            retry in place: level=hot);
# intact     every answer was the expected one, before and after, and the device
#            resources are held again (the "device" workload); for the NIC, the
#            download that ran across the fault has its sha256; for the disk, no fio
#            run (crc32c verify) failed since the previous injection.
#
# Workloads: testdev0 "request" (answers with known values) and "device" (the e1000
# attached, faults in its interrupt handler, hrtimer and work item),
# NDRIVER_CAMPAIGN_REPS each (default 7); then the real drivers,
# NDRIVER_CAMPAIGN_DEV_REPS each (default 2): ndblk0 "fio" (ext4, fio writing and
# verifying) with every class in queue_rq, complete and devirq/timer plus a device
# hang (Bus Master Enable cleared: blk-mq's request timeout, the driver's timeout
# entry, recovery), and ndeth0 "download" (a paced 256 KiB download from the host
# per injection) with every class in start_xmit, poll (NAPI driver) and devirq.
#
# Sites (NDRIVER_CAMPAIGN_SITES per device and implementation, default 30): the
# fail-stop classes and the corruptions in turn, under the same workloads, at
# instructions drawn as NDRIVER_CAMPAIGN_SITE_KIND says: "traced" (default; among those
# a trace of one round of the workload saw executed) or "random" (the whole text).
#
# A miss keeps the kernel log since the injection in campaign-miss-N.log.
# Progress goes to campaign-progress ("done total seconds": the number of the last
# injection written, the plan's total, the seconds since the start) for the host's
# progress bar and its watch for a stalled guest; it is written first when the plan is
# made, with done = NDRIVER_CAMPAIGN_SKIP. The injection under way is in
# campaign-current ("n impl workload class entry kind site", tab-separated; the site
# once drawn), so that a guest lost during it can be named (campaign-report.py).
#
# Injections are numbered 1 to total in the plan's order, whatever runs of it:
# NDRIVER_CAMPAIGN_SKIP=N (default 0; scripts/campaign.sh sets it when it resumes after
# a lost guest) leaves out injections 1 to N (no line, nothing armed), so that
# injection N+1 is the same (implementation, workload, class, entry or site seed) as
# without it. The set-up the injections after N need still runs (modules, device
# attachment, fio, the download's file, the trace of a site phase that runs); a phase
# whose injections are all left out is numbered and skipped with its set-up.
#
# Test knobs, for scripts/campaign.sh's resume (never set in a real campaign):
# NDRIVER_CAMPAIGN_TEST_CRASH_AT=K ends the guest right before injection K as a crash
# would (sysrq c, a kernel panic; on a kernel without CONFIG_MAGIC_SYSRQ, as the test
# kernel is, an immediate reboot without sync, which QEMU's -no-reboot turns into the
# guest's end), NDRIVER_CAMPAIGN_TEST_STALL_AT=K stops the campaign there without
# ending it (as a hung guest would): each only when injection K is to run.
set -u
R=${NDRIVER_RESULTS:?}
ROOT=${NDRIVER_ROOT:?}
REPS=${NDRIVER_CAMPAIGN_REPS:-7}
DEV_REPS=${NDRIVER_CAMPAIGN_DEV_REPS:-2}
SITES=${NDRIVER_CAMPAIGN_SITES:-30}
# testdev0's sites cost a fraction of the real devices' (no I/O to drive): a long
# campaign puts most of its sites there.
TD_SITES=${NDRIVER_CAMPAIGN_TESTDEV_SITES:-$SITES}
case "$SITES $TD_SITES" in *[!0-9\ ]*) echo "NDRIVER_CAMPAIGN_SITES and _TESTDEV_SITES: numbers" >&2; exit 1 ;; esac
[ "$TD_SITES" -le 9999 ] || { echo "NDRIVER_CAMPAIGN_TESTDEV_SITES: at most 9999" >&2; exit 1; }
SITE_KIND=${NDRIVER_CAMPAIGN_SITE_KIND:-traced}
case $SITE_KIND in random | traced) ;; *) echo "NDRIVER_CAMPAIGN_SITE_KIND: random or traced" >&2; exit 1 ;; esac
# Chunk K of a long campaign draws its sites from seeds K * 1000000 + ..., so that
# chunks merged into one report (campaign-report.py --merge) do not repeat each other.
CHUNK=${NDRIVER_CAMPAIGN_CHUNK:-0}
case $CHUNK in [0-9] | [0-9][0-9] | [0-9][0-9][0-9] | [0-3][0-9][0-9][0-9]) ;;
*) echo "NDRIVER_CAMPAIGN_CHUNK: 0 to 3999" >&2; exit 1 ;; esac
CHUNK=$((10#$CHUNK))
SKIP=${NDRIVER_CAMPAIGN_SKIP:-0}
CRASH_AT=${NDRIVER_CAMPAIGN_TEST_CRASH_AT:-0}
STALL_AT=${NDRIVER_CAMPAIGN_TEST_STALL_AT:-0}
for v in "$SKIP" "$CRASH_AT" "$STALL_AT"; do
	case $v in '' | *[!0-9]*) echo "NDRIVER_CAMPAIGN_SKIP, _TEST_CRASH_AT, _TEST_STALL_AT: numbers" >&2; exit 1 ;; esac
done
SKIP=$((10#$SKIP)) CRASH_AT=$((10#$CRASH_AT)) STALL_AT=$((10#$STALL_AT))
SITE_CLASSES="panic null wild gpf div0 spin spin_irqoff flip_dest skip_insn corrupt_ptr"
. "$ROOT/selftests/guest/lib.sh"

# Failing here ends the campaign, not the guest: the report shows how far it got.
fail() {
	echo "campaign aborted: $*" | tee -a "$R/campaign-aborted"
	exit 1
}

e1000=$(free_e1000)

IMPLS="testdev-a testdev-b"
CLASSES=$(fault_classes)
# What stats counts each class under, worked out once (detected_as may read the whole of
# /proc/kallsyms).
declare -A DET
for c in $CLASSES $SITE_CLASSES; do
	DET[$c]=$(detected_as "$c")
done
REQUEST_ENTRIES="op tick irq configure probe remove"
DEVICE_ENTRIES="devirq timer work"
[ -n "$e1000" ] || DEVICE_ENTRIES=
nclasses=$(wc -w <<< "$CLASSES")
per_impl=$((nclasses * $(wc -w <<< "$REQUEST_ENTRIES $DEVICE_ENTRIES")))
# The plan, phase by phase (the phases below check that they numbered as many):
# testdev0's entry points and sites; the block device's 3 entries per implementation,
# the device hang and the sites; the NIC's 3 + 2 entries and the sites.
td_count=$((2 * per_impl * REPS + 2 * TD_SITES))
blk_count=0
(blk_take_disk) > /dev/null 2>&1 && blk_count=$(((2 * 3 * nclasses + 2) * DEV_REPS + 2 * SITES))
nic_count=0
[ -n "$e1000" ] && nic_count=$(((3 + 2) * nclasses * DEV_REPS + 2 * SITES))
total=$((td_count + blk_count + nic_count))

dmesg_mark
load_testdev
echo "restarts=1000 backoff_ms=0 calm_ms=0" > "$TD/policy" || fail "policy"
echo "config 0 1000" > "$TD/call" || fail "config"

out=$R/campaign.tsv
# The check a site phase runs after a corruption (see site_one); none by default.
SITE_CHECK=
printf 'n\timpl\tworkload\tclass\tentry\tinjected\tmanifested\tdetected\trecovered\tintact\tcause\tkind\tsite\toutcome\treport\n' > "$out"
n=0
start=$EPOCHSECONDS
echo "$SKIP $total 0" > "$R/campaign-progress"

# next_injection IMPL WORKLOAD CLASS ENTRY KIND: numbers the next injection ($n); false
# when the run leaves it out (NDRIVER_CAMPAIGN_SKIP), otherwise notes it in
# campaign-current (the test knobs act here).
next_injection() {
	n=$((n + 1))
	((n > SKIP)) || return 1
	current=("$n" "$@")
	note_current -
	if ((n == CRASH_AT)); then
		echo "campaign: crashing the guest before injection $n (NDRIVER_CAMPAIGN_TEST_CRASH_AT)" > /dev/kmsg
		[ -w /proc/sysrq-trigger ] && echo c > /proc/sysrq-trigger
		busybox reboot -n -f
		# If neither ended the guest: a stall, which the host's watch ends.
		while :; do nap 3600; done
	fi
	if ((n == STALL_AT)); then
		echo "campaign: stalled before injection $n (NDRIVER_CAMPAIGN_TEST_STALL_AT)" > /dev/kmsg
		while :; do nap 3600; done
	fi
	return 0
}
# note_current SITE: campaign-current for the injection under way, with its site.
note_current() {
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "${current[@]}" "$1" > "$R/campaign-current"
}
# skip_phase COUNT: true when the COUNT injections after $n are all left out
# (NDRIVER_CAMPAIGN_SKIP); they are numbered then, and their phase, set-up included,
# does not run.
skip_phase() {
	((n + $1 <= SKIP)) || return 1
	n=$((n + $1))
}
# phase_end PLANNED WHAT: the phases so far numbered PLANNED injections.
phase_end() {
	[ "$n" = "$1" ] || fail "injection numbering: $n after $2, the plan has $1"
}

# The readers the loops below poll with set a variable instead of printing: under TCG a
# command substitution (a fork) or a program (sed, cat) costs tens of milliseconds, and
# the campaign used to spend three quarters of its time in them between injections.
# kv_into VAR FILE KEY...: the last word of FILE's line whose other words are KEY...
# (stats), empty without.
kv_into() {
	local -n kv_out=$1
	local kv_line kv_f=$2
	shift 2
	local kv_k="$*"
	kv_out=
	snapshot "$kv_f"
	for kv_line in "${SNAP[@]}"; do
		[ "${kv_line% *}" = "$kv_k" ] && { kv_out=${kv_line##* }; return 0; }
	done
	return 0
}
# st_into VAR FILE KEY: the rest of FILE's line whose first word is KEY (status), empty
# without.
st_into() {
	local -n st_out=$1
	local st_line
	st_out=
	snapshot "$2"
	for st_line in "${SNAP[@]}"; do
		[ "${st_line%% *}" = "$3" ] && { st_out=${st_line#* }; return 0; }
	done
	return 0
}
# field_into VAR FILE KEY: the value of KEY=... in FILE's first line (inject), empty
# without.
field_into() {
	local -n fd_out=$1
	local fd_line fd_w
	fd_out=
	read -r fd_line < "$2"
	for fd_w in $fd_line; do
		[ "${fd_w%%=*}" = "$3" ] && { fd_out=${fd_w#*=}; return 0; }
	done
	return 0
}
# A sleep without a program: a read that times out on a pipe nobody writes.
exec {NAP_FD}<> <(:)
nap() { read -r -t "$1" -u "$NAP_FD" _ || :; }

# wait_until CMD...: polls CMD (true/false) for up to 20 s.
wait_until() {
	local end=$((EPOCHSECONDS + 20))
	until "$@"; do
		((EPOCHSECONDS < end)) || return 1
		nap 0.02
	done
	return 0
}
running() {
	local s
	st_into s "$TD/status" state
	[ "$s" = running ]
}
detected_since() {
	local v
	kv_into v "$TD/stats" detected "$1"
	[ "${v:-0}" -gt "$2" ]
}
# running_after GEN: a newer instance than generation GEN runs. Polled as one: the failed
# call's detection is counted before its instance stops running, so "running" alone may
# still be the old one.
running_after() {
	local gen
	running && st_into gen "$TD/status" generation && [ "${gen:-0}" -gt "$1" ]
}
# dev_recovered_after DEV GEN RECS ENTRY: a recovery ran since DEV's count RECS and DEV
# runs: a newer instance than generation GEN, or the same one after a retry in place of
# a failure in ENTRY (level=hot: an error return that changed nothing, re-issued on the
# instance that returned it; "-": any entry).
dev_recovered_after() {
	local dir=$DBG/$1 s gen recs l last=
	st_into s "$dir/status" state
	[ "$s" = running ] || return 1
	st_into gen "$dir/status" generation
	[ "${gen:-0}" -gt "$2" ] && return 0
	st_into recs "$dir/stats" recoveries
	[ "${recs:-0}" -gt "$3" ] || return 1
	snapshot "$dir/recoveries"
	last=
	[ ${#SNAP[@]} = 0 ] || last=${SNAP[-1]}
	[[ $last == *" level=hot" ]] && { [ "$4" = - ] || [[ $last == *" entry=$4 "* ]]; }
}
device_held() {
	local line
	st_into line "$TD/status" resources
	[[ " $line " == *" irq=1 "* && " $line " == *" iomap=1 "* ]]
}

# reports_seen_into VAR DIR: the number of DIR's newest crash report (0 for none).
reports_seen_into() {
	local -n rs_out=$1
	local rs_line
	rs_out=0
	[ -r "$2/reports" ] || return 0
	snapshot "$2/reports"
	for rs_line in "${SNAP[@]}"; do
		[[ $rs_line =~ ^report\ ([0-9]+): ]] && rs_out=${BASH_REMATCH[1]}
	done
	return 0
}

# report_mark DIR: notes DIR's newest crash report and its count of recoveries from
# failures before an injection, for report_verdict.
report_mark() {
	reports_seen_into reports0 "$1"
	st_into recs0 "$1/stats" recoveries
	recs0=${recs0:-0}
}

# report_verdict DIR IMPL CLASS ENTRY: checks DIR's first crash report since the
# injection against it (see "report" at the top); sets $report.
report_verdict() {
	local dir=$1 impl=$2 class=$3 entry=$4 mod want got line seen recs
	report=-
	[ "$detected" = 1 ] || return 0
	corruption "$class" && return 0
	reports_seen_into seen "$dir"
	if [ "$seen" -le "$reports0" ]; then
		# A failure inside a swap's or a recovery's start of a new instance (a fault in
		# its probe) is handled by the policy ladder there, without a report of its own
		# (debugfs.rst, "reports"); a recovery from a failure always has one.
		report=missing
		st_into recs "$dir/stats" recoveries
		[ "${recs:-0}" -gt "${recs0:-0}" ] || report=n/a
		return 0
	fi
	# The first report since the injection (later recoveries may have added more): its
	# header, its ip: line (the first), its innermost stack word.
	local block=() head= rcause= rentry= take=0 l ip0= stack0= other_call=0
	snapshot "$dir/reports"
	for l in "${SNAP[@]}"; do
		if [[ $l =~ ^report\ ([0-9]+): ]]; then
			[ $take = 1 ] && break
			[ "${BASH_REMATCH[1]}" -gt "$reports0" ] && take=1
		fi
		[ $take = 1 ] || continue
		block+=("$l")
		[[ -z $ip0 && $l == "ip: "* ]] && ip0=$l
		[[ -z $stack0 && $l == "stack: #0 "* ]] && stack0=$l
		[[ $l == "context: another failed call"* ]] && other_call=1
	done
	head=${block[0]-}
	[[ $head =~ \ cause\ ([^ ]*)\  ]] && rcause=${BASH_REMATCH[1]}
	[[ $head =~ \ entry\ ([^ ]*)\ injected\  ]] && rentry=${BASH_REMATCH[1]}
	got=${ip0#ip: }
	got=${got%% *}
	# A device that stopped answering: no injection and no faulting instruction, only
	# the timeout entry's verdict.
	if [ "$class" = device_hang ]; then
		report=mismatch
		[ "$rcause" = hang ] && [ "$rentry" = timeout ] && report=n/a
		return 0
	fi
	# The report is of this injection: its cause is the one detected, it says the
	# fault was injected, and for an entry point it names that entry point (but for a
	# leak, which fails the next call of any entry point to return, and a deadlock,
	# whose waiters on the same lock may overrun first); its ip is this call's own (not
	# another failed call's of the instance).
	local any_entry=0 injected_yes=" injected yes"
	case $class in leak | deadlock) any_entry=1 ;; esac
	# A deadlock on the driver's lock may surface first in another call of the instance
	# waiting for that lock (ended in the lock wait, or by the watchdog in the lock's
	# loop), a leak in another call whose allocation hits the limit first: their
	# reports are of the fault, though not of the call it was raised in.
	case $class:$rcause in
	deadlock:hang)
		# Only a call that waited for the driver's lock: ended in the framework's lock
		# wait, or in DriverLock::lock's loop.
		[[ $ip0 == *ndriver_lock_wait+* || $ip0 == *10DriverLock* ||
			$stack0 == *ndriver_lock_wait+* || $stack0 == *10DriverLock* ]] &&
			injected_yes=" injected"
		;;
	leak:leak) injected_yes=" injected" ;;
	esac
	if [ "$rcause" != "$cause" ] || [[ $head != *"$injected_yes"* ]] ||
		{ [ "${kind:-entry}" = entry ] && [ $any_entry = 0 ] && [ "$rentry" != "$entry" ]; } ||
		[ $other_call = 1 ]; then
		report=mismatch
		return 0
	fi
	# No faulting instruction: an error return, a leak, a misuse.
	case $rcause in
	error_return | leak | misuse)
		report=n/a
		[ "$got" = n/a ] || report=mismatch
		return 0
		;;
	esac
	report=mismatch
	if [ "${kind:-entry}" != entry ]; then
		# $site is ADDR:SYMBOL+OFF/SIZE [module]; the report's ip the same symbol.
		want=${site#*:}
		[ "$got" = "${want%% *}" ] && report=site
		return 0
	fi
	mod="[ndriver_${impl//-/_}]"
	line=$ip0
	if [[ $line == *" $mod" ]]; then
		report=module
	elif [[ $got == rust_helper_BUG+* || $rcause == hang ]]; then
		# A Rust panic's ip is the shared BUG(); a hang may be ended in the
		# framework's wait for a driver lock: the innermost driver return address.
		line=$stack0
		[[ $line == *" $mod" ]] && report=module
	fi
	return 0
}

# record DEVDIR IMPL WORKLOAD CLASS ENTRY: writes the verdict of injection $n; a miss
# keeps the device's state and the kernel log since the injection, and swaps the
# device to a fresh instance for the next one.
record() {
	local dir=$1 impl=$2 workload=$3 class=$4 entry=$5
	report_verdict "$dir" "$impl" "$class" "$entry"
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' $n "$impl" \
		"$workload" "$class" "$entry" $injected $manifested $detected $recovered $intact \
		"$cause" "${kind:-entry}" "${site:--}" "${outcome:--}" "$report" >> "$out"
	# A random site the workload never reached, or a corruption without a failure,
	# is not a miss; a fail-stop fault that fired and was not recovered with data
	# intact is, and so is damaged data.
	local miss=0
	case $report in mismatch | missing) miss=1 ;; esac
	if [ "${kind:-entry}" = entry ]; then
		[ $((manifested * detected * recovered * intact)) = 0 ] && miss=1
	elif [ "$manifested" = 1 ]; then
		case $outcome in silent) miss=1 ;; detected) [ $((recovered * intact)) = 0 ] && miss=1 ;; esac
		case $class in
		flip_dest | skip_insn | corrupt_ptr) ;;
		*) [ "$outcome" = detected ] && [ "$detected" = 1 ] || miss=1 ;;
		esac
	elif [ "$intact" = 0 ]; then
		# Wrong data while no fault fired.
		miss=1
	fi
	if [ $miss = 1 ]; then
		{
			echo "injection $n: $impl $workload $class $entry"
			echo "verdict: injected=$injected manifested=$manifested" \
				"detected=$detected recovered=$recovered intact=$intact"
			cat "$dir/status" "$dir/inject"
			tail -n 3 "$dir/recoveries"
			echo "report verdict: $report (reports before the injection: $reports0)"
			cat "$dir/reports"
			dmesg | sed -n "/$DMESG_MARK/,\$p"
		} > "$R/campaign-miss-$n.log"
		echo off > "$dir/inject" 2>/dev/null
		echo "$impl" > "$dir/swap" 2>/dev/null
	fi
	echo "$n $total $((EPOCHSECONDS - start))" > "$R/campaign-progress"
}

# One injection. Sets the verdict variables; the caller writes the line.
inject_one() {
	local impl=$1 workload=$2 class=$3 entry=$4 i=$5
	local d=${DET[$class]-} det0 gen0
	injected=0 manifested=0 detected=0 recovered=0 intact=1
	kv_into det0 "$TD/stats" detected "$d"
	st_into gen0 "$TD/status" generation
	dmesg_mark
	report_mark "$TD"
	echo "class=$class entry=$entry" > "$TD/inject" && injected=1
	case $entry in
	op | tick | irq)
		td_call "$entry" "$i" > /dev/null || intact=0
		[ "$TD_LAST" = $((1000 + i)) ] || intact=0
		;;
	configure)
		echo "config 0 1000" > "$TD/call" || intact=0
		;;
	probe | remove)
		echo "$impl" > "$TD/swap" || intact=0
		;;
	*)
		# Asynchronous entry points: a request makes the device interrupt, which
		# arms the timer and queues the work.
		td_call op "$i" > /dev/null || intact=0
		[ "$TD_LAST" = $((1000 + i)) ] || intact=0
		;;
	esac
	wait_until inject_off && raised_in "$TD" "$class" "$entry" && manifested=1
	# remove returns nothing: an error return there is raised but not a failure.
	if [ "$class" = error ] && [ "$entry" = remove ]; then
		detected=$manifested recovered=$manifested
	else
		wait_until detected_since "$d" "$det0" && detected=1
		wait_until dev_recovered_after testdev0 "$gen0" "$recs0" "$entry" && recovered=1
	fi
	# Service afterwards: the configured answer (offset 1000, replayed on every new
	# instance) comes back, and the device (if any) is held by the new instance.
	td_call op 5 > /dev/null
	[ "$TD_LAST" = 1005 ] || intact=0
	if [ "$workload" = device ]; then
		wait_until device_held || intact=0
	fi
	cause=$d
}

# dev_stat DEV NAME: a line of a device's stats.
dev_stat() {
	local dev=$1
	shift
	stat_in "$DBG/$dev/stats" "$@"
}
dev_running() {
	local s
	st_into s "$DBG/$1/status" state
	[ "$s" = running ]
}
dev_inject_off() {
	local l
	read -r l < "$DBG/$1/inject"
	[ "$l" = off ]
}
dev_recovered_since() {
	local v
	kv_into v "$DBG/$1/stats" recoveries
	[ "${v:-0}" -gt "$2" ] && dev_running "$1"
}
dev_detected_since() {
	local v
	kv_into v "$DBG/$1/stats" detected "$2"
	[ "${v:-0}" -gt "$3" ]
}
# dev_running_after DEV GEN: running_after for DEV.
dev_running_after() {
	local gen
	dev_running "$1" && st_into gen "$DBG/$1/status" generation && [ "${gen:-0}" -gt "$2" ]
}
# detected_all_into VAR DEVDIR: failures the device detected, of every cause.
detected_all_into() {
	local -n da_out=$1
	local da_l
	da_out=0
	snapshot "$2/stats"
	for da_l in "${SNAP[@]}"; do
		[[ $da_l =~ ^detected\ [^\ ]+\ ([0-9]+)$ ]] && da_out=$((da_out + BASH_REMATCH[1]))
	done
	return 0
}

site_fired() {
	local f
	field_into f "$DBG/$1/inject" fired
	[ -n "$f" ] && [ "$f" != 0 ]
}
corruption() { case $1 in flip_dest | skip_insn | corrupt_ptr) return 0 ;; esac; return 1; }

# in_child CMD...: CMD in a child process of its own. A corruption can make the driver
# store through a wild stack address into the frames of the task that called it (chunk
# 16 of the 2026-12-05 campaign: a flip_dest in DriverLock::lock moved request's result
# pointer onto ksys_write's saved registers, and the shell that had written the
# request died of SIGTRAP on its way back to user space). Every call that reaches the
# driver from the campaign's shell itself while a site is armed (a swap, testdev0's
# requests; the other workloads' I/O is fio's and curl's) runs here, so that such a
# write harms a child, which is noted (campaign-killed.txt) and counts as damaged data,
# not the campaign. Not for functions that keep state in the shell (fio_intact).
in_child() {
	local rc=0
	("$@") || rc=$?
	if [ $rc -gt 128 ]; then
		echo "injection $n: $* killed by signal $((rc - 128))" >> "$R/campaign-killed.txt"
	fi
	return $rc
}

# swap_to DEV IMPL: a swap (the driver's remove and probe run in the writer's task).
swap_to() {
	echo "$2" > "$DBG/$1/swap"
}

# site_one DEV IMPL WORKLOAD CLASS SEED DRIVE: one fault at an instruction drawn at
# random (seed SEED) from the text of DEV's serving implementation IMPL, or from what
# its trace saw executed (SITE_KIND). DRIVE runs
# the workload for a while and fails when it saw wrong data; when the workload does
# not reach the site, IMPL is probed afresh (probe, configure and remove code), and
# the workload runs once more so that a latent corruption can show. Sets the verdict
# variables.
site_one() {
	local dev=$1 impl=$2 workload=$3 class=$4 seed=$5 drive=$6 d=${DET[$4]-} det0 all0 all
	local gen0 last l applied sym det
	# The stub's NULL load is not compiler-instrumented: a page fault even under KASAN.
	[ "$class" = null ] && d=page_fault
	kind=$SITE_KIND site=- outcome=unreached cause=${d:--}
	injected=0 manifested=0 detected=0 recovered=0 intact=1
	det0=0
	[ -n "$d" ] && kv_into det0 "$DBG/$dev/stats" detected "$d"
	detected_all_into all0 "$DBG/$dev"
	st_into gen0 "$DBG/$dev/status" generation
	dmesg_mark
	report_mark "$DBG/$dev"
	if ! echo "class=$class site=$SITE_KIND seed=$seed" > "$DBG/$dev/inject"; then
		outcome=refused
		return 0
	fi
	injected=1
	field_into site "$DBG/$dev/inject" site
	field_into sym "$DBG/$dev/inject" symbol
	site="$site:$sym"
	note_current "$site"
	$drive || intact=0
	if ! site_fired "$dev"; then
		in_child swap_to "$dev" "$impl" || intact=0
		$drive || intact=0
	fi
	field_into applied "$DBG/$dev/inject" applied
	site_fired "$dev" && [ "$applied" = 1 ] && manifested=1
	$drive || intact=0
	if [ $manifested = 1 ]; then
		# A fault in probe or configure (during the re-probe) is recovered by the
		# ladder: the counters of detected failures, not of recoveries, show it.
		detected_all_into all "$DBG/$dev"
		if [ "$all" -gt "$all0" ] ||
			{ ! corruption "$class" && wait_until dev_detected_since "$dev" "$d" "$det0"; }; then
			wait_until dev_recovered_after "$dev" "$gen0" "$recs0" - && recovered=1
			snapshot "$DBG/$dev/recoveries"
			last=
			[ ${#SNAP[@]} = 0 ] || last=${SNAP[-1]}
			last=${last#*cause=}
			cause=${last%% *}
			det=
			[ -n "$d" ] && kv_into det "$DBG/$dev/stats" detected "$d"
			if corruption "$class" || [ "${det:-0}" -gt "$det0" ]; then
				detected=1
			fi
			outcome=detected
		elif [ $intact = 0 ]; then
			outcome=silent
		else
			outcome=none
		fi
	elif site_fired "$dev"; then
		outcome=nothing
	fi
	# A corruption that changed something may have damaged data the workload's own
	# checks do not read: the phase's own check (SITE_CHECK IMPL, e.g. fsck) judges it,
	# after the verdict above (it starts a fresh instance of its own).
	if [ $manifested = 1 ] && corruption "$class" && [ -n "$SITE_CHECK" ]; then
		if ! $SITE_CHECK "$impl"; then
			intact=0
			[ "$outcome" = none ] && outcome=silent
		fi
	fi
	echo off > "$DBG/$dev/inject"
	# Whatever a corruption left behind, the next injection starts on a fresh instance.
	if [ $manifested = 1 ] && [ $detected = 0 ]; then
		in_child swap_to "$dev" "$impl"
		wait_until dev_running "$dev"
	fi
	return 0
}

# site_phase DEV IMPL WORKLOAD BASE DRIVE COUNT: COUNT sites on DEV, the site classes
# in turn, seeds BASE+1 on; for traced sites, after a trace of one DRIVE.
site_phase() {
	local dev=$1 impl=$2 workload=$3 base=$4 drive=$5 count=$6 i class
	local classes=($SITE_CLASSES)
	[ "$count" -gt 0 ] || return 0
	# Left out whole (NDRIVER_CAMPAIGN_SKIP): no trace either.
	skip_phase "$count" && return 0
	if [ "$SITE_KIND" = traced ]; then
		echo on > "$DBG/$dev/trace" || fail "$dev: trace on"
		# ext4 over ndblk0 may serve a round from the page cache: sync, and drive
		# again until the trace saw the driver run (at most five rounds).
		for ((i = 0; i < 5; i++)); do
			$drive || echo "$dev $impl: the traced workload failed" >> "$R/campaign-traces.txt"
			sync
			[ "$(sed -n 's/.* steps=\([0-9]*\) .*/\1/p' "$DBG/$dev/trace")" -gt 0 ] && break
		done
		echo off > "$DBG/$dev/trace" || fail "$dev: trace off"
		echo "$dev $impl: $(cat "$DBG/$dev/trace")" >> "$R/campaign-traces.txt"
		[ "$(sed -n 's/.* executed=\([0-9]*\) .*/\1/p' "$DBG/$dev/trace")" -gt 0 ] ||
			fail "$dev $impl: the trace saw nothing executed: $(cat "$DBG/$dev/trace")"
	fi
	for ((i = 1; i <= count; i++)); do
		class=${classes[i % ${#classes[@]}]}
		next_injection "$impl" "$workload" "$class" site "$SITE_KIND" || continue
		site_one "$dev" "$impl" "$workload" "$class" $((CHUNK * 1000000 + base + i)) "$drive"
		record "$DBG/$dev" "$impl" "$workload" "$class" site
		kind= site= outcome=
	done
}

# site_phases DEV WORKLOAD BASE DRIVE COUNT IMPL...: site_phase on each implementation
# in turn, seeds BASE+1.., BASE+10001.., ...
site_phases() {
	local dev=$1 workload=$2 base=$3 drive=$4 count=$5 impl
	shift 5
	for impl in "$@"; do
		echo "$impl" > "$DBG/$dev/swap" || fail "swap $dev to $impl"
		site_phase "$dev" "$impl" "$workload" "$base" "$drive" "$count"
		base=$((base + 10000))
	done
}

# td_drive: three rounds of op, tick and irq requests through testdev0, each answer
# checked.
td_drive() {
	in_child td_rounds
}
td_rounds() {
	local j e ok=0
	for ((j = 1; j <= 3; j++)); do
		for e in op tick irq; do
			td_call $e $j > /dev/null
			[ "$TD_LAST" = $((1000 + j)) ] || ok=1
		done
	done
	return $ok
}

for impl in $IMPLS; do
	echo "$impl" > "$TD/swap" || fail "swap to $impl"
	for workload in request device; do
		if [ $workload = device ]; then
			[ -n "$e1000" ] || continue
			echo "$e1000" > "$TD/pci" || fail "attach $e1000"
			entries=$DEVICE_ENTRIES
		else
			entries=$REQUEST_ENTRIES
		fi
		for class in $CLASSES; do
			for entry in $entries; do
				for ((rep = 1; rep <= REPS; rep++)); do
					next_injection "$impl" $workload "$class" "$entry" entry || continue
					inject_one "$impl" $workload "$class" "$entry" "$rep"
					record "$TD" "$impl" $workload "$class" "$entry"
				done
			done
		done
		[ $workload = device ] && { echo none > "$TD/pci" || fail "detach"; }
	done
done
site_phases testdev0 request 0 td_drive "$TD_SITES" $IMPLS
phase_end "$td_count" testdev0
cat "$TD/stats" > "$R/campaign-stats.txt"
cat "$DBG/status" >> "$R/campaign-stats.txt"
unload_testdev

# dev_inject DEV CLASS ENTRY: arms one fault and waits for its fate; sets the verdict
# variables but "intact", which the caller decides.
dev_inject() {
	local dev=$1 class=$2 entry=$3 d=${DET[$2]-} det0 r0
	injected=0 manifested=0 detected=0 recovered=0
	kv_into det0 "$DBG/$dev/stats" detected "$d"
	kv_into r0 "$DBG/$dev/stats" recoveries
	dmesg_mark
	report_mark "$DBG/$dev"
	echo "class=$class entry=$entry" > "$DBG/$dev/inject" && injected=1
	# The traffic that is to reach the fault starts once it is armed (a download begun
	# before could end before the arm, leaving nothing for the fault to run in).
	${DEV_TRAFFIC:-:}
	wait_until dev_inject_off "$dev" && raised_in "$DBG/$dev" "$class" "$entry" && manifested=1
	wait_until dev_detected_since "$dev" "$d" "$det0" && detected=1
	wait_until dev_recovered_since "$dev" "$r0" && recovered=1
	cause=$d
}

# The block device under fio: every class in the I/O entry points of both drivers,
# then a device hang per implementation.
MNT=/tmp/ndblk-campaign
if ! (blk_take_disk) > /dev/null 2>&1; then
	echo "no virtio-blk test disk: block workload skipped" | tee -a "$R/campaign-skipped"
elif ! skip_phase "$blk_count"; then
	load_blk
	echo "restarts=1000 backoff_ms=0 calm_ms=0" > "$BD/policy" || fail "ndblk0 policy"
	mkfs.ext4 -q -F $BLKDEV || fail "mkfs.ext4"
	mkdir -p $MNT
	mount $BLKDEV $MNT || fail "mount"
	rm -f /tmp/camp-fio.log
	# fio_start / fio_stop: fio writing and verifying on the ext4 of ndblk0, in a loop.
	# The stop file is outside the file system, which may have gone read-only.
	FIO_STOP=/tmp/camp-fio.stop
	fio_start() {
		rm -f $FIO_STOP
		fio_verify_loop $MNT $FIO_STOP /tmp/camp-fio.log "$R/campaign-fio-errors.txt" &
		fio_loop=$!
	}
	# fio_stop: ends the loop after its current run, or, after 60 s, kills it and its
	# fio (a run stuck on a device that never answers); fails then.
	fio_stop() {
		local k
		touch $FIO_STOP
		for ((k = 0; k < 600; k++)); do
			kill -0 $fio_loop 2>/dev/null || { wait $fio_loop; return 0; }
			sleep 0.1
		done
		pkill -P $fio_loop 2>/dev/null
		kill $fio_loop 2>/dev/null
		pkill -x fio 2>/dev/null
		wait $fio_loop 2>/dev/null
		echo "injection $n: the fio loop did not stop within 60 s, killed" >> "$R/campaign-fio-errors.txt"
		return 1
	}
	fio_start
	bad0=0
	fio_intact() {
		local bad
		bad=$(grep -c BAD /tmp/camp-fio.log 2>/dev/null)
		[ "${bad:-0}" = "$bad0" ]
		local r=$?
		bad0=${bad:-0}
		return $r
	}
	cfg=/sys/bus/pci/devices/$(cat "$BD/pci")/config
	echo 2000 > /sys/block/ndblk0/queue/io_timeout
	for impl in vblk-a vblk-b; do
		echo "$impl" > "$BD/swap" || fail "swap to $impl"
		ev=devirq
		[ $impl = vblk-b ] && ev=timer
		for class in $CLASSES; do
			for entry in queue_rq complete $ev; do
				for ((rep = 1; rep <= DEV_REPS; rep++)); do
					next_injection "$impl" fio "$class" "$entry" entry || continue
					dev_inject ndblk0 "$class" "$entry"
					intact=1
					fio_intact || intact=0
					record "$BD" "$impl" fio "$class" "$entry"
				done
			done
		done
		for ((rep = 1; rep <= DEV_REPS; rep++)); do
			next_injection "$impl" fio device_hang timeout entry || continue
			injected=1 manifested=0 detected=0 recovered=0 intact=1
			r0=$(dev_stat ndblk0 recoveries)
			t0=$(dev_stat ndblk0 timeouts)
			dmesg_mark
			report_mark "$BD"
			cmd=$(od -An -tu2 -j4 -N2 "$cfg" | tr -d ' ')
			new=$((cmd & ~4))
			printf "$(printf '\\x%02x\\x%02x' $((new & 255)) $((new >> 8)))" |
				dd of="$cfg" bs=1 seek=4 count=2 conv=notrunc status=none || injected=0
			for ((i = 0; i < 300; i++)); do
				dev_recovered_since ndblk0 "$r0" && break
				sleep 0.1
			done
			[ "$(dev_stat ndblk0 timeouts)" -gt "$t0" ] && manifested=1
			tail -n 1 "$BD/recoveries" | grep -q "cause=hang entry=timeout" && detected=1
			dev_recovered_since ndblk0 "$r0" && recovered=1
			fio_intact || intact=0
			cause=hang
			record "$BD" "$impl" fio device_hang timeout
		done
	done
	blk_drive() {
		sleep 1
		fio_intact
	}
	# blk_fsck IMPL: after a corruption that changed something, on a fresh instance of
	# IMPL, the file system checked (fsck -n; exit 4: damage, kept in
	# campaign-fsck-N.txt) and, when damaged, made anew, so that the next injections
	# are judged on a clean one. Fails on damage, on a fio run that failed meanwhile, or
	# when the check could not run.
	blk_fsck() {
		local impl=$1 rc bad=0 remake=0 err=$R/campaign-fio-errors.txt
		fio_stop || bad=1
		# A run the loop finished while stopping is this injection's too.
		fio_intact || bad=1
		in_child swap_to ndblk0 "$impl" 2>/dev/null
		wait_until dev_running ndblk0 || echo "injection $n: ndblk0 not running for fsck" >> "$err"
		if umount $MNT; then
			fsck.ext4 -n -f $BLKDEV > "$R/campaign-fsck-$n.txt" 2>&1
			rc=$?
			case $rc in
			0) rm -f "$R/campaign-fsck-$n.txt" ;;
			4)
				bad=1 remake=1
				echo "injection $n: fsck found damage (campaign-fsck-$n.txt)" >> "$err"
				;;
			*)
				bad=1 remake=1
				echo "injection $n: fsck could not check (exit $rc, campaign-fsck-$n.txt)" >> "$err"
				;;
			esac
		else
			bad=1 remake=1
			echo "injection $n: umount failed before fsck" >> "$err"
			umount -l $MNT 2>/dev/null
		fi
		if [ $remake = 1 ]; then
			mkfs.ext4 -q -F $BLKDEV || { sleep 1; mkfs.ext4 -q -F $BLKDEV; } ||
				fail "mkfs.ext4 after injection $n"
		fi
		mount $BLKDEV $MNT || { sleep 1; mount $BLKDEV $MNT; } || fail "mount after injection $n"
		fio_start
		return $bad
	}
	SITE_CHECK=blk_fsck
	site_phases ndblk0 fio 100000 blk_drive "$SITES" vblk-a vblk-b
	SITE_CHECK=
	fio_stop || echo "fio loop killed at the end" >> "$R/campaign-fio-errors.txt"
	fio_intact || echo "fio failed after the last injection" >> "$R/campaign-fio-errors.txt"
	umount $MNT || fail "umount"
	fsck.ext4 -n -f $BLKDEV > "$R/campaign-fsck.txt" 2>&1 || echo "fsck: errors" >> "$R/campaign-fio-errors.txt"
	echo "--- ndblk0" >> "$R/campaign-stats.txt"
	cat "$BD/stats" >> "$R/campaign-stats.txt"
	unload_blk
fi
phase_end $((td_count + blk_count)) ndblk0

# The NIC under paced downloads from the host: every class in the data path.
if [ -n "$e1000" ] && ! skip_phase "$nic_count"; then
	NIC=$DBG/nic0
	load ndriver
	load sample-drivers/ndriver_e1000_napi
	load sample-drivers/ndriver_e1000_irq
	echo "restarts=1000 backoff_ms=0 calm_ms=0 floor_ns=200000000" > "$NIC/policy" || fail "nic0 policy"
	echo "$e1000" > "$NIC/pci" || fail "attach $e1000 to nic0"
	ip link set ndeth0 up && ip addr add 10.99.0.2/24 dev ndeth0 || fail "ndeth0 up"
	for ((i = 0; i < 50; i++)); do
		busybox ping -q -c 1 -W 1 10.99.0.1 > /dev/null 2>&1 && break
	done
	head -c $((256 << 10)) /dev/urandom > "$R/peer/camp-blob"
	ref=$(sha256sum < "$R/peer/camp-blob" | cut -d' ' -f1)
	# start_download: a paced download from the host in the background ($dl).
	start_download() {
		rm -f /tmp/camp-dl
		curl -sf --max-time 60 --limit-rate 256k -o /tmp/camp-dl \
			http://10.99.0.1:8099/camp-blob &
		dl=$!
	}
	for impl in e1000-napi e1000-irq; do
		echo "$impl" > "$NIC/swap" || fail "swap to $impl"
		entries="start_xmit devirq"
		[ $impl = e1000-napi ] && entries="start_xmit poll devirq"
		for class in $CLASSES; do
			for entry in $entries; do
				for ((rep = 1; rep <= DEV_REPS; rep++)); do
					next_injection "$impl" download "$class" "$entry" entry || continue
					DEV_TRAFFIC=start_download dev_inject nic0 "$class" "$entry"
					intact=1
					wait $dl || intact=0
					[ "$(sha256sum < /tmp/camp-dl | cut -d' ' -f1)" = "$ref" ] || intact=0
					record "$NIC" "$impl" download "$class" "$entry"
				done
			done
		done
	done
	nic_drive() {
		rm -f /tmp/camp-dl
		curl -sf --max-time 60 --limit-rate 512k -o /tmp/camp-dl http://10.99.0.1:8099/camp-blob &&
			[ "$(sha256sum < /tmp/camp-dl | cut -d' ' -f1)" = "$ref" ]
	}
	site_phases nic0 download 200000 nic_drive "$SITES" e1000-napi e1000-irq
	echo "--- nic0" >> "$R/campaign-stats.txt"
	cat "$NIC/stats" >> "$R/campaign-stats.txt"
	ip link set ndeth0 down
	echo none > "$NIC/pci"
	rmmod ndriver_e1000_irq ndriver_e1000_napi ndriver
fi
phase_end "$total" ndeth0
# The whole kernel log, and on a kmemleak kernel a last scan, for the report's list of
# sanitizer and kernel reports (scripts/kernel-reports.sh).
dmesg > "$R/dmesg.txt" 2>/dev/null
if [ -w /sys/kernel/debug/kmemleak ]; then
	echo scan > /sys/kernel/debug/kmemleak 2>/dev/null
	cat /sys/kernel/debug/kmemleak > "$R/kmemleak.txt" 2>/dev/null
fi
if ((SKIP > 0)); then
	done_what="injections $((SKIP + 1)) to $n ($((n > SKIP ? n - SKIP : 0)); 1 to $SKIP left out: NDRIVER_CAMPAIGN_SKIP)"
else
	done_what="$n injections"
fi
echo "ndriver: campaign done, $done_what in $((EPOCHSECONDS - start)) s" | tee "$R/campaign-done"
