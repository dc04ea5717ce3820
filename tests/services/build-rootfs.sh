#!/usr/bin/env bash
# Builds (once) the Debian 12 tree the real-systemd lane boots: systemd,
# dbus, every daemon of daemons.tsv and the probes' tools, with nothing
# started at boot. Prints the tree's path on stdout (progress on stderr).
#
# Usage: tests/services/build-rootfs.sh
# The tree is cached in $CAPCHECK_SERVICES_CACHE (default
# /var/cache/capcheck/services), under a hash of this script and the
# package list: outside target/, so a fresh clone finds it, and a changed
# list or setup makes a new tree. Needs root and mmdebstrap.
#
# mmdebstrap calls this script back for its hooks:
#   build-rootfs.sh --essential-hook ROOT   (debconf answers, before packages)
#   build-rootfs.sh --customize-hook ROOT   (probe setup, nothing enabled)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mirror=${CAPCHECK_SERVICES_MIRROR:-http://deb.debian.org/debian}

# Tools every probe or the lane itself uses, beside daemons.tsv's packages.
base_packages=(systemd systemd-sysv dbus libpam-systemd curl netcat-openbsd
    bind9-dnsutils jq procps iproute2 passwd)

# The packages column of daemons.tsv, one per line.
daemon_packages() {
    awk -F'\t' '!/^#/ && $1 != "name" && NF >= 5 { print $3 }' "$here/daemons.tsv" | tr ',' '\n'
}

# The probe user: dovecot and vsftpd log in as it, postfix delivers to it.
probe_user=probe probe_password=capcheck-lane

essential-hook() {
    local root=$1
    # postfix asks at install; "Local only" keeps it on loopback, with no relay.
    chroot "$root" debconf-set-selections <<'EOF'
postfix postfix/main_mailer_type select Local only
postfix postfix/mailname string lane.test
EOF
}

customize-hook() {
    local root=$1
    # Nothing starts at boot: the lane starts each daemon alone (several
    # share port 80 or 53). Only the .wants/.requires links go, so aliases
    # such as syslog.service or sshd.service still resolve.
    find "$root/etc/systemd/system" -mindepth 2 -maxdepth 2 -type l \
        \( -path '*.wants/*' -o -path '*.requires/*' \) -delete
    # No network to wait for in the container.
    ln -sfn /dev/null "$root/etc/systemd/system/systemd-networkd-wait-online.service"
    # A getty would wait on a console the container does not have.
    ln -sfn /dev/null "$root/etc/systemd/system/getty@tty1.service"

    chroot "$root" useradd --create-home --shell /bin/bash "$probe_user"
    echo "$probe_user:$probe_password" | chroot "$root" chpasswd

    # ssh: root logs in with a key made here (host keys were made at install).
    install -d -m 700 "$root/root/.ssh"
    chroot "$root" ssh-keygen -q -t ed25519 -N '' -f /root/.ssh/id_ed25519
    cp "$root/root/.ssh/id_ed25519.pub" "$root/root/.ssh/authorized_keys"

    # Files the probes' jobs touch, writable by every user.
    install -d -m 1777 "$root/srv/probe"

    # cron: one job as root, one as another user (cron must switch users).
    cat >"$root/etc/cron.d/capcheck-lane" <<'EOF'
* * * * * root touch /srv/probe/cron-root
* * * * * nobody touch /srv/probe/cron-nobody
EOF

    # haproxy ships no frontend; this one answers by itself.
    cat >>"$root/etc/haproxy/haproxy.cfg" <<'EOF'

frontend capcheck_lane
	bind :80
	http-request return status 200 content-type text/plain string "capcheck-lane haproxy"
EOF

    # Each DNS server answers a name of its own, so no other can pass its probe.
    echo 'address=/dnsmasq.probe/192.0.2.1' >"$root/etc/dnsmasq.d/capcheck-lane.conf"
    cat >"$root/etc/unbound/unbound.conf.d/capcheck-lane.conf" <<'EOF'
server:
	local-zone: "unbound.probe." static
	local-data: "unbound.probe. A 192.0.2.2"
EOF
    cat >>"$root/etc/bind/named.conf.local" <<'EOF'
zone "bind9.probe" { type master; file "/etc/bind/db.bind9.probe"; };
EOF
    cat >"$root/etc/bind/db.bind9.probe" <<'EOF'
$TTL 60
@	IN SOA	localhost. root.localhost. 1 60 60 60 60
@	IN NS	localhost.
@	IN A	192.0.2.3
EOF

    # cups: a raw queue printing to /dev/null, for the probe's job.
    cat >"$root/etc/cups/printers.conf" <<'EOF'
<Printer lane>
Info capcheck lane
DeviceURI file:///dev/null
State Idle
Accepting Yes
Shared No
</Printer>
EOF
    chroot "$root" chown root:lp /etc/cups/printers.conf
    chmod 600 "$root/etc/cups/printers.conf"

    # chronyd shares the host's clock here: -x, never adjust it. (run.sh
    # still gives the container CAP_SYS_TIME, for chrony.service's
    # ConditionCapability=CAP_SYS_TIME.)
    sed -i 's/^DAEMON_OPTS="-F 1"$/DAEMON_OPTS="-F 1 -x"/' "$root/etc/default/chrony"
    grep -q -- '-x"$' "$root/etc/default/chrony"

    # earlyoom: a memory report every second, as /etc/default/earlyoom suggests.
    sed -i 's/^EARLYOOM_ARGS=.*/EARLYOOM_ARGS="-r 1"/' "$root/etc/default/earlyoom"

    # vnstat: the container has only lo, which vnstatd skips unless it is in
    # the database; counters read every 5 s, not 20, so the probe is quick.
    chroot "$root" vnstatd --initdb
    chroot "$root" vnstat --add --force -i lo >/dev/null
    chroot "$root" chown -R vnstat:vnstat /var/lib/vnstat
    sed -i 's/^;UpdateInterval .*/UpdateInterval 5/' "$root/etc/vnstat.conf"
    grep -q '^UpdateInterval 5$' "$root/etc/vnstat.conf"
}

