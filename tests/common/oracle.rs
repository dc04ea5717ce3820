//! The systemd-analyze of each release capcheck is measured against: this
//! host's (systemd 252 on Debian 12) and the chroots tests/oracles/build.sh
//! makes (254, 257, 262), run by tests/oracles/analyze.sh.

use super::{parse_views, SystemdView};
use capcheck::semantics::Semantics;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The releases every oracle test runs against.
pub const RELEASES: [u16; 4] = [252, 254, 257, 262];

/// One release's systemd-analyze.
#[derive(Debug, Clone)]
pub struct Oracle {
    pub semantics: Semantics,
    /// The tree build.sh made; None for this host's systemd-analyze.
    pub tree: Option<PathBuf>,
    /// `systemd-analyze --version`'s first line.
    pub version: String,
}

fn oracles_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oracles")
}

/// The oracles of [`RELEASES`] that this machine has, and for each one it
/// lacks, why.
pub fn oracles() -> (Vec<Oracle>, Vec<String>) {
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for release in RELEASES {
        match oracle(release) {
            Ok(o) => found.push(o),
            Err(why) => missing.push(format!("systemd {release}: {why}")),
        }
    }
    (found, missing)
}

/// The oracles `test` runs against; each one missing is a skip (a failure
/// under CI=true).
pub fn oracles_for(test: &str) -> Vec<Oracle> {
    let (found, missing) = oracles();
    for why in &missing {
        super::skip(test, why);
    }
    found
}

fn oracle(release: u16) -> Result<Oracle, String> {
    let semantics = Semantics::new(release).expect("a supported release");
    let host = Command::new("systemd-analyze").arg("--version").output();
    let host_version = host
        .ok()
        .filter(|o| o.status.success())
        .map(|o| first_line(&o.stdout));
    if host_version
        .as_deref()
        .is_some_and(|v| v.starts_with(&format!("systemd {release} ")))
    {
        return Ok(Oracle {
            semantics,
            tree: None,
            version: host_version.unwrap_or_default(),
        });
    }
    let out = Command::new("bash")
        .arg(oracles_dir().join("build.sh"))
        .args(["--path", &release.to_string()])
        .output()
        .map_err(|e| format!("needs bash: {e}"))?;
    let tree = PathBuf::from(first_line(&out.stdout));
    let version = std::fs::read_to_string(tree.join("version"))
        .map_err(|_| format!("needs its chroot: run tests/oracles/build.sh {release}"))?;
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err("needs root (unshare, mount, chroot)".to_string());
    }
    Ok(Oracle {
        semantics,
        tree: Some(tree),
        version: version.trim().to_string(),
    })
}

fn first_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Listed analyzer artifacts: where a release's systemd-analyze reports
/// something that is not what systemd does with the unit.
pub const ARTIFACTS: &[(&str, &str)] = &[
    (
        "template instance name",
        "systemd-analyze instantiates a template file as NAME@i.service up to 256 and as \
         NAME@test_instance.service from 257 on (verify_prepare_filename()); capcheck keeps @i, \
         so the 257+ instance is mapped back to i, in the unit name and in User=/Group= that \
         %i filled (user@, syncthing@, qbittorrent-nox@, capsule@.service)",
    ),
    (
        "dump marker",
        "from 257 on the debug dump prints `→ Unit X:` instead of `-> Unit X:` (parse_views reads both)",
    ),
];

/// The system services of the real units a tree of build.sh holds (the
/// packages of its suite), grouped by directory: one systemd-analyze call
/// reads each group.
pub fn real_services(tree: &Path) -> Vec<Vec<PathBuf>> {
    let mut by_dir: std::collections::BTreeMap<PathBuf, Vec<PathBuf>> = Default::default();
    for entry in walkdir::WalkDir::new(tree.join("units"))
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
    {
        let path = entry.path();
        let in_system_dir = path.parent().is_some_and(|d| d.ends_with("systemd/system"));
        if in_system_dir && path.extension().is_some_and(|x| x == "service") {
            let dir = path.parent().expect("a directory").to_path_buf();
            by_dir.entry(dir).or_default().push(path.to_path_buf());
        }
    }
    by_dir.into_values().collect()
}

