//! The knowledge base, `rules/programs.toml`: what common programs need and
//! how they deal with their identity, each row with its source.

use serde::Deserialize;
use std::sync::OnceLock;

/// How a program deals with its identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Runs {
    /// Works as a non-root user holding `needs` as ambient capabilities.
    Unprivileged,
    /// Starts as root and switches to its own user itself: `needs` is what
    /// the root process uses over its whole life, dropping included.
    DropsPrivileges,
    /// Keeps running as root; `needs` is all it uses.
    Root,
    /// Starts other users' sessions or jobs. Whatever limits the service
    /// limits them too, so a fix leaves such a unit alone.
    Sessions,
    /// A tool a unit runs beside its program (`ExecReload=/bin/kill …`): its
    /// needs add to the program's; it says nothing about identity.
    Helper,
}

/// What a row's needs rest on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Basis {
    /// A distribution's unit file grants exactly this.
    Unit,
    /// Recorded from the program at work, in a run that succeeded.
    Recorded,
    /// Upstream documentation or code says so.
    Documented,
    /// Reasoned from kernel semantics: a guess until recorded.
    Reasoned,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Program {
    /// Executable file names, or absolute paths for wrappers whose file
    /// name says nothing (`/usr/share/dnsmasq/systemd-helper`).
    pub names: Vec<String>,
    pub runs: Runs,
    pub needs: Vec<String>,
    /// The user the program runs as, or drops to, as its package ships it.
    #[serde(default)]
    pub user: Option<String>,
    /// False when the program execs setuid, setgid or file-capability
    /// helpers in normal use, which no_new_privs would break.
    #[serde(default = "yes")]
    pub no_new_privileges: bool,
    pub basis: Basis,
    #[serde(default)]
    pub note: Option<String>,
    pub source: String,
}

fn yes() -> bool {
    true
}

impl Program {
    pub fn name(&self) -> &str {
        self.names[0].rsplit('/').next().unwrap_or(&self.names[0])
    }

    /// A short citation: the program and the row's source.
    pub fn citation(&self) -> String {
        format!("knowledge base: {} ({})", self.name(), self.source)
    }
}

#[derive(Deserialize)]
struct Programs {
    program: Vec<Program>,
}

/// `rules/programs.toml`, as JSON made by build.rs (read in microseconds).
const PROGRAMS_JSON: &str = include_str!(concat!(env!("OUT_DIR"), "/programs.json"));

/// The knowledge base.
pub fn programs() -> &'static [Program] {
    static ALL: OnceLock<Vec<Program>> = OnceLock::new();
    ALL.get_or_init(|| {
        let p: Programs =
            serde_json::from_str(PROGRAMS_JSON).expect("rules/programs.toml is valid");
        p.program
    })
}

/// The row for an executable: by its full path (wrappers), else by its
/// file name.
pub fn program_for(exec_path: &str) -> Option<&'static Program> {
    let file_name = exec_path.rsplit('/').next().unwrap_or(exec_path);
    let all = programs();
    all.iter()
        .find(|p| p.names.iter().any(|n| n == exec_path))
        .or_else(|| {
            all.iter()
                .find(|p| p.names.iter().any(|n| !n.contains('/') && n == file_name))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caps;

    #[test]
    fn rows_are_consistent() {
        let all = programs();
        assert!(all.iter().map(|p| p.names.len()).sum::<usize>() >= 40);
        let mut seen = std::collections::BTreeSet::new();
        for p in all {
            for n in &p.names {
                assert!(seen.insert(n.clone()), "{n} is in two rows");
            }
            for n in &p.needs {
                assert!(caps::by_name(n).is_some(), "{}: {n}", p.name());
            }
            assert!(!p.source.is_empty(), "{}", p.name());
            // A program that keeps root, or drops it itself, must be able
            // to switch user when it drops: the row says so.
            if p.runs == Runs::DropsPrivileges {
                assert!(
                    p.needs
                        .iter()
                        .any(|n| n == "CAP_SETUID" || n == "CAP_SETGID"),
                    "{} drops privileges without CAP_SETUID/CAP_SETGID",
                    p.name()
                );
            }
        }
    }

    #[test]
    fn lookup_by_path_then_file_name() {
        assert_eq!(
            program_for("/usr/sbin/ping").unwrap().needs,
            ["CAP_NET_RAW"]
        );
        assert_eq!(program_for("ping").unwrap().name(), "ping");
        assert_eq!(
            program_for("/usr/share/dnsmasq/systemd-helper")
                .unwrap()
                .name(),
            "dnsmasq"
        );
        assert!(program_for("/opt/other/systemd-helper").is_none());
    }
}
