#!/usr/bin/env bash
# Boot time to a guest's marker text: MiniVM (`minivm run --until`) with each CPU engine side by side with
# qemu-system-i386 (TCG), same images, same SeaBIOS. Guests: the FreeDOS family from ../shared/guests and the default
# Linux VM (vm.json: linux.irow + data.irow on virtio-blk; QEMU boots `minivm img convert -O raw` copies, as it cannot
# read iROW) to MINIVM-LINUX-READY. QEMU's text screen is read through its monitor (pmemsave of 0xB8000) every 50 ms,
# its serial port from a file.
# Engines: `--set machine.cpu-engine=jit` and `=interpreter`. A MiniVM that does not know the key (it exits 78 on
# it) has only the interpreter: the jit column says n/a and the interpreter runs with no --set.
# Needs qemu-system-x86 (apt-get install qemu-system-x86) and images/build-linux.sh's outputs.
# Prints one row per guest: wall seconds per emulator, MiniVM's guest instructions to the marker, ratios to QEMU.
# Usage: bench/boot-vs-qemu.sh [REPEAT]   (best of REPEAT runs, default 1; MINIVM=... to measure another build)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
guests="$root/../shared/guests"
repeat="${1:-1}"
command -v qemu-system-i386 >/dev/null || { echo "bench: qemu-system-i386 missing (apt-get install qemu-system-x86)" >&2; exit 1; }
"$root/firmware/fetch-seabios.sh"
bash "$root/images/build-linux.sh"
work="$(mktemp -d /tmp/minivm-boot-vs-qemu.XXXXXX)"; trap 'rm -rf "$work"' EXIT
source "$here/minivm-command.sh"
minivm_command "$root" "$work"

cd "$work"
cp "$guests/sectorlisp.bin" "$work/lisp.img"; truncate -s 1474560 "$work/lisp.img"
gunzip -c "$guests/freedos-hdd-32m.img.gz" > "$work/hdd.raw"
"${minivm[@]}" img convert -O irow "$work/hdd.raw" "$work/hdd.irow"
# The Linux VM's disks: fresh iROW copies for MiniVM (the guest mounts its data disk read-write), raw for QEMU.
cp "$root"/images/out/linux.irow* "$work/"
"${minivm[@]}" img convert -O irow "$root/images/out/data.raw" "$work/data.irow"
"${minivm[@]}" img convert -O raw "$work/linux.irow" "$work/linux.raw"
"${minivm[@]}" img convert -O raw "$work/data.irow" "$work/data.raw"

# Which engines this MiniVM has: a build that does not know the key refuses it naming it (exit 78).
engine_args() { # ENGINE -> the --set that selects it, or nothing for the interpreter of a MiniVM without the key
    if [ "$has_engines" = 1 ]; then echo "--set machine.cpu-engine=$1"; fi
}
has_engines=0
probe=$("${minivm[@]}" run --config "$root/vm.json" --set machine.cpu-engine=jit --boot a --fda "$guests/bootos.img" \
    --serial none --timeout 0.5 2>&1 || true)
grep -q "cpu-engine" <<<"$probe" || has_engines=1

now() { date +%s.%N; }
limit=3600   # seconds before a run counts as failed (a loaded 2-core machine has taken 21 minutes to boot Linux)

