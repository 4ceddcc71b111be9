#!/usr/bin/env bash
# Redirect-on-write, step by step (issue #8), on the default VM (vm.json: Debian Linux on a virtio-blk iROW disk and
# an iROW data disk mounted on /mnt/data). One boot: the script types shell commands on the guest's serial console
# (monitor `sendserial`), and after each step pauses the VM, takes a real snapshot with VM state (monitor `savevm`)
# and saves the allocation picture of the data disk (`minivm img map --png`). The last step goes back with
# `loadvm step1` — the guest's shell is back in the past — and writes something else: a branch.
#
# In the pictures every 4 KiB cluster of the data disk is coloured by the iROW state that holds it (irow.md §5.4):
# a snapshot's clusters keep their colour, new writes — rewrites of old file data included — land in the newest
# state's colour. The root file system is an initramfs, so all the guest's writes go to the data disk.
#
#   images/demo-snapshots.sh                 Linux, one boot, about 3 minutes (images/build-linux.sh builds the disks)
#   GUEST=freedos images/demo-snapshots.sh   FreeDOS: one boot per step, disk-only snapshots taken offline
#
# Output in images/out/demo-$GUEST/ (or $DEMO_OUT): step-N.png, tree.png (the snapshot tree), report.html (the
# explorer page), the disks and their state files, serial.log (what the guest printed), monitor.log (every monitor
# command and answer), info.txt (snapshot trees).
# MINIVM names the minivm executable (default: the Release build, built when missing); MONITOR_PORT the monitor's
# loopback port (default: a free one).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
GUEST="${GUEST:-linux}"
out="${DEMO_OUT:-$here/out/demo-$GUEST}"
minivm="${MINIVM:-$root/src/MiniVM.Cli/bin/Release/net10.0/minivm}"
if [ ! -x "$minivm" ]; then dotnet build "$root/src/MiniVM.Cli" -c Release --nologo -v q >/dev/null; fi

say() { echo "demo-snapshots: $*"; }
fail() { echo "demo-snapshots: $*" >&2; exit 1; }

# The whole story in two more files beside the step pictures: tree.png, the snapshot tree (every state with what it
# owns), and report.html, the explorer page (click a state to see its clusters, hover a cell for where it lives).
pictures() {
    "$minivm" img snapshot -l --png "$out/tree.png" "$1" >/dev/null
    "$minivm" img explore "$1" -o "$out/report.html" >/dev/null
    say "snapshot tree in $out/tree.png, explorer page in $out/report.html"
}

