//! A unit systemd generates, on a real systemd: Debian 12's default MTA,
//! exim4, ships only /etc/init.d/exim4, and systemd runs it through the
//! unit systemd-sysv-generator writes into /run/systemd/generator.late at
//! each boot and daemon-reload (Type=forking). tests/services/run.sh
//! --modes exim4 installs it in a layer of its own over the lane's tree
//! (build-exim4.sh: it replaces postfix), records it in qemu, then tries
//! and fixes it under systemd 252 in systemd-nspawn and reboots that
//! container (docs/services.md). Asserted here:
//!
//! - shipped: exim4 delivers a mail sent over SMTP; `capcheck lint` names
//!   /etc/init.d/exim4 in every finding;
//! - record: `capcheck record --unit exim4.service` follows the daemon the
//!   init script leaves (still running at the timeout), with the probe
//!   passing, and sees it bind port 25 and switch users;
//! - try: `capcheck try --profile` of that recording works (exit 0, exim4
//!   delivers under the trial's bounding set), and `try --rollback` puts
//!   the unit back as shipped;
//! - fix: `capcheck fix --write --profile` leaves the generated unit alone,
//!   writes /etc/systemd/system/exim4.service.d/50-capcheck.conf and names
//!   the init script; exim4 delivers with the recorded bounding set, also
//!   after another `daemon-reload` (which writes the generated unit anew);
//! - reboot: exim4 started by the boot with the fix in force, delivers,
//!   and `capcheck fix` has nothing left to do.
//!
//! Needs root, mmdebstrap, python3, systemd-nspawn, qemu-system-x86_64,
//! mkfs.ext4 and debugfs (CI installs them; elsewhere the test prints that
//! it skips). Results in target/tmp/services-exim4/. CAPCHECK_SERVICES=skip
//! skips it on purpose.

mod common;

use common::lane;
use serde_json::Value;
use std::collections::BTreeMap;

const TEST: &str = "exim4_generated_by_systemd_is_recorded_tried_and_fixed_for_good";

const DROPIN: &str = "/etc/systemd/system/exim4.service.d/50-capcheck.conf";

#[test]
fn exim4_generated_by_systemd_is_recorded_tried_and_fixed_for_good() {
    let tools = [
        "mmdebstrap",
        "python3",
        "systemd-nspawn",
        "qemu-system-x86_64",
        "mkfs.ext4",
        "debugfs",
    ];
    if lane::skipped(TEST, &tools) {
        return;
    }
    let out = lane::out_dir("services-exim4");
    lane::build("build-exim4.sh", &out);
    lane::run_lane(&out, &["--modes", "exim4"]);

    let steps: BTreeMap<String, Value> = lane::results(&out)
        .into_iter()
        .filter(|r| r["mode"] == "exim4")
        .map(|r| (r["step"].as_str().unwrap().to_string(), r))
        .collect();
    for step in [
        "shipped",
        "record",
        "try",
        "try-rollback",
        "fix",
        "fix-reloaded",
        "reboot",
    ] {
        let r = steps
            .get(step)
            .unwrap_or_else(|| panic!("no result for step {step}"));
        assert!(
            r["error"].is_null(),
            "{step}: {} (journal: {})",
            r["error"],
            r["journal"]
        );
        assert_eq!(
            r["works_after"], true,
            "{step}: exim4 does not deliver: {} {}\n{}",
            r["state_after"], r["probe_after"], r["journal"]
        );
        assert_eq!(
            r["source_path"], "/etc/init.d/exim4",
            "{step}: the unit systemd-sysv-generator writes"
        );
        assert_eq!(
            r["fragment_path"], "/run/systemd/generator.late/exim4.service",
            "{step}"
        );
    }

    // lint names the init script in every finding.
    let lint: Vec<Value> =
        serde_json::from_str(steps["shipped"]["lint"].as_str().unwrap()).unwrap();
    assert!(!lint.is_empty(), "exim4 runs as root: findings expected");
    for finding in &lint {
        let message = finding["message"].as_str().unwrap();
        assert!(
            message.ends_with("(generated at boot from /etc/init.d/exim4)"),
            "{message}"
        );
        assert_eq!(
            finding["path"], "/run/systemd/generator.late/exim4.service",
            "{finding}"
        );
    }

    // The recording followed the daemon the script left.
    let record = &steps["record"];
    assert_eq!(record["record_exit"], 0, "{}", record["record_stderr"]);
    let recording = &record["recording"];
    assert_eq!(recording["succeeded"], true, "{recording}");
    assert_eq!(recording["complete"], true);
    assert_eq!(recording["probe-passed"], true);
    let outcome = recording["outcome"].as_str().unwrap();
    assert!(
        outcome.contains("its processes still running when stopped"),
        "the daemon was not followed to the timeout: {outcome}"
    );
    let needed: Vec<&str> = record["profile_needed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    for cap in ["CAP_NET_BIND_SERVICE", "CAP_SETUID", "CAP_SETGID"] {
        assert!(needed.contains(&cap), "{cap} not recorded: {needed:?}");
    }
    let mut needed_words: Vec<String> = needed.iter().map(|c| c.to_string()).collect();
    needed_words.sort();

    // try of the recording works, and rolls back.
    let tried = &steps["try"];
    assert_eq!(tried["try_exit"], 0, "{}", tried["try_output"]);
    assert_eq!(lane::cap_words(&tried["bounding_after"]), needed_words);
    assert!(tried["dropin_paths"]
        .as_str()
        .unwrap()
        .contains("/run/systemd/system/exim4.service.d/99-capcheck-try.conf"));
    let back = &steps["try-rollback"];
    assert_eq!(back["try_exit"], 0, "{}", back["try_output"]);
    assert_eq!(back["dropin_paths"], "", "nothing of the trial in force");
    assert_eq!(
        lane::cap_words(&back["bounding_after"]).len(),
        lane::cap_words(&steps["shipped"]["bounding_after"]).len()
    );

    // fix writes a drop-in, never the generated unit, and names the script.
    let fixed = &steps["fix"];
    assert_eq!(fixed["fix_exit"], 0, "{}", fixed["fix_stderr"]);
    assert_eq!(
        fixed["generated_sha256"], fixed["generated_sha256_before"],
        "the generated unit was changed"
    );
    let diff = fixed["diff"].as_str().unwrap();
    let written: Vec<&str> = diff
        .lines()
        .filter_map(|l| l.strip_prefix("+++ "))
        .map(|l| l.split('\t').next().unwrap())
        .collect();
    assert_eq!(written, [DROPIN], "{diff}");
    let report: Vec<Value> = serde_json::from_str(fixed["fix"].as_str().unwrap()).unwrap();
    let notes = report[0]["notes"].to_string();
    assert!(
        notes.contains(
            "written by a systemd generator at each boot and daemon-reload, from /etc/init.d/exim4"
        ),
        "{notes}"
    );
    for step in ["fix", "fix-reloaded", "reboot"] {
        let r = &steps[step];
        assert_eq!(
            lane::cap_words(&r["bounding_after"]),
            needed_words,
            "{step}: the fix's bounding set"
        );
        assert!(
            r["dropin_paths"].as_str().unwrap().contains(DROPIN),
            "{step}: {}",
            r["dropin_paths"]
        );
    }
    let reboot = &steps["reboot"];
    assert!(
        reboot["fix_after"]
            .as_str()
            .unwrap()
            .contains("Nothing to fix"),
        "{}",
        reboot["fix_after"]
    );
}
