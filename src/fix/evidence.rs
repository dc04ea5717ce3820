//! What a program needs, and why we believe it: a recorded profile, the
//! knowledge base in `rules/programs.toml`, the program's arguments, the
//! capabilities the unit already grants as ambient, and `--cap`. Besides
//! capabilities, evidence says which identity it describes: a program
//! recorded as root, or known to drop privileges itself, needs root.

use super::knowledge::{self, Basis, Program, Runs};
use crate::caps::{self, CapSet};
use crate::model::exec::Prefix;
use crate::model::Privileges;
use crate::record::access::Access;
use crate::record::profile::{Identity, RecordingMeta};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where the belief that a capability is needed comes from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Evidence {
    /// A recorded (or hand-written) capability profile, with what the
    /// checks were for when the recording traced it.
    Profile {
        path: PathBuf,
        granted: u64,
        #[serde(skip_serializing_if = "Vec::is_empty", rename = "for")]
        uses: Vec<String>,
    },
    /// A row of the knowledge base.
    KnowledgeBase { program: String, source: String },
    /// An argument: a port below 1024 needs CAP_NET_BIND_SERVICE.
    Argument { argument: String },
    /// The unit already grants it as ambient.
    Ambient,
    /// `--cap` on the command line.
    CommandLine,
}

impl std::fmt::Display for Evidence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Evidence::Profile {
                path,
                granted,
                uses,
            } => {
                write!(f, "profile {} (granted {granted}×", path.display())?;
                if !uses.is_empty() {
                    write!(f, ": {}", uses.join("; "))?;
                }
                f.write_str(")")
            }
            Evidence::KnowledgeBase { program, source } => {
                write!(f, "knowledge base: {program} ({source})")
            }
            Evidence::Argument { argument } => {
                write!(f, "argument '{argument}' binds a port below 1024")
            }
            Evidence::Ambient => f.write_str("the unit already grants it as ambient"),
            Evidence::CommandLine => f.write_str("--cap"),
        }
    }
}

/// Which identity the evidence describes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Described {
    /// Capabilities only (`--cap`, arguments, a hand-written profile).
    #[default]
    Unknown,
    /// The program as root: recorded as root, or known to need root.
    Root { why: String },
    /// The program as a non-root user (a name when the evidence has one).
    User { name: Option<String>, why: String },
}

/// The needed capabilities and the evidence for each, and what the
/// evidence covers.
#[derive(Debug, Clone, Default)]
pub struct Needed {
    pub caps: BTreeMap<u8, Vec<Evidence>>,
    /// The evidence claims the whole need of every command the sandbox
    /// applies to (a profile, knowledge-base rows, `--cap`), not only
    /// "at least these".
    pub complete: bool,
    /// Part of it is reasoning, not observation: a guess.
    pub reasoned: bool,
    pub described: Described,
    /// The knowledge-base row of the main program.
    pub program: Option<&'static Program>,
    /// Commands nothing is known about (their needs could be anything).
    pub uncovered: Vec<String>,
    /// Why no_new_privs would break the service.
    pub needs_privileged_exec: Vec<String>,
    /// What the evidence rests on, for the report.
    pub basis: Vec<String>,
    /// What the program did to what, from recordings that traced it.
    pub accesses: Vec<Access>,
    /// A recording saw the program's start (not only the running daemon,
    /// as `record --attach` does).
    pub start_seen: bool,
    /// A recording saw only the running program, not its start.
    pub attach_only: bool,
    /// A run as a user with a de-root plan, from a profile.
    pub deroot_run: Option<DeRootRun>,
    /// The capabilities come from recorded profiles.
    pub from_profiles: bool,
    /// The ports a daemon recorded without a probe listened on (its work
    /// per client is not in the recording).
    pub unprobed_ports: Option<String>,
}

/// The `[de-root]` table `capcheck record --unit` writes after it ran the
/// program again as a user, with the unit settings a de-root plan gives.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct DeRootRun {
    /// The unit settings the run had, as unit lines.
    pub settings: Vec<String>,
    /// The run worked (and its probe passed, when there was one).
    pub works: bool,
    /// How it went ("still running after 25.0s", the failure).
    #[serde(default)]
    pub outcome: String,
    #[serde(default)]
    pub probe: Option<String>,
}

impl Needed {
    pub fn set(&self) -> CapSet {
        self.caps.keys().copied().collect()
    }

