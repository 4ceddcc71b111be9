#!/usr/bin/env bash
# Obtains SeaBIOS and SeaVGABIOS from Debian's `seabios` package without root and without installing it:
# `apt-get download` + `dpkg-deb -x`. Writes bios.bin, bios-256k.bin and vgabios-stdvga.bin next to this script.
# If the package is already installed (/usr/share/seabios), its files are copied instead.
# Exit codes: 0 ok, 1 the package could not be obtained (the message says why).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
want=(bios.bin bios-256k.bin vgabios-stdvga.bin)

have_all() { for f in "${want[@]}"; do [ -s "$here/$f" ] || return 1; done; }
if have_all; then exit 0; fi

src=""
if [ -s /usr/share/seabios/bios.bin ] && [ -s /usr/share/seabios/vgabios-stdvga.bin ]; then
    src=/usr/share/seabios
else
    cache="$here/.cache"
    mkdir -p "$cache"
    cd "$cache"
    if ! ls seabios_*.deb >/dev/null 2>&1; then
        if ! apt-get download seabios >download.log 2>&1; then
            # A fresh machine may not have package lists yet; refreshing them needs root.
            if [ "$(id -u)" = 0 ] && apt-get update >>download.log 2>&1 && apt-get download seabios >>download.log 2>&1; then
                :
            else
                echo "firmware: could not download Debian's seabios package (see $cache/download.log; as root run 'apt-get update' first)" >&2
                exit 1
            fi
        fi
    fi
    rm -rf extract && mkdir extract
    dpkg-deb -x seabios_*.deb extract
    src="$cache/extract/usr/share/seabios"
fi
for f in "${want[@]}"; do
    if [ ! -s "$src/$f" ]; then echo "firmware: $f is missing from the seabios package ($src)" >&2; exit 1; fi
    cp "$src/$f" "$here/$f"
done
echo "firmware: SeaBIOS and SeaVGABIOS are in $here"
