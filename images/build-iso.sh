#!/usr/bin/env bash
# Builds the CD-ROM guests of issue 14 from Debian packages only (isolinux, syslinux-common, genisoimage), with the
# kernel and initramfs of build-linux.sh:
#   out/linux-cd.iso   an ISOLINUX El Torito ISO: the same i386 kernel and busybox initramfs as linux.irow, plus the
#                      modules sr_mod, cdrom and isofs; and MINIVM-CD.TXT, whose content the boot test reads back
#                      from /dev/sr0
#   out/linux-cd.irow  the same ISO converted with `minivm img convert -O irow` (a CD medium in any format)
#   out/second-cd.iso  a plain data ISO holding SECOND-CD.TXT, the medium the test changes to while Linux runs
# The GRUB rescue CD comes ready-made from Debian's grub-rescue-pc (/usr/lib/grub-rescue/grub-rescue-cdrom.iso).
# Outputs are rebuilt only when missing (--force rebuilds).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
out="$here/out"; cache="$here/.cache"
force=0; [ "${1:-}" = "--force" ] && force=1
if [ $force = 0 ] && [ -s "$out/linux-cd.iso" ] && [ -s "$out/linux-cd.irow" ] && [ -s "$out/second-cd.iso" ]; then exit 0; fi

need=()
command -v genisoimage >/dev/null || need+=(genisoimage)
[ -e /usr/lib/ISOLINUX/isolinux.bin ] || need+=(isolinux)
[ -e /usr/lib/syslinux/modules/bios/ldlinux.c32 ] || need+=(syslinux-common)
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then echo "images: missing ${need[*]} (sudo apt-get install ${need[*]})" >&2; exit 1; fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# The kernel and initramfs tree of the disk guest (build-linux.sh keeps them in .cache/).
if [ ! -d "$cache/initramfs" ] || ! ls "$cache"/kernel/boot/vmlinuz-* >/dev/null 2>&1; then
    bash "$here/build-linux.sh" --force
fi
cd "$cache"
kver="$(ls kernel/lib/modules | head -n1)"
moddir="kernel/lib/modules/$kver"

rm -rf cd-initramfs && cp -a initramfs cd-initramfs
source "$here/initramfs-modules.sh"
initramfs_add_modules cd-initramfs "$moddir" cdrom sr_mod isofs
mkdir -p cd-initramfs/mnt/cd
(cd cd-initramfs && find . | cpio -o -H newc --quiet | gzip -9) > cd-initrd.img

rm -rf iso && mkdir -p iso/isolinux
cp /usr/lib/ISOLINUX/isolinux.bin /usr/lib/syslinux/modules/bios/ldlinux.c32 iso/isolinux/
cp "kernel/boot/vmlinuz-$kver" iso/vmlinuz
cp cd-initrd.img iso/initrd.img
# The same kernel command line as the disk guest (build-linux.sh explains each word).
cat > iso/isolinux/isolinux.cfg <<CFG
SERIAL 0 115200
DEFAULT linux
PROMPT 0
TIMEOUT 0
LABEL linux
  KERNEL /vmlinuz
  INITRD /initrd.img
  APPEND console=tty0 console=ttyS0,115200 panic=-1 loglevel=4
CFG
echo "MINIVM-CD-FILE first medium, written by images/build-iso.sh" > iso/MINIVM-CD.TXT
mkdir -p "$out"
genisoimage -quiet -o "$out/linux-cd.iso" -V MINIVM_CD -J -R \
    -b isolinux/isolinux.bin -c isolinux/boot.cat -no-emul-boot -boot-load-size 4 -boot-info-table iso

rm -rf iso2 && mkdir iso2
echo "MINIVM-SECOND-CD-FILE the medium changed while Linux ran" > iso2/SECOND-CD.TXT
genisoimage -quiet -o "$out/second-cd.iso" -V MINIVM_CD2 -J -R iso2

minivm="$root/src/MiniVM.Cli/bin/Release/net10.0/minivm"
[ -x "$minivm" ] || dotnet build "$root/src/MiniVM.Cli" -c Release --nologo -v q >/dev/null
rm -f "$out"/linux-cd.irow*
"$minivm" img convert -O irow "$out/linux-cd.iso" "$out/linux-cd.irow"
echo "images: built $out/linux-cd.iso, $out/linux-cd.irow (kernel $kver) and $out/second-cd.iso"
