#!/bin/sh
# Installs with apt-get what a fresh Debian 12 machine lacks to build and test
# otel-agent; does nothing when everything is there. Run as root (make deps).
# With --check it installs nothing: it names what is missing and fails
# (make test runs it so).
set -eu

# build: compiler, BPF toolchain, libraries (libseccomp, libcap-ng: the drop after attach;
# yaml, crypt: --web.config.file); test: cmocka, promtool, python3, node, curl, openssl
# (certificates), python3-yaml (the deploy/ rules and configs); format: clang-format
PKGS="make gcc clang llvm pkg-config libbpf-dev libelf-dev zlib1g-dev libmicrohttpd-dev \
libseccomp-dev libcap-ng-dev libyaml-dev libcrypt-dev openssl \
bpftool libcmocka-dev prometheus python3 python3-yaml curl iproute2 clang-format"

check_only=false
[ "${1:-}" = --check ] && check_only=true

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
# any Node.js 18+ will do; Debian's package only when none is installed
command -v node >/dev/null 2>&1 || missing="$missing nodejs"

if [ -z "$missing" ]; then
	$check_only || echo "deps: all installed"
	exit 0
fi
if $check_only; then
	echo "deps: missing:$missing; run 'make deps' (as root) first" >&2
	exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing:$missing; run 'sudo make deps'" >&2
	exit 1
fi
echo "deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
