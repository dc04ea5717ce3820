//! Recording and running, as root on a kernel with the cap_capable
//! tracepoint (CI's machine): the four reference programs give exactly
//! their capability, the seed blog end to end (record → fix → run, and its
//! three rows), the `=ep` trap, what runs and as whom, and the tracing
//! state left as it was, also when capcheck is killed.
//! Elsewhere these tests print that they skip, and why.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn capcheck(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_capcheck"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

/// Why recording cannot be tested here, if it cannot.
fn unavailable() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("needs root".to_string());
    }
    let tracepoint = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"]
        .iter()
        .any(|t| Path::new(t).join("events/capability/cap_capable").is_dir());
    let mountable = Path::new("/sys/kernel/tracing").is_dir();
    (!tracepoint && !mountable)
        .then(|| "needs tracefs with the capability:cap_capable tracepoint".to_string())
}

/// Recordings share the machine's tracefs; one at a time keeps the
/// tracing-state comparison exact.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Skips the test (failing it under CI) when recording is unavailable or
/// one of the programs it runs is not installed.
macro_rules! require_recording {
    ($name:literal, $programs:expr) => {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(why) = unavailable().or_else(|| common::missing_programs(&$programs)) {
            return common::skip($name, &why);
        }
    };
}

/// Records `argv` and returns (needed, full profile text).
fn needed(argv: &[&str]) -> (Vec<String>, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("p.toml");
    let mut args = vec!["record", "-o", out.to_str().unwrap(), "--"];
    args.extend_from_slice(argv);
    let o = capcheck(&args);
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    let profile = std::fs::read_to_string(&out).unwrap_or_default();
    let line = stderr
        .lines()
        .find_map(|l| l.trim().strip_prefix("needed: "))
        .unwrap_or_else(|| panic!("{argv:?}: {stderr}"));
    let caps = if line == "none" {
        Vec::new()
    } else {
        line.split(' ').map(str::to_string).collect()
    };
    (caps, profile)
}

/// A temporary directory the recorded users can enter.
fn open_tempdir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

fn compile_bind_low_port(dir: &Path) -> PathBuf {
    let binary = dir.join("bind_low_port");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/programs/bind_low_port.c");
    let ok = Command::new("cc")
        .arg("-O2")
        .arg("-o")
        .arg(&binary)
        .arg(src)
        .status()
        .unwrap();
    assert!(ok.success());
    binary
}

fn ensure_user(name: &str) {
    if Command::new("id")
        .arg(name)
        .output()
        .unwrap()
        .status
        .success()
    {
        return;
    }
    let ok = Command::new("useradd")
        .args(["--system", "--no-create-home", "--user-group", name])
        .status()
        .unwrap();
    assert!(ok.success(), "useradd {name}");
}

/// `id FLAG USER`: the user's uid (-u) or group id (-g).
fn id_of(flag: &str, user: &str) -> String {
    let o = Command::new("id").args([flag, user]).output().unwrap();
    String::from_utf8(o.stdout).unwrap().trim().to_string()
}

#[test]
fn reference_programs_need_exactly_their_capability() {
    require_recording!(
        "reference_programs_need_exactly_their_capability",
        ["ping", "dmesg", "chown", "cc"]
    );
    let dir = open_tempdir();
    let file = dir.path().join("owned");
    std::fs::write(&file, "x").unwrap();
    let bind = compile_bind_low_port(dir.path());
    for (argv, expected) in [
        (vec!["ping", "-c1", "127.0.0.1"], "CAP_NET_RAW"),
        (vec!["dmesg"], "CAP_SYSLOG"),
        (vec!["chown", "nobody", file.to_str().unwrap()], "CAP_CHOWN"),
        (vec![bind.to_str().unwrap()], "CAP_NET_BIND_SERVICE"),
    ] {
        let (caps, profile) = needed(&argv);
        assert_eq!(caps, [expected], "{argv:?}:\n{profile}");
        assert!(
            !profile.contains("CAP_SYS_ADMIN"),
            "{argv:?}: memory-accounting noise leaked:\n{profile}"
        );
    }
}

