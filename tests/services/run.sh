#!/usr/bin/env bash
# The real-systemd lane: boots systemd 252 as PID 1 in systemd-nspawn on an
# overlay of the cached Debian 12 tree (build-rootfs.sh) and, inside
# (inside.sh), probes every daemon of daemons.tsv as shipped and after
# `capcheck fix --write` [--unsafe-fixes]. Writes OUT/results.jsonl and
# OUT/report.md (report.py).
#
# Usage: tests/services/run.sh --capcheck PATH --out DIR
#            [--modes shipped,default,unsafe] [--only nginx,ssh]
#            [--check-probes] [--boot-timeout SECONDS] [--settle SECONDS]
#
# Boots: "main" does shipped then default for each daemon; "unsafe", on a
# fresh overlay, probes as shipped again and then fixes with
# --unsafe-fixes. --check-probes adds a boot "check" that verifies each
# probe fails with its daemon stopped. Needs root, mmdebstrap,
# systemd-nspawn (systemd-container) and python3.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
capcheck='' out='' modes='' only='' check_probes=0
boot_timeout=${CAPCHECK_SERVICES_BOOT_TIMEOUT:-1200} settle=3

usage() {
    sed -n '8,10p' "${BASH_SOURCE[0]}" | cut -c3- >&2
    exit 2
}

while [ $# -gt 0 ]; do
    case $1 in
        --capcheck) capcheck=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --modes) modes=$2; shift 2 ;;
        --only) only=$2; shift 2 ;;
        --check-probes) check_probes=1; shift ;;
        --boot-timeout) boot_timeout=$2; shift 2 ;;
        --settle) settle=$2; shift 2 ;;
        -h | --help) usage ;;
        *) echo "run.sh: unknown argument $1" >&2; usage ;;
    esac
done
if [ -z "$capcheck" ] || [ -z "$out" ]; then usage; fi
# --check-probes alone runs only its own boot.
[ -n "$modes" ] || [ "$check_probes" = 1 ] || modes=shipped,default,unsafe
[ -x "$capcheck" ] || { echo "run.sh: $capcheck is not an executable" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "run.sh: needs root" >&2; exit 2; }
for tool in systemd-nspawn mmdebstrap python3; do
    command -v "$tool" >/dev/null || { echo "run.sh: $tool is not installed" >&2; exit 2; }
done
for mode in ${modes//,/ }; do
    case $mode in shipped | default | unsafe) ;; *) echo "run.sh: unknown mode $mode" >&2; exit 2 ;; esac
