#!/usr/bin/env bash
# Pictures and the explorer page of a 1 TiB sparse image (issue 17): CPU seconds (user + sys, from /usr/bin/time)
# of `minivm img map --png`, `img map --svg`, `img snapshot -l --png`, `img explore`, beside `minivm img info`
# (what starting the process costs) and `qemu-img map --output json` on the same image (the peer: one walk of the
# same allocation, no drawing; qemu-img has no iROW, so the qcow2 figure is the reference for both). Prints the sizes of what was written, and a ratio to qemu-img map per command.
#
# Usage:        bench/explore.sh [WORKDIR]   (default: a fresh directory under /var/tmp, removed at the end)
# Environment:  MINIVM="dotnet /path/minivm.dll" to use an existing build instead of building Release here.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
work=${1:-$(mktemp -d /var/tmp/minivm-explore.XXXXXX)}
[[ -n "${1:-}" ]] || trap 'rm -rf "$work"' EXIT
mkdir -p "$work"
source "$here/minivm-command.sh"
minivm_command "$repo" "$work"
command -v qemu-img >/dev/null || { echo "explore: qemu-img not found (apt-get install qemu-utils)" >&2; exit 69; }

cpu() { # prints user+sys seconds of one run of "$@"
    /usr/bin/time -f "%U %S" -o "$work/time" "$@" >/dev/null 2>&1
    awk '{ printf "%.2f", $1 + $2 }' "$work/time"
}

cd "$work"
"${minivm[@]}" img create -f qcow2 big.qcow2 1T >/dev/null
"${minivm[@]}" io -c "write -P 1 0 1M" -c "write -P 2 512G 64k" big.qcow2 >/dev/null
"${minivm[@]}" img snapshot -c one big.qcow2
"${minivm[@]}" io -c "write -P 3 1023G 4M" big.qcow2 >/dev/null
"${minivm[@]}" img create -f irow big.irow 1T >/dev/null
"${minivm[@]}" io -c "write -P 1 0 1M" big.irow >/dev/null
"${minivm[@]}" img snapshot -c one big.irow
"${minivm[@]}" io -c "write -P 2 512G 64k" big.irow >/dev/null

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-8s %-34s %8s %10s %s\n' image command "cpu s" "output B" "vs qemu-img map"
# qemu-img knows no iROW: the qcow2 image's qemu-img map is the reference for both.
peer=$(cpu qemu-img map --output json big.qcow2)
printf '%-8s %-34s %8s %10s\n' qcow2 "qemu-img map --output json" "$peer" "-"
for img in big.qcow2 big.irow; do
    run() { # label, output file, command...
        local label=$1 file=$2; shift 2
        local t; t=$(cpu "$@")
        printf '%-8s %-34s %8s %10s %s\n' "${img#big.}" "$label" "$t" "$( [[ -n $file ]] && stat -c %s "$file" || echo -)" \
            "$(awk -v a="$t" -v b="$peer" 'BEGIN { if (b > 0) printf "%.1fx", a / b; else print "-" }')"
    }
    run "minivm img info" "" "${minivm[@]}" img info "$img"
    run "minivm img map --png" map.png "${minivm[@]}" img map --png map.png "$img"
    run "minivm img map --svg" map.svg "${minivm[@]}" img map --svg map.svg "$img"
    run "minivm img snapshot -l --png" tree.png "${minivm[@]}" img snapshot -l --png tree.png "$img"
    run "minivm img explore" report.html "${minivm[@]}" img explore "$img" -o report.html
done
