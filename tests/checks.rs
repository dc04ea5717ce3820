//! Every check against its fixtures in fixtures/checks/<CODE>/: `bad*`
//! must report the code, `ok*` must not, `suppressed*` must not and must
//! leave no unused suppression. The rendered findings of each directory
//! are compared with its `findings.snap` (CAPCHECK_BLESS=1 rewrites them).

mod common;

use capcheck::caps::{CapSet, Risk};
use capcheck::checks::binary::{BinaryInfo, BinaryInspector, FileCaps};
use capcheck::checks::{self, platform, CheckOptions};
use capcheck::config::Config;
use capcheck::finding::Finding;
use capcheck::lint::Rules;
use capcheck::load::targets::resolve;
use std::path::{Path, PathBuf};

/// Binaries the fixtures refer to, so the binary checks run anywhere.
struct FakeBinaries;

impl BinaryInspector for FakeBinaries {
    fn inspect(&self, exec_path: &str) -> Option<BinaryInfo> {
        let caps = |effective| FileCaps {
            effective,
            permitted: CapSet::single(10).union(CapSet::single(13)),
            inheritable: CapSet::EMPTY,
            rootid: None,
        };
        let (setuid, file_caps) = match exec_path {
            "/usr/bin/fake-ep" => (false, Some(caps(true))),
            "/usr/bin/fake-p" => (false, Some(caps(false))),
            "/usr/bin/fake-setuid" => (true, None),
            _ => return None,
        };
        Some(BinaryInfo {
            path: PathBuf::from(exec_path),
            setuid,
            setgid: false,
            file_caps,
        })
    }
}

/// Unit files under a fixture directory (drop-in directories excluded).
fn unit_files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| !e.file_name().to_string_lossy().ends_with(".d"))
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file() && e.path().extension().is_some_and(|x| x == "service"))
        .map(|e| e.into_path())
        .collect();
    out.sort();
    out
}

fn lint(path: &Path, platform: Option<&str>) -> Vec<Finding> {
    let rules = Rules::new(&Config::default(), &[], &[]).unwrap();
    let options = CheckOptions {
        platform: platform.and_then(platform::find),
        binaries: &FakeBinaries,
        min_risk: Risk::Medium,
    };
    let (targets, errors) = resolve(&[path.display().to_string()], &common::host_scope());
    assert!(errors.is_empty(), "{errors:?}");
    rules.lint(&targets[0].load(), &options)
}

#[test]
fn every_check_has_fixtures_that_fire_stay_silent_and_suppress() {
    let root = Path::new("fixtures/checks");
    let mut failures = Vec::new();
    for registered in checks::all() {
        let code = registered.meta().code;
        let dir = root.join(code);
        let files = unit_files(&dir);
        let kinds = ["bad", "ok", "suppressed"];
        for kind in kinds {
            if !files.iter().any(|f| {
                f.strip_prefix(&dir)
                    .unwrap()
                    .to_string_lossy()
                    .starts_with(kind)
            }) {
                failures.push(format!("{code}: no {kind}* fixture in {}", dir.display()));
            }
        }
        let platform = (code == "CAP501").then_some("talos");
        let mut rendered = String::new();
        for file in &files {
            let findings = lint(file, platform);
            let kind = file
                .strip_prefix(&dir)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let has = findings.iter().any(|f| f.code == code);
            let unused = findings.iter().any(|f| f.code == "CAP901");
            if kind.starts_with("bad") && !has {
                failures.push(format!("{}: expected {code}", file.display()));
            }
            if kind.starts_with("ok") && has {
                failures.push(format!("{}: unexpected {code}", file.display()));
            }
            if kind.starts_with("suppressed") && (has || unused) {
                failures.push(format!("{}: {code} not suppressed cleanly", file.display()));
            }
            rendered.push_str(&capcheck::report::concise::render(&findings));
        }
        let snapshot = dir.join("findings.snap");
        if std::env::var_os("CAPCHECK_BLESS").is_some() {
            std::fs::write(&snapshot, &rendered).unwrap();
        } else {
            match std::fs::read_to_string(&snapshot) {
                Ok(expected) if expected == rendered => {}
                Ok(expected) => failures.push(format!(
                    "{}: rendered findings changed (CAPCHECK_BLESS=1 to accept)\n--- expected\n{expected}--- got\n{rendered}",
                    snapshot.display()
                )),
                Err(_) => failures.push(format!("{}: missing (CAPCHECK_BLESS=1 writes it)", snapshot.display())),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The fully rendered (miette) findings of a few fixtures: snippet, label,
/// help and code, byte for byte.
#[test]
fn full_rendering_snapshot() {
    let mut rendered = String::new();
    for file in [
        "fixtures/checks/CAP201/bad-typo.service",
        "fixtures/checks/CAP202/bad-section.service",
        "fixtures/checks/CAP101/bad-reset/app.service",
    ] {
        rendered.push_str(&capcheck::report::full::render(
            &lint(Path::new(file), None),
            false,
        ));
    }
    let snapshot = Path::new("fixtures/checks/full.snap");
    if std::env::var_os("CAPCHECK_BLESS").is_some() {
        std::fs::write(snapshot, &rendered).unwrap();
    }
    assert_eq!(
        std::fs::read_to_string(snapshot).unwrap_or_default(),
        rendered
    );
}

/// A finding in a drop-in points into the drop-in.
#[test]
fn findings_point_into_dropins() {
    let findings = lint(
        Path::new("fixtures/checks/CAP101/bad-reset/app.service"),
        None,
    );
    let root = findings
        .iter()
        .find(|f| f.code == "CAP101")
        .expect("CAP101");
    assert!(
        root.path.ends_with("app.service.d/50-reset.conf"),
        "{:?}",
        root.path
    );
    assert_eq!((root.position.line, root.position.column), (2, 1));
}

/// The seed blog's units: root and the full set are flagged on
/// bind-root.service; bind-captest.service is clean of identity and
/// capability findings.
#[test]
fn seed_units() {
    let root = lint(Path::new("fixtures/examples/bind-root.service"), None);
    let codes: Vec<&str> = root.iter().map(|f| f.code).collect();
    assert!(
        codes.contains(&"CAP101") && codes.contains(&"CAP301"),
        "{codes:?}"
    );
    let captest = lint(Path::new("fixtures/examples/bind-captest.service"), None);
    assert!(
        captest
            .iter()
            .all(|f| !(f.code.starts_with("CAP1") || f.code.starts_with("CAP3"))),
        "{captest:?}"
    );
    let nonroot = lint(Path::new("fixtures/examples/bind-nonroot.service"), None);
    assert!(nonroot.iter().all(|f| f.code != "CAP101"));
}
