//! Why a program needed root, and what systemd can give a non-root
//! process instead, from the recorded accesses (`record::access`): a pure
//! function of the evidence and the target system's users.
//!
//! Every access the program made as root (and, when it is to run as
//! another user than the one it switched to, every access it made as
//! that one) must be one the new user can make, or one a unit setting
//! makes possible:
//!
//! | root was needed for | the unit gets |
//! |---|---|
//! | a port below 1024 | `AmbientCapabilities=CAP_NET_BIND_SERVICE` |
//! | chroot | `AmbientCapabilities=CAP_SYS_CHROOT` |
//! | a capability used outside the calls capcheck follows | that capability, ambient, unless it is root-equivalent |
//! | writing under /run, /var/lib, /var/cache, /var/log | `RuntimeDirectory=` and its kin, which systemd creates and chowns |
//! | a file directly in /run (a pid file) | `ExecStartPre=+` that creates it for the user |
//! | reading a file its group may read | `SupplementaryGroups=` |
//! | switching to its own user | `User=` (and `Group=`) |
//!
//! Anything else keeps it root, and the reason is reported. A daemon that
//! switches to several users (one per client), or back to root, stays
//! root. What a non-root run would attempt again (setgroups) is noted:
//! only a run as the user shows whether the daemon copes.

use crate::caps::{CapSet, Risk};
use crate::model::directories::Kind;
use crate::record::access::{Access, FileMode, What};
use crate::system::{Account, TargetSystem};
use std::collections::BTreeSet;

/// Who the de-rooted service runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NewUser {
    /// A user the system has: the one the program switched to.
    Existing(String),
    /// `DynamicUser=yes`.
    Dynamic,
    /// A user of its own, created with a sysusers.d line.
    Created(String),
}

/// A file created for the user before the program starts
/// (`ExecStartPre=+`): a pid file directly in /run.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Prepared {
    path: String,
}

/// The unit settings that replace root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeRoot {
    pub user: NewUser,
    /// `Group=`: the group the program switched to, when it is not the
    /// user's own.
    pub group: Option<String>,
    pub ambient: CapSet,
    pub directories: Vec<(Kind, String)>,
    /// `ExecStartPre=` commands (`+`: full privileges) that create files
    /// directly in /run for the user before the program starts.
    pub prepare: Vec<String>,
    /// `SupplementaryGroups=`.
    pub groups: Vec<String>,
    /// `Environment=` assignments (`NAME=value`) that move the paths the
    /// unit gave the program out of /run into a directory of the user's.
    pub environment: Vec<String>,
    /// For each setting, the access that calls for it.
    pub evidence: Vec<String>,
    /// What the program did as root that a non-root run does again and a
    /// user may not (setgroups): whether it copes, only a run tells.
    pub unverified: Vec<String>,
}

/// The program that creates a prepared file.
pub const INSTALL: &str = "/usr/bin/install";

impl DeRoot {
    /// The settings as unit lines, in a fixed order: what a run as the
    /// user had, and what a fix writes.
    pub fn settings(&self) -> Vec<String> {
        let mut out = Vec::new();
        match &self.user {
            NewUser::Existing(n) | NewUser::Created(n) => out.push(format!("User={n}")),
            NewUser::Dynamic => out.push("DynamicUser=yes".to_string()),
        }
        if let Some(g) = &self.group {
            out.push(format!("Group={g}"));
        }
        if !self.groups.is_empty() {
            out.push(format!("SupplementaryGroups={}", self.groups.join(" ")));
        }
        let names: Vec<&str> = self.ambient.iter().map(|c| c.name.as_str()).collect();
        out.push(format!("AmbientCapabilities={}", names.join(" ")));
        for assignment in &self.environment {
            out.push(format!("Environment={assignment}"));
        }
        for (kind, name) in &self.directories {
            out.push(format!("{}={name}", kind.setting()));
        }
        out.extend(self.prepare.iter().map(|c| format!("ExecStartPre={c}")));
        out
    }
}

/// What the evidence says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    DeRoot(DeRoot),
    /// Root stays, for these reasons.
    Root(Vec<String>),
}

/// What the analysis reads.
pub struct Input<'a> {
    pub accesses: &'a [Access],
    /// The capabilities the recording saw granted (its needs).
    pub needed: CapSet,
    /// The unit name's prefix (`web` for `web@1.service`), for a new user.
    pub unit_prefix: &'a str,
    pub system: &'a TargetSystem,
    /// The unit's `Environment=` assignments (`NAME=value`): a path the
    /// program was given there can be moved by the unit.
    pub environment: &'a [String],
}

