//! From evidence to a plan: which kind of fix a service gets, who it runs
//! as, and with which capabilities. A pure function of the unit's model,
//! the evidence and the target system's users.
//!
//! - **Confine** keeps the identity the program starts with and cuts its
//!   bounding set to what it needs over its whole life.
//! - **De-root** moves a root service to a user, holding exactly what it
//!   needs as ambient capabilities; only when the evidence covers the
//!   program running unprivileged.
//!
//! Neither ever grants: what the evidence needs beyond what the unit has
//! is reported as missing.

use super::deroot::{self, DeRoot, NewUser, Verdict};
use super::evidence::{Described, Needed};
use super::knowledge::Runs;
use super::protect::{self, Protections};
use crate::caps::CapSet;
use crate::finding::Applicability;
use crate::model::exec::Prefix;
use crate::model::Privileges;
use crate::system::TargetSystem;

/// The kind of fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// Keep the identity; bounding set cut to the need, no_new_privs.
    Confine,
    /// From root to a user with exactly the needed capabilities.
    DeRoot,
    /// Nothing is changed (the report says why).
    None,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Confine => "confine",
            Kind::DeRoot => "de-root",
            Kind::None => "none",
        }
    }
}

/// Who the fixed service runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// As it does now.
    Keep,
    /// `User=NAME`.
    User(String),
    /// `DynamicUser=yes`, with `User=NAME` when a name is known.
    DynamicUser(Option<String>),
}

impl Identity {
    pub fn describe(&self) -> String {
        match self {
            Identity::Keep => "unchanged".to_string(),
            Identity::User(name) => format!("User={name}"),
            Identity::DynamicUser(None) => "DynamicUser=yes".to_string(),
            Identity::DynamicUser(Some(name)) => format!("DynamicUser=yes (User={name})"),
        }
    }
}

/// How the user chose the identity.
#[derive(Debug, Clone, Default)]
pub struct IdentityChoice {
    pub user: Option<String>,
    pub dynamic_user: bool,
}

/// A capability the evidence needs that the unit does not give: a
/// finding, never a grant.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Missing {
    pub capability: String,
    pub evidence: Vec<String>,
    pub why: String,
}

/// The plan for one unit.
#[derive(Debug, Clone)]
pub struct Plan {
    pub kind: Kind,
    pub identity: Identity,
    /// Why this identity (or why nothing is changed).
    pub reason: String,
    /// A user the fix creates with a sysusers.d file.
    pub create_user: Option<String>,
    pub bounding: CapSet,
    pub ambient: CapSet,
    pub no_new_privileges: bool,
    pub missing: Vec<Missing>,
    /// What was deliberately left as it is, and why.
    pub left_alone: Vec<String>,
    pub applicability: Applicability,
    /// For a service moved off root by the evidence of why it needed root:
    /// the settings that replace root (directories, a prepared file,
    /// groups), and that evidence.
    pub replaces_root: Option<DeRoot>,
    /// For a service that keeps root: filesystem protections from the
    /// evidence.
    pub protections: Protections,
}

/// What the plan is made from besides the evidence.
pub struct Inputs<'a> {
    pub model: &'a Privileges,
    /// The unit name's prefix (`web` for `web@1.service`).
    pub unit_prefix: &'a str,
    pub system: &'a TargetSystem,
    pub choice: &'a IdentityChoice,
    /// `--unsafe-fixes`: guesses are allowed.
    pub guesses: bool,
    /// The non-root `User=` the unit's files name, even when a later
    /// assignment overrides it: the user its author meant.
    pub intended_user: Option<String>,
    /// Something in the unit ties it to a fixed uid (files it owns at
    /// fixed paths), so `DynamicUser=` would not do.
    pub pins_uid: bool,
    /// Exec binaries that are setuid, setgid or have file capabilities.
    pub privileged_binaries: Vec<String>,
    /// Planning for `capcheck try`, which proves a plan under systemd and
    /// rolls it back if it fails: a de-root plan no run as the user has
    /// proved yet, and a confinement from a recording that missed the
    /// start, are tried.
    pub trial: bool,
    /// No move off root by the evidence: the service keeps its identity
    /// (`try` falls back to this when the move did not work).
    pub keep_identity: bool,
    /// The settings the unit's own section has (a protection is added
    /// only where the unit has none).
    pub present: std::collections::BTreeSet<String>,
}

