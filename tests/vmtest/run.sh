#!/bin/bash
# run.sh AGENT [KERNEL...]: make vmtest. Boots each kernel (a Debian suite, an
# alias, SUITE:PACKAGE or a .deb: see kernel.sh) in qemu with the initramfs of
# initramfs.sh and runs tests/vmtest/vm_check.py in it; one VM at a time.
#
# Prints one line per kernel,
#   vmtest 6.1.0-50-amd64: PASS 62/62 requests exact, current programs (83 s)
#   vmtest 5.10.0-32-amd64: FAIL agent exited 1: otel-agent: error: ...
# then "N passed, M failed", and exits 1 if any kernel failed. The serial
# console of each VM is kept in .output/vmtest/logs/RELEASE.log.
#
# Environment: VMTEST_TIMEOUT (seconds per VM, default 400: qemu is killed
# and the kernel fails), VMTEST_REFRESH=1 (refresh the package lists),
# VMTEST_PYTHON (the python3 copied into the image, default /usr/bin/python3).
set -uo pipefail

agent=$1
shift
kernels=("$@")
[ ${#kernels[@]} -gt 0 ] || kernels=(bullseye bookworm bookworm-backports)
here=$(cd "$(dirname "$0")" && pwd)
cache=$here/../../.output/vmtest
timeout_s=${VMTEST_TIMEOUT:-400}
mkdir -p "$cache/logs"
cache=$(realpath "$cache")

for tool in qemu-system-x86_64 busybox zstd cpio apt-get dpkg-deb; do
	command -v "$tool" >/dev/null ||
		{ echo "vmtest: $tool missing; run 'make vmtest-deps' (as root)" >&2; exit 2; }
done
[ "$(id -u)" -eq 0 ] || { echo "vmtest: run as root (the image holds device nodes)" >&2; exit 2; }

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", b - a }'; }

t0=$(now)
bash "$here/initramfs.sh" "$agent" "$cache/initramfs.cpio.zst" || exit 1
echo "vmtest: initramfs ready in $(secs "$t0" "$(now)") s" >&2

passed=0
failed=0
for spec in "${kernels[@]}"; do
	t0=$(now)
	if ! got=$(bash "$here/kernel.sh" "$spec" "$cache"); then
		echo "vmtest $spec: FAIL cannot fetch the kernel"
		failed=$((failed + 1))
		continue
	fi
	read -r release vmlinuz <<<"$got"
	echo "vmtest: $release ready in $(secs "$t0" "$(now)") s" >&2

	log=$cache/logs/$release.log
	t0=$(now)
	timeout -k 10 "$timeout_s" qemu-system-x86_64 -accel tcg,thread=multi -cpu max \
		-machine q35 -smp 2 -m 2G -nographic -no-reboot -kernel "$vmlinuz" \
		-initrd "$cache/initramfs.cpio.zst" -append 'console=ttyS0 panic=-1' \
		</dev/null >"$log" 2>&1
	rc=$?
	took=$(secs "$t0" "$(now)")
	result=$(tr -d '\r' <"$log" | sed -n 's/^VMTEST-RESULT //p' | tail -n1)
	if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
		result="FAIL timeout: qemu killed after ${timeout_s} s"
	elif [ -z "$result" ]; then
		last=$(tr -d '\r' <"$log" | grep -v '^\s*$' | tail -n1)
		result="FAIL no result line (qemu exit $rc): ${last:0:160}"
	fi
	echo "vmtest $release: $result ($took s)"
	case $result in
	PASS*) passed=$((passed + 1)) ;;
	*) failed=$((failed + 1)) ;;
	esac
done
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
