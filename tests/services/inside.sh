#!/usr/bin/env bash
# Runs inside the booted container or VM as capcheck-lane.service (run.sh
# writes the unit and /etc/capcheck-lane.env): for each daemon of
# daemons.tsv, one at a time, start it as shipped and probe it, then (in a
# fixing mode) let capcheck fix it, restart it and probe it again; then stop
# it before the next one. Appends one JSON object per daemon and mode to
# /out/results.jsonl and keeps the evidence under /out/MODE/DAEMON/.
#
#   inside.sh              the boot's work (the unit's ExecStart)
#   inside.sh --one N      daemon N only (run by the former, under a timeout)
#   inside.sh --probe N T  one probe run of daemon N (retried for its wait)
#                          for T (recording: the daemon runs outside
#                          systemd); what `capcheck record --probe` and
#                          `capcheck try --probe` run
#   inside.sh --try S      try scenario S (see try_lane), under a timeout
#   inside.sh --attach     the record --attach test (see attach_lane)
#   inside.sh --exim4 S    step S of the exim4 lane (see exim4_lane)
#
# /etc/capcheck-lane.env sets LANE_BOOT (a name), LANE_MODES (shipped,
# default, unsafe, record: at most one fixing mode per boot; or try; plus
# attach), LANE_ONLY (daemon names, empty for all), LANE_CHECK_PROBES (1:
# instead of fixing, check each probe fails with its daemon stopped),
# LANE_SETTLE (seconds) and LANE_CONSOLE (1: progress on /dev/console too,
# where run.sh reads it from a VM's serial console).
set -euo pipefail

lane=/lane
out=/out
# shellcheck source=/dev/null
. /etc/capcheck-lane.env
settle=${LANE_SETTLE:-3}
# One daemon may take this long in all (its probes' waits included).
daemon_timeout=${LANE_DAEMON_TIMEOUT:-600}

log() {
    printf '%s [%s] %s\n' "$(date +%T)" "$LANE_BOOT" "$*" >>"$out/progress.log"
    if [ "${LANE_CONSOLE:-0}" = 1 ]; then
        printf '%s [%s] %s\n' "$(date +%T)" "$LANE_BOOT" "$*" >/dev/console 2>/dev/null || true
    fi
}

has_mode() {
    [[ ,$LANE_MODES, == *,$1,* ]]
}

# The fixing mode of this boot (default, unsafe or record), or nothing.
fix_mode() {
    if has_mode default; then
        echo default
    elif has_mode unsafe; then
        echo unsafe
    elif has_mode record; then
        echo record
    fi
}

# daemons.tsv's rows: name unit packages wait probe record (tab-separated).
rows() {
    awk -F'\t' '!/^#/ && $1 != "name" && NF >= 6' "$lane/daemons.tsv"
}

# Where the record mode keeps the profiles it records.
profiles=/var/lib/capcheck-lane

# --- facts about a unit -------------------------------------------------

prop() {
    systemctl show -p "$2" --value "$1"
}

# "Overall exposure level" of systemd-analyze security, as a number.
exposure() {
    systemd-analyze security --no-pager "$1" 2>/dev/null |
        sed -n 's/^→ Overall exposure level for .*: \([0-9.]*\) .*/\1/p'
}

# The main process's effective uid and CapEff, "uid capeff" (empty if
# none). Units that do not know their main process (postfix@-.service has
# GuessMainPID=no) get the oldest process of their cgroup.
main_ids() {
    local pid cgroup
    pid=$(prop "$1" MainPID)
    if [ "${pid:-0}" = 0 ]; then
        cgroup=$(prop "$1" ControlGroup)
        pid=$(cat "/sys/fs/cgroup/systemd$cgroup/cgroup.procs" "/sys/fs/cgroup$cgroup/cgroup.procs" 2>/dev/null |
            paste -sd, - | xargs -r -I{} ps -o pid= --sort=start_time -p {} | head -n 1 | tr -d ' ')
    fi
    [ -n "$pid" ] && [ "$pid" != 0 ] && [ -r "/proc/$pid/status" ] || return 0
    awk '/^Uid:/ { uid = $3 } /^CapEff:/ { cap = $2 } END { print uid, cap }' "/proc/$pid/status"
}

# What the unit says, after systemd merged everything.
unit_settings() {
    systemctl show -p User -p DynamicUser -p CapabilityBoundingSet \
        -p AmbientCapabilities -p NoNewPrivileges -p MainPID -p NRestarts \
        -p ProtectSystem -p ProtectHome -p PrivateTmp "$1"
}

# Waits until the unit is no longer starting, lets it run $settle seconds,
# and prints its state: "active" only if it stayed active and was not
# restarted meanwhile.
settled_state() {
    local unit=$1 deadline=$((SECONDS + 30)) state restarts
    while state=$(prop "$unit" ActiveState); [[ $state == activating || $state == reloading ]]; do
        ((SECONDS < deadline)) || break
        sleep 0.5
    done
    restarts=$(prop "$unit" NRestarts)
    sleep "$settle"
    state="$(prop "$unit" ActiveState) ($(prop "$unit" SubState))"
    if [ "$(prop "$unit" NRestarts)" != "$restarts" ]; then
        state="$state, restarted while settling"
    fi
    [ "$state" = "active (running)" ] || [ "$state" = "active (exited)" ] && state=active
    echo "$state"
}

# Starts (or restarts) the unit; prints the settled state. The caller
# sets started_at (for journal_tail) before.
start_unit() {
    local unit=$1 verb=$2
    systemctl reset-failed "$unit" 2>/dev/null || true
    timeout 120 systemctl "$verb" "$unit" >/dev/null 2>&1 || true
    settled_state "$unit"
}

# Stops the unit and the sockets that would start it again; prints them.
stop_unit() {
    local unit=$1 units
    units="$unit $(prop "$unit" TriggeredBy)"
    # shellcheck disable=SC2086
    timeout 120 systemctl stop $units >/dev/null 2>&1 || true
    echo "$units"
}

# Runs the daemon's probe until it succeeds or its wait runs out. Sets
# probe_ok (true/false), probe_out (its last words) and probe_secs.
run_probe() {
    local name=$1 wait=$2 probe=$3 tag=$4 started=$SECONDS deadline
    PROBE_TOKEN=lane-$name-$tag-$(date +%s%N)
    PROBE_START=$(date +%s)
    PROBE_STATE=$(mktemp -d "/run/lane/probe.XXXXXX")
    export PROBE_TOKEN PROBE_START PROBE_STATE
    # A unit that failed or stopped gets a few attempts, not its whole wait
    # (nothing will start it again), except when the probe must fail, and
    # during `record` (tag recording), which runs the daemon outside
    # systemd (the probes then find its process by name:
    # PROBE_OUTSIDE_SYSTEMD).
    PROBE_OUTSIDE_SYSTEMD=0
    case $tag:$(prop "${PROBE_UNIT:?}" ActiveState) in
        down:*) ;;
        recording:*) PROBE_OUTSIDE_SYSTEMD=1 ;;
        *:failed | *:inactive) ((wait <= 3)) || wait=3 ;;
    esac
    export PROBE_OUTSIDE_SYSTEMD
    deadline=$((SECONDS + wait))
    while :; do
        # One attempt, in its own shell and under a hard timeout.
        # shellcheck disable=SC2016
        if probe_out=$(timeout 90 bash -c '. /lane/probes.sh && eval "$1"' probe "$probe" 2>&1); then
            probe_ok=true
            break
        fi
        if ((SECONDS >= deadline)); then
            probe_ok=false
            break
        fi
        sleep 1
    done
    probe_secs=$((SECONDS - started))
    probe_out=$(tail -n 3 <<<"$probe_out" | tr '\n' ' ' | cut -c1-300)
}

# The unit's journal since the lane last (re)started it, last 30 lines.
journal_tail() {
    journalctl -q -u "$1" --since "${started_at:-@0}" -n 30 --no-pager -o short-monotonic 2>&1 || true
}

# Unit files and users files, copied to compare after `fix --write`.
config_dirs=(/etc/systemd/system /usr/lib/systemd/system /etc/sysusers.d /usr/lib/sysusers.d /etc/tmpfiles.d)

snapshot() {
    rm -rf /run/lane/snap
    mkdir -p /run/lane/snap
    local d
    for d in "${config_dirs[@]}"; do
        [ -d "$d" ] && cp -a --parents "$d" /run/lane/snap
    done
    return 0
}

changes_since_snapshot() {
    local d
    for d in "${config_dirs[@]}"; do
        [ -d "$d" ] || [ -d "/run/lane/snap$d" ] || continue
        diff -ruN --no-dereference "/run/lane/snap$d" "$d" 2>&1 |
            sed -e "s#/run/lane/snap$d#$d#" -e '/^diff -ruN /d' || true
    done
}

