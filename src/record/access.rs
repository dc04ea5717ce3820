//! What a recorded program did to what: the file it opened, created or
//! chowned, the port it bound, the user it switched to, the directory it
//! chrooted into, and which capability checks each of these made. This is
//! the evidence of why root was needed, beside the checks themselves: uid
//! 0 writing a file it owns makes no check at all, and yet a user could
//! not do it.
//!
//! Built from the traced system calls (`syscalls`), following each
//! process's effective uid (set*id), root directory (chroot) and working
//! directory (chdir), so that every path is absolute and every access is
//! known to have been made as root or as a user.

use super::syscalls::{Call, Effect};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// What was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum What {
    /// Opened for reading.
    Read,
    /// Opened for writing, truncated, or its mode changed: an existing
    /// file.
    Write,
    /// Created (`O_CREAT`), or a new name made in a directory (link,
    /// rename, mknod).
    Create,
    Mkdir,
    /// Unlinked or removed.
    Remove,
    /// Its owner changed (`id`: the new owner, when one was given).
    Chown,
    /// A socket bound (a port, or a unix socket's path).
    Bind,
    /// The effective uid set to `id`.
    Setuid,
    /// The effective gid set to `id`.
    Setgid,
    /// The supplementary groups set.
    Setgroups,
    Chroot,
    /// A signal sent to a process of uid `id` (when known).
    Kill,
}

impl What {
    pub fn as_str(self) -> &'static str {
        match self {
            What::Read => "read",
            What::Write => "write",
            What::Create => "create",
            What::Mkdir => "mkdir",
            What::Remove => "remove",
            What::Chown => "chown",
            What::Bind => "bind",
            What::Setuid => "setuid",
            What::Setgid => "setgid",
            What::Setgroups => "setgroups",
            What::Chroot => "chroot",
            What::Kill => "kill",
        }
    }

    /// Whether it changes the file system at `path`.
    pub fn writes(self) -> bool {
        matches!(
            self,
            What::Write | What::Create | What::Mkdir | What::Remove | What::Chown
        )
    }
}

/// The owner and mode of a file, as capcheck found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileMode {
    pub uid: u32,
    pub gid: u32,
    /// Permission bits (and setuid, setgid, sticky).
    pub mode: u32,
}

impl FileMode {
    /// `uid:gid MODE` as profiles write it: the permission bits in octal,
    /// after `d` for a directory (`0:0 d0755`).
    pub fn text(self) -> String {
        let kind = if self.is_dir() { "d" } else { "" };
        format!("{}:{} {kind}{:04o}", self.uid, self.gid, self.mode & 0o7777)
    }

    pub fn is_dir(self) -> bool {
        self.mode & 0o170000 == 0o040000
    }

    pub fn parse(text: &str) -> Option<FileMode> {
        let (ids, mode) = text.split_once(' ')?;
        let (uid, gid) = ids.split_once(':')?;
        let mode = mode.trim();
        let (kind, bits) = match mode.strip_prefix('d') {
            Some(bits) => (0o040000, bits),
            None => (0, mode),
        };
        Some(FileMode {
            uid: uid.parse().ok()?,
            gid: gid.parse().ok()?,
            mode: kind | (u32::from_str_radix(bits, 8).ok()? & 0o7777),
        })
    }

    /// Whether a process with `uid` and `groups` (its gid included) gets
    /// `bits` (4 read, 2 write, 1 execute or search) from these
    /// permissions: the owner's class, else the group's, else others' (the
    /// kernel's order; access control lists are not seen).
    pub fn grants(self, uid: u32, groups: &[u32], bits: u32) -> bool {
        if uid == 0 {
            return true;
        }
        let class = if uid == self.uid {
            self.mode >> 6
        } else if groups.contains(&self.gid) {
            self.mode >> 3
        } else {
            self.mode
        };
        class & bits == bits
    }
}

/// What capcheck found at an access's path when the recording ended.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Found {
    /// The file (None: it was not there).
    pub file: Option<FileMode>,
    /// The directory it is in.
    pub dir: Option<FileMode>,
    /// Ancestor directories that are not `root:root 0755`: those others
    /// may not search, and those a user owns.
    pub ancestors: Vec<(String, FileMode)>,
}

