#!/usr/bin/env bash
# Guest MIPS of MiniVM side by side with Bochs 2.7 (an interpreter in C++) and qemu-system-i386 (TCG, a JIT), all
# booting the same one-sector image (bench/cpu-loop.asm: GuestLoop.cs's paged protected-mode loop) from a floppy.
# Boot overhead (BIOS, process start, JIT warm-up) is removed by timing N and 3N iterations and dividing the
# difference in guest instructions by the difference in wall time (MIPS) and in the emulator's CPU time (MIPS per
# CPU-second: its own speed, what a loaded machine does not distort). Every guest reports its registers; the script
# insists that all emulators print the same line for the same N, and counts instructions from it exactly
# (13 per iteration + EBP, see cpu-loop.asm). Each configuration runs REPEAT times; the best time counts.
# QEMU runs three ways: plain TCG, -icount shift=0 and -singlestep (one instruction per translation block); all
# three are still QEMU's JIT, so the interpreter-to-interpreter ratio is MiniVM/Bochs. Plain TCG and -icount run 10N
# and 30N iterations: at N their difference would be a fraction of a second.
#
# Needs: nasm, bochs, bochs-sdl, bochsbios, vgabios, qemu-system-x86 (apt-get install ...). Debian's Bochs has no
# `nogui` display library and is built with the internal debugger, so it runs with the SDL2 plugin on SDL's dummy
# video driver, and a debugger script (-rc) that just continues; the guest ends it through the "Shutdown" port
# 0x8900 (Bochs treats that as a panic; `panic: action=fatal` makes it exit, status 1).
#
# Usage: [MINIVM=path/to/minivm] bench/cpu-vs-bochs.sh [N] [REPEAT]   (default N = 10000000 iterations, REPEAT = 3)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
n="${1:-10000000}"
repeat="${2:-3}"
# MINIVM=path/to/minivm measures that build instead of building this tree's src/MiniVM.Cli.
minivm="${MINIVM:-$root/src/MiniVM.Cli/bin/Release/net10.0/minivm}"