# Puts the configuration directories back as snapshot left them.
restore_snapshot() {
    local d f
    for d in "${config_dirs[@]}"; do
        [ -d "$d" ] || continue
        while IFS= read -r f; do
            [ -e "/run/lane/snap$f" ] || [ -L "/run/lane/snap$f" ] || rm -f "$f"
        done < <(find "$d" \( -type f -o -type l \))
        [ -d "/run/lane/snap$d" ] && cp -a "/run/lane/snap$d/." "$d/"
    done
    return 0
}

json_or_null() {
    if [ -n "$1" ]; then echo "$1"; else echo null; fi
}

# --- one daemon -----------------------------------------------------------

# The row of daemon $1 (of daemons.tsv, or exim4's, which has a lane of its
# own): sets unit, wait, probe and record.
row_of() {
    local row
    row=$({ rows; echo "$exim4_row"; } | awk -F'\t' -v n="$1" '$1 == n')
    [ -n "$row" ] || { echo "inside.sh: no daemon $1 in daemons.tsv" >&2; return 1; }
    IFS=$'\t' read -r _ unit _ wait probe record <<<"$row"
}

one() {
    local name=$1 unit wait probe record
    row_of "$name"
    export PROBE_UNIT=$unit
    mkdir -p /run/lane

    if [ "${LANE_CHECK_PROBES:-0}" = 1 ]; then
        check_probe "$name" "$unit" "$wait" "$probe"
        return
    fi

    local mode dir state_before works_before probe_before before_secs exp_before
    mode=$(fix_mode)
    if [ "$mode" = record ] && [ "$record" != yes ] &&
        ! { [[ $record == optional:* ]] && [[ ,${LANE_ONLY:-}, == *,$name,* ]]; }; then
        log "$name: not recorded ($record)"
        return
    fi
    log "$name: start $unit as shipped"
    started_at=$(date '+%F %T')
    state_before=$(start_unit "$unit" start)
    run_probe "$name" "$wait" "$probe" shipped
    works_before=$probe_ok probe_before=$probe_out before_secs=$probe_secs
    exp_before=$(exposure "$unit")
    local ids_before
    ids_before=$(main_ids "$unit")
    log "$name: as shipped: $state_before, probe $works_before ($probe_before)"

    if has_mode shipped; then
        dir=$out/shipped/$name
        mkdir -p "$dir"
        unit_settings "$unit" >"$dir/settings.txt"
        echo "$probe_before" >"$dir/probe.txt"
        local journal='' ids
        [ "$works_before" = true ] || journal=$(journal_tail "$unit")
        echo "$journal" >"$dir/journal.txt"
        ids=$(main_ids "$unit")
        emit '{}' --arg mode shipped --argjson changed false \
            --argjson works_before "$works_before" --argjson works_after "$works_before" \
            --arg state_after "$state_before" --arg probe_after "$probe_before" \
            --argjson probe_seconds "$before_secs" \
            --argjson exposure_before "$(json_or_null "$exp_before")" \
            --argjson exposure_after "$(json_or_null "$exp_before")" \
            --arg ids "$ids" --arg journal "$journal" --arg diff '' \
            --arg fix_kind '' --arg applicability '' --arg fix_exit '' --arg fix_notes '' --arg fix_identity '' \
            --argjson planned_changes null \
            --arg settings "$(cat "$dir/settings.txt")" --arg unit "$unit" --arg daemon "$name"
    fi

    local extra='{}'
    if [ "$mode" = record ] && has_mode attach && [ "$works_before" = true ]; then
        attach_fix "$name" "$unit" "$wait" "$probe"
    fi
    if [ "$mode" = record ]; then
        # record starts the unit's commands itself: systemd's copy must be
        # down (ports, pid files).
        log "$name: stopped $(stop_unit "$unit") for the recording"
        record_daemon "$name" "$unit"
        extra=$recorded
    fi
    # The main process's uid as shipped (root for a daemon that switches
    # its workers to a user itself).
    extra=$(jq -c --arg ids "$ids_before" '. + {uid_before: (($ids | split(" "))[0] | tonumber? // null)}' <<<"$extra")
    if [ -n "$mode" ]; then
        fix_and_probe "$name" "$unit" "$wait" "$probe" "$mode" "$works_before" "$probe_before" "$exp_before" "$extra"
    fi
    if [ "$mode" = record ] && has_mode trial && [ -f "$profiles/$name.toml" ]; then
        trial_daemon "$name" "$unit" "$wait" "$probe" "$exp_before"
    fi
    log "$name: stopped $(stop_unit "$unit")"
}

