#!/usr/bin/env bash
# Builds (once) the exim4 layer of the real-systemd lane: Debian 12's default
# MTA, exim4-daemon-light, installed by apt over the VM tree (build-vm.sh's
# layer over build-rootfs.sh's tree), where it replaces postfix (both are the
# mail-transport-agent). exim4 ships only an /etc/init.d script: systemd runs
# it through the unit systemd-sysv-generator writes at each boot, which is
# what the exim4 lane (run.sh --modes exim4) is about. Kept apart so that the
# lane's own trees stay as they are. Prints the layer's directory on stdout
# (progress on stderr); it holds
#   layer/    an overlayfs upper directory to put over the VM layer and tree
#   lower     the lower directories it was built over, for overlayfs
#
# Usage: tests/services/build-exim4.sh
# Cached in $CAPCHECK_SERVICES_CACHE (default /var/cache/capcheck/services)
# under exim4-HASH, a hash of the VM layer's hash and this script. Needs
# root and the network to Debian's archive on a cold cache.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

packages=(exim4-daemon-light)

[ "$(id -u)" = 0 ] || { echo "build-exim4.sh: needs root" >&2; exit 1; }

vm=$("$here/build-vm.sh")
rootfs=$(cat "$vm/rootfs")
hash=$({ basename "$vm"; printf '%s\n' "${packages[@]}"; cat "${BASH_SOURCE[0]}"; } | sha256sum | cut -c1-16)
cache=${CAPCHECK_SERVICES_CACHE:-/var/cache/capcheck/services}
dir=$cache/exim4-$hash
if [ -f "$dir/complete" ]; then
    echo "$dir"
    exit
fi

mkdir -p "$cache"
# One build at a time (the same lock as the other builds, done by now).
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
cleanup() {
    if mountpoint -q "$dir/merged/proc"; then umount -l "$dir/merged/proc"; fi
    if mountpoint -q "$dir/merged"; then umount -l "$dir/merged"; fi
    rmdir "$dir/merged" 2>/dev/null || true
    rm -rf --one-file-system "${dir:?}/work"
    [ -f "$dir/complete" ] || rm -rf --one-file-system "${dir:?}"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

lower=$vm/layer:$rootfs
mount -t overlay overlay -o "lowerdir=$lower,upperdir=$dir/layer,workdir=$dir/work" "$dir/merged"
mount -t proc proc "$dir/merged/proc"

in_tree() {
    chroot "$dir/merged" env DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 "$@"
}
# Debian's default answers, written down: local delivery only (the probe
# user's mail lands in /var/mail/probe), on loopback, mail name lane.test.
in_tree debconf-set-selections <<'EOF'
exim4-config exim4/dc_eximconfig_configtype select local delivery only; not on a network
exim4-config exim4/mailname string lane.test
exim4-config exim4/dc_local_interfaces string 127.0.0.1 ; ::1
exim4-config exim4/dc_other_hostnames string lane.test
exim4-config exim4/use_split_config boolean false
EOF
# Nothing starts in the chroot while installing (a daemon would hold the
# overlay).
printf '#!/bin/sh\nexit 101\n' >"$dir/merged/usr/sbin/policy-rc.d"
chmod 755 "$dir/merged/usr/sbin/policy-rc.d"
echo "build-exim4.sh: installing ${packages[*]} over $rootfs (postfix goes)" >&2
for attempt in 1 2 3; do
    if in_tree apt-get -q -o Acquire::Retries=5 -o Acquire::http::Timeout=30 update >&2 &&
        in_tree apt-get -q -y --no-install-recommends -o Acquire::Retries=5 install "${packages[@]}" >&2; then
        break
    fi
    [ "$attempt" = 3 ] && { echo "build-exim4.sh: apt-get failed 3 times" >&2; exit 1; }
    sleep 10
done
in_tree apt-get clean
rm -rf "$dir/merged/var/lib/apt/lists/"*
rm "$dir/merged/usr/sbin/policy-rc.d"
# No native unit: systemd runs the init script through the generator.
if [ -e "$dir/merged/lib/systemd/system/exim4.service" ] || [ ! -x "$dir/merged/etc/init.d/exim4" ]; then
    echo "build-exim4.sh: expected /etc/init.d/exim4 and no exim4.service" >&2
    exit 1
fi
umount "$dir/merged/proc"
umount "$dir/merged"
echo "$lower" >"$dir/lower"
touch "$dir/complete"
echo "build-exim4.sh: built $dir in $((SECONDS - started)) s" >&2
echo "$dir"
