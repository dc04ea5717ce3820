#!/usr/bin/env bash
# The real-systemd lane: boots systemd 252 as PID 1 in systemd-nspawn on an
# overlay of the cached Debian 12 tree (build-rootfs.sh) and, inside
# (inside.sh), probes every daemon of daemons.tsv as shipped and after
# `capcheck fix --write` [--unsafe-fixes]; tries `capcheck try` on nginx;
# and boots the same tree with Debian's kernel in qemu (build-vm.sh), where
# `capcheck record` can trace, to fix daemons from their recorded profiles
# and to test `record --attach`. Writes OUT/results.jsonl and OUT/report.md
# (report.py).
#
# Usage: tests/services/run.sh --capcheck PATH --out DIR
#            [--modes shipped,default,unsafe,try,record,attach,trial,exim4] [--only nginx,ssh]
#            [--check-probes] [--boot-timeout SECONDS] [--vm-timeout SECONDS]
#            [--settle SECONDS]
#
# Boots: "main" (nspawn) does shipped then default for each daemon;
# "unsafe", on a fresh overlay, probes as shipped again and then fixes with
# --unsafe-fixes. --check-probes adds a boot "check" that verifies each
# probe fails with its daemon stopped. "try" runs the `capcheck try`
# scenarios, and "try-reboot" boots the same overlay again to see what was
# kept. "vm" (qemu) runs record (record, fix --profile, probe, for the
# daemons daemons.tsv marks) and attach (record --attach of running
# daemons). "exim4" (mode exim4) boots build-exim4.sh's layer: the VM
# records exim4, whose unit systemd-sysv-generator writes; nspawn tries and
# fixes it, and "exim4-reboot" boots that overlay again. Needs root,
# mmdebstrap and python3; systemd-nspawn (systemd-container) for the nspawn
# boots; qemu-system-x86_64, mkfs.ext4 and debugfs (e2fsprogs) for the VM.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
capcheck='' out='' modes='' only='' skip='' check_probes=0
boot_timeout=${CAPCHECK_SERVICES_BOOT_TIMEOUT:-1200} settle=3
# The VM runs under TCG (nested KVM hangs here): everything is slower.
vm_timeout=${CAPCHECK_SERVICES_VM_TIMEOUT:-2700}

usage() {
    sed -n '11,14p' "${BASH_SOURCE[0]}" | cut -c3- >&2
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
        --vm-timeout) vm_timeout=$2; shift 2 ;;
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
tools=(mmdebstrap python3)
for mode in ${modes//,/ }; do
    case $mode in
        shipped | default | unsafe | try) tools+=(systemd-nspawn) ;;
        record | attach | trial) tools+=(qemu-system-x86_64 mkfs.ext4 debugfs) ;;
        exim4) tools+=(systemd-nspawn qemu-system-x86_64 mkfs.ext4 debugfs) ;;
        *) echo "run.sh: unknown mode $mode" >&2; exit 2 ;;
    esac
done
[ "$check_probes" = 0 ] || tools+=(systemd-nspawn)
for tool in "${tools[@]}"; do
    command -v "$tool" >/dev/null || { echo "run.sh: $tool is not installed" >&2; exit 2; }
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
rm -rf "$out/shipped" "$out/default" "$out/unsafe" "$out/probe-check" "$out/try" \
    "$out/record" "$out/attach" "$out/exim4" "$out"/boot-* "$out/results.jsonl" "$out/progress.log" \
    "$out/report.md" "$out/meta.json"
touch "$out/results.jsonl" "$out/progress.log"

# The current boot's resources, released by cleanup whatever happens
# (keep_work=1: the overlay stays for the next boot, which reuses it).
work='' machine='' nspawn_pid='' tail_pid='' container_ns='' qemu_pid='' keep_work=0
# The overlay's lower directories when not the lane's own tree (the exim4
# boots: build-exim4.sh's layer over the VM's and the tree).
lower=''
own_ns=$(readlink /proc/$$/ns/pid)