# ---------------------------------------------------------------------------------------------------------- Linux
linux_demo() {
    "$here/build-linux.sh"
    rm -rf "$out"
    mkdir -p "$out"
    local serial="$out/serial.log" monlog="$out/monitor.log" vm_pid mon serial_pos=0 answer
    # Fresh copies without the snapshots a user's own runs may have left: the root disk as built, the data disk from
    # its freshly formatted raw original when there is one, with 4 KiB clusters so each file's clusters stay apart in
    # the picture (with 64 KiB clusters, small FAT and directory writes share clusters with file data).
    local data_source="$here/out/data.raw"
    [ -s "$data_source" ] || data_source="$here/out/data.irow"
    "$minivm" img convert -O irow "$here/out/linux.irow" "$out/linux.irow"
    "$minivm" img convert -O irow -o cluster_size=4k "$data_source" "$out/data.irow"
    local port="${MONITOR_PORT:-}"
    if [ -z "$port" ]; then
        for port in $(shuf -i 20000-60000 -n 20); do
            (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || break
        done
    fi

    # stdin from /dev/null: the guest is driven through the monitor only, never by the keyboard of whoever runs this.
    say "booting Linux (serial console in $serial, monitor on 127.0.0.1:$port)"
    "$minivm" run --config "$root/vm.json" \
        --set "drives.0.file=$out/linux.irow" --set "drives.1.file=$out/data.irow" \
        --serial "file:$serial" --monitor "tcp:127.0.0.1:$port" --clock virtual --timeout 3600 \
        </dev/null >"$out/minivm.out" 2>"$out/minivm.err" &
    vm_pid=$!
    trap 'kill '"$vm_pid"' 2>/dev/null || true' EXIT

    # The monitor answers each line with its answer (if any) and the prompt "(minivm) ".
    mon_read() {
        local buf="" chunk
        while [[ "$buf" != *"(minivm)" ]]; do
            IFS= read -r -d ')' -t 600 -u "$mon" chunk || fail "the monitor stopped answering (see $out/minivm.err)"
            buf+="$chunk)"
        done
        IFS= read -r -n 1 -t 5 -u "$mon" chunk || true
        answer="${buf%(minivm)}"
        answer="${answer//$'\r'/}"
        answer="${answer%$'\n'}"
    }
    mon() { # mon COMMAND: run one monitor command; its answer is in $answer, both are logged
        printf '%s\n' "$*" >&"$mon"
        mon_read
        printf '(minivm) %s\n' "$*" >>"$monlog"
        [ -z "$answer" ] || printf '%s\n' "$answer" >>"$monlog"
        case "$answer" in Error:*|unknown\ command*) fail "monitor: $* -> $answer";; esac
    }
    seen_serial() { # seen_serial TEXT SECONDS: whether the guest prints TEXT in time (in output newer than the last match)
        local deadline=$((SECONDS + $2))
        until tail -c "+$((serial_pos + 1))" "$serial" 2>/dev/null | grep -qF -- "$1"; do
            kill -0 "$vm_pid" 2>/dev/null || fail "minivm ended before '$1' appeared: $(cat "$out/minivm.err")"
            [ "$SECONDS" -lt "$deadline" ] || return 1
            sleep 0.5
        done
        serial_pos=$(stat -c %s "$serial")
    }
    wait_serial() { seen_serial "$1" "$2" || fail "'$1' did not appear within $2 s (see $serial)"; }
    snapshot() { # snapshot N: pause, savevm stepN, picture of the data disk, resume
        mon stop
        mon savevm "step$1"
        say "savevm step$1: $answer"
        # -U: the VM holds the disk; a paused guest makes no writes, so a shared read sees a consistent image (as qemu-img -U).
        "$minivm" img map -U --png "$out/step-$1.png" "$out/data.irow" >/dev/null
        mon cont
    }
    # Each step's line ends by printing STEP-N-DONE; the echoed command line shows STEP-$((N))-DONE, which does not match.
    step() { # step N COMMANDS: type COMMANDS on the guest's shell and wait until they are done
        say "step $1: $2"
        mon sendserial "$2 && echo STEP-\$(($1))-DONE\\n"
        wait_serial "STEP-$1-DONE" 600
    }

    until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
        kill -0 "$vm_pid" 2>/dev/null || fail "minivm did not start: $(cat "$out/minivm.err")"
        sleep 0.2
    done
    exec {mon}<>"/dev/tcp/127.0.0.1/$port"
    mon_read # the banner
    : >"$monlog"

    wait_serial "MINIVM-LINUX-READY" 1800 # about 2 minutes on an idle two-core machine
    say "$(grep -a -o 'MINIVM-LINUX-READY.*' "$serial" | head -n1 | tr -d '\r'), waiting for the shell on ttyS0"
    # The shell on ttyS0 starts after the marker; bytes that arrive before it opens the port are dropped, so ask until
    # it answers.
    local up=""
    for _ in $(seq 30); do
        mon sendserial 'echo SHELL-$((0))-UP\n'
        if seen_serial "SHELL-0-UP" 10; then up=1; break; fi
    done
    [ -n "$up" ] || fail "the guest's shell on ttyS0 never answered (see $serial)"

    # Step 0: the freshly booted guest. Mounting the FAT marked it in use: the first write of the current state.
    snapshot 0
    # Step 1: new files.
    step 1 'cd /mnt/data && dd if=/dev/urandom of=big1 bs=64k count=32 2>/dev/null && cp big1 big2 && echo first >notes.txt && sync && ls -l'
    snapshot 1
    # Step 2: rewrite the middle of big1 in place, delete big2, append to notes.txt.
    step 2 'dd if=/dev/urandom of=big1 bs=64k seek=8 count=8 conv=notrunc 2>/dev/null && rm big2 && echo second >>notes.txt && sync && ls -l'
    snapshot 2
    # Step 3: back to step 1 — disks and guest. The shell is where it was after step 1 (big2 exists again, notes.txt
    # says only "first"); what it writes now lands in a new state beside step2: a branch.
    mon stop
    mon loadvm step1
    say "loadvm step1: the guest is back at the end of step 1"
    "$minivm" img map -U --png "$out/step-3a.png" "$out/data.irow" >/dev/null
    mon cont
    step 3 'echo AFTER-LOADVM: && ls && cat notes.txt && dd if=/dev/urandom of=branch bs=64k count=16 2>/dev/null && sync && ls -l'
    snapshot 3
    mon info snapshots
    printf '%s\n' "$answer"
    # quit ends the run without an answer or a prompt.
    printf 'quit\n' >&"$mon"
    printf '(minivm) quit\n' >>"$monlog"
    wait "$vm_pid" || fail "minivm exited with $?: $(cat "$out/minivm.err")"
    trap - EXIT

    { echo "== data disk"; "$minivm" img info "$out/data.irow"; echo; echo "== root disk (holds the VM state)"; "$minivm" img info "$out/linux.irow"; } >"$out/info.txt"
    cat "$out/info.txt"
    pictures "$out/data.irow"
    say "pictures in $out: $(cd "$out" && ls step-*.png | tr '\n' ' ')"
}

