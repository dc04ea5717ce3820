//! `capcheck fix`: a diff snapshot per case (CAPCHECK_BLESS=1 rewrites
//! them), fix(fix(x)) == fix(x), no fixed finding left for lint, the seed
//! blog's units, vendor units through a drop-in, atomic writes, and no
//! file replaced that capcheck did not write.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// (case, extra arguments) — each unit file in fixtures/fix/cases.
const CASES: &[(&str, &[&str])] = &[
    ("bind-root.service", &["--user", "captest"]),
    (
        "profile.service",
        &["--profile", "profile.toml", "--user", "web"],
    ),
    ("profile.service", &["--profile", "recorded-root.toml"]),
    ("ambient-root.service", &[]),
    ("typo.service", &[]),
    ("switches-user.service", &[]),
    ("bang.service", &[]),
    ("protect-clock.service", &[]),
    ("port.service", &["--dynamic-user", "--unsafe-fixes"]),
    ("crlf.service", &["--user", "www"]),
    ("no-evidence.service", &[]),
    ("no-evidence.service", &["--unsafe-fixes"]),
    ("own-dropin.service", &[]),
    (
        "bind-root.service",
        &["--drop-in", "--cap", "net_bind_service"],
    ),
    // Moved off root by the evidence of why it needed root, which a run
    // as www-data proved; the same when that run failed: confined, with
    // the filesystem protections the recorded writes allow.
    ("web-root.service", &["--profile", "web-root.toml"]),
    ("web-root.service", &["--profile", "web-root-stays.toml"]),
    (
        "web-root.service",
        &["--profile", "web-root.toml", "--drop-in"],
    ),
];

/// The cases use `--user captest`, which a fix names only when the system
/// has it: made here (as tests/record.rs does), or the test skips.
fn have_captest(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    match common::missing_programs(&["useradd", "id"]) {
        None if root => {
            common::ensure_user("captest");
            true
        }
        why => {
            common::skip(
                test,
                &why.unwrap_or_else(|| "needs root (useradd captest)".to_string()),
            );
            false
        }
    }
}

/// A copy of fixtures/fix/cases to write into.
fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in walkdir::WalkDir::new("fixtures/fix/cases").min_depth(1) {
        let entry = entry.unwrap();
        let to = dir
            .path()
            .join(entry.path().strip_prefix("fixtures/fix/cases").unwrap());
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&to).unwrap();
        } else {
            std::fs::copy(entry.path(), &to).unwrap();
        }
    }
    dir
}

fn capcheck(dir: &Path, args: &[&str]) -> Output {
    common::capcheck_in(dir, args)
}

/// `capcheck lint --format json` of one unit, parsed.
fn lint_json(dir: &Path, unit: &str) -> Vec<serde_json::Value> {
    let args = [
        "lint",
        "--isolated",
        "--format",
        "json",
        "--exit-zero",
        unit,
    ];
    serde_json::from_slice(&capcheck(dir, &args).stdout).unwrap()
}

fn fix(dir: &Path, unit: &str, extra: &[&str], mode: &str) -> Output {
    let mut args = vec!["fix", "--isolated", mode, unit];
    args.extend_from_slice(extra);
    capcheck(dir, &args)
}

/// The snapshot of a case: the unit's stem, its flags, and the profiles
/// not named after the unit (`web-root+profile=web-root-stays.diff`).
fn snapshot_name(unit: &str, extra: &[&str]) -> PathBuf {
    let stem = unit.trim_end_matches(".service");
    let mut words: Vec<String> = Vec::new();
    for arg in extra {
        if let Some(flag) = arg.strip_prefix("--") {
            words.push(flag.to_string());
        } else if let Some(profile) = arg.strip_suffix(".toml") {
            if profile != stem && profile != "profile" && profile != "recorded-root" {
                if let Some(last) = words.last_mut() {
                    last.push('=');
                    last.push_str(profile);
                }
            }
        }
    }
    let suffix = words.join("+");
    let name = if suffix.is_empty() {
        format!("{stem}.diff")
    } else {
        format!("{stem}+{suffix}.diff")
    };
    Path::new("fixtures/fix").join(name)
}