/// The last non-root `User=` the unit's files name.
pub fn intended_user(unit: &crate::load::Unit) -> Option<String> {
    unit.own_assignments()
        .filter(|a| a.key == "User")
        .map(|a| a.value.clone())
        .filter(|v| !v.is_empty() && v != "root" && v != "0" && !v.contains('%'))
        .last()
}

/// A user name derived from a unit's prefix: lower case, `-` for other
/// characters, a letter first, at most 31 characters.
pub fn default_user_name(prefix: &str) -> String {
    let mut name: String = prefix
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    if !name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_') {
        name.insert(0, '_');
    }
    name.truncate(31);
    name
}

/// Settings that tie a service to files at fixed paths, which a dynamic
/// uid (new at every start) could not own.
pub fn pins_uid(unit: &crate::load::Unit) -> bool {
    unit.files().any(|f| {
        f.assignments.iter().any(|a| {
            matches!(
                a.key.as_str(),
                "PIDFile" | "ReadWritePaths" | "WorkingDirectory"
            )
        })
    })
}

impl Plan {
    /// A plan of `kind`; the sets and no_new_privs are filled in by
    /// [`plan`] once the kind and identity are known.
    fn new(kind: Kind, identity: Identity, reason: String) -> Plan {
        Plan {
            kind,
            identity,
            reason,
            create_user: None,
            bounding: CapSet::ALL,
            ambient: CapSet::EMPTY,
            no_new_privileges: false,
            missing: Vec::new(),
            left_alone: Vec::new(),
            applicability: Applicability::Safe,
            replaces_root: None,
            protections: Protections::default(),
        }
    }
}

fn nothing(reason: String, left_alone: Vec<String>) -> Plan {
    Plan {
        left_alone,
        ..Plan::new(Kind::None, Identity::Keep, reason)
    }
}

/// Plans the fix of one unit.
pub fn plan(inputs: &Inputs, needed: &Needed) -> Plan {
    let model = inputs.model;
    let Some(main) = model.main_command() else {
        return nothing("the unit runs no command".to_string(), Vec::new());
    };
    if main.command.has(Prefix::FullyPrivileged) {
        return nothing(
            format!(
                "{}=+{} runs with full privileges whatever the unit says",
                main.directive, main.command.path
            ),
            Vec::new(),
        );
    }
    if let Some(program) = needed.program.filter(|p| p.runs == Runs::Sessions) {
        return nothing(
            format!(
                "{} starts other users' sessions or jobs ({}): a bounding set or no_new_privs would limit them too",
                program.name(),
                program.source
            ),
            vec!["the whole unit".to_string()],
        );
    }
    if let Some(ports) = needed
        .unprobed_ports
        .as_ref()
        .filter(|_| !inputs.guesses && !inputs.trial)
    {
        return nothing(
            format!(
                "it was recorded without a probe while it listens on port {ports}: what it does \
                 per client (a switch to the client's user) is not in the recording, so a fix \
                 from it could refuse clients (record again with --probe, or --unsafe-fixes, or \
                 `capcheck try`)"
            ),
            Vec::new(),
        );
    }
    let applicability = if needed.complete && !needed.reasoned {
        Applicability::EvidenceBased
    } else if inputs.guesses {
        Applicability::Guess
    } else if !needed.uncovered.is_empty() {
        return nothing(
            format!(
                "no evidence of what {} needs, so confining could break it",
                needed.uncovered.join(", ")
            ),
            Vec::new(),
        );
    } else if needed.reasoned {
        return nothing(
            "the knowledge base only reasons about this program (--unsafe-fixes uses it)"
                .to_string(),
            Vec::new(),
        );
    } else {
        return nothing(
            "no evidence of what the program needs".to_string(),
            Vec::new(),
        );
    };
    if needed.attach_only && model.starts_as_root(&main.command) && !inputs.trial {
        return nothing(
            "the recording was attached to the running daemon and did not see its start: \
             a bounding set from it could lack what the start needs (record the start with \
             `record --unit` and `profile merge` the two, or let `capcheck try` decide)"
                .to_string(),
            Vec::new(),
        );
    }
    let mut left_alone = Vec::new();
    let mut plan = if model.starts_as_root(&main.command) {
        from_root(
            inputs,
            needed,
            main.command.has(Prefix::NoSetuid),
            &mut left_alone,
        )
    } else {
        Plan::new(
            Kind::Confine,
            Identity::Keep,
            format!(
                "it already runs as {}: it keeps that user and can only lose privileges",
                model.user.value.as_deref().unwrap_or("a user")
            ),
        )
    };
    plan.applicability = applicability;
    // What the planned process needs: for a move off root by the evidence
    // of why root was needed, what the user uses; else what was seen.
    let need = plan
        .replaces_root
        .as_ref()
        .map_or_else(|| needed.set(), |d| d.ambient);
    // Never more than the unit has: the bounding set only shrinks, and an
    // ambient capability outside it (dropped at exec today) goes away.
    let starts_as_root = model.starts_as_root(&main.command);
    let bounding_now = model.capability_bounding_set.value;
    plan.bounding = bounding_now.intersection(need);
    plan.ambient = if plan.kind == Kind::DeRoot {
        plan.bounding
    } else {
        model.ambient_capabilities.value.intersection(plan.bounding)
    };
    let holds_now = if starts_as_root {
        bounding_now
    } else {
        model.held_at_exec(&main.command)
    };
    plan.missing = missing(model, needed, need.difference(holds_now));
    // no_new_privs cuts back what setuid and file-capability programs give
    // a non-root process, and what helpers the program runs would need.
    let non_root_after = plan.kind == Kind::DeRoot || !starts_as_root;
    plan.no_new_privileges = if !needed.needs_privileged_exec.is_empty() {
        left_alone.extend(
            needed
                .needs_privileged_exec
                .iter()
                .map(|why| format!("NoNewPrivileges=: {why}")),
        );
        false
    } else if non_root_after && !inputs.privileged_binaries.is_empty() {
        left_alone.push(format!(
            "NoNewPrivileges=: {} would lose its setuid bit or file capabilities",
            inputs.privileged_binaries.join(", ")
        ));
        false
    } else {
        true
    };
    if plan.kind == Kind::Confine && starts_as_root && needed.start_seen {
        plan.protections =
            protect::protections(&needed.accesses, &|key| inputs.present.contains(key));
    }
    if plan.kind == Kind::Confine {
        for c in model
            .commands
            .iter()
            .filter(|c| c.command.has(Prefix::FullyPrivileged))
        {
            left_alone.push(format!(
                "{}=+{}: runs with full privileges (a `+` command escapes the sandbox)",
                c.directive, c.command.path
            ));
        }
    }
    plan.left_alone.extend(left_alone);
    plan
}

