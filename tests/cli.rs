//! The command line end to end: exit codes, selection, stdin,
//! configuration discovery, output files, GitHub Actions detection,
//! `rules`, `explain`, `show --format json`.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn capcheck(args: &[&str]) -> Output {
    capcheck_in(Path::new(env!("CARGO_MANIFEST_DIR")), args, None)
}

fn capcheck_in(dir: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_capcheck"))
        .args(args)
        .current_dir(dir)
        .env_remove("GITHUB_ACTIONS")
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn codes(o: &Output) -> Vec<String> {
    let findings: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).expect("json output");
    findings
        .iter()
        .map(|f| f["code"].as_str().unwrap().to_string())
        .collect()
}

const CLEAN: &str = "fixtures/examples/bind-captest.service";
const ROOT: &str = "fixtures/examples/bind-root.service";

#[test]
fn exit_codes_follow_the_failure_level() {
    let clean = capcheck(&["lint", "--isolated", CLEAN]);
    assert_eq!(clean.status.code(), Some(0), "{}", stdout(&clean));
    assert!(stdout(&clean).contains("No findings in 1 unit."));
    assert_eq!(
        capcheck(&["lint", "--isolated", ROOT]).status.code(),
        Some(1)
    );
    assert_eq!(
        capcheck(&["lint", "--isolated", "--exit-zero", ROOT])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(
        capcheck(&["lint", "--isolated", "--fail-on", "error", ROOT])
            .status
            .code(),
        Some(0)
    );
    let quiet = capcheck(&["lint", "--isolated", "-q", "--format", "concise", ROOT]);
    assert!(!stdout(&quiet).contains("Found"));
}

#[test]
fn select_and_ignore() {
    let only = capcheck(&[
        "lint",
        "--isolated",
        "--format",
        "json",
        "--select",
        "CAP101",
        ROOT,
    ]);
    assert_eq!(codes(&only), ["CAP101"]);
    let by_name = capcheck(&[
        "lint",
        "--isolated",
        "--format",
        "json",
        "--select",
        "runs-as-root,CAP3",
        ROOT,
    ]);
    assert_eq!(codes(&by_name), ["CAP301", "CAP306", "CAP101"]);
    let ignored = capcheck(&[
        "lint",
        "--isolated",
        "--format",
        "json",
        "--ignore",
        "CAP1,CAP3",
        ROOT,
    ]);
    assert!(codes(&ignored).is_empty());
    let unknown = capcheck(&["lint", "--isolated", "--select", "CAP777", ROOT]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("CAP777"));
}

#[test]
fn stdin_with_a_file_name() {
    let text = "[Service]\nExecStart=/bin/app\nUser=root\n";
    let o = capcheck_in(
        Path::new(env!("CARGO_MANIFEST_DIR")),
        &[
            "lint",
            "--isolated",
            "--format",
            "concise",
            "-",
            "--stdin-filename",
            "web.service",
        ],
        Some(text),
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("\nweb.service:3:1: CAP101 [warning]"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn configuration_is_discovered_and_applied() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("units/vendor")).unwrap();
    std::fs::copy(ROOT, dir.path().join("units/root.service")).unwrap();
    std::fs::copy(ROOT, dir.path().join("units/vendor/vendor.service")).unwrap();
    std::fs::write(
        dir.path().join("capcheck.toml"),
        "ignore = [\"CAP306\"]\n[severity]\nCAP101 = \"error\"\nCAP301 = \"off\"\n[per-path-ignores]\n\"units/vendor/*\" = [\"CAP101\"]\n",
    )
    .unwrap();
    let sub = dir.path().join("units");
    let o = capcheck_in(&sub, &["lint", "--format", "json", "."], None);
    let findings: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    let summary: Vec<(String, String, String)> = findings
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_string(),
                f["code"].as_str().unwrap().to_string(),
                f["severity"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [(
            "root.service".to_string(),
            "CAP101".to_string(),
            "error".to_string()
        )]
    );
    let isolated = capcheck_in(&sub, &["lint", "--isolated", "--format", "json", "."], None);
    assert_eq!(
        serde_json::from_slice::<Vec<serde_json::Value>>(&isolated.stdout)
            .unwrap()
            .len(),
        6
    );
    std::fs::write(dir.path().join("capcheck.toml"), "colour = true\n").unwrap();
    let bad = capcheck_in(&sub, &["lint", "."], None);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("capcheck.toml"));
}

#[test]
fn bad_operands_exit_2_after_linting_the_rest() {
    let o = capcheck(&[
        "lint",
        "--isolated",
        "--format",
        "concise",
        "no/such/file.service",
        ROOT,
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stdout(&o).contains("bind-root.service:6:1: CAP101"));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no/such/file.service"));
}

#[test]
fn github_actions_switches_the_default_format() {
    let o = Command::new(env!("CARGO_BIN_EXE_capcheck"))
        .args(["lint", "--isolated", ROOT])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("GITHUB_ACTIONS", "true")
        .output()
        .unwrap();
    assert!(
        stdout(&o).starts_with("::warning file=fixtures/examples/bind-root.service,"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn output_file_and_platform() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("report.json");
    let o = capcheck(&[
        "lint",
        "--isolated",
        "--format",
        "json",
        "--output-file",
        file.to_str().unwrap(),
        "--platform",
        "talos",
        "fixtures/checks/CAP501/bad.service",
    ]);
    assert!(o.stdout.is_empty());
    let report = std::fs::read_to_string(&file).unwrap();
    assert!(report.contains("\"CAP501\""));
    assert_eq!(
        capcheck(&["lint", "--platform", "mars", ROOT])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn rules_and_explain() {
    let list = stdout(&capcheck(&["rules"]));
    for r in capcheck::checks::all() {
        assert!(
            list.contains(r.meta().code) && list.contains(r.meta().name),
            "{}",
            r.meta().code
        );
    }
    let doc = stdout(&capcheck(&["explain", "CAP303"]));
    assert!(doc.starts_with("# CAP303 ambient-outside-bounding\n"));
    for heading in [
        "## What it finds",
        "## Why it matters",
        "## Example",
        "## Fix",
        "## Suppression",
    ] {
        assert!(doc.contains(heading), "{heading}");
    }
    assert_eq!(capcheck(&["explain", "CAP999"]).status.code(), Some(2));
    let version = stdout(&capcheck(&["--version"]));
    assert!(version.contains("systemd 252"), "{version}");
}

#[test]
fn show_json_has_the_documented_keys() {
    let o = capcheck(&["show", "--format", "json", CLEAN]);
    assert_eq!(o.status.code(), Some(0));
    let units: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    let u = &units[0];
    for key in [
        "unit",
        "path",
        "loaded",
        "user",
        "group",
        "dynamic_user",
        "capability_bounding_set",
        "ambient_capabilities",
        "no_new_privileges",
        "no_new_privileges_at_runtime",
        "secure_bits",
        "commands",
        "sources",
    ] {
        assert!(u.get(key).is_some(), "missing {key}");
    }
    assert_eq!(u["user"], "captest");
    assert_eq!(
        u["capability_bounding_set"],
        serde_json::json!(["CAP_NET_BIND_SERVICE"])
    );
    assert_eq!(
        u["commands"][0]["argv"],
        serde_json::json!(["/usr/local/bin/bind_low_port"])
    );
    assert_eq!(u["sources"]["User"][0]["line"], 6);
    let root: Vec<serde_json::Value> =
        serde_json::from_slice(&capcheck(&["show", "--format", "json", ROOT]).stdout).unwrap();
    assert_eq!(
        root[0]["capability_bounding_set"].as_array().unwrap().len(),
        41
    );
    assert_eq!(root[0]["user"], "root");
}

#[test]
fn lint_a_root_tree() {
    let o = capcheck(&[
        "lint",
        "--isolated",
        "--format",
        "json",
        "--select",
        "CAP101",
        "--root",
        "fixtures/semantics/root",
    ]);
    let findings: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        findings.is_empty(),
        "every unit there sets User=: {findings:?}"
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// The units a JSON lint found something in, sorted.
fn units(o: &Output) -> Vec<String> {
    let findings: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).expect("json output");
    let mut units: Vec<String> = findings
        .iter()
        .map(|f| f["unit"].as_str().unwrap().to_string())
        .collect();
    units.sort();
    units.dedup();
    units
}

/// A template is never read bare: found in a directory or an image, it is
/// read as each instance that exists there (an instance drop-in directory,
/// a link in a `.wants` directory), or, with none, as the test instance
/// `i`; named, as the test instance; and standard error says which.
#[test]
fn templates_are_read_as_their_instances_or_a_test_instance() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("etc/systemd/system");
    std::fs::create_dir_all(dir.join("web@a.service.d")).unwrap();
    std::fs::create_dir_all(dir.join("multi-user.target.wants")).unwrap();
    // %i is the user: an empty instance is an invalid user name (CAP001).
    let template = "[Service]\nExecStart=/bin/true\nUser=%i\n";
    std::fs::write(dir.join("web@.service"), template).unwrap();
    std::fs::write(dir.join("lone@.service"), template).unwrap();
    std::fs::write(dir.join("web@a.service.d/10-x.conf"), "[Service]\nNice=1\n").unwrap();
    std::os::unix::fs::symlink(
        "../web@.service",
        dir.join("multi-user.target.wants/web@b.service"),
    )
    .unwrap();
    let json = ["lint", "--isolated", "--exit-zero", "--format", "json"];
    let root_arg = root.path().display().to_string();

    let image = capcheck(&[&json[..], &["--root", &root_arg]].concat());
    assert_eq!(
        units(&image),
        ["lone@i.service", "web@a.service", "web@b.service"]
    );
    assert!(!codes(&image).contains(&"CAP001".to_string()));
    let stderr = String::from_utf8_lossy(&image.stderr);
    assert!(
        stderr.contains("systemd never loads a bare template; checked 2 instances that exist here (web@a.service, web@b.service), and 1 template with the test instance `i`"),
        "{stderr}"
    );

    let walked = capcheck(&[&json[..], &[&dir.display().to_string()]].concat());
    assert_eq!(
        units(&walked),
        ["lone@i.service", "web@a.service", "web@b.service"]
    );

    let named = capcheck(&[&json[..], &["--root", &root_arg, "web@.service"]].concat());
    assert_eq!(units(&named), ["web@i.service"]);
    assert!(String::from_utf8_lossy(&named.stderr).contains("(web@.service)"));
    let show = capcheck(&["show", "--root", &root_arg, "web@a.service"]);
    assert!(
        stdout(&show).contains("User                   a "),
        "{}",
        stdout(&show)
    );
}

/// Files are linted in parallel, yet the output is the same byte for byte
/// whatever the number of threads, in the order the walk sorted the files,
/// across many output batches and with unreadable units among them.
#[test]
fn parallel_output_is_deterministic_and_in_walk_order() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..2500 {
        let sub = dir.path().join(format!("d{}", i % 7));
        std::fs::create_dir_all(&sub).unwrap();
        let body = match i % 4 {
            0 => "[Service]\nExecStart=/bin/true\n".to_string(),
            1 => "[Service]\nUser=root\nCapabilityBoundingSet=CAP_SYS_ADMIN\nExecStart=/bin/true\n"
                .to_string(),
            2 => format!("[Service]\nCapabilityBoundingSet=CAP_NET_BIND_SERVICE\nAmbiantCapabilities=CAP_NET_RAW\nExecStart=/bin/sleep {i}\n"),
            _ => "[Service]\nExecStart=/bin/true\n\u{0}\u{ff}".to_string(),
        };
        std::fs::write(sub.join(format!("svc{i:04}.service")), body).unwrap();
    }
    let run = |threads: &str| {
        Command::new(env!("CARGO_BIN_EXE_capcheck"))
            .args(["lint", "--isolated", "--format", "json", "."])
            .current_dir(dir.path())
            .env("RAYON_NUM_THREADS", threads)
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    };
    let one = run("1");
    let many = run("8");
    assert_eq!(one.status.code(), many.status.code());
    assert_eq!(
        String::from_utf8_lossy(&one.stderr),
        String::from_utf8_lossy(&many.stderr)
    );
    assert!(
        one.stdout == many.stdout,
        "output differs between 1 and 8 threads"
    );

    let findings: Vec<serde_json::Value> = serde_json::from_slice(&one.stdout).unwrap();
    let paths: Vec<&str> = findings
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(paths, sorted, "findings follow the walk's sorted order");
    let distinct: std::collections::BTreeSet<&str> = paths.iter().copied().collect();
    assert!(
        distinct.len() > 1024,
        "more units with findings than one batch holds: {}",
        distinct.len()
    );
}

/// `--output-file` at a symlink a repository planted (to a file, or to one
/// that does not exist yet) replaces the link with the report and never
/// writes through it; an existing report keeps its permissions; nothing
/// temporary is left behind.
#[test]
fn output_file_replaces_a_symlink_instead_of_writing_through_it() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "precious\n").unwrap();
    let planted = dir.path().join("report.json");
    std::os::unix::fs::symlink(&victim, &planted).unwrap();
    let not_yet = dir.path().join("created-through-the-link");
    let dangling = dir.path().join("report2.json");
    std::os::unix::fs::symlink(&not_yet, &dangling).unwrap();
    let existing = dir.path().join("report3.json");
    std::fs::write(&existing, "old").unwrap();
    std::fs::set_permissions(&existing, std::fs::Permissions::from_mode(0o600)).unwrap();
    for report in [&planted, &dangling, &existing] {
        let o = capcheck(&[
            "lint",
            "--isolated",
            "--format",
            "json",
            "--output-file",
            report.to_str().unwrap(),
            ROOT,
        ]);
        assert_eq!(
            o.status.code(),
            Some(1),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let meta = std::fs::symlink_metadata(report).unwrap();
        assert!(meta.is_file(), "{report:?} is now a regular file");
        let findings: Vec<serde_json::Value> =
            serde_json::from_slice(&std::fs::read(report).unwrap()).unwrap();
        assert_eq!(findings.len(), 3);
    }
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious\n");
    assert!(!not_yet.exists());
    let mode = std::fs::metadata(&existing).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let mut left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(
        left,
        ["report.json", "report2.json", "report3.json", "victim"]
    );
}

/// A report that cannot be put in place (the path is a directory) is an
/// error, with nothing left behind.
#[test]
fn output_file_that_is_a_directory_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let o = capcheck(&[
        "lint",
        "--isolated",
        "--output-file",
        dir.path().to_str().unwrap(),
        ROOT,
    ]);
    assert_eq!(o.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains(&format!("{}: ", dir.path().display())),
        "{stderr}"
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

/// A project with `capcheck.toml` holding `config` and a root unit in
/// `units/`.
fn project(config: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("units")).unwrap();
    std::fs::copy(ROOT, dir.path().join("units/root.service")).unwrap();
    std::fs::write(dir.path().join("capcheck.toml"), config).unwrap();
    dir
}

/// The summary names the configuration file in use, as found from the
/// current directory; none with --isolated.
#[test]
fn the_summary_names_the_configuration() {
    let dir = project("ignore = [\"CAP3\"]\n");
    let at_top = capcheck_in(dir.path(), &["lint", "--format", "concise", "units"], None);
    assert!(
        stdout(&at_top).ends_with(" in 1 unit (config: ./capcheck.toml).\n"),
        "{}",
        stdout(&at_top)
    );
    let below = capcheck_in(&dir.path().join("units"), &["lint", "."], None);
    assert!(
        stdout(&below).ends_with(" in 1 unit (config: ../capcheck.toml).\n"),
        "{}",
        stdout(&below)
    );
    let isolated = capcheck_in(dir.path(), &["lint", "--isolated", "units"], None);
    assert!(
        stdout(&isolated).ends_with(" in 1 unit.\n"),
        "{}",
        stdout(&isolated)
    );
}

/// A configuration that turns off every check, or ignores every check for
/// every path, reports nothing: a warning naming it says so on standard
/// error, in every format (standard output stays valid JSON).
#[test]
fn a_configuration_that_silences_everything_is_warned_about() {
    for (config, why) in [
        ("select = []\n", "turns off every check"),
        ("ignore = [\"all\"]\n", "turns off every check"),
        (
            "[severity]\nCAP0 = \"off\"\nCAP1 = \"off\"\nCAP2 = \"off\"\nCAP3 = \"off\"\nCAP4 = \"off\"\nCAP5 = \"off\"\nCAP9 = \"off\"\n",
            "turns off every check",
        ),
        (
            "[per-path-ignores]\n\"**\" = [\"all\"]\n",
            "ignores every check for every path",
        ),
    ] {
        let dir = project(config);
        let human = capcheck_in(dir.path(), &["lint", "units"], None);
        assert_eq!(human.status.code(), Some(0), "{config}");
        assert_eq!(
            stdout(&human),
            "No findings in 1 unit (config: ./capcheck.toml).\n"
        );
        let warning = format!("capcheck: warning: ./capcheck.toml {why}");
        let stderr = String::from_utf8_lossy(&human.stderr);
        assert!(stderr.starts_with(&warning), "{config}: {stderr}");
        let json = capcheck_in(dir.path(), &["lint", "--format", "json", "units"], None);
        assert!(codes(&json).is_empty());
        assert!(String::from_utf8_lossy(&json.stderr).starts_with(&warning));
    }
    let dir = project("ignore = [\"CAP3\"]\n[per-path-ignores]\n\"**\" = [\"CAP101\"]\n");
    let partial = capcheck_in(dir.path(), &["lint", "units"], None);
    assert!(
        partial.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&partial.stderr)
    );
}

/// A configuration error names the file, and the line and column of what
/// is wrong: syntax, an unknown key, an unknown check, platform or a bad
/// pattern.
#[test]
fn configuration_errors_name_the_file_line_and_column() {
    for (config, at, message) in [
        ("select = [\"CAP1\"\n", "2:1", "invalid array: expected `]`"),
        (
            "platform = \"talos\"\ncolour = true\n",
            "2:1",
            "unknown field `colour`",
        ),
        (
            "ignore = [\"CAP3\",\n  \"CAP777\"]\n",
            "2:3",
            "unknown check 'CAP777'",
        ),
        (
            "[severity]\nrunz-as-root = \"off\"\n",
            "2:1",
            "unknown check 'runz-as-root'",
        ),
        (
            "platform = \"mars\"\n",
            "1:12",
            "unknown platform 'mars' (known: talos,",
        ),
        (
            "[per-path-ignores]\n\"vendor/[\" = [\"CAP101\"]\n",
            "2:1",
            "invalid pattern",
        ),
    ] {
        let dir = project(config);
        let o = capcheck_in(&dir.path().join("units"), &["lint", "."], None);
        assert_eq!(o.status.code(), Some(2), "{config}");
        let stderr = String::from_utf8_lossy(&o.stderr);
        let expected = format!("capcheck: ../capcheck.toml:{at}: {message}");
        assert!(stderr.starts_with(&expected), "{config}: {stderr}");
    }
}
