//! `capcheck run`: starts a unit's commands with the unit's privileges,
//! without systemd, and reports what each process started with.

pub mod credentials;

use credentials::Credentials;
use std::os::unix::process::CommandExt;
use std::time::{Duration, Instant};

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

/// How a command ended.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Outcome {
    /// Exited with a status.
    Exited { code: i32 },
    /// Killed by a signal.
    Signaled { signal: i32 },
    /// Killed by capcheck at the timeout.
    TimedOut,
    /// The exec itself failed (systemd's status 203/EXEC).
    ExecFailed { error: String },
    /// Applying the credentials failed before exec.
    SetupFailed { error: String },
}

/// One command's run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Run {
    /// The process's pid (0 when it never started).
    pub pid: u32,
    pub argv: Vec<String>,
    pub started: Option<StartState>,
    pub outcome: Outcome,
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

/// Starts `path` with `argv` and `credentials`; the child stops at its
/// exec (ptrace) so its starting state can be read, then runs to the end
/// or the timeout. `pre_exec` runs in the child first (tracing setup);
/// `tick` runs every few milliseconds while the child runs, and stops it
/// (as at the timeout) by returning false.
pub fn run(
    path: &str,
    argv: &[String],
    credentials: &Credentials,
    timeout: Duration,
    pre_exec: impl Fn() -> std::io::Result<()> + Send + Sync + 'static,
    tick: &mut dyn FnMut() -> bool,
) -> Run {
    let mut command = std::process::Command::new(resolve_path(path));
    command.args(argv.iter().skip(1));
    // A clean environment and / as working directory, as systemd starts
    // services (a caller's HOME under /root would make DAC checks appear).
    command
        .env_clear()
        .envs(self::credentials::service_environment(credentials.uid))
        .current_dir("/");
    if let Some(argv0) = argv.first() {
        command.arg0(argv0);
    }
    let creds = credentials.clone();
    // std reports a failed pre_exec and a failed exec alike; a close-on-exec
    // pipe tells them apart: the child writes to it only when setup fails.
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two valid descriptors.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        let error = std::io::Error::last_os_error().to_string();
        return Run {
            pid: 0,
            argv: argv.to_vec(),
            started: None,
            outcome: Outcome::SetupFailed { error },
        };
    }
    let (read_end, write_end) = (fds[0], fds[1]);
    let parent = std::process::id();
    // SAFETY: the closure runs in the forked child before exec and only
    // makes system calls (prctl, setgroups, setres[ug]id, capset, getppid,
    // ptrace, write).
    unsafe {
        command.pre_exec(move || {
            let setup = (|| {
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
            return Run {
                pid: 0,
                argv: argv.to_vec(),
                started: None,
                outcome,
            };
        }
    };
    let pid = child.id() as i32;
    let mut started = None;
    if let Some(status) = wait(pid, 0) {
        if libc::WIFSTOPPED(status) {
            started = StartState::read(pid);
            // SAFETY: detaching our own stopped tracee.
            unsafe { libc::ptrace(libc::PTRACE_DETACH, pid, 0, 0) };
        } else {
            return finish(pid, argv, None, status);
        }
    }
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = wait(pid, libc::WNOHANG) {
            return finish(pid, argv, started, status);
        }
        if Instant::now() >= deadline || !tick() {
            // SAFETY: killing our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            wait(pid, 0);
            return Run {
                pid: pid as u32,
                argv: argv.to_vec(),
                started,
                outcome: Outcome::TimedOut,
            };
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn finish(pid: i32, argv: &[String], started: Option<StartState>, status: libc::c_int) -> Run {
    let outcome = if libc::WIFEXITED(status) {
        Outcome::Exited {
            code: libc::WEXITSTATUS(status),
        }
    } else {
        Outcome::Signaled {
            signal: libc::WTERMSIG(status),
        }
    };
    Run {
        pid: pid as u32,
        argv: argv.to_vec(),
        started,
        outcome,
    }
}