#[test]
fn diffs_match_snapshots_and_fixes_converge() {
    if !have_captest("diffs_match_snapshots_and_fixes_converge") {
        return;
    }
    let mut failures = Vec::new();
    for (unit, extra) in CASES {
        let dir = workspace();
        let plain = fix(dir.path(), unit, extra, "--diff");
        assert_eq!(
            plain.status.code(),
            Some(0),
            "{unit}: {}",
            String::from_utf8_lossy(&plain.stderr)
        );
        let diff = String::from_utf8(plain.stdout).unwrap();
        let snapshot = snapshot_name(unit, extra);
        if std::env::var_os("CAPCHECK_BLESS").is_some() {
            std::fs::write(&snapshot, &diff).unwrap();
        } else if std::fs::read_to_string(&snapshot).ok().as_deref() != Some(diff.as_str()) {
            failures.push(format!(
                "{}: changed (CAPCHECK_BLESS=1 to accept):\n{diff}",
                snapshot.display()
            ));
        }
        // --check reports a pending fix exactly when there is a diff.
        let check = fix(dir.path(), unit, extra, "--check");
        assert_eq!(
            check.status.code(),
            Some(if diff.is_empty() { 0 } else { 1 }),
            "{unit} --check"
        );
        // Apply, then fixing again changes nothing.
        let written = fix(dir.path(), unit, extra, "--write");
        assert_eq!(
            written.status.code(),
            Some(0),
            "{unit}: {}",
            String::from_utf8_lossy(&written.stderr)
        );
        let again = fix(dir.path(), unit, extra, "--diff");
        if !again.stdout.is_empty() {
            failures.push(format!(
                "{unit} {extra:?}: fixing twice changes more:\n{}",
                String::from_utf8_lossy(&again.stdout)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `capcheck fix --format json` of one unit, parsed (the unit's entry).
fn fix_json(dir: &Path, unit: &str, extra: &[&str]) -> serde_json::Value {
    let out = fix(dir, unit, extra, "--format=json");
    let all: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{unit}: {e}: {}", String::from_utf8_lossy(&out.stderr)));
    all.into_iter().next().expect("one unit")
}

/// Linting a fixed unit shows none of the findings the fix is about, but
/// those the report says it left: a confined service still runs as root,
/// and a lint fix that would widen the service is left out.
#[test]
fn lint_after_fix_shows_none_of_the_fixed_findings() {
    const FIXED: [&str; 8] = [
        "CAP101", "CAP201", "CAP202", "CAP301", "CAP303", "CAP304", "CAP305", "CAP306",
    ];
    // Without evidence nothing is fixed, even with --unsafe-fixes.
    for (unit, extra) in CASES.iter().filter(|(u, _)| *u != "no-evidence.service") {
        let dir = workspace();
        let before = lint_json(dir.path(), unit);
        assert!(
            before
                .iter()
                .any(|f| FIXED.contains(&f["code"].as_str().unwrap())),
            "{unit}: nothing to fix?"
        );
        let report = fix_json(dir.path(), unit, extra);
        fix(dir.path(), unit, extra, "--write");
        let after = lint_json(dir.path(), unit);
        let mut allowed = Vec::new();
        if report["kind"] == "confine" {
            allowed.push("CAP101");
        }
        let notes = report["notes"].to_string();
        if notes.contains("a suggested fix was left out: it would widen") {
            allowed.push("CAP201");
        }
        let left: Vec<&str> = after
            .iter()
            .map(|f| f["code"].as_str().unwrap())
            .filter(|c| FIXED.contains(c) && !allowed.contains(c))
            .collect();
        assert!(left.is_empty(), "{unit} {extra:?}: still {left:?}");
    }
}

/// The report says, per unit, the kind of fix, the identity decision and
/// its reason, the evidence per capability, what the evidence needs that
/// the unit does not give, and what was left alone.
#[test]
fn the_report_explains_each_decision() {
    let dir = workspace();
    let bang = fix_json(dir.path(), "bang.service", &[]);
    assert_eq!(bang["kind"], "confine");
    assert_eq!(bang["identity"]["identity"], "unchanged");
    assert!(bang["identity"]["reason"]
        .as_str()
        .unwrap()
        .contains("ExecStart=! starts the program as root"));
    assert_eq!(bang["target"]["user"], "_chrony");
    assert!(bang["evidence"]["CAP_SYS_TIME"][0]
        .as_str()
        .unwrap()
        .starts_with("knowledge base: chronyd"));
    assert!(bang["notes"]
        .to_string()
        .contains("ExecStart=!/usr/sbin/chronyd still starts as root"));

    // ProtectClock= removes CAP_SYS_TIME: reported missing, never granted.
    let clock = fix_json(dir.path(), "protect-clock.service", &[]);
    assert_eq!(clock["kind"], "confine");
    assert_eq!(clock["missing"][0]["capability"], "CAP_SYS_TIME");
    assert_eq!(
        clock["missing"][0]["why"],
        "ProtectClock= takes it out of the bounding set"
    );
    let diff = clock["changes"][0]["diff"].as_str().unwrap();
    assert!(!diff.contains("-ProtectClock") && !diff.contains("-ProtectKernelModules"));
    assert!(!diff.contains("CAP_SYS_TIME"), "{diff}");

    // sshd starts users' sessions: left alone, even with --unsafe-fixes.
    for extra in [&[][..], &["--unsafe-fixes"][..]] {
        let sessions = fix_json(dir.path(), "sessions.service", extra);
        assert_eq!(sessions["kind"], "none");
        assert!(sessions["changes"].as_array().unwrap().is_empty());
        assert!(sessions["identity"]["reason"]
            .as_str()
            .unwrap()
            .contains("sessions"));
    }
}

/// A profile from a run that failed, or that was interrupted, is not
/// evidence: refused with the reason, unless --force, which the report
/// then says.
#[test]
fn a_profile_from_a_failed_run_is_refused_unless_forced() {
    let dir = workspace();
    let refused = fix(
        dir.path(),
        "profile.service",
        &["--profile", "failed.toml"],
        "--diff",
    );
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains(
            "failed.toml: it was recorded from a run that failed (exited with status 1 after 0.1s)"
        ),
        "{stderr}"
    );
    assert!(refused.stdout.is_empty());
    let forced = fix_json(
        dir.path(),
        "profile.service",
        &["--profile", "failed.toml", "--force"],
    );
    assert!(forced["notes"]
        .to_string()
        .contains("--force: failed.toml is used although it was recorded from a run that failed"));
}

/// The seed blog: bind-root.service with the knowledge base (or a profile)
/// saying CAP_NET_BIND_SERVICE and --user captest reads, to systemd, like
/// bind-captest.service.
#[test]
fn bind_root_becomes_bind_captest() {
    if !have_captest("bind_root_becomes_bind_captest") {
        return;
    }
    if !common::have_systemd_analyze() {
        return common::skip("bind_root_becomes_bind_captest", "needs systemd-analyze");
    }
    for extra in [
        &["--user", "captest"][..],
        &["--user", "captest", "--profile", "profile.toml"][..],
    ] {
        let dir = workspace();
        let out = fix(dir.path(), "bind-root.service", extra, "--write");
        assert_eq!(out.status.code(), Some(0));
        let fixed = common::systemd_view(&[dir.path().join("bind-root.service").to_str().unwrap()]);
        let blog = common::systemd_view(&["fixtures/examples/bind-captest.service"]);
        let key = |v: &common::SystemdView| {
            (
                v.loaded,
                v.user.clone(),
                v.dynamic_user,
                v.bounding.clone(),
                v.ambient.clone(),
                v.no_new_privileges,
            )
        };
        assert_eq!(key(&fixed), key(&blog), "{extra:?}");
        assert!(
            fixed.exposure <= blog.exposure.map(|e| e + 1),
            "{:?} vs {:?}",
            fixed.exposure,
            blog.exposure
        );
    }
}

/// A root holding the fixture's vendor unit in /usr/lib/systemd/system.
fn vendor_root() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let unit_dir = root.path().join("usr/lib/systemd/system");
    std::fs::create_dir_all(&unit_dir).unwrap();
    std::fs::copy(
        "fixtures/fix/vendor-root/usr/lib/systemd/system/vendor.service",
        unit_dir.join("vendor.service"),
    )
    .unwrap();
    root
}

/// A unit under /usr/lib is not edited: a drop-in in /etc/systemd/system
/// resets and sets each list, and systemd reads exactly the plan.
#[test]
fn vendor_units_get_a_dropin() {
    let root = vendor_root();
    let unit_dir = root.path().join("usr/lib/systemd/system");
    let root_arg = root.path().to_str().unwrap();
    let out = capcheck(
        Path::new("."),
        &[
            "fix",
            "--isolated",
            "--write",
            "--root",
            root_arg,
            "vendor.service",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let original = std::fs::read_to_string(unit_dir.join("vendor.service")).unwrap();
    assert_eq!(
        original,
        std::fs::read_to_string("fixtures/fix/vendor-root/usr/lib/systemd/system/vendor.service")
            .unwrap()
    );
    let dropin = root
        .path()
        .join("etc/systemd/system/vendor.service.d/50-capcheck.conf");
    let text = std::fs::read_to_string(&dropin).unwrap();
    // dnsmasq starts as root and drops privileges itself: confined, with
    // what the knowledge base says it uses over its whole life.
    let dnsmasq = "CAP_CHOWN CAP_DAC_OVERRIDE CAP_SETGID CAP_SETUID CAP_NET_BIND_SERVICE CAP_NET_ADMIN CAP_NET_RAW";
    assert_eq!(
        text,
        format!(
            "# Written by capcheck fix: least privilege for vendor.service (knowledge base: dnsmasq).\n\
             [Service]\nAmbientCapabilities=\nCapabilityBoundingSet=\nCapabilityBoundingSet={dnsmasq}\n\
             NoNewPrivileges=yes\n"
        )
    );
    if common::have_systemd_analyze() {
        let view = common::systemd_view(&[&format!("--root={root_arg}"), "vendor.service"]);
        assert_eq!(view.user, None);
        assert_eq!(
            view.bounding.as_deref(),
            Some(dnsmasq.to_lowercase().as_str())
        );
        assert_eq!(view.ambient, "");
        assert!(view.no_new_privileges);
    }
}

/// A file capcheck would create (a drop-in, a sysusers.d file) that is
/// already there without capcheck's mark is an administrator's: `fix`
/// changes nothing, says what is there, and exits 2. A file capcheck wrote
/// is its own to rewrite.
#[test]
fn a_file_capcheck_did_not_write_is_never_replaced() {
    let root = vendor_root();
    let root_arg = root.path().to_str().unwrap();
    let dropin = root
        .path()
        .join("etc/systemd/system/vendor.service.d/50-capcheck.conf");
    std::fs::create_dir_all(dropin.parent().unwrap()).unwrap();
    let admin = "[Service]\nEnvironment=ADMIN=1\n";
    std::fs::write(&dropin, admin).unwrap();
    let write = || {
        let args = ["fix", "--isolated", "--write", "--root", root_arg];
        capcheck(Path::new("."), &[&args[..], &["vendor.service"]].concat())
    };
    let out = write();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("50-capcheck.conf already exists and capcheck did not create it")
            && stderr.contains("ADMIN=1"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&dropin).unwrap(), admin);

    // capcheck's own drop-in, changed by hand, is rewritten.
    std::fs::remove_file(&dropin).unwrap();
    assert_eq!(write().status.code(), Some(0));
    let planned = std::fs::read_to_string(&dropin).unwrap();
    assert!(
        planned.starts_with("# Written by capcheck fix:"),
        "{planned}"
    );
    std::fs::write(&dropin, planned.replace("NoNewPrivileges=yes\n", "")).unwrap();
    assert_eq!(write().status.code(), Some(0));
    assert_eq!(std::fs::read_to_string(&dropin).unwrap(), planned);

    // The same for the sysusers.d file that would create a user: nothing
    // is written, the unit file included.
    let dir = workspace();
    let sysusers = dir.path().join("sysusers.d/capcheck-web.conf");
    std::fs::create_dir_all(sysusers.parent().unwrap()).unwrap();
    std::fs::write(&sysusers, "u web 4242 \"the administrator's\" -\n").unwrap();
    let unit_before = std::fs::read(dir.path().join("profile.service")).unwrap();
    let extra = ["--profile", "profile.toml", "--user", "web"];
    let out = fix(dir.path(), "profile.service", &extra, "--write");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("capcheck-web.conf already exists and capcheck did not create it"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(&sysusers).unwrap(),
        "u web 4242 \"the administrator's\" -\n"
    );
    assert_eq!(
        std::fs::read(dir.path().join("profile.service")).unwrap(),
        unit_before
    );
}

#[test]
fn writes_are_atomic_keep_the_mode_and_refuse_changed_files() {
    use capcheck::fix::write::write_atomic;
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.service");
    std::fs::write(&path, "old\n").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    write_atomic(&path, Some(b"old\n"), b"new\n", None).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "new\n");
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o7777,
        0o640
    );
    let err = write_atomic(&path, Some(b"old\n"), b"newer\n", None).unwrap_err();
    assert!(err.contains("changed since capcheck read it"), "{err}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "new\n");
    let link = dir.path().join("link.service");
    std::os::unix::fs::symlink(&path, &link).unwrap();
    assert!(write_atomic(&link, Some(b"new\n"), b"x\n", None)
        .unwrap_err()
        .contains("symlink"));
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        2,
        "no temporary file left"
    );
}

/// `fix --write` killed between writing its temporary file and renaming
/// it (strace sends SIGKILL at the rename): the original is intact, and
/// the next run writes the fix.
#[test]
fn a_write_killed_before_the_rename_leaves_the_original() {
    if !have_captest("a_write_killed_before_the_rename_leaves_the_original") {
        return;
    }
    if let Some(why) = common::missing_programs(&["strace"]) {
        return common::skip("a_write_killed_before_the_rename_leaves_the_original", &why);
    }
    let dir = workspace();
    let unit = dir.path().join("bind-root.service");
    let original = std::fs::read(&unit).unwrap();
    let killed = Command::new("strace")
        .args(["-f", "-qq", "-o", "/dev/null"])
        .args(["-e", "trace=rename,renameat,renameat2"])
        .args(["-e", "inject=rename,renameat,renameat2:signal=KILL"])
        .arg(env!("CARGO_BIN_EXE_capcheck"))
        .args(["fix", "--isolated", "--write", "bind-root.service"])
        .args(["--user", "captest"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!killed.status.success(), "{killed:?}");
    assert_eq!(std::fs::read(&unit).unwrap(), original, "original intact");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("capcheck-"))
        .collect();
    assert_eq!(leftovers.len(), 1, "the temporary file, fully written");
    let done = fix(
        dir.path(),
        "bind-root.service",
        &["--user", "captest"],
        "--write",
    );
    assert!(done.status.success(), "{done:?}");
    assert_ne!(std::fs::read(&unit).unwrap(), original);
}

/// A read-only unit file is refused with a clear error and left alone.
#[test]
fn a_read_only_file_is_not_written() {
    if !have_captest("a_read_only_file_is_not_written") {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let dir = workspace();
    let unit = dir.path().join("bind-root.service");
    let original = std::fs::read(&unit).unwrap();
    std::fs::set_permissions(&unit, std::fs::Permissions::from_mode(0o444)).unwrap();
    let out = fix(
        dir.path(),
        "bind-root.service",
        &["--user", "captest"],
        "--write",
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("bind-root.service: is read-only; not written"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read(&unit).unwrap(), original);
    let mode = std::fs::metadata(&unit).unwrap().permissions().mode();
    assert_eq!(mode & 0o7777, 0o444);
}

/// A symlinked unit: with --root, the file it leads to is written when it
/// is inside the root (the link stays a link); a link that leads out of the
/// root, or any link without --root, is refused and nothing changes.
#[test]
fn symlinked_units_are_written_only_inside_the_root() {
    if !have_captest("symlinked_units_are_written_only_inside_the_root") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("image");
    let etc = root.join("etc/systemd/system");
    // Not a vendor directory: a vendor unit would get a drop-in instead.
    let lib = root.join("opt/units");
    std::fs::create_dir_all(&etc).unwrap();
    std::fs::create_dir_all(&lib).unwrap();
    let original = std::fs::read("fixtures/fix/cases/bind-root.service").unwrap();
    std::fs::write(lib.join("inside.service"), &original).unwrap();
    std::os::unix::fs::symlink("/opt/units/inside.service", etc.join("inside.service")).unwrap();
    // A link that climbs out of the image, to a file beside it.
    std::fs::write(dir.path().join("outside.service"), &original).unwrap();
    std::os::unix::fs::symlink("../../../../outside.service", etc.join("outside.service")).unwrap();
    let root_arg = root.display().to_string();
    let run = |unit: &str, with_root: bool| {
        let mut args = vec!["fix", "--isolated", "--write", "--user", "captest"];
        if with_root {
            args.extend(["--root", &root_arg]);
        }
        let path = etc.join(unit).display().to_string();
        args.push(&path);
        capcheck(dir.path(), &args)
    };

    let refused = run("outside.service", false);
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    assert!(String::from_utf8_lossy(&refused.stderr)
        .contains("is a symlink and no --root was given; not written"));
    assert_eq!(
        std::fs::read(dir.path().join("outside.service")).unwrap(),
        original
    );

    let written = run("inside.service", true);
    assert!(written.status.success(), "{written:?}");
    assert!(std::fs::symlink_metadata(etc.join("inside.service"))
        .unwrap()
        .file_type()
        .is_symlink());
    let fixed = std::fs::read_to_string(lib.join("inside.service")).unwrap();
    assert!(fixed.contains("User=captest"), "{fixed}");

    // Inside the image, the climbing link stops at the image's root, as
    // systemd reads it: it leads to /outside.service there, which is not.
    let outside = run("outside.service", true);
    assert_eq!(outside.status.code(), Some(2), "{outside:?}");
    let stderr = String::from_utf8_lossy(&outside.stderr);
    assert!(stderr.contains("is a dangling symlink"), "{stderr}");
    assert_eq!(
        std::fs::read(dir.path().join("outside.service")).unwrap(),
        original
    );
}

/// A directory symlink on the way never leads a write out of the image,
/// or, without --root, out of the unit's directory: the drop-in directory
/// or /etc/systemd linked to the host's, and a linked drop-in directory in
/// a checkout, leave the host's files as they were.
#[test]
fn writes_never_pass_through_a_linked_directory() {
    let dir = tempfile::tempdir().unwrap();
    let host = dir.path().join("host");
    std::fs::create_dir_all(host.join("system")).unwrap();
    std::fs::write(host.join("canary.conf"), "[Service]\n").unwrap();
    let snapshot = |path: &Path| -> Vec<(PathBuf, Vec<u8>)> {
        walkdir::WalkDir::new(path)
            .sort_by_file_name()
            .into_iter()
            .map(|e| {
                let e = e.unwrap();
                let bytes = std::fs::read(e.path()).unwrap_or_default();
                (e.path().to_path_buf(), bytes)
            })
            .collect()
    };
    let host_before = snapshot(&host);
    let vendor =
        std::fs::read("fixtures/fix/vendor-root/usr/lib/systemd/system/vendor.service").unwrap();
    let fix_in = |root: &Path, unit: &str| {
        let root_arg = root.display().to_string();
        capcheck(
            dir.path(),
            &["fix", "--isolated", "--write", "--root", &root_arg, unit],
        )
    };

    // The image's /etc/systemd is a link to the host's (by an absolute
    // path that climbs): inside the image it names the image's own.
    let image = dir.path().join("image");
    std::fs::create_dir_all(image.join("usr/lib/systemd/system")).unwrap();
    std::fs::create_dir_all(image.join("etc")).unwrap();
    std::fs::write(image.join("usr/lib/systemd/system/vendor.service"), &vendor).unwrap();
    let climb = format!("/../../../../..{}", host.display());
    std::os::unix::fs::symlink(&climb, image.join("etc/systemd")).unwrap();
    let out = fix_in(&image, "vendor.service");
    assert!(out.status.success(), "{out:?}");
    let written = image
        .join(host.strip_prefix("/").unwrap())
        .join("system/vendor.service.d/50-capcheck.conf");
    assert!(written.is_file(), "{written:?}");

    // The unit's drop-in directory is a link to the host's.
    let image2 = dir.path().join("image2");
    std::fs::create_dir_all(image2.join("usr/lib/systemd/system")).unwrap();
    std::fs::create_dir_all(image2.join("etc/systemd/system")).unwrap();
    std::fs::write(
        image2.join("usr/lib/systemd/system/vendor.service"),
        &vendor,
    )
    .unwrap();
    std::os::unix::fs::symlink(&host, image2.join("etc/systemd/system/vendor.service.d")).unwrap();
    let out = fix_in(&image2, "vendor.service");
    assert!(out.status.success(), "{out:?}");
    assert!(image2
        .join(host.strip_prefix("/").unwrap())
        .join("50-capcheck.conf")
        .is_file());

    // A checkout whose drop-in directory is a link to the host's: the
    // fix is refused, nothing is written there.
    let checkout = dir.path().join("checkout");
    std::fs::create_dir_all(&checkout).unwrap();
    std::fs::write(
        checkout.join("web.service"),
        "[Service]\nExecStart=/usr/sbin/lighttpd -D\n",
    )
    .unwrap();
    std::os::unix::fs::symlink(&host, checkout.join("web.service.d")).unwrap();
    let out = capcheck(
        &checkout,
        &["fix", "--isolated", "--write", "--drop-in", "web.service"],
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("web.service.d is a symlink or not a directory; not written"),
        "{stderr}"
    );
    assert_eq!(snapshot(&host), host_before);
}

/// The temporary file of a write is never readable by more than the final
/// file, the owner is set before the mode (set-id bits survive), and
/// extended attributes are kept.
#[test]
fn a_write_keeps_owner_mode_and_xattrs_and_never_widens_the_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("secret.service");
    std::fs::write(&path, "old\n").unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o2640)).unwrap();
    let set_xattr = Command::new("setfattr")
        .args(["-n", "user.capcheck", "-v", "kept"])
        .arg(&path)
        .status();
    let with_xattr = set_xattr.is_ok_and(|s| s.success());
    // A reader racing the write never sees a temporary file with a mode
    // bit the final file lacks (0666 & ~umask would show 0o004).
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let (dir, stop) = (dir.path().to_path_buf(), stop.clone());
        std::thread::spawn(move || {
            let mut widest = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for e in std::fs::read_dir(&dir).unwrap().flatten() {
                    if e.file_name().to_string_lossy().contains(".capcheck-") {
                        if let Ok(m) = e.metadata() {
                            widest |=
                                std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o777;
                        }
                    }
                }
            }
            widest
        })
    };
    for i in 0..200 {
        let before = std::fs::read(&path).unwrap();
        capcheck::fix::write::write_atomic(
            &path,
            Some(&before),
            format!("new {i}\n").as_bytes(),
            None,
        )
        .unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let widest = watcher.join().unwrap();
    assert_eq!(widest & !0o640, 0, "a temporary file had mode {widest:o}");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&path).unwrap().permissions());
    assert_eq!(mode & 0o7777, 0o2640);
    if with_xattr {
        let got = Command::new("getfattr")
            .args(["--only-values", "-n", "user.capcheck"])
            .arg(&path)
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&got.stdout), "kept");
    } else {
        common::skip(
            "a_write_keeps_owner_mode_and_xattrs_and_never_widens_the_mode (xattrs)",
            "needs setfattr (attr) and a file system with user xattrs",
        );
        assert!(std::env::var_os("CI").is_none(), "CI must check xattrs");
    }
}

