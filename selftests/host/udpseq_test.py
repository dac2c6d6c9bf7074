#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
# udpseq_test.py: the UDP stream of the NIC tests on the host's loopback, no guest:
# selftests/guest/udpseq.py (the guest's side) and scripts/nic-peer.py (the peer's)
# each fed a stream with a datagram dropped, one duplicated, one reordered, one
# corrupted and one from another run, which their counts must show exactly; then
# the two against each other (nothing lost or duplicated on loopback), and lib.sh's
# udp_verdict failing on a duplicate and a corrupt datagram and passing a clean
# stream. Prints TAP ("ok N - ..."); exits non-zero on a failure. Run by check.sh.
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.dont_write_bytecode = True
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "selftests", "guest"))
import udpseq  # noqa: E402

UDPSEQ = os.path.join(ROOT, "selftests", "guest", "udpseq.py")
PEER = os.path.join(ROOT, "scripts", "nic-peer.py")
failed = 0
n = 0


def check(ok, what):
    global failed, n
    n += 1
    print(f"{'ok' if ok else 'not ok'} {n} - {what}", flush=True)
    if not ok:
        failed += 1


def free_port(kind=socket.SOCK_DGRAM):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def faulty_stream(run, count):
    """Datagrams 0..count-1 of run, in the order a bad NIC might deliver them: 7
    dropped, 10 twice, 21 before 20, a corrupt copy of 30 (one payload byte
    flipped), and one datagram of another run. Expected: received count-1, missing 1,
    dup 1, reordered 1, corrupt 1, stale 1."""
    seqs = [s for s in range(count) if s != 7]
    seqs.insert(seqs.index(10), 10)
    i = seqs.index(20)
    seqs[i], seqs[i + 1] = 21, 20
    out = [udpseq.encode(run, s) for s in seqs]
    bad = bytearray(udpseq.encode(run, 30))
    bad[udpseq.HEAD.size + 5] ^= 0x40
    out.insert(40, bytes(bad))
    out.insert(50, udpseq.encode(run ^ 1, 50))
    return out


FAULTY = {"received": 99, "missing": 1, "dup": 1, "reordered": 1, "corrupt": 1, "stale": 1}


def test_format():
    run = udpseq.new_run()
    sizes = {len(udpseq.encode(run, s)) for s in range(1000)}
    check(min(sizes) >= 200 and max(sizes) <= 1100 and len(sizes) > 100,
          f"datagram sizes vary ({min(sizes)} to {max(sizes)} bytes, {len(sizes)} sizes)")
    check(all(udpseq.decode(udpseq.encode(run, s)) == (run, s) for s in (0, 1, 2**63)),
          "encode/decode round trip")
    d = udpseq.encode(run, 5)
    check(udpseq.decode(d[:-1]) is None and udpseq.decode(d + b"x") is None and
          udpseq.decode(b"XXsq" + d[4:]) is None, "truncated, extended, bad magic: corrupt")
    t = udpseq.Tally(run)
    for data in faulty_stream(run, 100):
        t.add(data)
    got = t.stats()
    check(all(got[k] == v for k, v in FAULTY.items()) and got["lost"] == 1,
          f"tally of a faulty stream: {got}")
    check(t.stats(sent=103)["lost"] == 4, "lost counts the tail from the sender's count")


def test_peer():
    """nic-peer.py's /udp/ endpoints, the harness playing the guest."""
    tmp = tempfile.mkdtemp(prefix="udpseq-peer-")
    hport = free_port(socket.SOCK_STREAM)
    peer = subprocess.Popen([sys.executable, PEER, "127.0.0.1", str(hport), tmp])
    base = f"http://127.0.0.1:{hport}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/", timeout=1).read()
                break
            except OSError:
                time.sleep(0.05)
        pport, gport = free_port(), free_port()
        me = udpseq.udp_socket("127.0.0.1", gport)
        run = udpseq.new_run()
        r = json.load(urllib.request.urlopen(
            f"{base}/udp/start?port={pport}&rate=100&peer=127.0.0.1&pport={gport}&run={run:x}"))
        rx = udpseq.Receiver(me, int(r["run"], 16))
        for data in faulty_stream(run, 100):
            me.sendto(data, ("127.0.0.1", pport))
            time.sleep(0.002)
        mid = json.load(urllib.request.urlopen(base + "/udp/stats"))
        check(mid["rx"]["received"] >= 90, f"/udp/stats while running: {mid['rx']}")
        time.sleep(0.5)
        got = json.load(urllib.request.urlopen(base + "/udp/stop?wait=0.5"))
        time.sleep(0.3)
        rx.stop()
        me.close()
        check(all(got["rx"][k] == v for k, v in FAULTY.items()),
              f"peer counts a faulty stream from the guest: {got['rx']}")
        mine = rx.tally.stats(got["sent"])
        check(got["sent"] >= 50 and mine["received"] == got["sent"] and mine["dup"] == 0 and
              mine["corrupt"] == 0 and mine["stale"] == 0,
              f"peer's stream: sent {got['sent']}, received {mine}")
        try:
            urllib.request.urlopen(base + "/udp/stats")
            check(False, "/udp/stats after stop refused")
        except urllib.error.HTTPError as e:
            check(e.code == 400, "/udp/stats after stop refused")
        return peer, base
    except BaseException:
        peer.kill()
        raise


