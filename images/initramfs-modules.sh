# Sourced by build-linux.sh and build-iso.sh: copies kernel modules into a busybox initramfs tree in load order.
# initramfs_add_modules TREE MODDIR NAME...: each named module, and before it (depth first) every module it depends
# on (its modinfo `depends=`), is copied from MODDIR to TREE/lib/modules/ and its file name appended to
# TREE/etc/modules.load, which the initramfs's /init loads line by line (a line may add module parameters after the
# file name: `libata.ko dma=0`). Modules already in TREE/lib/modules are left as they are.
initramfs_add_modules() {
    local tree=$1 moddir=$2 f n
    shift 2
    declare -gA initramfs_seen=()
    for f in "$tree"/lib/modules/*.ko; do
        [ -e "$f" ] || continue
        n="$(basename "$f" .ko)"
        initramfs_seen[${n//-/_}]=1
    done
    touch "$tree/etc/modules.load"
    for n in "$@"; do initramfs_add_module "$tree" "$moddir" "$n"; done
}

initramfs_add_module() {
    local tree=$1 moddir=$2 name="${3//-/_}" f d deps
    [ -n "${initramfs_seen[$name]:-}" ] && return 0
    initramfs_seen[$name]=1
    f="$(find "$moddir" -name "${name}.ko" -o -name "${3}.ko" | head -n1)"
    [ -n "$f" ] || { echo "images: module $3 not found in $moddir" >&2; exit 1; }
    deps="$(grep -a -o 'depends=[^[:cntrl:]]*' "$f" | head -n1 | cut -d= -f2)"
    for d in ${deps//,/ }; do initramfs_add_module "$tree" "$moddir" "$d"; done
    cp "$f" "$tree/lib/modules/"
    basename "$f" >> "$tree/etc/modules.load"
}
