//! `capcheck run`: starts a unit's commands with the unit's privileges,
//! without systemd, and reports what each process started with.

pub mod bounded;
pub mod credentials;
pub mod directories;
pub mod tree;

use bounded::{exited_zero, status_text, Bounded, End};
use credentials::Credentials;
use std::os::unix::process::CommandExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tree::ProcessTree;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_interrupt(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// While held, SIGINT and SIGTERM stop the run in progress (which then
/// ends the program's whole tree) instead of killing capcheck at once.
pub struct Interrupts;

impl Interrupts {
    pub fn catch() -> Interrupts {
        INTERRUPTED.store(false, Ordering::SeqCst);
        // SAFETY: installing a handler that only stores to an atomic.
        unsafe {
            libc::signal(
                libc::SIGINT,
                on_interrupt as *const () as libc::sighandler_t,
            );
            libc::signal(
                libc::SIGTERM,
                on_interrupt as *const () as libc::sighandler_t,
            );
        }
        Interrupts
    }

    /// True once SIGINT or SIGTERM arrived.
    pub fn seen(&self) -> bool {
        INTERRUPTED.load(Ordering::SeqCst)
    }
}

impl Drop for Interrupts {
    fn drop(&mut self) {
        // SAFETY: restoring the default dispositions.
        unsafe {
            libc::signal(libc::SIGINT, libc::SIG_DFL);
            libc::signal(libc::SIGTERM, libc::SIG_DFL);
        }
    }
}

/// What a process had right after exec, from /proc/PID/status.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct StartState {
    pub uid: String,
    pub gid: String,
    pub cap_inheritable: String,
    pub cap_permitted: String,
    pub cap_effective: String,
    pub cap_bounding: String,
    pub cap_ambient: String,
    pub no_new_privs: String,
}

impl StartState {
    fn read(pid: i32) -> Option<StartState> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
                .unwrap_or_default()
        };
        // Uid:/Gid: list real, effective, saved and filesystem ids.
        let ids = |name: &str| {
            let all: Vec<String> = field(name).split_whitespace().map(str::to_string).collect();
            if all.windows(2).all(|w| w[0] == w[1]) {
                all.first().cloned().unwrap_or_default()
            } else {
                all.join("/")
            }
        };
        Some(StartState {
            uid: ids("Uid:"),
            gid: ids("Gid:"),
            cap_inheritable: field("CapInh:"),
            cap_permitted: field("CapPrm:"),
            cap_effective: field("CapEff:"),
            cap_bounding: field("CapBnd:"),
            cap_ambient: field("CapAmb:"),
            no_new_privs: field("NoNewPrivs:"),
        })
    }
}

/// How the main process ended.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Outcome {
    /// Exited with a status.
    Exited { code: i32 },
    /// Killed by a signal (not capcheck's).
    Signaled { signal: i32 },
    /// Still running when capcheck stopped it.
    Running,
    /// The exec itself failed (systemd's status 203/EXEC).
    ExecFailed { error: String },
    /// Applying the credentials failed before exec.
    SetupFailed { error: String },
}

/// Why capcheck ended the tree before it ended by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stop {
    Timeout,
    /// SIGINT or SIGTERM to capcheck.
    Interrupted,
}

/// A shell command that says whether the started program works, run
/// after `settle` while it runs (or as soon as its tree has ended), and
/// killed with its process group after `timeout`.
#[derive(Debug, Clone)]
pub struct Probe {
    pub command: String,
    pub settle: Duration,
    pub timeout: Duration,
}

/// What the probe said.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ProbeResult {
    pub passed: bool,
    /// "exited with status N", "killed by signal N", "did not finish"…
    pub status: String,
}

/// One command's run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Run {
    /// The process's pid (0 when it never started).
    pub pid: u32,
    pub argv: Vec<String>,
    pub started: Option<StartState>,
    pub outcome: Outcome,
    /// Set when capcheck ended the tree.
    pub stopped: Option<Stop>,
    /// Processes other than the main one were alive when capcheck ended
    /// the tree (a daemon the main process forked).
    pub others_running: bool,
    /// A process the program left behind that ended badly on its own.
    pub left_failed: Option<String>,
    /// For a start command that should leave its daemon behind
    /// ([`Start::expects_daemon`]): it exited successfully, but before the
    /// timeout no process of its tree was left to follow; how it was lost.
    pub lost_daemon: Option<String>,
    pub seconds: f64,
    pub probe: Option<ProbeResult>,
}