missing=()
command -v nasm >/dev/null || missing+=(nasm)
command -v bochs >/dev/null || missing+=(bochs)
[ -e /usr/lib/x86_64-linux-gnu/bochs/plugins/libbx_sdl2_gui.so ] || missing+=(bochs-sdl)
[ -e /usr/share/bochs/BIOS-bochs-latest ] || missing+=(bochsbios)
[ -e /usr/share/vgabios/vgabios.bin ] || missing+=(vgabios)
command -v qemu-system-i386 >/dev/null || missing+=(qemu-system-x86)
if [ ${#missing[@]} -gt 0 ]; then
    echo "bench: missing ${missing[*]} (apt-get install ${missing[*]})" >&2
    exit 1
fi

work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
# One source of truth: the checked-in image (booted by the xunit test without an assembler) must be cpu-loop.asm.
nasm -f bin -o "$work/cpu-loop.bin" "$root/bench/cpu-loop.asm"
if ! cmp -s "$work/cpu-loop.bin" "$root/bench/cpu-loop.bin"; then
    echo "bench: bench/cpu-loop.bin is not bench/cpu-loop.asm assembled; run: nasm -f bin -o bench/cpu-loop.bin bench/cpu-loop.asm" >&2
    exit 1
fi
if [ -z "${MINIVM:-}" ]; then
    dotnet build "$root/src/MiniVM.Cli" -c Release --nologo -v q > "$work/build.log" 2>&1 || { grep -E 'error' "$work/build.log" >&2; exit 1; }
fi
"$root/firmware/fetch-seabios.sh"

# image ITERATIONS: a 1.44 MB floppy whose boot sector runs the loop ITERATIONS times (dword at offset 0x1F8).
image() {
    local img="$work/loop-$1.img"
    cp "$work/cpu-loop.bin" "$img"
    perl -e 'print pack("V", $ARGV[0])' "$1" | dd of="$img" bs=1 seek=$((0x1F8)) conv=notrunc status=none
    truncate -s 1474560 "$img"
    echo "$img"
}

cat > "$work/bochsrc" <<EOF
display_library: sdl2
megs: 32
romimage: file=/usr/share/bochs/BIOS-bochs-latest
vgaromimage: file=/usr/share/vgabios/vgabios.bin
floppya: 1_44=IMAGE, status=inserted
boot: floppy
clock: sync=none, time0=local
cpu: count=1, ips=100000000, reset_on_triple_fault=0
port_e9_hack: enabled=1
mouse: enabled=0
speaker: enabled=0
sound: waveoutdrv=dummy, waveindrv=dummy, midioutdrv=dummy
log: -
panic: action=fatal
error: action=report
info: action=ignore
debug: action=ignore
EOF
printf 'c\nquit\n' > "$work/bochs-debugger.rc"

now() { date +%s.%N; }

# run_once EMULATOR IMAGE ITERATIONS: prints "WALL CPU LINE" (seconds; CPU = user + system of the emulator process
# and its threads; LINE = the guest's CPULOOP report), or fails naming what went wrong.
run_once() {
    local emu="$1" img="$2" iters="$3" out="$work/out" times="$work/times" limit status=0
    limit=$((60 + iters * 42 / 2000000))     # 3 x 14 instructions per iteration at no less than 2 MIPS
    local t0 t1; t0=$(now)
    case "$emu" in
        minivm|minivm-jit)
            local engine=interpreter; [ "$emu" = minivm-jit ] && engine=jit
            (cd "$work" && /usr/bin/time -f '%U %S' -o "$times" timeout "$limit" "$minivm" run -m 32 --fda "$img" --boot a \
                --set machine.cpu-engine=$engine --serial stdio --until ' END' --timeout "$limit" </dev/null >"$out" 2>"$work/err") || status=$? ;;
        bochs)
            sed "s|IMAGE|$img|" "$work/bochsrc" > "$work/bochsrc.run"
            SDL_VIDEODRIVER=dummy /usr/bin/time -f '%U %S' -o "$times" timeout "$limit" bochs -q -f "$work/bochsrc.run" \
                -rc "$work/bochs-debugger.rc" </dev/null >"$out" 2>"$work/err" || status=$? ;;
        qemu*)
            local extra=()
            case "$emu" in
                qemu-icount) extra=(-icount shift=0) ;;
                qemu-singlestep) extra=(-singlestep) ;;
            esac
            /usr/bin/time -f '%U %S' -o "$times" timeout "$limit" qemu-system-i386 -accel tcg "${extra[@]}" -m 32 \
                -display none -serial none -monitor none -bios "$root/firmware/bios.bin" \
                -drive "file=$img,format=raw,if=floppy,readonly=on" -boot a \
                -debugcon stdio -device isa-debug-exit,iobase=0xf4,iosize=1 </dev/null >"$out" 2>"$work/err" || status=$? ;;
    esac
    t1=$(now)
    # The guest's own way out: minivm 0 (--until or HLT with IF=0), Bochs 1 (shutdown-port panic), QEMU 1 (debug-exit 0).
    local want=1; [[ "$emu" == minivm* ]] && want=0
    local line; line=$(grep -a -o 'CPULOOP [^\r]* END' "$out" | head -n1 || true)
    if [ "$status" != "$want" ] || [ -z "$line" ]; then
        echo "bench: $emu with $iters iterations: exit $status (expected $want), report '${line}'" >&2
        tail -n 5 "$work/err" >&2
        return 1
    fi
    local cpu; cpu=$(awk 'END { print $1 + $2 }' "$times")
    echo "$(echo "$t1 - $t0" | bc) $cpu $line"
}