# The trial mode, after the record mode's fix (in the same VM boot): the
# fix is undone, the daemon runs as shipped, and `capcheck try --keep` with
# the recorded profile tries the best plan under systemd (a move off root
# when the evidence allows it, else, or when it breaks, the confinement)
# and keeps the one that works; then the daemon must work with what was
# kept. The kept fix is undone again afterwards.
trial_daemon() {
    local name=$1 unit=$2 wait=$3 probe=$4 exp_before=$5 dir=$out/trial/$1 rc=0 started state kept
    mkdir -p "$dir"
    restore_snapshot
    systemctl daemon-reload
    start_unit "$unit" restart >/dev/null
    snapshot
    started=$SECONDS
    timeout -k 10 300 capcheck try "$unit" --profile "$profiles/$name.toml" --keep \
        --settle 5s --probe "$lane/inside.sh --probe $name trial" --probe-timeout 23s \
        >"$dir/try.out" 2>"$dir/try.err" || rc=$?
    local seconds=$((SECONDS - started))
    changes_since_snapshot >"$dir/diff"
    kept=$(grep -o 'the plan kept: [a-z-]*' "$dir/try.out" | tail -n 1 | sed 's/the plan kept: //')
    systemctl daemon-reload
    state=$(start_unit "$unit" restart)
    run_probe "$name" "$wait" "$probe" trial
    unit_settings "$unit" >"$dir/settings.txt"
    local ids
    ids=$(main_ids "$unit")
    log "$name: try exit $rc in ${seconds}s, kept ${kept:-nothing}; $state, probe $probe_ok ($probe_out)"
    jq -cn --arg daemon "$name" --arg unit "$unit" --argjson try_exit "$rc" \
        --argjson seconds "$seconds" --arg kept "$kept" --argjson works_after "$probe_ok" \
        --arg probe_after "$probe_out" --arg state_after "$state" --arg ids "$ids" \
        --arg try_output "$(tail -c 4000 "$dir/try.out")" --arg diff "$(cat "$dir/diff")" \
        --argjson exposure_before "$(json_or_null "$exp_before")" \
        --argjson exposure_after "$(json_or_null "$(exposure "$unit")")" \
        --arg settings "$(cat "$dir/settings.txt")" \
        '($ids | split(" ")) as $id
        | ($settings | split("\n") | map(select(contains("=")) | capture("^(?<key>[^=]+)=(?<value>.*)$")) | from_entries) as $s
        | {daemon: $daemon, unit: $unit, mode: "trial", try_exit: $try_exit, try_seconds: $seconds,
           kept: (if $kept == "" then null else $kept end), works_after: $works_after,
           probe_after: $probe_after, state_after: $state_after,
           uid_after: ($id[0] | tonumber? // null), user_after: $s.User,
           dynamic_user_after: $s.DynamicUser, exposure_before: $exposure_before,
           exposure_after: $exposure_after, try_output: $try_output, diff: $diff}' >>"$out/results.jsonl"
    # Back to the unit as shipped.
    restore_snapshot
    systemctl daemon-reload
}

# record mode (a VM: tracefs cannot see a container's processes):
# `capcheck record --unit` of the stopped daemon, with its probe, into
# $profiles/NAME.toml. Sets recorded (JSON: the exit status, the profile's
# text, and whether the recording took /dev/log).
record_daemon() {
    local name=$1 unit=$2 dir=$out/record/$1 rc=0 devlog devlog_after notes=''
    mkdir -p "$dir" "$profiles"
    rm -f "$profiles/$name.toml"
    devlog=$(readlink /dev/log || true)
    log "$name: capcheck record --unit $unit"
    # What the recorded program prints goes to these files (it inherits
    # capcheck's standard output and error), not to the journal: probes
    # that read a daemon's log read them then.
    export PROBE_PROGRAM_OUTPUT="$dir/record.out $dir/record.err"
    # The probe may take what is left of the 25 s after the 2 s settle, as
    # it could before it had a limit of its own. Recording runs the daemon
    # twice when the run as a user is tried.
    timeout -k 10 300 capcheck record --unit "$unit" --timeout 25s \
        --probe "$lane/inside.sh --probe $name recording" --probe-timeout 23s -o "$profiles/$name.toml" \
        >"$dir/record.out" 2>"$dir/record.err" || rc=$?
    unset PROBE_PROGRAM_OUTPUT
    echo "$rc" >"$dir/record.rc"
    cp "$profiles/$name.toml" "$dir/profile.toml" 2>/dev/null || true
    # Started outside systemd, with no socket handed over, rsyslogd binds
    # /dev/log itself (replacing journald's link); once it is gone nothing
    # could log. The link is put back, and the result says so.
    devlog_after=$(readlink /dev/log || true)
    if [ "$devlog_after" != "$devlog" ]; then
        ln -sfn "$devlog" /dev/log
        notes="the recorded daemon replaced /dev/log (put back)"
    fi
    log "$name: record exit $rc$([ -n "$notes" ] && echo "; $notes")"
    recorded=$(jq -cn --argjson rc "$rc" --arg profile "$(cat "$dir/profile.toml" 2>/dev/null)" \
        --arg err "$(tail -n 20 "$dir/record.err")" --arg notes "$notes" \
        '{record_exit: $rc, profile: $profile, record_stderr: $err,
          record_notes: (if $notes == "" then null else $notes end)}')
}

# capcheck fix (JSON, then --write), then the restart and the probe.
# Arguments: name unit wait probe mode works_before probe_before
# exposure_before [extra JSON, merged into the record].
fix_and_probe() {
    local name=$1 unit=$2 wait=$3 probe=$4 mode=$5 works_before=$6 probe_before=$7 exp_before=$8 extra=${9:-'{}'}
    local dir=$out/$mode/$name flags=() rc changed state exp_after ids journal='' kind applicability notes planned identity
    mkdir -p "$dir"
    echo "$probe_before" >"$dir/probe-before.txt"
    case $mode in
        unsafe) flags=(--unsafe-fixes) ;;
        record) flags=(--profile "$profiles/$name.toml") ;;
    esac
    snapshot
    rc=0
    if [ "$mode" = record ]; then
        # One call (the VM is slow): the JSON is what --write applied.
        timeout 120 capcheck fix --write --format json --color never "${flags[@]}" "$unit" \
            >"$dir/fix.json" 2>"$dir/write.err" || rc=$?
        cp "$dir/fix.json" "$dir/write.out"
    else
        timeout 120 capcheck fix --format json --color never "${flags[@]}" "$unit" \
            >"$dir/fix.json" 2>"$dir/fix-json.err" || true
        timeout 120 capcheck fix --write --color never "${flags[@]}" "$unit" \
            >"$dir/write.out" 2>"$dir/write.err" || rc=$?
    fi
    echo "$rc" >"$dir/write.rc"
    changes_since_snapshot >"$dir/diff"
    changed=false
    [ -s "$dir/diff" ] && changed=true
    # capcheck may name a user in a sysusers.d file; systemd does not run
    # sysusers by itself until the next boot.
    timeout 60 systemd-sysusers >"$dir/sysusers.out" 2>&1 || true
    systemctl daemon-reload
    log "$name: $mode fix: exit $rc, changed $changed; restarting"
    started_at=$(date '+%F %T')
    state=$(start_unit "$unit" restart)
    run_probe "$name" "$wait" "$probe" "$mode"
    exp_after=$(exposure "$unit")
    ids=$(main_ids "$unit")
    unit_settings "$unit" >"$dir/settings.txt"
    echo "$probe_out" >"$dir/probe.txt"
    if [ "$probe_ok" != true ]; then
        journal=$(journal_tail "$unit")
    fi
    echo "$journal" >"$dir/journal.txt"
    kind=$(jq -r '[.[]? | .kind? // empty | tostring] | unique | join(",")' "$dir/fix.json" 2>/dev/null || true)
    applicability=$(jq -r '[.[]? | .applicability? // empty | tostring] | unique | join(",")' "$dir/fix.json" 2>/dev/null || true)
    notes=$(jq -r '[.[]? | (.notes? // [])[]?, (.error? // empty) | tostring] | join("; ")' "$dir/fix.json" 2>/dev/null || true)
    # Who it runs as after the fix and why, and why root stayed.
    identity=$(jq -r '[.[]? | (.identity.identity? // empty), ((.left_alone? // [])[]? | select(startswith("the identity")))] | join("; ")' "$dir/fix.json" 2>/dev/null || true)
    # What the JSON planned, to compare with what --write did.
    planned=$(jq '[.[]? | (.changes? // [])[]?] | length' "$dir/fix.json" 2>/dev/null || echo null)
    # A fixed daemon must also stop: one that cannot end its workers any
    # more (a missing CAP_KILL) holds systemd until TimeoutStopSec= and is
    # killed (Result=timeout).
    local stop_started=$SECONDS
    stop_unit "$unit" >/dev/null
    extra=$(jq -c --argjson secs "$((SECONDS - stop_started))" --arg result "$(prop "$unit" Result)" \
        '. + {stop_seconds: $secs, stop_result: $result}' <<<"$extra")
    # A move off root must also survive its own stop: what the first start
    # found left by the root daemon (a runtime directory's contents, which
    # systemd removes at stop) is not there at the next.
    if [ "$mode" = record ] && [ "$changed" = true ] && [ "$probe_ok" = true ]; then
        local state_again
        state_again=$(start_unit "$unit" start)
        run_probe "$name" "$wait" "$probe" "$mode-again"
        [ "$probe_ok" = true ] || journal=$(journal_tail "$unit")
        log "$name: $mode, started again: $state_again, probe $probe_ok ($probe_out)"
        extra=$(jq -c --arg state "$state_again" --argjson ok "$probe_ok" --arg out "$probe_out" \
            '. + {state_again: $state, works_again: $ok, probe_again: $out}' <<<"$extra")
        [ "$probe_ok" = true ] || state="$state; started again: $state_again"
        stop_unit "$unit" >/dev/null
    fi
    log "$name: $mode: $state, probe $probe_ok ($probe_out); stopped in $((SECONDS - stop_started)) s ($(jq -r .stop_result <<<"$extra"))"
    emit "$extra" --arg mode "$mode" --argjson changed "$changed" \
        --argjson works_before "$works_before" --argjson works_after "$probe_ok" \
        --arg state_after "$state" --arg probe_after "$probe_out" \
        --argjson probe_seconds "$probe_secs" \
        --argjson exposure_before "$(json_or_null "$exp_before")" \
        --argjson exposure_after "$(json_or_null "$exp_after")" \
        --arg ids "$ids" --arg journal "$journal" --arg diff "$(cat "$dir/diff")" \
        --arg fix_kind "$kind" --arg applicability "$applicability" --arg fix_exit "$rc" \
        --arg fix_notes "$notes" --argjson planned_changes "${planned:-null}" \
        --arg fix_identity "$identity" \
        --arg settings "$(cat "$dir/settings.txt")" --arg unit "$unit" --arg daemon "$name"
}

# --check-probes: the probe passes with the daemon up and fails with it
# (and its sockets) stopped, given its full wait.
check_probe() {
    local name=$1 unit=$2 wait=$3 probe=$4 dir=$out/probe-check/$1 state up up_out stopped down down_out
    mkdir -p "$dir"
    started_at=$(date '+%F %T')
    state=$(start_unit "$unit" start)
    run_probe "$name" "$wait" "$probe" up
    up=$probe_ok up_out=$probe_out
    stopped=$(stop_unit "$unit")
    run_probe "$name" "$wait" "$probe" down
    down=$probe_ok down_out=$probe_out
    # Nothing may have started it again meanwhile.
    local after
    after=$(prop "$unit" ActiveState)
    log "$name: probe with the daemon up: $up; stopped ($stopped, now $after): $down ($down_out)"
    jq -cn --arg daemon "$name" --arg unit "$unit" --arg state "$state" \
        --argjson works_up "$up" --arg probe_up "$up_out" \
        --argjson works_down "$down" --arg probe_down "$down_out" \
        --arg stopped "$stopped" --arg state_while_down "$after" \
        --argjson probe_seconds_down "$probe_secs" \
        '{daemon: $daemon, unit: $unit, mode: "probe-check", state: $state,
          works_up: $works_up, probe_up: $probe_up, works_down: $works_down,
          probe_down: $probe_down, stopped: $stopped, state_while_down: $state_while_down,
          probe_seconds_down: $probe_seconds_down}' >>"$out/results.jsonl"
}

