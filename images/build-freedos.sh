#!/usr/bin/env bash
# Builds images/out/freedos.irow: the FreeDOS 32 MiB hard disk from ../shared/guests converted to iROW with
# MiniVM's own converter. Re-running keeps an existing image (and its snapshots) unless --force is given.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
out="$here/out"
src="$root/../shared/guests/freedos-hdd-32m.img.gz"
[ "${1:-}" = "--force" ] && rm -f "$out"/freedos.irow*
[ -s "$out/freedos.irow" ] && exit 0
[ -s "$src" ] || { echo "images: $src not found (../shared must sit beside the repository)" >&2; exit 1; }
mkdir -p "$out"
minivm="$root/src/MiniVM.Cli/bin/Release/net10.0/minivm"
[ -x "$minivm" ] || dotnet build "$root/src/MiniVM.Cli" -c Release --nologo -v q >/dev/null
gunzip -c "$src" > "$out/freedos.raw"
"$minivm" img convert -O irow "$out/freedos.raw" "$out/freedos.irow"
rm -f "$out/freedos.raw"
echo "images: built $out/freedos.irow"
