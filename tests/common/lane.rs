//! Running the real-systemd lane (tests/services/run.sh) from the cargo
//! tests: tests/services.rs (nspawn, fix), tests/services_try.rs (nspawn,
//! `capcheck try`) and tests/services_vm.rs (qemu, `record`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

pub fn lane_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/services")
}

/// Skips (prints why and returns true) when the lane cannot or must not
/// run here: CAPCHECK_SERVICES=skip, not root, a tool missing. Under CI
/// a skip is a failure instead (`common::skip`).
pub fn skipped(test: &str, tools: &[&str]) -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let why = if std::env::var("CAPCHECK_SERVICES").as_deref() == Ok("skip") {
        Some("CAPCHECK_SERVICES=skip".to_string())
    } else if !root {
        Some("needs root".to_string())
    } else {
        super::missing_programs(tools)
    };
    match why {
        Some(why) => {
            super::skip(test, &why);
            true
        }
        None => false,
    }
}

/// A row of daemons.tsv.
#[derive(Debug, Clone)]
pub struct Daemon {
    pub name: String,
    pub unit: String,
    /// "yes", or "no: why" (the record column).
    pub record: String,
}

/// The daemons of daemons.tsv, in its order.
pub fn daemons() -> Vec<Daemon> {
    std::fs::read_to_string(lane_dir().join("daemons.tsv"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split('\t').collect::<Vec<_>>())
        .filter(|f| f[0] != "name")
        .map(|f| Daemon {
            name: f[0].to_string(),
            unit: f[1].to_string(),
            record: f.get(5).unwrap_or(&"").to_string(),
        })
        .collect()
}

/// Runs a lane script with its output in `log`: (success, the output).
pub fn run_logged(script: &str, args: &[&str], log: &Path) -> (bool, String) {
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

pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The lane's output directory for this test, under target/tmp.
pub fn out_dir(name: &str) -> PathBuf {
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::create_dir_all(&out).unwrap();
    out
}

/// Builds (or finds) the tree with `script` (build-rootfs.sh,
/// build-vm.sh), asserting it worked; prints where it is and how long it
/// took.
pub fn build(script: &str, out: &Path) {
    let started = Instant::now();
    let log = out.join(script.replace(".sh", ".log"));
    let (built, text) = run_logged(script, &[], &log);
    assert!(built, "{script} failed:\n{}", tail(&text, 40));
    println!(
        "{script}: {} ({:.0} s)",
        text.lines().last().unwrap_or_default(),
        started.elapsed().as_secs_f64()
    );
}

/// Runs run.sh with the capcheck under test and `args`; prints the
/// report's summary and how long it took; asserts run.sh succeeded.
pub fn run_lane(out: &Path, args: &[&str]) {
    let started = Instant::now();
    let mut all = vec![
        "--capcheck",
        env!("CARGO_BIN_EXE_capcheck"),
        "--out",
        out.to_str().unwrap(),
    ];
    all.extend_from_slice(args);
    let (ran, log) = run_logged("run.sh", &all, &out.join("run.log"));
    println!("lane {args:?}: {:.0} s", started.elapsed().as_secs_f64());
    let report = std::fs::read_to_string(out.join("report.md")).unwrap_or_default();
    println!("{report}");
    println!("full report: {}", out.join("report.md").display());
    assert!(ran, "run.sh failed:\n{}", tail(&log, 40));
}

/// Every record of results.jsonl.
pub fn results(out: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(out.join("results.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The words of a `systemctl show` capability list, sorted.
pub fn cap_words(value: &serde_json::Value) -> Vec<String> {
    let mut words: Vec<String> = value
        .as_str()
        .unwrap_or_default()
        .split_whitespace()
        .map(|w| w.to_ascii_uppercase())
        .collect();
    words.sort();
    words
}