fn write_unit(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("[Unit]\nDescription=seed\n\n[Service]\n{body}\n[Install]\nWantedBy=multi-user.target\n")).unwrap();
    path
}

/// The seed blog's three rows: as root it binds; as captest with
/// CAP_NET_BIND_SERVICE it binds; as captest without it, "Permission denied".
#[test]
fn seed_blog_end_to_end() {
    require_recording!("seed_blog_end_to_end", ["cc", "id", "useradd"]);
    ensure_user("captest");
    let dir = open_tempdir();
    let bin = compile_bind_low_port(dir.path());
    let bin = bin.to_str().unwrap();
    let root_unit = write_unit(
        dir.path(),
        "bind-root.service",
        &format!("ExecStart={bin}\nUser=root\n"),
    );
    let profile = dir.path().join("bind.toml");
    let rec = capcheck(&[
        "record",
        "--unit",
        root_unit.to_str().unwrap(),
        "-o",
        profile.to_str().unwrap(),
    ]);
    let rec_err = String::from_utf8_lossy(&rec.stderr);
    assert!(
        rec_err.contains("needed: CAP_NET_BIND_SERVICE\n"),
        "{rec_err}"
    );

    // Row 1: root.
    let root_run = capcheck(&["run", root_unit.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&root_run.stdout).contains("Successfully bound to port 80"));

    // fix → equivalent to the blog's bind-captest.service.
    let fixed = dir.path().join("bind-captest.service");
    std::fs::copy(&root_unit, &fixed).unwrap();
    let fix = capcheck(&[
        "fix",
        "--isolated",
        "--write",
        "--profile",
        profile.to_str().unwrap(),
        "--user",
        "captest",
        fixed.to_str().unwrap(),
    ]);
    assert_eq!(
        fix.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&fix.stderr)
    );
    let blog = write_unit(dir.path(), "blog-captest.service", &format!(
        "ExecStart={bin}\nUser=captest\nGroup=captest\nAmbientCapabilities=CAP_NET_BIND_SERVICE\nCapabilityBoundingSet=CAP_NET_BIND_SERVICE\nNoNewPrivileges=true\n"
    ));
    if common::have_systemd_analyze() {
        let key = |p: &Path| {
            let v = common::systemd_view(&[p.to_str().unwrap()]);
            (v.loaded, v.user, v.bounding, v.ambient, v.no_new_privileges)
        };
        assert_eq!(key(&fixed), key(&blog));
    }

    // Row 2: captest with the capability.
    let captest_uid = id_of("-u", "captest");
    let good = capcheck(&["run", fixed.to_str().unwrap()]);
    let good_out = String::from_utf8_lossy(&good.stdout);
    assert!(
        good_out.contains("Successfully bound to port 80"),
        "{good_out}"
    );
    assert!(
        good_out.contains(&format!("started as uid {captest_uid}")),
        "{good_out}"
    );
    assert_eq!(good.status.code(), Some(0));

    // Row 3: captest without AmbientCapabilities=.
    let text = std::fs::read_to_string(&fixed)
        .unwrap()
        .replace("AmbientCapabilities=CAP_NET_BIND_SERVICE\n", "");
    let nonroot = dir.path().join("bind-nonroot.service");
    std::fs::write(&nonroot, text).unwrap();
    let bad = capcheck(&["run", nonroot.to_str().unwrap()]);
    let bad_all = format!(
        "{}{}",
        String::from_utf8_lossy(&bad.stdout),
        String::from_utf8_lossy(&bad.stderr)
    );
    assert!(bad_all.contains("bind: Permission denied"), "{bad_all}");
    assert_eq!(bad.status.code(), Some(1));
}