# instructions LINE ITERATIONS: guest instructions the loop executed (13 per iteration + EBP fall-throughs).
instructions() {
    local ebp; ebp=$(sed -n 's/.*EBP=\([0-9A-F]*\).*/\1/p' <<<"$1")
    echo $((13 * $2 + 16#$ebp))
}

declare -A report                      # iterations -> the CPULOOP line every emulator must agree on
declare -A mips cpumips

# measure EMULATOR LABEL SCALE: best-of-REPEAT wall and CPU seconds for SCALE*N and 3*SCALE*N iterations; records
# MIPS and prints the row. QEMU's JIT gets SCALE 10, so that its difference is seconds long too.
measure() {
    local emu="$1" label="$2" scale="$3" best_small="" best_large="" cpu_small="" cpu_large=""
    local lo=$((scale * n)) hi=$((3 * scale * n))
    for iters in "$lo" "$hi"; do
        local img; img=$(image "$iters")
        for _ in $(seq 1 "$repeat"); do
            local wall cpu rest
            read -r wall cpu rest < <(run_once "$emu" "$img" "$iters" || echo "fail")
            [ "$wall" = fail ] && exit 1
            if [ -z "${report[$iters]:-}" ]; then report[$iters]="$rest"
            elif [ "${report[$iters]}" != "$rest" ]; then
                echo "bench: $emu printed '$rest' for $iters iterations, others '${report[$iters]}'" >&2; exit 1
            fi
            if [ "$iters" = "$lo" ]; then
                best_small=$(printf '%s\n' $best_small "$wall" | sort -g | head -n1)
                cpu_small=$(printf '%s\n' $cpu_small "$cpu" | sort -g | head -n1)
            else
                best_large=$(printf '%s\n' $best_large "$wall" | sort -g | head -n1)
                cpu_large=$(printf '%s\n' $cpu_large "$cpu" | sort -g | head -n1)
            fi
        done
    done
    local di; di=$(( $(instructions "${report[$hi]}" "$hi") - $(instructions "${report[$lo]}" "$lo") ))
    local dw dc; dw=$(echo "$best_large - $best_small" | bc -l); dc=$(echo "$cpu_large - $cpu_small" | bc -l)
    mips[$emu]=$(echo "scale=1; $di / $dw / 1000000" | bc -l)
    cpumips[$emu]=$(echo "scale=1; $di / $dc / 1000000" | bc -l)
    printf '%-34s %10d %9.2f %9.2f %9.2f %14d %8.1f %10.1f\n' "$label" "$lo" "$best_small" "$best_large" "$dw" "$di" "${mips[$emu]}" "${cpumips[$emu]}"
}

echo "cpu-vs-bochs: N = $n iterations (QEMU TCG and icount: 10N) and 3N, best of $repeat; $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at start"
if [ -n "${MINIVM:-}" ]; then echo "minivm: $minivm"
else echo "minivm: this tree at $(git -C "$root" describe --always --dirty 2>/dev/null || echo '?')"; fi
echo "peers: $(bochs --help 2>&1 | grep -o 'Bochs x86 Emulator [0-9.]*' | head -n1), $(qemu-system-i386 --version | head -n1)"
printf '%-34s %10s %9s %9s %9s %14s %8s %10s\n' emulator N "N wall" "3N wall" "Δ wall" "Δ instr" MIPS "MIPS/CPU-s"
measure minivm "minivm (interpreter, C#)" 1
measure minivm-jit "minivm (jit: blocks -> IL)" 1
measure bochs "bochs 2.7 (interpreter, C++)" 1
measure qemu "qemu-system-i386 -accel tcg (JIT)" 10
measure qemu-icount "qemu tcg -icount shift=0" 10
measure qemu-singlestep "qemu tcg -singlestep (1 insn/TB)" 1
for iters in $(printf '%s\n' "${!report[@]}" | sort -n); do printf 'guest report, %10d: %s\n' "$iters" "${report[$iters]}"; done
ratio() { printf '%.2f' "$(echo "${mips[${2:-minivm}]} / ${mips[$1]}" | bc -l)"; }
cratio() { printf '%.2f' "$(echo "${cpumips[${2:-minivm}]} / ${cpumips[$1]}" | bc -l)"; }
echo "ratios: MiniVM's MIPS / the peer's (above 1: MiniVM is faster)"
echo "MiniVM/Bochs                 $(ratio bochs) (wall MIPS), $(cratio bochs) (MIPS per CPU-second)"
echo "MiniVM/QEMU TCG              $(ratio qemu) (wall MIPS), $(cratio qemu) (MIPS per CPU-second)"
echo "MiniVM/QEMU TCG icount       $(ratio qemu-icount) (wall MIPS), $(cratio qemu-icount) (MIPS per CPU-second)"
echo "MiniVM/QEMU TCG singlestep   $(ratio qemu-singlestep) (wall MIPS), $(cratio qemu-singlestep) (MIPS per CPU-second)"
echo "MiniVM jit/interpreter        $(ratio minivm minivm-jit) (wall MIPS), $(cratio minivm minivm-jit) (MIPS per CPU-second)"
echo "MiniVM jit/Bochs              $(ratio bochs minivm-jit) (wall MIPS), $(cratio bochs minivm-jit) (MIPS per CPU-second)"
echo "MiniVM jit/QEMU TCG           $(ratio qemu minivm-jit) (wall MIPS), $(cratio qemu minivm-jit) (MIPS per CPU-second)"
echo "load average $(cut -d' ' -f1-3 /proc/loadavg) at end"
