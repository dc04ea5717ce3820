//! capcheck's model against systemd's own: for every service in
//! ../shared/corpus/oracle/effective.jsonl (what systemd-analyze 252 made
//! of it), the user, dynamic user, group, bounding set, ambient set,
//! NoNewPrivileges and SecureBits must match; and the same services, and
//! the real services of trixie's and sid's packages, read by each release's
//! systemd-analyze (tests/common/oracle.rs) and by capcheck as that release.

mod common;

use capcheck::caps::CapSet;
use capcheck::checks::binary::HostInspector;
use capcheck::checks::CheckOptions;
use capcheck::config::Config;
use capcheck::lint::Rules;
use capcheck::load::targets::{resolve, Scope};
use capcheck::model::values::secure_bit_names;
use capcheck::semantics::{KnownIn, Semantics};
use common::oracle::{self, Oracle};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Units where capcheck knowingly differs from the oracle, with the reason.
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[(
    "debian/systemd/usr/lib/systemd/user/systemd-exit.service",
    "the oracle row says loaded=false, but systemd-analyze 252 on this machine dumps \
     'Unit Load State: loaded' for it (a Type=oneshot service without ExecStart= is valid \
     with SuccessAction=); capcheck follows systemd",
)];

fn corpus_rows() -> Option<(PathBuf, Vec<Value>)> {
    let corpus = common::shared_dir()?.join("corpus");
    let oracle = std::fs::read_to_string(corpus.join("oracle/effective.jsonl")).expect("oracle");
    let rows = oracle
        .lines()
        .map(|line| serde_json::from_str(line).expect("jsonl row"))
        .collect();
    Some((corpus, rows))
}