# Appends one record. Arguments: a JSON object merged into it, then jq
# --arg/--argjson pairs (see callers).
emit() {
    local extra=$1
    shift
    jq -cn --argjson extra "$extra" "$@" '
        ($ids | split(" ")) as $id
        | ($settings | split("\n") | map(select(contains("=")) | capture("^(?<key>[^=]+)=(?<value>.*)$")) | from_entries) as $s
        | {daemon: $daemon, unit: $unit, mode: $mode, changed: $changed,
           fix_kind: (if $fix_kind == "" then null else $fix_kind end),
           applicability: (if $applicability == "" then null else $applicability end),
           fix_exit: (if $fix_exit == "" then null else ($fix_exit | tonumber) end),
           fix_notes: (if $fix_notes == "" then null else $fix_notes end),
           fix_identity: (if $fix_identity == "" then null else $fix_identity end),
           planned_changes: $planned_changes,
           works_before: $works_before, works_after: $works_after,
           state_after: $state_after, probe_after: $probe_after, probe_seconds: $probe_seconds,
           exposure_before: $exposure_before, exposure_after: $exposure_after,
           uid_after: (if ($id[0] // "") == "" then null else ($id[0] | tonumber) end),
           capeff_after: (if ($id[1] // "") == "" then null else $id[1] end),
           user_after: $s.User, dynamic_user_after: $s.DynamicUser,
           bounding_after: $s.CapabilityBoundingSet, ambient_after: $s.AmbientCapabilities,
           no_new_privileges_after: $s.NoNewPrivileges, nrestarts_after: ($s.NRestarts | tonumber? // null),
           protect_system_after: $s.ProtectSystem, protect_home_after: $s.ProtectHome,
           private_tmp_after: $s.PrivateTmp,
           diff: $diff, journal: $journal} + $extra' >>"$out/results.jsonl"
}

# --- try (a container: `capcheck try` needs systemd, not tracing) ----------
#
# Trials of nginx in boot "try", and a check after a reboot on the same
# overlay (boot "try-reboot"):
#   broken    `try --unsafe-fixes --profile` of a profile recorded as
#             www-data: nginx de-rooted cannot write its pid file; try must
#             roll back, print the journal, exit non-zero
#   hang      a probe that never ends (`sleep 100000 & sleep 100001`):
#             killed with its process group at --probe-timeout, rolled back,
#             try ends within settle + probe timeout + stop time
#   admin     an administrator's file at try's own drop-in path: try stops
#             before anything is restarted, exits non-zero, and the file
#             stays byte for byte
#   second    a second `try` while a trial is on: refused, one drop-in
#   late      a fix that works at first and dies 12 s later (the lane's
#             ExecStartPost= kills a main process that has NoNewPrivs):
#             rolled back with the default settle time
#   killed-written, killed-restart, killed-settle, killed-rollback
#             `try` killed with SIGKILL after it wrote its drop-in (while
#             the original stops), during the restart, during the settle,
#             during the rollback; `try --rollback` restores the original,
#             and the administrator's files (a runtime drop-in beside try's,
#             a persistent one that makes starting and stopping take 3 s
#             more: the windows the kills aim at) stay as they were
#   keep      `try --keep` of the default plan (confine): persistent drop-in,
#             no runtime one; nginx is enabled for the reboot
#   reboot    after the reboot nginx started by itself with the kept fix

try_unit=nginx.service
try_dropin_dir=/run/systemd/system/nginx.service.d
try_dropin=$try_dropin_dir/99-capcheck-try.conf
try_marker=/run/capcheck/try/nginx.service.json
try_persistent=/etc/systemd/system/nginx.service.d/50-capcheck.conf
# The lane's own files, as an administrator's (names 10-lane-*; their
# commands have `+`, outside the sandbox a fix plans).
try_admin_runtime=$try_dropin_dir/10-lane-admin.conf
try_admin_slow=/etc/systemd/system/nginx.service.d/10-lane-slow.conf
try_admin_late=/etc/systemd/system/nginx.service.d/10-lane-late.conf

# The files left in the runtime drop-in directory, one per line, but the
# lane's own.
try_runtime_left() {
    find "$try_dropin_dir" -mindepth 1 ! -name '10-lane-*' 2>/dev/null || true
}

# Waits (60 s at most) until the shell condition $1 holds.
wait_until() {
    local deadline=$((SECONDS + 60))
    until eval "$1"; do
        ((SECONDS < deadline)) || return 1
        sleep 0.1
    done
}

# nginx as shipped, up and probed: sets works_before, probe_before,
# exp_before, bounding_before.
try_start_shipped() {
    started_at=$(date '+%F %T')
    start_unit "$try_unit" start >/dev/null
    run_probe nginx 10 "$1" shipped
    works_before=$probe_ok probe_before=$probe_out
    exp_before=$(exposure "$try_unit")
    bounding_before=$(prop "$try_unit" CapabilityBoundingSet)
}

# Restarts nginx with the administrator's files of the kill scenarios:
# sets admin_sums.
try_admin_files_in() {
    mkdir -p "$try_dropin_dir" "${try_admin_slow%/*}"
    printf '[Service]\nEnvironment=LANE_ADMIN=1\n' >"$try_admin_runtime"
    printf '[Service]\nExecStartPre=+/bin/sleep 3\nExecStopPost=+/bin/sleep 3\n' >"$try_admin_slow"
    systemctl daemon-reload
    start_unit "$try_unit" restart >/dev/null
    admin_sums=$(sha256sum "$try_admin_runtime" "$try_admin_slow")
}

# Removes the lane's administrator files; nginx runs without them.
try_admin_files_out() {
    rm -f "$try_admin_runtime" "$try_admin_slow" "$try_admin_late"
    rmdir "$try_dropin_dir" "${try_admin_slow%/*}" 2>/dev/null || true
    systemctl daemon-reload
    start_unit "$try_unit" restart >/dev/null
}

# The trial's instance runs: the drop-in is there, in force (NoNewPrivileges=
# is in every plan of nginx's), active, a main process other than $1.
trial_up() {
    [ -e "$try_dropin" ] && [ "$(prop "$try_unit" ActiveState)" = active ] &&
        [ "$(prop "$try_unit" NoNewPrivileges)" = yes ] && [ "$(prop "$try_unit" MainPID)" != "$1" ]
}

json_bool() {
    if "$@"; then echo true; else echo false; fi
}

# Appends the record of a try scenario. Arguments: the scenario, then jq
# --arg/--argjson pairs: try_exit (JSON), try_output, command, extra (JSON).
try_emit() {
    local scenario=$1 dir=$out/try/$1 state ids exp_after
    shift
    mkdir -p "$dir"
    state=$(settled_state "$try_unit")
    run_probe nginx 10 "$try_probe" try
    exp_after=$(exposure "$try_unit")
    ids=$(main_ids "$try_unit")
    unit_settings "$try_unit" >"$dir/settings.txt"
    systemctl show -p DropInPaths --value "$try_unit" >"$dir/dropins.txt"
    local journal=''
    [ "$probe_ok" = true ] || journal=$(journal_tail "$try_unit")
    log "nginx: try $scenario: $state, probe $probe_ok ($probe_out)"
    jq -cn --arg scenario "$scenario" --arg unit "$try_unit" \
        --argjson works_before "${works_before:-null}" --arg probe_before "${probe_before:-}" \
        --argjson works_after "$probe_ok" --arg probe_after "$probe_out" --arg state_after "$state" \
        --argjson exposure_before "$(json_or_null "${exp_before:-}")" \
        --argjson exposure_after "$(json_or_null "$exp_after")" \
        --arg bounding_before "${bounding_before:-}" \
        --arg settings "$(cat "$dir/settings.txt")" --arg ids "$ids" \
        --arg dropin_paths "$(cat "$dir/dropins.txt")" \
        --arg runtime_left "$(try_runtime_left)" \
        --argjson marker_left "$(json_bool test -e "$try_marker")" \
        --arg persistent "$(cat "$try_persistent" 2>/dev/null)" \
        --argjson persistent_exists "$(json_bool test -e "$try_persistent")" \
        --argjson try_seconds "${try_seconds:-null}" \
        --arg journal "$journal" "$@" '
        ($ids | split(" ")) as $id
        | ($settings | split("\n") | map(select(contains("=")) | capture("^(?<key>[^=]+)=(?<value>.*)$")) | from_entries) as $s
        | {daemon: "nginx", unit: $unit, mode: "try", scenario: $scenario, command: $command,
           try_exit: $try_exit, try_output: $try_output, try_seconds: $try_seconds,
           journal_in_output: ($try_output | test("(?m)^journal:\n(.*\n)*.*nginx\\[[0-9]+\\]: ")),
           works_before: $works_before, probe_before: $probe_before,
           works_after: $works_after, probe_after: $probe_after, state_after: $state_after,
           exposure_before: $exposure_before, exposure_after: $exposure_after,
           uid_after: (if ($id[0] // "") == "" then null else ($id[0] | tonumber) end),
           capeff_after: (if ($id[1] // "") == "" then null else $id[1] end),
           user_after: $s.User, bounding_before: $bounding_before,
           bounding_after: $s.CapabilityBoundingSet, ambient_after: $s.AmbientCapabilities,
           no_new_privileges_after: $s.NoNewPrivileges, nrestarts_after: ($s.NRestarts | tonumber? // null),
           protect_system_after: $s.ProtectSystem, protect_home_after: $s.ProtectHome,
           private_tmp_after: $s.PrivateTmp,
           dropin_paths: $dropin_paths,
           runtime_dropins_left: ($runtime_left | split("\n") | map(select(. != ""))),
           marker_left: $marker_left, persistent_dropin_exists: $persistent_exists,
           persistent_dropin: (if $persistent == "" then null else $persistent end),
           journal: $journal} + $extra' >>"$out/results.jsonl"
}

# Runs `capcheck try ARGS` to completion: sets try_rc, try_output and
# try_seconds.
try_run() {
    local dir=$1 started ms
    shift
    mkdir -p "$dir"
    try_rc=0
    started=$(date +%s%N)
    timeout -k 10 240 capcheck try "$@" >"$dir/try.out" 2>&1 || try_rc=$?
    ms=$((($(date +%s%N) - started) / 1000000))
    try_seconds=$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))
    try_output=$(cat "$dir/try.out")
    log "nginx: capcheck try $*: exit $try_rc in $try_seconds s"
}

try_broken() {
    local dir=$out/try/broken profile=$profiles/www-data.toml
    try_start_shipped "$try_probe"
    mkdir -p "$profiles"
    # A profile as if nginx had been recorded as www-data, successfully:
    # with --unsafe-fixes it moves nginx, which needs root, to www-data.
    printf '%s\n' '[recording]' 'identity = "user"' 'user = "www-data"' 'succeeded = true' \
        'complete = true' '' '[capabilities.CAP_NET_BIND_SERVICE]' 'granted = 1' >"$profile"
    local args=("$try_unit" --unsafe-fixes --profile "$profile" --settle 10s --probe "$lane/inside.sh --probe nginx try")
    try_run "$dir" "${args[@]}"
    try_emit broken --argjson try_exit "$try_rc" --arg try_output "$try_output" \
        --arg command "capcheck try ${args[*]}" --argjson extra "$(jq -cn --arg p "$(cat "$profile")" '{profile: $p}')"
}

try_hang() {
    local dir=$out/try/hang settle=5 probe_timeout=5 left stop_timeout
    try_start_shipped "$try_probe"
    local args=("$try_unit" --settle "${settle}s" --probe 'sleep 100000 & sleep 100001; true' --probe-timeout "${probe_timeout}s")
    try_run "$dir" "${args[@]}"
    left=$(pgrep -a -x sleep | grep -E ' 10000[01]$' || true)
    stop_timeout=$(prop "$try_unit" TimeoutStopUSec)
    try_emit hang --argjson try_exit "$try_rc" --arg try_output "$try_output" \
        --arg command "capcheck try ${args[*]}" \
        --argjson extra "$(jq -cn --argjson settle "$settle" \
            --argjson probe_timeout "$probe_timeout" --arg stop_timeout "$stop_timeout" --arg left "$left" \
            '{settle_seconds: $settle, probe_timeout_seconds: $probe_timeout,
              stop_timeout: $stop_timeout, probe_left: $left}')"
}

try_admin() {
    local dir=$out/try/admin text sum_before sum_after pid_before since_before
    try_start_shipped "$try_probe"
    # The administrator's runtime drop-in, at try's own path, in force.
    mkdir -p "$try_dropin_dir"
    text=$'# the administrator\'s, not capcheck\'s\n[Service]\nEnvironment=ADMIN=1\n'
    printf '%s' "$text" >"$try_dropin"
    systemctl daemon-reload
    start_unit "$try_unit" restart >/dev/null
    sum_before=$(sha256sum "$try_dropin")
    pid_before=$(prop "$try_unit" MainPID)
    since_before=$(prop "$try_unit" ActiveEnterTimestampMonotonic)
    local args=("$try_unit" --settle 5s)
    try_run "$dir" "${args[@]}"
    sum_after=$(sha256sum "$try_dropin" 2>&1 || true)
    local same_run environment text_after
    same_run=$(json_bool test "$(prop "$try_unit" MainPID)" = "$pid_before" -a \
        "$(prop "$try_unit" ActiveEnterTimestampMonotonic)" = "$since_before")
    environment=$(prop "$try_unit" Environment)
    text_after=$(cat "$try_dropin" 2>/dev/null || true)
    try_emit admin --argjson try_exit "$try_rc" --arg try_output "$try_output" \
        --arg command "capcheck try ${args[*]} (an administrator's $try_dropin there)" \
        --argjson extra "$(jq -cn --argjson intact "$(json_bool test "$sum_after" = "$sum_before")" \
            --argjson same_run "$same_run" --arg environment "$environment" --arg text "$text_after" \
            '{admin_file_intact: $intact, admin_file_after: $text, same_run: $same_run,
              environment_after: $environment}')"
    rm -f "$try_dropin"
    rmdir "$try_dropin_dir" 2>/dev/null || true
    systemctl daemon-reload
    start_unit "$try_unit" restart >/dev/null
}

try_second() {
    local dir=$out/try/second pid_before first first_rc=0 up=false dropins works_during rollback_rc=0
    mkdir -p "$dir"
    try_start_shipped "$try_probe"
    pid_before=$(prop "$try_unit" MainPID)
    capcheck try "$try_unit" --settle 20s >"$dir/first.out" 2>&1 &
    first=$!
    wait_until "trial_up $pid_before" && up=true
    try_run "$dir" "$try_unit" --settle 5s
    dropins=$(find "$try_dropin_dir" -name '*capcheck*' 2>/dev/null | wc -l)
    run_probe nginx 10 "$try_probe" during
    works_during=$probe_ok
    wait "$first" || first_rc=$?
    timeout -k 10 120 capcheck try --rollback "$try_unit" >"$dir/rollback.out" 2>&1 || rollback_rc=$?
    log "nginx: second trial: exit $try_rc; first $first_rc; capcheck drop-ins during: $dropins; rollback $rollback_rc"
    try_emit second --argjson try_exit "$try_rc" --arg try_output "$try_output" \
        --arg command "capcheck try $try_unit --settle 5s (while capcheck try $try_unit --settle 20s runs)" \
        --argjson extra "$(jq -cn --argjson up "$up" --argjson dropins "$dropins" --argjson works "$works_during" \
            --argjson first_rc "$first_rc" --arg first_out "$(cat "$dir/first.out")" \
            --argjson rollback_rc "$rollback_rc" --arg rollback_out "$(cat "$dir/rollback.out")" \
            '{first_trial_up: $up, capcheck_dropins_during: $dropins, works_during: $works,
              first_exit: $first_rc, first_output: $first_out,
              rollback_exit: $rollback_rc, rollback_output: $rollback_out}')"
}

try_late() {
    local dir=$out/try/late
    mkdir -p "$dir" "${try_admin_late%/*}"
    # Dies 12 s after it started, only with NoNewPrivs set (the trial's
    # instance; the original has none). The lane's commands have `+`: they
    # are outside what a fix plans for.
    printf '%s\n' '[Service]' \
        "ExecStartPost=+/bin/sh -c 'if grep -q \"NoNewPrivs:.1\" /proc/\$\$MAINPID/status; then (sleep 12; kill -9 \$\$MAINPID) >/dev/null 2>&1 & fi'" \
        >"$try_admin_late"
    systemctl daemon-reload
    try_start_shipped "$try_probe"
    try_run "$dir" "$try_unit"
    try_emit late --argjson try_exit "$try_rc" --arg try_output "$try_output" \
        --arg command "capcheck try $try_unit (default settle; the trial's instance is killed 12 s after its start)" \
        --argjson extra '{}'
    try_admin_files_out
}

# try killed with SIGKILL at step $1 (written, restart, settle, rollback),
# then `try --rollback`.
try_killed() {
    local step=$1 dir=$out/try/killed-$1 pid_before try_pid rc=0 reached=false args during state_at_kill
    mkdir -p "$dir"
    try_start_shipped "$try_probe"
    try_admin_files_in
    pid_before=$(prop "$try_unit" MainPID)
    case $step in
        rollback) args=(--settle 2s --probe false) ;; # fails: rolled back
        *) args=(--settle 30s) ;;
    esac
    capcheck try "$try_unit" "${args[@]}" >"$dir/killed-try.out" 2>&1 &
    try_pid=$!
    case $step in
        # Written, not in force: the original is stopping (3 s).
        written) wait_until '[ -e "$try_dropin" ] && [ "$(prop "$try_unit" NoNewPrivileges)" = no ]' && reached=true ;;
        # In force, the trial's instance starting (3 s).
        restart) wait_until '[ -e "$try_dropin" ] && [ "$(prop "$try_unit" NoNewPrivileges)" = yes ] &&
            [ "$(prop "$try_unit" ActiveState)" = activating ]' && reached=true ;;
        settle) wait_until "trial_up $pid_before" && sleep 2 && reached=true ;;
        # The probe failed; the trial's instance is stopping (3 s).
        rollback) wait_until "trial_up $pid_before" &&
            wait_until '[ "$(prop "$try_unit" ActiveState)" = deactivating ]' && reached=true ;;
    esac
    state_at_kill="$(prop "$try_unit" ActiveState) ($(prop "$try_unit" SubState))"
    during=$(prop "$try_unit" CapabilityBoundingSet)
    kill -KILL "$try_pid" 2>/dev/null || true
    wait "$try_pid" || rc=$?
    local pending_dropin pending_marker
    pending_dropin=$(json_bool test -e "$try_dropin")
    pending_marker=$(json_bool test -e "$try_marker")
    log "nginx: try killed at $step (exit $rc; reached: $reached, $state_at_kill; pending drop-in $pending_dropin, marker $pending_marker)"
    # --keep with arguments that plan another fix (the broken one's) must
    # refuse: what is kept is what was tried. The trial stays pending.
    local other_rc=0 still_pending
    timeout -k 10 120 capcheck try "$try_unit" --keep --unsafe-fixes --profile "$profiles/www-data.toml" \
        >"$dir/keep-other.out" 2>&1 || other_rc=$?
    still_pending=$(json_bool test -e "$try_marker" -a -e "$try_dropin")
    log "nginx: try --keep with other arguments: exit $other_rc, still pending: $still_pending"
    try_run "$dir" --rollback "$try_unit"
    local admin_intact environment
    admin_intact=$(json_bool test "$(sha256sum "$try_admin_runtime" "$try_admin_slow" 2>&1)" = "$admin_sums")
    environment=$(prop "$try_unit" Environment)
    try_emit "killed-$step" --argjson try_exit "$try_rc" --arg try_output "$try_output" \
        --arg command "capcheck try --rollback $try_unit (after SIGKILL of capcheck try $try_unit ${args[*]} at $step)" \
        --argjson extra "$(jq -cn --argjson killed_exit "$rc" --argjson reached "$reached" --arg state "$state_at_kill" \
            --argjson pending_dropin "$pending_dropin" --argjson pending_marker "$pending_marker" \
            --arg bounding_during "$during" --arg killed_output "$(cat "$dir/killed-try.out")" \
            --arg left "$(pgrep -a -x capcheck || true)" \
            --argjson keep_other_exit "$other_rc" --arg keep_other_output "$(cat "$dir/keep-other.out")" \
            --argjson still_pending "$still_pending" --argjson admin_intact "$admin_intact" \
            --arg environment "$environment" --argjson dir_kept "$(json_bool test -d "$try_dropin_dir")" \
            '{killed_exit: $killed_exit, reached_step: $reached, state_at_kill: $state,
              keep_other_exit: $keep_other_exit, keep_other_output: $keep_other_output,
              pending_after_keep_other: $still_pending,
              pending_dropin_after_kill: $pending_dropin, pending_marker_after_kill: $pending_marker,
              bounding_during_trial: $bounding_during, killed_output: $killed_output,
              capcheck_left: $left, admin_files_intact: $admin_intact,
              environment_after: $environment, runtime_dir_kept: $dir_kept}')"
    try_admin_files_out
}