/// The directories systemd makes for a service, by base.
const BASES: [(&str, Kind); 4] = [
    ("/run", Kind::Runtime),
    ("/var/lib", Kind::State),
    ("/var/cache", Kind::Cache),
    ("/var/log", Kind::Logs),
];

/// Directories under those bases that belong to the system, never to a
/// service.
const SYSTEM_OWNED: [&str; 7] = ["systemd", "user", "dbus", "lock", "shm", "log", "private"];

/// Where a path is relative to systemd's service directories: the kind,
/// the first component under the base, and whether the path is directly
/// in the base.
fn service_directory(path: &str) -> Option<(Kind, &str, bool)> {
    BASES.iter().find_map(|(base, kind)| {
        let rest = path.strip_prefix(base)?.strip_prefix('/')?;
        let (first, deeper) = match rest.split_once('/') {
            Some((first, _)) => (first, true),
            None => (rest, false),
        };
        (!first.is_empty()).then_some((*kind, first, !deeper))
    })
}

/// A user the new identity stands for when its ids are not known yet (a
/// user still to be created, a dynamic one): it owns nothing and is in no
/// group.
fn stranger(name: &str) -> Account {
    Account {
        name: name.to_string(),
        uid: u32::MAX - 1,
        gid: u32::MAX - 1,
        groups: Vec::new(),
    }
}

/// The evaluation of the accesses for one identity.
#[derive(Default)]
struct Needs {
    ambient: CapSet,
    directories: Vec<(Kind, String)>,
    prepared: Vec<Prepared>,
    groups: BTreeSet<u32>,
    evidence: Vec<String>,
    blocked: Vec<String>,
    /// A directory systemd would chown to the user holds files of others.
    takes_over: Vec<String>,
    /// Writes outside the service directories and temporary ones (a
    /// dynamic user could not make them).
    writes_elsewhere: bool,
    /// What only a run as the user can tell.
    unverified: Vec<String>,
    /// The uids the service's own processes had (root, the user it
    /// switched to): once moved, they are all the new user.
    own_uids: Vec<u32>,
    /// The unit's `Environment=` assignments.
    environment: Vec<(String, String)>,
    /// Paths directly in /run that the unit gave the program in
    /// `Environment=`, to move into a directory of the user's: (variable,
    /// the path as written).
    moved: Vec<(String, String)>,
    /// The directory in /run they move into.
    run_dir: Option<String>,
}

impl Needs {
    fn note(&mut self, evidence: String) {
        if !self.evidence.contains(&evidence) {
            self.evidence.push(evidence);
        }
    }

    fn directory(&mut self, kind: Kind, name: &str, access: &str) {
        if !self
            .directories
            .iter()
            .any(|(k, n)| *k == kind && n == name)
        {
            self.directories.push((kind, name.to_string()));
        }
        self.note(format!("{access} → {}={name}", kind.setting()));
    }

    /// Whether `path` lies in a directory systemd will make the user's.
    fn owns(&self, path: &str) -> bool {
        service_directory(path).is_some_and(|(kind, name, direct)| {
            self.directories
                .iter()
                .any(|(k, n)| *k == kind && n == name && (!direct || path.ends_with(n.as_str())))
        })
    }
}

fn reach(user: &Account, access: &Access) -> bool {
    access
        .found
        .ancestors
        .iter()
        .all(|(_, m)| m.grants(user.uid, &user.groups, 1))
}

fn grants(user: &Account, mode: Option<FileMode>, bits: u32) -> bool {
    mode.is_some_and(|m| m.grants(user.uid, &user.groups, bits))
}

/// Whether the user could make the access as it was made, on the files as
/// they are (a file in /run is gone at the next boot: it must be
/// creatable).
fn could(user: &Account, a: &Access) -> bool {
    let path = a.path.as_deref().unwrap_or_default();
    let volatile = path.starts_with("/run/");
    let dir_writable = grants(user, a.found.dir, 3);
    reach(user, a)
        && match a.what {
            What::Read => a.found.file.is_none() || grants(user, a.found.file, 4),
            // A file gone by the end was the program's own, made in a
            // directory it wrote (a socket's temporary name, chmodded and
            // renamed).
            What::Write => match a.found.file {
                Some(f) => grants(user, Some(f), 2),
                None => dir_writable,
            },
            What::Create | What::Mkdir => match a.found.file {
                Some(f) if !volatile => f.uid == user.uid || grants(user, Some(f), 2),
                _ => dir_writable,
            },
            // A unix socket is a new name in its directory.
            What::Remove | What::Bind => dir_writable,
            What::Chown => {
                a.found.file.is_some_and(|f| f.uid == user.uid)
                    && a.id.is_none_or(|id| id == user.uid)
            }
            _ => true,
        }
}

