//! The process tree of a started program, ended as a whole. Daemons fork
//! and call setsid, so neither the direct child nor a process group covers
//! them: the tree gets a cgroup of its own (cgroup v2, named after
//! capcheck's pid so that the next capcheck removes the cgroup of one
//! killed with SIGKILL). Without cgroup v2, capcheck is the child
//! subreaper of everything it starts (orphans are reparented to it, not to
//! init) and ends its descendants one by one.

use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The directory name of the cgroup of the capcheck process `pid`.
fn cgroup_name(pid: u32) -> String {
    format!("capcheck-{pid}")
}

/// The mount point of the cgroup v2 hierarchy, from mountinfo (a hybrid
/// layout mounts it at /sys/fs/cgroup/unified, a unified one at
/// /sys/fs/cgroup).
pub fn cgroup2_mount(mountinfo: &str) -> Option<PathBuf> {
    mountinfo.lines().find_map(|line| {
        let (mount, fs) = line.split_once(" - ")?;
        if fs.split(' ').next()? != "cgroup2" {
            return None;
        }
        // Octal escapes (\040 for a space) as the kernel writes them.
        let point = mount.split(' ').nth(4)?.replace("\\040", " ");
        Some(PathBuf::from(point))
    })
}

/// True when the process `pid` exists (a zombie counts as gone).
fn alive(pid: i32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat.rsplit(") ").next().and_then(|s| s.chars().next());
    state.is_some_and(|s| s != 'Z')
}

/// The pids listed in a `cgroup.procs` file.
fn procs(cgroup: &Path) -> Vec<i32> {
    std::fs::read_to_string(cgroup.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

fn sigkill(pid: i32) {
    // SAFETY: kill with a valid signal; a pid that is gone gives ESRCH.
    unsafe { libc::kill(pid, libc::SIGKILL) };
}

/// Kills every process of `cgroup` and waits (a few seconds at most)
/// until it is empty; `cgroup.kill` (Linux 5.14) kills atomically, even a
/// tree that is forking, else the members are killed until none is left.
fn empty_cgroup(cgroup: &Path) {
    let kill_file = cgroup.join("cgroup.kill");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let members = procs(cgroup);
        if members.is_empty() || Instant::now() > deadline {
            return;
        }
        if kill_file.exists() {
            let _ = std::fs::write(&kill_file, "1");
        } else {
            members.into_iter().for_each(sigkill);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Removes a cgroup once its processes are gone.
fn remove_cgroup(cgroup: &Path) {
    empty_cgroup(cgroup);
    for _ in 0..100 {
        if std::fs::remove_dir(cgroup).is_ok() || !cgroup.exists() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The descendants of `root` (parents from /proc/PID/stat), without the
/// subtrees of `except`, live ones only.
fn descendants(root: i32, except: &[i32]) -> Vec<i32> {
    let mut parent_of = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        // After the command name in parentheses: state, then the parent.
        let mut fields = stat.rsplit(") ").next().unwrap_or_default().split(' ');
        let state = fields.next().unwrap_or("Z");
        if let Some(ppid) = fields.next().and_then(|p| p.parse::<i32>().ok()) {
            parent_of.push((pid, ppid, state != "Z"));
        }
    }
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(
            parent_of
                .iter()
                .filter(|(pid, ppid, _)| *ppid == parent && !except.contains(pid))
                .map(|(pid, _, _)| *pid),
        );
        i += 1;
    }
    found.remove(0);
    found.retain(|pid| parent_of.iter().any(|(p, _, live)| p == pid && *live));
    found
}

/// Where the processes capcheck starts are kept together.
pub struct ProcessTree {
    /// The cgroup, or None for the subreaper fallback.
    cgroup: Option<PathBuf>,
}

impl ProcessTree {
    /// Makes capcheck the subreaper of its descendants, removes the cgroups
    /// of capcheck processes that are gone, and creates this one's (when
    /// cgroup v2 is mounted and writable).
    pub fn create() -> ProcessTree {
        // SAFETY: prctl with integer arguments on the calling process.
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let cgroup = cgroup2_mount(&mountinfo).and_then(|mount| {
            remove_stale_cgroups(&mount);
            let dir = mount.join(cgroup_name(std::process::id()));
            match std::fs::create_dir(&dir) {
                Ok(()) => Some(dir),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Some(dir),
                Err(_) => None,
            }
        });
        ProcessTree { cgroup }
    }

    /// The `cgroup.procs` file a child writes `0` to, to join the tree
    /// before it execs (None in the fallback).
    pub fn join_file(&self) -> Option<CString> {
        let file = self.cgroup.as_ref()?.join("cgroup.procs");
        CString::new(file.as_os_str().as_encoded_bytes()).ok()
    }

    /// The live processes of the tree (not the subtrees of `except`, the
    /// probe in the fallback: it is capcheck's child too).
    pub fn members(&self, except: &[i32]) -> Vec<i32> {
        match &self.cgroup {
            Some(c) => procs(c).into_iter().filter(|p| alive(*p)).collect(),
            None => descendants(std::process::id() as i32, except),
        }
    }

    /// Kills every process of the tree and waits until they are gone.
    pub fn end(&self, except: &[i32]) {
        match &self.cgroup {
            Some(c) => empty_cgroup(c),
            None => {
                let deadline = Instant::now() + Duration::from_secs(5);
                loop {
                    let left = descendants(std::process::id() as i32, except);
                    if left.is_empty() || Instant::now() > deadline {
                        break;
                    }
                    left.into_iter().for_each(sigkill);
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        }
    }
}

impl Drop for ProcessTree {
    fn drop(&mut self) {
        if let Some(c) = &self.cgroup {
            remove_cgroup(c);
        } else {
            self.end(&[]);
        }
    }
}

/// Removes the cgroups of capcheck processes that no longer exist (one
/// killed with SIGKILL), with whatever they still hold.
fn remove_stale_cgroups(mount: &Path) {
    for entry in std::fs::read_dir(mount).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix("capcheck-")
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        if !alive(pid) {
            remove_cgroup(&entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_cgroup2_mount_in_a_hybrid_layout() {
        let mountinfo = "\
31 24 0:26 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
40 31 0:37 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
55 45 0:38 / /srv/my\\040root/sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
";
        assert_eq!(
            cgroup2_mount(mountinfo),
            Some(PathBuf::from("/sys/fs/cgroup/unified"))
        );
        let without: String = mountinfo
            .lines()
            .take(2)
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(cgroup2_mount(&without), None);
        assert_eq!(cgroup_name(42), "capcheck-42");
    }
}
