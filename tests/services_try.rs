//! `capcheck try` on a real systemd: tests/services/run.sh --modes try
//! boots systemd 252 as PID 1 in systemd-nspawn over the lane's Debian 12
//! tree (docs/services.md) and tries fixes of nginx, then boots the same
//! overlay again (a reboot). Asserted here, per scenario:
//!
//! - broken: a fix that breaks nginx (de-rooted to www-data by
//!   `--unsafe-fixes` and a profile recorded as www-data) is rolled back:
//!   exit non-zero, the journal excerpt in the output, nginx serves again
//!   with its original settings, no runtime drop-in and no marker left;
//! - killed: `try` killed with SIGKILL during the settle leaves the trial
//!   pending (drop-in and marker); `try --keep` with other arguments
//!   refuses to keep a fix that is not the one tried; `try --rollback`
//!   restores the original: no drop-in, no marker, the full bounding set,
//!   nginx serves;
//! - keep: `try --keep` of the default plan (confine) exits 0 and writes
//!   the persistent drop-in, the runtime one goes, nginx serves with the
//!   confined bounding set;
//! - reboot: after a reboot nginx (enabled) starts by itself, serves, and
//!   runs with the kept fix, and nothing of the trial is left.
//!
//! Needs root, mmdebstrap, systemd-nspawn and python3 (CI installs them;
//! elsewhere the test prints that it skips). Results in
//! target/tmp/services-try/. CAPCHECK_SERVICES=skip skips it on purpose.

mod common;

use common::lane;
use serde_json::Value;
use std::collections::BTreeMap;

const TEST: &str = "try_rolls_back_a_broken_fix_recovers_from_a_kill_and_keeps_a_working_one";

/// The caps of a drop-in's last `CapabilityBoundingSet=` line, sorted.
fn dropin_bounding(text: &str) -> Vec<String> {
    let line = text
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("CapabilityBoundingSet="))
        .unwrap_or_default();
    let mut caps: Vec<String> = line.split_whitespace().map(str::to_string).collect();
    caps.sort();
    caps
}

#[test]
fn try_rolls_back_a_broken_fix_recovers_from_a_kill_and_keeps_a_working_one() {
    if lane::skipped(TEST, &["mmdebstrap", "systemd-nspawn", "python3"]) {
        return;
    }
    let out = lane::out_dir("services-try");
    lane::build("build-rootfs.sh", &out);
    lane::run_lane(&out, &["--modes", "try"]);

    let by_scenario: BTreeMap<String, Value> = lane::results(&out)
        .into_iter()
        .filter(|r| r["mode"] == "try")
        .map(|r| (r["scenario"].as_str().unwrap().to_string(), r))
        .collect();
    for scenario in ["broken", "killed", "keep", "reboot"] {
        let r = by_scenario
            .get(scenario)
            .unwrap_or_else(|| panic!("no result for the try scenario {scenario}"));
        assert!(
            r.get("error").is_none_or(Value::is_null),
            "{scenario}: {}",
            r["error"]
        );
        // Whatever happened, nginx serves at the end of every scenario and
        // nothing of a trial is left.
        assert_eq!(
            r["works_after"], true,
            "{scenario}: nginx does not serve: {}",
            r["probe_after"]
        );
        assert_eq!(
            r["runtime_dropins_left"],
            serde_json::json!([]),
            "{scenario}"
        );
        assert_eq!(r["marker_left"], false, "{scenario}: a marker is left");
    }
    let full_set = lane::cap_words(&by_scenario["broken"]["bounding_before"]);
    assert_eq!(full_set.len(), 41, "nginx ships with every capability");

    // broken: rolled back, with the journal's reason.
    let broken = &by_scenario["broken"];
    assert_eq!(broken["works_before"], true);
    assert_eq!(broken["try_exit"], 1, "{}", broken["try_output"]);
    let output = broken["try_output"].as_str().unwrap();
    assert!(
        output.contains("User=www-data"),
        "the trial de-roots nginx:\n{output}"
    );
    assert!(
        output.contains("broken:") && output.contains("rolled back"),
        "{output}"
    );
    assert_eq!(
        broken["journal_in_output"], true,
        "no journal excerpt with nginx's own lines:\n{output}"
    );
    assert_eq!(lane::cap_words(&broken["bounding_after"]), full_set);
    assert_eq!(broken["user_after"], "");
    assert_eq!(broken["no_new_privileges_after"], "no");
    assert_eq!(broken["uid_after"], 0);
    assert_eq!(broken["dropin_paths"], "", "no drop-in is in force");

    // killed: pending after SIGKILL, recovered by --rollback.
    let killed = &by_scenario["killed"];
    assert_eq!(killed["killed_exit"], 137, "try was killed with SIGKILL");
    assert_eq!(
        killed["restarted_with_dropin"], true,
        "the kill came after the restart with the drop-in"
    );
    assert_ne!(
        lane::cap_words(&killed["bounding_during_trial"]),
        full_set,
        "nginx ran confined during the trial"
    );
    assert_eq!(killed["pending_dropin_after_kill"], true);
    assert_eq!(killed["pending_marker_after_kill"], true);
    assert_eq!(
        killed["keep_other_exit"], 2,
        "--keep with other arguments must refuse: {}",
        killed["keep_other_output"]
    );
    assert!(killed["keep_other_output"]
        .as_str()
        .unwrap()
        .contains("not the one on trial"));
    assert_eq!(killed["pending_after_keep_other"], true);
    assert_eq!(killed["try_exit"], 0, "{}", killed["try_output"]);
    assert!(killed["try_output"]
        .as_str()
        .unwrap()
        .contains("rolled back"));
    assert_eq!(
        lane::cap_words(&killed["bounding_after"]),
        full_set,
        "the original bounding set is back"
    );
    assert_eq!(killed["no_new_privileges_after"], "no");
    assert_eq!(killed["dropin_paths"], "");
    assert_eq!(killed["capcheck_left"], "", "no capcheck process is left");

    // keep: persistent, confined.
    let keep = &by_scenario["keep"];
    assert_eq!(keep["try_exit"], 0, "{}", keep["try_output"]);
    assert_eq!(keep["persistent_dropin_exists"], true);
    let kept = dropin_bounding(keep["persistent_dropin"].as_str().unwrap());
    assert!(
        !kept.is_empty() && kept.len() < full_set.len(),
        "a confined set: {kept:?}"
    );
    assert_eq!(
        lane::cap_words(&keep["bounding_after"]),
        kept,
        "nginx runs with the kept set"
    );
    assert_eq!(keep["no_new_privileges_after"], "yes");
    assert_eq!(
        keep["dropin_paths"],
        "/etc/systemd/system/nginx.service.d/50-capcheck.conf"
    );
    assert_eq!(
        keep["fix_after"], "",
        "fix has nothing left to do: the kept fix is fix's own"
    );

    // reboot: started at boot with the kept fix.
    let reboot = &by_scenario["reboot"];
    assert_eq!(reboot["enabled"], "enabled");
    assert_eq!(reboot["state_after"], "active");
    assert_eq!(reboot["persistent_dropin_exists"], true);
    assert_eq!(lane::cap_words(&reboot["bounding_after"]), kept);
    assert_eq!(reboot["no_new_privileges_after"], "yes");
    assert_eq!(
        reboot["dropin_paths"],
        "/etc/systemd/system/nginx.service.d/50-capcheck.conf"
    );
    assert_eq!(reboot["nrestarts_after"], 0);
}
