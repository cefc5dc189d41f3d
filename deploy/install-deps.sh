#!/bin/sh
# Installs with apt-get what a fresh Debian 12 machine lacks to build and test
# otel-agent; does nothing when everything is there. Run as root (make deps).
# With --check it installs nothing: it names what is missing and fails
# (make test runs it so).
set -eu

# build: compiler, BPF toolchain, libraries (libseccomp, libcap-ng: the drop after attach;
# yaml, crypt: --web.config.file); test: cmocka, promtool, python3, node, curl, openssl
# (certificates), python3-yaml (the deploy/ rules and configs); format: clang-format;
# install: help2man (the man page); deploy checks: systemd (systemd-analyze), strace (the
# unit's syscall filter), npm (below); otel-agent top: ncurses, and tmux for its test
PKGS="make gcc clang llvm pkg-config libbpf-dev libelf-dev zlib1g-dev libmicrohttpd-dev \
libseccomp-dev libcap-ng-dev libyaml-dev libcrypt-dev libncurses-dev openssl \
bpftool libcmocka-dev prometheus python3 python3-yaml curl iproute2 clang-format help2man \
systemd strace tmux"

# npm projects installed with `npm ci` from their committed lock files:
# the Kubernetes manifest check (the API schemas, ajv)
NPM_DIRS="$(dirname "$0")/kubernetes/test"

check_only=false
[ "${1:-}" = --check ] && check_only=true

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
# any Node.js 18+ will do; Debian's package only when none is installed
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
command -v npm >/dev/null 2>&1 || missing="$missing npm"

# an npm project is installed when npm ci has run since its lock file changed
npm_missing=""
for d in $NPM_DIRS; do
	[ "$d/node_modules/.package-lock.json" -nt "$d/package-lock.json" ] ||
		npm_missing="$npm_missing $d"
done

if [ -z "$missing" ] && [ -z "$npm_missing" ]; then
	$check_only || echo "deps: all installed"
	exit 0
fi
if $check_only; then
	echo "deps: missing:$missing${npm_missing:+ npm packages of$npm_missing}; run 'make deps' (as root) first" >&2
	exit 1
fi
if [ -n "$missing" ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "deps: missing:$missing; run 'sudo make deps'" >&2
		exit 1
	fi
	echo "deps: installing$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing
fi
for d in $npm_missing; do
	echo "deps: npm ci in $d"
	npm ci --prefix "$d" --no-audit --no-fund --loglevel=error
	# npm ci keeps the lock file's time: mark the install newer than it
	touch "$d/node_modules/.package-lock.json"
done