try_keep() {
    local dir=$out/try/keep
    mkdir -p "$dir"
    # Started at boot after the reboot, with whatever was kept.
    systemctl enable "$try_unit" >"$dir/enable.out" 2>&1
    try_start_shipped "$try_probe"
    snapshot
    local args=("$try_unit" --keep --settle 10s --probe "$lane/inside.sh --probe nginx try")
    try_run "$dir" "${args[@]}"
    changes_since_snapshot >"$dir/diff"
    try_emit keep --argjson try_exit "$try_rc" --arg try_output "$try_output" \
        --arg command "capcheck try ${args[*]}" \
        --argjson extra "$(jq -cn --arg diff "$(cat "$dir/diff")" --arg planned "$(capcheck fix --diff "$try_unit" 2>&1)" \
            '{diff: $diff, fix_after: $planned}')"
}

try_reboot() {
    local state deadline
    # nginx was started by the boot; wait until it is no longer starting.
    deadline=$((SECONDS + 60))
    while state=$(prop "$try_unit" ActiveState); [[ $state == activating || $state == inactive ]]; do
        ((SECONDS < deadline)) || break
        sleep 0.5
    done
    works_before='' probe_before='' exp_before='' bounding_before=''
    try_emit reboot --argjson try_exit null --arg try_output '' \
        --arg command "(reboot; nginx enabled)" \
        --argjson extra "$(jq -cn --arg enabled "$(systemctl is-enabled "$try_unit" 2>&1)" \
            --arg fix_after "$(capcheck fix --diff "$try_unit" 2>&1)" \
            '{enabled: $enabled, fix_after: $fix_after}')"
}

