#!/usr/bin/env bash
# Runs the systemd-analyze of an oracle tree (tests/oracles/build.sh) on
# files of this machine:
#
#   tests/oracles/analyze.sh TREE [--bind DIR]... -- ARGS...
#
# In a private mount namespace, the tree's root gets /proc (257 reads
# cap_last_cap there), /sys and /dev, a /tmp of its own, and each DIR at the
# same absolute path, so that unit paths and drop-in directories read the
# same inside as outside. Nothing is left mounted afterwards.
set -euo pipefail
if [ -z "${CAPCHECK_ORACLE_NAMESPACE:-}" ]; then
    CAPCHECK_ORACLE_NAMESPACE=1 exec unshare --mount --propagation private "$0" "$@"
fi
root=$1/root
shift
binds=()
while [ "${1:-}" = --bind ]; do
    binds+=("$2")
    shift 2
done
[ "${1:-}" = -- ] && shift
mount --rbind /proc "$root/proc"
mount --rbind /sys "$root/sys"
mount --rbind /dev "$root/dev"
mount -t tmpfs tmpfs "$root/tmp"
for dir in "${binds[@]}"; do
    # Directories under /tmp get their mount point in the private /tmp;
    # others once in the tree (an empty directory).
    mkdir -p "$root$dir"
    mount --rbind "$dir" "$root$dir"
done
exec chroot "$root" systemd-analyze "$@"
