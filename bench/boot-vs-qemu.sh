#!/usr/bin/env bash
# Boot time to a guest's marker text: MiniVM (`minivm run --until`) side by side with qemu-system-i386 (TCG), same
# images, same SeaBIOS. QEMU's text screen is read through its monitor (pmemsave of 0xB8000) every 50 ms.
# Needs qemu-system-x86 (apt-get install qemu-system-x86). Prints one row per guest with wall times and the ratio.
# Usage: bench/boot-vs-qemu.sh [REPEAT]   (best of REPEAT runs, default 1)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
guests="$root/../shared/guests"
repeat="${1:-1}"
minivm="$root/src/MiniVM.Cli/bin/Release/net10.0/minivm"
command -v qemu-system-i386 >/dev/null || { echo "bench: qemu-system-i386 missing (apt-get install qemu-system-x86)" >&2; exit 1; }
dotnet build "$root/src/MiniVM.Cli" -c Release --nologo -v q >/dev/null
"$root/firmware/fetch-seabios.sh"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT

cp "$guests/sectorlisp.bin" "$work/lisp.img"; truncate -s 1474560 "$work/lisp.img"
gunzip -c "$guests/freedos-hdd-32m.img.gz" > "$work/hdd.raw"
"$minivm" img convert -O irow "$work/hdd.raw" "$work/hdd.irow"

now() { date +%s.%N; }

# qemu_time DRIVE-ARGS MARKER: seconds until MARKER shows on QEMU's text screen.
qemu_time() {
    local marker="$1"; shift
    local dump="$work/vga.bin"; rm -f "$dump"
    local t0; t0=$(now)
    coproc QEMU { qemu-system-i386 -accel tcg -m 128 -display none -serial none -monitor stdio \
        -bios "$root/firmware/bios.bin" "$@" 2>/dev/null; }
    local found=0
    for _ in $(seq 1 1200); do
        echo "pmemsave 0xb8000 4000 \"$dump\"" >&"${QEMU[1]}"
        sleep 0.05
        if [ -s "$dump" ] && M="$marker" perl -0777 -ne 'my $t = join("", map { substr($_,0,1) } unpack("(a2)*", $_)); exit(index($t, $ENV{M}) >= 0 ? 0 : 1)' "$dump"; then
            found=1; break
        fi
    done
    local t1; t1=$(now)
    echo quit >&"${QEMU[1]}" 2>/dev/null || true
    wait "$QEMU_PID" 2>/dev/null || true
    [ $found = 1 ] && echo "$t1 - $t0" | bc || echo "nan"
}

# minivm_time MARKER ARGS...: seconds and guest instructions until MARKER (screen or serial).
minivm_time() {
    local marker="$1"; shift
    local t0 t1 err; t0=$(now)
    err=$("$minivm" run "$@" --serial none --until "$marker" --timeout 300 2>&1 >/dev/null) || true
    t1=$(now)
    local instr; instr=$(sed -n 's/.*(\([0-9]*\) instructions.*/\1/p' <<<"$err")
    echo "$(echo "$t1 - $t0" | bc) ${instr:-?}"
}

best() { sort -g | head -n1; }

printf '%-26s %12s %14s %12s %8s\n' guest "minivm (s)" "instructions" "qemu (s)" ratio
run_case() {
    local name="$1" marker="$2" keys="$3"; shift 3
    local mv=() q=()
    local mi="" ms
    for _ in $(seq 1 "$repeat"); do
        if [ -n "$keys" ]; then read -r ms mi < <(minivm_time "$marker" "$@" --sendkeys "$keys"); else read -r ms mi < <(minivm_time "$marker" "$@"); fi
        mv+=("$ms")
    done
    # QEMU gets the same disks; typed input is not scripted for it, so keyed cases time to the prompt only.
    local qargs=()
    case "$1" in
        --fda) qargs=(-drive "file=$2,format=raw,if=floppy,readonly=on" -boot a) ;;
        --hda) qargs=(-drive "file=$work/hdd.raw,format=raw,if=ide,snapshot=on" -boot c) ;;
    esac
    for _ in $(seq 1 "$repeat"); do q+=("$(qemu_time "$marker" "${qargs[@]}")"); done
    local bm bq; bm=$(printf '%s\n' "${mv[@]}" | best); bq=$(printf '%s\n' "${q[@]}" | best)
    printf '%-26s %12.2f %14s %12.2f %8s\n' "$name" "$bm" "$mi" "$bq" "$(echo "scale=2; $bm / $bq" | bc 2>/dev/null || echo -)"
}

run_case "freedos722 (A:\\>)" 'A:\>' "" --fda "$guests/freedos722.img"
run_case "freedos-boot-1440k (A:\\>)" 'A:\>' "" --fda "$guests/freedos-boot-1440k.img"
run_case "bootos (\$)" 'bootOS' "" --fda "$guests/bootos.img"
run_case "mikeos (welcome)" 'Welcome to MikeOS' "" --fda "$guests/mikeos-4.6.1.img"
run_case "sectorlisp (boot)" 'Booting from Floppy' "" --fda "$work/lisp.img"
run_case "freedos-hdd iROW/IDE" 'FREEDOS-HDD-OK' "" --hda "$work/hdd.irow"