try_scenario() {
    mkdir -p /run/lane
    export PROBE_UNIT=$try_unit
    try_probe=$(rows | awk -F'\t' '$1 == "nginx" { print $5 }')
    case $1 in
        broken) try_broken ;;
        hang) try_hang ;;
        admin) try_admin ;;
        second) try_second ;;
        late) try_late ;;
        killed-written | killed-restart | killed-settle | killed-rollback) try_killed "${1#killed-}" ;;
        keep) try_keep ;;
        reboot) try_reboot ;;
        *) echo "inside.sh: no try scenario $1" >&2; return 2 ;;
    esac
}

try_lane() {
    # keep last: it changes nginx for good (and for the reboot).
    local scenarios=(broken hang admin second late killed-written killed-restart killed-settle killed-rollback keep)
    [ "$LANE_BOOT" = try-reboot ] && scenarios=(reboot)
    local scenario
    for scenario in "${scenarios[@]}"; do
        log "nginx: try scenario $scenario"
        if ! timeout -k 10 "$daemon_timeout" "$0" --try "$scenario"; then
            log "nginx: ERROR: try scenario $scenario failed or timed out"
            jq -e --arg s "$scenario" 'select(.mode == "try" and .scenario == $s)' \
                "$out/results.jsonl" >/dev/null 2>&1 && continue
            jq -cn --arg s "$scenario" --arg journal "$(journal_tail "$try_unit")" \
                '{daemon: "nginx", unit: "nginx.service", mode: "try", scenario: $s,
                  error: "the lane run of this scenario failed or timed out", works_after: null, journal: $journal}' \
                >>"$out/results.jsonl"
        fi
    done
}

# --- record --attach (a VM) ----------------------------------------------
#
# nginx and chrony run under systemd with a probe loop driving them; each
# is recorded with `record --unit U --attach --duration 20s`, nginx with a
# `systemctl reload` while it is recorded. Then: no capcheck process and
# no tracing of capcheck's left.

