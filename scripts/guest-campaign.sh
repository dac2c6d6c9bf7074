#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Runs inside the guest for `make campaign`: a fault-injection campaign over fault
# classes x entry points x implementations x workloads. Each injection becomes one
# line of $NDRIVER_RESULTS/campaign.tsv:
#
#   n impl workload class entry injected manifested detected recovered intact cause
#
# injected   the inject write was accepted;
# manifested the armed fault was raised in the driver (inject reads "off");
# detected   the cause it is counted under went up by one (or more, for hangs);
# recovered  a recovery ran and the device is running on a fresh instance;
# intact     every answer was the expected one, before and after, and the device
#            resources are held again (the "device" workload).
#
# A miss keeps the kernel log since the injection in campaign-miss-N.log.
# Progress goes to campaign-progress ("done total") for the host's progress bar.
set -u
R=${NDRIVER_RESULTS:?}
ROOT=${NDRIVER_ROOT:?}
REPS=${NDRIVER_CAMPAIGN_REPS:-7}
. "$ROOT/selftests/guest/lib.sh"

# Failing here ends the campaign, not the guest: the report shows how far it got.
fail() {
	echo "campaign aborted: $*" | tee -a "$R/campaign-aborted"
	exit 1
}

e1000=$(free_e1000)

IMPLS="testdev-a testdev-b"
CLASSES=$(fault_classes)
REQUEST_ENTRIES="op tick irq configure probe remove"
DEVICE_ENTRIES="devirq timer work"
[ -n "$e1000" ] || DEVICE_ENTRIES=
per_impl=$(($(wc -w <<< "$CLASSES") * $(wc -w <<< "$REQUEST_ENTRIES $DEVICE_ENTRIES")))
total=$((2 * per_impl * REPS))

dmesg_mark
load_testdev
echo "restarts=1000 backoff_ms=0 calm_ms=0" > "$TD/policy" || fail "policy"
echo "config 0 1000" > "$TD/call" || fail "config"

out=$R/campaign.tsv
printf 'n\timpl\tworkload\tclass\tentry\tinjected\tmanifested\tdetected\trecovered\tintact\tcause\n' > "$out"
n=0
start=$(date +%s)

# wait_until CMD...: polls CMD (true/false) for up to 10 s.
wait_until() {
	local i
	for ((i = 0; i < 500; i++)); do
		"$@" && return 0
		sleep 0.02
	done
	return 1
}
running() { [ "$(status_of state)" = running ]; }
detected_since() { [ "$(stat detected "$1")" -gt "$2" ]; }
device_held() {
	local line
	line=$(sed -n 's/^resources //p' "$TD/status")
	[[ " $line " == *" irq=1 "* && " $line " == *" iomap=1 "* ]]
}

# One injection. Sets the verdict variables; the caller writes the line.
inject_one() {
	local impl=$1 workload=$2 class=$3 entry=$4 i=$5
	local d det0 gen0
	d=$(detected_as "$class")
	injected=0 manifested=0 detected=0 recovered=0 intact=1
	det0=$(stat detected "$d")
	gen0=$(status_of generation)
	dmesg_mark
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
	wait_until inject_off && manifested=1
	# remove returns nothing: an error return there is raised but not a failure.
	if [ "$class" = error ] && [ "$entry" = remove ]; then
		detected=$manifested recovered=$manifested
	else
		wait_until detected_since "$d" "$det0" && detected=1
		wait_until running && [ "$(status_of generation)" -gt "$gen0" ] && recovered=1
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
					n=$((n + 1))
					inject_one "$impl" $workload "$class" "$entry" "$rep"
					printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' $n "$impl" $workload \
						"$class" "$entry" $injected $manifested $detected $recovered $intact \
						"$cause" >> "$out"
					if [ $((manifested * detected * recovered * intact)) = 0 ]; then
						{
							echo "injection $n: $impl $workload $class $entry"
							echo "verdict: injected=$injected manifested=$manifested" \
								"detected=$detected recovered=$recovered intact=$intact"
							cat "$TD/status" "$TD/inject"
							tail -n 3 "$TD/recoveries"
							dmesg | sed -n "/$DMESG_MARK/,\$p"
						} > "$R/campaign-miss-$n.log"
						# Bring the device back for the next injection.
						echo "$impl" > "$TD/swap" 2>/dev/null
					fi
					echo "$n $total $(($(date +%s) - start))" > "$R/campaign-progress"
				done
			done
		done
		[ $workload = device ] && { echo none > "$TD/pci" || fail "detach"; }
	done
done
cat "$TD/stats" > "$R/campaign-stats.txt"
cat "$DBG/status" >> "$R/campaign-stats.txt"
unload_testdev
echo "ndriver: campaign done, $n injections in $(($(date +%s) - start)) s" | tee "$R/campaign-done"
