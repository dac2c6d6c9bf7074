# SPDX-License-Identifier: GPL-2.0
# Sourced: the environment a Rust-for-Linux build needs on Debian.
# Debian's rustc-web + rust-web-src, LLVM 19, bindgen 0.72.1 from crates.io.

export PATH=$LLVM_BIN:$NDRIVER_CACHE/tools/bin:$PATH
export LIBCLANG_PATH=$LLVM_BIN/../lib
NDRIVER_RUSTC=${NDRIVER_RUSTC:-/usr/bin/rustc}
NDRIVER_BINDGEN=${NDRIVER_BINDGEN:-$NDRIVER_CACHE/tools/bin/bindgen}
NDRIVER_RUST_LIB_SRC=${NDRIVER_RUST_LIB_SRC:-$(ls -d /usr/src/rustc-*/library 2>/dev/null | sort -V | tail -n 1)}

# Arguments for every kernel-tree `make`.
kmake_args() {
	echo LLVM=1 RUSTC="$NDRIVER_RUSTC" BINDGEN="$NDRIVER_BINDGEN" \
		RUST_LIB_SRC="$NDRIVER_RUST_LIB_SRC" HOSTRUSTC="$NDRIVER_RUSTC"
}

toolchain_check() {
	[ -x "$NDRIVER_RUSTC" ] || die "no $NDRIVER_RUSTC: run scripts/setup.sh (Debian package rustc-web)"
	[ -x "$NDRIVER_BINDGEN" ] || die "no bindgen at $NDRIVER_BINDGEN: run scripts/setup.sh"
	[ -d "$NDRIVER_RUST_LIB_SRC/core" ] || die "no Rust library source: run scripts/setup.sh (Debian package rust-web-src)"
	[ -x "$LLVM_BIN/clang" ] || die "no LLVM 19 in $LLVM_BIN: run scripts/setup.sh"
}

# One line naming every tool whose version changes the built kernel.
toolchain_id() {
	"$NDRIVER_RUSTC" --version
	"$NDRIVER_BINDGEN" --version 2>&1 | head -n 1
	"$LLVM_BIN/clang" --version | head -n 1
}
