#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
# nic-peer.py ADDR PORT DIR: the host side of the guest's NIC tests, run by guest.sh
# inside the test's network namespace. HTTP: GET /NAME sends DIR/NAME; PUT /NAME
# stores the request body as DIR/NAME (what the guest sent through its NIC), so the
# guest can compare checksums of both directions. Serves only the namespace's tap.
#
# GET /load?host=H&port=P&set=NAME&secs=S&conns=C is the client side of a web server
# the guest runs: C connections (keep-alive, each its own thread) fetch the files of
# DIR/NAME/ in turn from http://H:P/ for S seconds, each reply compared byte for byte
# with the file, and the answer is JSON: requests, ok, failed (error, timeout, wrong
# status or body), and latency percentiles in ms. So the load comes from outside the
# guest, through its NIC, and the guest only asks for it.
#
# GET /snmp answers the peer's /proc/net/snmp as JSON ({"Tcp": {"InCsumErrors": N,
# ...}, ...}): the receiving kernel's own count of bad checksums.
#
# The peer side of the sequence-numbered UDP stream (selftests/guest/udpseq.py has
# the wire format and the counting, imported from there): GET
# /udp/start?port=P&rate=R&peer=H&pport=Q&run=X receives the stream X (hex run id)
# on UDP port P and sends its own, R datagrams a second, to H:Q, answering
# {"run": its run id}; GET /udp/stats answers {"run", "sent", "send_errors", "rx":
# what it received, "rx_drops"}; GET /udp/stop[?wait=S] stops sending, receives S
# seconds more (default 1) for stragglers and answers the same. One stream at a time:
# a start ends the one before.
import http.client
import http.server
import json
import os
import socketserver
import sys
import threading
import time
import urllib.parse

# No __pycache__ left in the tree (the peer runs as root).
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                "selftests", "guest"))
import udpseq  # noqa: E402

addr, port, root = sys.argv[1], int(sys.argv[2]), sys.argv[3]


class Handler(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *a, **kw):
        super().__init__(*a, directory=root, **kw)

    def log_message(self, *a):
        pass

    def do_GET(self):
        u = urllib.parse.urlparse(self.path)
        if u.path not in ("/load", "/snmp") and not u.path.startswith("/udp/"):
            return super().do_GET()
        q = urllib.parse.parse_qs(u.query)
        try:
            if u.path == "/snmp":
                result = snmp()
            elif u.path == "/load":
                result = load(q["host"][0], int(q["port"][0]), q["set"][0],
                              float(q.get("secs", ["10"])[0]),
                              int(q.get("conns", ["4"])[0]))
            else:
                result = udp(u.path[len("/udp/"):], q)
            body, code = json.dumps(result).encode(), 200
        except (KeyError, ValueError, OSError) as e:
            body, code = json.dumps({"error": str(e)}).encode(), 400
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_PUT(self):
        name = os.path.basename(self.path)
        n = int(self.headers.get("Content-Length", "0"))
        tmp = os.path.join(root, "." + name + ".part")
        with open(tmp, "wb") as f:
            while n > 0:
                b = self.rfile.read(min(n, 65536))
                if not b:
                    break
                f.write(b)
                n -= len(b)
        if n == 0:
            os.rename(tmp, os.path.join(root, name))
            self.send_response(201)
        else:
            self.send_response(400)
        self.send_header("Content-Length", "0")
        self.end_headers()


def snmp():
    """The peer's own IP, TCP and UDP counters (/proc/net/snmp of its network
    namespace): {"Tcp": {"InCsumErrors": N, ...}, ...}. What the peer's kernel saw
    of the guest's frames, checksums included, whatever the guest's driver says."""
    out, heads = {}, {}
    with open("/proc/net/snmp") as f:
        for line in f:
            proto, _, rest = line.partition(":")
            fields = rest.split()
            if proto not in heads:
                heads[proto] = fields
            else:
                out[proto] = {k: int(v) for k, v in zip(heads[proto], fields)}
    return out


def load(host, port, name, secs, conns):
    """Fetches the page set DIR/NAME from host:port for secs seconds over conns
    keep-alive connections; every reply checked against the file."""
    base = os.path.join(root, os.path.basename(name))
    pages = {f: open(os.path.join(base, f), "rb").read() for f in sorted(os.listdir(base))}
    if not pages or conns < 1 or conns > 64 or secs <= 0 or secs > 3600:
        raise ValueError("bad page set or parameters")
    names = list(pages)
    end = time.monotonic() + secs
    lock = threading.Lock()
    tally = {"requests": 0, "ok": 0, "failed": 0, "errors": {}}
    lat = []

    def worker(k):
        c, i = None, k
        while time.monotonic() < end:
            f = names[i % len(names)]
            i += 1
            t = time.monotonic()
            try:
                if c is None:
                    c = http.client.HTTPConnection(host, port, timeout=10)
                c.request("GET", "/" + f)
                r = c.getresponse()
                data = r.read()
                good = r.status == 200 and data == pages[f]
                why = None if good else f"status {r.status}, {len(data)} bytes"
            except (OSError, http.client.HTTPException) as e:
                good, why = False, type(e).__name__
                if c is not None:
                    c.close()
                c = None
            with lock:
                tally["requests"] += 1
                if good:
                    tally["ok"] += 1
                    lat.append((time.monotonic() - t) * 1000)
                else:
                    tally["failed"] += 1
                    tally["errors"][why] = tally["errors"].get(why, 0) + 1
        if c is not None:
            c.close()

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lat.sort()
    pct = lambda p: round(lat[min(len(lat) - 1, int(p * len(lat)))], 2) if lat else None
    tally.update(secs=secs, conns=conns, pages=len(names),
                 p50_ms=pct(0.5), p99_ms=pct(0.99), max_ms=round(lat[-1], 2) if lat else None)
    return tally


class UdpStream:
    """Both ends of the peer's side of one UDP stream (udpseq.py)."""

    def __init__(self, port, rate, dest, rx_run):
        self.port = port
        self.sock = udpseq.udp_socket(addr, port)
        self.rx = udpseq.Receiver(self.sock, rx_run)
        self.tx = udpseq.Sender(self.sock, dest, rate, udpseq.new_run())

    def stats(self):
        return {"run": f"{self.tx.run:x}", "sent": self.tx.sent,
                "send_errors": self.tx.errors, "rx": self.rx.tally.stats(),
                "rx_drops": udpseq.rx_drops(self.port)}

    def stop(self, wait):
        self.tx.stop()
        time.sleep(wait)
        self.rx.stop()
        result = self.stats()
        self.sock.close()
        return result


udp_lock = threading.Lock()
udp_stream = None


def udp(verb, q):
    global udp_stream
    with udp_lock:
        if verb == "start":
            rate = float(q["rate"][0])
            if not 0 < rate <= 10000:
                raise ValueError("rate out of range")
            if udp_stream is not None:
                udp_stream.stop(0)
                udp_stream = None
            udp_stream = UdpStream(int(q["port"][0]), rate,
                                   (q["peer"][0], int(q["pport"][0])), int(q["run"][0], 16))
            return {"run": f"{udp_stream.tx.run:x}"}
        if udp_stream is None:
            raise ValueError("no UDP stream")
        if verb == "stats":
            return udp_stream.stats()
        if verb == "stop":
            wait = float(q.get("wait", ["1"])[0])
            if not 0 <= wait <= 60:
                raise ValueError("wait out of range")
            result = udp_stream.stop(wait)
            udp_stream = None
            return result
        raise ValueError(f"no /udp/{verb}")


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


os.makedirs(root, exist_ok=True)
Server((addr, port), Handler).serve_forever()