/// The plan for a service that starts as root: confine it, or move it to
/// a user when the evidence covers the program running unprivileged.
fn from_root(
    inputs: &Inputs,
    needed: &Needed,
    no_setuid: bool,
    left_alone: &mut Vec<String>,
) -> Plan {
    let confine = |reason: String| Plan {
        left_alone: vec!["the identity: the program starts as root".to_string()],
        ..Plan::new(Kind::Confine, Identity::Keep, reason)
    };
    let asked = inputs.choice.user.is_some() || inputs.choice.dynamic_user;
    let keep_root = |why: String, left_alone: &mut Vec<String>| {
        if asked {
            left_alone.push(format!(
                "--user/--dynamic-user: {why}; moving it needs --unsafe-fixes and a profile recorded as that user"
            ));
        }
        confine(why)
    };
    if no_setuid {
        return keep_root(
            "ExecStart=! starts the program as root, and it switches user itself".to_string(),
            left_alone,
        );
    }
    let needs_root = needed
        .program
        .filter(|p| matches!(p.runs, Runs::DropsPrivileges | Runs::Root));
    let (named, why) = match &needed.described {
        Described::Root { why } => {
            let before = left_alone.len();
            return match deroot_by_evidence(inputs, needed, left_alone) {
                Some(d) => deroot_plan(inputs, d),
                None => {
                    let mut plan = keep_root(why.clone(), left_alone);
                    // The recording's own word on the identity replaces
                    // the generic one.
                    if left_alone.len() > before {
                        plan.left_alone.clear();
                    }
                    plan
                }
            };
        }
        // A profile recorded as a user, for a program known to need root:
        // moved only with --unsafe-fixes.
        Described::User { .. } if needs_root.is_some() && !inputs.guesses => {
            let program = needs_root.expect("checked");
            return keep_root(
                format!("{} needs root (knowledge base)", program.name()),
                left_alone,
            );
        }
        // A row that only reasons is no evidence that the program works
        // as a user: even --unsafe-fixes keeps it root.
        Described::User { .. } if needed.reasoned && !needed.from_profiles && !asked => {
            return keep_root(
                "the knowledge base only reasons that it runs unprivileged: a move off root needs evidence"
                    .to_string(),
                left_alone,
            );
        }
        Described::User { name, why } => (name.clone(), why.clone()),
        Described::Unknown if asked => (None, "asked for".to_string()),
        // Without evidence of what it needs, confining it is a guess that
        // would break it as surely as a move off root.
        Described::Unknown if !needed.complete => {
            return nothing(
                "no evidence of what the program needs or who it must run as: \
                 --unsafe-fixes guesses neither (record it: `capcheck record --unit`)"
                    .to_string(),
                Vec::new(),
            )
        }
        Described::Unknown => {
            return confine(
                "the evidence names capabilities, not an identity: the program keeps root \
                 (nothing moves it off root on a guess)"
                    .to_string(),
            )
        }
    };
    let (identity, create_user, reason) = pick_user(inputs, named, why);
    Plan {
        create_user,
        ..Plan::new(Kind::DeRoot, identity, reason)
    }
}

