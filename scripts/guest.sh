#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# guest.sh [--timeout SEC] [--results DIR] [--interactive] -- COMMAND
#
# Boots the ndriver guest kernel under QEMU (virtme-ng: the host's root, read-only,
# is the guest's root, so the work tree and the host's tools are there) with the
# devices the drivers under test use:
#   - two e1000 NICs on two tap devices inside a network namespace made for this run
#     (ndtap0: host side 10.99.0.1/24, guest side 10.99.0.2/24; ndtap1: 10.99.1.1/24
#     and 10.99.1.2/24); nothing leaves it. The first is the one most tests use (the
#     lower PCI slot); the second is for tests of several devices;
#   - two virtio-blk disks backed by sparse files, serials "ndriver-test" and
#     "ndriver-test2" (the same order); the second without MSI-X (vectors=0), for the
#     drivers' INTx path;
#   - the Intel 6300ESB watchdog virtme-ng adds to every x86 guest, its expiry set to
#     inject an NMI into every CPU (ndriver's NMI source for a hang on every CPU at
#     once), with apic_extnmi=all so that every CPU, not only the boot CPU, takes it.
# COMMAND runs as root in the guest; RESULTS is writable there. The console goes to
# RESULTS/console.log. KVM is used where it works, TCG otherwise. A guest that does
# not finish within the timeout is killed and the run fails with the console's tail.
# NDRIVER_GUEST_APPEND: more kernel command-line parameters (check.sh: init_on_free=1).
# NDRIVER_GUEST_NIC_PEER=guest: the first e1000 is wired to a virtio-net NIC of the
#   guest itself (MAC 52:54:00:6e:64:10) through a QEMU hub instead of to ndtap0, so
#   that both ends of its traffic run in guest time (scripts/guest-nic-peer.sh sets
#   that end up in the guest; `make bench` under -icount, where a peer on the host
#   runs in the host's time). Default "host": the tap above.
# NDRIVER_GUEST_CPUS: the guest's CPU count (default 2).
# For the benchmark's method experiments (scripts/bench.sh sets them from its
# NDRIVER_BENCH_ICOUNT / NDRIVER_BENCH_PIN; unset, the command line is unchanged):
# NDRIVER_GUEST_QEMU_OPTS: more QEMU options, appended to the ones below (e.g.
#   "-icount shift=1").
# NDRIVER_GUEST_PIN: a host CPU list (0,1 or 0-1); virtme-ng's --pin pins QEMU's vCPU
#   threads to it in order (vCPU 0 to the first), through QMP once QEMU runs.
# NDRIVER_GUEST_TASKSET: a host CPU list; the whole QEMU process (every thread: vCPUs,
#   main loop, I/O) runs under taskset -c on it.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

timeout=900
results=
interactive=0
while [ $# -gt 0 ]; do
	case "$1" in
	--timeout) timeout=$2; shift 2 ;;
	--results) results=$2; shift 2 ;;
	--interactive) interactive=1; shift ;;
	--) shift; break ;;
	*) die "guest.sh: unknown option '$1'" ;;
	esac
done
[ $# -gt 0 ] || die "usage: guest.sh [--timeout SEC] [--results DIR] [--interactive] -- COMMAND"
cmd="$*"
nic_peer=${NDRIVER_GUEST_NIC_PEER:-host}
case $nic_peer in
host | guest) ;;
*) die "NDRIVER_GUEST_NIC_PEER: host or guest, not '$nic_peer'" ;;
esac

