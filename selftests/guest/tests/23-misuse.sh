# SPDX-License-Identifier: GPL-2.0
# Drivers that misuse the framework: a block freed twice (double_free), a timer handle
# the framework never gave out (forged_handle), a transmit token it never lent
# reported done (forged_token), a block it freed mapped for the device to write into
# (wild_dma), a block freed while mapped for the device to write into (mapped_free), a
# received frame delivered from its stack instead of a receive buffer (forged_frame),
# a work item handle it never got (forged_work), a DMA mapping never made given back
# (forged_dma), the call's own skb or request reported done twice (double_complete:
# ndeth0's start_xmit, ndblk0's complete), and an answer out of range (bad_return:
# e1000-napi's poll reports more frames than its budget, ndblk0's complete a status
# there is none of), each raised in the implementation module (the class glue's entry
# function) through the real callout or in its answer.
# The core checks every value a driver hands it: each one is refused without being
# used, fails the instance (detected as misuse, the kernel log names the value), and
# the device recovers — testdev0 in a request, its interrupt handler, timer and work
# item; ndeth0 in start_xmit, poll and its interrupt handler under ping (no duplicate
# reply, loss bounded); ndblk0 in queue_rq and complete under dd whose data must read
# back identical. The kernel log stays clean.
. "$(dirname "$0")/../lib.sh"

MISUSE="double_free forged_handle forged_token wild_dma mapped_free forged_frame forged_work forged_dma"
NIC=$DBG/nic0
PEER=10.99.0.1

need_e1000

fail() {
	echo "FAIL: $*"
	[ -n "${PING:-}" ] && kill "$PING" 2>/dev/null
	for f in "$TD/stats" "$NIC/stats" "$BD/stats" "$DBG/status"; do
		[ -r "$f" ] && cat "$f"
	done
	exit 1
}

dmesg_mark

# testdev0: a request and the three asynchronous contexts.
td_with_e1000
n=0
for class in $MISUSE; do
	for entry in op devirq timer work; do
		before=$(stat detected misuse)
		td_inject "$class" "$entry"
		raised_in "$TD" $class $entry || fail "testdev0: $class in $entry: no record of its raising"
		[ "$(stat detected misuse)" = $((before + 1)) ] ||
			fail "testdev0: $class in $entry: misuse $before -> $(stat detected misuse), want one more"
		[ "$(td_call op 5)" = 5 ] || fail "testdev0: wrong answer after $class in $entry"
		n=$((n + 1))
	done
done
echo "testdev0: $n misuses refused and recovered"
dmesg | sed -n "/$DMESG_MARK/,\$p" | grep -q 'ndriver_free of memory 0x[0-9a-f]*, which it does not hold' ||
	fail "no log line for the double free"
dmesg | sed -n "/$DMESG_MARK/,\$p" | grep -q 'ndriver_timer_arm with timer 0x[0-9a-f]*, which it does not hold' ||
	fail "no log line for the forged timer handle"
dmesg | sed -n "/$DMESG_MARK/,\$p" | grep -q 'ndriver_net_tx_done from an instance that serves no NIC' ||
	fail "no log line for the net callout from testdev0"
dmesg | sed -n "/$DMESG_MARK/,\$p" | grep -q 'ndriver_net_rx from an instance that serves no NIC' ||
	fail "no log line for the received frame from testdev0"
dmesg | sed -n "/$DMESG_MARK/,\$p" | grep -q 'ndriver_dma_map of 256 bytes at 0x[0-9a-f]*, which it does not hold, from the device' ||
	fail "no log line for the stack buffer mapped for DMA"
dmesg | sed -n "/$DMESG_MARK/,\$p" | grep -q 'ndriver_free of memory 0x[0-9a-f]*, which its dma_mapping 0x[0-9a-f]* still uses' ||
	fail "no log line for the block freed while mapped"
dmesg | sed -n "/$DMESG_MARK/,\$p" | grep -q 'ndriver_work_queue with work 0x[0-9a-f]*, which it does not hold' ||
	fail "no log line for the forged work handle"
dmesg | sed -n "/$DMESG_MARK/,\$p" | grep -q 'ndriver_dma_unmap of dma_mapping 0xdeadb000, which it does not hold' ||
	fail "no log line for the forged DMA handle"
unload_testdev

