#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
# udpseq.py: a sequence-numbered UDP stream in both directions between the guest and
# the host-side peer (scripts/nic-peer.py), so that the NIC tests see datagrams lost,
# duplicated, corrupted or reordered across recoveries: a TCP transfer's sha256 hides
# all of these (TCP retransmits and drops duplicates). This file is the one place of
# the wire format and the counting; nic-peer.py imports it.
#
# One datagram, network byte order:
#   magic    4 bytes  b"NDsq"
#   run      8 bytes  random per stream; a datagram of another stream counts as stale
#   seq      8 bytes  0, 1, 2, ... within the stream
#   length   2 bytes  of the payload: 200 to 1000, varying with seq (not all
#                     minimum frames)
#   payload           a pattern that depends on seq
#   crc      4 bytes  zlib.crc32 of everything before it
# A receiver counts what arrives: received (distinct seqs), dup (a seq it already
# had), reordered (lower than a seq it already had), corrupt (bad magic, length or
# crc), stale (a good datagram of another run). Lost is the sender's count minus
# received once that is known, else the gaps below the highest seq seen (missing).
#
# Guest side:
#   udpseq.py --peer 10.99.0.1 --port 9100 --listen-port 9101 --rate 50 \
#       --control http://10.99.0.1:8099 [--secs S]
# binds --listen-port, asks the peer (GET /udp/start) to receive on --port and to
# send its own stream back to this host's --listen-port, then sends --rate datagrams
# a second to the peer until SIGINT/SIGTERM or --secs. SIGUSR1 prints a snapshot
# line; at the end it stops sending, asks the peer to stop (GET /udp/stop, which
# waits for stragglers and returns the peer's counts), keeps receiving for --linger
# seconds and prints "udpseq final" with both directions as KEY=VALUE: g2p_*
# (guest to peer) and p2g_* (peer to guest), each sent, send_errors, received, lost,
# missing, dup, corrupt, stale, reordered, and rx_drops (datagrams the receiving
# socket itself dropped, a full buffer: not the NIC's doing). Without --control only
# this side's counts (--rx-run names the stream to expect).
import argparse
import http.client
import json
import os
import signal
import socket
import struct
import sys
import threading
import time
import urllib.parse
import zlib

MAGIC = b"NDsq"
HEAD = struct.Struct("!4sQQH")
CRC = struct.Struct("!I")
MIN_PAYLOAD, MAX_PAYLOAD = 200, 1000
# Payloads are slices of this, at an offset that depends on seq.
PATTERN = bytes(range(256)) * 5


def new_run():
    return int.from_bytes(os.urandom(8), "big")


def payload_len(seq):
    return MIN_PAYLOAD + (seq * 2654435761) % (MAX_PAYLOAD - MIN_PAYLOAD + 1)


def encode(run, seq):
    n = payload_len(seq)
    off = seq % 256
    body = HEAD.pack(MAGIC, run, seq, n) + PATTERN[off:off + n]
    return body + CRC.pack(zlib.crc32(body))


def decode(data):
    """(run, seq) of a well-formed datagram, None for a corrupt one."""
    if len(data) < HEAD.size + CRC.size:
        return None
    magic, run, seq, n = HEAD.unpack_from(data)
    if magic != MAGIC or len(data) != HEAD.size + n + CRC.size:
        return None
    if CRC.unpack_from(data, HEAD.size + n)[0] != zlib.crc32(data[:HEAD.size + n]):
        return None
    return run, seq


class Tally:
    """What a receiver got of the stream `run`."""

    def __init__(self, run):
        self.run = run
        self.lock = threading.Lock()
        self.seen = set()
        self.highest = -1
        self.received = self.dup = self.reordered = self.corrupt = self.stale = 0

    def add(self, data):
        d = decode(data)
        with self.lock:
            if d is None:
                self.corrupt += 1
            elif d[0] != self.run:
                self.stale += 1
            elif d[1] in self.seen:
                self.dup += 1
            else:
                self.seen.add(d[1])
                self.received += 1
                if d[1] < self.highest:
                    self.reordered += 1
                else:
                    self.highest = d[1]

    def stats(self, sent=None):
        with self.lock:
            missing = self.highest + 1 - self.received
            return {"received": self.received,
                    "lost": missing if sent is None else sent - self.received,
                    "missing": missing, "dup": self.dup, "corrupt": self.corrupt,
                    "stale": self.stale, "reordered": self.reordered}


class Sender:
    """Sends the stream `run` to dest, `rate` datagrams a second, from sock."""

    def __init__(self, sock, dest, rate, run):
        self.sock, self.dest, self.period, self.run = sock, dest, 1.0 / rate, run
        self.sent = self.errors = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        t = time.monotonic()
        while not self.stopping.is_set():
            try:
                # A datagram the kernel refused is sent again with the same seq: a
                # gap in seq is then always a datagram lost after it left.
                self.sock.sendto(encode(self.run, self.sent), self.dest)
                self.sent += 1
            except OSError:
                self.errors += 1
            t += self.period
            delay = t - time.monotonic()
            if delay < -0.5:
                # Starved for a while (a loaded TCG host): no catch-up burst.
                t, delay = time.monotonic(), 0
            if delay > 0:
                self.stopping.wait(delay)

    def stop(self):
        self.stopping.set()
        self.thread.join()


class Receiver:
    """Counts every datagram arriving at sock into a Tally of the stream `run`."""

    def __init__(self, sock, run):
        self.sock, self.tally = sock, Tally(run)
        self.stopping = threading.Event()
        sock.settimeout(0.1)
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        while not self.stopping.is_set():
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            self.tally.add(data)

    def stop(self):
        self.stopping.set()
        self.thread.join()