done
if [ -n "$only" ]; then
    known=$(awk -F'\t' '!/^#/ && $1 != "name" { print $1 }' "$here/daemons.tsv")
    for name in ${only//,/ }; do
        grep -qx -- "$name" <<<"$known" || { echo "run.sh: no daemon $name in daemons.tsv" >&2; exit 2; }
    done
fi
capcheck=$(realpath "$capcheck")

rootfs=$("$here/build-rootfs.sh")
mkdir -p "$out"
out=$(realpath "$out")
# A run starts from nothing: old results would mix with new ones.
rm -rf "$out/shipped" "$out/default" "$out/unsafe" "$out/probe-check" \
    "$out"/boot-* "$out/results.jsonl" "$out/progress.log" "$out/report.md"
touch "$out/results.jsonl" "$out/progress.log"

# The current boot's resources, released by cleanup whatever happens.
work='' machine='' nspawn_pid='' tail_pid='' container_ns=''
own_ns=$(readlink /proc/$$/ns/pid)

# Notes the container's PID namespace: that of systemd-nspawn's child (the
# container's init) once it differs from ours.
note_container_ns() {
    local child ns
    [ -z "$container_ns" ] && [ -n "$nspawn_pid" ] || return 0
    for child in $(pgrep -P "$nspawn_pid"); do
        ns=$(readlink "/proc/$child/ns/pid" 2>/dev/null) || continue
        [ "$ns" = "$own_ns" ] || container_ns=$ns
    done
    return 0
}

# Every process in the container's PID namespace (never one of ours).
container_pids() {
    local pid
    [ -n "$container_ns" ] && [ "$container_ns" != "$own_ns" ] || return 0
    for pid in /proc/[0-9]*; do
        [ "$(readlink "$pid/ns/pid" 2>/dev/null)" = "$container_ns" ] && echo "${pid#/proc/}"
    done
    return 0
}

# Unmounts and removes a boot's work directory.
remove_work() {
    local dir=$1
    for _ in 1 2 3 4 5; do
        mountpoint -q "$dir/merged" || break
        umount -R "$dir/merged" 2>/dev/null || sleep 1
    done
    if mountpoint -q "$dir/merged"; then
        umount -R -l "$dir/merged"
    fi
    rm -rf "$dir"
}

cleanup() {
    local pids
    if [ -n "$nspawn_pid" ]; then
        note_container_ns
        kill -KILL "$nspawn_pid" 2>/dev/null || true
        wait "$nspawn_pid" 2>/dev/null || true
        nspawn_pid=''
    fi
    # Whatever of the container outlived systemd-nspawn.
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        pids=$(container_pids)
        [ -n "$pids" ] || break
        # shellcheck disable=SC2086
        kill -KILL $pids 2>/dev/null || true
        sleep 0.5
    done
    container_ns=''
    if [ -n "$tail_pid" ]; then
        kill "$tail_pid" 2>/dev/null || true
        wait "$tail_pid" 2>/dev/null || true
        tail_pid=''
    fi
    if [ -n "$work" ]; then
        remove_work "$work"
        work=''
    fi
    # nspawn cannot remove this directory itself when /run is not a tmpfs.
    if [ -n "$machine" ]; then
        rmdir "/run/systemd/nspawn/propagate/$machine" 2>/dev/null || true
        machine=''
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Work directories of runs that died without cleaning up (SIGKILL), and
# their containers if they still run.
for stale in /var/tmp/capcheck-services.*; do
    [ -d "$stale" ] || continue
    owner=$(cat "$stale/owner" 2>/dev/null || echo 0)
    kill -0 "$owner" 2>/dev/null && continue
    echo "run.sh: removing $stale, left by a run that was killed" >&2
    for nspawn_pid in $(pgrep -x -f "systemd-nspawn .* -D $stale/merged .*"); do
        machine=$(tr '\0' '\n' <"/proc/$nspawn_pid/cmdline" | sed -n 's/^--machine=//p')
        work=$stale
        cleanup
    done
    remove_work "$stale"
done

# boot NAME MODES CHECK: one container run over a fresh overlay.
boot() {
    local name=$1 boot_modes=$2 check=$3 rc=0 started=$SECONDS
    work=$(mktemp -d /var/tmp/capcheck-services.XXXXXX)
    echo $$ >"$work/owner"
    machine=capcheck-lane-$$-$name
    mkdir "$work/upper" "$work/work" "$work/merged"
    mount -t overlay overlay \
        -o "lowerdir=$rootfs,upperdir=$work/upper,workdir=$work/work" "$work/merged"

    local etc=$work/merged/etc
    cat >"$etc/capcheck-lane.env" <<EOF
LANE_BOOT=$name
LANE_MODES=$boot_modes
LANE_ONLY=$only
LANE_CHECK_PROBES=$check
LANE_SETTLE=$settle
EOF
    # Ordered after multi-user.target: the boot is over when the lane begins.
    cat >"$etc/systemd/system/capcheck-lane.service" <<EOF
[Unit]
Description=capcheck real-systemd lane ($name)
After=multi-user.target

[Service]
Type=oneshot
TimeoutStartSec=infinity
ExecStart=/lane/inside.sh
StandardOutput=append:/out/boot-$name.log
StandardError=append:/out/boot-$name.log
ExecStopPost=/bin/systemctl poweroff --no-block
EOF
    mkdir -p "$etc/systemd/system/multi-user.target.wants"
    ln -s ../capcheck-lane.service "$etc/systemd/system/multi-user.target.wants/"

    echo "run.sh: boot '$name' (modes $boot_modes${only:+, only $only})" >&2
    tail --pid=$$ -n 0 -F "$out/progress.log" >&2 2>/dev/null &
    tail_pid=$!
    # CAP_SYS_TIME: chrony.service has ConditionCapability=CAP_SYS_TIME
    # (chronyd itself runs with -x and never sets the clock).
    systemd-nspawn --register=no --keep-unit -q -b \
        --private-network --machine="$machine" --capability=CAP_SYS_TIME \
        --bind-ro="$capcheck:/usr/local/bin/capcheck" --bind-ro="$here:/lane" \
        --bind="$out:/out" -D "$work/merged" --console=pipe \
        </dev/null >"$out/boot-$name.console" 2>&1 &
    nspawn_pid=$!
    # The hard timeout: SIGTERM makes nspawn power the container off,
    # SIGKILL 30 s later ends it (and cleanup what is left of it). Polling
    # keeps run.sh's own INT/TERM traps prompt.
    local deadline=$((SECONDS + boot_timeout)) term_sent=''
    while kill -0 "$nspawn_pid" 2>/dev/null; do
        note_container_ns
        if [ -z "$term_sent" ] && ((SECONDS >= deadline)); then
            echo "run.sh: boot '$name' timed out after $boot_timeout s; stopping it" >&2
            kill -TERM "$nspawn_pid" 2>/dev/null || true
            term_sent=$SECONDS
        elif [ -n "$term_sent" ] && ((SECONDS >= term_sent + 30)); then
            kill -KILL "$nspawn_pid" 2>/dev/null || true
        fi
        sleep 1
    done
    wait "$nspawn_pid" || rc=$?
    nspawn_pid=''

    # The container's journal, for what the excerpts do not show.
    journalctl -D "$work/upper/var/log/journal" -o short-monotonic --no-pager \
        >"$out/boot-$name.journal" 2>&1 || true
    cleanup
    if [ ! -e "$out/boot-$name.done" ]; then
        echo "run.sh: boot '$name' did not finish (exit $rc after $((SECONDS - started)) s;" \
            "timeout ${boot_timeout} s); see $out/boot-$name.{log,console,journal}" >&2
        return 1
    fi
    echo "run.sh: boot '$name' done in $((SECONDS - started)) s" >&2
    timings="$timings boot $name $((SECONDS - started)) s;"
}

# What the report says it measured: the commit, and whether what capcheck
# is built from differs from it.
checkout=$(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git -C "$here/../.." status --porcelain -- src Cargo.toml Cargo.lock rules build.rs 2>/dev/null)" ]; then
    checkout="$checkout with uncommitted changes"
fi
run_started=$(date -u +%FT%TZ)
timings=''

status=0
if [ "$check_probes" = 1 ]; then
    boot check probe-check 1 || status=1
fi
main_modes=$(tr "," "\n" <<<"$modes" | { grep -x -e shipped -e default || true; } | paste -sd, -)
if [ -n "$main_modes" ]; then
    boot main "$main_modes" 0 || status=1
fi
if [[ ,$modes, == *,unsafe,* ]]; then
    boot unsafe unsafe 0 || status=1
fi

python3 - "$out/meta.json" "$("$capcheck" --version 2>&1 | head -n 1) ($capcheck)" \
    "$checkout" "$rootfs" "$run_started" "${timings# }" <<'EOF'
import json, sys
keys = ["capcheck", "checkout", "rootfs", "started", "timings"]
json.dump(dict(zip(keys, sys.argv[2:])), open(sys.argv[1], "w"), indent=1)
EOF
python3 "$here/report.py" "$out" >"$out/report.md" || status=1
if [ "$check_probes" = 1 ]; then
    # Every probe must pass with its daemon up and fail with it stopped.
    python3 - "$out/results.jsonl" <<'EOF' || status=1
import json, sys
bad = [r["daemon"] for r in map(json.loads, open(sys.argv[1]))
       if r.get("mode") == "probe-check" and not (r.get("works_up") is True and r.get("works_down") is False)]
if bad:
    print("run.sh: unsound probes: " + ", ".join(bad), file=sys.stderr)
    sys.exit(1)
EOF
fi
echo "run.sh: $out/report.md" >&2
exit "$status"
