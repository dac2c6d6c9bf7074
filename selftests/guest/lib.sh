# SPDX-License-Identifier: GPL-2.0
# Helpers for in-guest tests; sourced. A test exits 0 on pass, 4 to skip, else fails.

ROOT=${NDRIVER_ROOT:?}
DBG=/sys/kernel/debug/ndriver

fail() {
	echo "FAIL: $*"
	exit 1
}

# Marks the kernel log so dmesg_clean looks only at what this test caused.
dmesg_mark() {
	DMESG_MARK="ndriver-test-mark-$RANDOM$RANDOM"
	echo "$DMESG_MARK" > /dev/kmsg
}

# Fails if the kernel complained since dmesg_mark.
dmesg_clean() {
	local bad
	bad=$(dmesg | sed -n "/$DMESG_MARK/,\$p" |
		grep -E 'WARNING:|BUG:|Oops|Call Trace|general protection|kernel BUG|UBSAN|KASAN|lockdep|possible recursive|circular locking' || true)
	[ -z "$bad" ] || fail "kernel log shows problems:
$bad"
}

# insmod a module of this tree by name (e.g. ndriver, sample-drivers/ndriver_hello).
load() {
	insmod "$ROOT/$1.ko" || fail "insmod $1.ko failed"
}

unload() {
	rmmod "$1" || fail "rmmod $1 failed"
}

loaded() {
	grep -q "^$1 " /proc/modules
}