attach_one() {
    local name=$1 unit=$2 reload=$3 dir=$out/attach/$1 rec rc=0 deadline reloaded=false
    local profile=$profiles/attach-$name.toml
    mkdir -p "$dir" "$profiles"
    rm -f "$profile"
    started_at=$(date '+%F %T')
    local state
    state=$(start_unit "$unit" start)
    local pid_before restarts_before
    pid_before=$(prop "$unit" MainPID) restarts_before=$(prop "$unit" NRestarts)
    log "$name: $state; capcheck record --unit $unit --attach --duration 20s"
    capcheck record --unit "$unit" --attach --duration 20s -o "$profile" \
        >"$dir/record.out" 2>"$dir/record.err" &
    rec=$!
    if [ "$reload" = 1 ]; then
        # The reload once the recording is on (its instance traces), so
        # that what a reload does is in the profile.
        deadline=$((SECONDS + 60))
        until [ "$(cat "/sys/kernel/tracing/instances/capcheck-$rec/tracing_on" 2>/dev/null)" = 1 ]; do
            ((SECONDS < deadline)) || break
            sleep 0.2
        done
        sleep 3
        if timeout 60 systemctl reload "$unit" >"$dir/reload.out" 2>&1; then
            reloaded=true
        fi
        log "$name: systemctl reload $unit: $reloaded"
    fi
    wait "$rec" || rc=$?
    cp "$profile" "$dir/profile.toml" 2>/dev/null || true
    run_probe "$name" 10 "$(rows | awk -F'\t' -v n="$name" '$1 == n { print $5 }')" attach
    log "$name: record --attach exit $rc; probe after: $probe_ok"
    jq -cn --arg daemon "$name" --arg unit "$unit" --argjson record_exit "$rc" \
        --arg profile "$(cat "$profile" 2>/dev/null)" --arg err "$(tail -n 20 "$dir/record.err")" \
        --argjson reloaded "$reloaded" --argjson reload_asked "$([ "$reload" = 1 ] && echo true || echo false)" \
        --argjson works_after "$probe_ok" --arg probe_after "$probe_out" \
        --arg state_after "$(prop "$unit" ActiveState)" \
        --argjson same_run "$([ "$(prop "$unit" MainPID)" = "$pid_before" ] && [ "$(prop "$unit" NRestarts)" = "$restarts_before" ] && echo true || echo false)" \
        --arg ids "$(main_ids "$unit")" \
        '($ids | split(" ")) as $id
        | {daemon: $daemon, unit: $unit, mode: "attach", record_exit: $record_exit, profile: $profile,
           record_stderr: $err, reload_asked: $reload_asked, reloaded: $reloaded,
           works_after: $works_after, probe_after: $probe_after, state_after: $state_after,
           same_run: $same_run, uid_after: ($id[0] | tonumber? // null),
           capeff_after: (if ($id[1] // "") == "" then null else $id[1] end)}' >"$dir/result.json"
}

# With the attach mode, in the record mode, for each recorded daemon as
# shipped: `record --attach` of the running daemon while its probe runs in
# a loop, timed (a recording must end with its --duration), then `fix
# --write --profile` of that profile in the default mode. A profile that
# saw only the running daemon must not change what its start needs: the
# fix changes nothing, or the daemon must still work after a restart.
attach_fix() {
    local name=$1 unit=$2 wait=$3 probe=$4 dir=$out/attach-fix/$1 rc=0 loop started elapsed
    local profile=$profiles/attach-$name.toml changed=false state works=true fix_rc=0
    mkdir -p "$dir" "$profiles"
    rm -f "$profile"
    # shellcheck disable=SC2016
    (
        while :; do
            timeout 30 bash -c '. /lane/probes.sh && eval "$1"' probe "$probe" >/dev/null 2>&1 || true
            sleep 0.2
        done
    ) &
    loop=$!
    started=$SECONDS
    timeout -k 5 120 capcheck record --unit "$unit" --attach --duration 8s -o "$profile" \
        >"$dir/record.out" 2>"$dir/record.err" || rc=$?
    elapsed=$((SECONDS - started))
    kill "$loop" 2>/dev/null || true
    wait "$loop" 2>/dev/null || true
    cp "$profile" "$dir/profile.toml" 2>/dev/null || true
    snapshot
    timeout 120 capcheck fix --write --format json --color never --profile "$profile" "$unit" \
        >"$dir/fix.json" 2>"$dir/write.err" || fix_rc=$?
    changes_since_snapshot >"$dir/diff"
    if [ -s "$dir/diff" ]; then
        changed=true
        systemctl daemon-reload
        state=$(start_unit "$unit" restart)
        run_probe "$name" "$wait" "$probe" attach-fix
        works=$probe_ok
        # Back to the unit as shipped for the recording that follows.
        restore_snapshot
        systemctl daemon-reload
        start_unit "$unit" restart >/dev/null
    fi
    log "$name: record --attach exit $rc in ${elapsed}s (--duration 8s); fix exit $fix_rc, changed $changed, works $works"
    jq -cn --arg daemon "$name" --arg unit "$unit" --argjson record_exit "$rc" \
        --argjson elapsed "$elapsed" --argjson fix_exit "$fix_rc" --argjson changed "$changed" \
        --argjson works_after "$works" --arg profile "$(cat "$profile" 2>/dev/null)" \
        --arg err "$(tail -n 20 "$dir/record.err")" --arg diff "$(cat "$dir/diff")" \
        --arg notes "$(jq -r '[.[]? | (.notes? // [])[]?, (.left_alone? // [])[]?] | join("; ")' "$dir/fix.json" 2>/dev/null)" \
        '{daemon: $daemon, unit: $unit, mode: "attach-fix", record_exit: $record_exit,
          record_seconds: $elapsed, duration_seconds: 8, fix_exit: $fix_exit, changed: $changed,
          works_after: $works_after, profile: $profile, record_stderr: $err, diff: $diff,
          fix_notes: $notes}' >>"$out/results.jsonl"
}

attach_lane() {
    local load_pid tracefs=/sys/kernel/tracing
    mkdir -p "$out/attach" /run/lane
    # run.sh tells the attach part by this line.
    log "attach: record --attach of nginx and chrony under load"
    export PROBE_UNIT=nginx.service
    # The load: a request to nginx and a report from chronyd, all the time.
    (
        while :; do
            curl -s -o /dev/null --max-time 2 http://127.0.0.1/ || true
            timeout 5 chronyc -n tracking >/dev/null 2>&1 || true
            sleep 0.2
        done
    ) &
    load_pid=$!
    attach_one nginx nginx.service 1
    export PROBE_UNIT=chrony.service
    attach_one chrony chrony.service 0
    kill "$load_pid" 2>/dev/null || true
    wait "$load_pid" 2>/dev/null || true
    local left instances kprobes
    left=$(pgrep -a -x capcheck || true)
    instances=$(find "$tracefs/instances" -mindepth 1 -maxdepth 1 -name 'capcheck-*' 2>/dev/null || true)
    kprobes=$(grep capcheck_ "$tracefs/kprobe_events" 2>/dev/null || true)
    log "attach: capcheck left: [${left}], instances: [${instances}], kprobes: [${kprobes}]"
    local name
    for name in nginx chrony; do
        jq -c --arg left "$left" --arg instances "$instances" --arg kprobes "$kprobes" \
            '. + {capcheck_left: $left, tracing_instances_left: $instances, kprobes_left: $kprobes}' \
            "$out/attach/$name/result.json" >>"$out/results.jsonl"
        systemctl stop "$(jq -r .unit "$out/attach/$name/result.json")" || true
    done
}

# --- exim4 (run.sh --modes exim4, over build-exim4.sh's layer) -------------
#
# Debian 12's default MTA ships only /etc/init.d/exim4: systemd runs it
# through the unit systemd-sysv-generator writes into
# /run/systemd/generator.late at each boot and daemon-reload (Type=forking,
# the script leaves the daemon behind). One record per step:
#   exim4-record (a VM)  shipped (with `capcheck lint`), then record: `capcheck
#                        record --unit exim4.service` with the probe, into
#                        /out/exim4/exim4.toml
#   exim4 (nspawn)       shipped (with lint); try: `capcheck try --profile`,
#                        then try-rollback; fix: `capcheck fix --write
#                        --profile`, daemon-reload, restart; fix-reloaded:
#                        daemon-reload (the generator runs again), restart
#   exim4-reboot         reboot: exim4 started by the boot, the fix in force

exim4_row=$(printf 'exim4\texim4.service\texim4-daemon-light\t20\tsmtp_deliver Exim\tno: its own lane (run.sh --modes exim4)')
exim4_unit=exim4.service
exim4_profile=$out/exim4/exim4.toml
exim4_generated=/run/systemd/generator.late/exim4.service

# Appends the record of step $1, with the JSON object $2 merged in: the
# unit settled and probed, its settings, drop-ins and generated file.
exim4_emit() {
    local step=$1 extra=$2 dir=$out/exim4/$1 state ids journal=''
    mkdir -p "$dir"
    state=$(settled_state "$exim4_unit")
    # A delivery that failed in an earlier step (a broken trial) leaves a
    # retry record: exim would then only queue the probe's mail until the
    # retry time. Each step starts without one.
    rm -f /var/spool/exim4/db/retry /var/spool/exim4/db/retry.lockfile
    run_probe exim4 20 "smtp_deliver Exim" "$step"
    ids=$(main_ids "$exim4_unit")
    unit_settings "$exim4_unit" >"$dir/settings.txt"
    echo "$probe_out" >"$dir/probe.txt"
    if [ "$probe_ok" != true ]; then
        # exim logs to its own files, not to the journal.
        journal="$(journal_tail "$exim4_unit")
--- /var/log/exim4/mainlog
$(tail -n 15 /var/log/exim4/mainlog 2>&1)
--- /var/log/exim4/paniclog
$(tail -n 5 /var/log/exim4/paniclog 2>&1)"
    fi
    log "exim4: $step: $state, probe $probe_ok ($probe_out)"
    jq -cn --arg step "$step" --arg state "$state" --argjson works "$probe_ok" \
        --arg probe "$probe_out" --argjson exposure "$(json_or_null "$(exposure "$exim4_unit")")" \
        --arg settings "$(cat "$dir/settings.txt")" --arg ids "$ids" \
        --arg dropins "$(prop "$exim4_unit" DropInPaths)" \
        --arg fragment "$(prop "$exim4_unit" FragmentPath)" \
        --arg source "$(prop "$exim4_unit" SourcePath)" \
        --arg generated "$(sha256sum "$exim4_generated" 2>/dev/null | cut -c1-64)" \
        --arg journal "$journal" --argjson extra "$extra" '
        ($ids | split(" ")) as $id
        | ($settings | split("\n") | map(select(contains("=")) | capture("^(?<key>[^=]+)=(?<value>.*)$")) | from_entries) as $s
        | {daemon: "exim4", unit: "exim4.service", mode: "exim4", step: $step,
           state_after: $state, works_after: $works, probe_after: $probe, exposure_after: $exposure,
           uid_after: (if ($id[0] // "") == "" then null else ($id[0] | tonumber) end),
           capeff_after: (if ($id[1] // "") == "" then null else $id[1] end),
           user_after: $s.User, bounding_after: $s.CapabilityBoundingSet,
           ambient_after: $s.AmbientCapabilities, no_new_privileges_after: $s.NoNewPrivileges,
           dropin_paths: $dropins, fragment_path: $fragment, source_path: $source,
           generated_sha256: $generated, journal: $journal} + $extra' >>"$out/results.jsonl"
}

# exim4 as shipped (started by the boot), and what `capcheck lint` says.
exim4_shipped() {
    local dir=$out/exim4/shipped rc=0
    mkdir -p "$dir"
    started_at=$(date '+%F %T')
    start_unit "$exim4_unit" start >/dev/null
    timeout 120 capcheck lint --format json --exit-zero "$exim4_unit" >"$dir/lint.json" 2>"$dir/lint.err" || rc=$?
    exim4_emit shipped "$(jq -cn --argjson rc "$rc" --arg lint "$(cat "$dir/lint.json")" \
        --arg err "$(cat "$dir/lint.err")" '{lint_exit: $rc, lint: $lint, lint_stderr: $err}')"
}

exim4_record() {
    local dir=$out/exim4/record rc=0
    mkdir -p "$dir"
    rm -f "$exim4_profile"
    log "exim4: stopped $(stop_unit "$exim4_unit") for the recording"
    # 45 s: the probe waits up to 20 s for the delivery, which a slow VM
    # needs (a probe still running when the recording stops fails it).
    timeout -k 10 180 capcheck record --unit "$exim4_unit" --timeout 45s \
        --probe "$lane/inside.sh --probe exim4 recording" -o "$exim4_profile" \
        >"$dir/record.out" 2>"$dir/record.err" || rc=$?
    log "exim4: record exit $rc"
    started_at=$(date '+%F %T')
    start_unit "$exim4_unit" start >/dev/null
    exim4_emit record "$(jq -cn --argjson rc "$rc" --arg profile "$(cat "$exim4_profile" 2>/dev/null)" \
        --arg err "$(tail -n 20 "$dir/record.err")" \
        '{record_exit: $rc, profile: $profile, record_stderr: $err}')"
}

# `capcheck try` of the recorded profile (a runtime drop-in; no --keep),
# then `try --rollback`.
exim4_try() {
    local dir=$out/exim4/try rc=0 back=0
    mkdir -p "$dir"
    started_at=$(date '+%F %T')
    timeout -k 10 240 capcheck try "$exim4_unit" --profile "$exim4_profile" --settle 10s \
        --probe "$lane/inside.sh --probe exim4 try" >"$dir/try.out" 2>&1 || rc=$?
    log "exim4: capcheck try --profile: exit $rc"
    exim4_emit try "$(jq -cn --argjson rc "$rc" --arg output "$(cat "$dir/try.out")" \
        '{try_exit: $rc, try_output: $output}')"
    timeout -k 10 240 capcheck try --rollback "$exim4_unit" >"$dir/rollback.out" 2>&1 || back=$?
    log "exim4: capcheck try --rollback: exit $back"
    exim4_emit try-rollback "$(jq -cn --argjson rc "$back" --arg output "$(cat "$dir/rollback.out")" \
        '{try_exit: $rc, try_output: $output}')"
}

# `capcheck fix --write --profile`, restarted; then a daemon-reload, which
# writes the generated unit anew, and a restart again.
exim4_fix() {
    local dir=$out/exim4/fix rc=0 generated_before
    mkdir -p "$dir"
    generated_before=$(sha256sum "$exim4_generated" | cut -c1-64)
    snapshot
    timeout 120 capcheck fix --write --format json --color never --profile "$exim4_profile" \
        "$exim4_unit" >"$dir/fix.json" 2>"$dir/fix.err" || rc=$?
    changes_since_snapshot >"$dir/diff"
    systemctl daemon-reload
    started_at=$(date '+%F %T')
    start_unit "$exim4_unit" restart >/dev/null
    exim4_emit fix "$(jq -cn --argjson rc "$rc" --arg fix "$(cat "$dir/fix.json")" \
        --arg err "$(cat "$dir/fix.err")" --arg diff "$(cat "$dir/diff")" \
        --arg before "$generated_before" \
        '{fix_exit: $rc, fix: $fix, fix_stderr: $err, diff: $diff, generated_sha256_before: $before}')"
    systemctl daemon-reload
    started_at=$(date '+%F %T')
    start_unit "$exim4_unit" restart >/dev/null
    exim4_emit fix-reloaded '{}'
}

# After the reboot: exim4 started by the boot, with the fix.
exim4_reboot() {
    local state deadline
    deadline=$((SECONDS + 120))
    while state=$(prop "$exim4_unit" ActiveState); [[ $state == activating || $state == inactive ]]; do
        ((SECONDS < deadline)) || break
        sleep 0.5
    done
    exim4_emit reboot "$(jq -cn --arg state "$state" \
        --arg fix_after "$(capcheck fix --profile "$exim4_profile" "$exim4_unit" 2>&1)" \
        '{state_at_boot: $state, fix_after: $fix_after}')"
}

exim4_lane() {
    local steps step
    case $LANE_BOOT in
        exim4-record) steps=(shipped record) ;;
        exim4) steps=(shipped try fix) ;;
        exim4-reboot) steps=(reboot) ;;
        *) echo "inside.sh: no exim4 steps for boot $LANE_BOOT" >&2; return 2 ;;
    esac
    mkdir -p /run/lane "$out/exim4"
    export PROBE_UNIT=$exim4_unit
    for step in "${steps[@]}"; do
        log "exim4: step $step"
        if ! timeout -k 10 "$daemon_timeout" "$0" --exim4 "$step"; then
            log "exim4: ERROR: step $step failed or timed out"
            jq -cn --arg step "$step" --arg boot "$LANE_BOOT" --arg journal "$(journal_tail "$exim4_unit")" \
                '{daemon: "exim4", unit: "exim4.service", mode: "exim4", step: $step, boot: $boot,
                  error: "the lane run of this step failed or timed out", works_after: null,
                  journal: $journal}' >>"$out/results.jsonl"
        fi
    done
}

# One run of a daemon's probe, retried for its wait; TAG says who asks
# (record: the daemon runs outside systemd).
probe_once() {
    local name=$1 tag=$2 unit wait probe record
    row_of "$name"
    export PROBE_UNIT=$unit
    mkdir -p /run/lane
    run_probe "$name" "$wait" "$probe" "$tag"
    echo "$probe_out"
    [ "$probe_ok" = true ]
}

# --- the boot's work -------------------------------------------------------

case ${1:-} in
    --one) one "$2"; exit ;;
    --probe) probe_once "$2" "$3"; exit ;;
    --try) try_scenario "$2"; exit ;;
    --attach) attach_lane; exit ;;
    --exim4)
        mkdir -p /run/lane
        export PROBE_UNIT=$exim4_unit
        "exim4_$2"
        exit
        ;;