/// The fixer reads the unit, and reads its fix back, as the release it
/// runs on: `~` then a positive line restricts the bounding set up to 261,
/// and merges into everything from 262 on, so the confinement differs.
#[test]
fn the_fix_follows_the_release() {
    let dir = tempfile::tempdir().unwrap();
    let unit = dir.path().join("release.service");
    std::fs::write(
        &unit,
        "[Service]\nExecStart=/usr/sbin/chronyd -F 1\nUser=root\n\
         CapabilityBoundingSet=~\nCapabilityBoundingSet=CAP_SYS_TIME\n",
    )
    .unwrap();
    let unit = unit.to_str().unwrap();
    let planned = |release: &str| {
        let report = fix_json(dir.path(), unit, &["--systemd", release]);
        assert_eq!(report["systemd"].to_string(), release);
        report["target"]["capability_bounding_set"].clone()
    };
    // 252 already holds only CAP_SYS_TIME: the fix cannot add the rest.
    assert_eq!(planned("252"), serde_json::json!(["CAP_SYS_TIME"]));
    let newest = planned("262");
    let newest: Vec<&str> = newest
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert!(
        newest.len() > 1 && newest.contains(&"CAP_SYS_TIME") && newest.contains(&"CAP_SETUID"),
        "{newest:?}"
    );
}

