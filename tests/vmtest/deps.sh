#!/bin/sh
# make vmtest-deps: installs with apt-get what make vmtest needs beyond
# make deps (qemu, a static busybox for the initramfs, cpio and zstd to pack
# it); does nothing when everything is there. Run as root.
set -eu

PKGS="qemu-system-x86 busybox-static cpio zstd"

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
if [ -z "$missing" ]; then
	echo "vmtest-deps: all installed"
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "vmtest-deps: missing:$missing; run 'sudo make vmtest-deps'" >&2
	exit 1
fi
echo "vmtest-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