# ndeth0: the data path under ping.
load_nic
busybox ping -i 0.05 -W 2 -w 3600 $PEER > /tmp/misuse-ping.txt 2>&1 &
PING=$!
sleep 0.5
m=0
for impl in e1000-napi e1000-irq; do
	echo $impl > "$NIC/swap" || fail "swap to $impl"
	entries="start_xmit devirq"
	[ $impl = e1000-napi ] && entries="start_xmit poll devirq"
	for class in $MISUSE double_complete bad_return; do
		[ $class = double_complete ] && entries=start_xmit
		if [ $class = bad_return ]; then
			[ $impl = e1000-napi ] || continue
			entries=poll
		fi
		for entry in $entries; do
			rec=$(nstat recoveries)
			det=$(nstat detected misuse)
			echo "class=$class entry=$entry" > "$NIC/inject" || fail "inject $class $entry"
			WAIT_SECS=30 wait_for $((rec + 1)) nstat recoveries
			nic_inject_off || fail "ndeth0 $impl: $class in $entry not raised"
			raised_in "$NIC" $class $entry || fail "ndeth0 $impl: $class in $entry: no record of its raising"
			[ "$(nstat detected misuse)" = $((det + 1)) ] ||
				fail "ndeth0 $impl: $class in $entry: misuse $det -> $(nstat detected misuse), want one more"
			m=$((m + 1))
		done
	done
done
kill -INT $PING
wait $PING
PING=
tx=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' /tmp/misuse-ping.txt)
rx=$(sed -n 's/.* \([0-9]*\) packets received.*/\1/p' /tmp/misuse-ping.txt)
echo "ndeth0: $m misuses refused and recovered; ping $rx of $tx answered"
[ -n "$tx" ] && [ "$tx" -gt 0 ] || fail "ping did not run"
grep -q 'DUP!' /tmp/misuse-ping.txt && fail "duplicate ping replies: $(grep -c 'DUP!' /tmp/misuse-ping.txt)"
[ $((tx - rx)) -le $(((m + 2) * $(ping_loss_per_swap))) ] || fail "ping lost $((tx - rx)) of $tx"
dmesg | sed -n "/$DMESG_MARK/,\$p" | grep -q 'ndriver_net_tx_done of transmit token 0xffff8880dead0000' ||
	fail "no log line for the forged transmit token"
dmesg | sed -n "/$DMESG_MARK/,\$p" | grep -q 'ndriver_net_rx of a 60 byte frame at 0x[0-9a-f]*, outside its memory' ||
	fail "no log line for the frame delivered from the driver's stack"
# The skb reported done twice: its token, lent by the placeholder, refused the second time.
dmesg | sed -n "/$DMESG_MARK/,\$p" | grep -v 0xffff8880dead0000 |
	grep -q 'ndriver_net_tx_done of transmit token 0x[0-9a-f]*: Unknown' ||
	fail "no log line for the skb reported done twice"
dmesg | sed -n "/$DMESG_MARK/,\$p" | grep -q 'poll reported [0-9]* frames of a budget of [0-9]*' ||
	fail "no log line for poll's count over its budget"
unload_nic

# ndblk0: queue_rq and complete under direct I/O whose data must come back intact.
load_blk
echo "restarts=1000 backoff_ms=0 calm_ms=0" > "$BD/policy" || fail "policy"
dd if=/dev/urandom of=/tmp/misuse-blob bs=1M count=4 status=none || fail "blob"
ref=$(sha256sum < /tmp/misuse-blob)
k=0
for impl in vblk-a vblk-b; do
	echo "$impl" > "$BD/swap" || fail "swap to $impl"
	for class in $MISUSE double_complete bad_return; do
		entries="queue_rq complete"
		[ $class = double_complete ] || [ $class = bad_return ] && entries=complete
		for entry in $entries; do
			rec=$(bd_stat recoveries)
			det=$(bd_stat detected misuse)
			echo "class=$class entry=$entry" > "$BD/inject" || fail "inject $class $entry"
			dd if=/tmp/misuse-blob of=$BLKDEV bs=64k oflag=direct status=none ||
				fail "ndblk0 $impl: write during $class in $entry"
			got=$(dd if=$BLKDEV bs=64k count=64 iflag=direct status=none | sha256sum)
			[ "$got" = "$ref" ] || fail "ndblk0 $impl: data differs after $class in $entry"
			bd_inject_off || fail "ndblk0 $impl: $class in $entry not raised"
			WAIT_SECS=30 wait_for $((rec + 1)) bd_stat recoveries
			raised_in "$BD" $class $entry || fail "ndblk0 $impl: $class in $entry: no record of its raising"
			[ "$(bd_stat detected misuse)" = $((det + 1)) ] ||
				fail "ndblk0 $impl: $class in $entry: misuse $det -> $(bd_stat detected misuse), want one more"
			k=$((k + 1))
		done
	done
done
echo "ndblk0: $k misuses refused and recovered, data intact"
dmesg | sed -n "/$DMESG_MARK/,\$p" | grep -q 'ndriver_blk_done of tag [0-9]* it does not hold (reported twice, stale or forged)' ||
	fail "no log line for the request reported done twice"
dmesg | sed -n "/$DMESG_MARK/,\$p" | grep -q 'complete of tag [0-9]* answered 99, no status' ||
	fail "no log line for the status out of range"
unload_blk

dmesg_clean
echo PASS
