#!/usr/bin/env bash
# The test command of README.md (and of CI): installs what the tests need from Debian's archive when it is
# missing (as root), fetches the firmware, then runs every test project. Extra arguments go to `dotnet test`
# (e.g. `tests/run.sh --filter Category!=Boot`).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

need=()
command -v qemu-img >/dev/null || need+=(qemu-utils)
command -v mcopy >/dev/null || need+=(mtools)
# The syscall crash harness (tests/MiniVM.Cli.Tests/SyscallKill.cs) kills children with strace -e inject.
command -v strace >/dev/null || need+=(strace)
# The SDL window test (tests/MiniVM.Display.Sdl.Tests) runs minivm on Xvfb, types with xdotool, captures with import.
command -v Xvfb >/dev/null || need+=(xvfb)
command -v xdotool >/dev/null || need+=(xdotool)
command -v import >/dev/null || need+=(imagemagick)
dpkg -s libsdl2-2.0-0 >/dev/null 2>&1 || need+=(libsdl2-2.0-0)
# The CD-ROM boots (issue 14): images/build-iso.sh's ISOLINUX ISO.
command -v genisoimage >/dev/null || need+=(genisoimage)
[ -e /usr/lib/ISOLINUX/isolinux.bin ] || need+=(isolinux)
# The GRUB rescue CD boot (CdromBootTests): Debian's grub-rescue-pc ships the ISO.
[ -e /usr/lib/grub-rescue/grub-rescue-cdrom.iso ] || need+=(grub-rescue-pc)
# MonitorQemuComparisonTests compares the monitor's dumps with qemu-system-i386's for the same boot sector.
command -v qemu-system-i386 >/dev/null || need+=(qemu-system-x86)
# Pictures (src/MiniVM.Drawing) draw text in DejaVu Sans; the explorer page test runs headless chromium.
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)
command -v chromium >/dev/null || need+=(chromium)
# The terminal display test runs minivm in a tmux pane.
command -v tmux >/dev/null || need+=(tmux)
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >/dev/null
        apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    else
        echo "tests: missing ${need[*]}; install them with: sudo apt-get install ${need[*]}" >&2
        exit 1
    fi
fi
firmware/fetch-seabios.sh

flags=()
[ -n "${MINIVM_BUILD_FLAGS:-}" ] && flags+=(${MINIVM_BUILD_FLAGS})
dotnet build MiniVM.sln -c Release --nologo -v q "${flags[@]}"

# One summary line over all test projects, in the plain "N passed, N failed" form.
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
set +e
dotnet test MiniVM.sln -c Release --no-build --nologo -v q "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
awk '/(Passed|Failed)! +- +Failed:/ {
        for (i = 1; i <= NF; i++) { gsub(",", "", $(i+1));
            if ($i == "Failed:") f += $(i+1); if ($i == "Passed:") p += $(i+1); if ($i == "Skipped:") s += $(i+1) }
     } END { printf "%d passed, %d failed, %d skipped\n", p, f, s }' "$log"
exit "$status"