/// The move off root that the evidence of why the program needed root
/// allows, when a run as the user proved it (or for a trial, which proves
/// it); otherwise None, and why is left in `left_alone`.
fn deroot_by_evidence(
    inputs: &Inputs,
    needed: &Needed,
    left_alone: &mut Vec<String>,
) -> Option<DeRoot> {
    if needed.accesses.is_empty() || !needed.start_seen || inputs.keep_identity {
        return None;
    }
    let verdict = deroot::analyze(&deroot::Input {
        accesses: &needed.accesses,
        needed: needed.set(),
        unit_prefix: inputs.unit_prefix,
        system: inputs.system,
        environment: &inputs.model.environment.assignments.value,
    });
    let d = match verdict {
        Verdict::Root(reasons) => {
            left_alone.push(format!(
                "the identity: root stays, by the recording: {}",
                reasons.join("; ")
            ));
            return None;
        }
        Verdict::DeRoot(d) => d,
    };
    let settings = d.settings();
    let shown = settings.join(", ");
    match &needed.deroot_run {
        Some(run) if run.settings == settings && run.works => Some(d),
        Some(run) if run.settings == settings => {
            left_alone.push(format!(
                "the identity: run with {shown}, the program did not work ({}): it keeps root",
                run.outcome
            ));
            None
        }
        _ if inputs.trial => Some(d),
        _ => {
            left_alone.push(format!(
                "the identity: the recording allows {shown}, but no run as that user proved it \
                 (`capcheck record --unit` runs it so, `capcheck try` tries it under systemd)"
            ));
            None
        }
    }
}

/// The plan that moves a service off root with `d`'s settings.
fn deroot_plan(inputs: &Inputs, d: DeRoot) -> Plan {
    let (identity, create_user) = match &d.user {
        NewUser::Existing(name) => (Identity::User(name.clone()), None),
        NewUser::Dynamic => (
            Identity::DynamicUser(Some(default_user_name(inputs.unit_prefix))),
            None,
        ),
        NewUser::Created(name) => (Identity::User(name.clone()), Some(name.clone())),
    };
    let reason = format!(
        "what root was needed for has a unit setting instead: {}",
        d.evidence.join("; ")
    );
    Plan {
        create_user,
        replaces_root: Some(d),
        ..Plan::new(Kind::DeRoot, identity, reason)
    }
}

