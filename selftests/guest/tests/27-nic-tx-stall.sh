# SPDX-License-Identifier: GPL-2.0
# A NIC whose transmitter was never enabled: the driver looks alive, takes every frame
# and sends none. A skip_insn site on the call that writes TCTL (transmit enable) in
# the driver's `open` -- the one silent corruption of the random-site campaign --
# makes it so when the interface comes up. The queue never fills at the pace of ARP
# and ping, so the kernel's netdev watchdog never fires; ndriver's placeholder must
# see that the oldest frame lent waits for its completion past the watchdog's period
# (5 s) and recover. Checked on both implementations: the site's own record (fired,
# applied, its kernel-log line), the stall counted and logged, the recovery recorded
# as a hang in tx_timeout, and the peer answering again.
. "$(dirname "$0")/../lib.sh"

NIC=$DBG/nic0
IF=ndeth0
PEER=10.99.0.1
# `TCTL::on()` (sample-drivers/e1000_hw.rs: EN, PSP, CT 0x10, COLD 0x40), written to
# TCTL once by `open`; the typed register folds to this immediate, as the masks did.
# The site: the first call of writel after it is loaded, in `open`.
TCTL_ON='$0x4010a,%edi'

fail() {
	echo "FAIL: $*"
	cat "$NIC/status" "$NIC/stats" "$NIC/inject" 2>/dev/null
	tail -n 5 "$NIC/recoveries" 2>/dev/null
	exit 1
}
need_e1000
command -v objdump > /dev/null || { echo "SKIP: no objdump to find the TCTL write"; exit 4; }

dmesg_mark
first_mark=$DMESG_MARK
load_nic
for impl in e1000-napi e1000-irq; do
	mod=ndriver_${impl//-/_}
	echo "$impl" > "$NIC/swap" || fail "swap to $impl"
	site=$(call_site "$mod" NicDriver4open rust_helper_writel "$TCTL_ON") || fail "$impl: no TCTL write found in $mod's open (its code changed?)"
	busybox ping -q -c 1 -W 5 $PEER > /dev/null || fail "$impl: no ping before the fault"
	r0=$(nstat recoveries)
	s0=$(nstat tx_stalls)
	h0=$(stat_in "$NIC/stats" detected hang)
	dmesg_mark
	echo "class=skip_insn site=$site" > "$NIC/inject" || fail "$impl: site $site refused"
	# `open` runs the site.
	ip link set $IF down && ip link set $IF up || fail "$impl: down/up"
	[ "$(inject_field "$NIC" fired)" = 1 ] || fail "$impl: the site did not fire in open"
	[ "$(inject_field "$NIC" applied)" = 1 ] || fail "$impl: the site fired but skipped nothing"
	echo "off" > "$NIC/inject"
	t0=$(date +%s%N)
	ok=0
	for i in $(seq 40); do
		busybox ping -q -c 1 -W 1 $PEER > /dev/null 2>&1 && { ok=1; break; }
	done
	t1=$(date +%s%N)
	[ $ok = 1 ] || fail "$impl: the peer never answered again (tx_stalls $(nstat tx_stalls))"
	[ "$(nstat tx_stalls)" -gt "$s0" ] || fail "$impl: the peer answers, but no stall was counted"
	[ "$(nstat recoveries)" -gt "$r0" ] || fail "$impl: no recovery recorded"
	[ "$(stat_in "$NIC/stats" detected hang)" -gt "$h0" ] || fail "$impl: not detected as a hang"
	tail -n 1 "$NIC/recoveries" | grep -q "cause=hang entry=tx_timeout" ||
		fail "$impl: last recovery is not a hang in tx_timeout: $(tail -n 1 "$NIC/recoveries")"
	log=$(dmesg | sed -n "/$DMESG_MARK/,\$p")
	grep -q "site .* fired skip_insn" <<< "$log" || fail "$impl: no kernel-log line of the site"
	grep -q "nic0: transmit stalled" <<< "$log" || fail "$impl: no kernel-log line of the stall"
	echo "$impl: skipped TCTL write at $site; stall recovered, peer answers $(((t1 - t0) / 1000000)) ms after up"
done
unload_nic
DMESG_MARK=$first_mark
dmesg_clean
echo PASS
