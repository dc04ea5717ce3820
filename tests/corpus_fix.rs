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
use capcheck::fix::{fix_unit, write::write_atomic, FixOptions, TargetSummary};
use capcheck::lint::Rules;
use capcheck::load::targets::{resolve, Scope};
use capcheck::system::TargetSystem;
use common::oracle;
use std::collections::{BTreeMap, HashSet};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::path::PathBuf;
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
    rows_before: &BTreeMap<String, Option<f64>>,
    rows_after: &BTreeMap<String, Option<f64>>,
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

/// Where systemd's reading of a fixed unit differs from the fix's plan.
fn unlike_the_plan(after: &common::SystemdView, plan: &TargetSummary) -> Vec<String> {
    let mut problems = Vec::new();
    if after.user != plan.user {
        problems.push(format!("user {:?}, planned {:?}", after.user, plan.user));
    }
    let bounding = (!plan.capability_bounding_set.has_all_known())
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
    if after.no_new_privileges != plan.no_new_privileges || after.dynamic_user != plan.dynamic_user
    {
        problems.push("NoNewPrivileges=/DynamicUser= differ from the plan".to_string());
    }
    problems
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

/// The fixer as these tests run it: every check, no binary to read, the
/// evidence capcheck has (knowledge base, existing ambient).
struct Fixer {
    rules: Rules,
    inspector: HostInspector,
    options: FixOptions,
}

impl Fixer {
    fn new(unsafe_fixes: bool) -> Fixer {
        Fixer {
            rules: Rules::new(&Config::default(), &[], &[]).unwrap(),
            inspector: HostInspector::new("/nonexistent-root".into()),
            options: FixOptions {
                unsafe_fixes,
                ..FixOptions::default()
            },
        }
    }

    fn fix(&self, unit: &capcheck::load::Unit) -> capcheck::fix::UnitFix {
        let checks = CheckOptions {
            platform: None,
            binaries: &self.inspector,
            min_risk: Risk::Medium,
        };
        fix_unit(unit, &self.rules, &checks, &self.options)
    }
}

/// Every service file of the corpus (not the oracle's).
fn corpus_services(shared: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(shared.join("corpus"))
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file() && e.path().extension().is_some_and(|x| x == "service"))
        .filter(|e| !e.path().components().any(|c| c.as_os_str() == "oracle"))
        .map(|e| e.path().to_path_buf())
        .collect()
}

/// Copies a service and its own drop-in directory into `dir`, writable;
/// returns the copy's path.
fn copy_service(service: &Path, dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let name = service.file_name().unwrap();
    let path = dir.join(name);
    std::fs::copy(service, &path).unwrap();
    // The corpus is read-only, and capcheck refuses read-only files.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let dropins = service.with_file_name(format!("{}.d", name.to_string_lossy()));
    if dropins.is_dir() {
        let copy = dir.join(dropins.file_name().unwrap());
        std::fs::create_dir_all(&copy).unwrap();
        for d in std::fs::read_dir(&dropins).unwrap().flatten() {
            std::fs::copy(d.path(), copy.join(d.file_name())).unwrap();
        }
    }
    path
}

