#!/bin/bash
# kernel.sh SPEC CACHE_DIR: fetch one Debian kernel package and unpack it, for
# make vmtest. Prints "RELEASE VMLINUZ" on stdout; progress goes to stderr.
#
# SPEC is a Debian suite (bullseye, bookworm, bookworm-backports, trixie, ...),
# a short alias (5.10 = bullseye, 6.1 = bookworm, 6.12 = bookworm-backports),
# SUITE:PACKAGE to pin one package (bookworm:linux-image-6.1.0-57-amd64), or
# the path of a linux-image .deb already at hand.
#
# Each suite gets its own apt sources list and state directory under
# CACHE_DIR/apt/SUITE, so that suites the machine does not list can be used
# without touching its apt configuration; the mirror is the one the machine's
# /etc/apt/sources.list.d/debian.sources names. The kernel is never installed:
# dpkg-deb -x unpacks it under CACHE_DIR/kernels/RELEASE. The package lists
# are refreshed when older than a day (VMTEST_REFRESH=1 forces it), the .deb
# and the unpacked tree are kept, so that a second run needs no network.
set -euo pipefail

spec=$1
cache=$(realpath -m "$2")
mkdir -p "$cache/debs" "$cache/kernels"

log() { echo "vmtest: $*" >&2; }

case $spec in
5.10) spec=bullseye ;;
6.1) spec=bookworm ;;
6.12) spec=bookworm-backports ;;
esac

mirror() {
	local src=/etc/apt/sources.list.d/debian.sources uri=
	[ -r "$src" ] && uri=$(awk '/^URIs:/ && $2 ~ /\/debian\/?$/ { print $2; exit }' "$src")
	echo "${uri:-http://deb.debian.org/debian}"
}

# apt-get/apt-cache with the suite's private sources, state and cache only.
apt_suite() {
	local tool=$1 dir=$cache/apt/$suite
	shift
	"$tool" -q -o Dir::Etc::SourceList="$dir/sources.list" \
		-o Dir::Etc::SourceParts="$dir/sources.list.d" \
		-o Dir::Etc::Preferences="$dir/preferences" \
		-o Dir::Etc::PreferencesParts="$dir/preferences.d" \
		-o Dir::State="$dir/state" -o Dir::State::status="$dir/state/status" \
		-o Dir::Cache="$dir/cache" -o APT::Sandbox::User=root "$@"
}

fetch_deb() {
	local pkg=$1 dir=$cache/apt/$suite
	mkdir -p "$dir/sources.list.d" "$dir/preferences.d" "$dir/state/lists/partial" \
		"$dir/cache/archives/partial"
	touch "$dir/state/status" "$dir/preferences"
	echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $(mirror) $suite main" \
		>"$dir/sources.list"
	local stamp=$dir/state/updated memo=$dir/state/deb-${pkg:-latest}
	if [ "${VMTEST_REFRESH:-0}" = 1 ] || [ -z "$(find "$stamp" -mmin -1440 2>/dev/null)" ]; then
		log "$suite: apt-get update"
		apt_suite apt-get update -qq >&2
		touch "$stamp"
		rm -f "$dir"/state/deb-*
	fi
	# What the lists named last time, while they are fresh: apt-cache takes
	# seconds to build its cache, the lists have not changed since.
	if [ -s "$memo" ] && [ -e "$(cat "$memo")" ]; then
		deb=$(cat "$memo")
		return
	fi
	if [ -z "$pkg" ]; then
		# linux-image-amd64 is the metapackage; it depends on the image itself.
		pkg=$(apt_suite apt-cache depends linux-image-amd64 |
			awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }')
		[ -n "$pkg" ] || { log "$suite: no linux-image-amd64 in $(mirror)"; exit 1; }
	fi
	local ver
	ver=$(apt_suite apt-cache show --no-all-versions "$pkg" | awk '/^Version:/ { print $2; exit }')
	[ -n "$ver" ] || { log "$suite: no package $pkg"; exit 1; }
	deb=$(ls "$cache/debs/${pkg}_${ver//:/%3a}_"*.deb 2>/dev/null | head -n1 || true)
	if [ -z "$deb" ]; then
		log "$suite: apt-get download $pkg=$ver"
		(cd "$cache/debs" && apt_suite apt-get download -qq "$pkg=$ver" >&2)
		deb=$(ls "$cache/debs/${pkg}_${ver//:/%3a}_"*.deb | head -n1)
	fi
	echo "$deb" >"$memo"
}

case $spec in
*.deb) deb=$(realpath "$spec") ;;
*:*) suite=${spec%%:*}; fetch_deb "${spec#*:}" ;;
*) suite=$spec; fetch_deb "" ;;
esac

# The package's name is linux-image-RELEASE[-unsigned]; its vmlinuz says the same.
name=$(dpkg-deb -f "$deb" Package)
release=${name#linux-image-}
release=${release%-unsigned}
tree=$cache/kernels/$release
if [ ! -e "$tree/vmlinuz" ]; then
	log "$release: dpkg-deb -x $(basename "$deb")"
	rm -rf "$tree.tmp"
	mkdir -p "$tree.tmp"
	dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tree.tmp" --wildcards './boot/*'
	mv "$tree.tmp"/boot/vmlinuz-* "$tree.tmp/vmlinuz"
	mv "$tree.tmp"/boot/config-* "$tree.tmp/config" 2>/dev/null || true
	rm -rf "$tree.tmp/boot" "$tree"
	mv "$tree.tmp" "$tree"
fi
echo "$release $tree/vmlinuz"