def final_line(out):
    lines = [x for x in out.splitlines() if x.startswith("udpseq final ")]
    if not lines:
        return {}
    return {k: int(v) if v.lstrip("-").isdigit() else v
            for k, v in (w.split("=", 1) for w in lines[-1].split()[2:])}


def test_guest_side():
    """udpseq.py without --control, the harness playing the peer."""
    hport, gport = free_port(), free_port()
    me = udpseq.udp_socket("127.0.0.1", hport)
    run = udpseq.new_run()
    p = subprocess.Popen([sys.executable, UDPSEQ, "--peer", "127.0.0.1", "--port", str(hport),
                          "--listen-port", str(gport), "--rate", "100", "--rx-run", f"{run:x}",
                          "--linger", "0.3"], stdout=subprocess.PIPE, text=True)
    ready = p.stdout.readline()
    tx_run = int(ready.split("tx_run=")[1].split()[0], 16)
    rx = udpseq.Receiver(me, tx_run)
    for data in faulty_stream(run, 100):
        me.sendto(data, ("127.0.0.1", gport))
        time.sleep(0.002)
    time.sleep(0.5)
    p.send_signal(signal.SIGUSR1)
    snap = p.stdout.readline()
    p.send_signal(signal.SIGTERM)
    out, _ = p.communicate(timeout=30)
    time.sleep(0.2)
    rx.stop()
    me.close()
    f = final_line(out)
    check(snap.startswith("udpseq snap ") and "p2g_received=99" in snap, f"snapshot: {snap.strip()}")
    check(p.returncode == 0 and all(f.get("p2g_" + k) == v for k, v in FAULTY.items()) and
          f.get("p2g_lost") == 1, f"guest side counts a faulty stream from the peer: {f}")
    mine = rx.tally.stats(f.get("g2p_sent"))
    check(f.get("g2p_sent", 0) >= 50 and mine["received"] == f["g2p_sent"] and mine["dup"] == 0,
          f"guest side's stream: sent {f.get('g2p_sent')}, received {mine}")


def test_both(base):
    """udpseq.py --control against nic-peer.py: a clean stream both ways."""
    p = subprocess.Popen([sys.executable, UDPSEQ, "--peer", "127.0.0.1", "--port", str(free_port()),
                          "--listen-port", str(free_port()), "--rate", "200",
                          "--control", base, "--secs", "2"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out, _ = p.communicate(timeout=60)
    f = final_line(out)
    ok = p.returncode == 0 and f
    for d in ("g2p", "p2g"):
        ok = ok and f[d + "_sent"] >= 300 and f[d + "_received"] == f[d + "_sent"] and \
            all(f[f"{d}_{k}"] == 0 for k in ("lost", "dup", "corrupt", "stale", "reordered"))
    check(ok, f"guest side and peer over loopback, 2 s at 200/s: {out.strip().splitlines()[-1]}")
    return f


def verdict(line, rec):
    """lib.sh's udp_verdict on a line: (exit status, output)."""
    r = subprocess.run(["bash", "-c", '. "$NDRIVER_ROOT/selftests/guest/lib.sh"; '
                        'UDP_LINE=$1; udp_verdict "$2"', "-", line, str(rec)],
                       env=dict(os.environ, NDRIVER_ROOT=ROOT, NDRIVER_UDP_RATE="50"),
                       capture_output=True, text=True)
    return r.returncode, r.stdout


def test_verdict():
    clean = ("udpseq final secs=9 g2p_sent=500 g2p_received=480 g2p_lost=20 g2p_dup=0 "
             "g2p_corrupt=0 g2p_stale=0 g2p_reordered=0 g2p_rx_drops=0 p2g_sent=500 "
             "p2g_received=500 p2g_lost=0 p2g_dup=0 p2g_corrupt=0 p2g_stale=0 "
             "p2g_reordered=0 p2g_rx_drops=0")
    rc, out = verdict(clean, 2)
    check(rc == 0, f"udp_verdict passes a clean stream: {out.strip()}")
    rc, out = verdict(clean.replace("p2g_dup=0", "p2g_dup=1"), 2)
    check(rc != 0 and "peer->guest: 1 datagrams duplicated" in out, "udp_verdict fails a duplicate")
    rc, out = verdict(clean.replace("g2p_corrupt=0", "g2p_corrupt=2"), 2)
    check(rc != 0 and "2 corrupt" in out, "udp_verdict fails a corrupt datagram")
    # 62 per recovery at 50/s (25 pings at 20/s): 20 lost is within 1 recovery's
    # bound, 130 is not within 2.
    rc, out = verdict(clean.replace("g2p_lost=20", "g2p_lost=130"), 2)
    check(rc != 0 and "lost 130" in out, "udp_verdict fails loss over the bound")


def main():
    test_format()
    peer, base = test_peer()
    try:
        test_guest_side()
        test_both(base)
    finally:
        peer.kill()
        peer.wait()
    test_verdict()
    print(f"1..{n}")
    sys.exit(1 if failed else 0)


main()