    fn add(&mut self, cap: u8, evidence: Evidence) {
        let list = self.caps.entry(cap).or_default();
        if !list.contains(&evidence) {
            list.push(evidence);
        }
    }

    fn add_program(&mut self, program: &'static Program) {
        for name in &program.needs {
            let cap = caps::by_name(name).expect("rules/programs.toml names valid capabilities");
            self.add(
                cap.number,
                Evidence::KnowledgeBase {
                    program: program.name().to_string(),
                    source: program.source.clone(),
                },
            );
        }
        self.reasoned |= program.basis == Basis::Reasoned;
        if !program.no_new_privileges {
            self.needs_privileged_exec.push(format!(
                "{} runs setuid or file-capability helpers ({})",
                program.name(),
                program.source
            ));
        }
        let basis = format!("knowledge base: {}", program.name());
        if !self.basis.contains(&basis) {
            self.basis.push(basis);
        }
    }
}

/// A capability profile: written by `capcheck record`, or by hand.
///
/// ```toml
/// [recording]            # written by `capcheck record`
/// identity = "root"      # the program started as root ("user" otherwise)
/// user = "root"
/// succeeded = true       # the run worked: exit 0, still running, or a probe passed
/// complete = true        # not interrupted
///
/// [capabilities.CAP_NET_BIND_SERVICE]
/// granted = 1            # checks the kernel granted
/// denied = 0             # checks it denied ("possibly needed")
/// binaries = ["/usr/local/bin/bind_low_port"]
/// call-sites = ["__inet_bind"]
/// # needed = true        # default: granted > 0
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Profile {
    /// The `[recording]` table (read with the record module's reader).
    #[serde(skip)]
    pub recording: RecordingMeta,
    #[serde(default)]
    pub capabilities: BTreeMap<String, ProfileEntry>,
    #[serde(skip)]
    pub path: PathBuf,
    /// Loaded with `--force` although its run failed or was cut short.
    #[serde(skip)]
    pub forced: Option<String>,
    /// The `[[access]]` tables (read with the record module's reader).
    #[serde(skip)]
    pub accesses: Vec<Access>,
    #[serde(default, rename = "de-root")]
    pub deroot_run: Option<DeRootRun>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ProfileEntry {
    #[serde(default)]
    pub granted: u64,
    #[serde(default)]
    pub denied: u64,
    #[serde(default)]
    pub binaries: Vec<String>,
    #[serde(default)]
    pub call_sites: Vec<String>,
    pub needed: Option<bool>,
    /// What the checks were for, as a person reads it.
    #[serde(default, rename = "for")]
    pub uses: Vec<String>,
}

impl Profile {
    /// Reads a profile. One recorded from a run that failed, or that was
    /// cut short, is not evidence: refused unless `force`.
    pub fn load(path: &Path, force: bool) -> Result<Profile, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Profile::parse(&text, path, force)
    }

    /// Reads a profile's text (`path` names it in messages).
    pub fn parse(text: &str, path: &Path, force: bool) -> Result<Profile, String> {
        let error = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
        let mut profile: Profile = toml_edit::de::from_str(text).map_err(|e| error(&e))?;
        let doc: toml_edit::DocumentMut = text.parse().map_err(|e| error(&e))?;
        profile.recording = crate::record::profile::recording(&doc).map_err(|e| error(&e))?;
        profile.accesses = crate::record::profile::accesses(&doc).map_err(|e| error(&e))?;
        for name in profile.capabilities.keys() {
            if caps::by_name(name).is_none() {
                return Err(format!("{}: unknown capability '{name}'", path.display()));
            }
        }
        profile.path = path.to_path_buf();
        if let Some(flaw) = profile.flaw() {
            if !force {
                return Err(format!(
                    "{}: {flaw}, so it is not evidence of what the program needs \
                     (record a run that works, or pass --force to use it anyway)",
                    path.display()
                ));
            }
            profile.forced = Some(flaw);
        }
        Ok(profile)
    }

    /// Why the recording cannot be trusted, if it cannot.
    fn flaw(&self) -> Option<String> {
        let r = &self.recording;
        let outcome = r
            .outcome
            .as_deref()
            .map(|o| format!(" ({o})"))
            .unwrap_or_default();
        if r.complete == Some(false) {
            Some(format!("the recording was interrupted{outcome}"))
        } else if r.succeeded == Some(false) {
            Some(format!("it was recorded from a run that failed{outcome}"))
        } else {
            None
        }
    }

    /// The identity the profile describes.
    pub fn described(&self) -> Described {
        let why = format!("profile {} was recorded as", self.path.display());
        let r = &self.recording;
        match r.identity {
            Some(Identity::Root) => Described::Root {
                why: format!("{why} root"),
            },
            Some(Identity::User) => Described::User {
                name: r.user.clone(),
                why: format!("{why} {}", r.user.as_deref().unwrap_or("a user")),
            },
            None => Described::Unknown,
        }
    }

    /// Capabilities the profile says are needed, with their grant counts.
    pub fn needed(&self) -> impl Iterator<Item = (u8, &ProfileEntry)> + '_ {
        self.capabilities.iter().filter_map(|(name, e)| {
            let needed = e.needed.unwrap_or(e.granted > 0);
            needed.then(|| (caps::by_name(name).expect("checked at load").number, e))
        })
    }
}