/// The user a de-rooted service runs as: the one asked for, else the one
/// the evidence names, else the one the unit's author meant, if the system
/// has it; else a dynamic user, or a new one when a fixed uid is needed.
fn pick_user(
    inputs: &Inputs,
    evidence_user: Option<String>,
    why: String,
) -> (Identity, Option<String>, String) {
    let system = inputs.system;
    if inputs.choice.dynamic_user {
        return (
            Identity::DynamicUser(None),
            None,
            format!("--dynamic-user; {why}"),
        );
    }
    if let Some(user) = &inputs.choice.user {
        return if system.has_user(user) {
            (Identity::User(user.clone()), None, format!("--user; {why}"))
        } else {
            (
                Identity::User(user.clone()),
                Some(user.clone()),
                format!("--user {user}, created with a sysusers.d file; {why}"),
            )
        };
    }
    let candidates = [
        (evidence_user, "the evidence names it"),
        (inputs.intended_user.clone(), "the unit names it"),
    ];
    for (name, source) in candidates.iter() {
        if let Some(name) = name.as_ref().filter(|n| system.has_user(n)) {
            return (
                Identity::User(name.clone()),
                None,
                format!("{why}; {name}: {source} and the system has it"),
            );
        }
    }
    let named = candidates.into_iter().find_map(|(name, _)| name);
    if !inputs.pins_uid {
        let missing = named
            .as_ref()
            .map(|n| format!(" ({n} does not exist on this system)"))
            .unwrap_or_default();
        return (
            Identity::DynamicUser(named),
            None,
            format!("{why}; a dynamic user{missing}: nothing in the unit needs a fixed uid"),
        );
    }
    let name = named.unwrap_or_else(|| default_user_name(inputs.unit_prefix));
    (
        Identity::User(name.clone()),
        Some(name.clone()),
        format!("{why}; {name}, created with a sysusers.d file: the unit needs a fixed uid"),
    )
}

