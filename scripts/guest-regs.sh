#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# guest-regs.sh RESULTS_DIR: where each vCPU of a running (typically hung) guest is.
#
# Asks the guest's QEMU monitor (RESULTS_DIR/monitor.sock, see guest.sh) for every
# vCPU's registers and the top of its stack, and names the kernel addresses with the
# guest kernel's System.map. Module addresses stay numeric (compare them with the
# module load addresses in the console log).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

dir=${1:?usage: guest-regs.sh RESULTS_DIR}
sock=$dir/monitor.sock
[ -S "$sock" ] || die "no monitor socket at $sock (is the guest running?)"
kdir=$("$here"/build-kernel.sh)

python3 - "$sock" "$kdir/System.map" <<'EOF'
import bisect, re, socket, sys, time

sock_path, map_path = sys.argv[1], sys.argv[2]
syms = []
with open(map_path) as f:
    for line in f:
        a, t, n = line.split()[:3]
        if t in "tTwW":
            syms.append((int(a, 16), n))
syms.sort()
addrs = [a for a, _ in syms]

def name(v):
    i = bisect.bisect_right(addrs, v) - 1
    if i < 0 or v - addrs[i] > 0x100000:
        return ""
    return "%s+%#x" % (syms[i][1], v - addrs[i])

s = socket.socket(socket.AF_UNIX)
s.connect(sock_path)
s.settimeout(2)

def cmd(c):
    s.sendall((c + "\n").encode())
    time.sleep(0.5)
    out = b""
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            out += d
    except socket.timeout:
        pass
    return out.decode(errors="replace")

cmd("")
regs = cmd("info registers -a")
for m in re.finditer(r"CPU#(\d+)(.*?)(?=CPU#|\Z)", regs, re.S):
    cpu, body = m.group(1), m.group(2)
    rip = int(re.search(r"RIP=([0-9a-f]+)", body).group(1), 16)
    rsp = int(re.search(r"RSP=([0-9a-f]+)", body).group(1), 16)
    efl = re.search(r"RFL=([0-9a-f]+)", body).group(1)
    print("cpu%s rip=%#x %s rsp=%#x rflags=%s" % (cpu, rip, name(rip), rsp, efl))
    cmd("cpu %s" % cpu)
    words = cmd("x/48gx %#x" % rsp)
    for w in re.findall(r"0x([0-9a-f]{16})", words):
        v = int(w, 16)
        if v >> 47 == 0x1ffff:
            print("    %#x %s" % (v, name(v)))
EOF