/// What one access needs for `user`.
fn evaluate(user: &Account, a: &Access, needs: &mut Needs, system: &TargetSystem) {
    let shown = a.describe(&|uid| {
        system
            .account(&uid.to_string())
            .map_or_else(|| uid.to_string(), |a| a.name)
    });
    match a.what {
        What::Bind if a.port.is_some_and(|p| p < 1024) => {
            needs.ambient = needs.ambient.union(CapSet::single(10));
            needs.note(format!(
                "{shown} → AmbientCapabilities=CAP_NET_BIND_SERVICE"
            ));
            return;
        }
        What::Bind if a.path.is_none() => return,
        What::Chroot => {
            needs.ambient = needs.ambient.union(CapSet::single(18));
            needs.note(format!("{shown} → AmbientCapabilities=CAP_SYS_CHROOT"));
            return;
        }
        What::Setuid | What::Setgid | What::Setgroups => return,
        What::Kill => {
            // Signals between the service's own processes need nothing once
            // they all run as the user; others need CAP_KILL.
            let own =
                a.id.is_some_and(|id| id == user.uid || needs.own_uids.contains(&id));
            if a.granted.contains(&5) && !own {
                needs
                    .blocked
                    .push(format!("{shown}: signalling another user's process"));
            }
            return;
        }
        _ => {}
    }
    let Some(path) = a.path.as_deref().filter(|p| p.starts_with('/')) else {
        // A chown of a file it has open (fchown), to one of its own users:
        // the user owns what it creates.
        let to_own = a.what == What::Chown
            && a.path.is_none()
            && a.id
                .is_none_or(|id| id == user.uid || needs.own_uids.contains(&id));
        if a.what.writes() && !to_own {
            needs
                .blocked
                .push(format!("{shown}: a path capcheck could not place"));
        }
        return;
    };
    // A process's own /proc files are its user's, whoever that is.
    let own_proc = path
        .strip_prefix("/proc/")
        .and_then(|rest| rest.split('/').next())
        .is_some_and(|pid| pid.bytes().all(|b| b.is_ascii_digit()));
    if own_proc {
        return;
    }
    if needs.owns(path) && a.what != What::Chown {
        return;
    }
    if could(user, a) {
        let api = path.starts_with("/dev/");
        if a.what.writes() && service_directory(path).is_none() && !temporary(path) && !api {
            needs.writes_elsewhere = true;
        }
        return;
    }
    if a.what == What::Read {
        // A group that may read it, and may reach it.
        let file_group = a.found.file.filter(|f| f.mode & 0o040 != 0).map(|f| f.gid);
        let mut with = user.clone();
        with.groups.extend(file_group);
        for (_, m) in &a.found.ancestors {
            if !m.grants(with.uid, &with.groups, 1) && m.mode & 0o010 != 0 {
                with.groups.push(m.gid);
            }
        }
        let added: Vec<u32> = with
            .groups
            .iter()
            .filter(|g| !user.groups.contains(g))
            .copied()
            .collect();
        if could(&with, a) && !added.is_empty() && !added.contains(&0) {
            for gid in &added {
                let name = system.group_name(*gid).unwrap_or_else(|| gid.to_string());
                needs.note(format!("{shown} → SupplementaryGroups={name}"));
            }
            needs.groups.extend(added);
        } else {
            needs
                .blocked
                .push(format!("{shown}: a file {} may not read", user.name));
        }
        return;
    }
    match service_directory(path) {
        Some((kind, name, direct)) if !SYSTEM_OWNED.contains(&name) => {
            if direct && kind == Kind::Runtime && a.what != What::Mkdir {
                if let Some((var, word)) = named_by_environment(&needs.environment, path) {
                    needs.note(format!(
                        "{shown} → the path {word} in Environment={var} moves into a directory of {}'s",
                        user.name
                    ));
                    if !needs.moved.iter().any(|(v, w)| *v == var && *w == word) {
                        needs.moved.push((var, word));
                    }
                    return;
                }
                match a.what {
                    What::Bind | What::Chown => needs
                        .blocked
                        .push(format!("{shown}: a socket directly in /run")),
                    What::Create | What::Write => {
                        if !needs.prepared.iter().any(|p| p.path == path) {
                            needs.prepared.push(Prepared {
                                path: path.to_string(),
                            });
                        }
                        needs.note(format!(
                            "{shown} → ExecStartPre=+ creates it for {}",
                            user.name
                        ));
                        if a.exclusive {
                            needs.unverified.push(format!(
                                "it creates {path} exclusively (O_EXCL): it must cope with the prepared file"
                            ));
                        }
                    }
                    // Its pid file, removed at stop: a user cannot, and
                    // the next start prepares it again.
                    What::Remove => needs.unverified.push(format!(
                        "it removes {path} at stop, which {} may not: it must cope",
                        user.name
                    )),
                    _ => needs.blocked.push(format!("{shown}: directly in /run")),
                }
                return;
            }
            if direct && a.what != What::Mkdir {
                needs
                    .blocked
                    .push(format!("{shown}: a file directly in {}", kind.base()));
                return;
            }
            let top = format!("{}/{name}", kind.base());
            let top_owner = a
                .found
                .ancestors
                .iter()
                .find(|(p, _)| *p == top)
                .map(|(_, m)| m.uid)
                .or(if direct {
                    a.found.file.map(|f| f.uid)
                } else {
                    Some(0)
                });
            // systemd gives the user the directory's contents only when the
            // directory itself has another owner.
            if top_owner == Some(user.uid) {
                needs.blocked.push(format!(
                    "{shown}: {top} is {}'s already, and systemd gives it what is inside only when it is not",
                    user.name
                ));
                return;
            }
            if let Some(owner) = top_owner {
                if owner != 0 {
                    needs.blocked.push(format!(
                        "{shown}: {top} belongs to uid {owner}, which systemd would take from it"
                    ));
                    return;
                }
                needs.takes_over.push(top.clone());
            }
            needs.directory(kind, name, &shown);
        }
        _ if temporary(path) => {}
        _ => needs
            .blocked
            .push(format!("{shown}: a place {} may not write", user.name)),
    }
}

