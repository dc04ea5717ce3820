//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod lane;

use capcheck::load::targets::{resolve, Scope};
use capcheck::model::{privileges, Privileges};
use std::path::{Path, PathBuf};

/// `../shared` beside the checkout, or None (the caller prints why it skips).
pub fn shared_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared");
    dir.join("corpus").is_dir().then_some(dir)
}

/// Prints the skip notice the project's tests use when ../shared is absent.
pub fn skip(test: &str, why: &str) {
    println!("SKIPPED {test}: {why}");
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
    let (targets, errors) = resolve(&[path.display().to_string()], &host_scope());
    assert!(errors.is_empty(), "{path:?}: {errors:?}");
    assert_eq!(targets.len(), 1, "{path:?}");
    privileges(&targets[0].load())
}

/// Whether `systemd-analyze` can be run here.
pub fn have_systemd_analyze() -> bool {
    std::process::Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// What systemd-analyze 252 made of one unit, read from its debug dump.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct SystemdView {
    pub unit: Option<String>,
    pub loaded: bool,
    pub user: Option<String>,
    pub group: Option<String>,
    pub dynamic_user: bool,
    /// None when the dump omits the line (the full set, CAP_ALL).
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
    let mut view = SystemdView::default();
    let mut in_dump = false;
    for line in text.lines() {
        if let Some(unit) = line.trim().strip_prefix("-> Unit ") {
            view.unit = Some(unit.trim_end_matches(':').to_string());
            in_dump = true;
            continue;
        }
        if let Some(rest) = line.strip_prefix("→ Overall exposure level for ") {
            let score = rest.rsplit(": ").next().and_then(|s| s.split(' ').next());
            view.exposure = score.and_then(|s| s.replace('.', "").parse().ok());
        }
        if line.starts_with(['✓', '✗']) && line.contains(" NoNewPrivileges= ") {
            view.no_new_privileges = line.starts_with('✓');
        }
        if !in_dump || !line.starts_with("\t\t") {
            continue;
        }
        let Some((key, value)) = line
            .trim()
            .split_once(": ")
            .or_else(|| line.trim().strip_suffix(':').map(|k| (k, "")))
        else {
            continue;
        };
        let value = value.to_string();
        match key {
            "Unit Load State" => view.loaded = value == "loaded",
            "User" => view.user = Some(value),
            "Group" => view.group = Some(value),
            "DynamicUser" => view.dynamic_user = value == "yes",
            "CapabilityBoundingSet" => view.bounding = Some(value),
            "AmbientCapabilities" => view.ambient = value,
            "Secure Bits" => view.secure_bits = value,
            _ => {}
        }
    }
    view
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
        bounding: (bounding != CapSet::ALL).then(|| lower(bounding)),
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
