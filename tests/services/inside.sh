#!/usr/bin/env bash
# Runs inside the booted container as capcheck-lane.service (run.sh writes
# the unit and /etc/capcheck-lane.env): for each daemon of daemons.tsv, one
# at a time, start it as shipped and probe it, then (in a fixing mode) let
# capcheck fix it, restart it and probe it again; then stop it before the
# next one. Appends one JSON object per daemon and mode to
# /out/results.jsonl and keeps the evidence under /out/MODE/DAEMON/.
#
#   inside.sh            all daemons (the unit's ExecStart)
#   inside.sh --one N    daemon N only (run by the former, under a timeout)
#
# /etc/capcheck-lane.env sets LANE_BOOT (a name), LANE_MODES (shipped,
# default, unsafe: at most one fixing mode per boot), LANE_ONLY (daemon
# names, empty for all), LANE_CHECK_PROBES (1: instead of fixing, check
# each probe fails with its daemon stopped) and LANE_SETTLE (seconds).
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
}

has_mode() {
    [[ ,$LANE_MODES, == *,$1,* ]]
}

# The fixing mode of this boot (default or unsafe), or nothing.
fix_mode() {
    if has_mode default; then echo default; elif has_mode unsafe; then echo unsafe; fi
}

# daemons.tsv's rows: name unit packages wait probe (tab-separated).
rows() {
    awk -F'\t' '!/^#/ && $1 != "name" && NF >= 5' "$lane/daemons.tsv"
}

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
        -p AmbientCapabilities -p NoNewPrivileges -p MainPID -p NRestarts "$1"
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
    # (nothing will start it again), except when the probe must fail.
    case $tag:$(prop "${PROBE_UNIT:?}" ActiveState) in
        down:*) ;;
        *:failed | *:inactive) ((wait <= 3)) || wait=3 ;;
    esac
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

json_or_null() {
    if [ -n "$1" ]; then echo "$1"; else echo null; fi
}

# --- one daemon -----------------------------------------------------------

one() {
    local name=$1 unit wait probe row
    row=$(rows | awk -F'\t' -v n="$name" '$1 == n')
    IFS=$'\t' read -r name unit _ wait probe <<<"$row"
    export PROBE_UNIT=$unit
    mkdir -p /run/lane

    if [ "${LANE_CHECK_PROBES:-0}" = 1 ]; then
        check_probe "$name" "$unit" "$wait" "$probe"
        return
    fi

    local mode dir state_before works_before probe_before before_secs exp_before
    mode=$(fix_mode)
    log "$name: start $unit as shipped"
    started_at=$(date '+%F %T')
    state_before=$(start_unit "$unit" start)
    run_probe "$name" "$wait" "$probe" shipped
    works_before=$probe_ok probe_before=$probe_out before_secs=$probe_secs
    exp_before=$(exposure "$unit")
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
        emit --arg mode shipped --argjson changed false \
            --argjson works_before "$works_before" --argjson works_after "$works_before" \
            --arg state_after "$state_before" --arg probe_after "$probe_before" \
            --argjson probe_seconds "$before_secs" \
            --argjson exposure_before "$(json_or_null "$exp_before")" \
            --argjson exposure_after "$(json_or_null "$exp_before")" \
            --arg ids "$ids" --arg journal "$journal" --arg diff '' \
            --arg fix_kind '' --arg applicability '' --arg fix_exit '' --arg fix_notes '' \
            --argjson planned_changes null \
            --arg settings "$(cat "$dir/settings.txt")" --arg unit "$unit" --arg daemon "$name"
    fi

    if [ -n "$mode" ]; then
        fix_and_probe "$name" "$unit" "$wait" "$probe" "$mode" "$works_before" "$probe_before" "$exp_before"
    fi
    log "$name: stopped $(stop_unit "$unit")"
}