/// `setcap cap_net_bind_service,cap_net_raw=ep` and a bounding set without
/// CAP_NET_RAW: the exec fails with EPERM, and lint says why beforehand.
#[test]
fn ep_file_capabilities_outside_the_bounding_set() {
    require_recording!(
        "ep_file_capabilities_outside_the_bounding_set",
        ["cc", "setcap", "id", "useradd"]
    );
    ensure_user("captest");
    let dir = open_tempdir();
    let bin = compile_bind_low_port(dir.path());
    let ok = Command::new("setcap")
        .arg("cap_net_bind_service,cap_net_raw=ep")
        .arg(&bin)
        .status()
        .unwrap();
    assert!(ok.success(), "setcap");
    let unit = write_unit(
        dir.path(),
        "ep.service",
        &format!(
            "ExecStart={}\nUser=captest\nCapabilityBoundingSet=CAP_NET_BIND_SERVICE\n",
            bin.display()
        ),
    );
    let run = capcheck(&["run", unit.to_str().unwrap()]);
    let out = String::from_utf8_lossy(&run.stdout);
    assert!(
        out.contains("exec failed: Operation not permitted"),
        "{out}"
    );
    let lint = capcheck(&[
        "lint",
        "--isolated",
        "--format",
        "concise",
        "--select",
        "CAP401",
        unit.to_str().unwrap(),
    ]);
    let lint_out = String::from_utf8_lossy(&lint.stdout);
    assert!(
        lint_out.contains("CAP401 [error]") && lint_out.contains("lacks CAP_NET_RAW"),
        "{lint_out}"
    );
}