# Waits for the boot's process $1 (nspawn or qemu) under a hard timeout of
# $2 seconds: SIGTERM at the deadline, SIGKILL 30 s later; $4 runs each
# second meanwhile. Polling keeps run.sh's own INT/TERM traps prompt.
# Returns the process's exit status.
wait_with_deadline() {
    local pid=$1 timeout=$2 name=$3 each_second=$4
    local deadline=$((SECONDS + timeout)) term_sent=''
    while kill -0 "$pid" 2>/dev/null; do
        "$each_second"
        if [ -z "$term_sent" ] && ((SECONDS >= deadline)); then
            echo "run.sh: boot '$name' timed out after $timeout s; stopping it" >&2
            kill -TERM "$pid" 2>/dev/null || true
            term_sent=$SECONDS
        elif [ -n "$term_sent" ] && ((SECONDS >= term_sent + 30)); then
            kill -KILL "$pid" 2>/dev/null || true
        fi
        sleep 1
    done
    wait "$pid"
}

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
    if [ -n "$qemu_pid" ]; then
        kill -KILL "$qemu_pid" 2>/dev/null || true
        wait "$qemu_pid" 2>/dev/null || true
        qemu_pid=''
    fi
    if [ -n "$tail_pid" ]; then
        kill "$tail_pid" 2>/dev/null || true
        wait "$tail_pid" 2>/dev/null || true
        tail_pid=''
    fi
    if [ -n "$work" ] && [ "$keep_work" != 1 ]; then
        remove_work "$work"
        work=''
    fi
    # nspawn cannot remove this directory itself when /run is not a tmpfs.
    if [ -n "$machine" ]; then
        rmdir "/run/systemd/nspawn/propagate/$machine" 2>/dev/null || true
        machine=''
    fi
}
trap 'keep_work=0; cleanup' EXIT
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
    for qemu_pid in $(pgrep -f "^qemu-system-x86_64 .*file=$stale/root.img"); do
        work=$stale
        cleanup
    done
    remove_work "$stale"
done

# The lane's settings, for inside.sh, in the tree at $1: the boot's name,
# its modes, whether it checks probes, and whether progress goes to the
# console too.
write_env() {
    cat >"$1/etc/capcheck-lane.env" <<EOF
LANE_BOOT=$2
LANE_MODES=$3
LANE_ONLY=$only
LANE_CHECK_PROBES=$4
LANE_SETTLE=$settle
LANE_CONSOLE=$5
LANE_SKIP=$skip
EOF
}

# The unit that runs inside.sh in the tree at $1 for boot $2, ordered after
# multi-user.target (the boot is over when the lane begins); $3, if given,
# is one more [Unit] line.
write_lane_unit() {
    local units=$1/etc/systemd/system
    cat >"$units/capcheck-lane.service" <<EOF
[Unit]
Description=capcheck real-systemd lane ($2)
After=multi-user.target
${3:-}

[Service]
Type=oneshot
TimeoutStartSec=infinity
ExecStart=/lane/inside.sh
StandardOutput=append:/out/boot-$2.log
StandardError=append:/out/boot-$2.log
ExecStopPost=/bin/systemctl poweroff --no-block
EOF
    mkdir -p "$units/multi-user.target.wants"
    ln -sfn ../capcheck-lane.service "$units/multi-user.target.wants/"
}

# boot NAME MODES CHECK [KEEP]: one container run over a fresh overlay, or
# over the one the previous boot kept (KEEP=1 keeps this one's).
boot() {
    local name=$1 boot_modes=$2 check=$3 keep=${4:-0} rc=0 started=$SECONDS
    if [ -z "$work" ]; then
        work=$(mktemp -d /var/tmp/capcheck-services.XXXXXX)
        echo $$ >"$work/owner"
        mkdir "$work/upper" "$work/work" "$work/merged"
        mount -t overlay overlay \
            -o "lowerdir=${lower:-$rootfs},upperdir=$work/upper,workdir=$work/work" "$work/merged"
    fi
    machine=capcheck-lane-$$-$name

    write_env "$work/merged" "$name" "$boot_modes" "$check" 0
    write_lane_unit "$work/merged" "$name"

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
    # SIGKILL 30 s later ends it (and cleanup what is left of it).
    wait_with_deadline "$nspawn_pid" "$boot_timeout" "$name" note_container_ns || rc=$?
    nspawn_pid=''

    # The container's journal, for what the excerpts do not show.
    journalctl -D "$work/upper/var/log/journal" -o short-monotonic --no-pager \
        >"$out/boot-$name.journal" 2>&1 || true
    keep_work=$keep
    cleanup
    keep_work=0
    if [ ! -e "$out/boot-$name.done" ]; then
        echo "run.sh: boot '$name' did not finish (exit $rc after $((SECONDS - started)) s;" \
            "timeout ${boot_timeout} s); see $out/boot-$name.{log,console,journal}" >&2
        return 1
    fi
    echo "run.sh: boot '$name' done in $((SECONDS - started)) s" >&2
    timings="$timings boot $name $((SECONDS - started)) s;"
}