/// Whether capcheck's view of a unit agrees with a release's: the same
/// load state, and for a unit both load, the same user, group, dynamic
/// user, bounding and ambient sets, SecureBits and NoNewPrivileges.
/// `theirs` is None when the release did not load the unit.
pub fn agree(ours: &SystemdView, theirs: Option<&SystemdView>) -> bool {
    match theirs {
        Some(theirs) if ours.loaded => {
            *ours
                == SystemdView {
                    exposure: None,
                    ..theirs.clone()
                }
        }
        Some(_) => false,
        None => !ours.loaded,
    }
}

/// Fails with every disagreement found, if any.
pub fn assert_none(disagreements: &[String]) {
    assert!(
        disagreements.is_empty(),
        "{} disagreements:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
}

impl Oracle {
    /// Every `[Section] Key` this release reads (`systemd
    /// --dump-configuration-items`).
    pub fn configuration_items(&self) -> std::collections::BTreeSet<(String, String)> {
        let out = match &self.tree {
            None => Command::new("/lib/systemd/systemd")
                .arg("--dump-configuration-items")
                .output(),
            Some(tree) => Command::new("chroot")
                .arg(tree.join("root"))
                .args(["/usr/lib/systemd/systemd", "--dump-configuration-items"])
                .output(),
        }
        .expect("systemd --dump-configuration-items runs");
        let mut items = std::collections::BTreeSet::new();
        let mut section = String::new();
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = name.to_string();
            } else if let Some((key, _)) = line.split_once('=') {
                items.insert((section.clone(), key.to_string()));
            }
        }
        items
    }

    /// The system this release runs on: the chroot build.sh made, or this
    /// host (`/`).
    pub fn image(&self) -> PathBuf {
        self.tree
            .as_ref()
            .map_or_else(|| PathBuf::from("/"), |tree| tree.join("root"))
    }

    /// What this release makes of unit files that share a search path
    /// (files of one directory, whose directory joins it first): one
    /// `systemd-analyze security --offline` call, each loaded unit's dump
    /// keyed by unit name (a template instance as capcheck names it, see
    /// [`ARTIFACTS`]). A unit that did not load has no entry.
    pub fn views(&self, files: &[PathBuf]) -> HashMap<String, SystemdView> {
        let mut dirs: Vec<&Path> = files.iter().filter_map(|f| f.parent()).collect();
        dirs.sort();
        dirs.dedup();
        let operands: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
        self.security(&operands, &dirs)
    }

    /// What this release makes of the units `names` of its own system
    /// ([`Oracle::image`]), found in its search path as systemd finds
    /// them; keyed as [`Oracle::views`] does.
    pub fn views_by_name(&self, names: &[String]) -> HashMap<String, SystemdView> {
        self.security(names, &[])
    }

    /// `systemd-analyze security --offline=true OPERANDS` of this release,
    /// with `binds` visible at the same paths inside its chroot.
    fn security(&self, operands: &[String], binds: &[&Path]) -> HashMap<String, SystemdView> {
        let mut command = match &self.tree {
            None => Command::new("systemd-analyze"),
            Some(tree) => {
                let mut c = Command::new(oracles_dir().join("analyze.sh"));
                c.arg(tree);
                for dir in binds {
                    c.arg("--bind").arg(dir);
                }
                c.arg("--");
                c
            }
        };
        let out = command
            .args(["security", "--offline=true", "--no-pager"])
            .args(operands)
            .env("SYSTEMD_LOG_LEVEL", "debug")
            .output()
            .expect("systemd-analyze runs");
        let text = String::from_utf8_lossy(&out.stdout);
        parse_views(&text)
            .into_iter()
            .map(|mut view| {
                let name = view.unit.take().unwrap_or_default();
                if name.contains("@test_instance.") {
                    // The instance name, in the unit name and wherever %i
                    // put it (ARTIFACTS).
                    let as_capcheck = |s: &str| s.replace("test_instance", "i");
                    view.user = view.user.as_deref().map(as_capcheck);
                    view.group = view.group.as_deref().map(as_capcheck);
                }
                let name = name.replacen("@test_instance.", "@i.", 1);
                view.unit = Some(name.clone());
                (name, view)
            })
            .collect()
    }
}
