# Sourced by the bench scripts: `minivm_command REPO WORK` sets the array `minivm` to the command that runs MiniVM's
# CLI — $MINIVM when set (e.g. "dotnet /path/minivm.dll"), else a fresh Release build of REPO/src/MiniVM.Cli into
# WORK/bin, so a benchmark never measures a stale binary.
minivm_command() {
    local repo=$1 work=$2
    if [[ -z "${MINIVM:-}" ]]; then
        echo "building minivm (Release) ..." >&2
        dotnet build "$repo/src/MiniVM.Cli" -c Release -o "$work/bin" -nologo >"$work/build.log" 2>&1 \
            || { cat "$work/build.log" >&2; exit 1; }
        MINIVM="dotnet $work/bin/minivm.dll"
    fi
    read -r -a minivm <<<"$MINIVM"
}
