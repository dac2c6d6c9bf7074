#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# build-kernel.sh: prints the path of a built, Rust-enabled guest kernel tree.
#
#   KDIR=/path          use that already built tree (checked, not rebuilt)
#   KERNEL_TARBALL=f    build from this linux-*.tar.{xz,gz} instead of Debian's
#   DEBUG_KERNEL=1      add the KASAN/lockdep/kmemleak fragment
#   --key, --base-key   only print the cache key (or its patch-independent part)
#
# The tree is cached in $NDRIVER_CACHE/kernel/<key>, keyed by the tarball,
# the config fragments, the patch series and the toolchain, so an unchanged
# rerun only prints the path.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/toolchain.sh"

here=$NDRIVER_ROOT/scripts/kernel

check_tree() {
	local k=$1
	[ -f "$k/.config" ] || die "KDIR=$k is not a configured kernel tree (no .config)"
	grep -q '^CONFIG_RUST=y' "$k/.config" || die "KDIR=$k was not built with CONFIG_RUST=y"
	grep -q '^CONFIG_MODULES=y' "$k/.config" || die "KDIR=$k has no module support"
	[ -f "$k/Module.symvers" ] || die "KDIR=$k is not built (no Module.symvers): run make there first"
	[ -f "$k/arch/x86/boot/bzImage" ] || die "KDIR=$k has no arch/x86/boot/bzImage"
	grep -q '^CONFIG_KALLSYMS=y' "$k/.config" ||
		die "KDIR=$k has no CONFIG_KALLSYMS: the guard tells driver faults from kernel faults by symbol"
	! grep -q '^CONFIG_RUST_INLINE_HELPERS=y' "$k/.config" ||
		die "KDIR=$k has CONFIG_RUST_INLINE_HELPERS=y: ndriver needs the Rust helpers (rust_helper_BUG, readl, ...) out of line"
	grep -q '^CONFIG_KPROBES=y' "$k/.config" ||
		die "KDIR=$k has no CONFIG_KPROBES: fault injection at driver instructions (inject site=) places kprobes"
	! grep -q '^CONFIG_PREEMPT_RCU=y' "$k/.config" ||
		die "KDIR=$k has CONFIG_PREEMPT_RCU=y: an abandoned call's RCU read-side nesting (task state, not the preempt count) cannot be restored; use CONFIG_PREEMPT_LAZY or PREEMPT_VOLUNTARY"
}

if [ -n "${KDIR:-}" ]; then
	check_tree "$KDIR"
	echo "$KDIR"
	exit 0
fi

toolchain_check

tarball=${KERNEL_TARBALL:-}
if [ -z "$tarball" ]; then
	debs=$NDRIVER_CACHE/debs
	deb=$(ls "$debs"/linux-source-"$KVER"_*.deb 2>/dev/null | sort -V | tail -n 1 || true)
	if [ -z "$deb" ]; then
		info "fetching Debian's linux-source-$KVER (trixie-backports)"
		deb=$("$NDRIVER_ROOT"/scripts/fetch-deb.sh trixie-backports main "linux-source-$KVER" "$debs") ||
			die "could not fetch linux-source-$KVER. Give a kernel instead:
    make KERNEL_TARBALL=/path/to/linux-$KVER.tar.xz ...   (any Linux $KVER source tarball), or
    make KDIR=/path/to/built/tree ...                     (a built tree with CONFIG_RUST=y)"
	fi
	tarball=$NDRIVER_CACHE/src/$(basename "$deb" .deb).tar.xz
	if [ ! -f "$tarball" ]; then
		tmp=$(mktemp -d)
		dpkg-deb -x "$deb" "$tmp"
		mkdir -p "$NDRIVER_CACHE/src"
		mv "$tmp"/usr/src/linux-source-"$KVER".tar.* "$tarball.part"
		mv "$tarball.part" "$tarball"
		rm -rf "$tmp"
	fi
fi
[ -f "$tarball" ] || die "kernel tarball '$tarball' does not exist"

frags=("$here/ndriver.config")
[ "${DEBUG_KERNEL:-0}" = 1 ] && frags+=("$here/ndriver-debug.config")
patches=()
while read -r p; do
	case "$p" in ''|'#'*) continue ;; esac
	[ -f "$here/patches/$p" ] || die "patch '$p' is listed in scripts/kernel/patches/series but missing"
	patches+=("$here/patches/$p")
done < "$here/patches/series"

