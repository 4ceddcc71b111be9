#!/usr/bin/env bash
# Side-by-side `qemu-img` and `minivm img` for the chain operations: commit (into the backing file), commit -b (into
# the base of a three-layer chain), safe rebase onto a different base, and resize of a qcow2 overlay over a longer
# base (the grown part is zero-written). Same images for both tools (each gets a fresh copy); prints user+sys CPU
# seconds and wall seconds for each and the ratio minivm/qemu-img, and checks the results with qemu-img compare.
#
# Needs qemu-img, qemu-io:  apt-get install qemu-utils      (this script installs nothing)
# Usage:            bench/commit-rebase-vs-qemu.sh [WORKDIR]  (default: a fresh directory under /var/tmp)
# Environment:      MINIVM="dotnet /path/minivm.dll" to use an existing build; SIZE_MB=256 disk size;
#                   DIRTY_MB=64 bytes written into each overlay layer.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
size=${SIZE_MB:-256}
dirty=${DIRTY_MB:-64}

if ! command -v qemu-img >/dev/null || ! command -v qemu-io >/dev/null; then
    echo "commit-rebase-vs-qemu: qemu-img/qemu-io not found; install them with: apt-get install qemu-utils" >&2
    exit 69
fi

work=${1:-$(mktemp -d /var/tmp/minivm-bench.XXXXXX)}
mkdir -p "$work"
source "$here/minivm-command.sh"
minivm_command "$repo" "$work"

# A chain in $work/src: b0.raw (SIZE, every byte 0x10) <- m1.qcow2 (DIRTY MiB of 0x01 from 0) <- t2.qcow2 (DIRTY MiB
# of 0x02 from DIRTY/2), and other.raw (0x10 in the first half, 0x20 in the second) for the rebase.
src=$work/src
rm -rf "$src" && mkdir -p "$src"
qemu-img create -q -f raw "$src/b0.raw" "${size}M"
qemu-io -f raw -c "write -P 0x10 0 ${size}M" "$src/b0.raw" >/dev/null
qemu-img create -q -f raw "$src/other.raw" "${size}M"
qemu-io -f raw -c "write -P 0x10 0 $((size / 2))M" -c "write -P 0x20 $((size / 2))M $((size / 2))M" "$src/other.raw" >/dev/null
qemu-img create -q -f qcow2 -b b0.raw -F raw "$src/m1.qcow2"
qemu-img create -q -f qcow2 -b m1.qcow2 -F qcow2 "$src/t2.qcow2"
qemu-io -f qcow2 -c "write -P 0x01 0 ${dirty}M" "$src/m1.qcow2" >/dev/null
qemu-io -f qcow2 -c "write -P 0x02 $((dirty / 2))M ${dirty}M" "$src/t2.qcow2" >/dev/null
qemu-img create -q -f raw "$src/short.raw" "$((size / 2))M"
qemu-io -f raw -c "write -P 0x30 0 $((size / 2))M" "$src/short.raw" >/dev/null

# fresh TOOL: a copy of the chain for one run, in $work/TOOL.
fresh() {
    rm -rf "${work:?}/$1" && mkdir -p "$work/$1"
    cp --sparse=always "$src"/* "$work/$1/"
}

# timed TOOL ARGS...: runs qemu-img or minivm img in the tool's copy; prints "cpu wall".
timed() {
    local tool=$1; shift
    local cmd
    if [[ $tool == qemu ]]; then cmd=(qemu-img); else cmd=("${minivm[@]}" img); fi
    ( cd "$work/$tool" && /usr/bin/time -f "%U %S %e" -o "$work/time.txt" "${cmd[@]}" "$@" >/dev/null )
    awk '{ printf "%.2f %.2f", $1 + $2, $3 }' "$work/time.txt"
}

printf '%-34s %22s %22s %12s\n' "case ($size MiB disk, $dirty MiB per layer)" "qemu-img cpu/wall s" "minivm cpu/wall s" "cpu ratio"
run_case() {
    local name=$1 check=$2; shift 2
    fresh qemu; read -r qc qw <<<"$(timed qemu "$@")"
    local theirs=$work/theirs.raw; qemu-img convert -O raw "$work/qemu/$check" "$theirs"
    fresh minivm; read -r mc mw <<<"$(timed minivm "$@")"
    local same=equal
    qemu-img compare -q -F raw "$work/minivm/$check" "$theirs" || same=DIFFERENT
    printf '%-34s %22s %22s %12s  (%s %s)\n' "$name" "$qc / $qw" "$mc / $mw" \
        "$(awk -v a="$mc" -v b="$qc" 'BEGIN { printf (b > 0 ? "%.2f" : "n/a"), a / (b > 0 ? b : 1) }')" "$check" "$same"
}
run_case "commit t2 (into m1)" m1.qcow2 commit t2.qcow2
run_case "commit -b b0.raw t2" b0.raw commit -b b0.raw t2.qcow2
run_case "rebase -b other.raw t2" t2.qcow2 rebase -b other.raw -F raw t2.qcow2
run_case "resize m1 over a longer base" m1.qcow2 resize m1.qcow2 "$((size * 2))M"
rm -rf "$work/qemu" "$work/minivm" "$work/theirs.raw"
echo "work directory: $work"
