#!/usr/bin/env bash
# Issue 14's figures, MiniVM against qemu-system-i386 (TCG) with the same files:
#   1. boot time of images/out/linux-cd.iso from the CD (El Torito, ISOLINUX, Linux) to its MINIVM-LINUX-READY marker;
#   2. the guest's `dd` read throughput on the IDE disk (data.raw as primary master, ata_piix) with DMA, and with
#      PIO (the same ISO with `insmod libata.ko dma=0` in its initramfs, built here in a temporary folder); the
#      xfer_mode lines from sysfs show which mode each run used.
# busybox dd prints no rate, so the read is bracketed by /proc/uptime (guest time: under MiniVM's virtual clock,
# time follows executed instructions; 16 MiB / the difference is the figure). Usage: bench/cdrom.sh  (MINIVM="dotnet path/minivm.dll" to measure another build)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
source "$here/minivm-command.sh"
minivm_command "$root" "$tmp"
bash "$root/images/build-iso.sh"
out="$root/images/out"; cache="$root/images/.cache"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"

# The PIO variant of the ISO: libata gets dma=0 where the initramfs loads it. (`libata.dma=0` on the kernel command
# line would not reach it: libata is a module and busybox's insmod, unlike kmod's modprobe, does not read
# /proc/cmdline.) An initramfs from before modules.load took parameters is rebuilt first.
grep -q 'read -r m args' "$cache/cd-initramfs/init" || { bash "$root/images/build-linux.sh" --force; bash "$root/images/build-iso.sh" --force; }
cp -a "$cache/iso" "$tmp/iso"
cp -a "$cache/cd-initramfs" "$tmp/initramfs"
sed -i 's/^libata\.ko$/libata.ko dma=0/' "$tmp/initramfs/etc/modules.load"
grep -q '^libata.ko dma=0$' "$tmp/initramfs/etc/modules.load" || { echo "bench: libata.ko is not in the initramfs's modules.load" >&2; exit 1; }
(cd "$tmp/initramfs" && find . | cpio -o -H newc --quiet | gzip -9) > "$tmp/iso/initrd.img"
genisoimage -quiet -o "$tmp/pio.iso" -V MINIVM_CD -J -R \
    -b isolinux/isolinux.bin -c isolinux/boot.cat -no-emul-boot -boot-load-size 4 -boot-info-table "$tmp/iso"
cp "$out/data.raw" "$tmp/data.raw"

now() { date +%s.%N; }
secs() { echo "$1 $2" | awk '{printf "%.1f", $2 - $1}'; }
tick=$(getconf CLK_TCK)
cpu_of() { awk -v t="$tick" '{printf "%.1f", ($14 + $15) / t}' "/proc/$1/stat"; }

# 1. Boot to the marker: wall time, and each process's CPU time (user + system; the fairer figure on a loaded host).
t0=$(now)
/usr/bin/time -f '%U %S' -o "$tmp/m.time" "${minivm[@]}" run --cdrom "$out/linux-cd.iso" --boot d --serial "file:$tmp/m.txt" \
    --until MINIVM-LINUX-READY --timeout 3600 >/dev/null
minivm_boot=$(secs "$t0" "$(now)")
minivm_cpu=$(awk '{printf "%.1f", $1 + $2}' "$tmp/m.time")
t0=$(now)
qemu-system-i386 -M pc -m 128 -display none -cdrom "$out/linux-cd.iso" -boot d -serial "file:$tmp/q.txt" -monitor none &
qpid=$!
until grep -q MINIVM-LINUX-READY "$tmp/q.txt" 2>/dev/null; do sleep 0.2; done
qemu_boot=$(secs "$t0" "$(now)")
qemu_cpu=$(cpu_of "$qpid")
kill "$qpid"; wait "$qpid" 2>/dev/null || true
echo "ISO boot to marker: minivm ${minivm_boot} s wall / ${minivm_cpu} s CPU, qemu-system-i386 TCG ${qemu_boot} s wall / ${qemu_cpu} s CPU; load average: $(cut -d' ' -f1-3 /proc/loadavg)"

# 2. dd on the IDE disk (16 MiB), DMA then PIO, between two readings of /proc/uptime.
dd_cmd="cat /proc/uptime; dd if=/dev/sda of=/dev/null bs=64k count=256; cat /proc/uptime; grep . /sys/class/ata_device/dev*/xfer_mode; poweroff -f"
for mode in dma pio; do
    iso="$out/linux-cd.iso"; [ $mode = pio ] && iso="$tmp/pio.iso"
    printf 'when "minivm# " sendserial %s\\n\n' "$dd_cmd" > "$tmp/dd.script"
    "${minivm[@]}" run --drive "if=ide,index=0,format=raw,file=$tmp/data.raw" --cdrom "$iso" --boot d --serial "file:$tmp/m-$mode.txt" \
        --monitor-script "$tmp/dd.script" --timeout 3600 >/dev/null
    echo "minivm $mode: $(grep -a -E '^[0-9]+\.[0-9]+ [0-9]+\.[0-9]+|xfer_mode' "$tmp/m-$mode.txt" | tr -d '\r' | tr '\n' ' ')"

    rm -f "$tmp/q.in" "$tmp/q.out"; mkfifo "$tmp/q.in" "$tmp/q.out"
    qemu-system-i386 -M pc -m 128 -display none -drive "if=ide,index=0,format=raw,file=$tmp/data.raw" -cdrom "$iso" -boot d \
        -serial "pipe:$tmp/q" -monitor none -no-reboot &
    qpid=$!
    exec 3>"$tmp/q.in"
    : > "$tmp/q-$mode.txt"
    cat "$tmp/q.out" > "$tmp/q-$mode.txt" &
    until grep -q "minivm# " "$tmp/q-$mode.txt"; do sleep 0.5; done
    sleep 1
    printf '%s\r' "$dd_cmd" >&3
    wait "$qpid" || true
    exec 3>&-
    echo "qemu $mode:   $(grep -a -E '^[0-9]+\.[0-9]+ [0-9]+\.[0-9]+|xfer_mode' "$tmp/q-$mode.txt" | tr -d '\r' | tr '\n' ' ')"
done
