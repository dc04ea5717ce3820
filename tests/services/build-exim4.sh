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
# under exim4-HASH, a hash of the VM layer's hash, this script and
# layer.sh. Needs root and the network to Debian's archive on a cold cache.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

packages=(exim4-daemon-light)

[ "$(id -u)" = 0 ] || { echo "build-exim4.sh: needs root" >&2; exit 1; }
name=build-exim4.sh
# shellcheck source=layer.sh
. "$here/layer.sh"

vm=$("$here/build-vm.sh")
rootfs=$(cat "$vm/rootfs")
hash=$({ basename "$vm"; printf '%s\n' "${packages[@]}"; cat "${BASH_SOURCE[0]}" "$here/layer.sh"; } | sha256sum | cut -c1-16)
cache=${CAPCHECK_SERVICES_CACHE:-/var/cache/capcheck/services}
lower=$vm/layer:$rootfs
layer_begin "$cache/exim4-$hash" "$lower"

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
apt_install "${packages[@]}"
rm "$dir/merged/usr/sbin/policy-rc.d"
# No native unit: systemd runs the init script through the generator.
if [ -e "$dir/merged/lib/systemd/system/exim4.service" ] || [ ! -x "$dir/merged/etc/init.d/exim4" ]; then
    echo "build-exim4.sh: expected /etc/init.d/exim4 and no exim4.service" >&2
    exit 1
fi
echo "$lower" >"$dir/lower"
layer_end
