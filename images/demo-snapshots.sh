#!/usr/bin/env bash
# Redirect-on-write, step by step (issue #8). Boots a guest from an iROW disk several times; each run types
# commands that write files, then the allocation picture is saved (`minivm img map --png`) and a snapshot is
# taken (`minivm img snapshot -c`). In the pictures every cluster is coloured by the state that holds it: a
# snapshot's clusters keep their colour, and new writes — including rewrites of old files — land in the newest
# state's colour. The last step goes back to an earlier snapshot and writes again, which makes a branch.
#
#   images/demo-snapshots.sh              FreeDOS (images/build-freedos.sh builds its disk)
#   GUEST=linux images/demo-snapshots.sh  the Linux guest (images/build-linux.sh), once it boots
#
# Output: images/out/demo-$GUEST/step-N.png, disk.irow and its state files, info.txt (snapshot tree).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
GUEST="${GUEST:-freedos}"
out="$here/out/demo-$GUEST"
minivm="$root/src/MiniVM.Cli/bin/Release/net10.0/minivm"
[ -x "$minivm" ] || dotnet build "$root/src/MiniVM.Cli" -c Release --nologo -v q >/dev/null

# Per guest: the source disk, the text that means "the commands are done", and the commands of each step.
# --sendkeys escapes: \n is Enter, \\ a backslash; any other backslash is itself (so C:\W\BIG1.BIN is typed as is).
case "$GUEST" in
  freedos)
    "$here/build-freedos.sh"
    source_disk="$here/out/freedos.irow"
    done_text() { echo "file(s)"; }
    # Step 1: new files (a 440 KiB file built by doubling, and a copy of it). Step 2: rewrite the big file, delete its copy,
    # append to a log (/Y: FreeCOM would ask before overwriting): the FAT, the directory and the rewritten file move to the new state. Step 3 runs after going
    # back to step1: a different future from the same past.
    # DOS lines stop at 127 characters, so the big file is built by doubling.
    step_keys=(
      'MD C:\W\nCOPY /B C:\KERNEL.SYS+C:\COMMAND.COM C:\W\A.BIN\nCOPY /B C:\W\A.BIN+C:\W\A.BIN C:\W\B.BIN\nCOPY /B C:\W\B.BIN+C:\W\B.BIN C:\W\BIG1.BIN\nCOPY C:\W\BIG1.BIN C:\W\BIG2.BIN\nDIR C:\W\n'
      'COPY /Y /B C:\COMMAND.COM+C:\KERNEL.SYS C:\W\BIG1.BIN\nDEL C:\W\BIG2.BIN\nECHO step two >> C:\W\LOG.TXT\nDIR C:\W\n'
      'COPY /B C:\W\B.BIN+C:\W\B.BIN+C:\W\B.BIN C:\W\BRANCH.BIN\nDIR C:\W\n'
    )
    ;;
  linux)
    [ -s "$here/out/linux.raw" ] || "$here/build-linux.sh"
    source_disk="$here/out/linux.raw"
    # The typed line shows STEP-$((N))-DONE; only the output of echo reads STEP-N-DONE.
    done_text() { echo "STEP-$1-DONE"; }
    step_keys=(
      'dd if=/dev/urandom of=/big1 bs=64k count=16 && cp /big1 /big2 && sync && echo STEP-$((1))-DONE\n'
      'dd if=/dev/urandom of=/big1 bs=64k count=8 conv=notrunc && rm /big2 && sync && echo STEP-$((2))-DONE\n'
      'dd if=/dev/urandom of=/branch bs=64k count=32 && sync && echo STEP-$((3))-DONE\n'
    )
    ;;
  *) echo "demo-snapshots: unknown GUEST '$GUEST' (freedos or linux)" >&2; exit 64 ;;
esac

rm -rf "$out"
mkdir -p "$out"
disk="$out/disk.irow"
# 4 KiB clusters: a file system's writes then stay apart from the clusters its old files live in, so the pictures
# show which files moved to the new state (with 64 KiB, new files share clusters with old ones and copy them up).
"$minivm" img convert -O irow -o cluster_size=4k "$source_disk" "$disk"

map() { # map N: picture of the current allocation
  "$minivm" img map --png "$out/step-$1.png" "$disk"
}

run() { # run N: boot, type step N's commands, stop when they are done
  echo "demo-snapshots: step $1: booting $GUEST and typing: ${step_keys[$(($1 - 1))]}"
  "$minivm" run --hda "$disk" --serial none --timeout 600 --screen-dump "$out/screen-$1.txt" \
    --sendkeys "${step_keys[$(($1 - 1))]}" --until "$(done_text "$1")" >/dev/null
}

# Step 0: the installed system, frozen as snapshot "installed"; everything belongs to one state.
map 0
"$minivm" img snapshot -c installed "$disk"

# Steps 1 and 2: each run writes into a fresh current state, on top of the snapshots.
run 1; map 1; "$minivm" img snapshot -c step1 "$disk"
run 2; map 2; "$minivm" img snapshot -c step2 "$disk"

# Step 3: back to step1 (step2's writes leave the current view), then a different write: a branch.
"$minivm" img snapshot -a step1 "$disk"
map 3a
run 3; map 3

"$minivm" img info "$disk" | tee "$out/info.txt"
echo "demo-snapshots: pictures in $out: $(cd "$out" && ls step-*.png | tr '\n' ' ')"