# Bump when the way a tree is prepared or built changes (not for comments).
RECIPE=1
# The base key covers everything but the patches; the key adds them.
base=$( {
	echo "recipe $RECIPE"
	echo "$(basename "$tarball") $(stat -c %s "$tarball")"
	cat "${frags[@]}"
	toolchain_id
} | sha256sum | cut -c1-16)
# patch_key N: the key of a tree with the first N patches of the series (the key
# itself for all of them; for fewer, the key that a series file listing only those
# would have given).
patch_key() {
	local n=$1
	{
		echo "$base"
		if [ "$n" = ${#patches[@]} ]; then
			cat "$here/patches/series"
		else
			local i
			for ((i = 0; i < n; i++)); do basename "${patches[i]}"; done
		fi
		[ "$n" = 0 ] || cat "${patches[@]:0:n}"
	} | sha256sum | cut -c1-16
}
key=$(patch_key ${#patches[@]})
tree=$NDRIVER_CACHE/kernel/$key
case "${1:-}" in
--key) echo "$key"; exit 0 ;;
--base-key) echo "$base"; exit 0 ;;
esac
# shellcheck disable=SC2046
margs=($(kmake_args))

if [ -f "$tree/.ndriver-built" ]; then
	echo "$tree"
	exit 0
fi

# One build per tree at a time; a second caller waits, then finds it built.
mkdir -p "$NDRIVER_CACHE/kernel"
exec 9>"$tree.lock"
if ! flock -n 9; then
	info "waiting for another build of $tree"
	flock 9
fi
if [ -f "$tree/.ndriver-built" ]; then
	echo "$tree"
	exit 0
fi

# A built tree of the same base with fewer patches saves most of the work when
# patches were added at the end of the series: copy the one with the most, apply the
# rest, and let make rebuild what they touch. A tree with none counts too.
seed= seeded=0
if [ ! -f "$tree/.ndriver-prepared" ] && [ ${#patches[@]} -gt 0 ]; then
	for ((k = ${#patches[@]} - 1; k >= 1 && ${#seed} == 0; k--)); do
		t=$NDRIVER_CACHE/kernel/$(patch_key $k)
		if [ -f "$t/.ndriver-built" ] && [ "$(cat "$t/.ndriver-base" 2>/dev/null)" = "$base" ]; then
			seed=$t seeded=$k
		fi
	done
	for t in "$NDRIVER_CACHE"/kernel/*/; do
		[ -z "$seed" ] || break
		t=${t%/}
		if [ -f "$t/.ndriver-built" ] && [ "$(cat "$t/.ndriver-base" 2>/dev/null)" = "$base" ] &&
			[ "$(cat "$t/.ndriver-npatches" 2>/dev/null)" = 0 ]; then
			seed=$t
		fi
	done
fi

if [ -n "$seed" ]; then
	info "preparing kernel tree $tree from the built tree $seed ($seeded of ${#patches[@]} patches)"
	rm -rf "$tree"
	cp -a "$seed" "$tree"
	rm -f "$tree/.ndriver-built"
	echo "${#patches[@]}" > "$tree/.ndriver-npatches"
	for p in "${patches[@]:seeded}"; do
		info "applying $(basename "$p")"
		if ! patch -d "$tree" -p1 --forward --batch < "$p" >"$tree/.patch.log" 2>&1; then
			cat "$tree/.patch.log" >&2
			rm -rf "$tree"
			die "patch $(basename "$p") does not apply to $(basename "$tarball") (see rejects above)"
		fi
	done
	touch "$tree/.ndriver-prepared"
fi

if [ ! -f "$tree/.ndriver-prepared" ]; then
	info "preparing kernel tree $tree"
	rm -rf "$tree"
	mkdir -p "$tree"
	tar -xf "$tarball" -C "$tree" --strip-components=1
	echo "$base" > "$tree/.ndriver-base"
	echo "${#patches[@]}" > "$tree/.ndriver-npatches"
	for p in "${patches[@]}"; do
		info "applying $(basename "$p")"
		if ! patch -d "$tree" -p1 --forward --batch < "$p" >"$tree/.patch.log" 2>&1; then
			cat "$tree/.patch.log" >&2
			die "patch $(basename "$p") does not apply to $(basename "$tarball") (see rejects above)"
		fi
	done
	make -C "$tree" "${margs[@]}" tinyconfig >/dev/null
	"$tree"/scripts/kconfig/merge_config.sh -m -O "$tree" "$tree/.config" "${frags[@]}" >/dev/null
	make -C "$tree" "${margs[@]}" olddefconfig >/dev/null
	# Every option the fragments ask for must have survived Kconfig.
	bad=0
	while IFS= read -r line; do
		case "$line" in CONFIG_*=*) ;; *) continue ;; esac
		opt=${line%%=*} val=${line#*=}
		if [ "$val" = n ]; then
			grep -q "^$opt=" "$tree/.config" && { echo "  $opt: wanted n, got $(grep "^$opt=" "$tree/.config")" >&2; bad=1; }
		else
			grep -qx "$line" "$tree/.config" || { echo "  $line: got '$(grep "^$opt=" "$tree/.config" || echo unset)'" >&2; bad=1; }
		fi
	done < <(cat "${frags[@]}")
	if [ $bad = 1 ]; then
		make -C "$tree" "${margs[@]}" rustavailable >&2 || true
		die "kernel config does not hold the options above (rerun after fixing the toolchain or fragment)"
	fi
	touch "$tree/.ndriver-prepared"
fi

info "building kernel in $tree (about 25 minutes on 2 cores; cached afterwards)"
jobs=$(( $(nproc) + 1 ))
if ! make -C "$tree" "${margs[@]}" -j"$jobs" bzImage modules >"$tree/.build.log" 2>&1; then
	tail -n 40 "$tree/.build.log" >&2
	die "kernel build failed (full log: $tree/.build.log)"
fi
touch "$tree/.ndriver-built"
echo "$tree"