vng=$NDRIVER_CACHE/venv/bin/vng
[ -x "$vng" ] || die "virtme-ng is not installed: run scripts/setup.sh"
# vng runs its helpers (virtme-run, ...) by name: they live beside it in the venv.
vng=(env "PATH=$NDRIVER_CACHE/venv/bin:$PATH" "$vng")
kdir=$("$NDRIVER_ROOT"/scripts/build-kernel.sh)
results=${results:-$NDRIVER_ROOT/results/guest-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$results"
results=$(cd "$results" && pwd)

ns=ndriver-$$
peer=
netserver_pid=
cleanup() {
	[ -z "$peer" ] || kill $peer 2>/dev/null || true
	[ -z "$netserver_pid" ] || kill $netserver_pid 2>/dev/null || true
	wait 2>/dev/null || true
	ip netns del "$ns" 2>/dev/null || true
}
trap cleanup EXIT
as_root ip netns add "$ns" || die "cannot create network namespace $ns (needs root and iproute2)"
as_root ip -n "$ns" link set lo up
for i in 0 1; do
	as_root ip -n "$ns" tuntap add dev ndtap$i mode tap ||
		die "cannot create a tap device (/dev/net/tun)"
	as_root ip -n "$ns" addr add 10.99.$i.1/24 dev ndtap$i
	# The host side takes jumbo frames up to the e1000's largest MTU (32-nic-jumbo);
	# TCP still follows the guest's MSS, so a guest at 1500 sees no larger frame.
	as_root ip -n "$ns" link set ndtap$i mtu 16110
	as_root ip -n "$ns" link set ndtap$i up
done
echo "$ns" > "$results/netns"
# The host side of the NIC tests: an HTTP peer on 10.99.0.1:8099 inside the namespace
# serving and storing files in RESULTS/peer (scripts/nic-peer.py), and one on
# 10.99.1.1:8099 (RESULTS/peer1) for the second NIC.
sudo_=()
[ "$(id -u)" = 0 ] || sudo_=(sudo)
for i in 0 1; do
	dir=$results/peer
	[ $i = 0 ] || dir=$results/peer$i
	mkdir -p "$dir"
	"${sudo_[@]}" ip netns exec "$ns" /usr/bin/python3 "$NDRIVER_ROOT/scripts/nic-peer.py" \
		10.99.$i.1 8099 "$dir" >"$results/${dir##*/}.log" 2>&1 &
	peer+=" $!"
done
# netperf's servers for `make bench`, on 10.99.0.1:12865 and 10.99.1.1:12865 (the
# second NIC's, for the independence runs) in the namespace, where the host has it
# (scripts/setup.sh installs it); -D keeps each in the foreground so that cleanup can
# end it.
if command -v netserver >/dev/null; then
	for i in 0 1; do
		log=$results/netserver.log
		[ $i = 0 ] || log=$results/netserver$i.log
		"${sudo_[@]}" ip netns exec "$ns" netserver -D -L 10.99.$i.1 -p 12865 >"$log" 2>&1 &
		netserver_pid+=" $!"
	done
fi

disk=$results/disk.img
disk2=$results/disk2.img
[ -f "$disk" ] || truncate -s 512M "$disk"
[ -f "$disk2" ] || truncate -s 256M "$disk2"

accel=(--disable-kvm)
if grep -qE '\b(vmx|svm)\b' /proc/cpuinfo && [ -w /dev/kvm ]; then
	accel=()
fi
# The guest's own peer: a QEMU hub forwards every frame of one port to the others,
# inside QEMU (no host socket or thread between the two NICs); the peer's device goes
# last, so that every other device keeps its PCI slot.
qemu_opts="-netdev tap,id=nd0,ifname=ndtap0,script=no,downscript=no"
[ "$nic_peer" = host ] || qemu_opts="-netdev hubport,id=nd0,hubid=0"
qemu_opts+=" -device e1000,netdev=nd0,mac=52:54:00:6e:64:01"
qemu_opts+=" -netdev tap,id=nd1,ifname=ndtap1,script=no,downscript=no"
qemu_opts+=" -device e1000,netdev=nd1,mac=52:54:00:6e:64:02"
qemu_opts+=" -drive file=$disk,if=none,id=ndd0,format=raw"
qemu_opts+=" -device virtio-blk-pci,drive=ndd0,serial=ndriver-test"
qemu_opts+=" -drive file=$disk2,if=none,id=ndd1,format=raw"
qemu_opts+=" -device virtio-blk-pci,drive=ndd1,serial=ndriver-test2,vectors=0"
if [ "$nic_peer" = guest ]; then
	qemu_opts+=" -netdev hubport,id=ndpeer,hubid=0"
	qemu_opts+=" -device virtio-net-pci,netdev=ndpeer,mac=52:54:00:6e:64:10"
fi
qemu_opts+=" -no-reboot"
# The i6300ESB (virtme-ng's "-device i6300esb,id=watchdog0"): ndriver pets it from
# every CPU's watchdog tick; when no CPU ticks for its two stages, QEMU raises LINT1 (an
# NMI) on every local APIC instead of its default action, a reset, which -no-reboot
# turns into the end of the run (Documentation/design.rst, "Hangs").
qemu_opts+=" -action watchdog=inject-nmi"
guest_append="apic_extnmi=all"
# KASAN kernels boot with 4-level paging. identify_cpu() clears and refills the boot
# CPU's feature words with interrupts on, and before alternatives are patched
# pgtable_l5_enabled() reads the LA57 bit there: an interrupt in that window sees
# KASAN's shadow bounds of a 4-level machine and reports the 5-level direct map
# (0xff11...) as a wild access, which turns lockdep off for the whole run (seen in one
# boot of three at 0.002 s, no module loaded). With no5lvl the kernel runs 4-level
# paging, whose shadow bounds hold whichever way the bit reads in that window.
if grep -q '^CONFIG_KASAN=y' "$kdir/.config" 2>/dev/null; then guest_append+=" no5lvl"; fi
# A monitor socket to look at a hung guest from the host (socat - UNIX:.../monitor.sock,
# then "info registers -a"; scripts/guest-regs.sh does it).
qemu_opts+=" -monitor unix:$results/monitor.sock,server=on,wait=off"
[ -z "${NDRIVER_GUEST_QEMU_OPTS:-}" ] || qemu_opts+=" $NDRIVER_GUEST_QEMU_OPTS"
pin=()
[ -z "${NDRIVER_GUEST_PIN:-}" ] || pin=(--pin "$NDRIVER_GUEST_PIN")
taskset_=()
[ -z "${NDRIVER_GUEST_TASKSET:-}" ] || taskset_=(taskset -c "$NDRIVER_GUEST_TASKSET")

vng_args=(--run "$kdir/arch/x86/boot/bzImage" "${accel[@]}" --force-9p --cpus "${NDRIVER_GUEST_CPUS:-2}"
	--memory 2G --verbose --rwdir "$results"
	--append "panic=-1 oops=panic log_buf_len=16M $guest_append ${NDRIVER_GUEST_APPEND:-}"
	"${pin[@]}" "--qemu-opts=$qemu_opts")

# The guest does not inherit this environment: hand the paths over explicitly.
cmd="env NDRIVER_RESULTS=$results NDRIVER_KDIR=$kdir NDRIVER_ROOT=$NDRIVER_ROOT NDRIVER_NIC_PEER=$nic_peer $cmd"
if [ $interactive = 1 ]; then
	# A person at a terminal: virtme-ng's interactive shell is replaced by a script
	# (in RESULTS, so the guest sees it) that runs COMMAND and then a real shell.
	cat > "$results/shell.sh" <<EOS
#!/bin/bash
$cmd
echo
echo "ndriver: guest shell (exit or Ctrl-D to power off)"
PS1="ndriver-guest# " exec bash --norc --noprofile -i
EOS
	chmod +x "$results/shell.sh"
	as_root ip netns exec "$ns" "${taskset_[@]}" "${vng[@]}" "${vng_args[@]}" --shell "$results/shell.sh"
	exit 0
fi

info "booting guest (console: $results/console.log, limit ${timeout}s)"
set +e
as_root ip netns exec "$ns" timeout --kill-after=15 "$timeout" \
	"${taskset_[@]}" "${vng[@]}" "${vng_args[@]}" -e "$cmd" </dev/null >"$results/console.log" 2>&1
rc=$?
set -e
if [ $rc = 124 ] || [ $rc = 137 ]; then
	tail -n 40 "$results/console.log" >&2
	die "guest did not finish within ${timeout}s and was killed (console tail above)"
fi
if ! grep -q 'Linux version' "$results/console.log"; then
	tail -n 20 "$results/console.log" >&2
	die "the guest did not boot (exit $rc; output above)"
fi
# virtme-ng pins from a thread of its own and only warns when it cannot.
if [ -n "${NDRIVER_GUEST_PIN:-}" ] &&
	grep -qE 'Failed to pin vCPUs|cannot set affinity|TID [0-9]+ does not exist' "$results/console.log"; then
	info "warning: the vCPU threads were not (all) pinned to $NDRIVER_GUEST_PIN (console.log)"
fi
# vng's own exit status is not the command's: the command reports through RESULTS.
if grep -qE 'Kernel panic|end Kernel panic' "$results/console.log"; then
	tail -n 60 "$results/console.log" >&2
	die "the guest kernel panicked (console tail above)"
fi
exit 0