/// Ports below 1024 in an argument list: `--port 80`, `--port=80`, `-p 80`,
/// `:443`, `0.0.0.0:80`, `[::]:53`.
pub fn privileged_port_arguments(argv: &[String]) -> Vec<String> {
    let port = |s: &str| s.parse::<u32>().ok().filter(|&p| (1..1024).contains(&p));
    let mut out = Vec::new();
    for (i, arg) in argv.iter().enumerate().skip(1) {
        let lower = arg.to_ascii_lowercase();
        let is_port_flag = |f: &str| {
            matches!(
                f,
                "-p" | "--port" | "--listen-port" | "--http-port" | "--https-port"
            )
        };
        if let Some((flag, value)) = lower.split_once('=') {
            if (is_port_flag(flag) || flag.ends_with("port")) && port(value).is_some() {
                out.push(arg.clone());
                continue;
            }
            if let Some((_, p)) = value.rsplit_once(':') {
                if port(p).is_some() && flag.contains("listen") {
                    out.push(arg.clone());
                    continue;
                }
            }
        }
        if is_port_flag(&lower) {
            if let Some(next) = argv.get(i + 1) {
                if port(next).is_some() {
                    out.push(format!("{arg} {next}"));
                }
            }
            continue;
        }
        if let Some((host, p)) = arg.rsplit_once(':') {
            let hostlike = host.is_empty()
                || host.ends_with(']')
                || host.chars().all(|c| c.is_ascii_digit() || c == '.')
                || host == "localhost"
                || host == "*";
            if hostlike && port(p).is_some() && !arg.contains('/') {
                out.push(arg.clone());
            }
        }
    }
    out
}

