# SPDX-License-Identifier: GPL-2.0
# Apache in the guest serves a page set through ndeth0 (the guarded Rust e1000)
# while the device is swapped between the two implementations, the idle one is
# rmmod'ed and loaded again, and real faults are raised in the data path: the
# client runs on the host side of the tap (scripts/nic-peer.py's /load: keep-alive
# connections fetching every page in turn, each reply compared byte for byte with
# the file) and must see zero failed requests. A netperf TCP_STREAM to the host runs
# alongside and must finish with its throughput.
. "$(dirname "$0")/../lib.sh"
. "$ROOT/scripts/apache-site.sh"

NIC=$DBG/nic0
IF=ndeth0
PEER=10.99.0.1
URL=http://$PEER:8099
PEERDIR=$NDRIVER_RESULTS/peer
WWW=/tmp/ndriver-www
PORT=8080
# At least four rounds, so that both faults (rounds 2 and 3) land while the load
# runs, also with NDRIVER_REPS=1 on the debug kernel, whose swaps take seconds.
SWAPS=$((${NDRIVER_REPS:-3} * 2))
[ "$SWAPS" -ge 4 ] || SWAPS=4
# A swap takes about 3 s under KASAN (make check-debug), a fraction of that otherwise.
if kasan_on; then SECS=$((SWAPS * 8 + 20)); else SECS=$((SWAPS * 3 + 12)); fi

command -v apache2 > /dev/null || { echo "SKIP: no apache2 in this guest"; exit 4; }
need_e1000

impl() {
	ethtool -i $IF | sed -n 's/^version: //p'
}
# nic_fired: 1 once the armed fault fired (inject reads off), else 0.
nic_fired() {
	local line
	snapshot "$NIC/inject"
	for line in "${SNAP[@]}"; do
		[ "$line" = off ] && { echo 1; return; }
	done
	echo 0
}
apache_stop() {
	apache_site_stop $WWW
}
fail() {
	echo "FAIL: $*"
	cat "$NIC/status" "$NIC/stats" 2>/dev/null
	tail -n 5 "$NIC/recoveries" 2>/dev/null
	apache_stop
	exit 1
}

dmesg_mark
load_nic

# The page set (scripts/apache-site.sh): 40 files from 512 B to 256 KiB, served by
# Apache from the guest and known to the client on the host side (the peer's
# directory).
apache_site $WWW "$PEERDIR/pages" 10.99.0.2:$PORT ||
	fail "apache2 did not start: $(cat $WWW/conf/error.log 2>/dev/null)"
for i in $(seq 50); do
	curl -sf -o /dev/null "http://10.99.0.2:$PORT/page1.bin" && break
	sleep 0.1
done
curl -sf -o /dev/null "http://10.99.0.2:$PORT/page1.bin" || fail "apache2 does not answer"

# The load from the host side, while the guest swaps, reloads and faults the driver.
rec0=$(nstat recoveries)
curl -sf --max-time $((SECS + 60)) \
	"$URL/load?host=10.99.0.2&port=$PORT&set=pages&secs=$SECS&conns=4" > /tmp/apache-load.json &
LOAD=$!
NP=
if command -v netperf > /dev/null; then
	netperf -H $PEER -t TCP_STREAM -l $((SECS - 4)) -P 0 -- -o THROUGHPUT > /tmp/apache-netperf.txt 2>&1 &
	NP=$!
fi
sleep 3
for i in $(seq "$SWAPS"); do
	echo next > "$NIC/swap" || fail "swap $i"
	sleep 2
	case $i in
	1)
		# The idle implementation goes away and comes back while pages flow.
		idle=ndriver_e1000_irq
		[ "$(impl)" = e1000-irq ] && idle=ndriver_e1000_napi
		rmmod $idle || fail "rmmod idle $idle"
		load sample-drivers/$idle
		;;
	2) echo "class=panic entry=devirq" > "$NIC/inject" || fail "inject panic devirq" ;;
	3) echo "class=null entry=start_xmit" > "$NIC/inject" || fail "inject null start_xmit" ;;
	esac
	# The fault lands while the load runs (pages flow both ways), not after it.
	WAIT_SECS=20 wait_for 1 nic_fired
	sleep 1
done
wait $LOAD || fail "the host-side load did not answer"
if [ -n "$NP" ]; then
	wait $NP || fail "netperf failed during the swaps: $(cat /tmp/apache-netperf.txt)"
	echo "netperf TCP_STREAM during the swaps and faults: $(tail -n 1 /tmp/apache-netperf.txt) Mbit/s"
fi
apache_stop
read -r requests ok failed p50 p99 errors < <(python3 -c '
import json, sys
r = json.load(open("/tmp/apache-load.json"))
print(r["requests"], r["ok"], r["failed"], r["p50_ms"], r["p99_ms"], json.dumps(r["errors"]).replace(" ", ""))')
recs=$(( $(nstat recoveries) - rec0 ))
echo "apache: $requests requests of 40 pages in ${SECS}s over 4 connections from the host," \
	"$ok intact, $failed failed (p50 ${p50} ms, p99 ${p99} ms)," \
	"across $SWAPS swaps, an rmmod/insmod and $recs fault recoveries"
[ "$failed" = 0 ] || fail "$failed requests failed: $errors"
[ "${ok:-0}" -gt 0 ] || fail "no request succeeded"
[ "$recs" -ge 1 ] || fail "no fault recovered during the load"

ip link set $IF down
echo none > "$NIC/pci"
rmmod ndriver_e1000_irq ndriver_e1000_napi ndriver || fail "unload"
dmesg_clean --panics-expected
echo PASS
