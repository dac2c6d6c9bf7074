#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# setup.sh: installs everything ndriver needs on a Debian 12 machine. Idempotent:
# a rerun installs only what is missing. Needs root (or sudo) for apt.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

PACKAGES=(
	# Rust for Linux toolchain (Debian's rustc-web matches the kernel's needs).
	rustc-web rust-web-src clang-19 lld-19 llvm-19 libclang-19-dev
	# Kernel build.
	make gcc bc bison flex libelf-dev libssl-dev cpio xz-utils kmod patch
	# Guest and its workloads (the host's root is the guest's root).
	qemu-system-x86 python3-venv iproute2 ethtool e2fsprogs fio iperf3
	apache2 apache2-utils wrk busybox-static
)
BINDGEN_VERSION=0.72.1
VNG_VERSION=1.42

missing=()
for p in "${PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	info "installing Debian packages: ${missing[*]}"
	as_root apt-get update -qq
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
		die "apt-get could not install: ${missing[*]}"
fi

# netperf is only in Debian's non-free component, which the machine's sources may
# lack: fetch it through a private apt configuration instead.
if ! command -v netperf >/dev/null; then
	info "installing netperf (Debian bookworm non-free)"
	deb=$("$NDRIVER_ROOT"/scripts/fetch-deb.sh bookworm non-free netperf "$NDRIVER_CACHE/debs")
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$deb" >/dev/null ||
		die "could not install $deb"
fi

bindgen=$NDRIVER_CACHE/tools/bin/bindgen
if ! "$bindgen" --version 2>/dev/null | grep -q " $BINDGEN_VERSION"; then
	info "installing bindgen-cli $BINDGEN_VERSION from crates.io"
	command -v cargo >/dev/null || die "cargo is needed to install bindgen-cli"
	LIBCLANG_PATH=$LLVM_BIN/../lib cargo install -q --locked bindgen-cli \
		--version "$BINDGEN_VERSION" --root "$NDRIVER_CACHE/tools" ||
		die "cargo could not install bindgen-cli $BINDGEN_VERSION"
fi

venv=$NDRIVER_CACHE/venv
if ! "$venv/bin/vng" --version 2>/dev/null | grep -q "$VNG_VERSION" ||
	! "$venv/bin/python" -c 'import matplotlib' 2>/dev/null; then
	info "installing virtme-ng $VNG_VERSION and matplotlib (plots) from PyPI"
	python3 -m venv "$venv"
	"$venv/bin/pip" install -q "virtme-ng==$VNG_VERSION" matplotlib ||
		die "pip could not install virtme-ng $VNG_VERSION and matplotlib"
fi

info "set-up complete (cache: $NDRIVER_CACHE)"
