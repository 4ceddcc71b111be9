#!/usr/bin/env bash
# Side-by-side `qemu-img bench` (qcow2, raw) and `minivm img bench` (raw, irow, qcow2, add-cow, fvd when registered),
# same parameters, queue depth 1; add-cow and fvd run as overlays over an empty raw base of the same size, then iROW snapshot-create and ancestor-depth timings (bench/IrowTiming).
#
# Needs qemu-img:   apt-get install qemu-utils      (this script installs nothing)
# Usage:            bench/img-bench.sh [WORKDIR]     (default: a fresh directory under /var/tmp)
# Environment:      MINIVM="dotnet /path/minivm.dll" to use an existing build instead of building Release here;
#                   COUNT=16384 requests per case; REPEAT=2 runs per case, the best kept (shared machines are noisy);
#                   SNAPSHOTS=50 ancestor states for the read-depth case.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
count=${COUNT:-16384}
ancestors=${SNAPSHOTS:-50}
repeat=${REPEAT:-2}

if ! command -v qemu-img >/dev/null; then
    echo "img-bench: qemu-img not found; install it with: apt-get install qemu-utils" >&2
    exit 69
fi

work=${1:-$(mktemp -d /var/tmp/minivm-bench.XXXXXX)}
mkdir -p "$work"
source "$here/minivm-command.sh"
minivm_command "$repo" "$work"

formats=$("${minivm[@]}" img create -f nosuch "$work/probe" 1M 2>&1 | sed -n 's/.*known: \(.*\)).*/\1/p' || true)
has_format() { [[ ", $formats, " == *", $1, "* ]]; }

# seconds TOOL FMT FILE ARGS...: prints the "Run completed in X seconds." figure of one run.
seconds() {
    local tool=$1 fmt=$2 file=$3; shift 3
    local out
    if [[ $tool == qemu ]]; then
        out=$(qemu-img bench -f "$fmt" -d 1 -t writeback "$@" "$file")
    else
        out=$("${minivm[@]}" img bench -f "$fmt" "$@" "$file")
    fi
    sed -n 's/^Run completed in \([0-9.]*\) seconds\./\1/p' <<<"$out"
}

create() {
    local tool=$1 fmt=$2 file=$3 size=$4
    rm -f "$file" "$file"-* "$file".*
    if [[ $tool == qemu ]]; then qemu-img create -q -f "$fmt" "$file" "$size"
    elif [[ $fmt == add-cow || $fmt == fvd ]]; then
        # Overlay formats (add-cow requires a base): an empty raw base, named as a plain file next to the image.
        "${minivm[@]}" img create -f raw "$file.base" "$size" >/dev/null
        "${minivm[@]}" img create -f "$fmt" -b "$(basename "$file").base" -F raw "$file" >/dev/null
    else "${minivm[@]}" img create -f "$fmt" "$file" "$size" >/dev/null; fi
}

# The cases (qemu-img bench parameters; the pattern keeps zero-detection out of the comparison).
declare -a case_name case_size case_args
case_name+=("64k seq write, 1 GiB");  case_size+=(1G);  case_args+=("-w --pattern 90 -s 64k -c $count")
case_name+=("4k write, 1 MiB step");  case_size+=(16G); case_args+=("-w --pattern 90 -s 4k -S 1M -c $count")
case_name+=("4k seq read");           case_size+=(1G);  case_args+=("-s 4k -c $((count * 4))")

runs=("qemu qcow2" "qemu raw" "minivm raw" "minivm irow")
has_format qcow2 && runs+=("minivm qcow2")
has_format add-cow && runs+=("minivm add-cow")
has_format fvd && runs+=("minivm fvd")

declare -A result
for i in "${!case_name[@]}"; do
    for run in "${runs[@]}"; do
        read -r tool fmt <<<"$run"
        file="$work/bench-$tool.$fmt"
        create "$tool" "$fmt" "$file" "${case_size[$i]}"
        read -r -a args <<<"${case_args[$i]}"
        if [[ " ${args[*]} " != *" -w "* ]]; then
            # Reads measure allocated data: fill the image first, untimed.
            seconds "$tool" "$fmt" "$file" -w --pattern 90 -s 64k -c 16384 >/dev/null
        fi
        best=
        for ((r = 0; r < repeat; r++)); do
            # A fresh image per write run, so every run allocates; reads reuse the filled image.
            if ((r > 0)) && [[ " ${args[*]} " == *" -w "* ]]; then create "$tool" "$fmt" "$file" "${case_size[$i]}"; fi
            t=$(seconds "$tool" "$fmt" "$file" "${args[@]}")
            best=$(awk -v a="$t" -v b="$best" 'BEGIN { print (b == "" || a < b) ? a : b }')
        done
        result["$i,$run"]=$best
        rm -f "$file" "$file"-* "$file".*
    done
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }

printf '\nqemu-img %s, queue depth 1, %s requests, best of %s; ratio = time / qemu-img time (lower is faster)\n\n' \
    "$(qemu-img --version | sed -n '1s/qemu-img version \([^ ]*\).*/\1/p')" "$count" "$repeat"
printf '%-24s %-14s %10s %12s %12s\n' "case" "tool/format" "seconds" "vs q-raw" "vs q-qcow2"
for i in "${!case_name[@]}"; do
    for run in "${runs[@]}"; do
        t=${result["$i,$run"]}
        printf '%-24s %-14s %10s %12s %12s\n' "${case_name[$i]}" "${run/ //}" "$t" \
            "$(ratio "$t" "${result["$i,qemu raw"]}")" "$(ratio "$t" "${result["$i,qemu qcow2"]}")"
    done
done

# Snapshot create on a 64 GiB iROW image (empty, then holding 1 GiB) and 4 KiB random reads with N ancestor
# states versus none: timed in-process by bench/IrowTiming, since process start-up would swamp a few milliseconds.
dotnet build "$here/IrowTiming" -c Release -o "$work/timing" -nologo >"$work/build-timing.log" 2>&1 \
    || { cat "$work/build-timing.log" >&2; exit 1; }
echo
dotnet "$work/timing/IrowTiming.dll" "$work" "$ancestors"
[[ $# -ge 1 ]] || rm -rf "$work"
