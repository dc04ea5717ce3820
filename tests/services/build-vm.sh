#!/usr/bin/env bash
# Builds (once) what the lane's qemu boots need on top of the nspawn tree
# (build-rootfs.sh): a layer with Debian's cloud kernel, its initramfs and
# kmod, kept apart so that the nspawn tree's cache stays as it is. Prints
# the layer's directory on stdout (progress on stderr); it holds
#   layer/    an overlayfs upper directory to put over the tree
#   vmlinuz   the kernel, initrd.img its initramfs (copied out of the layer)
#
# Usage: tests/services/build-vm.sh
# Cached in $CAPCHECK_SERVICES_CACHE (default /var/cache/capcheck/services)
# under vm-HASH, a hash of the tree's own hash and this script. Needs root
# and the network to Debian's archive on a cold cache.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# What the VM adds to the tree: a kernel that boots on qemu's virtio disks
# and the initramfs that mounts the root, with kmod for its modules.
vm_packages=(linux-image-cloud-amd64 initramfs-tools kmod)

[ "$(id -u)" = 0 ] || { echo "build-vm.sh: needs root" >&2; exit 1; }

rootfs=$("$here/build-rootfs.sh")
tree_hash=$(basename "$(dirname "$rootfs")")
hash=$({ echo "$tree_hash"; printf '%s\n' "${vm_packages[@]}"; cat "${BASH_SOURCE[0]}"; } | sha256sum | cut -c1-16)
cache=${CAPCHECK_SERVICES_CACHE:-/var/cache/capcheck/services}
dir=$cache/vm-$hash
if [ -f "$dir/complete" ]; then
    echo "$dir"
    exit
fi

mkdir -p "$cache"
# One build at a time (the same lock as build-rootfs.sh, which is done by now).
exec 9>"$cache/.lock"
flock 9
if [ -f "$dir/complete" ]; then
    echo "$dir"
    exit
fi

started=$SECONDS
rm -rf "$dir"
mkdir -p "$dir/layer" "$dir/work" "$dir/merged"
# Whatever happens, nothing stays mounted and a half-built layer goes.
# Removal never crosses into another file system (a /proc still mounted).
cleanup() {
    if mountpoint -q "$dir/merged/proc"; then umount -l "$dir/merged/proc"; fi
    if mountpoint -q "$dir/merged"; then umount -l "$dir/merged"; fi
    rmdir "$dir/merged" 2>/dev/null || true
    rm -rf --one-file-system "${dir:?}/work"
    [ -f "$dir/complete" ] || rm -rf --one-file-system "${dir:?}"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mount -t overlay overlay -o "lowerdir=$rootfs,upperdir=$dir/layer,workdir=$dir/work" "$dir/merged"
# The package scripts (update-initramfs, depmod) want /proc; the tree has
# its own device nodes (mmdebstrap made them).
mount -t proc proc "$dir/merged/proc"

in_tree() {
    chroot "$dir/merged" env DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 "$@"
}
echo "build-vm.sh: installing ${vm_packages[*]} over $rootfs" >&2
for attempt in 1 2 3; do
    if in_tree apt-get -q -o Acquire::Retries=5 -o Acquire::http::Timeout=30 update >&2 &&
        in_tree apt-get -q -y --no-install-recommends -o Acquire::Retries=5 install "${vm_packages[@]}" >&2; then
        break
    fi
    [ "$attempt" = 3 ] && { echo "build-vm.sh: apt-get failed 3 times" >&2; exit 1; }
    sleep 10
done
in_tree apt-get clean
rm -rf "$dir/merged/var/lib/apt/lists/"*

# The VM's own setup, only what a VM needs beyond the container:
# the root file system read-write from /dev/vda (the kernel mounts it rw),
# and no login prompt on the serial console the lane logs.
printf '/dev/vda / ext4 rw,errors=remount-ro 0 1\n' >"$dir/merged/etc/fstab"
ln -sfn /dev/null "$dir/merged/etc/systemd/system/serial-getty@ttyS0.service"

kernel=$(find "$dir/merged/boot" -maxdepth 1 -name 'vmlinuz-*' | sort | tail -n 1)
initrd=$(find "$dir/merged/boot" -maxdepth 1 -name 'initrd.img-*' | sort | tail -n 1)
if [ -z "$kernel" ] || [ -z "$initrd" ]; then
    echo "build-vm.sh: no kernel or initramfs in /boot" >&2
    exit 1
fi
cp "$kernel" "$dir/vmlinuz"
cp "$initrd" "$dir/initrd.img"
basename "$kernel" >"$dir/kernel-version"
umount "$dir/merged/proc"
umount "$dir/merged"
echo "$rootfs" >"$dir/rootfs"
touch "$dir/complete"
echo "build-vm.sh: built $dir ($(cat "$dir/kernel-version")) in $((SECONDS - started)) s" >&2
echo "$dir"