#[test]
fn corpus_services_match_systemd() {
    let Some((corpus, rows)) = corpus_rows() else {
        return common::skip(
            "corpus_services_match_systemd",
            "needs ../shared/corpus beside this checkout",
        );
    };
    let mut compared = 0;
    let mut mismatches = Vec::new();
    for row in &rows {
        let rel = row["path"].as_str().expect("path");
        // The oracle is 252's.
        let model = common::model_as(&corpus.join(rel), Semantics::OLDEST);
        let known = KNOWN_DIFFERENCES.iter().find(|(p, _)| *p == rel);
        let mut diffs = Vec::new();
        let mut check = |field: &str, ours: Value| {
            if row[field] != ours {
                diffs.push(format!("{field}: systemd {} capcheck {}", row[field], ours));
            }
        };
        check("unit", Value::from(model.unit.clone()));
        check("loaded", Value::from(model.loaded));
        if model.loaded && row["loaded"] == Value::Bool(true) {
            let bounding = model.capability_bounding_set.value;
            let bounding = if bounding == CapSet::ALL {
                Value::from("ALL")
            } else {
                serde_json::to_value(bounding).unwrap()
            };
            check("user", serde_json::to_value(&model.user.value).unwrap());
            check("group", serde_json::to_value(&model.group.value).unwrap());
            check("dynamic_user", Value::from(model.dynamic_user.value));
            check("capability_bounding_set", bounding);
            check(
                "ambient_capabilities",
                serde_json::to_value(model.ambient_capabilities.value).unwrap(),
            );
            check("no_new_privileges", Value::from(model.no_new_privileges()));
            check(
                "secure_bits",
                serde_json::to_value(secure_bit_names(model.secure_bits.value)).unwrap(),
            );
        }
        compared += 1;
        match (diffs.is_empty(), known) {
            (true, Some((_, why))) => mismatches.push(format!(
                "{rel}: listed as a known difference ({why}) but now agrees"
            )),
            (false, None) => mismatches.push(format!("{rel}: {}", diffs.join("; "))),
            _ => {}
        }
    }
    println!(
        "compared {compared} services with systemd's oracle, {} known differences",
        KNOWN_DIFFERENCES.len()
    );
    assert!(compared > 300, "the oracle has {compared} rows");
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

/// Files grouped by directory (the units of one directory share a search
/// path, as they do in capcheck).
fn by_directory(files: impl IntoIterator<Item = PathBuf>) -> Vec<Vec<PathBuf>> {
    let mut groups: std::collections::BTreeMap<PathBuf, Vec<PathBuf>> = Default::default();
    for file in files {
        let dir = file.parent().expect("a directory").to_path_buf();
        groups.entry(dir).or_default().push(file);
    }
    groups.into_values().collect()
}

/// Compares capcheck, reading as `oracle`'s release, with that release on
/// every unit of `groups`; returns how many agree and the disagreements.
fn compare(oracle: &Oracle, groups: &[Vec<PathBuf>], base: &Path) -> (usize, Vec<String>) {
    let mut agreed = 0;
    let mut failures = Vec::new();
    for files in groups {
        let views = oracle.views(files);
        for file in files {
            let model = common::model_as(file, oracle.semantics);
            let ours = common::capcheck_view(&model);
            let theirs = views.get(&model.unit);
            if oracle::agree(&ours, theirs) {
                agreed += 1;
            } else {
                failures.push(format!(
                    "{} as {}:\n  capcheck {ours:?}\n  systemd  {theirs:?}",
                    file.strip_prefix(base).unwrap_or(file).display(),
                    oracle.semantics
                ));
            }
        }
    }
    (agreed, failures)
}

#[test]
fn corpus_services_match_every_release() {
    let test = "corpus_services_match_every_release";
    let Some((corpus, rows)) = corpus_rows() else {
        return common::skip(test, "../shared/corpus is not beside this checkout");
    };
    let oracles = oracle::oracles_for(test);
    let groups = by_directory(
        rows.iter()
            .map(|row| corpus.join(row["path"].as_str().expect("path"))),
    );
    let mut failures = Vec::new();
    for oracle in &oracles {
        let (agreed, mut failed) = compare(oracle, &groups, &corpus);
        println!(
            "{}: {agreed}/{} corpus services agree [{}]",
            oracle.semantics,
            rows.len(),
            oracle.version
        );
        failures.append(&mut failed);
    }
    oracle::assert_none(&failures);
}

/// The trees with real units: trixie's (257) and sid's (262).
fn real_unit_trees(oracles: &[Oracle]) -> Vec<&Oracle> {
    oracles
        .iter()
        .filter(|o| o.tree.as_ref().is_some_and(|t| t.join("units").is_dir()))
        .filter(|o| !oracle::real_services(o.tree.as_ref().unwrap()).is_empty())
        .collect()
}

#[test]
fn real_services_match_every_release() {
    let test = "real_services_match_every_release";
    let oracles = oracle::oracles_for(test);
    let suites = real_unit_trees(&oracles);
    let mut failures = Vec::new();
    for suite in &suites {
        let tree = suite.tree.as_ref().unwrap();
        let groups = oracle::real_services(tree);
        let count: usize = groups.iter().map(Vec::len).sum();
        assert!(
            count >= 300,
            "{} services in {}'s packages",
            count,
            suite.version
        );
        for oracle in &oracles {
            let (agreed, mut failed) = compare(oracle, &groups, tree);
            println!(
                "{}: {agreed}/{count} real services of {}'s packages agree",
                oracle.semantics, suite.version
            );
            failures.append(&mut failed);
        }
    }
    oracle::assert_none(&failures);
}

/// The section and key of line `line` (1-based) of `text`.
fn key_at(text: &str, line: usize) -> Option<(String, String)> {
    let lines: Vec<&str> = text.lines().collect();
    let key = lines.get(line - 1)?.split_once('=')?.0.trim().to_string();
    let section = lines[..line]
        .iter()
        .rev()
        .find_map(|l| l.trim().strip_prefix('[')?.strip_suffix(']'))?
        .to_string();
    Some((section, key))
}

/// Linted as each release, the real services of trixie and sid get no
/// CAP002 (ignored line) or CAP202 (misspelled directive) for a key the
/// release itself reads; and the keys a release does not read are found
/// (sid's services use keys 252 does not know).
#[test]
fn real_services_lint_no_valid_directive_as_ignored() {
    let test = "real_services_lint_no_valid_directive_as_ignored";
    let oracles = oracle::oracles_for(test);
    let rules = Rules::new(&Config::default(), &["CAP002".into(), "CAP202".into()], &[]).unwrap();
    let inspector = HostInspector::new("/nonexistent-root".into());
    let checks = CheckOptions {
        platform: None,
        binaries: &inspector,
        min_risk: capcheck::caps::Risk::Medium,
    };
    let mut wrong = Vec::new();
    for suite in real_unit_trees(&oracles) {
        let files: Vec<String> = oracle::real_services(suite.tree.as_ref().unwrap())
            .concat()
            .iter()
            .map(|f| f.display().to_string())
            .collect();
        for oracle in &oracles {
            let valid = oracle.configuration_items();
            let scope = Scope::with_semantics(None, false, oracle.semantics);
            let (targets, _) = resolve(&files, &scope);
            let mut reported = 0;
            for target in &targets {
                for finding in rules.lint(&target.load(), &checks) {
                    let text = std::fs::read_to_string(&finding.path).unwrap_or_default();
                    let Some(item) = key_at(&text, finding.position.line as usize) else {
                        continue;
                    };
                    reported += 1;
                    if valid.contains(&item) {
                        wrong.push(format!(
                            "{}:{}: {} for [{}] {}=, which {} reads",
                            finding.path.display(),
                            finding.position.line,
                            finding.code,
                            item.0,
                            item.1,
                            oracle.semantics
                        ));
                    }
                }
            }
            println!(
                "{}: {reported} CAP002/CAP202 findings on {} services of {}, none for a key it reads",
                oracle.semantics,
                files.len(),
                suite.version
            );
            if oracle.semantics == Semantics::OLDEST && suite.semantics == Semantics::NEWEST {
                assert!(reported > 0, "sid's keys unknown to 252 are reported");
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// rules/directives.toml holds, for each measured release, exactly the
/// keys its `systemd --dump-configuration-items` lists.
#[test]
fn directive_list_matches_every_release() {
    let test = "directive_list_matches_every_release";
    let oracles = oracle::oracles_for(test);
    let table: std::collections::BTreeMap<String, std::collections::BTreeMap<String, KnownIn>> =
        toml_edit::de::from_str(include_str!("../rules/directives.toml")).unwrap();
    for oracle in &oracles {
        let listed: std::collections::BTreeSet<(String, String)> = table
            .iter()
            .flat_map(|(section, keys)| keys.keys().map(move |k| (section.clone(), k.clone())))
            .filter(|(section, key)| oracle.semantics.knows_directive(section, key))
            .collect();
        let measured = oracle.configuration_items();
        let missing: Vec<_> = measured.difference(&listed).collect();
        let extra: Vec<_> = listed.difference(&measured).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{}: not listed {missing:?}, listed but unknown {extra:?} (python3 tests/oracles/directives.py > rules/directives.toml)",
            oracle.semantics
        );
    }
}
