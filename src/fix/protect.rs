//! For a service that keeps root: filesystem protections that take away
//! uid 0's owner rights (rewriting /etc, /usr, /root) where the recorded
//! accesses show the program does not use them. A pure function of the
//! accesses and the unit; only protections not set at all are added, and
//! `ReadWritePaths=` opens again exactly the directories it wrote.

use crate::record::access::{split, Access, What};

/// The protections to add.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Protections {
    /// `ProtectSystem=strict`, with `ReadWritePaths=` these directories
    /// (`-` prefixed: a directory gone later does not fail the start).
    pub strict: Option<Vec<String>>,
    /// `ProtectHome=yes` or `read-only`.
    pub home: Option<&'static str>,
    /// `PrivateTmp=yes`.
    pub private_tmp: bool,
    /// Why each, for the report.
    pub evidence: Vec<String>,
}

impl Protections {
    pub fn is_empty(&self) -> bool {
        self.strict.is_none() && self.home.is_none() && !self.private_tmp
    }

    /// The settings, as unit lines would have them.
    pub fn settings(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if let Some(dirs) = &self.strict {
            out.push(("ProtectSystem", "strict".to_string()));
            if !dirs.is_empty() {
                let list: Vec<String> = dirs.iter().map(|d| format!("-{d}")).collect();
                out.push(("ReadWritePaths", list.join(" ")));
            }
        }
        if let Some(home) = self.home {
            out.push(("ProtectHome", home.to_string()));
        }
        if self.private_tmp {
            out.push(("PrivateTmp", "yes".to_string()));
        }
        out
    }
}

/// API file systems that stay writable under `ProtectSystem=strict`.
const API: [&str; 3] = ["/dev/", "/proc/", "/sys/"];
const HOMES: [&str; 3] = ["/home/", "/root/", "/run/user/"];
const TEMPORARY: [&str; 2] = ["/tmp/", "/var/tmp/"];

fn under(path: &str, dirs: &[&str]) -> bool {
    dirs.iter()
        .any(|d| path.starts_with(d) || path == d.trim_end_matches('/'))
}

/// The protections the accesses allow; `already` says whether a setting
/// is in the unit (it is left as it is, whatever its value).
pub fn protections(accesses: &[Access], already: &dyn Fn(&str) -> bool) -> Protections {
    let mut p = Protections::default();
    let done: Vec<&Access> = accesses.iter().filter(|a| a.error == 0).collect();
    let writes: Vec<&Access> = done
        .iter()
        .copied()
        .filter(|a| a.what.writes() || a.what == What::Bind && a.path.is_some())
        .collect();
    let touches = |dirs: &[&str], writing: bool| {
        done.iter().any(|a| {
            (!writing || a.what.writes() || a.what == What::Bind)
                && a.path.as_deref().is_some_and(|path| under(path, dirs))
        })
    };
    let protected = [
        "ProtectSystem",
        "ReadWritePaths",
        "ReadOnlyPaths",
        "InaccessiblePaths",
    ];
    if !protected.iter().any(|k| already(k)) {
        let mut dirs: Vec<String> = Vec::new();
        let mut placeable = true;
        for a in &writes {
            let Some(path) = a.path.as_deref().filter(|p| p.starts_with('/')) else {
                placeable = false;
                continue;
            };
            if under(path, &API) {
                continue;
            }
            // The directory it is in: files come and go there (a log
            // rotated, a pid file made again); a directory it made that
            // lasts (not in /run, emptied at boot) is enough by itself.
            let lasting_dir = a.what == What::Mkdir
                && a.found.file.is_some_and(|f| f.is_dir())
                && !path.starts_with("/run/");
            let dir = if lasting_dir {
                path.to_string()
            } else {
                split(path).0.to_string()
            };
            if !dirs.contains(&dir) {
                dirs.push(dir);
            }
        }
        dirs.sort();
        let mut cover: Vec<String> = Vec::new();
        for d in dirs {
            if !cover
                .iter()
                .any(|c| d == *c || d.starts_with(&format!("{c}/")))
            {
                cover.push(d);
            }
        }
        if placeable && !cover.iter().any(|d| d == "/") {
            p.evidence.push(if cover.is_empty() {
                "ProtectSystem=strict: it wrote nothing outside /dev, /proc and /sys".to_string()
            } else {
                format!(
                    "ProtectSystem=strict: it wrote only in {}",
                    cover.join(", ")
                )
            });
            p.strict = Some(cover);
        }
    }
    if !already("ProtectHome") {
        if !touches(&HOMES, false) {
            p.home = Some("yes");
            p.evidence.push(
                "ProtectHome=yes: it used nothing under /home, /root or /run/user".to_string(),
            );
        } else if !touches(&HOMES, true) {
            p.home = Some("read-only");
            p.evidence.push(
                "ProtectHome=read-only: it only read under /home, /root or /run/user".to_string(),
            );
        }
    }
    if !already("PrivateTmp") && !touches(&TEMPORARY, false) {
        p.private_tmp = true;
        p.evidence
            .push("PrivateTmp=yes: it used nothing in /tmp or /var/tmp".to_string());
    }
    p
}