impl Run {
    fn not_started(argv: &[String], outcome: Outcome) -> Run {
        Run {
            pid: 0,
            argv: argv.to_vec(),
            started: None,
            outcome,
            stopped: None,
            others_running: false,
            left_failed: None,
            lost_daemon: None,
            seconds: 0.0,
            probe: None,
        }
    }

    /// The success rule: the main process exited 0 (and nothing it left
    /// behind failed, and the daemon a forking start leaves was followed
    /// to the end), or it or the daemon it forked was still running when
    /// capcheck stopped it; and the probe, when there is one, passed.
    pub fn succeeded(&self) -> bool {
        let ran = match &self.outcome {
            Outcome::Exited { code: 0 } => self.left_failed.is_none() && self.lost_daemon.is_none(),
            Outcome::Running => true,
            _ => false,
        };
        ran && self.probe.as_ref().is_none_or(|p| p.passed)
    }

    /// How it went, in a few words.
    pub fn describe(&self) -> String {
        let after = format!("after {:.1}s", self.seconds);
        let mut text = match (&self.outcome, self.stopped) {
            (Outcome::Running, Some(Stop::Timeout)) => format!("still running {after}"),
            (Outcome::Running, _) => format!("interrupted {after} (still running)"),
            (Outcome::Exited { code }, Some(stop)) if self.others_running => format!(
                "exited with status {code}, its processes still running when {} {after}",
                match stop {
                    Stop::Timeout => "stopped",
                    Stop::Interrupted => "interrupted",
                }
            ),
            (Outcome::Exited { code }, _) => format!("exited with status {code} {after}"),
            (Outcome::Signaled { signal }, _) => format!("killed by signal {signal} {after}"),
            (Outcome::ExecFailed { error }, _) => {
                format!("exec failed: {error} (systemd: status 203/EXEC)")
            }
            (Outcome::SetupFailed { error }, _) => {
                format!("could not apply the credentials: {error}")
            }
        };
        if let Some(left) = &self.left_failed {
            text.push_str(&format!("; {left}"));
        }
        if let Some(lost) = &self.lost_daemon {
            text.push_str(&format!("; {lost}"));
        }
        text
    }
}

/// What to start.
pub struct Start<'a> {
    pub path: &'a str,
    /// After `$VAR` expansion.
    pub argv: &'a [String],
    /// `NAME=value` entries: the whole environment.
    pub environment: &'a [String],
    pub credentials: &'a Credentials,
    /// The command should leave a daemon behind when it exits (a
    /// `Type=forking` service's start command, as an init script's is):
    /// the run follows that daemon to the timeout, and says if none was
    /// left to follow.
    pub expects_daemon: bool,
}

/// Debian's init scripts (lsb `init-functions.d/40-systemd`) hand a start
/// to `systemctl` unless their parent is PID 1, as it is under systemd, or
/// this variable is set: capcheck, their parent here, sets it, so that the
/// script starts its daemon itself, in the tree capcheck follows.
const INIT_SCRIPT_REDIRECT_OFF: (&str, &str) = ("SYSTEMCTL_SKIP_REDIRECT", "1");

/// Whether `path` is an init script, as the lsb hook tells one: it
/// resolves into /etc/init.d.
fn is_init_script(path: &str) -> bool {
    std::fs::canonicalize(path).is_ok_and(|p| p.starts_with("/etc/init.d"))
}

/// A bare executable name looked up in systemd's default PATH (the child's
/// own lookup would use the caller's PATH).
fn resolve_path(path: &str) -> String {
    if path.contains('/') {
        return path.to_string();
    }
    crate::model::exec::DEFAULT_PATH
        .iter()
        .map(|d| format!("{d}/{path}"))
        .find(|p| std::path::Path::new(p).is_file())
        .unwrap_or_else(|| path.to_string())
}

fn wait(pid: i32, flags: libc::c_int) -> Option<libc::c_int> {
    let mut status = 0;
    // SAFETY: waitpid writes the status into a valid integer.
    let r = unsafe { libc::waitpid(pid, &mut status, flags) };
    (r == pid).then_some(status)
}

