# SPDX-License-Identifier: GPL-2.0
# Shared settings for ndriver's host scripts; sourced, never run.

NDRIVER_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Slow things (kernel source and build, tools) live here, outside the work tree.
NDRIVER_CACHE=${NDRIVER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ndriver}
KVER=${KVER:-7.3}
LLVM_BIN=/usr/lib/llvm-19/bin
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

die() {
	echo "ndriver: error: $*" >&2
	exit 1
}

info() {
	echo "ndriver: $*" >&2
}

# Run as root or through sudo when available.
as_root() {
	if [ "$(id -u)" = 0 ]; then
		"$@"
	elif command -v sudo >/dev/null; then
		sudo "$@"
	else
		die "'$*' needs root"
	fi
}