# Sends the QMP command $1 to the running VM (best effort).
# shellcheck disable=SC2317 # (called by watch_vm)
qmp() {
    python3 - "$work/qmp.sock" "$1" <<'EOF' || true
import json, socket, sys
try:
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(sys.argv[1])
    f = s.makefile("rw")
    f.readline()
    for command in ("qmp_capabilities", sys.argv[2]):
        f.write(json.dumps({"execute": command}) + "\n")
        f.flush()
        f.readline()
except OSError as e:
    sys.exit(f"run.sh: qemu did not take {sys.argv[2]}: {e}")
EOF
}

# The sed expression that removes terminal escape sequences (systemd's
# colours and cursor moves on the console).
no_escapes='s/\x1b\[[0-9;?]*[A-Za-z]//g'

# The last $2 lines of the console $1 that say something: kernel messages,
# systemd's status lines and the lane's progress, without escape sequences
# or the "start job running" spinner.
console_excerpt() {
    sed -e "$no_escapes" -e 's/\r/\n/g' "$1" |
        grep -a -v -e 'Job capcheck-lane' -e '^[[:space:]]*$' | tail -n "$2"
}

# The part of the VM lane that progress lines $1 were at: "attach", a
# daemon's name, or "boot" (none began).
current_part() {
    if grep -q '^[0-9:]* \[[^]]*\] attach: ' "$1"; then
        echo attach
        return
    fi
    local part
    part=$(sed -n 's/^[0-9:]* \[[^]]*\] \([a-z0-9-]*\): .*/\1/p' "$1" | tail -n 1)
    echo "${part:-boot}"
}

# How long the VM may go without a progress line before it counts as hung:
# the longest step (a recording, with its own 180 s timeout) logs within
# 190 s, and steps log every 30 s at most in practice.
stall_limit=${CAPCHECK_SERVICES_VM_STALL:-240}
# To check the resume after a crash: the first boot's kernel panics (an
# NMI) once it reaches this part.
panic_at=${CAPCHECK_SERVICES_VM_PANIC_AT:-}

# Each second of a VM boot: when no progress line came for stall_limit s,
# an NMI makes the guest kernel panic with a backtrace on the console (it
# boots with unknown_nmi_panic), which ends qemu; SIGTERM 30 s later if not,
# SIGKILL 30 s after that (a qemu that is stuck itself).
# shellcheck disable=SC2317 # (called by wait_with_deadline)
watch_vm() {
    if [ -n "$stall_at" ]; then
        if ((SECONDS >= stall_at + 60)); then
            kill -KILL "$qemu_pid" 2>/dev/null || true
        elif ((SECONDS >= stall_at + 30)); then
            kill -TERM "$qemu_pid" 2>/dev/null || true
        fi
        return 0
    fi
    if [ -n "$panic_at" ] && [ "$name" = vm ] && [ "$(current_part "$work/progress")" = "$panic_at" ]; then
        echo "run.sh: an NMI at $panic_at (CAPCHECK_SERVICES_VM_PANIC_AT)" >&2
        panic_at=''
        qmp inject-nmi
    fi
    local last
    last=$(stat -c %Y "$work/progress" 2>/dev/null) || return 0
    if (($(date +%s) - last >= stall_limit)); then
        stall_at=$SECONDS
        echo "run.sh: boot '$name' made no progress for $stall_limit s (at $(current_part "$work/progress")); an NMI for the guest's backtraces" >&2
        qmp inject-nmi
    fi
}