/// One kind of access to one object by one program as one uid, with how
/// often it happened and the capability checks it made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    pub what: What,
    /// The system call.
    pub call: String,
    /// Absolute, or relative to a directory descriptor capcheck does not
    /// know.
    pub path: Option<String>,
    pub port: Option<u16>,
    /// The uid or gid set, the new owner, the signalled process's uid.
    pub id: Option<u32>,
    /// The effective uid of the process when it made the call.
    pub uid: u32,
    pub program: Option<String>,
    pub count: u64,
    /// 0 when it succeeded (at least once), else the error number.
    pub error: i32,
    /// Open flags that matter for a plan: `O_EXCL` (a file that must not
    /// exist).
    pub exclusive: bool,
    pub granted: BTreeSet<u8>,
    pub denied: BTreeSet<u8>,
    pub found: Found,
}

/// An access as a profile's `[[access]]` table has it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Row {
    pub what: Option<What>,
    #[serde(default)]
    pub call: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<u32>,
    #[serde(rename = "as", default)]
    pub uid: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub program: Option<String>,
    #[serde(default)]
    pub count: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub error: i32,
    #[serde(default, skip_serializing_if = "is_false")]
    pub exclusive: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub denied: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dir: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ancestors: Vec<String>,
}

fn is_zero(n: &i32) -> bool {
    *n == 0
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn cap_names(set: &BTreeSet<u8>) -> Vec<String> {
    set.iter()
        .map(|c| crate::caps::by_number(*c).map_or_else(|| c.to_string(), |c| c.name.clone()))
        .collect()
}

fn cap_numbers(names: &[String]) -> Result<BTreeSet<u8>, String> {
    names
        .iter()
        .map(|n| {
            crate::caps::by_name(n)
                .map(|c| c.number)
                .ok_or_else(|| format!("unknown capability '{n}'"))
        })
        .collect()
}

impl Access {
    /// The profile's form.
    pub fn row(&self) -> Row {
        Row {
            what: Some(self.what),
            call: self.call.clone(),
            path: self.path.clone(),
            port: self.port,
            id: self.id,
            uid: self.uid,
            program: self.program.clone(),
            count: self.count,
            error: self.error,
            exclusive: self.exclusive,
            capabilities: cap_names(&self.granted),
            denied: cap_names(&self.denied),
            file: self.found.file.map(FileMode::text),
            dir: self.found.dir.map(FileMode::text),
            ancestors: self
                .found
                .ancestors
                .iter()
                .map(|(p, m)| format!("{p} {}", m.text()))
                .collect(),
        }
    }

    /// Reads a profile's row.
    pub fn from_row(row: &Row) -> Result<Access, String> {
        let mode = |text: &Option<String>, key: &str| -> Result<Option<FileMode>, String> {
            text.as_deref()
                .map(|t| {
                    FileMode::parse(t)
                        .ok_or_else(|| format!("{key} = \"{t}\": expected \"UID:GID MODE\""))
                })
                .transpose()
        };
        let ancestors = row
            .ancestors
            .iter()
            .map(|c| {
                let (path, m) = c
                    .split_once(' ')
                    .and_then(|(p, m)| Some((p.to_string(), FileMode::parse(m)?)))
                    .ok_or_else(|| {
                        format!("ancestors = \"{c}\": expected \"PATH UID:GID MODE\"")
                    })?;
                Ok((path, m))
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Access {
            what: row.what.ok_or("an [[access]] without what =")?,
            call: row.call.clone(),
            path: row.path.clone(),
            port: row.port,
            id: row.id,
            uid: row.uid,
            program: row.program.clone(),
            count: row.count,
            error: row.error,
            exclusive: row.exclusive,
            granted: cap_numbers(&row.capabilities)?,
            denied: cap_numbers(&row.denied)?,
            found: Found {
                file: mode(&row.file, "file")?,
                dir: mode(&row.dir, "dir")?,
                ancestors,
            },
        })
    }

    /// What identifies it for merging recordings.
    pub fn key(&self) -> Key {
        (
            self.what,
            self.path.clone(),
            self.port,
            self.id,
            self.uid,
            self.program.clone(),
        )
    }

    /// A line for people: `create /run/nginx.pid as root (dir root:root 0755)`.
    pub fn describe(&self, name_of: &dyn Fn(u32) -> String) -> String {
        let object = match (self.what, &self.path, self.port, self.id) {
            (What::Bind, _, Some(port), _) => format!("port {port}"),
            (What::Setuid | What::Kill, _, _, Some(id)) => format!("user {}", name_of(id)),
            (What::Setgid, _, _, Some(id)) => format!("group {id}"),
            (What::Chown, Some(path), _, Some(id)) => format!("{path} to {}", name_of(id)),
            (_, Some(path), _, _) => path.clone(),
            _ => String::new(),
        };
        let as_who = if self.uid == 0 {
            "root".to_string()
        } else {
            name_of(self.uid)
        };
        let found = match (self.found.file, self.found.dir) {
            (Some(f), _) => format!(" ({})", show_mode(f, name_of)),
            (None, Some(d)) if self.path.is_some() => {
                format!(" (new; its directory {})", show_mode(d, name_of))
            }
            _ => String::new(),
        };
        format!("{} {object} as {as_who}{found}", self.what.as_str()).replace("  ", " ")
    }
}

fn show_mode(m: FileMode, name_of: &dyn Fn(u32) -> String) -> String {
    format!("{}:{} {:04o}", name_of(m.uid), m.gid, m.mode & 0o7777)
}

/// What identifies an access for counting.
pub type Key = (
    What,
    Option<String>,
    Option<u16>,
    Option<u32>,
    u32,
    Option<String>,
);

/// Distinct accesses kept per recording: memory stays bounded whatever
/// the program does; the rest are counted.
pub const MAX_ACCESSES: usize = 4096;

/// A process's state as far as paths and identity go.
#[derive(Debug, Clone, Default)]
struct Process {
    uid: u32,
    /// The root directory (empty: /), as the host sees it.
    root: String,
    /// The working directory, as the host sees it (None: unknown).
    cwd: Option<String>,
    call: Option<InFlight>,
}

#[derive(Debug, Clone)]
struct InFlight {
    call: Call,
    granted: BTreeSet<u8>,
    denied: BTreeSet<u8>,
}

/// Follows the traced calls of a process tree.
#[derive(Debug, Default)]
pub struct Tracker {
    processes: HashMap<u32, Process>,
    accesses: BTreeMap<Key, Access>,
    /// Accesses not kept beyond [`MAX_ACCESSES`].
    pub dropped: u64,
}

const AT_FDCWD: i64 = -100;
const O_ACCMODE: i64 = 0o3;
const O_CREAT: i64 = 0o100;
const O_EXCL: i64 = 0o200;
const O_TRUNC: i64 = 0o1000;
const AF_UNIX: i64 = 1;
const AF_INET: i64 = 2;
const AF_INET6: i64 = 10;

/// `a/./b//c/` → `a/b/c`; `..` is kept (symbolic links decide it).
fn normalize(path: &str) -> String {
    let absolute = path.starts_with('/');
    let parts: Vec<&str> = path
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    let joined = parts.join("/");
    if absolute {
        format!("/{joined}")
    } else {
        joined
    }
}

impl Tracker {
    /// A process known when tracing starts (the started program, or a
    /// running service's process) with its effective uid.
    pub fn seed(&mut self, pid: u32, uid: u32) {
        self.processes.entry(pid).or_insert(Process {
            uid,
            root: String::new(),
            cwd: Some("/".to_string()),
            call: None,
        });
    }

    pub fn fork(&mut self, parent: u32, child: u32) {
        let mut state = self.processes.get(&parent).cloned().unwrap_or_default();
        state.call = None;
        self.processes.insert(child, state);
    }

    pub fn begin(&mut self, pid: u32, call: Call) {
        let process = self.processes.entry(pid).or_default();
        process.call = Some(InFlight {
            call,
            granted: BTreeSet::new(),
            denied: BTreeSet::new(),
        });
    }

    /// The kernel's copy of a path the caller passed at `pointer`: the
    /// path of the call in flight when its own reading failed.
    pub fn name(&mut self, pid: u32, pointer: u64, path: &str) {
        if let Some(flight) = self.processes.get_mut(&pid).and_then(|p| p.call.as_mut()) {
            let call = &mut flight.call;
            if call.path.is_none() && call.pointer == Some(pointer) {
                call.path = Some(path.to_string());
            }
        }
    }

    /// The socket address the bind in flight names.
    pub fn address(&mut self, pid: u32, family: u16, port: Option<u16>, path: Option<&str>) {
        if let Some(flight) = self.processes.get_mut(&pid).and_then(|p| p.call.as_mut()) {
            let call = &mut flight.call;
            if call.syscall.effect == Effect::Bind {
                call.numbers.push(("family", i64::from(family)));
                if let Some(port) = port {
                    call.numbers.push(("port", i64::from(port)));
                }
                if call.path.is_none() {
                    call.path = path.filter(|p| !p.is_empty()).map(str::to_string);
                }
            }
        }
    }

    /// A capability check: part of the call in flight, if any.
    pub fn check(&mut self, pid: u32, cap: u8, granted: bool) {
        if let Some(flight) = self.processes.get_mut(&pid).and_then(|p| p.call.as_mut()) {
            if granted {
                flight.granted.insert(cap);
            } else {
                flight.denied.insert(cap);
            }
        }
    }

    /// The path a call names, absolute when the process's root and working
    /// directory say where it is.
    fn resolve(process: &Process, pid: u32, call: &Call) -> Option<String> {
        let path = call.path.as_deref().filter(|p| !p.is_empty())?;
        let full = if path.starts_with('/') {
            format!("{}{path}", process.root)
        } else {
            match (call.number("dfd").unwrap_or(AT_FDCWD), &process.cwd) {
                (AT_FDCWD, Some(cwd)) => format!("{cwd}/{path}"),
                _ => return Some(normalize(path)),
            }
        };
        let full = normalize(&full);
        // /proc/self is the caller, not whoever reads the profile.
        for own in ["/proc/self", "/proc/thread-self"] {
            if full == own || full.starts_with(&format!("{own}/")) {
                return Some(format!("/proc/{pid}{}", &full[own.len()..]));
            }
        }
        Some(full)
    }

    /// The call in flight returns: what it did is counted (`program`: None
    /// for capcheck's own launcher, whose calls are not the program's).
    pub fn end(&mut self, pid: u32, ret: i64, program: Option<&str>) {
        let Some(flight) = self.processes.get_mut(&pid).and_then(|p| p.call.take()) else {
            return;
        };
        let call = &flight.call;
        // The uid of the process a signal went to, while it is known.
        let target_uid = call
            .number("target")
            .filter(|t| *t > 0 && call.syscall.effect == Effect::Kill)
            .and_then(|t| u32::try_from(t).ok())
            .and_then(|t| self.processes.get(&t))
            .map(|p| p.uid);
        let process = self.processes.get_mut(&pid).expect("the caller is tracked");
        let ok = ret >= 0;
        let path = Tracker::resolve(process, pid, call);
        let uid = process.uid;
        let id = |name: &str| {
            call.number(name)
                .filter(|n| *n >= 0)
                .and_then(|n| u32::try_from(n).ok())
        };
        let (what, path, port, id, exclusive) = match call.syscall.effect {
            Effect::Open => {
                let flags = call.number("flags").unwrap_or(0o1101);
                let what = if flags & O_CREAT != 0 || call.syscall.name == "creat" {
                    What::Create
                } else if flags & O_ACCMODE != 0 || flags & O_TRUNC != 0 {
                    What::Write
                } else {
                    What::Read
                };
                (what, path, None, None, flags & O_EXCL != 0)
            }
            Effect::Mkdir => (What::Mkdir, path, None, None, false),
            Effect::Remove => (What::Remove, path, None, None, false),
            Effect::Link => (What::Create, path, None, None, false),
            Effect::Chmod | Effect::Truncate => (What::Write, path, None, None, false),
            Effect::Chown => (What::Chown, path, None, id("uid"), false),
            Effect::Bind => match call.number("family") {
                Some(AF_INET | AF_INET6) => {
                    let port = call.number("port").and_then(|p| u16::try_from(p).ok());
                    (What::Bind, None, port, None, false)
                }
                Some(AF_UNIX) => (What::Bind, path, None, None, false),
                _ => return,
            },
            Effect::SetUid => {
                let target = id("uid");
                if ok {
                    if let Some(t) = target {
                        process.uid = t;
                    }
                }
                (What::Setuid, None, None, target, false)
            }
            Effect::SetGid => (What::Setgid, None, None, id("gid"), false),
            Effect::SetGroups => (What::Setgroups, None, None, None, false),
            Effect::Chroot => {
                if ok {
                    if let Some(p) = &path {
                        process.root = if p == "/" { String::new() } else { p.clone() };
                        process.cwd = Some(process.root.clone());
                    }
                }
                (What::Chroot, path, None, None, false)
            }
            // A directory it works in is one it uses (ProtectHome= would
            // hide a home it changes into).
            Effect::Chdir => {
                if ok {
                    process.cwd = path.clone().filter(|p| p.starts_with('/'));
                }
                (What::Read, path, None, None, false)
            }
            Effect::Kill => (What::Kill, None, None, target_uid, false),
        };
        let Some(program) = program else {
            return;
        };
        // Signal 0 only asks whether a process exists.
        if what == What::Kill && call.number("signal") == Some(0) {
            return;
        }
        let key: Key = (what, path.clone(), port, id, uid, Some(program.to_string()));
        let error = if ok { 0 } else { (-ret).min(4095) as i32 };
        if let Some(access) = self.accesses.get_mut(&key) {
            access.count += 1;
            if ok {
                access.error = 0;
            }
            access.exclusive |= exclusive;
            access.granted.extend(&flight.granted);
            access.denied.extend(&flight.denied);
            return;
        }
        if self.accesses.len() >= MAX_ACCESSES {
            self.dropped += 1;
            return;
        }
        self.accesses.insert(
            key,
            Access {
                what,
                call: call.syscall.name.to_string(),
                path,
                port,
                id,
                uid,
                program: Some(program.to_string()),
                count: 1,
                error,
                exclusive,
                granted: flight.granted,
                denied: flight.denied,
                found: Found::default(),
            },
        );
    }

    /// The accesses, in a stable order.
    pub fn finish(self) -> Vec<Access> {
        self.accesses.into_values().collect()
    }
}

/// What capcheck sees at a path of the recorded system.
pub trait Look {
    /// The owner and mode at `path` (following links), None when nothing
    /// is there.
    fn mode(&self, path: &str) -> Option<FileMode>;
    /// `path` with the links of its directories resolved.
    fn real_path(&self, path: &str) -> String;
}

/// This host's files.
pub struct HostFiles;

impl Look for HostFiles {
    fn mode(&self, path: &str) -> Option<FileMode> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(path).ok()?;
        Some(FileMode {
            uid: m.uid(),
            gid: m.gid(),
            mode: m.mode() & 0o177777,
        })
    }

    fn real_path(&self, path: &str) -> String {
        let (dir, name) = split(path);
        match std::fs::canonicalize(dir) {
            Ok(real) if real.as_os_str() != dir => {
                let real = real.display().to_string();
                if real == "/" {
                    format!("/{name}")
                } else {
                    format!("{real}/{name}")
                }
            }
            _ => path.to_string(),
        }
    }
}

/// An absolute path's directory and file name (`/` for `/x`).
pub fn split(path: &str) -> (&str, &str) {
    match path.rfind('/') {
        Some(0) => ("/", &path[1..]),
        Some(i) => (&path[..i], &path[i + 1..]),
        None => ("/", path),
    }
}

/// Fills in what is at each access's path now, and keeps what a plan
/// needs: every access that made a capability check, every change to the
/// file system, socket, identity or root, and the reads of files not every
/// user may read. Calls that failed without a denied check say nothing of
/// a need and go.
pub fn keep_evidence(accesses: Vec<Access>, look: &dyn Look) -> Vec<Access> {
    let mut cache: HashMap<String, Option<FileMode>> = HashMap::new();
    let mut stat = |path: &str| {
        *cache
            .entry(path.to_string())
            .or_insert_with(|| look.mode(path))
    };
    let mut kept: BTreeMap<Key, Access> = BTreeMap::new();
    for mut a in accesses {
        if a.error != 0 && a.denied.is_empty() {
            continue;
        }
        if let Some(path) = a.path.clone().filter(|p| p.starts_with('/')) {
            let path = look.real_path(&path);
            a.found.file = stat(&path);
            let (parent, _) = split(&path);
            a.found.dir = stat(parent);
            let mut at = String::new();
            for part in parent.split('/').filter(|p| !p.is_empty()) {
                at.push('/');
                at.push_str(part);
                let plain = |m: &FileMode| m.uid == 0 && m.gid == 0 && m.mode & 0o7777 == 0o755;
                if let Some(m) = stat(&at).filter(|m| !plain(m)) {
                    a.found.ancestors.push((at.clone(), m));
                }
            }
            a.path = Some(path);
        }
        let checked = !a.granted.is_empty() || !a.denied.is_empty();
        let open_to_all = a.found.ancestors.iter().all(|(_, m)| m.mode & 0o001 != 0)
            && a.found.file.is_none_or(|f| f.mode & 0o004 != 0);
        // Reads of homes and temporary directories stay: they decide
        // ProtectHome= and PrivateTmp=.
        let telling = a.path.as_deref().is_some_and(|p| {
            ["/home/", "/root/", "/run/user/", "/tmp/", "/var/tmp/"]
                .iter()
                .any(|d| p.starts_with(d))
        });
        if a.what == What::Read && !checked && open_to_all && !telling {
            continue;
        }
        // Two paths that are one file once links are resolved: one access.
        match kept.get_mut(&a.key()) {
            Some(old) => {
                old.count += a.count;
                old.granted.extend(&a.granted);
                old.denied.extend(&a.denied);
                old.exclusive |= a.exclusive;
            }
            None => {
                kept.insert(a.key(), a);
            }
        }
    }
    kept.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::syscalls::by_name;

    fn call(name: &str, numbers: &[(&'static str, i64)], path: Option<&str>) -> Call {
        Call {
            syscall: by_name(name).unwrap(),
            numbers: numbers.to_vec(),
            path: path.map(str::to_string),
            pointer: None,
        }
    }

    #[test]
    fn paths_follow_chroot_and_chdir_and_identity_follows_setuid() {
        let mut t = Tracker::default();
        let nginx = Some("/usr/sbin/nginx");
        t.seed(10, 0);
        t.begin(
            10,
            call(
                "openat",
                &[("dfd", -100), ("flags", 0o1101)],
                Some("/run//nginx.pid"),
            ),
        );
        t.check(10, 1, true);
        t.end(10, 3, nginx);
        t.begin(10, call("chdir", &[], Some("/var/lib/x")));
        t.end(10, 0, nginx);
        t.begin(10, call("mkdirat", &[("dfd", -100)], Some("./cache")));
        t.end(10, 0, nginx);
        t.begin(10, call("bind", &[], None));
        t.address(10, 10, Some(80), None);
        t.end(10, 0, nginx);
        t.fork(10, 11);
        t.begin(11, call("chroot", &[], Some("/var/lib/x")));
        t.end(11, 0, nginx);
        t.begin(
            11,
            call(
                "setresuid",
                &[("ruid", 33), ("uid", 33), ("suid", 33)],
                None,
            ),
        );
        t.end(11, 0, nginx);
        t.begin(
            11,
            call("openat", &[("dfd", -100), ("flags", 0)], Some("/etc/key")),
        );
        t.end(11, -13, nginx);
        let mut faulted = call("openat", &[("dfd", -100), ("flags", 0o101)], None);
        faulted.pointer = Some(0x7f00);
        t.begin(11, faulted);
        t.name(11, 0x7e00, "/not/this/one");
        t.name(11, 0x7f00, "/from/the/kernel");
        t.end(11, 4, nginx);
        t.begin(11, call("kill", &[("target", 10), ("signal", 15)], None));
        t.end(11, 0, nginx);
        // capcheck's launcher switching user before exec: not the program.
        t.begin(12, call("setuid", &[("uid", 5)], None));
        t.end(12, 0, None);
        let found: Vec<_> = t
            .finish()
            .into_iter()
            .map(|a| (a.what, a.path, a.port, a.id, a.uid, a.error, a.granted))
            .collect();
        assert_eq!(
            found,
            [
                (
                    What::Read,
                    Some("/var/lib/x".into()),
                    None,
                    None,
                    0,
                    0,
                    BTreeSet::new()
                ),
                (
                    What::Read,
                    Some("/var/lib/x/etc/key".into()),
                    None,
                    None,
                    33,
                    13,
                    BTreeSet::new()
                ),
                (
                    What::Create,
                    Some("/run/nginx.pid".into()),
                    None,
                    None,
                    0,
                    0,
                    BTreeSet::from([1])
                ),
                (
                    What::Create,
                    Some("/var/lib/x/from/the/kernel".into()),
                    None,
                    None,
                    33,
                    0,
                    BTreeSet::new()
                ),
                (
                    What::Mkdir,
                    Some("/var/lib/x/cache".into()),
                    None,
                    None,
                    0,
                    0,
                    BTreeSet::new()
                ),
                (What::Bind, None, Some(80), None, 0, 0, BTreeSet::new()),
                (What::Setuid, None, None, Some(33), 0, 0, BTreeSet::new()),
                (
                    What::Chroot,
                    Some("/var/lib/x".into()),
                    None,
                    None,
                    0,
                    0,
                    BTreeSet::new()
                ),
                (What::Kill, None, None, Some(0), 33, 0, BTreeSet::new()),
            ]
        );
    }

    #[test]
    fn a_check_outside_a_traced_call_is_nobody_s() {
        let mut t = Tracker::default();
        t.seed(1, 0);
        t.begin(
            1,
            call("openat", &[("dfd", -100), ("flags", 0)], Some("/etc/a")),
        );
        t.end(1, 3, Some("/bin/a"));
        t.check(1, 12, true);
        let accesses = t.finish();
        assert!(accesses[0].granted.is_empty());
    }

    #[test]
    fn permissions_as_the_kernel_checks_them() {
        let key = FileMode::parse("0:108 0640").unwrap();
        assert_eq!(key.text(), "0:108 0640");
        assert!(key.grants(5, &[108], 4));
        assert!(!key.grants(5, &[108], 2));
        assert!(!key.grants(5, &[5], 4));
        assert!(key.grants(0, &[], 2));
        // The owner's class decides for the owner, even when others get more.
        assert!(!FileMode::parse("5:5 0077").unwrap().grants(5, &[5], 4));
    }

    #[test]
    fn plain_reads_of_open_files_go_the_rest_stays_with_what_is_there() {
        let mut t = Tracker::default();
        t.seed(1, 0);
        for (path, flags, ret) in [
            ("/usr/lib/libc.so.6", 0, 3),
            ("/etc/ssl/private/key.pem", 0, 3),
            ("/var/log/web/access.log", 0o2101, 3),
            ("/nowhere", 0, -2),
        ] {
            t.begin(
                1,
                call("openat", &[("dfd", -100), ("flags", flags)], Some(path)),
            );
            t.end(1, ret, Some("/bin/web"));
        }
        let modes: HashMap<&str, &str> = HashMap::from([
            ("/usr", "0:0 0755"),
            ("/usr/lib", "0:0 0755"),
            ("/usr/lib/libc.so.6", "0:0 0644"),
            ("/etc", "0:0 0755"),
            ("/etc/ssl", "0:0 0755"),
            ("/etc/ssl/private", "0:108 0710"),
            ("/etc/ssl/private/key.pem", "0:108 0640"),
            ("/var", "0:0 0755"),
            ("/var/log", "0:0 0755"),
            ("/var/log/web", "0:4 0750"),
        ]);
        struct Table(HashMap<&'static str, &'static str>);
        impl Look for Table {
            fn mode(&self, path: &str) -> Option<FileMode> {
                self.0.get(path).and_then(|m| FileMode::parse(m))
            }
            fn real_path(&self, path: &str) -> String {
                path.replace("/var/run/", "/run/")
            }
        }
        let kept = keep_evidence(t.finish(), &Table(modes));
        let paths: Vec<_> = kept.iter().map(|a| a.path.as_deref().unwrap()).collect();
        assert_eq!(
            paths,
            ["/etc/ssl/private/key.pem", "/var/log/web/access.log"]
        );
        assert_eq!(
            kept[0].found.ancestors,
            [(
                "/etc/ssl/private".to_string(),
                FileMode::parse("0:108 0710").unwrap()
            )]
        );
        assert_eq!(kept[1].what, What::Create);
        assert_eq!(kept[1].found.file, None);
        assert_eq!(kept[1].found.dir, FileMode::parse("0:4 0750"));
    }
}
