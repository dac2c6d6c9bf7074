#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
# nic-peer.py ADDR PORT DIR: the host side of the guest's NIC tests, run by guest.sh
# inside the test's network namespace. HTTP: GET /NAME sends DIR/NAME; PUT /NAME
# stores the request body as DIR/NAME (what the guest sent through its NIC), so the
# guest can compare checksums of both directions. Serves only the namespace's tap.
import http.server
import os
import socketserver
import sys

addr, port, root = sys.argv[1], int(sys.argv[2]), sys.argv[3]


class Handler(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *a, **kw):
        super().__init__(*a, directory=root, **kw)

    def log_message(self, *a):
        pass

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


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


os.makedirs(root, exist_ok=True)
Server((addr, port), Handler).serve_forever()