# boot_vm NAME MODES: one qemu run of the tree with Debian's cloud kernel
# (build-vm.sh's layer) and capcheck, the lane and the settings copied in;
# a second disk carries /out back (read with debugfs, no loop device). A
# boot that hung, or whose kernel panicked, leaves OUT/boot-NAME.stalled,
# naming the part it was at, and OUT/boot-NAME.why, saying which.
boot_vm() {
    local name=$1 boot_modes=$2 rc=0 started=$SECONDS vm stall_at=''
    vm=$("$here/build-vm.sh")
    work=$(mktemp -d /var/tmp/capcheck-services.XXXXXX)
    echo $$ >"$work/owner"
    mkdir "$work/upper" "$work/work" "$work/merged" "$work/out"
    mount -t overlay overlay \
        -o "lowerdir=${lower:-$vm/layer:$rootfs},upperdir=$work/upper,workdir=$work/work" "$work/merged"
    local root=$work/merged
    # What nspawn would bind: the binary, the lane (read-only there: a copy
    # here), /out (the second disk, by fstab).
    install -m 0755 "$capcheck" "$root/usr/local/bin/capcheck"
    cp -a "$here" "$root/lane"
    mkdir -p "$root/out"
    echo '/dev/vdb /out ext4 rw 0 2' >>"$root/etc/fstab"
    write_env "$root" "$name" "$boot_modes" 0 1
    write_lane_unit "$root" "$name" RequiresMountsFor=/out
    # The disks: the tree, sparse, with room for the daemons' state; an
    # empty one for the results.
    mkfs.ext4 -q -F -L capcheck-root -d "$root" "$work/root.img" 4G >/dev/null
    umount "$root"
    mkfs.ext4 -q -F -L capcheck-out "$work/out.img" 512M >/dev/null

    echo "run.sh: boot '$name' in qemu (modes $boot_modes${only:+, only $only}${skip:+, without $skip}; $(cat "$vm/kernel-version"))" >&2
    # TCG (nested KVM hangs on these machines), as tests/vm/kprobe_fallback.sh.
    qemu-system-x86_64 -accel tcg,thread=multi -cpu max -smp 2 -m 3072 \
        -kernel "$vm/vmlinuz" -initrd "$vm/initrd.img" \
        -append "root=/dev/vda rw console=ttyS0 panic=-1 unknown_nmi_panic=1 softlockup_all_cpu_backtrace=1" \
        -nographic -no-reboot -nic none -qmp "unix:$work/qmp.sock,server=on,wait=off" \
        -drive "file=$work/root.img,format=raw,if=virtio" \
        -drive "file=$work/out.img,format=raw,if=virtio" \
        </dev/null >"$out/boot-$name.console" 2>&1 &
    qemu_pid=$!
    # Progress: inside.sh also writes it to the serial console; its lines
    # go to run.sh's standard error and, for watch_vm, to $work/progress.
    touch "$work/progress"
    tail --pid="$qemu_pid" -n +1 -F "$out/boot-$name.console" 2>/dev/null |
        grep --line-buffered -a " \[$name\] " |
        sed -u "$no_escapes" | tee -a "$work/progress" >&2 &
    tail_pid=$!
    # The hard timeout: qemu ends at once on SIGTERM (the VM is lost, its
    # results with it), SIGKILL 30 s later if it did not.
    wait_with_deadline "$qemu_pid" "$vm_timeout" "$name" watch_vm || rc=$?
    qemu_pid=''

    # The results disk, and the VM's journal from the root disk (a VM that
    # was stopped left their ext4 journals unreplayed: e2fsck replays them).
    e2fsck -fy "$work/out.img" >"$work/fsck.log" 2>&1 || true
    e2fsck -fy "$work/root.img" >>"$work/fsck.log" 2>&1 || true
    debugfs -R "rdump / $work/out" "$work/out.img" >"$work/rdump.log" 2>&1 || true
    debugfs -R "rdump /var/log/journal $work" "$work/root.img" >>"$work/rdump.log" 2>&1 || true
    journalctl -D "$work/journal" -o short-monotonic --no-pager \
        >"$out/boot-$name.journal" 2>&1 || true
    python3 "$here/merge-vm.py" "$work/out" "$out" || rc=$?
    timings="$timings boot $name $((SECONDS - started)) s;"
    if [ ! -e "$out/boot-$name.done" ]; then
        if [ -n "$stall_at" ]; then
            echo "no progress for $stall_limit s" >"$out/boot-$name.why"
        elif grep -aq 'Kernel panic - not syncing' "$out/boot-$name.console"; then
            # Seen once in CI: the guest's kernel hit a BUG in kprobes
            # under TCG while a recording installed its probes.
            echo "kernel panic" >"$out/boot-$name.why"
        fi
        if [ -e "$out/boot-$name.why" ]; then
            current_part "$work/progress" >"$out/boot-$name.stalled"
        fi
    fi
    cleanup
    if [ ! -e "$out/boot-$name.done" ]; then
        echo "run.sh: boot '$name' did not finish (exit $rc after $((SECONDS - started)) s;" \
            "timeout ${vm_timeout} s); see $out/boot-$name.{log,console,journal}; the console's end:" >&2
        console_excerpt "$out/boot-$name.console" 30 | sed 's/^/    /' >&2
        return 1
    fi
    echo "run.sh: boot '$name' done in $((SECONDS - started)) s" >&2
}