# qemu_time MARKER ARGS...: seconds until MARKER shows on QEMU's text screen or serial port, "nan" if never.
qemu_time() {
    local marker="$1"; shift
    local dump="$work/vga.bin" serial="$work/qemu-serial.log"; rm -f "$dump" "$serial"
    local t0; t0=$(now)
    coproc QEMU { qemu-system-i386 -accel tcg -m 128 -display none -serial "file:$serial" -monitor stdio \
        -bios "$root/firmware/bios.bin" "$@" 2>/dev/null; }
    local found=0 start=$SECONDS
    while [ $((SECONDS - start)) -lt $limit ]; do
        if grep -qF -- "$marker" "$serial" 2>/dev/null; then found=1; break; fi
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

# minivm_time MARKER ARGS...: seconds and guest instructions until MARKER (screen or serial), "nan" if never.
minivm_time() {
    local marker="$1"; shift
    local t0 t1 err rc=0; t0=$(now)
    err=$("${minivm[@]}" run "$@" --serial none --until "$marker" --timeout $limit 2>&1 >/dev/null) || rc=$?
    t1=$(now)
    local instr; instr=$(sed -n 's/.*(\([0-9]*\) instructions.*/\1/p' <<<"$err")
    if [ $rc = 0 ] && grep -q "appeared" <<<"$err"; then echo "$(echo "$t1 - $t0" | bc) ${instr:-?}"; else echo "nan ${instr:-?}"; fi
}

best() { sort -g | head -n1; }
ratio() { if [[ "$1" =~ ^[0-9.]+$ && "$2" =~ ^[0-9.]+$ ]]; then echo "scale=2; $1 / $2" | bc; else echo "-"; fi; }
fmt() { if [[ "$1" =~ ^[0-9.]+$ ]]; then printf '%.2f' "$1"; else printf '%s' "$1"; fi; }

echo "boot-vs-qemu: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at start; best of $repeat"
echo "minivm: ${minivm[*]} ($(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$root" diff --quiet 2>/dev/null || echo '+changes')); engines: $([ $has_engines = 1 ] && echo 'jit, interpreter' || echo 'interpreter only (machine.cpu-engine unknown)')"
echo "peer: $(qemu-system-i386 --version | head -n1), -accel tcg"
printf '%-28s %9s %9s %9s %14s %8s %8s\n' guest "jit (s)" "interp(s)" "qemu (s)" "instructions" jit/qemu int/qemu
run_case() {
    local name="$1" marker="$2"; shift 2
    # MiniVM reads vm.json for the firmware and the machine; a --fda/--hda disk replaces its drives.
    local qargs=() margs=(--config "$root/vm.json")
    case "$1" in
        --fda) qargs=(-drive "file=$2,format=raw,if=floppy,readonly=on" -boot a); margs+=(--boot a) ;;
        --hda) qargs=(-drive "file=$work/hdd.raw,format=raw,if=ide,snapshot=on" -boot c); margs+=(--boot c) ;;
        --linux) shift; qargs=(-drive "file=$work/linux.raw,format=raw,if=virtio,snapshot=on"
                         -drive "file=$work/data.raw,format=raw,if=virtio,snapshot=on" -boot c) ;;
    esac
    local jit=() int=() q=() mi="" ms engine
    for _ in $(seq 1 "$repeat"); do
        if [ $has_engines = 1 ]; then
            # shellcheck disable=SC2046
            read -r ms mi < <(minivm_time "$marker" "${margs[@]}" "$@" $(engine_args jit)); jit+=("$ms")
        fi
        # shellcheck disable=SC2046
        read -r ms mi < <(minivm_time "$marker" "${margs[@]}" "$@" $(engine_args interpreter)); int+=("$ms")
        q+=("$(qemu_time "$marker" "${qargs[@]}")")
    done
    local bj=n/a bi bq
    [ $has_engines = 1 ] && bj=$(printf '%s\n' "${jit[@]}" | best)
    bi=$(printf '%s\n' "${int[@]}" | best); bq=$(printf '%s\n' "${q[@]}" | best)
    printf '%-28s %9s %9s %9s %14s %8s %8s\n' "$name" "$(fmt "$bj")" "$(fmt "$bi")" "$(fmt "$bq")" "$mi" \
        "$(ratio "$bj" "$bq")" "$(ratio "$bi" "$bq")"
}

run_case "freedos722 (A:\\>)" 'A:\>' --fda "$guests/freedos722.img"
run_case "freedos-boot-1440k (A:\\>)" 'A:\>' --fda "$guests/freedos-boot-1440k.img"
run_case "bootos (\$)" 'bootOS' --fda "$guests/bootos.img"
run_case "mikeos (welcome)" 'Welcome to MikeOS' --fda "$guests/mikeos-4.6.1.img"
run_case "sectorlisp (boot)" 'Booting from Floppy' --fda "$work/lisp.img"
run_case "freedos-hdd iROW/IDE" 'FREEDOS-HDD-OK' --hda "$work/hdd.irow"
run_case "linux vm.json (READY)" 'MINIVM-LINUX-READY' --linux \
    --drive "if=virtio,index=0,file=$work/linux.irow,format=irow,transport=modern" \
    --drive "if=virtio,index=1,file=$work/data.irow,format=irow,transport=modern"
echo "load average $(cut -d' ' -f1-3 /proc/loadavg) at end"
