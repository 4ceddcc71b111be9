#!/usr/bin/env bash
# Issue 5's figures for the Linux guest and its iROW data disk: `minivm img map` and `img info` of data.irow
# before and after a guest workload, the guest's own dd throughput on the virtio disk, and the wall time to the
# MINIVM-LINUX-READY marker, side by side with qemu-system-i386 (TCG) booting the same disks. QEMU cannot read
# iROW, so it gets `minivm img convert -O raw` copies of linux.irow and data.irow (virtio-blk, raw format).
#
# The workload is typed on the serial console (minivm --serial stdio; QEMU -serial stdio) at the shell prompt:
#   dd if=/dev/zero of=/mnt/data/f bs=64k count=64 conv=fsync       (4 MiB through vfat, fsync'ed)
#   five small files s1..s5.txt, sync
#   echo 3 > /proc/sys/vm/drop_caches, then dd if=/dev/vdb of=/dev/null bs=64k count=256   (the whole 16 MiB disk)
#   poweroff -f
# dd reports in the guest's clock: MiniVM runs with "clock": "virtual" (vm.json), so its figures are virtual
# time; the host-side wall time of each command (typed → next prompt) is printed beside it, and so is the
# emulator process's CPU time (user + system, from /proc), which a busy shared machine does not inflate as it
# does wall time.
#
# Usage: bench/linux-data-disk.sh [RESULTS-FILE]   (default: print to stdout only)
# Needs: images/build-linux.sh outputs, python3, qemu-system-i386 (apt-get install qemu-system-x86), mtools.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
bash "$root/images/build-linux.sh"
command -v qemu-system-i386 >/dev/null || { echo "bench: qemu-system-i386 is missing (apt-get install qemu-system-x86)" >&2; exit 1; }

work="$(mktemp -d /tmp/minivm-linux-data.XXXXXX)"
trap 'rm -rf "$work"' EXIT
source "$here/minivm-command.sh"
minivm_command "$root" "$work"
cp "$root"/images/out/linux.irow* "$work/"
cd "$work"
# data.irow made afresh the way build-linux.sh makes it (a cp would turn its zero blocks into holes and so change
# what img map reports: iROW's map lists the irvd file's data extents inside allocated clusters).
"${minivm[@]}" img convert -O irow "$root/images/out/data.raw" data.irow