/// Reaps one ended child of capcheck (the main process, or an orphan
/// reparented to capcheck, its subreaper: of the tree, or of the probe's
/// group), but not `probe`: the probe's own handle reaps it, after killing
/// its process group. Returns its pid, wait status and process group.
fn reap_any(probe: Option<&Bounded>) -> Option<(i32, libc::c_int, i32)> {
    let ended = bounded::exited_unreaped(libc::P_ALL, 0)?;
    if probe.is_some_and(|p| p.pid() == ended) {
        return None;
    }
    // Read while it is a zombie: after the state and the parent.
    let stat = std::fs::read_to_string(format!("/proc/{ended}/stat")).unwrap_or_default();
    let group = stat
        .rsplit(") ")
        .next()
        .and_then(|rest| rest.split(' ').nth(2))
        .and_then(|g| g.parse().ok())
        .unwrap_or(0);
    wait(ended, 0).map(|status| (ended, status, group))
}

/// How long a program stopped at the timeout gets to end by itself after
/// SIGTERM before its tree is killed (systemd's TimeoutStopSec= is 90 s;
/// daemons end in well under a second, a slow machine needs more).
const STOP_GRACE: Duration = Duration::from_secs(10);

/// The oldest of `pids` (the daemon a forking start left, its master).
fn oldest(pids: &[i32]) -> Option<i32> {
    let start_time = |pid: &i32| {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // After the command name: state is field 3, starttime field 22.
        stat.rsplit(") ")
            .next()
            .and_then(|rest| rest.split(' ').nth(19))
            .and_then(|t| t.parse::<u64>().ok())
            .unwrap_or(u64::MAX)
    };
    pids.iter().copied().min_by_key(|p| (start_time(p), *p))
}

