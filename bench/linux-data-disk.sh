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
# MiniVM runs once per CPU engine (`--set machine.cpu-engine=jit`, then `=interpreter`; only the interpreter, with no
# --set, when the build does not know the key), each on fresh copies of the disks; a table of the wall times to the
# marker closes the output.
# Usage: bench/linux-data-disk.sh   (MINIVM=... to measure another build)
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
cd "$work"
# Which CPU engines this MiniVM has (`--set machine.cpu-engine=jit|interpreter`): a MiniVM that does not know the key
# refuses it (exit 78, naming the key) and has only the interpreter, which then runs with no --set and the jit row says n/a.
engines=(interpreter); engine_set=0
probe=$("${minivm[@]}" run --config "$root/vm.json" --set machine.cpu-engine=jit --boot a \
    --fda "$root/../shared/guests/bootos.img" --serial none --timeout 0.5 2>&1 || true)
grep -q "cpu-engine" <<<"$probe" || { engines=(jit interpreter); engine_set=1; }

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

# One MiniVM run with ENGINE on fresh copies of the disks in its own folder: data.irow made afresh the way
# build-linux.sh makes it (a cp would turn its zero blocks into holes and so change what img map reports: iROW's map
# lists the irvd file's data extents inside allocated clusters).
minivm_session() {
    local engine=$1 set=()
    [ $engine_set = 1 ] && set=(--set "machine.cpu-engine=$engine")
    mkdir -p "$work/$engine" && cd "$work/$engine"
    cp "$root"/images/out/linux.irow* .
    "${minivm[@]}" img convert -O irow "$root/images/out/data.raw" data.irow
    echo "== minivm img info data.irow (before)"; "${minivm[@]}" img info data.irow | grep -E 'virtual size|disk size'
    echo "== minivm img map data.irow (before)"; "${minivm[@]}" img map data.irow | sed "s|$work/$engine/||"
    du -k --apparent-size data.irow* | sed 's/^/   apparent KiB: /'
    echo "== MiniVM, cpu-engine $engine: minivm run (vm.json's VM: virtio-blk modern, iROW boot + data disks, 128 MiB, clock virtual)"
    session "minivm-$engine" "${minivm[@]}" run --config "$root/vm.json" "${set[@]}" \
        --drive if=virtio,index=0,file=linux.irow,format=irow --drive if=virtio,index=1,file=data.irow,format=irow \
        --serial stdio --display none --clock virtual --timeout 3000
    echo "== minivm img info data.irow (after)"; "${minivm[@]}" img info data.irow | grep -E 'virtual size|disk size'
    echo "== minivm img map data.irow (after)"; "${minivm[@]}" img map data.irow | sed "s|$work/$engine/||"
    du -k --apparent-size data.irow* | sed 's/^/   apparent KiB: /'
    echo "== minivm img check data.irow"; "${minivm[@]}" img check data.irow
    "${minivm[@]}" img convert -O raw data.irow after.raw
    echo "== host reads the guest's files (img convert -O raw + mtools)"
    MTOOLS_SKIP_CHECK=1 mdir -i after.raw :: | sed 's/^/   /'
    MTOOLS_SKIP_CHECK=1 mtype -i after.raw ::s3.txt | sed 's/^/   s3.txt: /'
    cd "$work"
}

echo "== $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); engines: ${engines[*]}"
{
for engine in "${engines[@]}"; do minivm_session "$engine"; done

# QEMU's disks: the same bytes the MiniVM guests start from.
"${minivm[@]}" img convert -O raw "$root/images/out/linux.irow" linux.raw
"${minivm[@]}" img convert -O raw "$root/images/out/data.raw" data.raw
echo "== QEMU: $(qemu-system-i386 --version | head -n1), -accel tcg, the raw conversions of the same images"
session qemu qemu-system-i386 -accel tcg -m 128 -display none -monitor none -serial stdio -no-reboot \
    -drive file=linux.raw,format=raw,if=virtio -drive file=data.raw,format=raw,if=virtio
} | tee "$work/session.txt"

# One table: wall time to the marker per emulator (the lines each session printed above).
marker_wall() { sed -n "s/^\[$1\] to MINIVM-LINUX-READY: wall \([0-9.]*\) s, emulator CPU time \([0-9.]*\) s.*/\1 \2/p" "$work/session.txt"; }
read -r qw qc < <(marker_wall qemu) || true
echo "== wall time to MINIVM-LINUX-READY (emulator CPU time), load average $(cut -d' ' -f1-3 /proc/loadavg) at end"
for engine in jit interpreter; do
    if read -r w c < <(marker_wall "minivm-$engine"); then
        printf '   minivm %-12s %7.1f s (%6.1f s CPU)   %5.1f x QEMU TCG\n' "$engine" "$w" "$c" "$(echo "scale=2; $w / ${qw:-0}" | bc 2>/dev/null || echo 0)"
    else printf '   minivm %-12s     n/a (machine.cpu-engine unknown to this build)\n' "$engine"; fi
done
printf '   qemu TCG            %7.1f s (%6.1f s CPU)\n' "${qw:-0}" "${qc:-0}"