/// `record -- CMD` runs that argv as given (no shell between) as the user
/// named, with only that user's group.
#[test]
fn records_exactly_the_command_as_the_user() {
    require_recording!("records_exactly_the_command_as_the_user", ["id", "useradd"]);
    ensure_user("captest");
    let o = capcheck(&[
        "record",
        "--user",
        "captest",
        "--",
        "/bin/sh",
        "-c",
        "id -u; id -G; echo \"$@\"",
        "sh",
        "x;id",
        "$HOME",
    ]);
    let out = String::from_utf8_lossy(&o.stdout);
    let lines: Vec<&str> = out.lines().take(3).collect();
    assert_eq!(
        lines,
        [
            id_of("-u", "captest"),
            id_of("-g", "captest"),
            "x;id $HOME".to_string()
        ],
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(o.status.code(), Some(0));
}

/// `record --unit` runs ExecStartPre= and ExecStart= as the unit's User=;
/// not a `+` command (it runs with full privileges, nothing to learn),
/// not ExecStartPost= or ExecStop=.
#[test]
fn a_unit_is_recorded_through_its_start_commands_as_its_user() {
    use std::os::unix::fs::PermissionsExt;
    require_recording!(
        "a_unit_is_recorded_through_its_start_commands_as_its_user",
        ["id", "useradd"]
    );
    ensure_user("captest");
    let dir = open_tempdir();
    let marks = dir.path().join("marks");
    std::fs::create_dir(&marks).unwrap();
    std::fs::set_permissions(&marks, std::fs::Permissions::from_mode(0o777)).unwrap();
    let mark = |directive: &str, prefix: &str, name: &str| {
        format!(
            "{directive}={prefix}/bin/sh -c 'id -u > {}/{name}'\n",
            marks.display()
        )
    };
    let body = [
        mark("ExecStartPre", "", "pre"),
        mark("ExecStartPre", "+", "privileged"),
        mark("ExecStart", "", "start"),
        mark("ExecStartPost", "", "post"),
        mark("ExecStop", "", "stop"),
    ]
    .concat();
    let unit = write_unit(
        dir.path(),
        "marks.service",
        &format!("Type=oneshot\nUser=captest\n{body}"),
    );
    let o = capcheck(&["record", "--unit", unit.to_str().unwrap()]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let mut ran: Vec<(String, String)> = std::fs::read_dir(&marks)
        .unwrap()
        .flatten()
        .map(|e| {
            let uid = std::fs::read_to_string(e.path()).unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                uid.trim().to_string(),
            )
        })
        .collect();
    ran.sort();
    let uid = id_of("-u", "captest");
    assert_eq!(
        ran,
        [("pre".to_string(), uid.clone()), ("start".to_string(), uid)]
    );
}

/// The global tracing settings, to compare before and after.
fn tracing_state() -> Vec<(String, String)> {
    let root = Path::new("/sys/kernel/tracing");
    let files = [
        "tracing_on",
        "set_event_pid",
        "current_tracer",
        "options/event-fork",
        "events/capability/cap_capable/enable",
        "events/capability/cap_capable/trigger",
        "events/sched/sched_process_exec/enable",
        "buffer_size_kb",
    ];
    let mut state: Vec<(String, String)> = files
        .iter()
        .map(|f| {
            (
                f.to_string(),
                std::fs::read_to_string(root.join(f)).unwrap_or_default(),
            )
        })
        .collect();
    let mut instances: Vec<String> = std::fs::read_dir(root.join("instances"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    instances.sort();
    state.push(("instances".to_string(), instances.join(" ")));
    let mounted = std::fs::read_to_string("/proc/mounts")
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(" tracefs "))
        .count();
    state.push(("tracefs mounts".to_string(), mounted.to_string()));
    state
}

#[test]
fn tracing_state_is_restored_also_when_interrupted() {
    require_recording!(
        "tracing_state_is_restored_also_when_interrupted",
        ["sleep", "pgrep"]
    );
    let before = tracing_state();
    let _ = needed(&["true"]);
    assert_eq!(tracing_state(), before, "after a recording");
    let mut child = Command::new(env!("CARGO_BIN_EXE_capcheck"))
        .args(["record", "--timeout", "60s", "--", "sleep", "30"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(800));
    // SAFETY: sending SIGINT to our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let started = std::time::Instant::now();
    let status = child.wait().unwrap();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "Ctrl-C stops the recording"
    );
    assert!(
        status.code().is_some(),
        "capcheck exits on its own after Ctrl-C"
    );
    let sleeping = Command::new("pgrep")
        .args(["-x", "-u", "nobody", "sleep"])
        .output()
        .unwrap();
    assert!(
        sleeping.stdout.is_empty(),
        "the recorded program was killed"
    );
    assert_eq!(tracing_state(), before, "after an interrupted recording");
}

/// SIGKILL leaves capcheck no chance to clean up: the recorded program dies
/// with it, the global tracing settings were never touched (capcheck
/// traces in its own instance), and the next recording removes the dead
/// one's instance.
#[test]
fn a_killed_recorder_changes_no_global_setting_and_is_cleaned_up() {
    require_recording!(
        "a_killed_recorder_changes_no_global_setting_and_is_cleaned_up",
        ["sleep", "pgrep"]
    );
    let before = tracing_state();
    let mut child = Command::new(env!("CARGO_BIN_EXE_capcheck"))
        .args(["record", "--timeout", "60s", "--", "sleep", "31.5"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(800));
    let instance = format!("capcheck-{}", child.id());
    child.kill().unwrap();
    child.wait().unwrap();
    let left = tracing_state();
    assert!(
        left.iter()
            .any(|(k, v)| k == "instances" && v.split(' ').any(|i| i == instance)),
        "the killed recorder's instance is still there: {left:?}"
    );
    std::thread::sleep(std::time::Duration::from_millis(200));
    let pids = Command::new("pgrep")
        .args(["-f", "^sleep 31.5$"])
        .output()
        .unwrap();
    for pid in String::from_utf8_lossy(&pids.stdout).split_whitespace() {
        // Reparented and killed; a zombie until its new parent reaps it.
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat.rsplit(") ").next().and_then(|s| s.chars().next());
        assert!(
            matches!(state, None | Some('Z')),
            "the recorded program outlived capcheck: {stat}"
        );
    }
    let without_instances = |state: Vec<(String, String)>| -> Vec<(String, String)> {
        state
            .into_iter()
            .filter(|(k, _)| k != "instances")
            .collect()
    };
    assert_eq!(
        without_instances(left),
        without_instances(before.clone()),
        "global settings after SIGKILL"
    );
    let _ = needed(&["true"]);
    assert_eq!(tracing_state(), before, "after the next recording");
}
