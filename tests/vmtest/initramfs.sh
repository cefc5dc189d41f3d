#!/bin/bash
# initramfs.sh AGENT OUT: the initramfs make vmtest boots every kernel with
# (zstd-compressed cpio at OUT). It holds busybox (static), the agent, the
# test servers, the in-VM test (tests/vmtest/vm_check.py and the selftests'
# lib it imports), node, python3 with only the standard modules those import,
# curl and bpftool, each binary with the shared libraries ldd names, and
# tests/vmtest/init as /init. Nothing in it depends on the kernel: no modules
# are needed (the agent's programs, tracefs, bpffs and lo are all built in
# Debian's kernels), so one image serves every kernel of the run.
set -euo pipefail

agent=$(realpath "$1")
out=$(realpath -m "$2")
repo=$(cd "$(dirname "$0")/../.." && pwd)
python=${VMTEST_PYTHON:-/usr/bin/python3}
root=$out.d
cd "$repo"

files=(tests/servers/core.js tests/servers/py_server.py tests/vmtest/vm_check.py
	tests/selftests/__init__.py tests/selftests/lib/*.py tests/vmtest/init tests/vmtest/initramfs.sh)
tools=(/bin/busybox "$(command -v node)" "$(command -v curl)" "$(command -v bpftool)" "$python")

# The image is rebuilt only when what goes in changed: the agent and the
# test files by content, the interpreters and tools by size and date.
key=$( (sha256sum "$agent" "${files[@]}" && stat -L -c '%n %s %Y' "${tools[@]}") | sha256sum)
if [ -e "$out" ] && [ "$(cat "$out.key" 2>/dev/null)" = "$key" ]; then
	echo "vmtest: initramfs up to date ($(basename "$out"))" >&2
	exit 0
fi

rm -rf "$root"
mkdir -p "$root"/{bin,dev,proc,sys,tmp,run,root,etc,usr/bin,usr/sbin,repo/tests}

# A file at the same path inside the image (symlinks resolved to their target's content).
put() {
	mkdir -p "$root$(dirname "$2")"
	cp -L "$1" "$root$2"
}

# A binary and every shared library it loads, at the paths the loader looks.
put_elf() {
	put "$1" "${2:-$1}"
	ldd "$1" | awk '/=> \// { print $3 } /^\t\/[^ ]+ \(/ { print $1 }' | while read -r lib; do
		[ -e "$root$lib" ] || put "$lib" "$lib"
	done
}

put /bin/busybox /bin/busybox
cp "$repo/tests/vmtest/init" "$root/init"
chmod 755 "$root/init"
mknod -m 600 "$root/dev/console" c 5 1
mknod -m 666 "$root/dev/null" c 1 3
echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
echo 'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' >>"$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
printf '127.0.0.1 localhost vmtest\n::1 localhost\n' >"$root/etc/hosts"

put_elf "$agent" /repo/otel-agent
put_elf "$(command -v node)" /usr/bin/node
put_elf "$(command -v curl)" /usr/bin/curl
put_elf "$(command -v bpftool)" /usr/sbin/bpftool
for f in "${files[@]}"; do
	put "$repo/$f" "/repo/$f"
done

# Python: the interpreter, and the standard modules the servers and the test
# import, found by importing them (whole packages, for their lazy imports).
pybin=$(realpath "$python")
put_elf "$pybin" "$pybin"
ln -sf "$(basename "$pybin")" "$root/usr/bin/python3"
"$pybin" -S - "$repo" <<'PY' | while read -r f; do
import os, sys, sysconfig
repo = sys.argv[1]
sys.path[:0] = [os.path.join(repo, "tests", "servers"), os.path.join(repo, "tests", "vmtest")]
import py_server, vm_check  # noqa: F401  (what they import is what the VM needs)
import encodings.idna, encodings.latin_1, encodings.ascii  # noqa: F401
stdlib = sysconfig.get_paths()["stdlib"]
files = set()
for m in list(sys.modules.values()):
    f = getattr(m, "__file__", None)
    if not f or not f.startswith(stdlib + "/"):
        continue
    top = os.path.relpath(f, stdlib).split(os.sep)[0]
    if os.path.isdir(os.path.join(stdlib, top)) and top != "lib-dynload":
        for d, dirs, names in os.walk(os.path.join(stdlib, top)):
            dirs[:] = [x for x in dirs if x not in ("test", "tests", "idle_test")]
            files.update(os.path.join(d, n) for n in names)
    else:
        files.add(f)
        c = getattr(m, "__cached__", None)
        if c and os.path.exists(c):
            files.add(c)
print(os.path.join(stdlib, "os.py"))
print(*sorted(files), sep="\n")
PY
	case $f in
	*.so) put_elf "$f" "$f" ;;
	*) put "$f" "$f" ;;
	esac
done
mkdir -p "$root$("$pybin" -S -c 'import sysconfig; print(sysconfig.get_paths()["platstdlib"])')/lib-dynload"

(cd "$root" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet) |
	zstd -q -T0 -9 -f -o "$out.tmp"
mv "$out.tmp" "$out"
echo "$key" >"$out.key"
rm -rf "$root"
echo "vmtest: initramfs $(du -h "$out" | cut -f1) ($(basename "$out"))" >&2
