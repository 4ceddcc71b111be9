#!/usr/bin/env bash
# Disk usage of the same guest workload on each writable format (issue #7). The FreeDOS hard disk
# (shared/guests/freedos-hdd-32m.img.gz) becomes one image per format — irow, qcow2, qcow3: plain converts;
# add-cow, fvd: empty overlays over the raw disk (which stays untouched); raw: the disk itself, for reference —
# then each is booted with `minivm run`, FreeDOS types commands that write files, and the table shows
# `img info --output json` actual-size (every file of the image, as info counts it) before and after, the
# growth, and what `img check` says afterwards.
#
# Usage:        bench/disk-usage.sh [WORKDIR]   (default: a fresh directory under /var/tmp, removed at the end)
# Environment:  MINIVM="dotnet /path/minivm.dll" to use an existing build instead of building Release here;
#               FORMATS="irow qcow2 ..." to pick formats; TIMEOUT=600 host seconds per boot.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
guest="$repo/../shared/guests/freedos-hdd-32m.img.gz"
timeout=${TIMEOUT:-600}
read -r -a formats <<<"${FORMATS:-raw irow qcow2 qcow3 add-cow fvd}"

[[ -f $guest ]] || { echo "disk-usage: $guest not found" >&2; exit 66; }

work=${1:-$(mktemp -d /var/tmp/minivm-du.XXXXXX)}
mkdir -p "$work"
source "$here/minivm-command.sh"
minivm_command "$repo" "$work"

# The workload: copies of the system files, then a file built by doubling (DOS lines stop at 127 characters) so
# that about 1.2 MiB of new data goes past the clusters the installed system already fills (a smaller workload
# lands wholly inside them and a converted image does not grow at all), a small new file, then a listing whose
# "file(s)" line says every command before it has finished. --sendkeys: \n is Enter; C:\K1.SYS is typed as is.
keys='copy C:\KERNEL.SYS C:\K1.SYS\ncopy C:\COMMAND.COM C:\C1.COM\n'
keys+='copy /B C:\K1.SYS+C:\C1.COM C:\A.BIN\ncopy /B C:\A.BIN+C:\A.BIN C:\B.BIN\ncopy /B C:\B.BIN+C:\B.BIN C:\BIG.BIN\n'
keys+='echo hello > C:\T.TXT\ndir C:\T.TXT\n'

gunzip -c "$guest" >"$work/freedos.raw"

actual_size() { "${minivm[@]}" img info --output json "$1" | sed -n 's/^ *"actual-size": \([0-9]*\).*/\1/p'; }

declare -A before after check
for fmt in "${formats[@]}"; do
    img="$work/disk.$fmt"
    rm -f "$img" "$img"-* "$img".*
    case $fmt in
        raw) cp "$work/freedos.raw" "$img" ;;
        add-cow | fvd)
            # An overlay names its base relative to its own directory (a plain file name next to it).
            "${minivm[@]}" img create -f "$fmt" -b freedos.raw -F raw "$img" >/dev/null ;;
        *) "${minivm[@]}" img convert -O "$fmt" "$work/freedos.raw" "$img" ;;
    esac
    before[$fmt]=$(actual_size "$img")
    echo "disk-usage: booting FreeDOS from $fmt ..." >&2
    "${minivm[@]}" run --hda "$img" --serial none --timeout "$timeout" --screen-dump "$work/screen-$fmt.txt" \
        --sendkeys "$keys" --until 'file(s)' >/dev/null
    grep -Eq 'T +TXT' "$work/screen-$fmt.txt" \
        || { echo "disk-usage: $fmt: T.TXT not listed; screen:" >&2; cat "$work/screen-$fmt.txt" >&2; exit 1; }
    after[$fmt]=$(actual_size "$img")
    set +e
    out=$("${minivm[@]}" img check "$img" 2>&1)
    rc=$?
    set -e
    if ((rc == 0)); then check[$fmt]="ok: $(head -n 1 <<<"$out")"
    else check[$fmt]="exit $rc: $(head -n 1 <<<"${out#"minivm: $img: "}")"; fi
done

# The overlays must leave the base exactly as shipped.
if ! cmp -s "$work/freedos.raw" <(gunzip -c "$guest"); then
    echo "disk-usage: the raw base of the overlays was modified" >&2
    exit 1
fi

kib() { awk -v b="$1" 'BEGIN { printf "%.0f", b / 1024 }'; }
printf '\nFreeDOS 32 MiB disk; workload: %s\n\n' "${keys//\\n/; }"
printf '%-8s %14s %14s %12s  %s\n' "format" "before (KiB)" "after (KiB)" "grew (KiB)" "img check"
for fmt in "${formats[@]}"; do
    printf '%-8s %14s %14s %12s  %s\n' "$fmt" "$(kib "${before[$fmt]}")" "$(kib "${after[$fmt]}")" \
        "$(kib $((after[$fmt] - before[$fmt])))" "${check[$fmt]}"
done
[[ $# -ge 1 ]] || rm -rf "$work"
