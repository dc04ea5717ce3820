#!/usr/bin/env bash
# capcheck against its peers, side by side, on the same units:
#   capcheck lint --format json, systemd-analyze security --offline=true (all
#   units in one call), and systemdlint (PyPI), on (a) every service of
#   ../shared/corpus and (b) a generated tree (BENCH_UNITS, default 100000).
# Prints wall time, units per second and peak memory, and capcheck's ratios.
# Usage: benches/bench.sh            (from the repository root)
set -euo pipefail
cd "$(dirname "$0")/.."
units=${BENCH_UNITS:-100000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cargo build --release --quiet
capcheck=$PWD/target/release/capcheck
command -v systemdlint >/dev/null 2>&1 || python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore systemdlint

# Each tool gets its operands in a file so that argument lists stay short.
measure() { # name, units, command...
    local name=$1 n=$2; shift 2
    local start end
    start=$(date +%s.%N)
    /usr/bin/time -f "%M" -o "$work/mem" "$@" > /dev/null 2>&1 || true
    end=$(date +%s.%N)
    local secs mem
    secs=$(echo "$end - $start" | bc -l)
    mem=$(( $(tail -n 1 "$work/mem") / 1024 ))
    printf '  %-24s %8.3f s  %10.0f units/s  %6d MB\n' "$name" "$secs" "$(echo "$n / $secs" | bc -l)" "$mem"
    echo "$secs" > "$work/$name.secs"
}

ratio() { # peer
    printf '  capcheck is %.0fx faster than %s\n' "$(echo "$(cat "$work/$1.secs") / $(cat "$work/capcheck.secs")" | bc -l)" "$1"
}

run_set() { # title, list file
    local title=$1 list=$2 n
    n=$(wc -l < "$list")
    echo "$title: $n units"
    measure capcheck "$n" "$capcheck" lint --isolated --format json --exit-zero $(cat "$list")
    measure systemd-analyze "$n" xargs -a "$list" systemd-analyze security --offline=true --no-pager
    measure systemdlint "$n" xargs -a "$list" systemdlint --norootfs
    ratio systemd-analyze
    ratio systemdlint
}

if [ -d ../shared/corpus ]; then
    find ../shared/corpus -name '*.service' -not -path '*/oracle/*' | sort > "$work/corpus.list"
    run_set "corpus" "$work/corpus.list"
fi

python3 benches/gen_units.py "$units" "$work/tree"
find "$work/tree" -name '*.service' | sort > "$work/tree.list"
echo "generated: $units units (a third with a drop-in)"
measure capcheck "$units" "$capcheck" lint --isolated --format json --exit-zero "$work/tree"
if [ "${BENCH_PEERS_ON_TREE:-0}" = 1 ]; then
    measure systemd-analyze "$units" xargs -a "$work/tree.list" systemd-analyze security --offline=true --no-pager
    measure systemdlint "$units" xargs -a "$work/tree.list" systemdlint --norootfs
    ratio systemd-analyze
    ratio systemdlint
fi