fn fix_corpus(test: &str, unsafe_fixes: bool) {
    let Some(shared) = common::shared_dir() else {
        return common::skip(test, "needs ../shared/corpus beside this checkout");
    };
    if !common::have_systemd_analyze() {
        return common::skip(test, "needs systemd-analyze");
    }
    let fixer = Fixer::new(unsafe_fixes);
    let host = TargetSystem::of(None);
    let tmp = tempfile::tempdir().unwrap();
    let mut tally = Tally::default();
    let mut failures = Vec::new();
    let files = corpus_services(&shared);
    for (i, entry) in files.iter().enumerate() {
        tally.services += 1;
        let dir = tmp.path().join(format!("u{i}"));
        let path = copy_service(entry, &dir);
        let unit_arg = path.to_str().unwrap();
        let before = common::systemd_view(&[unit_arg]);
        if !before.loaded {
            tally.not_loaded += 1;
            continue;
        }
        let rows_before = common::security_rows(&[unit_arg]);
        let verify_before = verify_messages(&path, &dir);
        let (targets, _) = resolve(&[path.display().to_string()], &common::host_scope());
        let fix = fixer.fix(&targets[0].load());
        let label = entry.strip_prefix(&shared).unwrap().display().to_string();
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
            problems.extend(unlike_the_plan(&after, plan));
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
    assert!(t.fixed > if unsafe_fixes { 50 } else { 5 }, "{}", t.fixed);
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

/// The fixer with each release: every corpus service fixed as that release
/// reads it (the unit carries the release, so the fixer's read-back and its
/// guard use it too), then read by that release's systemd-analyze: what was
/// fixed still loads, systemd reads it as capcheck does and as planned, and
/// nothing widened (the bounding set and what the main process holds at
/// exec only shrink, no_new_privs stays on).
fn fixes_hold_as_every_release(test: &str, unsafe_fixes: bool) {
    let Some(shared) = common::shared_dir() else {
        return common::skip(test, "../shared/corpus is not beside this checkout");
    };
    let oracles = oracle::oracles_for(test);
    let fixer = Fixer::new(unsafe_fixes);
    let services = corpus_services(&shared);
    let mut failures = Vec::new();
    for oracle in &oracles {
        // Buckets of services with distinct names: each is one directory,
        // read by one systemd-analyze call.
        let tmp = tempfile::tempdir().unwrap();
        let mut buckets: Vec<HashSet<std::ffi::OsString>> = Vec::new();
        let mut copies: Vec<PathBuf> = Vec::new();
        for service in &services {
            let name = service.file_name().unwrap().to_os_string();
            let bucket = match buckets.iter().position(|b| !b.contains(&name)) {
                Some(b) => b,
                None => {
                    buckets.push(HashSet::new());
                    buckets.len() - 1
                }
            };
            buckets[bucket].insert(name);
            copies.push(copy_service(
                service,
                &tmp.path().join(format!("b{bucket}")),
            ));
        }
        let read = |copies: &[PathBuf]| -> BTreeMap<PathBuf, Option<common::SystemdView>> {
            let mut by_dir: BTreeMap<PathBuf, Vec<PathBuf>> = BTreeMap::new();
            for c in copies {
                by_dir
                    .entry(c.parent().unwrap().to_path_buf())
                    .or_default()
                    .push(c.clone());
            }
            let mut out = BTreeMap::new();
            for files in by_dir.values() {
                let views = oracle.views(files);
                for f in files {
                    let unit = common::model_as(f, oracle.semantics).unit;
                    out.insert(f.clone(), views.get(&unit).cloned());
                }
            }
            out
        };
        let before = read(&copies);
        let scope = Scope::with_semantics(None, false, oracle.semantics);
        let mut plans = BTreeMap::new();
        for copy in &copies {
            let (targets, _) = resolve(&[copy.display().to_string()], &scope);
            let unit = targets[0].load();
            assert_eq!(unit.semantics, oracle.semantics);
            let fix = fixer.fix(&unit);
            if let Some(e) = &fix.error {
                failures.push(format!("{} as {}: {e}", copy.display(), oracle.semantics));
                continue;
            }
            if fix.changes.is_empty() {
                continue;
            }
            for c in &fix.changes {
                write_atomic(&c.path, c.before.as_deref(), &c.after, None).unwrap();
            }
            plans.insert(copy.clone(), fix.target.clone());
        }
        let after = read(&copies);
        for (copy, plan) in &plans {
            let label = format!("{} as {}", copy.display(), oracle.semantics);
            let (Some(Some(was)), Some(now)) = (before.get(copy), after.get(copy)) else {
                continue; // it did not load before the fix
            };
            let Some(now) = now else {
                failures.push(format!("{label}: does not load any more"));
                continue;
            };
            let ours = common::capcheck_view(&common::model_as(copy, oracle.semantics));
            let mut problems = widenings(was, now, &BTreeMap::new(), &BTreeMap::new());
            if !oracle::agree(&ours, Some(now)) {
                problems.push(format!("systemd reads {now:?}, capcheck {ours:?}"));
            }
            if let Some(plan) = plan {
                problems.extend(unlike_the_plan(now, plan));
            }
            if !problems.is_empty() {
                failures.push(format!("{label}: {}", problems.join("; ")));
            }
        }
        println!(
            "{test}: {}: {} of {} corpus services fixed; each loads, reads as capcheck and as planned, and widens nothing",
            oracle.semantics,
            plans.len(),
            services.len()
        );
        let least = if unsafe_fixes { 50 } else { 5 };
        assert!(
            plans.len() > least,
            "{} fixes as {}",
            plans.len(),
            oracle.semantics
        );
    }
    oracle::assert_none(&failures);
}

#[test]
fn default_fixes_hold_as_every_release() {
    fixes_hold_as_every_release("default_fixes_hold_as_every_release", false);
}

#[test]
fn unsafe_fixes_hold_as_every_release() {
    fixes_hold_as_every_release("unsafe_fixes_hold_as_every_release", true);
}