/// Why each needed capability the unit does not give is missing.
fn missing(model: &Privileges, needed: &Needed, caps: CapSet) -> Vec<Missing> {
    caps.iter()
        .map(|cap| {
            let removed_by = model
                .removed_from_bounding_set
                .iter()
                .find(|(_, set)| set.contains(cap.number))
                .map(|(option, _)| option.clone());
            let why = match removed_by {
                Some(option) => format!("{option}= takes it out of the bounding set"),
                None if !model.capability_bounding_set.value.contains(cap.number) => {
                    "not in CapabilityBoundingSet=".to_string()
                }
                None => "not granted by AmbientCapabilities=".to_string(),
            };
            Missing {
                capability: cap.name.clone(),
                evidence: needed
                    .caps
                    .get(&cap.number)
                    .map(|e| e.iter().map(ToString::to_string).collect())
                    .unwrap_or_default(),
                why,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fix::evidence::{gather, Profile, ProfileEntry};
    use crate::load::targets::{resolve, Scope};
    use crate::model::privileges;
    use crate::record::profile::{Identity as RecordedAs, RecordingMeta};

    /// What a test plans from: a unit's text and the evidence around it.
    #[derive(Default)]
    struct Case<'a> {
        unit: &'a str,
        profiles: Vec<Profile>,
        caps: Vec<u8>,
        users: &'a [&'a str],
        choice: IdentityChoice,
        guesses: bool,
    }

    impl Case<'_> {
        fn plan(&self) -> Plan {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("test.service");
            std::fs::write(&path, self.unit).unwrap();
            let (targets, errors) =
                resolve(&[path.display().to_string()], &Scope::new(None, false));
            assert!(errors.is_empty());
            let unit = targets[0].load();
            let model = privileges(&unit);
            assert!(model.loaded, "{:?}", model.errors);
            let needed = gather(&model, &self.profiles, &self.caps).unwrap();
            let system = TargetSystem::with_users(self.users.iter().map(|u| u.to_string()));
            let inputs = Inputs {
                model: &model,
                unit_prefix: &unit.name.prefix,
                system: &system,
                choice: &self.choice,
                guesses: self.guesses,
                intended_user: intended_user(&unit),
                pins_uid: pins_uid(&unit),
                privileged_binaries: Vec::new(),
                trial: false,
                keep_identity: false,
                present: Default::default(),
            };
            plan(&inputs, &needed)
        }
    }

    fn profile(recorded_as: Option<(RecordedAs, &str)>, caps: &[&str]) -> Profile {
        Profile {
            recording: recorded_as.map_or_else(RecordingMeta::default, |(identity, user)| {
                RecordingMeta {
                    identity: Some(identity),
                    user: Some(user.to_string()),
                    succeeded: Some(true),
                    complete: Some(true),
                    ..RecordingMeta::default()
                }
            }),
            capabilities: caps
                .iter()
                .map(|c| {
                    let entry = ProfileEntry {
                        granted: 1,
                        ..ProfileEntry::default()
                    };
                    (c.to_string(), entry)
                })
                .collect(),
            path: "p.toml".into(),
            forced: None,
            accesses: Vec::new(),
            deroot_run: None,
        }
    }

    fn set<S: AsRef<str>>(names: &[S]) -> CapSet {
        crate::caps::set_of(names)
    }

    const CHRONY: &str = "[Service]\nExecStart=/usr/sbin/chronyd -F 1\n";

    #[test]
    fn a_root_daemon_that_drops_privileges_is_confined() {
        let plan = Case {
            unit: CHRONY,
            ..Case::default()
        }
        .plan();
        assert_eq!(plan.kind, Kind::Confine);
        assert_eq!(plan.identity, Identity::Keep);
        assert_eq!(plan.applicability, Applicability::EvidenceBased);
        let row = crate::fix::knowledge::program_for("chronyd").unwrap();
        assert_eq!(plan.bounding, set(&row.needs));
        assert!(plan.bounding.contains(25) && plan.bounding.contains(6));
        assert_eq!(plan.ambient, CapSet::EMPTY);
        assert!(plan.no_new_privileges);
        // Asked to move it anyway: it stays root, and the report says why.
        let asked = Case {
            unit: CHRONY,
            users: &["_chrony"],
            choice: IdentityChoice {
                user: Some("_chrony".to_string()),
                dynamic_user: false,
            },
            ..Case::default()
        }
        .plan();
        assert_eq!(
            (asked.kind, asked.identity),
            (Kind::Confine, Identity::Keep)
        );
        assert!(
            asked.left_alone.iter().any(|l| l.starts_with("--user")),
            "{:?}",
            asked.left_alone
        );
    }

    #[test]
    fn a_bang_command_keeps_root_and_the_user_line() {
        let plan = Case {
            unit: "[Service]\nUser=_chrony\nExecStart=!/usr/sbin/chronyd -F 1\n",
            users: &["_chrony"],
            ..Case::default()
        }
        .plan();
        assert_eq!((plan.kind, plan.identity), (Kind::Confine, Identity::Keep));
        assert!(plan.bounding.contains(6) && plan.bounding.contains(25));
        assert!(plan.reason.contains("ExecStart=!"), "{}", plan.reason);
    }

    #[test]
    fn de_root_goes_to_an_existing_user_else_a_dynamic_one_else_a_new_one() {
        let unit = "[Service]\nExecStart=/usr/bin/caddy run\n";
        let existing = Case {
            unit,
            users: &["caddy"],
            ..Case::default()
        }
        .plan();
        assert_eq!(existing.kind, Kind::DeRoot);
        assert_eq!(existing.identity, Identity::User("caddy".to_string()));
        assert_eq!(existing.create_user, None);
        assert_eq!(existing.ambient, set(&["CAP_NET_BIND_SERVICE"]));
        assert_eq!(existing.bounding, existing.ambient);
        let dynamic = Case {
            unit,
            ..Case::default()
        }
        .plan();
        assert_eq!(
            dynamic.identity,
            Identity::DynamicUser(Some("caddy".to_string()))
        );
        let pinned = Case {
            unit: "[Service]\nExecStart=/usr/bin/caddy run\nPIDFile=/run/caddy.pid\n",
            ..Case::default()
        }
        .plan();
        assert_eq!(pinned.identity, Identity::User("caddy".to_string()));
        assert_eq!(pinned.create_user.as_deref(), Some("caddy"));
    }

    #[test]
    fn a_user_service_only_loses() {
        let plan = Case {
            unit: "[Service]\nUser=caddy\nExecStart=/usr/bin/caddy run\nAmbientCapabilities=CAP_NET_BIND_SERVICE CAP_NET_RAW\n",
            users: &["caddy"],
            ..Case::default()
        }
        .plan();
        assert_eq!((plan.kind, plan.identity), (Kind::Confine, Identity::Keep));
        assert_eq!(plan.ambient, set(&["CAP_NET_BIND_SERVICE"]));
        assert_eq!(plan.bounding, set(&["CAP_NET_BIND_SERVICE"]));
        assert!(plan.missing.is_empty());
    }

    #[test]
    fn what_the_unit_does_not_give_is_missing_never_granted() {
        // Ambient outside the bounding set is dropped at exec today.
        let user = Case {
            unit: "[Service]\nUser=caddy\nExecStart=/usr/bin/caddy run\nCapabilityBoundingSet=CAP_CHOWN\nAmbientCapabilities=CAP_NET_BIND_SERVICE\n",
            users: &["caddy"],
            ..Case::default()
        }
        .plan();
        assert_eq!(user.ambient, CapSet::EMPTY);
        assert_eq!(user.bounding, CapSet::EMPTY);
        assert_eq!(user.missing.len(), 1);
        assert_eq!(user.missing[0].capability, "CAP_NET_BIND_SERVICE");
        assert_eq!(user.missing[0].why, "not in CapabilityBoundingSet=");
        // A protection that removes a needed capability stays.
        let clock = Case {
            unit: "[Service]\nExecStart=/usr/sbin/chronyd -F 1\nProtectClock=yes\n",
            ..Case::default()
        }
        .plan();
        assert_eq!(clock.kind, Kind::Confine);
        assert!(!clock.bounding.contains(25));
        assert_eq!(clock.missing.len(), 1);
        assert_eq!(
            clock.missing[0].why,
            "ProtectClock= takes it out of the bounding set"
        );
    }

    #[test]
    fn sessions_plus_commands_and_unknown_programs_are_left_alone() {
        for unit in [
            "[Service]\nExecStart=/usr/sbin/sshd -D\n",
            "[Service]\nExecStart=+/usr/sbin/chronyd\n",
            "[Service]\nExecStart=/opt/mystery\n",
            // A command nothing is known about, beside a known program.
            "[Service]\nExecStartPre=/opt/setup\nExecStart=/usr/sbin/chronyd\n",
            // A program the knowledge base only reasons about.
            "[Service]\nExecStart=/usr/sbin/keepalived\n",
        ] {
            let plan = Case {
                unit,
                ..Case::default()
            }
            .plan();
            assert_eq!(plan.kind, Kind::None, "{unit}: {}", plan.reason);
        }
        // --unsafe-fixes never moves a program off root that neither
        // evidence nor a reviewed row describes.
        let guessed = Case {
            unit: "[Service]\nExecStart=/opt/mystery\n",
            guesses: true,
            ..Case::default()
        }
        .plan();
        assert_eq!(guessed.identity, Identity::Keep);
        assert_eq!(guessed.kind, Kind::None);
        let sshd = Case {
            unit: "[Service]\nExecStart=/usr/sbin/sshd -D\n",
            guesses: true,
            ..Case::default()
        }
        .plan();
        assert_eq!(sshd.kind, Kind::None);
    }

    #[test]
    fn a_profile_keeps_the_identity_it_was_recorded_as() {
        let unit = "[Service]\nExecStart=/opt/web\n";
        let as_root = Case {
            unit,
            profiles: vec![profile(
                Some((RecordedAs::Root, "root")),
                &["CAP_NET_BIND_SERVICE"],
            )],
            users: &["web"],
            choice: IdentityChoice {
                user: Some("web".to_string()),
                dynamic_user: false,
            },
            ..Case::default()
        }
        .plan();
        assert_eq!(
            (as_root.kind, as_root.identity),
            (Kind::Confine, Identity::Keep)
        );
        let as_user = Case {
            unit,
            profiles: vec![profile(
                Some((RecordedAs::User, "web")),
                &["CAP_NET_BIND_SERVICE"],
            )],
            users: &["web"],
            ..Case::default()
        }
        .plan();
        assert_eq!(as_user.kind, Kind::DeRoot);
        assert_eq!(as_user.identity, Identity::User("web".to_string()));
        assert_eq!(as_user.applicability, Applicability::EvidenceBased);
        // A program known to need root, recorded as a user: moved only
        // with --unsafe-fixes.
        let chrony_as_user = |guesses| {
            Case {
                unit: CHRONY,
                profiles: vec![profile(
                    Some((RecordedAs::User, "_chrony")),
                    &["CAP_SYS_TIME"],
                )],
                users: &["_chrony"],
                guesses,
                ..Case::default()
            }
            .plan()
        };
        assert_eq!(chrony_as_user(false).kind, Kind::Confine);
        let moved = chrony_as_user(true);
        assert_eq!(moved.kind, Kind::DeRoot);
        assert_eq!(moved.identity, Identity::User("_chrony".to_string()));
    }

    #[test]
    fn capabilities_without_an_identity_confine() {
        let plan = Case {
            unit: "[Service]\nExecStart=/opt/web\n",
            caps: vec![10],
            ..Case::default()
        }
        .plan();
        assert_eq!((plan.kind, plan.identity), (Kind::Confine, Identity::Keep));
        assert_eq!(plan.bounding, set(&["CAP_NET_BIND_SERVICE"]));
    }
}
