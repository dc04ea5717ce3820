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
# under vm-HASH, a hash of the tree's own hash, this script and layer.sh
# (the building it shares with build-exim4.sh). Needs root and the network
# to Debian's archive on a cold cache.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# What the VM adds to the tree: a kernel that boots on qemu's virtio disks
# and the initramfs that mounts the root, with kmod for its modules.
vm_packages=(linux-image-cloud-amd64 initramfs-tools kmod)

[ "$(id -u)" = 0 ] || { echo "build-vm.sh: needs root" >&2; exit 1; }
name=build-vm.sh
# shellcheck source=layer.sh
. "$here/layer.sh"

rootfs=$("$here/build-rootfs.sh")
tree_hash=$(basename "$(dirname "$rootfs")")
hash=$({ echo "$tree_hash"; printf '%s\n' "${vm_packages[@]}"; cat "${BASH_SOURCE[0]}" "$here/layer.sh"; } | sha256sum | cut -c1-16)
cache=${CAPCHECK_SERVICES_CACHE:-/var/cache/capcheck/services}
layer_begin "$cache/vm-$hash" "$rootfs"

echo "build-vm.sh: installing ${vm_packages[*]} over $rootfs" >&2
apt_install "${vm_packages[@]}"

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
echo "$rootfs" >"$dir/rootfs"
layer_end
