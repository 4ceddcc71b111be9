#!/usr/bin/env bash
# The README's first command from a fresh clone, timed stage by stage (issue 12):
#   images/build-linux.sh && dotnet run -c Release --project src/MiniVM.Cli -- run
# 1. images/build-linux.sh in the clone (downloads the Debian packages: nothing is cached in a fresh clone);
# 2. `dotnet run ... -- run` up to the guest's MINIVM-LINUX-READY marker (restore, build, firmware fetch, boot);
# 3. the same run again, nothing left to build: the boot alone.
# Each line gives wall time, the process tree's CPU time (user+sys, /usr/bin/time) and the load average, so figures
# taken on a busy machine can be told apart from quiet ones. Usage: bench/first-command.sh [REPOSITORY] (default:
# this repository's committed HEAD). The clone is made in a temporary folder and deleted afterwards.
set -euo pipefail
src="${1:-$(cd "$(dirname "$0")/.." && pwd)}"
clone="$(mktemp -d /tmp/minivm-first-command.XXXXXX)"
trap 'rm -rf "$clone"' EXIT
git clone -q "$src" "$clone/minivm"
cd "$clone/minivm"
echo "fresh clone of $src at $(git rev-parse --short HEAD); $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg)"

stage() {
    local name="$1"; shift
    local t0 t1
    t0=$(date +%s.%N)
    /usr/bin/time -f '%U %S' -o "$clone/cpu" "$@" < /dev/null > "$clone/stage.log" 2>&1 || { echo "$name failed:"; tail -20 "$clone/stage.log"; exit 1; }
    t1=$(date +%s.%N)
    printf '%-58s %7.1f s wall, %7.1f s CPU, load %s\n' "$name" "$(echo "$t1 - $t0" | bc)" \
        "$(awk '{print $1 + $2}' "$clone/cpu")" "$(cut -d' ' -f1-3 /proc/loadavg)"
}

stage "images/build-linux.sh" images/build-linux.sh
stage "dotnet run -- run (build + boot to MINIVM-LINUX-READY)" \
    dotnet run -c Release --project src/MiniVM.Cli -- run --until MINIVM-LINUX-READY --timeout 3000
stage "dotnet run -- run again (boot to MINIVM-LINUX-READY)" \
    dotnet run -c Release --project src/MiniVM.Cli -- run --until MINIVM-LINUX-READY --timeout 3000