# --------------------------------------------------------------------------------------------------------- FreeDOS
# One boot per step (FreeDOS has no serial shell to drive): each run types DOS commands, then the picture is saved
# and a disk-only snapshot is taken offline (`minivm img snapshot -c`).
freedos_demo() {
    "$here/build-freedos.sh"
    rm -rf "$out"
    mkdir -p "$out"
    local disk="$out/disk.irow"
    # --sendkeys escapes: \n is Enter, \\ a backslash; any other backslash is itself (C:\W\BIG1.BIN is typed as is).
    # Step 1: new files (a 440 KiB file built by doubling — DOS lines stop at 127 characters — and a copy). Step 2:
    # rewrite the big file, delete its copy, append to a log (/Y: FreeCOM would ask before overwriting). Step 3 runs
    # after going back to step1: a different future from the same past.
    local step_keys=(
      'MD C:\W\nCOPY /B C:\KERNEL.SYS+C:\COMMAND.COM C:\W\A.BIN\nCOPY /B C:\W\A.BIN+C:\W\A.BIN C:\W\B.BIN\nCOPY /B C:\W\B.BIN+C:\W\B.BIN C:\W\BIG1.BIN\nCOPY C:\W\BIG1.BIN C:\W\BIG2.BIN\nDIR C:\W\n'
      'COPY /Y /B C:\COMMAND.COM+C:\KERNEL.SYS C:\W\BIG1.BIN\nDEL C:\W\BIG2.BIN\nECHO step two >> C:\W\LOG.TXT\nDIR C:\W\n'
      'COPY /B C:\W\B.BIN+C:\W\B.BIN+C:\W\B.BIN C:\W\BRANCH.BIN\nDIR C:\W\n'
    )
    "$minivm" img convert -O irow -o cluster_size=4k "$here/out/freedos.irow" "$disk"
    map() { "$minivm" img map --png "$out/step-$1.png" "$disk" >/dev/null; }
    run() {
        say "step $1: booting FreeDOS and typing: ${step_keys[$(($1 - 1))]}"
        "$minivm" run --hda "$disk" --serial none --timeout 600 --screen-dump "$out/screen-$1.txt" \
            --sendkeys "${step_keys[$(($1 - 1))]}" --until "file(s)" >/dev/null
    }
    map 0; "$minivm" img snapshot -c installed "$disk"
    run 1; map 1; "$minivm" img snapshot -c step1 "$disk"
    run 2; map 2; "$minivm" img snapshot -c step2 "$disk"
    "$minivm" img snapshot -a step1 "$disk"
    map 3a
    run 3; map 3
    "$minivm" img info "$disk" | tee "$out/info.txt"
    pictures "$disk"
    say "pictures in $out: $(cd "$out" && ls step-*.png | tr '\n' ' ')"
}

case "$GUEST" in
    linux) linux_demo ;;
    freedos) freedos_demo ;;
    *) fail "unknown GUEST '$GUEST' (linux or freedos)" ;;
esac
