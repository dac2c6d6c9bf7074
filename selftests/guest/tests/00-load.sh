# SPDX-License-Identifier: GPL-2.0
# ndriver.ko loads, offers its debugfs directory, takes a registration from another
# module through its exported symbols, is pinned by it, and unloads cleanly.
. "$(dirname "$0")/../lib.sh"

dmesg_mark
loaded ndriver && fail "ndriver is already loaded"
load ndriver
[ -d "$DBG" ] || fail "$DBG missing after insmod"
grep -q '^implementations: 0$' "$DBG/status" || fail "fresh status: $(cat "$DBG/status")"

load sample-drivers/ndriver_hello
cat "$DBG/status"
grep -q '^  hello/hello-a pci_ids none$' "$DBG/status" || fail "hello-a not registered: $(cat "$DBG/status")"
rmmod ndriver 2>/dev/null && fail "ndriver unloaded while an implementation module uses it"

unload ndriver_hello
grep -q '^implementations: 0$' "$DBG/status" || fail "hello-a still listed after rmmod"
unload ndriver
[ -d "$DBG" ] && fail "$DBG still present after rmmod"
dmesg_clean
echo "PASS"