/// The `Environment=` variable and word that name `path`, a file directly
/// in /run (or the temporary file the program makes beside it,
/// `PATH.1234.tmp`); only plain values, which a unit line can say again
/// without quoting.
fn named_by_environment(environment: &[(String, String)], path: &str) -> Option<(String, String)> {
    environment.iter().find_map(|(var, value)| {
        let plain = !value.contains(['"', '\\', '%', '$', '\'']);
        let word = value.split_whitespace().find(|w| {
            w.strip_prefix("/run/")
                .is_some_and(|name| !name.is_empty() && !name.contains('/'))
                && (path == *w || path.starts_with(&format!("{w}.")))
        })?;
        plain.then(|| (var.clone(), word.to_string()))
    })
}

fn temporary(path: &str) -> bool {
    ["/tmp/", "/var/tmp/", "/dev/shm/"]
        .iter()
        .any(|d| path.starts_with(d))
}

/// Evaluates every access that must work for `user`.
fn needs_for(user: &Account, accesses: &[&Access], own_uids: &[u32], input: &Input) -> Needs {
    let system = input.system;
    let mut needs = Needs {
        own_uids: own_uids.to_vec(),
        environment: input
            .environment
            .iter()
            .filter_map(|e| e.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..Needs::default()
    };
    // Directories first: a file inside one is the user's once systemd
    // made it so, whatever the order of the accesses.
    let mut ordered: Vec<&&Access> = accesses.iter().collect();
    ordered.sort_by_key(|a| a.what != What::Mkdir);
    for a in ordered {
        evaluate(user, a, &mut needs, system);
    }
    if !needs.moved.is_empty() {
        // Where the moved paths go: a directory in /run the user may write
        // already (its name the unit's, if there is such), else one systemd
        // makes for it.
        let mut writable: Vec<&str> = accesses
            .iter()
            .filter(|a| grants(user, a.found.dir, 3))
            .filter_map(|a| match service_directory(a.path.as_deref()?)? {
                (Kind::Runtime, name, false) if !SYSTEM_OWNED.contains(&name) => Some(name),
                _ => None,
            })
            .collect();
        writable.sort_by_key(|name| *name != input.unit_prefix);
        let dir = match writable.first() {
            Some(name) => name.to_string(),
            None => {
                let name = input.unit_prefix.to_string();
                needs.directory(Kind::Runtime, &name, "the paths moved out of /run");
                name
            }
        };
        needs.run_dir = Some(dir);
    }
    needs
}

/// The analysis.
pub fn analyze(input: &Input) -> Verdict {
    let system = input.system;
    let ok: Vec<&Access> = input.accesses.iter().filter(|a| a.error == 0).collect();
    let mut blocked = Vec::new();
    // The users and groups it switched to.
    let targets = |what: What| -> BTreeSet<u32> {
        ok.iter()
            .filter(|a| a.what == what && a.uid == 0)
            .filter_map(|a| a.id)
            .filter(|id| *id != 0)
            .collect()
    };
    let (uids, gids) = (targets(What::Setuid), targets(What::Setgid));
    if ok
        .iter()
        .any(|a| a.what == What::Setuid && a.uid != 0 && a.id == Some(0))
    {
        blocked.push("it switches back to root after dropping it".to_string());
    }
    if uids.len() > 1 {
        let names: Vec<String> = uids
            .iter()
            .map(|u| {
                system
                    .account(&u.to_string())
                    .map_or(u.to_string(), |a| a.name)
            })
            .collect();
        blocked.push(format!(
            "it switches to several users ({}): work per client or per job, which only root can do",
            names.join(", ")
        ));
    }
    if gids.len() > 1 {
        blocked.push(format!("it switches to several groups ({gids:?})"));
    }
    if !blocked.is_empty() {
        return Verdict::Root(blocked);
    }
    let switched = uids
        .first()
        .map(|uid| system.account(&uid.to_string()).ok_or(*uid));
    let switched = match switched {
        Some(Err(uid)) => {
            return Verdict::Root(vec![format!(
                "it switches to uid {uid}, which this system does not have"
            )])
        }
        Some(Ok(a)) => Some(a),
        None => None,
    };
    let as_root: Vec<&Access> = ok.iter().copied().filter(|a| a.uid == 0).collect();
    let all_own: Vec<&Access> = ok
        .iter()
        .copied()
        .filter(|a| a.uid == 0 || switched.as_ref().is_some_and(|s| s.uid == a.uid))
        .collect();
    let own_name = crate::fix::plan::default_user_name(input.unit_prefix);
    // The user it switched to, unless that is a shared user that would
    // get others' files; else one of its own.
    let mut candidates: Vec<(NewUser, Account, &[&Access])> = Vec::new();
    if let Some(s) = &switched {
        candidates.push((NewUser::Existing(s.name.clone()), s.clone(), &as_root));
    }
    candidates.push((NewUser::Dynamic, stranger(&own_name), &all_own));
    // A user of its own, unless one of that name exists already.
    if system.account(&own_name).is_none() {
        candidates.push((
            NewUser::Created(own_name.clone()),
            stranger(&own_name),
            &all_own,
        ));
    }
    let mut reasons = Vec::new();
    for (user, account, accesses) in candidates {
        let own_uids: Vec<u32> = std::iter::once(0).chain(uids.iter().copied()).collect();
        let needs = needs_for(&account, accesses, &own_uids, input);
        let refusal = if !needs.blocked.is_empty() {
            Some(needs.blocked.join("; "))
        } else if account.is_shared() && !needs.takes_over.is_empty() {
            Some(format!(
                "{} is shared by other services: systemd would hand it {}",
                account.name,
                needs.takes_over.join(", ")
            ))
        } else if user == NewUser::Dynamic && (needs.writes_elsewhere || !needs.prepared.is_empty())
        {
            Some("a dynamic user may write only its own directories".to_string())
        } else {
            None
        };
        if let Some(why) = refusal {
            let label = match &user {
                NewUser::Existing(n) | NewUser::Created(n) => n.clone(),
                NewUser::Dynamic => "a dynamic user".to_string(),
            };
            let reason = format!("as {label}: {why}");
            if !reasons.contains(&reason) {
                reasons.push(reason);
            }
            continue;
        }
        return Verdict::DeRoot(finish(input, user, &account, needs, &gids, &ok));
    }
    Verdict::Root(reasons)
}

/// The de-root plan from the needs of the chosen user.
fn finish(
    input: &Input,
    user: NewUser,
    account: &Account,
    mut needs: Needs,
    gids: &BTreeSet<u32>,
    ok: &[&Access],
) -> DeRoot {
    let system = input.system;
    // Capabilities checked outside the calls capcheck follows, or kept
    // across the switch to a user and used as that user (named binds port
    // 53 as bind): ambient, unless root-equivalent. What root used them for
    // in the calls capcheck follows is explained by those accesses.
    let explained: CapSet = ok
        .iter()
        .filter(|a| a.uid == 0)
        .flat_map(|a| a.granted.iter().copied())
        .collect();
    let mut unverified = std::mem::take(&mut needs.unverified);
    unverified.dedup();
    for cap in input.needed.difference(explained).iter() {
        if cap.risk == Risk::RootEquivalent {
            unverified.push(format!(
                "{} (root-equivalent) was used outside the calls capcheck follows; a user will not have it",
                cap.name
            ));
        } else {
            needs.ambient = needs.ambient.union(CapSet::single(cap.number));
            needs.note(format!(
                "{} used by the program → AmbientCapabilities={}",
                cap.name, cap.name
            ));
        }
    }
    if ok.iter().any(|a| a.what == What::Setgroups && a.uid == 0) {
        unverified.push(
            "it sets its supplementary groups as root; as a user that fails (EPERM)".to_string(),
        );
    }
    // A dynamic user's group is its own.
    let group = gids
        .first()
        .filter(|g| **g != account.gid && user != NewUser::Dynamic)
        .and_then(|g| system.group_name(*g));
    let groups = needs
        .groups
        .iter()
        .map(|g| system.group_name(*g).unwrap_or_else(|| g.to_string()))
        .collect();
    // Files made for the user get its group: Group=, else its own.
    let file_group = group.clone().unwrap_or_else(|| {
        system
            .group_name(account.gid)
            .unwrap_or_else(|| account.name.clone())
    });
    let prepare = needs
        .prepared
        .iter()
        .map(|p| {
            format!(
                "+{INSTALL} -m 0644 -o {} -g {file_group} /dev/null {}",
                account.name, p.path
            )
        })
        .collect();
    // The moved paths, in their variables' values.
    let mut environment: Vec<String> = Vec::new();
    if let Some(dir) = &needs.run_dir {
        for (var, value) in &needs.environment {
            let words: Vec<&str> = needs
                .moved
                .iter()
                .filter(|(v, _)| v == var)
                .map(|(_, w)| w.as_str())
                .collect();
            if words.is_empty() {
                continue;
            }
            let new = value
                .split(' ')
                .map(|w| match w.strip_prefix("/run/") {
                    Some(name) if words.contains(&w) => format!("/run/{dir}/{name}"),
                    _ => w.to_string(),
                })
                .collect::<Vec<_>>()
                .join(" ");
            environment.push(format!("{var}={new}"));
        }
    }
    DeRoot {
        user,
        group,
        ambient: needs.ambient,
        directories: needs.directories,
        prepare,
        groups,
        environment,
        evidence: needs.evidence,
        unverified,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::access::Found;
    use crate::system::Group;

    fn mode(text: &str) -> Option<FileMode> {
        FileMode::parse(text)
    }

    /// An access as a recording keeps it.
    fn access(what: What, path: Option<&str>, uid: u32) -> Access {
        Access {
            what,
            call: "openat".to_string(),
            path: path.map(str::to_string),
            port: None,
            id: None,
            uid,
            program: Some("/usr/sbin/web".to_string()),
            count: 1,
            error: 0,
            exclusive: false,
            granted: BTreeSet::new(),
            denied: BTreeSet::new(),
            found: Found::default(),
        }
    }

    fn with(mut a: Access, f: impl FnOnce(&mut Access)) -> Access {
        f(&mut a);
        a
    }

    fn system() -> TargetSystem {
        let account = |name: &str, uid: u32, groups: &[u32]| Account {
            name: name.to_string(),
            uid,
            gid: uid,
            groups: groups.to_vec(),
        };
        TargetSystem::with_accounts(
            &[
                account("root", 0, &[0]),
                account("www-data", 33, &[33]),
                account("_web", 120, &[120]),
            ],
            vec![
                Group {
                    name: "root".into(),
                    gid: 0,
                    members: vec![],
                },
                Group {
                    name: "www-data".into(),
                    gid: 33,
                    members: vec![],
                },
                Group {
                    name: "_web".into(),
                    gid: 120,
                    members: vec![],
                },
                Group {
                    name: "ssl-cert".into(),
                    gid: 108,
                    members: vec![],
                },
            ],
        )
    }

    fn analyze_with(accesses: &[Access], needed: &[u8]) -> Verdict {
        analyze_in(accesses, needed, &[])
    }

    fn analyze_in(accesses: &[Access], needed: &[u8], environment: &[String]) -> Verdict {
        analyze(&Input {
            accesses,
            needed: needed
                .iter()
                .map(|c| CapSet::single(*c))
                .fold(CapSet::EMPTY, CapSet::union),
            unit_prefix: "web",
            system: &system(),
            environment,
        })
    }

    /// A daemon like nginx on Debian: port 80, a pid file in /run, logs its
    /// user already owns, then the switch to www-data.
    fn web_server(user: u32) -> Vec<Access> {
        vec![
            with(access(What::Bind, None, 0), |a| {
                a.port = Some(80);
                a.granted.insert(10);
            }),
            with(access(What::Create, Some("/run/web.pid"), 0), |a| {
                a.found.dir = mode("0:0 d0755");
            }),
            with(
                access(What::Create, Some("/var/log/web/access.log"), 0),
                |a| {
                    a.found.file = mode(&format!("{user}:4 0640"));
                    a.found.dir = mode("0:4 d0755");
                    a.found.ancestors = vec![("/var/log/web".into(), mode("0:4 d0755").unwrap())];
                    a.granted.insert(1);
                },
            ),
            with(access(What::Setgroups, None, 0), |a| {
                a.granted.insert(6).then_some(()).unwrap()
            }),
            with(access(What::Setgid, None, 0), |a| {
                a.id = Some(user);
                a.granted.insert(6);
            }),
            with(access(What::Setuid, None, 0), |a| {
                a.id = Some(user);
                a.granted.insert(7);
            }),
            // The workers, already as the user.
            with(
                access(What::Create, Some("/var/lib/web/body/1"), user),
                |a| {
                    a.found.dir = mode(&format!("{user}:{user} d0700"));
                },
            ),
        ]
    }

    #[test]
    fn a_web_server_runs_as_the_user_it_switched_to() {
        let Verdict::DeRoot(d) = analyze_with(&web_server(33), &[1, 6, 7, 10]) else {
            panic!("{:?}", analyze_with(&web_server(33), &[1, 6, 7, 10]));
        };
        assert_eq!(d.user, NewUser::Existing("www-data".into()));
        assert_eq!(d.group, None);
        assert_eq!(d.ambient, CapSet::single(10));
        assert!(d.directories.is_empty(), "{:?}", d.directories);
        assert_eq!(
            d.prepare,
            ["+/usr/bin/install -m 0644 -o www-data -g www-data /dev/null /run/web.pid"]
        );
        assert_eq!(
            d.settings(),
            [
                "User=www-data",
                "AmbientCapabilities=CAP_NET_BIND_SERVICE",
                "ExecStartPre=+/usr/bin/install -m 0644 -o www-data -g www-data /dev/null /run/web.pid"
            ]
        );
        assert_eq!(d.unverified.len(), 1, "{:?}", d.unverified);
        assert!(d.unverified[0].contains("supplementary groups"));
        // A pid file made exclusively, or removed at stop: a run as the
        // user decides.
        let mut exclusive = web_server(33);
        exclusive[1].exclusive = true;
        exclusive.push(with(access(What::Remove, Some("/run/web.pid"), 0), |a| {
            a.found.dir = mode("0:0 d0755");
        }));
        let Verdict::DeRoot(e) = analyze_with(&exclusive, &[1, 6, 7, 10]) else {
            panic!()
        };
        assert_eq!(e.prepare, d.prepare);
        assert_eq!(e.unverified.len(), 3, "{:?}", e.unverified);
    }

    #[test]
    fn root_owned_state_goes_to_a_directory_setting_never_to_a_shared_user() {
        let mut accesses = web_server(120);
        accesses.push(with(
            access(What::Create, Some("/var/lib/web/db"), 0),
            |a| {
                a.found.dir = mode("0:0 d0755");
                a.found.ancestors = vec![];
            },
        ));
        let Verdict::DeRoot(d) = analyze_with(&accesses, &[10]) else {
            panic!()
        };
        assert_eq!(d.user, NewUser::Existing("_web".into()));
        assert_eq!(d.directories, [(Kind::State, "web".to_string())]);
        // The same for www-data: it is shared, so a user of its own.
        let mut shared = web_server(33);
        shared.push(accesses.last().unwrap().clone());
        match analyze_with(&shared, &[10]) {
            Verdict::Root(why) => {
                assert!(
                    why.iter().any(|w| w.contains("www-data is shared")),
                    "{why:?}"
                );
            }
            Verdict::DeRoot(d) => {
                assert_ne!(d.user, NewUser::Existing("www-data".into()));
            }
        }
    }

    #[test]
    fn what_no_setting_replaces_keeps_root() {
        let cases: Vec<(Vec<Access>, &str)> = vec![
            (
                vec![
                    with(access(What::Setuid, None, 0), |a| a.id = Some(33)),
                    with(access(What::Setuid, None, 0), |a| a.id = Some(120)),
                ],
                "several users",
            ),
            (
                vec![with(access(What::Read, Some("/proc/kmsg"), 0), |a| {
                    a.found.file = mode("0:0 0400");
                })],
                "may not read",
            ),
            (
                vec![with(access(What::Write, Some("/etc/web.conf"), 0), |a| {
                    a.found.file = mode("0:0 0644");
                    a.found.dir = mode("0:0 d0755");
                })],
                "may not write",
            ),
            (
                vec![with(access(What::Bind, Some("/run/web.sock"), 0), |a| {
                    a.found.dir = mode("0:0 d0755");
                })],
                "a socket directly in /run",
            ),
        ];
        for (accesses, expected) in cases {
            match analyze_with(&accesses, &[]) {
                Verdict::Root(why) => assert!(
                    why.iter().any(|w| w.contains(expected)),
                    "{expected}: {why:?}"
                ),
                other => panic!("{expected}: {other:?}"),
            }
        }
    }

    #[test]
    fn capabilities_kept_across_the_switch_go_ambient() {
        // named: root switches to bind, which binds port 53 with the
        // CAP_NET_BIND_SERVICE it kept.
        let accesses = vec![
            with(access(What::Setuid, None, 0), |a| {
                a.id = Some(120);
                a.granted.insert(7);
            }),
            with(access(What::Bind, None, 120), |a| {
                a.port = Some(53);
                a.granted.insert(10);
            }),
        ];
        let Verdict::DeRoot(d) = analyze_with(&accesses, &[7, 10, 24]) else {
            panic!()
        };
        assert_eq!(d.user, NewUser::Existing("_web".into()));
        assert_eq!(d.ambient, CapSet::single(10).union(CapSet::single(24)));
    }

    #[test]
    fn paths_the_unit_gives_in_environment_move_out_of_run() {
        // haproxy: its master socket and pid file are named in the unit's
        // Environment=, its admin socket is in its own /run/web.
        let in_run = |what, path: &str| {
            with(access(what, Some(path), 0), |a| {
                a.found.dir = mode("0:0 d0755")
            })
        };
        let accesses = vec![
            with(access(What::Setuid, None, 0), |a| {
                a.id = Some(120);
                a.granted.insert(7);
            }),
            in_run(What::Bind, "/run/web-master.sock.77.tmp"),
            in_run(What::Create, "/run/web-master.sock"),
            in_run(What::Create, "/run/web.pid"),
            with(access(What::Create, Some("/run/web/admin.sock"), 0), |a| {
                a.found.dir = mode("120:120 d2775");
                a.found.ancestors = vec![("/run/web".into(), mode("120:120 d2775").unwrap())];
            }),
        ];
        let environment = [
            "CONFIG=/etc/web.cfg".to_string(),
            "PIDFILE=/run/web.pid".to_string(),
            "EXTRAOPTS=-S /run/web-master.sock".to_string(),
        ];
        let Verdict::DeRoot(d) = analyze_in(&accesses, &[7], &environment) else {
            panic!("{:?}", analyze_in(&accesses, &[7], &environment))
        };
        assert_eq!(d.user, NewUser::Existing("_web".into()));
        assert!(d.prepare.is_empty() && d.directories.is_empty(), "{d:?}");
        assert_eq!(
            d.environment,
            [
                "PIDFILE=/run/web/web.pid",
                "EXTRAOPTS=-S /run/web/web-master.sock"
            ]
        );
        // Without the unit naming them, the socket keeps it root.
        assert!(matches!(analyze_with(&accesses, &[7]), Verdict::Root(_)));
    }

    #[test]
    fn a_key_its_group_may_read_gives_the_group() {
        let key = with(
            access(What::Read, Some("/etc/ssl/private/web.key"), 0),
            |a| {
                a.found.file = mode("0:108 0640");
                a.found.ancestors = vec![("/etc/ssl/private".into(), mode("0:108 d0710").unwrap())];
            },
        );
        let accesses = vec![
            with(access(What::Setuid, None, 0), |a| a.id = Some(120)),
            key,
        ];
        let Verdict::DeRoot(d) = analyze_with(&accesses, &[]) else {
            panic!()
        };
        assert_eq!(d.groups, ["ssl-cert"]);
    }

    #[test]
    fn a_program_that_never_switches_gets_a_dynamic_user_and_its_capabilities() {
        let accesses = vec![
            with(access(What::Create, Some("/var/lib/web/state"), 0), |a| {
                a.found.dir = mode("0:0 d0755");
            }),
            with(access(What::Read, Some("/etc/web.conf"), 0), |a| {
                a.found.file = mode("0:0 0600");
            }),
        ];
        // The configuration is root's only: a user cannot read it.
        assert!(matches!(analyze_with(&accesses, &[]), Verdict::Root(_)));
        let Verdict::DeRoot(d) = analyze_with(&accesses[..1], &[13, 21]) else {
            panic!()
        };
        assert_eq!(d.user, NewUser::Dynamic);
        assert_eq!(d.directories, [(Kind::State, "web".to_string())]);
        // CAP_NET_RAW (used outside the traced calls) goes ambient;
        // CAP_SYS_ADMIN is root-equivalent: noted, never given.
        assert_eq!(d.ambient, CapSet::single(13));
        assert!(d.unverified.iter().any(|u| u.contains("CAP_SYS_ADMIN")));
    }
}
