//! For every service of ../shared/corpus, in a temporary copy: fix it with
//! --unsafe-fixes and the evidence capcheck has (knowledge base, existing
//! ambient), then ask the real systemd-analyze that (a) the fixed unit still
//! loads, (b) `verify` shows no new complaint, (c) its effective user,
//! bounding set, ambient set and NoNewPrivileges are exactly what capcheck
//! planned, (d) the exposure score did not rise. Totals: docs/corpus-fixes.md.

mod common;

use capcheck::caps::{CapSet, Risk};
use capcheck::checks::binary::HostInspector;
use capcheck::checks::CheckOptions;
use capcheck::config::Config;
use capcheck::fix::{fix_unit, write::write_atomic, FixOptions};
use capcheck::lint::Rules;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

fn verify_messages(path: &Path, dir: &Path) -> Vec<String> {
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no", "--recursive-errors=no"])
        .arg(path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr).replace(&dir.display().to_string(), "DIR");
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines.sort();
    lines.dedup();
    lines
}

fn lower(set: CapSet) -> String {
    set.iter()
        .map(|c| c.name.to_lowercase())
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn fixed_corpus_services_load_and_match_the_plan() {
    let Some(shared) = common::shared_dir() else {
        return common::skip(
            "fixed_corpus_services_load_and_match_the_plan",
            "needs ../shared/corpus beside this checkout",
        );
    };
    if !common::have_systemd_analyze() {
        return common::skip(
            "fixed_corpus_services_load_and_match_the_plan",
            "needs systemd-analyze",
        );
    }
    let rules = Rules::new(&Config::default(), &[], &[]).unwrap();
    let inspector = HostInspector::new("/nonexistent-root".into());
    let checks = CheckOptions {
        platform: None,
        binaries: &inspector,
        min_risk: Risk::Medium,
    };
    let options = FixOptions {
        unsafe_fixes: true,
        ..FixOptions::default()
    };
    let tmp = tempfile::tempdir().unwrap();
    let (
        mut services,
        mut not_loaded,
        mut unchanged,
        mut fixed,
        mut evidence_based,
        mut lower_exposure,
    ) = (0, 0, 0, 0, 0, 0);
    let mut failures = Vec::new();
    let files: Vec<_> = walkdir::WalkDir::new(shared.join("corpus"))
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file() && e.path().extension().is_some_and(|x| x == "service"))
        .filter(|e| !e.path().components().any(|c| c.as_os_str() == "oracle"))
        .collect();
    for (i, entry) in files.iter().enumerate() {
        services += 1;
        let dir = tmp.path().join(format!("u{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        let name = entry.file_name();
        let path = dir.join(name);
        std::fs::copy(entry.path(), &path).unwrap();
        // The corpus is read-only, and capcheck refuses read-only files.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let dropins = entry
            .path()
            .with_file_name(format!("{}.d", name.to_string_lossy()));
        if dropins.is_dir() {
            std::fs::create_dir_all(dir.join(dropins.file_name().unwrap())).unwrap();
            for d in std::fs::read_dir(&dropins).unwrap().flatten() {
                std::fs::copy(
                    d.path(),
                    dir.join(dropins.file_name().unwrap()).join(d.file_name()),
                )
                .unwrap();
            }
        }
        let before = common::systemd_view(&[path.to_str().unwrap()]);
        if !before.loaded {
            not_loaded += 1;
            continue;
        }
        let verify_before = verify_messages(&path, &dir);
        let (targets, _) =
            capcheck::load::targets::resolve(&[path.display().to_string()], &common::host_scope());
        let fix = fix_unit(&targets[0].load(), &rules, &checks, &options);
        let label = entry
            .path()
            .strip_prefix(&shared)
            .unwrap()
            .display()
            .to_string();
        if let Some(e) = &fix.error {
            failures.push(format!("{label}: {e}"));
            continue;
        }
        if fix.changes.is_empty() {
            unchanged += 1;
            continue;
        }
        for c in &fix.changes {
            write_atomic(&c.path, c.before.as_deref(), &c.after, None).unwrap();
        }
        fixed += 1;
        if fix.applicability == Some(capcheck::finding::Applicability::EvidenceBased) {
            evidence_based += 1;
        }
        let after = common::systemd_view(&[path.to_str().unwrap()]);
        let plan = fix.target.as_ref().expect("a change comes with a target");
        let mut problems = Vec::new();
        if !after.loaded {
            problems.push("does not load any more".to_string());
        }
        if after.user != plan.user {
            problems.push(format!("user {:?}, planned {:?}", after.user, plan.user));
        }
        let bounding = (plan.capability_bounding_set != CapSet::ALL)
            .then(|| lower(plan.capability_bounding_set));
        if after.bounding != bounding {
            problems.push(format!(
                "bounding {:?}, planned {bounding:?}",
                after.bounding
            ));
        }
        if after.ambient != lower(plan.ambient_capabilities) {
            problems.push(format!(
                "ambient {:?}, planned {:?}",
                after.ambient,
                lower(plan.ambient_capabilities)
            ));
        }
        if after.no_new_privileges != plan.no_new_privileges
            || after.dynamic_user != plan.dynamic_user
        {
            problems.push("NoNewPrivileges=/DynamicUser= differ from the plan".to_string());
        }
        match (before.exposure, after.exposure) {
            (Some(b), Some(a)) if a > b => problems.push(format!("exposure rose from {b} to {a}")),
            (Some(b), Some(a)) if a < b => lower_exposure += 1,
            _ => {}
        }
        let new: Vec<String> = verify_messages(&path, &dir)
            .into_iter()
            .filter(|m| !verify_before.contains(m))
            .collect();
        if !new.is_empty() {
            problems.push(format!("new verify complaints: {new:?}"));
        }
        if !problems.is_empty() {
            failures.push(format!("{label}: {}", problems.join("; ")));
        }
    }
    println!(
        "{services} services: {not_loaded} do not load before the fix, {unchanged} need no change, \
         {fixed} fixed ({evidence_based} on evidence, the rest guesses), exposure lower for {lower_exposure}"
    );
    assert!(fixed > 100, "{fixed}");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
