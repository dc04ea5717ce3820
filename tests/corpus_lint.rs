//! `capcheck lint` over every unit of ../shared/corpus: no crash, and no
//! finding on a line that does not say what its message claims.

mod common;

use capcheck::caps::Risk;
use capcheck::checks::binary::HostInspector;
use capcheck::checks::CheckOptions;
use capcheck::config::Config;
use capcheck::lint::Rules;
use capcheck::load::targets::resolve;

/// The settings the line under a finding of each check must assign (a
/// section header also counts for unit-wide findings).
fn expected_keys(code: &str) -> Option<&'static [&'static str]> {
    Some(match code {
        "CAP101" => &["User", "["],
        "CAP102" => &["User"],
        "CAP201" | "CAP204" | "CAP302" => &["CapabilityBoundingSet", "AmbientCapabilities"],
        "CAP301" => &["CapabilityBoundingSet", "["],
        "CAP303" | "CAP304" | "CAP305" => &["AmbientCapabilities"],
        "CAP306" => &["NoNewPrivileges", "["],
        "CAP103" | "CAP401" | "CAP402" | "CAP403" => &[
            "ExecStart",
            "ExecStartPre",
            "ExecStartPost",
            "ExecReload",
            "ExecStop",
            "ExecStopPost",
            "ExecCondition",
        ],
        _ => return None,
    })
}

#[test]
fn corpus_lints_without_crash_or_misplaced_finding() {
    let Some(shared) = common::shared_dir() else {
        return common::skip(
            "corpus_lints_without_crash_or_misplaced_finding",
            "needs ../shared/corpus beside this checkout",
        );
    };
    let rules = Rules::new(&Config::default(), &[], &[]).unwrap();
    let inspector = HostInspector::new("/nonexistent-root".into());
    let options = CheckOptions {
        platform: None,
        binaries: &inspector,
        min_risk: Risk::Medium,
    };
    let (targets, errors) = resolve(
        &[shared.join("corpus").display().to_string()],
        &common::host_scope(),
    );
    assert!(errors.is_empty(), "{errors:?}");
    let mut findings = 0;
    let mut misplaced = Vec::new();
    for target in &targets {
        for f in rules.lint(&target.load(), &options) {
            findings += 1;
            let text = f.source.as_deref().unwrap();
            let line = text[f.span.clone()].trim_start();
            let ok = match expected_keys(f.code) {
                Some(keys) => keys.iter().any(|k| {
                    line.starts_with(&format!("{k}="))
                        || line.starts_with(&format!("{k} "))
                        || (*k == "[" && line.starts_with('['))
                }),
                None => true,
            };
            let names_line = f.position.line >= 1 && f.span.end <= text.len();
            if !ok || !names_line {
                misplaced.push(format!(
                    "{}:{}: {} {} -- line: {line}",
                    f.path.display(),
                    f.position.line,
                    f.code,
                    f.message
                ));
            }
        }
    }
    println!("{} units linted, {findings} findings", targets.len());
    assert!(targets.len() > 500);
    assert!(misplaced.is_empty(), "{}", misplaced.join("\n"));
}
