#!/usr/bin/env bash
# Issue 15's figure: OpenBSD 5.1's install floppy (../shared/guests/openbsd-5.1-floppy.img) from power-on to the
# installer's question `(I)nstall, (U)pgrade or (S)hell?`, MiniVM against qemu-system-i386 (TCG) on the same image.
# Prints wall time, the process's CPU time (user+system, from /proc/PID/stat) and the load average around each run:
# on a shared machine the CPU time is the fairer figure. QEMU's VGA text page is read through its monitor
# (pmemsave of the 32 KiB text window at 0xB8000) every 0.5 s, so its figures carry up to 0.5 s of polling granularity.
# Usage: bench/openbsd.sh  (MINIVM="dotnet path/minivm.dll" to measure another build)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
source "$here/minivm-command.sh"
minivm_command "$root" "$tmp"
img="$root/../shared/guests/openbsd-5.1-floppy.img"
question='(I)nstall, (U)pgrade or (S)hell?'
tick=$(getconf CLK_TCK)
now() { date +%s.%N; }
cpu_of() { awk -v t="$tick" '{printf "%.1f", ($14 + $15) / t}' "/proc/$1/stat"; }
cp "$img" "$tmp/m.img"; cp "$img" "$tmp/q.img"

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
t0=$(now)
/usr/bin/time -f '%U %S' -o "$tmp/m.time" "${minivm[@]}" run --drive "if=floppy,format=raw,file=$tmp/m.img" --boot a --serial none --display none \
    --until "$question" --timeout 3600 >/dev/null
t1=$(now)
read -r mu ms < "$tmp/m.time"
echo "minivm: $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}') s wall, $(awk -v u="$mu" -v s="$ms" 'BEGIN{printf "%.1f", u+s}') s CPU; load average: $(cut -d' ' -f1-3 /proc/loadavg)"

t0=$(now)
qemu-system-i386 -M pc -m 128 -display none -drive "if=floppy,format=raw,file=$tmp/q.img" -boot a -monitor "unix:$tmp/mon,server,nowait" &
qpid=$!
found=""
for _ in $(seq 1 7200); do
    sleep 0.5
    [ -S "$tmp/mon" ] || continue
    # The file name is quoted: unquoted, HMP would read "32768 /tmp/..." as one expression (a division).
    rm -f "$tmp/vga.bin"
    timeout 10 python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(5)
s.recv(4096)
s.sendall(("pmemsave 0xb8000 32768 \"%s\"\n" % sys.argv[2]).encode())
buf = b""
while not buf.endswith(b"(qemu) "): buf += s.recv(4096)
s.close()' "$tmp/mon" "$tmp/vga.bin" || continue
    if [ -s "$tmp/vga.bin" ] && python3 -c 'import sys; d=open(sys.argv[1],"rb").read(); sys.exit(0 if sys.argv[2].encode() in d[0::2] else 1)' "$tmp/vga.bin" "$question"; then
        found=yes; break
    fi
done
t1=$(now)
qcpu=$(cpu_of "$qpid")
kill "$qpid"; wait "$qpid" 2>/dev/null || true
[ -n "$found" ] || { echo "qemu: the question never appeared" >&2; exit 1; }
echo "qemu-system-i386 TCG: $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}') s wall, $qcpu s CPU; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
