//! The running systemd (PID 1), through its own commands: what a unit is
//! doing, reloading, starting and stopping it, its journal, and its
//! exposure score. Nothing here runs without systemd as PID 1, and every
//! command has a time limit (`run::bounded`).

use crate::duration::parse_systemd_timespan;
use crate::run::bounded::Bounded;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// How long a query or a reload may take.
const QUERY_LIMIT: Duration = Duration::from_secs(60);

/// How long a start or stop job may take when the unit's own timeout is
/// `infinity`; otherwise twice that timeout (systemd's stop escalates to
/// SIGKILL after one, and ExecStopPost= gets another), and this margin.
const JOB_LIMIT: Duration = Duration::from_secs(300);
const JOB_MARGIN: Duration = Duration::from_secs(15);

/// Whether this system was booted with systemd as PID 1
/// (`sd_booted()`: /run/systemd/system exists).
pub fn is_running() -> bool {
    Path::new("/run/systemd/system").is_dir()
}

/// Refuses, with the reason, when PID 1 is not systemd.
pub fn require_running(what: &str) -> Result<(), String> {
    if is_running() {
        Ok(())
    } else {
        Err(format!(
            "{what} needs systemd as PID 1 (this system was not booted with it)"
        ))
    }
}

/// Runs `command` within `limit`: its standard output, or why it failed.
fn output(command: &mut Command, limit: Duration) -> Result<String, String> {
    let shown = format!("{command:?}");
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let (running, mut child) =
        Bounded::spawn(command, limit).map_err(|e| format!("{shown}: {e}"))?;
    // Read while it runs: a full pipe would stop it.
    let read = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = read(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = read(child.stderr.take().map(|p| Box::new(p) as _));
    let end = running.wait(&|| false);
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    if !end.success() {
        return Err(format!(
            "{shown} failed ({}): {}",
            end.describe(limit),
            String::from_utf8_lossy(&stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&stdout).into_owned())
}

/// `systemctl show -p …` of a unit, as a map.
pub fn show(unit: &str, properties: &[&str]) -> Result<BTreeMap<String, String>, String> {
    let mut command = Command::new("systemctl");
    command.arg("show").arg("--no-pager");
    for p in properties {
        command.arg("-p").arg(p);
    }
    let text = output(command.arg("--").arg(unit), QUERY_LIMIT)?;
    Ok(text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect())
}

/// What a unit is doing now: enough to tell a steady service from one
/// that restarts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    pub active: String,
    pub sub: String,
    pub main_pid: u32,
    pub restarts: u64,
}

impl State {
    pub fn read(unit: &str) -> Result<State, String> {
        let p = show(unit, &["ActiveState", "SubState", "MainPID", "NRestarts"])?;
        let get = |k: &str| p.get(k).cloned().unwrap_or_default();
        Ok(State {
            active: get("ActiveState"),
            sub: get("SubState"),
            main_pid: get("MainPID").parse().unwrap_or(0),
            restarts: get("NRestarts").parse().unwrap_or(0),
        })
    }

    pub fn is_active(&self) -> bool {
        self.active == "active"
    }

    /// Still the same run of the service: active, not restarted.
    pub fn same_run_as(&self, earlier: &State) -> bool {
        self.is_active() && self.restarts == earlier.restarts && self.main_pid == earlier.main_pid
    }
}

/// The unit's control group, as a path under the cgroup v2 mount.
pub fn control_group(unit: &str) -> Result<String, String> {
    let p = show(unit, &["ControlGroup"])?;
    p.get("ControlGroup")
        .filter(|g| !g.is_empty())
        .cloned()
        .ok_or_else(|| format!("{unit} has no control group (it is not running)"))
}

/// Every process of a control group and its children, from `cgroup.procs`.
pub fn cgroup_pids(mount: &Path, group: &str) -> Vec<u32> {
    let mut pids = Vec::new();
    let mut dirs = vec![mount.join(group.trim_start_matches('/'))];
    while let Some(dir) = dirs.pop() {
        if let Ok(text) = std::fs::read_to_string(dir.join("cgroup.procs")) {
            pids.extend(text.lines().filter_map(|l| l.trim().parse::<u32>().ok()));
        }
        if let Ok(entries) = std::fs::read_dir(&dir) {
            dirs.extend(
                entries
                    .flatten()
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .map(|e| e.path()),
            );
        }
    }
    pids.sort_unstable();
    pids.dedup();
    pids
}

/// `systemctl daemon-reload`, its error text when it fails.
pub fn daemon_reload() -> Result<(), String> {
    output(
        Command::new("systemctl").args(["--no-ask-password", "daemon-reload"]),
        QUERY_LIMIT,
    )
    .map(|_| ())
}

/// A job on a unit: `systemctl start` or `stop`, waited for within the
/// unit's own timeout for it (see [`JOB_LIMIT`]).
pub fn job(verb: Job, unit: &str) -> Result<(), String> {
    let (verb, timeout) = match verb {
        Job::Start => ("start", "TimeoutStartUSec"),
        Job::Stop => ("stop", "TimeoutStopUSec"),
    };
    let own = show(unit, &[timeout])
        .ok()
        .and_then(|p| p.get(timeout).and_then(|t| parse_systemd_timespan(t)));
    let limit = own.map_or(JOB_LIMIT, |t| t * 2 + JOB_MARGIN);
    output(
        Command::new("systemctl")
            .args(["--no-ask-password", verb, "--"])
            .arg(unit),
        limit,
    )
    .map(|_| ())
}

/// The jobs [`job`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    Start,
    Stop,
}

/// The unit's journal since `since` (seconds since the epoch), for the
/// lines that explain a failure. journald is asked first to store what
/// it was sent (a failed start's own lines lag behind systemd's).
pub fn journal_since(unit: &str, since: u64, lines: usize) -> String {
    let _ = output(Command::new("journalctl").arg("--sync"), QUERY_LIMIT);
    output(
        Command::new("journalctl")
            .args(["--no-pager", "-o", "short-precise", "-u", unit])
            .arg(format!("--since=@{since}"))
            .arg(format!("--lines={lines}")),
        QUERY_LIMIT,
    )
    .unwrap_or_else(|e| format!("(no journal: {e})"))
}

/// `systemd-analyze security UNIT`'s overall exposure (0.0–10.0).
pub fn exposure(unit: &str) -> Option<f64> {
    let text = output(
        Command::new("systemd-analyze").args(["security", "--no-pager", unit]),
        QUERY_LIMIT,
    )
    .ok()?;
    let line = text
        .lines()
        .find(|l| l.contains("Overall exposure level for"))?;
    line.rsplit(": ")
        .next()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Where a runtime drop-in of a unit goes (vanishes at reboot).
pub fn runtime_dropin(unit: &str, name: &str) -> PathBuf {
    Path::new("/run/systemd/system")
        .join(format!("{unit}.d"))
        .join(name)
}

fn since_epoch() -> Duration {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
}

/// Seconds since the epoch.
pub fn now() -> u64 {
    since_epoch().as_secs()
}

/// Nanoseconds since the epoch (to tell runs apart).
pub fn now_nanos() -> u128 {
    since_epoch().as_nanos()
}