# One guest session on the serial console: prints the wall time to the marker, then each command with its output
# and wall time, then the exit status. $1 = label, rest = the emulator's command line.
session() {
    python3 - "$@" <<'PY'
import subprocess, sys, time, threading, os, re
label, cmd = sys.argv[1], sys.argv[2:]
# Debian's busybox dd prints no rate line, so each dd is bracketed by the guest's /proc/uptime (10 ms ticks).
timed = "a=$(cat /proc/uptime); {}; b=$(cat /proc/uptime); echo guest-seconds ${{a%% *}} ${{b%% *}}"
workload = [
    (timed.format("dd if=/dev/zero of=/mnt/data/f bs=64k count=64 conv=fsync"), 4 << 20),
    ("for i in 1 2 3 4 5; do echo small-file-$i > /mnt/data/s$i.txt; done; sync; ls -l /mnt/data", 0),
    ("echo 3 > /proc/sys/vm/drop_caches", 0),
    (timed.format("dd if=/dev/vdb of=/dev/null bs=64k count=256"), 16 << 20),
]
t0 = time.monotonic()
p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
out = bytearray(); lock = threading.Lock()
def pump():
    while True:
        c = p.stdout.read1(4096)
        if not c: return
        with lock: out.extend(c)
threading.Thread(target=pump, daemon=True).start()
def wait_for(text, start, limit=2400):
    while True:
        with lock:
            i = out.find(text, start)
            if i >= 0: return i
        if p.poll() is not None or time.monotonic() - t0 > limit:
            sys.exit(f"{label}: {text!r} did not appear; output ends with {bytes(out[-800:])!r}")
        time.sleep(0.05)
def cpu_seconds():   # the emulator's own user+system CPU time, all threads (/proc/PID/stat fields 14 and 15)
    with open(f"/proc/{p.pid}/stat") as f: fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
marker = wait_for(b"MINIVM-LINUX-READY", 0)
t_marker, cpu_marker = time.monotonic() - t0, cpu_seconds()
pos = wait_for(b"minivm# ", marker) + 8
print(f"[{label}] to MINIVM-LINUX-READY: wall {t_marker:.1f} s, emulator CPU time {cpu_marker:.1f} s")
for line, nbytes in workload:
    t, c = time.monotonic(), cpu_seconds()
    p.stdin.write(line.encode() + b"\n"); p.stdin.flush()
    end = wait_for(b"minivm# ", pos)
    took, cpu = time.monotonic() - t, cpu_seconds() - c
    with lock: text = bytes(out[pos:end]).decode(errors="replace")
    # The shell echoes the typed line, wrapped at 80 columns: drop the echo, keep what the command printed.
    body = [l.strip() for l in text.replace("\r", "").split("\n")[1:] if l.strip() and l.strip() not in line]
    print(f"[{label}] $ {line}    (wall {took:.1f} s, emulator CPU {cpu:.1f} s)")
    for l in body:
        print(f"[{label}]   {l}")
        m = re.fullmatch(r"guest-seconds ([0-9.]+) ([0-9.]+)", l)
        if m and nbytes:
            secs = float(m.group(2)) - float(m.group(1))
            rate = f"{nbytes / secs / 1e6:.1f} MB/s" if secs > 0 else "under one 10 ms tick"
            print(f"[{label}]   => {nbytes >> 20} MiB in {secs:.2f} s of guest time: {rate}; "
                  f"host wall {nbytes / took / 1e6:.1f} MB/s over the whole command")
    pos = end + 8
p.stdin.write(b"poweroff -f\n"); p.stdin.flush()
# The kernel boots with ACPI, so poweroff ends both emulators (MiniVM exits 0, QEMU too); a hang is killed.
try: p.wait(timeout=120)
except subprocess.TimeoutExpired: p.kill(); p.wait()
print(f"[{label}] total wall time {time.monotonic() - t0:.1f} s; exit {p.returncode}; {p.stderr.read().decode().strip()}")
PY
}

echo "== $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== minivm img info data.irow (before)"; "${minivm[@]}" img info data.irow | grep -E 'virtual size|disk size'
echo "== minivm img map data.irow (before)"; "${minivm[@]}" img map data.irow | sed "s|$work/||"
du -k --apparent-size data.irow* | sed 's/^/   apparent KiB: /'
"${minivm[@]}" img convert -O raw linux.irow linux.raw
"${minivm[@]}" img convert -O raw data.irow data.raw   # QEMU's data disk: the same bytes the guest starts from

echo "== MiniVM: minivm run (vm.json's VM: virtio-blk modern, iROW boot + data disks, 128 MiB, clock virtual)"
session minivm "${minivm[@]}" run --config "$root/vm.json" \
    --drive if=virtio,index=0,file=linux.irow,format=irow --drive if=virtio,index=1,file=data.irow,format=irow \
    --serial stdio --display none --clock virtual --timeout 3000
echo "== minivm img info data.irow (after)"; "${minivm[@]}" img info data.irow | grep -E 'virtual size|disk size'
echo "== minivm img map data.irow (after)"; "${minivm[@]}" img map data.irow | sed "s|$work/||"
du -k --apparent-size data.irow* | sed 's/^/   apparent KiB: /'
echo "== minivm img check data.irow"; "${minivm[@]}" img check data.irow
"${minivm[@]}" img convert -O raw data.irow after.raw
echo "== host reads the guest's files (img convert -O raw + mtools)"
MTOOLS_SKIP_CHECK=1 mdir -i after.raw :: | sed 's/^/   /'
MTOOLS_SKIP_CHECK=1 mtype -i after.raw ::s3.txt | sed 's/^/   s3.txt: /'

echo "== QEMU: $(qemu-system-i386 --version | head -n1), -accel tcg, the raw conversions of the same images"
session qemu qemu-system-i386 -accel tcg -m 128 -display none -monitor none -serial stdio -no-reboot \
    -drive file=linux.raw,format=raw,if=virtio -drive file=data.raw,format=raw,if=virtio