/// Stops a program still running at the timeout as systemd stops a
/// service: SIGTERM to its main process (or, once that has exited, to the
/// oldest process of its tree: the daemon it forked), then to whatever is
/// left when that one has ended, up to STOP_GRACE, while the trace is still
/// read (`tick`): what shutting down needs is recorded too (a root master
/// signalling workers that run as another user needs CAP_KILL). What is
/// left after that is killed by the caller. Returns whether the main
/// process was reaped meanwhile.
fn stop_gracefully(
    main: i32,
    main_alive: bool,
    tree: &ProcessTree,
    tick: &mut dyn FnMut() -> bool,
) -> bool {
    let mut main_reaped = false;
    let first = if main_alive {
        Some(main)
    } else {
        oldest(&tree.members(&[]))
    };
    let Some(first) = first else {
        return false;
    };
    // SAFETY: signalling a process of the tree capcheck started.
    unsafe { libc::kill(first, libc::SIGTERM) };
    let deadline = Instant::now() + STOP_GRACE;
    let mut rest_signalled = false;
    loop {
        while let Some((ended, _, _)) = reap_any(None) {
            main_reaped |= ended == main;
        }
        let members = tree.members(&[]);
        let main_left = main_alive && !main_reaped;
        if members.is_empty() && !main_left {
            break;
        }
        if !rest_signalled && !main_left && !members.contains(&first) {
            // The first one ended and left others: they get theirs.
            for pid in &members {
                // SAFETY: as above.
                unsafe { libc::kill(*pid, libc::SIGTERM) };
            }
            rest_signalled = true;
        }
        if Instant::now() >= deadline || !tick() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    main_reaped
}

/// The probe: not started, running, failed and to be run again at a
/// time, or done.
enum ProbeState {
    Waiting,
    Running(Bounded),
    Again(Instant, ProbeResult),
    Done(ProbeResult),
}

/// How long after a failed probe it runs again.
const PROBE_RETRY: Duration = Duration::from_secs(1);

/// Starts the program and watches its whole process tree: the child
/// joins `tree` and stops at its exec (ptrace) so its starting state can
/// be read; then the run lasts while any process of the tree lives, up to
/// `timeout` or until `tick` (called every few milliseconds) returns
/// false; what is left of the tree is then killed. `pre_exec` runs in the
/// child first (tracing setup).
pub fn run(
    start: &Start,
    timeout: Duration,
    probe: Option<&Probe>,
    tree: &ProcessTree,
    pre_exec: impl Fn() -> std::io::Result<()> + Send + Sync + 'static,
    tick: &mut dyn FnMut() -> bool,
) -> Run {
    let argv = start.argv;
    let path = resolve_path(start.path);
    let mut command = std::process::Command::new(&path);
    command.args(argv.iter().skip(1));
    // Only the service's environment, and / as working directory, as
    // systemd starts services (a caller's HOME under /root would make DAC
    // checks appear).
    command
        .env_clear()
        .envs(start.environment.iter().filter_map(|e| e.split_once('=')))
        .current_dir("/");
    if is_init_script(&path) {
        let (name, value) = INIT_SCRIPT_REDIRECT_OFF;
        command.env(name, value);
    }
    if let Some(argv0) = argv.first() {
        command.arg0(argv0);
    }
    let creds = start.credentials.clone();
    let join = tree.join_file();
    // std reports a failed pre_exec and a failed exec alike; a close-on-exec
    // pipe tells them apart: the child writes to it only when setup fails.
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two valid descriptors.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        let error = std::io::Error::last_os_error().to_string();
        return Run::not_started(argv, Outcome::SetupFailed { error });
    }
    let (read_end, write_end) = (fds[0], fds[1]);
    let parent = std::process::id();
    // SAFETY: the closure runs in the forked child before exec and only
    // makes system calls (open, write, close, prctl, setgroups,
    // setres[ug]id, capset, getppid, ptrace).
    unsafe {
        command.pre_exec(move || {
            let setup = (|| {
                // Into the tree's cgroup first, while still root.
                if let Some(file) = &join {
                    let fd = libc::open(file.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                    if fd < 0 || libc::write(fd, b"0".as_ptr().cast(), 1) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    libc::close(fd);
                }
                pre_exec()?;
                creds.apply()?;
                // Dies with capcheck, even when capcheck is killed with
                // SIGKILL (set after the credential change, which clears it;
                // an exec of a privileged file clears it too).
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if libc::getppid() as u32 != parent {
                    return Err(std::io::Error::other("capcheck exited before the start"));
                }
                if libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            })();
            if setup.is_err() {
                libc::write(write_end, b"x".as_ptr().cast(), 1);
            }
            setup
        });
    }
    let spawned = command.spawn();
    // SAFETY: closing our copy of the write end, then reading the read end.
    let setup_failed = unsafe {
        libc::close(write_end);
        let mut byte = 0u8;
        let n = libc::read(read_end, (&mut byte as *mut u8).cast(), 1);
        libc::close(read_end);
        n == 1
    };
    let child = match spawned {
        Ok(c) => c,
        Err(e) => {
            let error = e.to_string();
            let outcome = if setup_failed {
                Outcome::SetupFailed { error }
            } else {
                Outcome::ExecFailed { error }
            };
            return Run::not_started(argv, outcome);
        }
    };
    let pid = child.id() as i32;
    let mut started = None;
    let mut main_status = None;
    if let Some(status) = wait(pid, 0) {
        if libc::WIFSTOPPED(status) {
            started = StartState::read(pid);
            // SAFETY: detaching our own stopped tracee.
            unsafe { libc::ptrace(libc::PTRACE_DETACH, pid, 0, 0) };
        } else {
            main_status = Some(status);
        }
    }
    let begun = Instant::now();
    let deadline = begun + timeout;
    let mut probe_state = ProbeState::Waiting;
    // The probe's process group (its pid), once it started.
    let mut probe_group = None;
    let mut probe_tries = 0;
    let mut left_failed = None;
    // Once the main process has exited: whether a process of its tree
    // was seen alive after it (the daemon it left).
    let mut daemon_seen = false;
    let stopped = loop {
        if let ProbeState::Running(p) = &probe_state {
            if let Some(end) = p.poll() {
                // A program slow to get ready (a Perl daemon under load)
                // is asked again until it passes or the run ends.
                let result = probe_result(end, p.limit(), probe_tries);
                let again = Instant::now() + PROBE_RETRY;
                probe_state = if result.passed || again >= deadline {
                    ProbeState::Done(result)
                } else {
                    ProbeState::Again(again, result)
                };
            }
        }
        let running_probe = match &probe_state {
            ProbeState::Running(p) => Some(p),
            _ => None,
        };
        while let Some((ended, status, group)) = reap_any(running_probe) {
            if ended == pid {
                main_status = Some(status);
            } else if probe_group == Some(group) {
                // What the probe left, killed with its group.
            } else if !exited_zero(status) && left_failed.is_none() {
                left_failed = Some(format!(
                    "a process it left (pid {ended}) {}",
                    status_text(status)
                ));
            }
        }
        let others_alive =
            main_status.is_some() && !tree.members(&probe_pids(&probe_state)).is_empty();
        daemon_seen |= others_alive;
        let tree_alive = main_status.is_none() || others_alive;
        if let ProbeState::Again(_, last) = &probe_state {
            if !tree_alive {
                probe_state = ProbeState::Done(last.clone());
            }
        }
        let due = match &probe_state {
            ProbeState::Waiting => {
                probe.is_some_and(|p| !tree_alive || begun.elapsed() >= p.settle)
            }
            ProbeState::Again(at, _) => Instant::now() >= *at,
            _ => false,
        };
        if let (Some(p), true) = (probe, due) {
            {
                probe_tries += 1;
                probe_state = match start_probe(p) {
                    Ok(running) => {
                        probe_group = Some(running.pid());
                        ProbeState::Running(running)
                    }
                    Err(result) => ProbeState::Done(result),
                };
            }
        }
        let probing = matches!(probe_state, ProbeState::Running(_));
        if !tree_alive && !probing {
            break None;
        }
        if Instant::now() >= deadline {
            break Some(Stop::Timeout);
        }
        if !tick() {
            break Some(Stop::Interrupted);
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    // What the run was when capcheck stopped it: how it ended is judged
    // from this, not from how it took being stopped.
    let seconds = begun.elapsed().as_secs_f64();
    let others_running = tree
        .members(&probe_pids(&probe_state))
        .iter()
        .any(|p| *p != pid);
    match &probe_state {
        ProbeState::Running(p) => {
            p.stop();
            probe_state = ProbeState::Done(ProbeResult {
                passed: false,
                status: "did not finish before the program was stopped".to_string(),
            });
        }
        ProbeState::Again(_, last) => probe_state = ProbeState::Done(last.clone()),
        _ => {}
    }
    let mut main_reaped = main_status.is_some();
    if stopped == Some(Stop::Timeout) {
        main_reaped |= stop_gracefully(pid, main_status.is_none(), tree, tick);
    }
    tree.end(&[]);
    if !main_reaped {
        // The main process was still running: killed with the tree (in
        // case the tree could not hold it, directly too).
        // SAFETY: killing our own child.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        wait(pid, 0);
    }
    // The orphans killed with the tree.
    while reap_any(None).is_some() {}
    let lost_daemon = (start.expects_daemon
        && stopped.is_none()
        && main_status.is_some_and(exited_zero)
        && left_failed.is_none())
    .then(|| {
        if daemon_seen {
            format!(
                "the daemon it left ended by itself after {seconds:.1}s, before the timeout: the recording lost it"
            )
        } else {
            "it left no process running, though its unit expects the daemon it starts \
             (Type=forking): the recording lost it (was the start handed to another manager?)"
                .to_string()
        }
    });
    let outcome = match main_status {
        None => Outcome::Running,
        Some(s) if libc::WIFEXITED(s) => Outcome::Exited {
            code: libc::WEXITSTATUS(s),
        },
        Some(s) => Outcome::Signaled {
            signal: libc::WTERMSIG(s),
        },
    };
    Run {
        pid: pid as u32,
        argv: argv.to_vec(),
        started,
        outcome,
        stopped,
        others_running,
        left_failed,
        lost_daemon,
        seconds,
        probe: match probe_state {
            ProbeState::Done(result) => Some(result),
            _ => probe.map(|_| ProbeResult {
                passed: false,
                status: "did not run".to_string(),
            }),
        },
    }
}

/// The running probe's pid, which the tree's fallback must not count.
fn probe_pids(state: &ProbeState) -> Vec<i32> {
    match state {
        ProbeState::Running(p) => vec![p.pid()],
        _ => Vec::new(),
    }
}

fn probe_result(end: End, limit: Duration, tries: u32) -> ProbeResult {
    let status = end.describe(limit);
    ProbeResult {
        passed: end.success(),
        status: if tries > 1 {
            format!("{status} (try {tries})")
        } else {
            status
        },
    }
}

/// Starts the probe with /bin/sh, as the invoking user, outside the
/// traced tree, in a process group of its own; its output goes to
/// standard error (standard output may be the profile).
fn start_probe(probe: &Probe) -> Result<Bounded, ProbeResult> {
    let mut command = std::process::Command::new("/bin/sh");
    command
        .arg("-c")
        .arg(&probe.command)
        .stdin(std::process::Stdio::null())
        .stdout(std::io::stderr());
    Bounded::spawn(&mut command, probe.timeout)
        .map(|(running, _)| running)
        .map_err(|e| ProbeResult {
            passed: false,
            status: format!("could not start /bin/sh: {e}"),
        })
}

/// Runs the probe to its end, its time limit, or until `interrupted`.
pub fn probe_to_end(probe: &Probe, interrupted: &dyn Fn() -> bool) -> ProbeResult {
    match start_probe(probe) {
        Ok(running) => probe_result(running.wait(interrupted), probe.timeout, 1),
        Err(result) => result,
    }
}