def udp_socket(addr, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    # A receiver starved by the host should not lose datagrams in its own buffer;
    # beyond rmem_max only for root.
    for opt in (getattr(socket, "SO_RCVBUFFORCE", None), socket.SO_RCVBUF):
        if opt is None:
            continue
        try:
            s.setsockopt(socket.SOL_SOCKET, opt, 4 << 20)
            break
        except OSError:
            pass
    s.bind((addr, port))
    return s


def rx_drops(port):
    """Datagrams the kernel dropped at the UDP socket bound to port (its buffer was
    full), from /proc/net/udp of this network namespace; None if not found."""
    try:
        with open("/proc/net/udp") as f:
            next(f)
            for line in f:
                w = line.split()
                if int(w[1].split(":")[1], 16) == port:
                    return int(w[-1])
    except (OSError, ValueError, IndexError, StopIteration):
        pass
    return None


def http_json(base, path, params=None, timeout=60):
    """GET base+path?params, the answer's JSON; no proxy, whatever the environment."""
    u = urllib.parse.urlsplit(base)
    c = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=timeout)
    try:
        c.request("GET", path + ("?" + urllib.parse.urlencode(params) if params else ""))
        r = c.getresponse()
        body = r.read()
        if r.status != 200:
            raise OSError(f"{path}: HTTP {r.status}: {body[:200]!r}")
        return json.loads(body)
    finally:
        c.close()


def line(kind, tx, mine, rx_port, peer):
    """One KEY=VALUE line of both directions: tx this side's Sender, mine what this
    side received (Tally.stats() taken before the peer's counts, so that a datagram
    in flight counts as lost rather than as received and not sent), peer the peer's
    counts (its JSON) if known."""
    out = {"secs": round(time.monotonic() - START, 1)}
    p2g_sent = peer["sent"] if peer else None
    g2p = {"sent": tx.sent, "send_errors": tx.errors}
    if peer:
        rx_stats = dict(peer["rx"])
        rx_stats["lost"] = tx.sent - rx_stats["received"]
        g2p.update(rx_stats, rx_drops=peer.get("rx_drops"))
    p2g = {"sent": p2g_sent, "send_errors": peer["send_errors"] if peer else None}
    if p2g_sent is not None:
        mine["lost"] = p2g_sent - mine["received"]
    p2g.update(mine, rx_drops=rx_drops(rx_port))
    for d, v in (("g2p", g2p), ("p2g", p2g)):
        for k, n in v.items():
            if n is not None:
                out[f"{d}_{k}"] = n
    print("udpseq " + kind + " " + " ".join(f"{k}={v}" for k, v in out.items()), flush=True)


def main():
    ap = argparse.ArgumentParser(description="sequence-numbered UDP stream both ways")
    ap.add_argument("--peer", required=True, help="the peer's address")
    ap.add_argument("--port", type=int, required=True, help="the peer's UDP port")
    ap.add_argument("--listen-port", type=int, required=True, help="this side's UDP port")
    ap.add_argument("--rate", type=float, default=50, help="datagrams a second each way")
    ap.add_argument("--secs", type=float, default=0, help="stop after this long (0: on a signal)")
    ap.add_argument("--control", help="the peer's HTTP base URL: start and stop its side")
    ap.add_argument("--rx-run", help="without --control: the run id (hex) to expect")
    ap.add_argument("--linger", type=float, default=1.5,
                    help="seconds to keep receiving after the peer stopped")
    a = ap.parse_args()
    if a.rate <= 0 or (a.control is None) == (a.rx_run is None):
        ap.error("--rate must be positive, and exactly one of --control and --rx-run given")

    sock = udp_socket("", a.listen_port)
    tx_run = new_run()
    if a.control:
        # This host's address toward the peer: where the peer's stream is to go.
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        probe.connect((a.peer, a.port))
        me = probe.getsockname()[0]
        probe.close()
        r = http_json(a.control, "/udp/start", {"port": a.port, "rate": a.rate, "peer": me,
                                                "pport": a.listen_port, "run": f"{tx_run:x}"})
        rx_run = int(r["run"], 16)
    else:
        rx_run = int(a.rx_run, 16)
    rx = Receiver(sock, rx_run)
    tx = Sender(sock, (a.peer, a.port), a.rate, tx_run)

    wake = threading.Event()
    flags = {"stop": False, "snap": False}

    def on_signal(sig, _frame):
        flags["snap" if sig == signal.SIGUSR1 else "stop"] = True
        wake.set()

    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1):
        signal.signal(s, on_signal)
    print(f"udpseq ready tx_run={tx_run:x} rx_run={rx_run:x} rate={a.rate:g}", flush=True)
    end = START + a.secs if a.secs > 0 else None
    while not flags["stop"]:
        left = 0.5 if end is None else end - time.monotonic()
        if left <= 0:
            break
        wake.wait(min(left, 0.5))
        wake.clear()
        if flags["snap"]:
            flags["snap"] = False
            mine = rx.tally.stats()
            peer = None
            if a.control:
                try:
                    peer = http_json(a.control, "/udp/stats")
                except OSError as e:
                    # A snapshot is for the log; the final counts are what is judged.
                    print(f"udpseq: snapshot of the peer: {e}", file=sys.stderr)
            line("snap", tx, mine, a.listen_port, peer)

    tx.stop()
    peer = http_json(a.control, "/udp/stop") if a.control else None
    time.sleep(a.linger)
    rx.stop()
    line("final", tx, rx.tally.stats(), a.listen_port, peer)
    sock.close()


START = time.monotonic()
if __name__ == "__main__":
    try:
        main()
    except (OSError, ValueError, KeyError) as e:
        print(f"udpseq: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