/// What systemd-sysv-generator writes for Debian 12's /etc/init.d/exim4.
const SYSV_EXIM4: &str = "# Automatically generated by systemd-sysv-generator

[Unit]
Documentation=man:systemd-sysv-generator(8)
SourcePath=/etc/init.d/exim4
Description=LSB: exim Mail Transport Agent
After=remote-fs.target

[Service]
Type=forking
Restart=no
TimeoutSec=5min
IgnoreSIGPIPE=no
KillMode=process
GuessMainPID=no
RemainAfterExit=yes
SuccessExitStatus=5 6
ExecStart=/etc/init.d/exim4 start
ExecStop=/etc/init.d/exim4 stop
";

/// A unit a generator wrote is never edited (systemd writes it anew at
/// each boot and daemon-reload): the fix is a drop-in in
/// /etc/systemd/system, and lint and fix name the init script it came
/// from. A unit that a package ships as a configuration file in /etc gets
/// a drop-in too.
#[test]
fn generated_and_packaged_units_get_a_dropin_and_name_their_source() {
    let root = tempfile::tempdir().unwrap();
    let generated = root.path().join("run/systemd/generator.late/exim4.service");
    std::fs::create_dir_all(generated.parent().unwrap()).unwrap();
    std::fs::write(&generated, SYSV_EXIM4).unwrap();
    let root_arg = root.path().to_str().unwrap();
    let run = |args: &[&str]| {
        let mut all = vec![args[0], "--isolated", "--root", root_arg];
        all.extend(&args[1..]);
        let out = capcheck(Path::new("."), &all);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.code().is_some_and(|c| c < 2), "{stderr}");
        (String::from_utf8_lossy(&out.stdout).into_owned(), stderr)
    };

    let (lint, _) = run(&["lint", "--format", "concise", "exim4.service"]);
    assert!(lint.contains("CAP101"), "{lint}");
    for line in lint.lines().filter(|l| l.contains(": CAP")) {
        assert!(
            line.ends_with("(generated at boot from /etc/init.d/exim4)"),
            "{line}"
        );
    }

    let cap = ["--cap", "CAP_NET_BIND_SERVICE"];
    let (report, _) = run(&[&["fix", "--write", "exim4.service"][..], &cap].concat());
    assert!(
        report.contains(
            "is written by a systemd generator at each boot and daemon-reload, from /etc/init.d/exim4: writing a drop-in instead"
        ),
        "{report}"
    );
    assert_eq!(std::fs::read_to_string(&generated).unwrap(), SYSV_EXIM4);
    let dropin = root
        .path()
        .join("etc/systemd/system/exim4.service.d/50-capcheck.conf");
    let text = std::fs::read_to_string(&dropin).unwrap();
    assert!(
        text.contains("CapabilityBoundingSet=CAP_NET_BIND_SERVICE\nNoNewPrivileges=yes\n"),
        "{text}"
    );
    let (again, _) = run(&[&["fix", "exim4.service"][..], &cap].concat());
    assert!(again.contains("Nothing to fix in 1 unit."), "{again}");

    // A unit in /etc that a package lists among its configuration files.
    let packaged = root.path().join("etc/systemd/system/web.service");
    std::fs::write(&packaged, "[Service]\nExecStart=/usr/sbin/web\n").unwrap();
    let info = root.path().join("var/lib/dpkg/info");
    std::fs::create_dir_all(&info).unwrap();
    std::fs::write(
        info.join("web.conffiles"),
        "/etc/systemd/system/web.service\n",
    )
    .unwrap();
    let (report, _) = run(&[&["fix", "--write", "web.service"][..], &cap].concat());
    assert!(
        report.contains("is a configuration file of the package web: writing a drop-in instead"),
        "{report}"
    );
    assert_eq!(
        std::fs::read_to_string(&packaged).unwrap(),
        "[Service]\nExecStart=/usr/sbin/web\n"
    );
    assert!(root
        .path()
        .join("etc/systemd/system/web.service.d/50-capcheck.conf")
        .is_file());
}

