//! `capcheck lint --root` of a whole system, as each release's systemd
//! loads it: the image of every oracle release (this host for 252, the
//! chroots of tests/oracles/build.sh for 254, 257 and 262). Every service
//! capcheck checks loads, or not, as that release's systemd says
//! (`systemd-analyze security --offline=true NAME…` in the image), and
//! reads as the same user, group and capabilities; no unit that systemd
//! loads gets CAP001; no bare template is checked; the instances the image
//! has (`user@0.service.d`, `getty.target.wants/getty@tty1.service`) are
//! checked with their instance; and the output says how templates were
//! checked. Prints the findings per check (docs/corpus-findings.md).

mod common;

use capcheck::load::instances::TemplateCheck;
use capcheck::load::targets::{resolve, Scope};
use capcheck::model::privileges;
use common::oracle::{self, Oracle};
use serde_json::Value;
use std::collections::BTreeMap;

/// `capcheck lint --root IMAGE --format json`: the findings, and what it
/// said on standard error.
fn lint_image(oracle: &Oracle) -> (Vec<Value>, String) {
    let image = oracle.image();
    let out = common::capcheck_in(
        &std::env::temp_dir(),
        &[
            "lint",
            "--isolated",
            "--exit-zero",
            "--format",
            "json",
            "--root",
            &image.display().to_string(),
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{}: {stderr}", image.display());
    let findings: Vec<Value> = serde_json::from_slice(&out.stdout).expect("a JSON array");
    (findings, stderr)
}

#[test]
fn lint_root_of_each_image_loads_what_its_systemd_loads() {
    let test = "lint_root_of_each_image_loads_what_its_systemd_loads";
    if let Some(why) = common::missing_programs(&["systemd-analyze"]) {
        return common::skip(test, &why);
    }
    let oracles = oracle::oracles_for(test);
    let mut failures = Vec::new();
    for oracle in &oracles {
        let image = oracle.image();
        let release = oracle.semantics;
        let (findings, stderr) = lint_image(oracle);

        // The units a whole-system lint checks, as the binary found them.
        let scope = Scope::new(Some(image.clone()), false);
        assert_eq!(scope.semantics, release, "{}: its release", image.display());
        let (targets, errors) = resolve(&[], &scope);
        assert!(errors.is_empty(), "{}: {errors:?}", image.display());
        let bare: Vec<&str> = targets
            .iter()
            .map(|t| t.name.name.as_str())
            .filter(|n| n.contains("@."))
            .collect();
        assert!(bare.is_empty(), "{release}: bare templates {bare:?}");
        let existing = |name: &str| {
            targets
                .iter()
                .any(|t| t.name.name == name && t.template == Some(TemplateCheck::Existing))
        };
        assert!(existing("user@0.service"), "{release}: user@0.service");
        if image
            .join("etc/systemd/system/getty.target.wants/getty@tty1.service")
            .is_symlink()
        {
            assert!(existing("getty@tty1.service"), "{release}: getty@tty1");
        }
        assert!(
            stderr.contains("systemd never loads a bare template; checked ")
                && stderr.contains("user@0.service"),
            "{release}: the note on templates: {stderr}"
        );
        let finding_units: Vec<&str> = findings
            .iter()
            .map(|f| f["unit"].as_str().unwrap())
            .collect();
        assert!(
            !finding_units.iter().any(|u| u.contains("@.")),
            "{release}: a finding on a bare template"
        );

        // systemd's verdict on every service, by name, in its own system.
        let services: Vec<_> = targets
            .iter()
            .filter(|t| t.name.name.ends_with(".service"))
            .collect();
        let names: Vec<String> = services.iter().map(|t| t.name.name.clone()).collect();
        let views = oracle.views_by_name(&names);
        let refused_here: Vec<&str> = findings
            .iter()
            .filter(|f| f["code"] == "CAP001")
            .map(|f| f["unit"].as_str().unwrap())
            .collect();
        let mut loaded = 0;
        for target in &services {
            let model = privileges(&target.load());
            let ours = common::capcheck_view(&model);
            let theirs = views.get(&model.unit);
            loaded += usize::from(theirs.is_some());
            if theirs.is_some() && refused_here.contains(&model.unit.as_str()) {
                failures.push(format!(
                    "{release}: CAP001 on {}, which systemd loads",
                    model.unit
                ));
            }
            if !oracle::agree(&ours, theirs) {
                failures.push(format!(
                    "{release} {}:\n  capcheck {ours:?}\n  systemd  {theirs:?}",
                    target.name
                ));
            }
        }
        assert!(
            loaded * 10 >= services.len() * 9,
            "{release}: systemd loaded only {loaded} of {} services: did systemd-analyze stop early?",
            services.len()
        );
        let non_service_refusals: Vec<&&str> = refused_here
            .iter()
            .filter(|u| !u.ends_with(".service"))
            .collect();
        assert!(
            non_service_refusals.is_empty(),
            "{release}: CAP001 on {non_service_refusals:?}: compare them with systemd-analyze verify"
        );

        let mut per_check: BTreeMap<&str, usize> = BTreeMap::new();
        for f in &findings {
            *per_check.entry(f["code"].as_str().unwrap()).or_default() += 1;
        }
        println!(
            "{release} ({}): {} units, {} services ({loaded} loaded by systemd), findings {per_check:?}",
            oracle.version,
            targets.len(),
            services.len()
        );
    }
    oracle::assert_none(&failures);
}
