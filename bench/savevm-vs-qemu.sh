#!/usr/bin/env bash
# savevm / loadvm wall time through the monitor, MiniVM (iROW) side by side with QEMU 7.2 (qcow2), same guests,
# same SeaBIOS, same RAM size, both monitors driven over TCP by one client (bench/monitor-timing.py): the time from
# sending the command line to the next prompt, median of REPEAT (default 3) commands on one running VM.
# Guests: idle FreeDOS (images/out/freedos.irow on IDE, booted for IDLE seconds) and the Linux VM of vm.json
# (linux + data disk on virtio-blk) once it printed MINIVM-LINUX-READY on its serial port; 128 and 512 MiB each.
# Every disk is writable, so savevm snapshots them all and the VM state goes into the first (QEMU does the same).
# The images live under BENCH_DIR (default /var/tmp, a real disk: fsync costs count, as they would for a user).
# Prints one row per guest and RAM size: savevm and loadvm medians for each, and MiniVM/QEMU ratios (below 1:
# MiniVM faster), with the load average at start and end (the machine may be shared).
# Usage: bench/savevm-vs-qemu.sh [REPEAT] [GUESTS]   GUESTS: "freedos linux" (default) or one of them;
#        MINIVM="dotnet /path/minivm.dll" measures another build; MEMS="128 512" picks RAM sizes.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
repeat="${1:-3}"
guests="${2:-freedos linux}"
mems="${MEMS:-128 512}"
idle="${IDLE:-20}"
command -v qemu-system-i386 >/dev/null || { echo "bench: qemu-system-i386 missing (apt-get install qemu-system-x86)" >&2; exit 1; }
command -v qemu-img >/dev/null || { echo "bench: qemu-img missing (apt-get install qemu-utils)" >&2; exit 1; }
"$root/firmware/fetch-seabios.sh" >/dev/null
[[ "$guests" == *linux* ]] && bash "$root/images/build-linux.sh" >/dev/null
[[ "$guests" == *freedos* ]] && bash "$root/images/build-freedos.sh" >/dev/null
work="$(mktemp -d "${BENCH_DIR:-/var/tmp}/minivm-savevm-vs-qemu.XXXXXX")"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
source "$here/minivm-command.sh"
minivm_command "$root" "$work"
timing="$here/monitor-timing.py"

# Raw copies of the guests' disks, from which each run gets fresh iROW and qcow2 images.
"${minivm[@]}" img convert -O raw "$root/images/out/freedos.irow" "$work/freedos.raw"
"${minivm[@]}" img convert -O raw "$root/images/out/linux.irow" "$work/linux.raw"
"${minivm[@]}" img convert -O raw "$root/images/out/data.irow" "$work/data.raw"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# wait_ready GUEST SERIAL_LOG PID: returns once the guest is where it is measured (or fails the run).
wait_ready() {
    local guest=$1 log=$2 pid=$3 start=$SECONDS
    if [ "$guest" = freedos ]; then sleep "$idle"; kill -0 "$pid"; return; fi
    until grep -q MINIVM-LINUX-READY "$log" 2>/dev/null; do
        kill -0 "$pid" || { echo "bench: the emulator exited before the Linux guest was ready" >&2; exit 1; }
        [ $((SECONDS - start)) -lt 3600 ] || { echo "bench: Linux not ready after an hour" >&2; exit 1; }
        sleep 1
    done
    sleep 2
}

# measure EMULATOR GUEST MEM -> "savevm_ms loadvm_ms" (medians)
measure() {
    local emu=$1 guest=$2 mem=$3 port log pid
    port=$(free_port); log="$work/$emu-$guest-$mem.serial"; rm -f "$log" "$work"/*.irow* "$work"/*.qcow2
    local disks=(freedos); [ "$guest" = linux ] && disks=(linux data)
    if [ "$emu" = minivm ]; then
        local args=(run --config "$root/vm.json" --memory "$mem" --clock paced --display none
                    --serial "file:$log" --monitor "tcp:127.0.0.1:$port")
        for d in "${disks[@]}"; do "${minivm[@]}" img convert -O irow "$work/$d.raw" "$work/$d.irow"; done
        if [ "$guest" = freedos ]; then args+=(--boot c --drive "if=ide,index=0,file=$work/freedos.irow,format=irow")
        else args+=(--boot c --drive "if=virtio,index=0,file=$work/linux.irow,format=irow,transport=modern"
                    --drive "if=virtio,index=1,file=$work/data.irow,format=irow,transport=modern"); fi
        "${minivm[@]}" "${args[@]}" >/dev/null 2>"$work/$emu.err" & pid=$!
    else
        local args=(-accel tcg -m "$mem" -display none -serial "file:$log" -bios "$root/firmware/bios.bin"
                    -monitor "tcp:127.0.0.1:$port,server=on,wait=off" -boot c)
        for d in "${disks[@]}"; do qemu-img convert -O qcow2 "$work/$d.raw" "$work/$d.qcow2"; done
        if [ "$guest" = freedos ]; then args+=(-drive "file=$work/freedos.qcow2,format=qcow2,if=ide")
        else args+=(-drive "file=$work/linux.qcow2,format=qcow2,if=virtio" -drive "file=$work/data.qcow2,format=qcow2,if=virtio"); fi
        qemu-system-i386 "${args[@]}" >/dev/null 2>"$work/$emu.err" & pid=$!
    fi
    pids+=("$pid")
    wait_ready "$guest" "$log" "$pid"
    python3 "$timing" "$port" "$repeat"
    kill "$pid" 2>/dev/null || true   # in case quit did not end it
    wait "$pid" 2>/dev/null || true
}

ratio() { if [[ "$1" =~ ^[0-9.]+$ && "$2" =~ ^[0-9.]+$ ]]; then echo "scale=2; $1 / $2" | bc; else echo "-"; fi; }

echo "savevm-vs-qemu: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at start; median of $repeat"
echo "minivm: ${minivm[*]} ($(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$root" diff --quiet 2>/dev/null || echo '+changes')), iROW; images in $work"
echo "peer: $(qemu-system-i386 --version | head -n1), -accel tcg, qcow2"
printf '%-14s %6s | %12s %12s %8s | %12s %12s %8s\n' guest RAM "minivm save" "qemu save" ratio "minivm load" "qemu load" ratio
for guest in $guests; do
    for mem in $mems; do
        read -r ms ml < <(measure minivm "$guest" "$mem")
        read -r qs ql < <(measure qemu "$guest" "$mem")
        printf '%-14s %4sM | %9s ms %9s ms %8s | %9s ms %9s ms %8s\n' "$guest" "$mem" "$ms" "$qs" "$(ratio "$ms" "$qs")" \
            "$ml" "$ql" "$(ratio "$ml" "$ql")"
    done
done
echo "load average $(cut -d' ' -f1-3 /proc/loadavg) at end"