/// A recording that saw a setuid (or setgid, or file-capability) program
/// at work is evidence that the service gains privileges by exec, which
/// no_new_privs would cut back (exim4 re-executes itself, setuid root, to
/// deliver mail): the fix leaves NoNewPrivileges= alone, and says why.
#[test]
fn a_recorded_setuid_program_keeps_no_new_privileges_off() {
    use std::os::unix::fs::PermissionsExt;
    let root = tempfile::tempdir().unwrap();
    let units = root.path().join("etc/systemd/system");
    let sbin = root.path().join("usr/sbin");
    std::fs::create_dir_all(&units).unwrap();
    std::fs::create_dir_all(&sbin).unwrap();
    std::fs::write(
        units.join("mta.service"),
        "[Service]\nExecStart=/usr/sbin/mta -bd\n",
    )
    .unwrap();
    std::fs::write(sbin.join("mta"), "#!/bin/sh\n").unwrap();
    let profile = root.path().join("mta.toml");
    std::fs::write(
        &profile,
        "[recording]\nidentity = \"root\"\nuser = \"root\"\nsucceeded = true\ncomplete = true\n\n\
         [capabilities.CAP_SETUID]\ngranted = 3\nbinaries = [\"/usr/sbin/mta\"]\n",
    )
    .unwrap();
    let root_arg = root.path().to_str().unwrap();
    let plan = |mode: u32| {
        std::fs::set_permissions(sbin.join("mta"), std::fs::Permissions::from_mode(mode)).unwrap();
        let out = capcheck(
            Path::new("."),
            &[
                "fix",
                "--isolated",
                "--format",
                "json",
                "--root",
                root_arg,
                "--profile",
                profile.to_str().unwrap(),
                "mta.service",
            ],
        );
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        json[0].clone()
    };
    let plain = plan(0o755);
    assert_eq!(plain["target"]["no_new_privileges"], true, "{plain}");
    let setuid = plan(0o4755);
    assert_eq!(setuid["target"]["no_new_privileges"], false, "{setuid}");
    let left_alone = setuid["left_alone"].to_string();
    assert!(
        left_alone.contains("NoNewPrivileges=: the recording saw")
            && left_alone.contains("usr/sbin/mta at work, which gains privileges when executed"),
        "{left_alone}"
    );
    assert_eq!(
        setuid["target"]["capability_bounding_set"],
        serde_json::json!(["CAP_SETUID"])
    );
}
