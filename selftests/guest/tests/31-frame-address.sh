# SPDX-License-Identifier: GPL-2.0
# A driver's store into the guard's own words on the stack (campaign chunk 23,
# injection 2489): testdev-a's request stores its answer through the result pointer its
# caller, the op glue, set with `mov %rsp,%r14`: 4 bytes of 0 at r14 and the answer at
# r14+8. A flip of r14 sends the store up the stack, into the frames of its callers; one
# bit (6 on the code of 2026-12-05) lands it on the word where guard_enter keeps the
# address of the call's guard frame across the call. In the campaign that zeroed the
# low half of the address, guard_enter went on through it, and the guest died of a
# double fault in guard_resume. guard_enter now keeps the address with a check word
# and, when the pair no longer matches, finds the frame as the fault handlers do
# (status: guard frames lost=N) and fails the call.
#
# One round per bit 3..9 (flips that keep the pointer within 512 bytes above, 8-byte
# aligned), each with the seed whose first draw flips that bit (seed_for_bit): a child
# bash makes op requests, the first of which reaches the site. Each round must leave
# the child alive, every answer after the corrupted request right, and the device
# serving; over the rounds, at least one must have overwritten the frame's address
# (frames lost grew). Whether one flip lands there depends on the stack pointer's low
# bits at the glue, which move with every frame the framework's request path has above
# the guard: the rounds are run again with the request issued 32, 64 and 96 bytes
# deeper (testdev's `op ARG DEPTH`) until one reaches it; if none does, the store no
# longer reaches it (the frames below the guard changed size) and the test says which
# offsets it reached. The kernel log must show nothing but contained faults.
. "$(dirname "$0")/../lib.sh"

BITS=${NDRIVER_FRAME_BITS:-3 4 5 6 7 8 9}
REQS=4

fail() { td_fail "$@"; }

# result_ptr_site: MOD:SYMBOL+OFFSET of `mov %rsp,%r14` in testdev-a's op glue (the
# result pointer it hands request).
result_ptr_site() {
	local mod=ndriver_testdev_a a rest func= base= at=
	while read -r a rest; do
		case "$rest" in
		"<"*">:") func=${rest#<}; func=${func%>:}; base=$a ;;
		"mov    %rsp,%r14")
			[[ $func == *4glue2op*TestdevA* ]] && { at=${a%:}; break; } ;;
		esac
	done < <(objdump -d --no-show-raw-insn "$ROOT/sample-drivers/$mod.ko")
	[ -n "$at" ] || return 1
	echo "$mod:$func+$((0x$at - 0x$base))"
}

# run_child: a child bash makes REQS op requests (at DEPTH); OUT gets "J ANSWER" or "J error" per
# request, RC its exit status (128 + N: killed by signal N).
run_child() {
	OUT=$(bash -c '
		for ((j = 1; j <= $2; j++)); do
			if echo "op $j $3" > "$1/call" 2> /dev/null && read -r line < "$1/call"; then
				echo "$j ${line##* }"
			else
				echo "$j error"
			fi
		done' child "$TD" "$REQS" "$DEPTH" 2>&1)
	RC=$?
}

command -v objdump > /dev/null || fail "no objdump to find testdev-a's op glue"
first_draw 1
[ "$DRAW" = 3053453706 ] || fail "first_draw disagrees with inject_spec.rs: $DRAW"

dmesg_mark
load_testdev
echo "restarts=1000 backoff_ms=0 calm_ms=0" > "$TD/policy" || fail "policy"
echo "config 0 1000" > "$TD/call" || fail "config"
site=$(result_ptr_site) || fail "no mov %rsp,%r14 in testdev-a's op glue (its code changed?)"
kf0=$(guard_count kernel_faults contained)
lost0=$(guard_count frames lost)
[ -n "$lost0" ] || fail "no 'guard frames lost=' in the status"

bad=0 reached= at=
for DEPTH in "" 1 2 3; do
for b in $BITS; do
	seed=$(seed_for_bit "$b") || fail "no seed flips bit $b"
	[ "$(status_of implementation)" = testdev-a ] || echo testdev-a > "$TD/swap" || fail "swap to testdev-a"
	wait_for 1 running_n
	rec=$(stat recoveries)
	l0=$(guard_count frames lost)
	echo "class=flip_dest site=$site seed=$seed" > "$TD/inject" || fail "bit $b: site $site not placed"
	run_child
	last=$(site_field last)
	echo off > "$TD/inject"
	[[ $last == r14,bit=$b,* ]] || fail "bit $b: the site did not flip bit $b of r14 ($last)"
	nlost=$(($(guard_count frames lost) - l0))
	[ "$nlost" -gt 0 ] && reached+=" $b"
	# The first answer not right is the corrupted request's; every later one must be
	# right, or an error while the instance was being replaced.
	first= wrong=
	while read -r j v; do
		[ -z "$j" ] && continue
		if [ "$v" = $((1000 + j)) ]; then
			continue
		elif [ -z "$first" ]; then
			first="$j:$v"
		elif [ "$v" != error ]; then
			wrong+=" $j:$v"
		fi
	done <<< "$OUT"
	echo "bit $b${DEPTH:+ depth $DEPTH} (seed $seed, $last): child rc $RC, corrupted request ${first:-none}," \
		"recoveries $(($(stat recoveries) - rec)), frames lost $nlost"
	if [ "$RC" != 0 ]; then
		echo "  FAILED: the child bash exited $RC: $OUT"
		bad=$((bad + 1))
	fi
	if [ -n "$wrong" ]; then
		echo "  FAILED: wrong answers after the corrupted request:$wrong"
		bad=$((bad + 1))
	fi
	wait_for 1 running_n
	td_call op 7 > /dev/null
	if [ "$TD_LAST" != 1007 ]; then
		echo "  FAILED: op 7 answered '$TD_LAST' after the round"
		bad=$((bad + 1))
	fi
done
[ -n "$reached" ] && { at=$DEPTH; break; }
done
echo "frame address: bits$reached of $BITS${at:+ at depth $at} overwrote it (guard frames lost" \
	"$lost0 -> $(guard_count frames lost))"
kf=$(($(guard_count kernel_faults contained) - kf0))
unload_testdev
[ "$bad" = 0 ] || fail "$bad failed checks (above)"
[ -n "$reached" ] ||
	fail "no flip of bits $BITS reached the frame's address: the frames on the path changed size"
n=$(dmesg | sed -n "/$DMESG_MARK/,\$p" | grep -c 'called from a guarded call (contained as kernel_fault')
[ "$n" -le "$kf" ] || fail "$n kernel-fault reports, the guard counted $kf"
dmesg_clean --allow 'contained as kernel_fault|Call Trace'
echo PASS
