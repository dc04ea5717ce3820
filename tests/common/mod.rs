//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod lane;
pub mod oracle;

use capcheck::load::targets::{resolve, Scope};
use capcheck::model::{privileges, Privileges};
use capcheck::semantics::Semantics;
use std::path::{Path, PathBuf};

/// `../shared` beside the checkout, or None (the caller prints why it skips).
pub fn shared_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared");
    dir.join("corpus").is_dir().then_some(dir)
}

/// Whether this is a CI run (`CI=true`, as GitHub and GitLab set it): CI
/// provides everything the tests need, so nothing may be skipped there.
pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| v == "true")
}

/// Prints why a test cannot run here (no root, a missing tool or
/// ../shared) and lets it pass; under CI it fails instead.
pub fn skip(test: &str, why: &str) {
    assert!(!in_ci(), "{test} would be skipped under CI: {why}");
    println!("SKIPPED {test}: {why}");
}

/// Creates the system user `name` unless it exists (needs root and
/// useradd: tests that use it check for both).
pub fn ensure_user(name: &str) {
    if std::process::Command::new("id")
        .arg(name)
        .output()
        .unwrap()
        .status
        .success()
    {
        return;
    }
    let ok = std::process::Command::new("useradd")
        .args(["--system", "--no-create-home", "--user-group", name])
        .status()
        .unwrap();
    assert!(ok.success(), "useradd {name}");
}

/// The programs of `names` that are not in PATH, as a reason to skip.
pub fn missing_programs(names: &[&str]) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = |name: &&str| {
        std::env::split_paths(&path).any(|dir| {
            std::fs::metadata(dir.join(name))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    };
    let missing: Vec<&str> = names.iter().filter(|n| !found(n)).copied().collect();
    (!missing.is_empty()).then(|| format!("needs {} (not in PATH)", missing.join(", ")))
}

/// The project's fixtures directory.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

pub fn host_scope() -> Scope {
    Scope::new(None, false)
}

/// The model of the unit file at `path`, loaded as `capcheck show PATH`.
pub fn model_of(path: &Path) -> Privileges {
    model_in(path, &host_scope())
}

/// The model of the unit file at `path` as `semantics` reads it.
pub fn model_as(path: &Path, semantics: Semantics) -> Privileges {
    model_in(path, &Scope::with_semantics(None, false, semantics))
}

fn model_in(path: &Path, scope: &Scope) -> Privileges {
    let (targets, errors) = resolve(&[path.display().to_string()], scope);
    assert!(errors.is_empty(), "{path:?}: {errors:?}");
    assert_eq!(targets.len(), 1, "{path:?}");
    privileges(&targets[0].load())
}

/// Runs the capcheck binary in `dir` (no colour).
pub fn capcheck_in(dir: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_capcheck"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

/// Whether `systemd-analyze` can be run here.
pub fn have_systemd_analyze() -> bool {
    std::process::Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// What systemd-analyze made of one unit, read from its debug dump.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct SystemdView {
    pub unit: Option<String>,
    pub loaded: bool,
    pub user: Option<String>,
    pub group: Option<String>,
    pub dynamic_user: bool,
    /// None for every capability: the dump omits the line for an unset set
    /// (before 262) or names them all (262).
    pub bounding: Option<String>,
    pub ambient: String,
    pub secure_bits: String,
    pub no_new_privileges: bool,
    /// "Overall exposure level" ×10 (not compared by `==` users that build
    /// a view from capcheck, which leaves it None).
    pub exposure: Option<u32>,
}

/// Runs `SYSTEMD_LOG_LEVEL=debug systemd-analyze security --offline=true`
/// with `args` and reads the dump of the (single) unit analysed.
pub fn systemd_view(args: &[&str]) -> SystemdView {
    let out = std::process::Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--no-pager"])
        .args(args)
        .env("SYSTEMD_LOG_LEVEL", "debug")
        .output()
        .expect("systemd-analyze runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    parse_views(&text).into_iter().next().unwrap_or_default()
}

/// Every unit dump in the output of `systemd-analyze security` run with
/// SYSTEMD_LOG_LEVEL=debug, in order: the dump (`-> Unit X:`, `→ Unit X:`
/// from 257), then the unit's table and exposure line. Units that did not
/// load have no dump.
pub fn parse_views(text: &str) -> Vec<SystemdView> {
    let mut views: Vec<SystemdView> = Vec::new();
    let mut in_dump = false;
    for line in text.lines() {
        let trimmed = line.trim();
        let unit = trimmed
            .strip_prefix("-> Unit ")
            .or_else(|| trimmed.strip_prefix("→ Unit "));
        if let Some(unit) = unit {
            views.push(SystemdView {
                unit: Some(unit.trim_end_matches(':').to_string()),
                ..SystemdView::default()
            });
            in_dump = true;
            continue;
        }
        let Some(view) = views.last_mut() else {
            continue;
        };
        if let Some(rest) = line.strip_prefix("→ Overall exposure level for ") {
            let score = rest.rsplit(": ").next().and_then(|s| s.split(' ').next());
            view.exposure = score.and_then(|s| s.replace('.', "").parse().ok());
            in_dump = false;
        }
        if line.starts_with(['✓', '✗']) && line.contains(" NoNewPrivileges= ") {
            view.no_new_privileges = line.starts_with('✓');
        }
        if !in_dump || !line.starts_with("\t\t") {
            continue;
        }
        let Some((key, value)) = trimmed
            .split_once(": ")
            .or_else(|| trimmed.strip_suffix(':').map(|k| (k, "")))
        else {
            continue;
        };
        let value = value.to_string();
        match key {
            "Unit Load State" => view.loaded = value == "loaded",
            "User" => view.user = Some(value),
            "Group" => view.group = Some(value),
            "DynamicUser" => view.dynamic_user = value == "yes",
            "CapabilityBoundingSet" => {
                view.bounding = (value.split_whitespace().count() < capcheck::caps::table().len())
                    .then_some(value)
            }
            "AmbientCapabilities" => view.ambient = value,
            "Secure Bits" => view.secure_bits = value,
            _ => {}
        }
    }
    views
}

/// The same facts from capcheck's model, in the dump's notation.
pub fn capcheck_view(p: &capcheck::model::Privileges) -> SystemdView {
    use capcheck::caps::CapSet;
    let lower = |set: CapSet| {
        set.iter()
            .map(|c| c.name.to_lowercase())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let bounding = p.capability_bounding_set.value;
    SystemdView {
        unit: Some(p.unit.clone()),
        loaded: p.loaded,
        user: p.user.value.clone(),
        group: p.group.value.clone(),
        dynamic_user: p.dynamic_user.value,
        bounding: (!bounding.has_all_known()).then(|| lower(bounding)),
        ambient: lower(p.ambient_capabilities.value),
        secure_bits: capcheck::model::values::secure_bit_names(p.secure_bits.value).join(" "),
        no_new_privileges: p.no_new_privileges(),
        exposure: None,
    }
}

/// The rows of `systemd-analyze security --offline=true --json=short`:
/// each check's name and exposure (None: "does not matter" or "does not
/// apply" to this unit).
pub fn security_rows(args: &[&str]) -> std::collections::BTreeMap<String, Option<f64>> {
    let out = std::process::Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--no-pager", "--json=short"])
        .args(args)
        .output()
        .expect("systemd-analyze runs");
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap_or_default();
    rows.iter()
        .map(|r| {
            let exposure = r["exposure"].as_str().and_then(|e| e.parse().ok());
            (r["name"].as_str().unwrap_or_default().to_string(), exposure)
        })
        .collect()
}
