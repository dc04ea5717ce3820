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
    common::ensure_user("captest");
    let dir = open_tempdir();
    let bin = compile_bind_low_port(dir.path());
    let bin = bin.to_str().unwrap();
    let root_unit = write_unit(
        dir.path(),
        "bind-root.service",
        &format!("ExecStart={bin}\nUser=root\n"),
    );
    // Recorded as the user it is to run as: a profile recorded as root
    // supports confining only.
    let profile = dir.path().join("bind.toml");
    let rec = capcheck(&[
        "record",
        "--unit",
        root_unit.to_str().unwrap(),
        "--user",
        "captest",
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
    common::ensure_user("captest");
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
    common::ensure_user("captest");
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
    common::ensure_user("captest");
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

/// Reads `KEY=value` lines a test program wrote.
fn written(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A directory every user can write to, for the programs' marks.
fn marks_dir(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let marks = dir.join("marks");
    std::fs::create_dir(&marks).unwrap();
    std::fs::set_permissions(&marks, std::fs::Permissions::from_mode(0o777)).unwrap();
    marks
}

/// Environment=, EnvironmentFile= (`-` for a missing one), UnsetEnvironment=
/// and `$VAR`/`${VAR}` expansion reach the program as systemd 252 gives
/// them, in `run` and in `record --unit`; `:` turns expansion off.
#[test]
fn a_units_environment_and_expanded_argv_reach_the_program() {
    require_recording!(
        "a_units_environment_and_expanded_argv_reach_the_program",
        ["id", "useradd"]
    );
    common::ensure_user("captest");
    let dir = open_tempdir();
    let marks = marks_dir(dir.path());
    let env_file = dir.path().join("daemon.env");
    std::fs::write(
        &env_file,
        "# options as Debian's /etc/default files hold them\nDAEMON_OPTS=-p 80 -o \"A B\"\nexport IGNORED=1\nFROM_FILE=file\n",
    )
    .unwrap();
    let unit = write_unit(
        dir.path(),
        "envtest.service",
        &format!(
            "Type=oneshot\nUser=captest\nEnvironment=\"GREETING=hello world\" FROM_FILE=unit DROP=1\nEnvironmentFile={}\nEnvironmentFile=-{}/missing\nUnsetEnvironment=DROP\nExecStart=/bin/sh -c 'printf \"%%s|\" \"$@\" > {m}/argv; env > {m}/env' sh $DAEMON_OPTS ${{GREETING}} $EMPTY $$x\n",
            env_file.display(),
            dir.path().display(),
            m = marks.display()
        ),
    );
    let expected_argv = "-p|80|-o|A B|hello world|$x|";
    for how in ["run", "record"] {
        let _ = std::fs::remove_file(marks.join("argv"));
        let o = match how {
            "run" => capcheck(&["run", unit.to_str().unwrap()]),
            _ => capcheck(&["record", "--unit", unit.to_str().unwrap()]),
        };
        assert_eq!(
            o.status.code(),
            Some(0),
            "{how}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(written(&marks.join("argv")), expected_argv, "{how}");
        let env = written(&marks.join("env"));
        for line in [
            "GREETING=hello world",
            "FROM_FILE=file",
            "USER=captest",
            "LOGNAME=captest",
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        ] {
            assert!(env.lines().any(|l| l == line), "{how}: {line} in\n{env}");
        }
        for name in ["DROP=", "IGNORED=", "export"] {
            assert!(!env.contains(name), "{how}: {name} in\n{env}");
        }
        assert!(
            env.lines().any(|l| l.starts_with("INVOCATION_ID=")),
            "{env}"
        );
    }
    let raw = write_unit(
        dir.path(),
        "raw.service",
        &format!(
            "Type=oneshot\nEnvironment=X=1\nExecStart=:/bin/sh -c 'printf \"%%s|\" \"$@\" > {m}/raw' sh $X ${{X}}\n",
            m = marks.display()
        ),
    );
    let o = capcheck(&["run", raw.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        written(&marks.join("raw")),
        "$X|${X}|",
        "`:` disables expansion"
    );
    // A missing EnvironmentFile= without `-` fails the start, as in systemd.
    let missing = write_unit(
        dir.path(),
        "missing.service",
        "EnvironmentFile=/nonexistent/capcheck.env\nExecStart=/bin/true\n",
    );
    let o = capcheck(&["run", missing.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("failed to load environment files"));
}

/// The `[recording]` table of a profile text, as (key, value) lines.
fn recording_value(profile: &str, key: &str) -> Option<String> {
    let table = profile.split("[recording]\n").nth(1)?;
    table
        .lines()
        .take_while(|l| !l.starts_with('['))
        .find_map(|l| l.strip_prefix(&format!("{key} = ")))
        .map(str::to_string)
}

/// Each command runs as systemd runs it: `!` as root despite User=, the
/// others as User=, a unit without User= as root, DynamicUser= as a free
/// dynamic uid; `--user` overrides; the profile says which.
#[test]
fn each_command_runs_with_the_identity_systemd_gives_it() {
    require_recording!(
        "each_command_runs_with_the_identity_systemd_gives_it",
        ["id", "useradd", "getent", "sh"]
    );
    common::ensure_user("captest");
    let dir = open_tempdir();
    let marks = marks_dir(dir.path());
    let id = |name: &str| format!("/bin/sh -c 'id -u > {}/{name}'", marks.display());
    let mark = |name: &str| written(&marks.join(name)).trim().to_string();
    let profile = |name: &str| dir.path().join(format!("{name}.toml"));
    let record = |unit: &Path, extra: &[&str], out: &Path| {
        let mut args = vec![
            "record",
            "--unit",
            unit.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let o = capcheck(&args);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        (
            std::fs::read_to_string(out).unwrap(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let chrony_like = write_unit(
        dir.path(),
        "bang.service",
        &format!(
            "User=captest\nExecStartPre={}\nExecStart=!{}\n",
            id("pre"),
            id("bang")
        ),
    );
    let (text, _) = record(&chrony_like, &[], &profile("bang"));
    assert_eq!(mark("pre"), id_of("-u", "captest"));
    assert_eq!(mark("bang"), "0", "`!` keeps root");
    assert_eq!(
        recording_value(&text, "identity").as_deref(),
        Some("\"root\""),
        "{text}"
    );
    assert_eq!(recording_value(&text, "uid").as_deref(), Some("0"));

    let plain = write_unit(
        dir.path(),
        "plain.service",
        &format!("ExecStart={}\n", id("plain")),
    );
    let (text, _) = record(&plain, &[], &profile("plain"));
    assert_eq!(mark("plain"), "0", "no User= is root");
    assert_eq!(recording_value(&text, "user").as_deref(), Some("\"root\""));
    let (text, _) = record(&plain, &["--user", "captest"], &profile("plain-user"));
    assert_eq!(mark("plain"), id_of("-u", "captest"), "--user overrides");
    assert_eq!(
        recording_value(&text, "identity").as_deref(),
        Some("\"user\"")
    );

    let dynamic = write_unit(
        dir.path(),
        "capdyn.service",
        &format!("DynamicUser=yes\nExecStart={}\n", id("dynamic")),
    );
    let (text, stderr) = record(&dynamic, &[], &profile("dynamic"));
    let uid: u32 = mark("dynamic").parse().unwrap();
    assert!((61184..=65519).contains(&uid), "{uid}");
    let known = Command::new("getent")
        .args(["passwd", &uid.to_string()])
        .status()
        .unwrap();
    assert!(!known.success(), "uid {uid} belongs to no user");
    assert!(
        stderr.contains("DynamicUser=yes: running as uid"),
        "{stderr}"
    );
    assert_eq!(
        recording_value(&text, "user"),
        Some(format!("\"uid {uid}\"")),
        "{text}"
    );
}

/// Records `argv` (after `--`) with `extra` options into a new profile:
/// (exit code, profile text, standard error).
fn record_command(extra: &[&str], argv: &[&str]) -> (Option<i32>, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("p.toml");
    let mut args = vec!["record", "-o", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    args.push("--");
    args.extend_from_slice(argv);
    let o = capcheck(&args);
    (
        o.status.code(),
        std::fs::read_to_string(&out).unwrap_or_default(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// A program still running at the timeout is stopped as systemd stops a
/// service, SIGTERM first, and traced meanwhile: a root master that ends
/// its worker (running as nobody) on SIGTERM needs CAP_KILL, and that is in
/// the profile; the recording still counts as the run it was (still
/// running at the timeout, the time it ran), and nothing is left.
#[test]
fn a_program_stopped_at_the_timeout_is_traced_shutting_down() {
    require_recording!(
        "a_program_stopped_at_the_timeout_is_traced_shutting_down",
        ["setpriv", "sleep"]
    );
    let master = "setpriv --reuid=65534 --regid=65534 --clear-groups sleep 302.75 & \
                  worker=$!; trap 'kill $worker; wait $worker; exit 0' TERM; wait";
    let (code, profile, stderr) = record_command(
        &["--user", "root", "--timeout", "2s"],
        &["/bin/sh", "-c", master],
    );
    assert_eq!(code, Some(0), "{stderr}\n{profile}");
    assert!(
        profile.contains("[capabilities.CAP_KILL]"),
        "the master's kill of its worker at SIGTERM:\n{profile}"
    );
    let outcome = recording_value(&profile, "outcome").unwrap_or_default();
    assert!(outcome.contains("still running after 2.0s"), "{outcome}");
    assert!(survivors("sleep 302.75").is_empty(), "the worker is gone");
}

/// A recording is evidence only when the program worked: exit 0, still
/// running (itself or the daemon it forked) at the end, and the probe
/// passing when there is one. Otherwise capcheck exits 1 and marks the
/// profile failed.
#[test]
fn a_recording_succeeds_only_when_the_program_worked() {
    require_recording!(
        "a_recording_succeeds_only_when_the_program_worked",
        ["sh", "sleep", "setsid"]
    );
    let dir = open_tempdir();
    let flag = dir.path().join("up");
    let flag = flag.to_str().unwrap();
    let cases: Vec<(Vec<&str>, Vec<String>, bool, &str)> = vec![
        (
            vec![],
            vec!["/bin/sh".into(), "-c".into(), "exit 3".into()],
            false,
            "exited with status 3",
        ),
        (
            vec![],
            vec!["/bin/true".into()],
            true,
            "exited with status 0",
        ),
        (
            vec!["--timeout", "1s"],
            vec![
                "/bin/sh".into(),
                "-c".into(),
                "(setsid sleep 301.25 &); exit 0".into(),
            ],
            true,
            "exited with status 0, its processes still running when stopped",
        ),
        (
            vec!["--timeout", "5s"],
            vec![
                "/bin/sh".into(),
                "-c".into(),
                "(setsid sh -c 'sleep 0.3; exit 4' &); exit 0".into(),
            ],
            false,
            "a process it left",
        ),
        (
            vec!["--timeout", "3s", "--settle", "300ms", "--probe"],
            vec![
                "/bin/sh".into(),
                "-c".into(),
                format!("touch {flag}; sleep 5"),
            ],
            true,
            "still running after 3.0s",
        ),
        (
            vec!["--timeout", "2s", "--settle", "300ms", "--probe"],
            vec!["/bin/sleep".into(), "5".into()],
            false,
            "still running after 2.0s",
        ),
        // Ready only after 1.5 s: the probe is asked again until it passes.
        (
            vec!["--timeout", "4s", "--settle", "300ms", "--probe"],
            vec![
                "/bin/sh".into(),
                "-c".into(),
                format!("sleep 1.5; touch {flag}; sleep 5"),
            ],
            true,
            "still running after 4.0s",
        ),
    ];
    for (mut extra, argv, succeeds, outcome) in cases {
        let probe = format!("test -e {flag}");
        if extra.last() == Some(&"--probe") {
            extra.push(&probe);
        }
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let _ = std::fs::remove_file(flag);
        let (code, profile, stderr) = record_command(&extra, &argv);
        assert_eq!(
            code,
            Some(if succeeds { 0 } else { 1 }),
            "{argv:?}: {stderr}"
        );
        assert_eq!(
            recording_value(&profile, "succeeded"),
            Some(succeeds.to_string()),
            "{argv:?}:\n{profile}"
        );
        let got = recording_value(&profile, "outcome").unwrap_or_default();
        assert!(got.contains(outcome), "{argv:?}: {got}");
        if extra.contains(&"--probe") {
            assert_eq!(
                recording_value(&profile, "probe"),
                Some(format!("\"{probe}\""))
            );
            assert_eq!(
                recording_value(&profile, "probe-passed"),
                Some(succeeds.to_string())
            );
        }
    }
}

/// A probe runs in a process group of its own, ended with it: one that
/// does not end is killed at `--probe-timeout` (not at the program's own
/// timeout) and the recording fails; what a passing probe left running is
/// killed too, and not taken for a failed process of the program's (which
/// exits 0 by itself here: what it left behind counts then).
#[test]
fn a_probe_is_bounded_and_what_it_starts_ends_with_it() {
    require_recording!(
        "a_probe_is_bounded_and_what_it_starts_ends_with_it",
        ["sh", "sleep", "pgrep"]
    );
    let cases = [
        (
            "sleep 321.5 & sleep 322.5",
            ["/bin/sleep", "30"],
            false,
            "did not finish within 1s (killed with its process group)",
        ),
        ("sleep 323.5 & true", ["/bin/sleep", "1"], true, ""),
    ];
    for (probe, argv, passes, says) in cases {
        let (code, profile, stderr) = record_command(
            &[
                "--timeout",
                "4s",
                "--settle",
                "200ms",
                "--probe",
                probe,
                "--probe-timeout",
                "1s",
            ],
            &argv,
        );
        assert_eq!(
            code,
            Some(if passes { 0 } else { 1 }),
            "{stderr}\n{profile}"
        );
        assert_eq!(
            recording_value(&profile, "probe-passed"),
            Some(passes.to_string())
        );
        assert!(stderr.contains(says), "{stderr}");
        for left in ["sleep 321.5", "sleep 322.5", "sleep 323.5"] {
            assert!(survivors(left).is_empty(), "the probe's {left} is left");
        }
    }
}

/// In a PID namespace tracefs cannot see the started process: capcheck
/// refuses rather than writing an empty profile.
#[test]
fn a_blind_recording_is_refused() {
    require_recording!(
        "a_blind_recording_is_refused",
        ["unshare", "pgrep", "setsid"]
    );
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("p.toml");
    let o = Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc"])
        .arg(env!("CARGO_BIN_EXE_capcheck"))
        .args(["record", "-o", out.to_str().unwrap(), "--", "/bin/true"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("PID namespace"), "{stderr}");
    assert!(!out.exists(), "no profile is written");
}

/// Live processes whose command line is exactly `argv`.
fn survivors(argv: &str) -> Vec<String> {
    let o = Command::new("pgrep")
        .args(["-f", &format!("^{argv}$")])
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            stat.rsplit(") ")
                .next()
                .and_then(|s| s.chars().next())
                .is_some_and(|s| s != 'Z')
        })
        .map(str::to_string)
        .collect()
}

/// A program that double-forks a daemon (setsid) and exits 0: nothing of
/// its tree survives `record` or `run`, whether they end at the timeout,
/// by SIGTERM, or by SIGKILL (then the next capcheck ends it).
#[test]
fn nothing_the_program_started_outlives_capcheck() {
    require_recording!(
        "nothing_the_program_started_outlives_capcheck",
        ["sh", "setsid"]
    );
    let dir = open_tempdir();
    let daemon = |seconds: &str| format!("sleep {seconds}");
    let unit = |seconds: &str| {
        write_unit(
            dir.path(),
            &format!("fork{}.service", seconds.replace('.', "-")),
            &format!(
                "Type=forking\nExecStart=/bin/sh -c '(setsid {} &); exit 0'\n",
                daemon(seconds)
            ),
        )
    };
    let spawn = |args: Vec<String>| {
        Command::new(env!("CARGO_BIN_EXE_capcheck"))
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let wait_for = |what: &str| {
        let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while survivors(what).is_empty() && std::time::Instant::now() < until {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert!(!survivors(what).is_empty(), "{what} started");
    };
    for verb in ["record", "run"] {
        let as_args = |seconds: &str, timeout: &str| -> Vec<String> {
            let u = unit(seconds).to_str().unwrap().to_string();
            match verb {
                "record" => vec![
                    "record".into(),
                    "--timeout".into(),
                    timeout.into(),
                    "--unit".into(),
                    u,
                ],
                _ => vec!["run".into(), "--timeout".into(), timeout.into(), u],
            }
        };
        // At the timeout.
        let mut c = spawn(as_args("311.5", "1s"));
        let status = c.wait().unwrap();
        assert_eq!(
            status.code(),
            Some(0),
            "{verb}: a forked daemon still running succeeded"
        );
        assert!(
            survivors(&daemon("311.5")).is_empty(),
            "{verb}: after the timeout"
        );
        // SIGTERM to capcheck.
        let mut c = spawn(as_args("312.5", "60s"));
        wait_for(&daemon("312.5"));
        // SAFETY: signalling our own child.
        unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
        let status = c.wait().unwrap();
        assert_eq!(status.code(), Some(1), "{verb}: an interrupted run fails");
        assert!(
            survivors(&daemon("312.5")).is_empty(),
            "{verb}: after SIGTERM"
        );
        // SIGKILL to capcheck: the daemon lives on until the next capcheck.
        let mut c = spawn(as_args("313.5", "60s"));
        wait_for(&daemon("313.5"));
        c.kill().unwrap();
        c.wait().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert!(
            !survivors(&daemon("313.5")).is_empty(),
            "{verb}: SIGKILL leaves it"
        );
        let next = capcheck(&["record", "--", "/bin/true"]);
        assert_eq!(next.status.code(), Some(0));
        assert!(
            survivors(&daemon("313.5")).is_empty(),
            "{verb}: the next start ends it"
        );
    }
    let leftovers: Vec<String> = std::fs::read_dir("/sys/fs/cgroup/unified")
        .or_else(|_| std::fs::read_dir("/sys/fs/cgroup"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("capcheck-"))
                .collect()
        })
        .unwrap_or_default();
    assert!(leftovers.is_empty(), "cgroups left: {leftovers:?}");
}

/// A profile has one identity: recording as a user into a root profile,
/// or merging the two, is refused; a failed recording taints the merge.
#[test]
fn profiles_keep_one_identity_and_carry_failures() {
    require_recording!(
        "profiles_keep_one_identity_and_carry_failures",
        ["true", "false"]
    );
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let rec = |user: &str, out: &str, argv: &[&str]| {
        let mut args = vec!["record", "--user", user, "-o", out, "--"];
        args.extend_from_slice(argv);
        capcheck(&args)
    };
    assert_eq!(
        rec("root", &path("root.toml"), &["/bin/true"])
            .status
            .code(),
        Some(0)
    );
    let mixed = rec("nobody", &path("root.toml"), &["/bin/true"]);
    assert_eq!(mixed.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&mixed.stderr).contains("one identity"));
    assert_eq!(
        rec("nobody", &path("user.toml"), &["/bin/true"])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(
        rec("nobody", &path("failed.toml"), &["/bin/false"])
            .status
            .code(),
        Some(1)
    );
    let merge = |inputs: &[&str], out: &str| {
        let mut args = vec![
            "profile".to_string(),
            "merge".into(),
            "-o".into(),
            path(out),
        ];
        args.extend(inputs.iter().map(|i| path(i)));
        Command::new(env!("CARGO_BIN_EXE_capcheck"))
            .args(&args)
            .output()
            .unwrap()
    };
    let refused = merge(&["root.toml", "user.toml"], "mixed.toml");
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("one identity"));
    assert!(!dir.path().join("mixed.toml").exists());
    let merged = merge(&["user.toml", "failed.toml"], "merged.toml");
    assert_eq!(
        merged.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&merged.stderr)
    );
    let text = std::fs::read_to_string(dir.path().join("merged.toml")).unwrap();
    assert_eq!(
        recording_value(&text, "succeeded").as_deref(),
        Some("false"),
        "{text}"
    );
    assert_eq!(
        recording_value(&text, "identity").as_deref(),
        Some("\"user\"")
    );
}

/// Reading a network sysctl as a user checks CAP_NET_ADMIN
/// (net_ctl_permissions) without needing it.
#[test]
fn reading_a_network_sysctl_needs_nothing() {
    require_recording!("reading_a_network_sysctl_needs_nothing", ["cat"]);
    let (caps, profile) = needed(&["cat", "/proc/sys/net/core/somaxconn"]);
    assert!(caps.is_empty(), "{profile}");
}

/// `run` (and `record`) make RuntimeDirectory= and its kin before the
/// first command, as systemd does: owned by the service's user, with the
/// setting's mode, and the runtime directory goes again when the run ends.
#[test]
fn exec_directories_are_made_as_systemd_makes_them() {
    require_recording!(
        "exec_directories_are_made_as_systemd_makes_them",
        ["sh", "stat", "touch", "id"]
    );
    let dir = open_tempdir();
    let runtime = Path::new("/run/capcheck-test-runtime");
    let state = Path::new("/var/lib/capcheck-test-state");
    let _ = std::fs::remove_dir_all(runtime);
    let _ = std::fs::remove_dir_all(state);
    let unit = write_unit(
        dir.path(),
        "dirs.service",
        "User=nobody\nRuntimeDirectory=capcheck-test-runtime\nRuntimeDirectoryMode=0710\n\
         StateDirectory=capcheck-test-state\n\
         ExecStart=/bin/sh -c 'stat -c \"%%U %%a\" /run/capcheck-test-runtime; touch /run/capcheck-test-runtime/ok /var/lib/capcheck-test-state/ok'\n",
    );
    let out = capcheck(&["run", unit.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("nobody 710\n"), "{stdout}");
    assert!(!runtime.exists(), "the runtime directory outlived the run");
    assert!(
        state.join("ok").is_file(),
        "the state directory was not writable"
    );
    let owner = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(state).unwrap());
    assert_eq!(owner.to_string(), id_of("-u", "nobody"));
    std::fs::remove_dir_all(state).unwrap();
}

/// A numeric User= with no entry in the user database: systemd 252 fails
/// the start (217/USER, checked in the real-systemd lane), and so does
/// `run`, instead of running the program as that uid.
#[test]
fn a_numeric_user_without_an_entry_fails_as_in_systemd() {
    require_recording!(
        "a_numeric_user_without_an_entry_fails_as_in_systemd",
        ["true"]
    );
    let dir = open_tempdir();
    let unit = write_unit(
        dir.path(),
        "numeric.service",
        "User=4242\nExecStart=/bin/true\n",
    );
    let out = capcheck(&["run", unit.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("217/USER"), "{stderr}");
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// Removes the file at its path when dropped (an init script the test put
/// in /etc/init.d).
struct Removed(PathBuf);

impl Drop for Removed {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The start command of a Type=forking unit (an init script's, as
/// systemd-sysv-generator writes it) leaves the daemon behind: the
/// recording follows that daemon to the timeout, and fails, saying so,
/// when there was none to follow or it ended before. An init script gets
/// SYSTEMCTL_SKIP_REDIRECT, which Debian's lsb hook reads as "run by
/// systemd" (its parent is PID 1 there): without it the script would hand
/// the start to systemctl, and the daemon would run outside the recording.
#[test]
fn a_forking_units_daemon_is_followed_and_a_lost_one_said() {
    require_recording!(
        "a_forking_units_daemon_is_followed_and_a_lost_one_said",
        ["sh", "sleep", "setsid", "env"]
    );
    let dir = open_tempdir();
    let record = |unit: &Path, timeout: &str| {
        let out = dir.path().join("p.toml");
        let _ = std::fs::remove_file(&out);
        let o = capcheck(&[
            "record",
            "--unit",
            unit.to_str().unwrap(),
            "--timeout",
            timeout,
            "-o",
            out.to_str().unwrap(),
        ]);
        let profile = std::fs::read_to_string(&out).unwrap_or_default();
        let outcome = recording_value(&profile, "outcome").unwrap_or_default();
        (
            o.status.code(),
            outcome,
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let forking = |name: &str, start: &str| {
        write_unit(
            dir.path(),
            name,
            &format!("Type=forking\nExecStart={start}\n"),
        )
    };

    let followed = forking(
        "followed.service",
        "/bin/sh -c '(setsid sleep 301.5 &); exit 0'",
    );
    let (code, outcome, stderr) = record(&followed, "2s");
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        outcome
            .contains("exited with status 0, its processes still running when stopped after 2.0s"),
        "{outcome}"
    );

    let nothing = forking("nothing.service", "/bin/true");
    let (code, outcome, _) = record(&nothing, "5s");
    assert_eq!(code, Some(1));
    assert!(
        outcome.contains("it left no process running, though its unit expects the daemon it starts (Type=forking): the recording lost it"),
        "{outcome}"
    );

    let ended = forking("ended.service", "/bin/sh -c '(setsid sleep 0.5 &); exit 0'");
    let (code, outcome, _) = record(&ended, "10s");
    assert_eq!(code, Some(1));
    assert!(
        outcome.contains("the daemon it left ended by itself after")
            && outcome.contains("before the timeout: the recording lost it"),
        "{outcome}"
    );

    // An init script sees SYSTEMCTL_SKIP_REDIRECT; a program elsewhere
    // gets the unit's environment only.
    let environments = dir.path().join("env");
    std::fs::create_dir(&environments).unwrap();
    let script = Removed(PathBuf::from(format!(
        "/etc/init.d/capcheck-test-{}",
        std::process::id()
    )));
    std::fs::create_dir_all("/etc/init.d").unwrap();
    std::fs::write(
        &script.0,
        format!(
            "#!/bin/sh\nenv > {}/$1\n(setsid sleep 301.75 &)\n",
            environments.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script.0, std::fs::Permissions::from_mode(0o755)).unwrap();
    let unit = forking("script.service", &format!("{} start", script.0.display()));
    let (code, _, stderr) = record(&unit, "1s");
    assert_eq!(code, Some(0), "{stderr}");
    let seen = std::fs::read_to_string(environments.join("start")).unwrap();
    assert!(
        seen.lines().any(|l| l == "SYSTEMCTL_SKIP_REDIRECT=1"),
        "{seen}"
    );
    let plain = forking(
        "plain.service",
        &format!(
            "/bin/sh -c 'env > {}/plain; (setsid sleep 301.8 &)'",
            environments.display()
        ),
    );
    let (code, _, stderr) = record(&plain, "1s");
    assert_eq!(code, Some(0), "{stderr}");
    let seen = std::fs::read_to_string(environments.join("plain")).unwrap();
    assert!(!seen.contains("SYSTEMCTL_SKIP_REDIRECT"), "{seen}");
}
