//! What a program needs, and why we believe it: a recorded profile, the
//! knowledge base in `rules/programs.toml`, the program's arguments, the
//! capabilities the unit already grants as ambient, and `--cap`.

use crate::caps::{self, CapSet};
use crate::model::exec::Prefix;
use crate::model::Privileges;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Where the belief that a capability is needed comes from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Evidence {
    /// A recorded (or hand-written) capability profile.
    Profile { path: PathBuf, granted: u64 },
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
            Evidence::Profile { path, granted } => {
                write!(f, "profile {} (granted {granted}×)", path.display())
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

/// The needed capabilities and the evidence for each; `decided` is false
/// when nothing at all is known about the program.
#[derive(Debug, Clone, Default)]
pub struct Needed {
    pub caps: BTreeMap<u8, Vec<Evidence>>,
    /// Evidence that the program needs nothing more (a profile or a
    /// knowledge-base row, possibly with an empty list).
    pub decided: bool,
    /// What the evidence covers, for the report.
    pub basis: Vec<String>,
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
}

/// A capability profile: written by `capcheck record`, or by hand.
///
/// ```toml
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
    #[serde(default)]
    pub capabilities: BTreeMap<String, ProfileEntry>,
    #[serde(skip)]
    pub path: PathBuf,
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
}

impl Profile {
    pub fn load(path: &Path) -> Result<Profile, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut profile: Profile =
            toml_edit::de::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        for name in profile.capabilities.keys() {
            if caps::by_name(name).is_none() {
                return Err(format!("{}: unknown capability '{name}'", path.display()));
            }
        }
        profile.path = path.to_path_buf();
        Ok(profile)
    }

    /// Capabilities the profile says are needed, with their grant counts.
    pub fn needed(&self) -> impl Iterator<Item = (u8, u64)> + '_ {
        self.capabilities.iter().filter_map(|(name, e)| {
            let needed = e.needed.unwrap_or(e.granted > 0);
            needed.then(|| {
                (
                    caps::by_name(name).expect("checked at load").number,
                    e.granted,
                )
            })
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Program {
    pub names: Vec<String>,
    pub needs: Vec<String>,
    #[serde(default)]
    pub note: Option<String>,
    pub source: String,
}

#[derive(Deserialize)]
struct Programs {
    program: Vec<Program>,
}

const PROGRAMS_TOML: &str = include_str!("../../rules/programs.toml");

/// The knowledge base.
pub fn programs() -> &'static [Program] {
    static ALL: OnceLock<Vec<Program>> = OnceLock::new();
    ALL.get_or_init(|| {
        let p: Programs =
            toml_edit::de::from_str(PROGRAMS_TOML).expect("rules/programs.toml is valid");
        p.program
    })
}

/// The knowledge-base row for an executable, by file name.
pub fn program_for(exec_path: &str) -> Option<&'static Program> {
    let name = exec_path.rsplit('/').next().unwrap_or(exec_path);
    programs()
        .iter()
        .find(|p| p.names.iter().any(|n| n == name))
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

/// Gathers the evidence for a unit, in order of authority: a profile
/// decides alone; otherwise the knowledge base and the arguments; otherwise
/// the ambient capabilities the unit grants. `--cap` always adds.
pub fn gather(model: &Privileges, profiles: &[Profile], extra: &[u8]) -> Needed {
    let mut needed = Needed::default();
    if !profiles.is_empty() {
        for profile in profiles {
            for (cap, granted) in profile.needed() {
                needed.add(
                    cap,
                    Evidence::Profile {
                        path: profile.path.clone(),
                        granted,
                    },
                );
            }
            needed
                .basis
                .push(format!("profile {}", profile.path.display()));
        }
        needed.decided = true;
    } else {
        let commands = model
            .commands
            .iter()
            .filter(|c| !c.command.has(Prefix::FullyPrivileged));
        for command in commands {
            for argument in privileged_port_arguments(&command.command.argv) {
                needed.add(
                    10,
                    Evidence::Argument {
                        argument: argument.clone(),
                    },
                );
                needed.decided = true;
                needed.basis.push(format!("argument '{argument}'"));
            }
            if let Some(program) = program_for(&command.command.path) {
                for name in &program.needs {
                    let cap =
                        caps::by_name(name).expect("rules/programs.toml names valid capabilities");
                    needed.add(
                        cap.number,
                        Evidence::KnowledgeBase {
                            program: program.names[0].clone(),
                            source: program.source.clone(),
                        },
                    );
                }
                if command.directive == "ExecStart" {
                    needed.decided = true;
                }
                needed
                    .basis
                    .push(format!("knowledge base: {}", program.names[0]));
            }
        }
        if !needed.decided {
            let ambient = model.ambient_capabilities.value.intersection(CapSet::KNOWN);
            for cap in ambient.iter() {
                needed.add(cap.number, Evidence::Ambient);
            }
            if !ambient.is_empty() {
                needed.decided = true;
                needed
                    .basis
                    .push("the unit's ambient capabilities".to_string());
            }
        }
    }
    for &cap in extra {
        needed.add(cap, Evidence::CommandLine);
        needed.decided = true;
    }
    needed
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

    #[test]
    fn knowledge_base_has_forty_programs_with_valid_names() {
        let all = programs();
        assert!(all.iter().map(|p| p.names.len()).sum::<usize>() >= 40);
        for p in all {
            for n in &p.needs {
                assert!(caps::by_name(n).is_some(), "{n}");
            }
            assert!(!p.source.is_empty());
        }
        assert_eq!(
            program_for("/usr/sbin/ping").unwrap().needs,
            ["CAP_NET_RAW"]
        );
    }
}
