//! Which systemd release capcheck reads units as, end to end: picked from
//! the image (or host), overridden by --systemd and by `systemd = "…"` in
//! capcheck.toml, named by `show` and `--version`, noted when it cannot be
//! told; and `run` executing a `|` command through the user's shell.

mod common;

use capcheck::semantics::Semantics;
use std::path::Path;
use std::process::{Command, Output};

fn capcheck(dir: &Path, args: &[&str]) -> Output {
    common::capcheck_in(dir, args)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// An image whose systemd is `release` (its shared library says so), with
/// one service that reads differently from 262 on.
fn image(release: u16) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let lib = root.path().join("usr/lib/x86_64-linux-gnu/systemd");
    std::fs::create_dir_all(&lib).unwrap();
    std::fs::write(lib.join(format!("libsystemd-shared-{release}.so")), "").unwrap();
    let units = root.path().join("etc/systemd/system");
    std::fs::create_dir_all(&units).unwrap();
    std::fs::write(
        units.join("merge.service"),
        "[Service]\nExecStart=/bin/true\nCapabilityBoundingSet=~\nCapabilityBoundingSet=CAP_KILL\n",
    )
    .unwrap();
    root
}

fn shown(dir: &Path, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["show", "--format", "json"];
    all.extend_from_slice(args);
    let out = capcheck(dir, &all);
    let units: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", text(&out.stderr)));
    units.into_iter().next().unwrap()
}

#[test]
fn the_version_names_the_range() {
    let out = capcheck(Path::new("."), &["--version"]);
    let range = format!(
        "systemd {}–{}",
        Semantics::OLDEST.release(),
        Semantics::NEWEST.release()
    );
    assert!(text(&out.stdout).contains(&range), "{}", text(&out.stdout));
}

#[test]
fn the_image_picks_the_release_and_the_flag_overrides_it() {
    for release in [257u16, 262] {
        let root = image(release);
        let root_arg = root.path().display().to_string();
        let unit = shown(root.path(), &["--root", &root_arg, "merge.service"]);
        assert_eq!(unit["systemd"], release);
        let bounding = unit["capability_bounding_set"].as_array().unwrap().len();
        // `~` then CAP_KILL: replaced up to 261, merged into all from 262.
        assert_eq!(bounding, if release >= 262 { 41 } else { 1 }, "{release}");
        let overridden = shown(
            root.path(),
            &["--root", &root_arg, "--systemd", "254", "merge.service"],
        );
        assert_eq!(overridden["systemd"], 254);
    }
}

#[test]
fn the_configuration_names_a_release() {
    let root = image(262);
    std::fs::write(root.path().join("capcheck.toml"), "systemd = \"257\"\n").unwrap();
    let unit = root.path().join("etc/systemd/system/merge.service");
    let out = capcheck(
        root.path(),
        &["lint", "--format", "json", unit.to_str().unwrap()],
    );
    let findings: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    // 257's reading: CAP_KILL replaces the set (CAP204 says so).
    assert!(
        findings.iter().any(
            |f| f["code"] == "CAP204" && f["message"].as_str().unwrap().contains("starts over")
        ),
        "{findings:?}"
    );
}

#[test]
fn an_unknown_release_is_refused_and_an_unknown_system_noted() {
    let dir = tempfile::tempdir().unwrap();
    let out = capcheck(dir.path(), &["show", "--systemd", "251", "x.service"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("252–262"),
        "{}",
        text(&out.stderr)
    );
    let root = dir.path().display().to_string();
    let out = capcheck(dir.path(), &["show", "--root", &root]);
    let stderr = text(&out.stderr);
    // Said once; the other note is that an image has no generated units.
    assert_eq!(stderr.matches("reading units as").count(), 1, "{stderr}");
    assert!(stderr.contains(&format!("reading units as {}", Semantics::NEWEST)));
    assert_eq!(
        stderr.matches("generators write at boot").count(),
        1,
        "{stderr}"
    );
}

/// `run` starts a `|` command line with the user's shell from 258 on; on
/// 257 `|echo` is a program name, which does not exist.
#[test]
fn run_starts_a_shell_command_line_from_258() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return common::skip("run_starts_a_shell_command_line_from_258", "needs root");
    }
    let dir = tempfile::tempdir().unwrap();
    let unit = dir.path().join("shell.service");
    std::fs::write(
        &unit,
        "[Service]\nType=oneshot\nExecStart=|echo one; echo two\n",
    )
    .unwrap();
    let unit = unit.to_str().unwrap();
    let out = capcheck(dir.path(), &["run", "--systemd", "258", unit]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("one\ntwo\n"),
        "{}",
        text(&out.stdout)
    );
    let out = capcheck(dir.path(), &["run", "--systemd", "257", unit]);
    assert!(!out.status.success());
    assert!(
        text(&out.stdout).contains("203/EXEC"),
        "{}",
        text(&out.stdout)
    );
}

/// From 258, a `|` command runs a shell: the binary checks look at the
/// shell, not at the first word, and CAP103 shows the command line.
#[test]
fn checks_understand_the_shell_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let unit = dir.path().join("bin.service");
    std::fs::write(
        &unit,
        "[Service]\nUser=nobody\nNoNewPrivileges=yes\nExecStartPre=ping -c1 localhost\n\
         ExecStart=|ping -c1 localhost\nExecStartPost=+|echo done\n",
    )
    .unwrap();
    let lint = |release: &str| {
        let out = capcheck(
            dir.path(),
            &[
                "lint",
                "--systemd",
                release,
                "--format",
                "json",
                "--select",
                "CAP103,CAP403",
                unit.to_str().unwrap(),
            ],
        );
        let findings: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
        findings
            .iter()
            .map(|f| {
                (
                    f["code"].as_str().unwrap().to_string(),
                    f["line"].as_u64().unwrap(),
                )
            })
            .collect::<Vec<_>>()
    };
    let findings = lint("258");
    assert!(
        findings.contains(&("CAP103".to_string(), 6)),
        "{findings:?}"
    );
    assert!(
        !findings.contains(&("CAP403".to_string(), 5)),
        "the shell runs, not ping: {findings:?}"
    );
    let ping_has_file_caps = Command::new("getcap")
        .arg("/usr/bin/ping")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("cap_net_raw"));
    if !ping_has_file_caps {
        return common::skip(
            "checks_understand_the_shell_prefix (file capabilities)",
            "needs ping with its file capability (libcap2-bin before iputils-ping)",
        );
    }
    assert!(
        findings.contains(&("CAP403".to_string(), 4)),
        "{findings:?}"
    );
}