# The parts of the VM lane that have results: attach, and each daemon with
# a result for every mode the boot runs per daemon (record; attach-fix
# with attach; trial).
finished_parts() {
    python3 - "$out/results.jsonl" "$1" <<'EOF'
import json, sys
modes = set(sys.argv[2].split(","))
needed = {"record"} | ({"attach-fix"} if "attach" in modes else set()) | (modes & {"trial"})
seen = {}
for line in open(sys.argv[1]):
    if line.strip():
        r = json.loads(line)
        seen.setdefault(r.get("daemon"), set()).add(r.get("mode"))
parts = {"attach"} if any("attach" in m for m in seen.values()) else set()
parts |= {d for d, m in seen.items() if d and needed <= m}
print(",".join(sorted(parts)))
EOF
}

# Results saying that part $1 stopped the VM (hung or crashed) in boot $2,
# which was not resumed (the part stopped it twice before, or the boots ran
# out).
stall_results() {
    local part=$1 boot=$2 console=$out/boot-$2.console daemons mode=record
    case $part in
        boot) return 0 ;;
        attach) daemons='nginx chrony' mode=attach ;;
        *) daemons=$part ;;
    esac
    for daemon in $daemons; do
        python3 - "$daemon" "$mode" "$boot" "$(cat "$out/boot-$boot.why")" "$(console_excerpt "$console" 30)" \
            >>"$out/results.jsonl" <<'EOF'
import json, sys
daemon, mode, boot, why, console = sys.argv[1:]
print(json.dumps({"daemon": daemon, "mode": mode, "works_after": None, "console": console,
                  "error": f"the VM stopped while this ran ({why}), in boot {boot}, "
                           f"after earlier stops; not resumed again"}))
EOF
    done
}

# The VM boots. After one that hung (no progress) or whose kernel panicked
# (a kprobes BUG under TCG: 3 times in 2 CI runs, at the attach recordings
# of rsyslog, twice, and vsftpd), a fresh boot resumes with the parts that have no result yet, the
# stopped part again; the report notes each stop. A part that stops the VM
# a third time gets an error result instead, and so does the lane after
# six boots.
vm_lane() {
    local boot_modes=$1 attempt=1 name=vm stopped='' part times
    while :; do
        boot_vm "$name" "$boot_modes" && return 0
        [ -e "$out/boot-$name.stalled" ] || return 1
        part=$(cat "$out/boot-$name.stalled")
        vm_hangs="$vm_hangs boot $name stopped at $part ($(cat "$out/boot-$name.why"); console in boot-$name.console);"
        stopped+=,$part
        times=$(tr , '\n' <<<"$stopped" | grep -cxF -- "$part")
        if ((times >= 3 || attempt >= 6)); then
            stall_results "$part" "$name"
            return 1
        fi
        skip=$(finished_parts "$boot_modes")
        attempt=$((attempt + 1)) name=vm-$attempt
    done
}

# What the report says it measured: the commit, and whether what capcheck
# is built from differs from it.
checkout=$(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git -C "$here/../.." status --porcelain -- src Cargo.toml Cargo.lock rules build.rs 2>/dev/null)" ]; then
    checkout="$checkout with uncommitted changes"
fi
run_started=$(date -u +%FT%TZ)
timings='' vm_hangs=''

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
if [[ ,$modes, == *,try,* ]]; then
    # The second boot reuses the first one's overlay: a reboot.
    if boot try try 0 1; then
        boot try-reboot try 0 || status=1
    else
        status=1
    fi
    cleanup
fi
vm_modes=$(tr "," "\n" <<<"$modes" | { grep -x -e record -e attach -e trial || true; } | paste -sd, -)
if [ -n "$vm_modes" ]; then
    vm_lane "$vm_modes" || status=1
fi
if [[ ,$modes, == *,exim4,* ]]; then
    # exim4, Debian 12's default MTA, replaces postfix in a layer of its own
    # (build-exim4.sh), so the boots above keep the lane's tree. The VM
    # records it; nspawn tries and fixes it, then reboots.
    if exim4_layer=$("$here/build-exim4.sh"); then
        lower="$exim4_layer/layer:$(cat "$exim4_layer/lower")"
        if boot_vm exim4-record exim4 && boot exim4 exim4 0 1; then
            boot exim4-reboot exim4 0 || status=1
        else
            status=1
        fi
        cleanup
        lower=''
    else
        status=1
    fi
fi

python3 - "$out/meta.json" "$("$capcheck" --version 2>&1 | head -n 1) ($capcheck)" \
    "$checkout" "$rootfs" "$run_started" "${timings# }" "${vm_hangs# }" "$only" <<'EOF'
import json, sys
keys = ["capcheck", "checkout", "rootfs", "started", "timings", "vm hangs", "only"]
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