case ${1:-} in
    --essential-hook | --customize-hook)
        set -E
        trap 'echo "build-rootfs.sh: $1 failed at line $LINENO: $BASH_COMMAND" >&2' ERR
        "${1#--}" "$2"
        exit
        ;;
esac

[ "$(id -u)" = 0 ] || { echo "build-rootfs.sh: needs root" >&2; exit 1; }
command -v mmdebstrap >/dev/null || { echo "build-rootfs.sh: mmdebstrap is not installed" >&2; exit 1; }

mapfile -t packages < <({ printf '%s\n' "${base_packages[@]}"; daemon_packages; } | sort -u)
hash=$({ printf '%s\n' "${packages[@]}"; cat "${BASH_SOURCE[0]}"; } | sha256sum | cut -c1-16)
cache=${CAPCHECK_SERVICES_CACHE:-/var/cache/capcheck/services}
tree=$cache/$hash/rootfs
if [ -f "$cache/$hash/complete" ]; then
    echo "$tree"
    exit
fi

mkdir -p "$cache"
# One build at a time; a second caller waits and then finds the tree.
exec 9>"$cache/.lock"
flock 9
if [ -f "$cache/$hash/complete" ]; then
    echo "$tree"
    exit
fi

rm -rf "${cache:?}/$hash"
mkdir -p "$cache/$hash"
self=$(realpath "${BASH_SOURCE[0]}")
started=$SECONDS
for attempt in 1 2 3; do
    echo "build-rootfs.sh: mmdebstrap bookworm (${#packages[@]} packages), attempt $attempt" >&2
    rm -rf "$tree"
    # mmdebstrap's hooks run with $1 = the tree.
    # shellcheck disable=SC2016
    if mmdebstrap --variant=apt --format=directory --mode=root \
        --aptopt='Acquire::Retries "5"' \
        --aptopt='Acquire::http::Timeout "30"' \
        --include="$(IFS=,; echo "${packages[*]}")" \
        --essential-hook="$self --essential-hook \"\$1\"" \
        --customize-hook="$self --customize-hook \"\$1\"" \
        bookworm "$tree" "$mirror" 2>&1 | tee "$cache/$hash/mmdebstrap.log" >&2; then
        break
    fi
    # Only downloads are worth another try; a failed hook fails again.
    if grep -q 'build-rootfs.sh: --.*-hook failed' "$cache/$hash/mmdebstrap.log" || [ "$attempt" = 3 ]; then
        echo "build-rootfs.sh: mmdebstrap failed (attempt $attempt); see above" >&2
        rm -rf "${cache:?}/$hash"
        exit 1
    fi
    sleep 10
done
printf '%s\n' "${packages[@]}" >"$cache/$hash/packages"
touch "$cache/$hash/complete"
echo "build-rootfs.sh: built $tree in $((SECONDS - started)) s" >&2
echo "$tree"