/// Gathers the evidence for a unit, in order of authority: profiles decide
/// alone; otherwise the knowledge base and the arguments; otherwise the
/// ambient capabilities a non-root unit grants. `--cap` always adds, and
/// covers every command (the user's word).
pub fn gather(model: &Privileges, profiles: &[Profile], extra: &[u8]) -> Result<Needed, String> {
    let mut needed = Needed::default();
    // Commands the sandbox applies to (`+` ones escape it).
    let sandboxed: Vec<_> = model
        .commands
        .iter()
        .filter(|c| !c.command.has(Prefix::FullyPrivileged))
        .collect();
    let main_path = model.main_command().map(|c| c.command.path.as_str());
    needed.program = main_path.and_then(knowledge::program_for);
    if let Some(program) = needed.program.filter(|p| p.runs == Runs::Sessions) {
        needed
            .basis
            .push(format!("knowledge base: {}", program.name()));
        return Ok(needed);
    }
    if !profiles.is_empty() {
        needed.from_profiles = true;
        for profile in profiles {
            for (cap, entry) in profile.needed() {
                needed.add(
                    cap,
                    Evidence::Profile {
                        path: profile.path.clone(),
                        granted: entry.granted,
                        uses: entry.uses.clone(),
                    },
                );
            }
            let described = profile.described();
            if described != Described::Unknown {
                if needed.described != Described::Unknown
                    && std::mem::discriminant(&needed.described)
                        != std::mem::discriminant(&described)
                {
                    return Err(format!(
                        "{}: recorded with another identity than the other profiles",
                        profile.path.display()
                    ));
                }
                needed.described = described;
            }
            needed
                .basis
                .push(format!("profile {}", profile.path.display()));
            let r = &profile.recording;
            let covers = |what: &str| r.coverage.as_deref().is_some_and(|c| c.contains(what));
            needed.start_seen |= covers("start");
            if r.objects.as_deref() == Some("traced") {
                needed.accesses.extend(profile.accesses.iter().cloned());
            }
            let mut ports: Vec<u16> = profile.accesses.iter().filter_map(|a| a.port).collect();
            ports.sort_unstable();
            ports.dedup();
            if r.probe.is_none() && r.coverage.is_some() && !ports.is_empty() {
                let ports: Vec<String> = ports.iter().map(u16::to_string).collect();
                needed.unprobed_ports = Some(ports.join(", "));
            }
            if profile.deroot_run.is_some() {
                needed.deroot_run = profile.deroot_run.clone();
            }
        }
        needed.attach_only = !needed.start_seen
            && profiles
                .iter()
                .any(|p| p.recording.coverage.as_deref() == Some("running"));
        // A recording runs ExecStartPre= and ExecStart=; other commands
        // are covered when they run one of those programs, or by the
        // knowledge base.
        let recorded: Vec<&str> = sandboxed
            .iter()
            .filter(|c| matches!(c.directive.as_str(), "ExecStartPre" | "ExecStart"))
            .map(|c| c.command.path.as_str())
            .collect();
        for command in &sandboxed {
            if recorded.contains(&command.command.path.as_str()) {
                continue;
            }
            match knowledge::program_for(&command.command.path) {
                Some(program) => needed.add_program(program),
                None => needed
                    .uncovered
                    .push(format!("{}={}", command.directive, command.command.path)),
            }
        }
        needed.complete = true;
    } else {
        for command in &sandboxed {
            for argument in privileged_port_arguments(&command.command.argv) {
                needed.add(
                    10,
                    Evidence::Argument {
                        argument: argument.clone(),
                    },
                );
                needed.basis.push(format!("argument '{argument}'"));
            }
            match knowledge::program_for(&command.command.path) {
                Some(program) => needed.add_program(program),
                None => needed
                    .uncovered
                    .push(format!("{}={}", command.directive, command.command.path)),
            }
        }
        needed.complete = needed.uncovered.is_empty() && !sandboxed.is_empty();
        if let Some(program) = needed.program {
            needed.described = match program.runs {
                Runs::Unprivileged => Described::User {
                    name: program.user.clone(),
                    why: format!("{} runs unprivileged (knowledge base)", program.name()),
                },
                Runs::DropsPrivileges => Described::Root {
                    why: format!(
                        "{} starts as root and drops privileges itself (knowledge base)",
                        program.name()
                    ),
                },
                Runs::Root => Described::Root {
                    why: format!("{} needs root (knowledge base)", program.name()),
                },
                Runs::Sessions | Runs::Helper => Described::Unknown,
            };
        }
        // A non-root unit's ambient set is its author's statement of what
        // the program needs as that user.
        let ambient = model.ambient_capabilities.value.intersection(CapSet::KNOWN);
        if needed.program.is_none() && !model.runs_as_root() && !ambient.is_empty() {
            for cap in ambient.iter() {
                needed.add(cap.number, Evidence::Ambient);
            }
            needed
                .basis
                .push("the unit's ambient capabilities".to_string());
            needed.uncovered.clear();
            needed.complete = true;
            needed.described = Described::User {
                name: model.user.value.clone(),
                why: "the unit grants them as ambient to its user".to_string(),
            };
        }
    }
    if !extra.is_empty() {
        for &cap in extra {
            needed.add(cap, Evidence::CommandLine);
        }
        needed.basis.push("--cap".to_string());
        needed.uncovered.clear();
        needed.complete = true;
    }
    Ok(needed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split(' ').map(str::to_string).collect()
    }

    #[test]
    fn ports_below_1024_in_arguments() {
        assert_eq!(
            privileged_port_arguments(&args("/bin/web --port 80")),
            ["--port 80"]
        );
        assert_eq!(
            privileged_port_arguments(&args("/bin/web --port=443")),
            ["--port=443"]
        );
        assert_eq!(
            privileged_port_arguments(&args("/bin/web -l 0.0.0.0:53")),
            ["0.0.0.0:53"]
        );
        assert_eq!(
            privileged_port_arguments(&args("/bin/web --listen=[::]:80")),
            ["--listen=[::]:80"]
        );
        assert!(privileged_port_arguments(&args("/bin/web --port 8080 :9100")).is_empty());
        assert!(privileged_port_arguments(&args("/bin/web http://x:80/")).is_empty());
    }
}
