//! The real-systemd lane: tests/services/run.sh boots systemd 252 as PID 1
//! in systemd-nspawn over a Debian 12 tree with real daemons
//! (tests/services/daemons.tsv) and probes each one as shipped, after
//! `capcheck fix --write` and after `capcheck fix --write --unsafe-fixes`
//! (docs/services.md). This test runs it with the capcheck under test and
//! asserts that the lane is sound (every daemon works as shipped, every
//! probe ran) and that the default fix breaks no daemon. What the unsafe
//! fixes break is reported, not asserted.
//!
//! Needs root, mmdebstrap, systemd-nspawn (systemd-container) and python3;
//! CI installs them, elsewhere the test prints that it skips. The Debian
//! tree is cached in /var/cache/capcheck/services (CAPCHECK_SERVICES_CACHE);
//! the results stay in target/tmp/services/. CAPCHECK_SERVICES=skip skips
//! the lane (about 15 minutes) on purpose.

mod common;

use common::lane;
use std::collections::{BTreeMap, BTreeSet};

const TEST: &str = "real_daemons_work_as_shipped_and_after_fix";

#[test]
fn real_daemons_work_as_shipped_and_after_fix() {
    if lane::skipped(TEST, &["mmdebstrap", "systemd-nspawn", "python3"]) {
        return;
    }
    let out = lane::out_dir("services");
    lane::build("build-rootfs.sh", &out);
    lane::run_lane(&out, &["--modes", "shipped,default,unsafe"]);

    // One record per daemon and mode.
    let mut results: BTreeMap<(String, String), serde_json::Value> = BTreeMap::new();
    for r in lane::results(&out) {
        let key = (
            r["daemon"].as_str().unwrap().to_string(),
            r["mode"].as_str().unwrap().to_string(),
        );
        results.insert(key, r);
    }
    let modes = ["shipped", "default", "unsafe"];
    let daemons: Vec<String> = lane::daemons().into_iter().map(|d| d.name).collect();
    let absent: Vec<String> = daemons
        .iter()
        .flat_map(|d| modes.iter().map(move |m| (d, m)))
        .filter(|(d, m)| !results.contains_key(&(d.to_string(), m.to_string())))
        .map(|(d, m)| format!("{d}/{m}"))
        .collect();
    assert!(absent.is_empty(), "no result for {absent:?}");

    // The probe ran for every daemon in every mode (no lane error, a verdict).
    let unprobed: Vec<String> = results
        .iter()
        .filter(|(_, r)| {
            r.get("error").is_some_and(|e| !e.is_null()) || !r["works_after"].is_boolean()
        })
        .map(|((d, m), _)| format!("{d}/{m}"))
        .collect();
    assert!(
        unprobed.is_empty(),
        "the probe did not run for {unprobed:?}"
    );

    // The lane is sound: every daemon works as shipped, in both boots.
    let not_working: BTreeSet<String> = results
        .iter()
        .filter(|((_, m), r)| {
            (m == "shipped" && r["works_after"] != true) || r["works_before"] != true
        })
        .map(|((d, m), _)| format!("{d}/{m}"))
        .collect();
    assert!(
        not_working.is_empty(),
        "daemons that do not work as shipped (the lane is broken, not capcheck): {not_working:?}"
    );

    // The default fix breaks nothing that worked.
    let broken: Vec<&str> = daemons
        .iter()
        .filter(|d| {
            let r = &results[&(d.to_string(), "default".to_string())];
            r["works_before"] == true && r["works_after"] != true
        })
        .map(String::as_str)
        .collect();
    assert!(
        broken.is_empty(),
        "`capcheck fix --write` broke {} of {} daemons: {broken:?} (see {}/report.md)",
        broken.len(),
        daemons.len(),
        out.display()
    );
}
