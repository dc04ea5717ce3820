//! `record --unit NAME --attach`: the capability checks of a service that
//! is running, under its real load, with no restart. Every process of the
//! unit's control group is traced (seeded from `cgroup.procs`, and again
//! as systemd adds processes, say for ExecReload=), and every process they
//! fork (tracefs `event-fork`). The service is never touched: when the
//! recording ends, only the tracing goes.

use super::trace::{self, Parser, Seed, Summary};
use super::tracefs::Instance;
use crate::run::Interrupts;
use crate::systemd::{self, State};
use std::collections::{BTreeSet, HashMap};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A recording of a running service.
pub struct Attached {
    pub summary: Summary,
    pub elapsed: Duration,
    /// The processes traced (seeded; forks not counted).
    pub processes: usize,
    /// The uid the main process runs as (the service's identity).
    pub uid: u32,
    /// Still the same run of the service at the end: active, not
    /// restarted.
    pub steady: bool,
    pub interrupted: bool,
}

/// Where the unit's control group is: under the cgroup v2 mount, or (on a
/// legacy layout) the named systemd hierarchy.
fn group_dir(group: &str) -> Option<PathBuf> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let relative = group.trim_start_matches('/');
    crate::run::tree::cgroup2_mount(&mountinfo)
        .into_iter()
        .chain([PathBuf::from("/sys/fs/cgroup/systemd")])
        .find(|mount| mount.join(relative).is_dir())
}

/// The uid a process acts as (its effective uid, from /proc).
fn uid_of(pid: u32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// The processes not seen before, with their programs and uids.
fn newcomers(pids: Vec<u32>, seen: &mut BTreeSet<u32>, seeds: &mut HashMap<u32, Seed>) -> Vec<u32> {
    let new: Vec<u32> = pids.into_iter().filter(|p| seen.insert(*p)).collect();
    for pid in &new {
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok();
        let seed = Seed {
            program: exe.map(|e| e.display().to_string()),
            uid: uid_of(*pid).unwrap_or(0),
        };
        seeds.insert(*pid, seed);
    }
    new
}

/// Appends pids to the instance's `set_event_pid` (appending keeps the
/// ones already there).
fn follow(instance: &Instance, pids: &[u32]) -> Result<(), String> {
    if pids.is_empty() {
        return Ok(());
    }
    let (file, _) = instance.control_files();
    let text: Vec<String> = pids.iter().map(u32::to_string).collect();
    std::fs::OpenOptions::new()
        .append(true)
        .open(&file)
        .and_then(|mut f| f.write_all(format!("{}\n", text.join(" ")).as_bytes()))
        .map_err(|e| format!("{}: {e}", file.display()))
}

/// Records `unit` for `duration`, or until Ctrl-C/SIGTERM.
pub fn attach(
    unit: &str,
    duration: Duration,
    instance: &mut Instance,
    interrupts: &Interrupts,
    progress: bool,
) -> Result<Attached, String> {
    systemd::require_running("record --attach")?;
    let before = State::read(unit)?;
    if !before.is_active() {
        return Err(format!(
            "{unit} is {} ({}): --attach records a running service",
            before.active, before.sub
        ));
    }
    let group = systemd::control_group(unit)?;
    let mount = group_dir(&group)
        .ok_or_else(|| format!("{unit}: its control group {group} is not mounted here"))?;
    let mut seen: BTreeSet<u32> = BTreeSet::new();
    let mut seeds: HashMap<u32, Seed> = HashMap::new();
    let first = newcomers(systemd::cgroup_pids(&mount, &group), &mut seen, &mut seeds);
    if first.is_empty() {
        return Err(format!("{unit}: no process in its control group {group}"));
    }
    let uid = uid_of(before.main_pid)
        .or_else(|| first.first().and_then(|p| uid_of(*p)))
        .unwrap_or(0);
    follow(instance, &first)?;
    let (_, on) = instance.control_files();
    std::fs::write(&on, "1").map_err(|e| format!("{}: {e}", on.display()))?;
    let started = Instant::now();
    let show = progress && std::io::stderr().is_terminal();
    let mut parser = Parser::default();
    let mut last_seed = Instant::now();
    while started.elapsed() < duration && !interrupts.seen() {
        std::thread::sleep(Duration::from_millis(200));
        parser.feed(&instance.read_available());
        if last_seed.elapsed() > Duration::from_secs(1) {
            last_seed = Instant::now();
            let new = newcomers(systemd::cgroup_pids(&mount, &group), &mut seen, &mut seeds);
            follow(instance, &new)?;
        }
        if show {
            eprint!(
                "\rrecording {unit}: {:.0}s of {:.0}s, {} processes, {} capability checks ",
                started.elapsed().as_secs_f64(),
                duration.as_secs_f64(),
                seen.len(),
                parser.checks_seen()
            );
            let _ = std::io::stderr().flush();
        }
    }
    let _ = std::fs::write(&on, "0");
    parser.feed(&instance.read_available());
    if show {
        eprintln!();
    }
    let after = State::read(unit)?;
    Ok(Attached {
        summary: trace::summarize_from(&parser.finish(), seeds),
        elapsed: started.elapsed(),
        processes: seen.len(),
        uid,
        steady: after.same_run_as(&before),
        interrupted: interrupts.seen(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_uid_of_a_process() {
        // SAFETY: getuid has no preconditions.
        let me = unsafe { libc::getuid() };
        assert_eq!(uid_of(std::process::id()), Some(me));
        assert!(group_dir("/no/such/group/of/capcheck").is_none());
    }
}
