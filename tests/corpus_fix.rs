//! For every service of ../shared/corpus, in a temporary copy: fix it in
//! the default mode and with --unsafe-fixes, with the evidence capcheck has
//! (knowledge base, existing ambient), then ask the real systemd-analyze
//! that (a) the fixed unit still loads, (b) `verify` shows no new
//! complaint, (c) its effective user, bounding set, ambient set and
//! NoNewPrivileges are exactly what capcheck planned, (d) the exposure
//! score did not rise, and (e) the fix did not widen anything: the bounding
//! set and what the main process holds at exec only shrink, no_new_privs
//! stays on, no row of `security --json=short` gets worse (AmbientCapabilities=
//! and RemoveIPC= are scored for users only), and a new User= exists or is
//! created by the fix. These are systemd's reading of the unit, not a run:
//! that a fixed daemon still works is tests/services.rs's job.
//! Totals: docs/corpus-fixes.md.

mod common;

use capcheck::caps::{CapSet, Risk};
use capcheck::checks::binary::HostInspector;
use capcheck::checks::CheckOptions;
use capcheck::config::Config;
use capcheck::fix::plan::Kind;
use capcheck::fix::{fix_unit, write::write_atomic, FixOptions};
use capcheck::lint::Rules;
use capcheck::system::TargetSystem;
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

/// A capability list in the dump's notation as a set (None: all).
fn set_of(dump: Option<&str>) -> CapSet {
    dump.map_or(CapSet::ALL, |list| {
        let names: Vec<String> = list.split_whitespace().map(str::to_uppercase).collect();
        capcheck::caps::set_of(&names)
    })
}

/// What the main process holds at exec, by systemd's reading.
fn held(view: &common::SystemdView) -> CapSet {
    let bounding = set_of(view.bounding.as_deref());
    let root = !view.dynamic_user && view.user.as_deref().is_none_or(|u| u == "root" || u == "0");
    if root {
        bounding
    } else {
        set_of(Some(&view.ambient)).intersection(bounding)
    }
}

/// How a fixed unit widens by systemd's reading (before vs after).
fn widenings(
    before: &common::SystemdView,
    after: &common::SystemdView,
    rows_before: &std::collections::BTreeMap<String, Option<f64>>,
    rows_after: &std::collections::BTreeMap<String, Option<f64>>,
) -> Vec<String> {
    let mut out = Vec::new();
    let more = set_of(after.bounding.as_deref())
        .difference(set_of(before.bounding.as_deref()))
        .intersection(CapSet::KNOWN);
    if !more.is_empty() {
        out.push(format!("bounding set gains {}", lower(more)));
    }
    let more = held(after)
        .difference(held(before))
        .intersection(CapSet::KNOWN);
    if !more.is_empty() {
        out.push(format!("holds {} more at exec", lower(more)));
    }
    if before.no_new_privileges && !after.no_new_privileges {
        out.push("NoNewPrivileges= turned off".to_string());
    }
    let became_user = held(before) == set_of(before.bounding.as_deref())
        && (after.dynamic_user || after.user != before.user);
    for (name, was) in rows_before {
        let will = rows_after.get(name).copied().flatten();
        let scored_for_users = matches!(name.as_str(), "AmbientCapabilities=" | "RemoveIPC=");
        if will.unwrap_or(0.0) > was.unwrap_or(0.0) + 1e-9 && !(became_user && scored_for_users) {
            out.push(format!("row {name} worse: {was:?} -> {will:?}"));
        }
    }
    out
}

/// What one mode did to the corpus.
#[derive(Default)]
struct Tally {
    services: usize,
    not_loaded: usize,
    unchanged: usize,
    fixed: usize,
    confined: usize,
    de_rooted: usize,
    evidence_based: usize,
    lower_exposure: usize,
    /// Fixed services whose exposure score did not move, and why (kind).
    same_exposure: Vec<String>,
}

