# The lane's functional probes, sourced by inside.sh inside the container.
# daemons.tsv names one per daemon. Each is ONE attempt: it prints a short
# piece of evidence and succeeds only if the daemon did its job; inside.sh
# retries it until the daemon's wait runs out. A probe that must do
# something once per run (send a mail, queue a job) keeps a mark under
# $PROBE_STATE, so retries do not repeat it. Set by inside.sh:
#   PROBE_TOKEN  unique per probe run (a mail subject, a log line, a file)
#   PROBE_START  epoch seconds when the run began: older evidence is stale
#   PROBE_STATE  a directory of this run's own
#   PROBE_OUTSIDE_SYSTEMD  1 when `capcheck record` runs the daemon itself
#                (not systemd): the probes that look at "the unit's main
#                process" find it by name, and read what it printed from
#   PROBE_PROGRAM_OUTPUT   the files its output goes to (not the journal)
# Every probe was checked to fail with its daemon (and the daemon's
# sockets) stopped: `run.sh --check-probes` repeats that check.
# shellcheck shell=bash

# The probe user's password, as build-rootfs.sh sets it.
probe_password=capcheck-lane

# --- helpers ----------------------------------------------------------------

# Opens fd 3 to 127.0.0.1:PORT (fails at once when nothing listens).
connect() {
    { exec 3<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || { echo "nothing answers on 127.0.0.1:$1"; return 1; }
}

disconnect() {
    exec 3<&- 3>&-
}

# Sends one protocol line (CRLF) on fd 3.
send() {
    printf '%s\r\n' "$1" >&3
}

# Reads lines from fd 3 until one matches the regex (5 s per line); the
# matching line is left in $reply.
expect() {
    local line last=''
    while IFS= read -r -t 5 -u 3 line; do
        line=${line%$'\r'}
        last=$line
        if [[ $line =~ $1 ]]; then
            reply=$line
            return 0
        fi
    done
    echo "expected /$1/, last line read: '${last}'"
    return 1
}

# Seconds since the epoch when FILE was last modified (0 if it is absent).
mtime() {
    stat -c %Y "$1" 2>/dev/null || echo 0
}

# The daemon's process: the unit's main process (0 if none); under
# `record`, the program's oldest process of that name.
daemon_pid() {
    local pid
    if [ "${PROBE_OUTSIDE_SYSTEMD:-0}" = 1 ]; then
        pid=$(pgrep -o -x "$2" || true)
    else
        pid=$(systemctl show -p MainPID --value "$1")
    fi
    echo "${pid:-0}"
}

# What the process $1 logged since epoch second $2: its journal; under
# `record`, the files its output goes to (the whole recording's).
daemon_log() {
    if [ "${PROBE_OUTSIDE_SYSTEMD:-0}" = 1 ]; then
        # shellcheck disable=SC2086 # a list of files
        cat ${PROBE_PROGRAM_OUTPUT:-} 2>/dev/null || true
    else
        journalctl -q -o cat "_PID=$1" --since "@$2"
    fi
}

# --- probes -----------------------------------------------------------------

# Web servers, haproxy and node-exporter: a 200 answer whose headers or body
# carry a line only that daemon writes (Server: header, haproxy's canned
# body, the exporter's own build metric), so a leftover server cannot pass.
http() {
    local url=$1 want=$2 out status
    out=$(curl -sS -i --max-time 3 "$url" 2>&1 | tr -d '\r') || { echo "${out:0:200}"; return 1; }
    status=$(head -n 1 <<<"$out")
    [[ $status =~ ^HTTP/[0-9.]+\ 200 ]] || { echo "status: $status"; return 1; }
    local line
    line=$(grep -m 1 -E "$want" <<<"$out") || { echo "$status, but no line matching /$want/"; return 1; }
    echo "$status; $line"
}

# sshd: the banner, then a real key login as root running a command. The
# login exercises what sshd is for: privilege separation (chroot to
# /run/sshd, the sshd user), reading host keys and switching to the user.
ssh_login() {
    connect 22 || return 1
    expect '^SSH-' || { disconnect; return 1; }
    local banner=$reply out
    disconnect
    out=$(timeout 15 ssh -n -o BatchMode=yes -o StrictHostKeyChecking=no \
        -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o ConnectTimeout=5 \
        root@127.0.0.1 "echo ran-$PROBE_TOKEN" 2>&1)
    [ "$out" = "ran-$PROBE_TOKEN" ] || { echo "$banner; login failed: ${out:0:200}"; return 1; }
    echo "$banner; root key login ran a command"
}

# chronyd: chronyc's tracking report comes from the daemon over its command
# socket ("506 Cannot talk to daemon" otherwise). chronyd runs with -x here
# (no clock control: the container shares the host's clock).
chronyc_tracking() {
    local out
    out=$(timeout 8 chronyc -n tracking 2>&1) || { echo "${out:0:200}"; return 1; }
    grep -q '^Reference ID' <<<"$out" || { echo "${out:0:200}"; return 1; }
    echo "chronyc tracking: $(grep -m 1 '^Leap status' <<<"$out")"
}

# DNS servers: an A record only this server is configured with (build-rootfs.sh).
dns() {
    local name=$1 want=$2 out
    out=$(dig @127.0.0.1 +short +time=2 +tries=1 "$name" A 2>&1) || { echo "${out:0:200}"; return 1; }
    [ "$out" = "$want" ] || { echo "dig $name: '${out:0:200}'"; return 1; }
    echo "dig @127.0.0.1 $name A: $out"
}

# redis: a value written and read back.
redis_set_get() {
    local out
    out=$(timeout 5 redis-cli -h 127.0.0.1 SET lane:probe "$PROBE_TOKEN" 2>&1)
    [ "$out" = OK ] || { echo "SET: ${out:0:200}"; return 1; }
    out=$(timeout 5 redis-cli -h 127.0.0.1 GET lane:probe 2>&1)
    [ "$out" = "$PROBE_TOKEN" ] || { echo "GET: ${out:0:200}"; return 1; }
    echo "redis SET/GET returned the value; $(timeout 5 redis-cli -h 127.0.0.1 PING)"
}

# memcached: a value stored and read back, and its stats.
memcached_set_get() {
    connect 11211 || return 1
    send "set lane 0 60 ${#PROBE_TOKEN}"
    send "$PROBE_TOKEN"
    expect '^STORED$' || { disconnect; return 1; }
    send 'get lane'
    expect "^$PROBE_TOKEN\$" || { disconnect; return 1; }
    send 'stats'
    expect '^STAT version ' || { disconnect; return 1; }
    local version=$reply
    send 'quit'
    disconnect
    echo "memcached set/get returned the value; $version"
}

# postfix: a mail accepted over SMTP and delivered by local(8) into the
# probe user's mailbox: smtpd, cleanup, qmgr and local all did their part.
# exim4 (the exim4 lane, `smtp_deliver Exim`): the daemon accepted it and a
# delivery process, switched to the user, wrote it. $1: the MTA's name in
# the greeting (default Postfix).
smtp_deliver() {
    if [ ! -e "$PROBE_STATE/sent" ]; then
        connect 25 || return 1
        {
            expect "^220 .*${1:-Postfix}" && send 'EHLO lane.test' && expect '^250 ' &&
                send 'MAIL FROM:<root@lane.test>' && expect '^250 ' &&
                send 'RCPT TO:<probe@localhost>' && expect '^250 ' &&
                send 'DATA' && expect '^354 ' &&
                send "Subject: $PROBE_TOKEN" && send '' && send "$PROBE_TOKEN" && send '.' &&
                expect '^250 ' && send 'QUIT'
        } || { disconnect; return 1; }
        disconnect
        touch "$PROBE_STATE/sent"
    fi
    grep -q "^Subject: $PROBE_TOKEN\$" /var/mail/probe 2>/dev/null ||
        { echo "mail accepted over SMTP, not yet in /var/mail/probe"; return 1; }
    echo "mail accepted over SMTP and delivered to /var/mail/probe"
}

# dovecot: a password login over IMAP. Needs the auth process (PAM,
# /etc/shadow) and the imap process switching to the user.
imap_login() {
    connect 143 || return 1
    {
        expect '^\* OK .*Dovecot' && send "a LOGIN probe $probe_password" &&
            expect '^a (OK|NO|BAD)' && [[ $reply =~ ^a\ OK ]] && send 'b LOGOUT'
    } || { echo "login: ${reply:-no answer}"; disconnect; return 1; }
    disconnect
    echo "IMAP login as probe: ${reply:0:60}"
}

# vsftpd: a password login over FTP (PAM, the chroot of its unprivileged
# pre-login process, the switch to the user).
ftp_login() {
    connect 21 || return 1
    {
        expect '^220 ' && send 'USER probe' && expect '^331 ' &&
            send "PASS $probe_password" && expect '^[0-9]{3} ' && [[ $reply =~ ^230 ]] && send 'QUIT'
    } || { echo "login: ${reply:-no answer}"; disconnect; return 1; }
    disconnect
    echo "FTP login as probe: $reply"
}

# cupsd: its HTTP server on :631 answers, and a print job sent over IPP to
# the queue "lane" (build-rootfs.sh, device /dev/null) is accepted and
# completed: the scheduler spooled and ran it. TCP, not
# /run/cups/cups.sock, which cups.socket would answer by starting cupsd.
ipp() {
    local headers job
    headers=$(curl -sS -o /dev/null -D - --max-time 3 http://127.0.0.1:631/ 2>&1 | tr -d '\r')
    grep -q '^Server: CUPS/' <<<"$headers" || { echo "HTTP on :631: ${headers:0:100}"; return 1; }
    if [ ! -e "$PROBE_STATE/job" ]; then
        job=$(timeout 10 lp -h 127.0.0.1:631 -d lane -t "$PROBE_TOKEN" /etc/hostname 2>&1) ||
            { echo "lp: ${job:0:200}"; return 1; }
        sed -n 's/^request id is \([^ ]*\) .*/\1/p' <<<"$job" >"$PROBE_STATE/job"
    fi
    job=$(cat "$PROBE_STATE/job")
    if [ -z "$job" ] || ! timeout 10 lpstat -h 127.0.0.1:631 -W completed -o lane 2>/dev/null | grep -q "^$job "; then
        echo "job '$job' not completed"
        return 1
    fi
    echo "HTTP on :631 from CUPS; IPP job $job accepted and completed"
}

# rsyslogd: a line sent with logger (to journald, which forwards to the
# syslog socket) written by rsyslogd into /var/log/syslog.
syslog_line() {
    if [ ! -e "$PROBE_STATE/logged" ]; then
        logger -t capcheck-lane "probe $PROBE_TOKEN"
        touch "$PROBE_STATE/logged"
    fi
    grep -q "capcheck-lane.*probe $PROBE_TOKEN" /var/log/syslog 2>/dev/null ||
        { echo "the logger line is not in /var/log/syslog"; return 1; }
    echo "logger line written to /var/log/syslog"
}

# haveged: since Linux 5.18 the kernel never asks for entropy (writers of
# /dev/random are never woken, RNDCLEARPOOL is a no-op), so there is no
# entropy to see it add. What it does produce: at start, its collector's
# own health tests (AIS-31 procedures A and B) pass and are logged by the
# running process, which then waits in its main loop holding /dev/random
# open to feed it. A daemon that fails its tests or cannot open the
# device exits, and its restarts change the PID.
haveged_ready() {
    local pid
    pid=$(daemon_pid haveged.service haveged)
    [ "$pid" != 0 ] || { echo "no main process"; return 1; }
    daemon_log "$pid" 0 | grep -q 'tot tests.*A:1/1 B:1/1' ||
        { echo "pid $pid logged no passing health test"; return 1; }
    find "/proc/$pid/fd" -lname /dev/random 2>/dev/null | grep -q . ||
        { echo "pid $pid does not hold /dev/random"; return 1; }
    echo "pid $pid passed its health tests and holds /dev/random"
}

# avahi-daemon: an answer over D-Bus from the daemon itself; auto-start is
# off so that D-Bus cannot start a stopped daemon to answer.
avahi_dbus() {
    local version state
    version=$(timeout 5 busctl --auto-start=no call org.freedesktop.Avahi / \
        org.freedesktop.Avahi.Server GetVersionString 2>&1) || { echo "${version:0:200}"; return 1; }
    state=$(timeout 5 busctl --auto-start=no call org.freedesktop.Avahi / \
        org.freedesktop.Avahi.Server GetState 2>&1) || { echo "${state:0:200}"; return 1; }
    echo "D-Bus GetVersionString: $version; GetState: $state"
}

# cron: jobs in /etc/cron.d (build-rootfs.sh) touch a file every minute, one
# as root and one as nobody (cron must switch users). Both must have been
# touched by a job of a minute that began after the probe did, so a job
# launched earlier (cron.service's KillMode=process lets them outlive the
# daemon) cannot pass: up to a minute's wait.
cron_jobs() {
    local file minute
    for file in /srv/probe/cron-root /srv/probe/cron-nobody; do
        minute=$(($(mtime "$file") / 60 * 60))
        ((minute > PROBE_START)) || { echo "$file: no job since the probe began"; return 1; }
    done
    echo "the root and nobody jobs of /etc/cron.d ran"
}

# atd: a job queued with `at now` ran.
at_job() {
    if [ ! -e "$PROBE_STATE/queued" ]; then
        echo "touch /srv/probe/at-$PROBE_TOKEN" | at now 2>/dev/null || { echo "at failed"; return 1; }
        touch "$PROBE_STATE/queued"
    fi
    [ -e "/srv/probe/at-$PROBE_TOKEN" ] || { echo "the at job has not run"; return 1; }
    echo "the job queued with 'at now' ran"
}

# iperf3 server: a one-second client run measured a transfer.
iperf3_run() {
    local out bps
    out=$(timeout 10 iperf3 -c 127.0.0.1 -t 1 -J 2>&1)
    bps=$(jq -r '.end.sum_received.bits_per_second // 0' <<<"$out" 2>/dev/null) || bps=0
    if [ "${bps%.*}" -le 0 ]; then
        echo "iperf3: $(jq -r '.error // empty' <<<"$out" 2>/dev/null || echo "${out:0:200}")"
        return 1
    fi
    echo "iperf3 client received $((${bps%.*} / 1000000)) Mbit/s"
}

# earlyoom: its job is to watch available memory and kill before the OOM
# killer does; a real low-memory kill cannot be staged without starving
# the host. What it produces meanwhile is its memory report, every second
# here (-r 1 in /etc/default/earlyoom, as that file suggests): a new
# "mem avail" line read from /proc/meminfo, logged since the probe began
# by the unit's current main process.
earlyoom_report() {
    local pid line
    pid=$(daemon_pid earlyoom.service earlyoom)
    [ "$pid" != 0 ] || { echo "no main process"; return 1; }
    line=$(daemon_log "$pid" "$PROBE_START" | grep -m 1 '^mem avail') ||
        { echo "no memory report from pid $pid since the probe began"; return 1; }
    echo "pid $pid reports: ${line:0:70}"
}

# vnstatd: traffic on lo counted into its database. An attempt pushes 32 MiB
# through lo, asks vnstatd to write what it counted (`systemctl reload`:
# SIGHUP, "flushing data to disk", the unit's own ExecReload=) and reads the
# database: lo's total must be up by 32 MiB since the first attempt.
# vnstatd reads the counters every 5 s here (UpdateInterval 5), and traffic
# before its first read after a start is not counted, so a push older than
# one interval that did not show is repeated.
vnstat_counts() {
    local now base
    if [ ! -e "$PROBE_STATE/base" ]; then
        vnstat_rx >"$PROBE_STATE/base"
    fi
    base=$(cat "$PROBE_STATE/base")
    if [ ! -e "$PROBE_STATE/pushed" ] || (($(date +%s) - $(mtime "$PROBE_STATE/pushed") > 6)); then
        timeout 10 nc -l 127.0.0.1 9999 >/dev/null &
        sleep 0.3
        head -c 32M /dev/zero | timeout 10 nc -N 127.0.0.1 9999 || true
        wait
        touch "$PROBE_STATE/pushed"
    fi
    # A failed reload (no daemon) is not the verdict: the database is.
    timeout 10 systemctl reload vnstat.service >/dev/null 2>&1 || true
    now=$(vnstat_rx)
    [ "$now" -ge $((base + 32 * 1024 * 1024)) ] ||
        { echo "lo rx in the database: $base -> $now bytes"; return 1; }
    echo "lo rx in the database: $base -> $now bytes"
}

# lo's received bytes in vnstat's database (0 when it cannot say).
vnstat_rx() {
    local rx
    rx=$(vnstat --json a -i lo 2>/dev/null | jq -r '.interfaces[0].traffic.total.rx // 0' 2>/dev/null)
    [[ "$rx" =~ ^[0-9]+$ ]] && echo "$rx" || echo 0
}

# tor: a SOCKS5 greeting on :9050 answered with "version 5, no auth". There
# is no network, so no circuit: the SOCKS front end is what can be shown.
socks5() {
    local out
    connect "$1" || return 1
    printf '\x05\x01\x00' >&3
    out=$(timeout 5 head -c 2 <&3 | od -An -tx1)
    disconnect
    [ "$(tr -d ' \n' <<<"$out")" = 0500 ] || { echo "SOCKS5 reply: '${out:0:100}'"; return 1; }
    echo "SOCKS5 greeting answered: 05 00"
}

# snmpd: sysName.0 and sysDescr.0 read with SNMPv2c (community public).
snmp_get() {
    local out
    out=$(timeout 8 snmpget -v2c -c public -t 2 -r 1 -On 127.0.0.1 .1.3.6.1.2.1.1.5.0 .1.3.6.1.2.1.1.1.0 2>&1) ||
        { echo "${out:0:200}"; return 1; }
    grep -q '^.1.3.6.1.2.1.1.1.0 = STRING: ' <<<"$out" || { echo "${out:0:200}"; return 1; }
    echo "snmpget: $(head -n 1 <<<"$out")"
}
