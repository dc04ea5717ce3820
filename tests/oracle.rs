//! capcheck's model against systemd's own: for every service in
//! ../shared/corpus/oracle/effective.jsonl (what `systemd-analyze security
//! --offline` made of it), the user, dynamic user, group, bounding set,
//! ambient set, NoNewPrivileges and SecureBits must match.

mod common;

use capcheck::caps::CapSet;
use capcheck::model::values::secure_bit_names;
use serde_json::Value;

/// Units where capcheck knowingly differs from the oracle, with the reason.
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[(
    "debian/systemd/usr/lib/systemd/user/systemd-exit.service",
    "the oracle row says loaded=false, but systemd-analyze 252 on this machine dumps \
     'Unit Load State: loaded' for it (a Type=oneshot service without ExecStart= is valid \
     with SuccessAction=); capcheck follows systemd",
)];

#[test]
fn corpus_services_match_systemd() {
    let Some(shared) = common::shared_dir() else {
        return common::skip(
            "corpus_services_match_systemd",
            "needs ../shared/corpus beside this checkout",
        );
    };
    let corpus = shared.join("corpus");
    let oracle = std::fs::read_to_string(corpus.join("oracle/effective.jsonl")).expect("oracle");
    let mut compared = 0;
    let mut mismatches = Vec::new();
    for line in oracle.lines() {
        let row: Value = serde_json::from_str(line).expect("jsonl row");
        let rel = row["path"].as_str().expect("path");
        let model = common::model_of(&corpus.join(rel));
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