fn fix_corpus(test: &str, unsafe_fixes: bool) {
    let Some(shared) = common::shared_dir() else {
        return common::skip(test, "needs ../shared/corpus beside this checkout");
    };
    if !common::have_systemd_analyze() {
        return common::skip(test, "needs systemd-analyze");
    }
    let rules = Rules::new(&Config::default(), &[], &[]).unwrap();
    let inspector = HostInspector::new("/nonexistent-root".into());
    let checks = CheckOptions {
        platform: None,
        binaries: &inspector,
        min_risk: Risk::Medium,
    };
    let options = FixOptions {
        unsafe_fixes,
        ..FixOptions::default()
    };
    let host = TargetSystem::of(None);
    let tmp = tempfile::tempdir().unwrap();
    let mut tally = Tally::default();
    let mut failures = Vec::new();
    let files: Vec<_> = walkdir::WalkDir::new(shared.join("corpus"))
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file() && e.path().extension().is_some_and(|x| x == "service"))
        .filter(|e| !e.path().components().any(|c| c.as_os_str() == "oracle"))
        .collect();
    for (i, entry) in files.iter().enumerate() {
        tally.services += 1;
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
        let unit_arg = path.to_str().unwrap();
        let before = common::systemd_view(&[unit_arg]);
        if !before.loaded {
            tally.not_loaded += 1;
            continue;
        }
        let rows_before = common::security_rows(&[unit_arg]);
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
            tally.unchanged += 1;
            continue;
        }
        for c in &fix.changes {
            write_atomic(&c.path, c.before.as_deref(), &c.after, None).unwrap();
        }
        tally.fixed += 1;
        match fix.kind {
            Some(Kind::Confine) => tally.confined += 1,
            Some(Kind::DeRoot) => tally.de_rooted += 1,
            _ => {}
        }
        if fix.applicability == Some(capcheck::finding::Applicability::EvidenceBased) {
            tally.evidence_based += 1;
        }
        let after = common::systemd_view(&[unit_arg]);
        let rows_after = common::security_rows(&[unit_arg]);
        let mut problems = widenings(&before, &after, &rows_before, &rows_after);
        if !after.loaded {
            problems.push("does not load any more".to_string());
        }
        if let Some(plan) = &fix.target {
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
        }
        if after.user != before.user && !after.dynamic_user {
            let user = after.user.clone().unwrap_or_default();
            let created = fix.changes.iter().any(|c| {
                c.path.to_string_lossy().contains("sysusers.d")
                    && String::from_utf8_lossy(&c.after).contains(&format!("u {user} "))
            });
            if !host.has_user(&user) && !created {
                problems.push(format!("User={user} does not exist and is not created"));
            }
        }
        match (before.exposure, after.exposure) {
            (Some(b), Some(a)) if a > b => problems.push(format!("exposure rose from {b} to {a}")),
            (Some(b), Some(a)) if a < b => tally.lower_exposure += 1,
            (Some(_), Some(_)) => tally.same_exposure.push(format!(
                "{label} ({})",
                fix.kind.map_or("lint fixes only", |k| k.as_str())
            )),
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
    let t = &tally;
    println!(
        "{test}: {} services: {} do not load before the fix, {} need no change, {} fixed \
         ({} confined, {} de-rooted; {} on evidence, the rest guesses), exposure lower for {}",
        t.services,
        t.not_loaded,
        t.unchanged,
        t.fixed,
        t.confined,
        t.de_rooted,
        t.evidence_based,
        t.lower_exposure
    );
    println!("exposure unchanged: {}", t.same_exposure.join(", "));
    assert!(t.fixed > if unsafe_fixes { 100 } else { 5 }, "{}", t.fixed);
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn default_fixes_of_the_corpus_load_match_the_plan_and_never_widen() {
    fix_corpus(
        "default_fixes_of_the_corpus_load_match_the_plan_and_never_widen",
        false,
    );
}

#[test]
fn unsafe_fixes_of_the_corpus_load_match_the_plan_and_never_widen() {
    fix_corpus(
        "unsafe_fixes_of_the_corpus_load_match_the_plan_and_never_widen",
        true,
    );
}
