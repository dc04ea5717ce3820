# Sourced by build-vm.sh and build-exim4.sh: builds a layer of the lane's
# tree once, as an overlayfs upper directory installed by apt in a chroot
# of an overlay over lower directories. A layer lives in $cache/NAME-HASH
# and appears complete (a `complete` file) or not at all; one build at a
# time holds the builds' lock ($cache/.lock, as build-rootfs.sh).
#
#   layer_begin DIR LOWER   prints DIR and exits when it is complete; else
#                           takes the lock, and mounts DIR/merged (DIR/layer
#                           over LOWER, a colon-separated list) with /proc;
#                           whatever happens after, nothing stays mounted and
#                           a half-built DIR goes
#   in_tree CMD...          runs CMD in that tree (noninteractive, C.UTF-8)
#   apt_install PKG...      apt-get update and install (three attempts), clean
#   layer_end               unmounts and marks DIR complete
# The caller sets `name` (for messages) and `cache`.

layer_begin() {
    dir=$1
    local lower=$2
    if [ -f "$dir/complete" ]; then
        echo "$dir"
        exit
    fi
    mkdir -p "$cache"
    exec 9>"$cache/.lock"
    flock 9
    if [ -f "$dir/complete" ]; then
        echo "$dir"
        exit
    fi
    started=$SECONDS
    rm -rf "$dir"
    mkdir -p "$dir/layer" "$dir/work" "$dir/merged"
    trap layer_cleanup EXIT
    trap 'exit 130' INT TERM
    mount -t overlay overlay -o "lowerdir=$lower,upperdir=$dir/layer,workdir=$dir/work" "$dir/merged"
    # Package scripts (update-initramfs, depmod) want /proc; the tree has
    # its own device nodes (mmdebstrap made them).
    mount -t proc proc "$dir/merged/proc"
}

# Removal never crosses into another file system (a /proc still mounted).
layer_cleanup() {
    if mountpoint -q "$dir/merged/proc"; then umount -l "$dir/merged/proc"; fi
    if mountpoint -q "$dir/merged"; then umount -l "$dir/merged"; fi
    rmdir "$dir/merged" 2>/dev/null || true
    rm -rf --one-file-system "${dir:?}/work"
    [ -f "$dir/complete" ] || rm -rf --one-file-system "${dir:?}"
}

in_tree() {
    chroot "$dir/merged" env DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 "$@"
}

apt_install() {
    local attempt
    for attempt in 1 2 3; do
        if in_tree apt-get -q -o Acquire::Retries=5 -o Acquire::http::Timeout=30 update >&2 &&
            in_tree apt-get -q -y --no-install-recommends -o Acquire::Retries=5 install "$@" >&2; then
            break
        fi
        [ "$attempt" = 3 ] && { echo "$name: apt-get failed 3 times" >&2; exit 1; }
        sleep 10
    done
    in_tree apt-get clean
    rm -rf "$dir/merged/var/lib/apt/lists/"*
}

layer_end() {
    umount "$dir/merged/proc"
    umount "$dir/merged"
    touch "$dir/complete"
    echo "$name: built $dir in $((SECONDS - started)) s" >&2
    echo "$dir"
}