esac

log "boot up: modes=$LANE_MODES only=${LANE_ONLY:-all} check_probes=${LANE_CHECK_PROBES:-0}"
if has_mode try; then
    try_lane
    log "boot done"
    touch "$out/boot-$LANE_BOOT.done"
    exit
fi
if has_mode exim4; then
    exim4_lane
    log "boot done"
    touch "$out/boot-$LANE_BOOT.done"
    exit
fi
while IFS=$'\t' read -r name unit _; do
    if [ -n "${LANE_ONLY:-}" ] && [[ ,$LANE_ONLY, != *,$name,* ]]; then
        continue
    fi
    # A boot that resumes after a hung one (run.sh) skips what has results.
    [[ ,${LANE_SKIP:-}, != *,$name,* ]] || continue
    if ! timeout -k 10 "$daemon_timeout" "$0" --one "$name"; then
        # Whatever went wrong, the daemon gets a record saying so.
        log "$name: ERROR: its run failed or timed out"
        journal=$(journal_tail "$unit")
        modes=${LANE_MODES//,/ }
        modes=${modes//attach/}
        [ "${LANE_CHECK_PROBES:-0}" = 1 ] && modes="probe-check"
        for mode in $modes; do
            # Only the modes it did not get to.
            jq -e --arg d "$name" --arg m "$mode" 'select(.daemon == $d and .mode == $m)' \
                "$out/results.jsonl" >/dev/null 2>&1 && continue
            jq -cn --arg daemon "$name" --arg unit "$unit" --arg mode "$mode" --arg journal "$journal" \
                '{daemon: $daemon, unit: $unit, mode: $mode, error: "the lane run of this daemon failed or timed out", works_after: null, journal: $journal}' \
                >>"$out/results.jsonl"
        done
        timeout 120 systemctl stop "$unit" >/dev/null 2>&1 || true
    fi
    # On disk before the next daemon: a guest that crashes loses what its
    # page cache held (run.sh then runs the daemon again).
    sync
done < <(rows)
if has_mode attach && [[ ,${LANE_SKIP:-}, != *,attach,* ]]; then
    if ! timeout -k 10 "$daemon_timeout" "$0" --attach; then
        log "attach: ERROR: the record --attach test failed or timed out"
        for name in nginx chrony; do
            jq -e --arg d "$name" 'select(.daemon == $d and .mode == "attach")' \
                "$out/results.jsonl" >/dev/null 2>&1 && continue
            jq -cn --arg daemon "$name" \
                '{daemon: $daemon, mode: "attach", error: "the record --attach test failed or timed out", works_after: null}' \
                >>"$out/results.jsonl"
        done
    fi
fi
log "boot done"
touch "$out/boot-$LANE_BOOT.done"