# capcheck fix (JSON, then --write), then the restart and the probe.
fix_and_probe() {
    local name=$1 unit=$2 wait=$3 probe=$4 mode=$5 works_before=$6 probe_before=$7 exp_before=$8
    local dir=$out/$mode/$name flags=() rc changed state exp_after ids journal='' kind applicability notes planned
    mkdir -p "$dir"
    echo "$probe_before" >"$dir/probe-before.txt"
    [ "$mode" = unsafe ] && flags=(--unsafe-fixes)
    snapshot
    timeout 120 capcheck fix --format json --color never "${flags[@]}" "$unit" \
        >"$dir/fix.json" 2>"$dir/fix-json.err" || true
    rc=0
    timeout 120 capcheck fix --write --color never "${flags[@]}" "$unit" \
        >"$dir/write.out" 2>"$dir/write.err" || rc=$?
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
    # What the JSON planned, to compare with what --write did.
    planned=$(jq '[.[]? | (.changes? // [])[]?] | length' "$dir/fix.json" 2>/dev/null || echo null)
    log "$name: $mode: $state, probe $probe_ok ($probe_out)"
    emit --arg mode "$mode" --argjson changed "$changed" \
        --argjson works_before "$works_before" --argjson works_after "$probe_ok" \
        --arg state_after "$state" --arg probe_after "$probe_out" \
        --argjson probe_seconds "$probe_secs" \
        --argjson exposure_before "$(json_or_null "$exp_before")" \
        --argjson exposure_after "$(json_or_null "$exp_after")" \
        --arg ids "$ids" --arg journal "$journal" --arg diff "$(cat "$dir/diff")" \
        --arg fix_kind "$kind" --arg applicability "$applicability" --arg fix_exit "$rc" \
        --arg fix_notes "$notes" --argjson planned_changes "${planned:-null}" \
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

# Appends one record. Arguments: jq --arg/--argjson pairs (see callers).
emit() {
    jq -cn "$@" '
        ($ids | split(" ")) as $id
        | ($settings | split("\n") | map(select(contains("=")) | capture("^(?<key>[^=]+)=(?<value>.*)$")) | from_entries) as $s
        | {daemon: $daemon, unit: $unit, mode: $mode, changed: $changed,
           fix_kind: (if $fix_kind == "" then null else $fix_kind end),
           applicability: (if $applicability == "" then null else $applicability end),
           fix_exit: (if $fix_exit == "" then null else ($fix_exit | tonumber) end),
           fix_notes: (if $fix_notes == "" then null else $fix_notes end),
           planned_changes: $planned_changes,
           works_before: $works_before, works_after: $works_after,
           state_after: $state_after, probe_after: $probe_after, probe_seconds: $probe_seconds,
           exposure_before: $exposure_before, exposure_after: $exposure_after,
           uid_after: (if ($id[0] // "") == "" then null else ($id[0] | tonumber) end),
           capeff_after: (if ($id[1] // "") == "" then null else $id[1] end),
           user_after: $s.User, dynamic_user_after: $s.DynamicUser,
           bounding_after: $s.CapabilityBoundingSet, ambient_after: $s.AmbientCapabilities,
           no_new_privileges_after: $s.NoNewPrivileges, nrestarts_after: ($s.NRestarts | tonumber? // null),
           diff: $diff, journal: $journal}' >>"$out/results.jsonl"
}

# --- all daemons ---------------------------------------------------------

if [ "${1:-}" = --one ]; then
    one "$2"
    exit
fi

log "boot up: modes=$LANE_MODES only=${LANE_ONLY:-all} check_probes=${LANE_CHECK_PROBES:-0}"
while IFS=$'\t' read -r name unit _; do
    if [ -n "${LANE_ONLY:-}" ] && [[ ,$LANE_ONLY, != *,$name,* ]]; then
        continue
    fi
    if ! timeout -k 10 "$daemon_timeout" "$0" --one "$name"; then
        # Whatever went wrong, the daemon gets a record saying so.
        log "$name: ERROR: its run failed or timed out"
        journal=$(journal_tail "$unit")
        modes=${LANE_MODES//,/ }
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
done < <(rows)
log "boot done"
touch "$out/boot-$LANE_BOOT.done"
