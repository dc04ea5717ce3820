#!/usr/bin/env bash
# Builds, once, the Debian chroots whose systemd-analyze is capcheck's oracle
# for a later systemd release, and the real units of those suites:
#
#   254  bookworm-backports     257  trixie     262  sid
#
#   tests/oracles/build.sh [RELEASE...]        build what is missing (default: all)
#   tests/oracles/build.sh --path RELEASE      print the directory, build nothing
#
# Each release lives in $CAPCHECK_ORACLES (default /var/cache/capcheck/oracles:
# CI starts from a fresh clone, so target/ would not keep it) under
# RELEASE-KEY, KEY being the hash of this script and the package list: a
# change to either builds anew and removes the old trees. A tree holds
#   root/       the chroot (systemd, libseccomp2, libcap2)
#   units/PKG/  the systemd units of each package of service-packages.txt
#               (trixie and sid only), unpacked from its .deb
#   version     `systemd-analyze --version` of the chroot
# and appears complete or not at all (built beside, then renamed).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${CAPCHECK_ORACLES:-/var/cache/capcheck/oracles}
key=$(cat "$here/build.sh" "$here/service-packages.txt" | sha256sum | cut -c1-16)
mirror=http://deb.debian.org/debian
all_releases=(254 257 262)

dir_of() { echo "$cache/$1-$key"; }

build() {
    local release=$1 suite packages=0
    local -a options=(--variant=essential --include=systemd,libseccomp2,libcap2) sources
    case $release in
        254)
            # systemd 254 from backports, the rest of bookworm as it is.
            suite=bookworm
            sources=("deb $mirror bookworm main" "deb $mirror bookworm-backports main")
            options+=(--aptopt='APT::Default-Release "bookworm-backports"')
            ;;
        257) suite=trixie packages=1 sources=("$mirror") ;;
        # sid's Release file can be past its Valid-Until on a stale mirror.
        262) suite=sid packages=1 sources=("$mirror") options+=(--aptopt='Acquire::Check-Valid-Until "false"') ;;
        *) echo "build.sh: no oracle for systemd $release (have: ${all_releases[*]})" >&2; return 2 ;;
    esac
    tmp=$(mktemp -d "$cache/.build-$release-XXXXXX")
    mkdir "$tmp/units" "$tmp/debs"
    if [ "$packages" = 1 ]; then
        # apt inside the chroot while mmdebstrap still has it set up; names
        # the suite lacks are left out rather than failing the download.
        options+=(--include=apt)
        options+=(--customize-hook='grep -v "^#" '"$here"'/service-packages.txt > "$1/tmp/wanted"')
        options+=(--customize-hook='chroot "$1" sh -c "cd /tmp && apt-cache pkgnames | sort > all && sort wanted | comm -12 - all > present && xargs apt-get download -qq < present"')
        options+=(--customize-hook='mv "$1"/tmp/*.deb '"$tmp"'/debs/')
    fi
    mmdebstrap --quiet "${options[@]}" "$suite" "$tmp/root" "${sources[@]}"
    for deb in "$tmp"/debs/*.deb; do
        [ -e "$deb" ] || continue
        local package unpacked
        package=$(dpkg-deb --field "$deb" Package)
        unpacked="$tmp/debs/$package"
        dpkg-deb --extract "$deb" "$unpacked"
        # Only the unit directories are kept (the test reads units, and the
        # daemons' binaries would take gigabytes).
        (cd "$unpacked" && find . -path '*/systemd/system' -o -path '*/systemd/user' | while read -r d; do
            mkdir -p "$tmp/units/$package/$(dirname "$d")"
            cp -a "$d" "$tmp/units/$package/$d"
        done)
        rm -rf "$deb" "$unpacked"
    done
    rmdir "$tmp/debs"
    chroot "$tmp/root" systemd-analyze --version | head -n 1 > "$tmp/version"
    mv "$tmp" "$(dir_of "$release")"
    tmp=
    # Trees of an older script or package list are no longer used.
    find "$cache" -maxdepth 1 -name "$release-*" ! -name "$release-$key" -exec rm -rf {} +
    echo "built systemd oracle $release: $(cat "$(dir_of "$release")/version"), $(find "$(dir_of "$release")/units" -name '*.service' | wc -l) service files" >&2
}

if [ "${1:-}" = --path ]; then
    dir_of "${2:?--path RELEASE}"
    exit 0
fi
releases=("$@")
[ ${#releases[@]} -gt 0 ] || releases=("${all_releases[@]}")
mkdir -p "$cache"
tmp=
trap '[ -z "$tmp" ] || rm -rf "$tmp"' EXIT
for release in "${releases[@]}"; do
    # One builder per release at a time; the others wait and find it built.
    exec {lock}>"$cache/.lock-$release"
    flock "$lock"
    [ -f "$(dir_of "$release")/version" ] || build "$release"
    exec {lock}>&-
    dir_of "$release"
done
