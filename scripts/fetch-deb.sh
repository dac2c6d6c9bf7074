#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# fetch-deb.sh SUITE COMPONENT PACKAGE OUTDIR
#
# Downloads one .deb from the Debian mirror through a private apt
# configuration, so the machine's own apt sources stay untouched.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

[ $# = 4 ] || die "usage: $0 SUITE COMPONENT PACKAGE OUTDIR"
suite=$1 comp=$2 pkg=$3 out=$4

apt_dir=$NDRIVER_CACHE/apt-$suite
mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial" "$out"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $DEBIAN_MIRROR $suite $comp" \
	> "$apt_dir/sources.list"
opts=(-o Dir::Etc::SourceList="$apt_dir/sources.list"
      -o Dir::Etc::SourceParts=/dev/null
      -o Dir::State::Lists="$apt_dir/lists"
      -o Dir::Cache::Archives="$apt_dir/archives"
      -o APT::Architecture=amd64
      -o APT::Sandbox::User=root)
apt-get "${opts[@]}" -qq update ||
	die "cannot read suite '$suite' from $DEBIAN_MIRROR (set DEBIAN_MIRROR=...)"
cd "$out"
apt-get "${opts[@]}" -qq download "$pkg" ||
	die "package '$pkg' is not in $suite/$comp on $DEBIAN_MIRROR"
ls -1 "$out"/"${pkg}"_*.deb | tail -n 1
