#!/usr/bin/env bash
# Builds the default Linux guest from Debian packages only (issue 5):
#   out/linux.raw   64 MiB disk: MBR (SYSLINUX mbr.bin) + one FAT16 partition at 1 MiB holding SYSLINUX,
#                   the i386 kernel linux-image-*-686 and an initramfs with busybox-static (i386) and the modules
#                   for ata_piix, virtio_pci, virtio_blk, vfat and ext4
#   out/linux.irow  the same disk converted with `minivm img convert -O irow`
#   out/data.irow   a 16 MiB FAT disk labelled MINIDATA that the guest mounts on /mnt/data
# The guest prints "MINIVM-LINUX-READY <kernel version>" on the serial port and the screen, then gives a shell on
# both. The kernel uses ACPI (SeaBIOS's tables for the PIIX4 PM function), so `poweroff` ends `minivm run` with
# exit 0; see syslinux.cfg below for the whole command line and why.
# Re-running is cheap: downloads are cached in .cache/, outputs are rebuilt only when missing (--force rebuilds).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
out="$here/out"; cache="$here/.cache"
force=0; [ "${1:-}" = "--force" ] && force=1
if [ $force = 0 ] && [ -s "$out/linux.irow" ] && [ -s "$out/data.irow" ]; then exit 0; fi
mkdir -p "$out" "$cache"

# Host tools, from Debian's archive.
need=()
for t in cpio:cpio mcopy:mtools syslinux:syslinux sfdisk:fdisk mkfs.fat:dosfstools; do
    command -v "${t%%:*}" >/dev/null || need+=("${t#*:}")
done
[ -e /usr/lib/syslinux/mbr/mbr.bin ] || need+=(syslinux-common)
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then echo "images: missing ${need[*]} (sudo apt-get install ${need[*]})" >&2; exit 1; fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# i386 packages without changing the host's dpkg architectures: a private apt state folder.
apt_i386=(-oAPT::Architecture=i386 -oAPT::Architectures=i386 -oDir::State::Lists="$cache/lists" -oDir::Cache="$cache/apt")
mkdir -p "$cache/lists/partial" "$cache/apt/archives/partial"
cd "$cache"
if ! ls linux-image-*-686*.deb >/dev/null 2>&1 || ! ls busybox-static_*.deb >/dev/null 2>&1; then
    apt-get "${apt_i386[@]}" update -qq >/dev/null 2>&1 || true
    kpkg="$(apt-cache "${apt_i386[@]}" depends linux-image-686 | awk '/Depends: linux-image-/ {print $2; exit}')"
    [ -n "$kpkg" ] || { echo "images: cannot resolve linux-image-686 for i386" >&2; exit 1; }
    # The -unsigned flavour has the same kernel without the signing template indirection.
    apt-get "${apt_i386[@]}" download "${kpkg}-unsigned" busybox-static >/dev/null 2>&1 \
        || apt-get "${apt_i386[@]}" download "$kpkg" busybox-static >/dev/null
fi
rm -rf kernel busybox && mkdir kernel busybox
dpkg-deb -x "$(ls linux-image-*-686*.deb | head -n1)" kernel
dpkg-deb -x "$(ls busybox-static_*.deb | head -n1)" busybox
kver="$(ls kernel/lib/modules | head -n1)"
moddir="kernel/lib/modules/$kver"

# initramfs: busybox, the modules in dependency order, /init.
rm -rf initramfs && mkdir -p initramfs/{bin,dev,proc,sys,mnt/data,etc,lib/modules,tmp}
cp busybox/bin/busybox initramfs/bin/busybox
source "$here/initramfs-modules.sh"
initramfs_add_modules initramfs "$moddir" ata_piix sd_mod virtio_pci virtio_blk vfat nls_cp437 nls_ascii nls_iso8859-1 ext4 crc32c_generic

cat > initramfs/init <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
while read -r m args; do insmod "/lib/modules/$m" $args 2>/dev/null; done < /etc/modules.load
mdev -s 2>/dev/null
sleep 1
data="$(findfs LABEL=MINIDATA 2>/dev/null || true)"
if [ -n "$data" ] && mount -t vfat "$data" /mnt/data; then echo "data disk $data mounted on /mnt/data"; fi
marker="MINIVM-LINUX-READY $(uname -r)"
echo "$marker" > /dev/ttyS0
echo "$marker" > /dev/tty0
cat > /etc/inittab <<TAB
ttyS0::respawn:-/bin/sh
tty1::respawn:-/bin/sh
::ctrlaltdel:/bin/reboot -f
TAB
export PS1='minivm# '
exec /bin/init
INIT
chmod +x initramfs/init
(cd initramfs && find . | cpio -o -H newc --quiet | gzip -9) > initrd.img

# The boot partition: FAT16 with hidden sectors = its LBA so SYSLINUX finds itself, then the disk around it.
part_mib=63
rm -f part.img
mkfs.fat -F 16 -n MINIVM -h 2048 -C part.img $((part_mib * 1024)) >/dev/null
syslinux --install part.img
cat > syslinux.cfg <<CFG
SERIAL 0 115200
DEFAULT linux
PROMPT 0
TIMEOUT 0
LABEL linux
  KERNEL vmlinuz
  INITRD initrd.img
  # ACPI stays on: the PIIX4 PM function gives SCI, PM timer and S5, so poweroff powers the machine off.
  # The machine has a local APIC and an I/O APIC (docs/apic.md): Linux routes IRQs through the I/O APIC and uses
  # the local APIC timer as its clock event device; 'noapic' still works (8259 through LINT0).
  # console=tty0 and console=ttyS0: messages and a shell on the screen and the serial port; ttyS0 last so that
  # /dev/console (the kernel's messages) is the serial port. panic=-1 reboots at once on a panic instead of
  # hanging; loglevel=4 keeps the serial console to warnings, so the boot is not slowed by printing.
  APPEND console=tty0 console=ttyS0,115200 panic=-1 loglevel=4
CFG
mcopy -i part.img "kernel/boot/vmlinuz-$kver" ::vmlinuz
mcopy -i part.img initrd.img ::initrd.img
mcopy -i part.img syslinux.cfg ::syslinux.cfg
rm -f "$out/linux.raw"
truncate -s $(((part_mib + 1) * 1024 * 1024)) "$out/linux.raw"
echo 'start=2048, type=6, bootable' | sfdisk -q "$out/linux.raw"
dd if=/usr/lib/syslinux/mbr/mbr.bin of="$out/linux.raw" bs=440 count=1 conv=notrunc status=none
dd if=part.img of="$out/linux.raw" bs=1M seek=1 conv=notrunc status=none

rm -f "$out/data.raw"
mkfs.fat -F 16 -n MINIDATA -C "$out/data.raw" $((16 * 1024)) >/dev/null

# Convert both to iROW with MiniVM's own converter.
minivm="$root/src/MiniVM.Cli/bin/Release/net10.0/minivm"
[ -x "$minivm" ] || dotnet build "$root/src/MiniVM.Cli" -c Release --nologo -v q >/dev/null
rm -f "$out"/linux.irow* "$out"/data.irow*
"$minivm" img convert -O irow "$out/linux.raw" "$out/linux.irow"
"$minivm" img convert -O irow "$out/data.raw" "$out/data.irow"
echo "images: built $out/linux.irow (kernel $kver) and $out/data.irow"
