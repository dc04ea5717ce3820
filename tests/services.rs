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

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const TEST: &str = "real_daemons_work_as_shipped_and_after_fix";

fn lane_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/services")
}

/// Why the lane cannot run here, if it cannot.
fn missing_prerequisite() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root".to_string());
    }
    let missing: Vec<&str> = ["mmdebstrap", "systemd-nspawn", "python3"]
        .into_iter()
        .filter(|tool| {
            !std::env::var_os("PATH")
                .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        })
        .collect();
    (!missing.is_empty()).then(|| format!("{} not installed", missing.join(", ")))
}

/// The daemons of daemons.tsv, in its order.
fn daemons() -> Vec<String> {
    std::fs::read_to_string(lane_dir().join("daemons.tsv"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split('\t').next().unwrap().to_string())
        .filter(|name| name != "name")
        .collect()
}

fn run_logged(script: &str, args: &[&str], log: &Path) -> (bool, String) {
    let file = std::fs::File::create(log).unwrap();
    let status = Command::new("bash")
        .arg(lane_dir().join(script))
        .args(args)
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .status()
        .unwrap();
    let text = std::fs::read_to_string(log).unwrap_or_default();
    (status.success(), text)
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[test]
fn real_daemons_work_as_shipped_and_after_fix() {
    if std::env::var("CAPCHECK_SERVICES").as_deref() == Ok("skip") {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the real-systemd lane (CAPCHECK_SERVICES=skip)"
        );
        return common::skip(TEST, "CAPCHECK_SERVICES=skip");
    }
    if let Some(why) = missing_prerequisite() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the real-systemd lane: {why}"
        );
        return common::skip(TEST, &why);
    }
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("services");
    std::fs::create_dir_all(&out).unwrap();

    let started = Instant::now();
    let (built, log) = run_logged("build-rootfs.sh", &[], &out.join("build-rootfs.log"));
    assert!(built, "build-rootfs.sh failed:\n{}", tail(&log, 40));
    println!(
        "rootfs: {} ({:.0} s)",
        log.lines().last().unwrap_or_default(),
        started.elapsed().as_secs_f64()
    );

    let started = Instant::now();
    let out_arg = out.to_str().unwrap();
    let (ran, log) = run_logged(
        "run.sh",
        &[
            "--capcheck",
            env!("CARGO_BIN_EXE_capcheck"),
            "--out",
            out_arg,
            "--modes",
            "shipped,default,unsafe",
        ],
        &out.join("run.log"),
    );
    println!("lane: {:.0} s", started.elapsed().as_secs_f64());
    // The summary and the daemon x mode table; the details stay in the file.
    let report = std::fs::read_to_string(out.join("report.md")).unwrap_or_default();
    let summary: Vec<&str> = report
        .lines()
        .take_while(|l| !l.starts_with("## "))
        .collect();
    println!("{}", summary.join("\n"));
    println!("full report: {}", out.join("report.md").display());
    assert!(ran, "run.sh failed:\n{}", tail(&log, 40));

    // One record per daemon and mode.
    let mut results: BTreeMap<(String, String), serde_json::Value> = BTreeMap::new();
    for line in std::fs::read_to_string(out.join("results.jsonl"))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
    {
        let r: serde_json::Value = serde_json::from_str(line).unwrap();
        let key = (
            r["daemon"].as_str().unwrap().to_string(),
            r["mode"].as_str().unwrap().to_string(),
        );
        results.insert(key, r);
    }
    let modes = ["shipped", "default", "unsafe"];
    let daemons = daemons();
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
