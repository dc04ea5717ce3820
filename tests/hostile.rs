//! Hostile input: each bad file gives one clear message naming its path,
//! the rest of the tree is still linted, and the exit code is 2; and no
//! file makes capcheck use more than 64 MB and twice its size of memory.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn a_tree_of_hostile_files() {
    // As root, permissions do not stop reads: lint as nobody then.
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let programs: &[&str] = if root {
        &["mkfifo", "setpriv"]
    } else {
        &["mkfifo"]
    };
    if let Some(why) = common::missing_programs(programs) {
        return common::skip("a_tree_of_hostile_files", &why);
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
    let good =
        b"[Service]\nExecStart=/bin/true\nUser=app\nCapabilityBoundingSet=\nNoNewPrivileges=yes\n";
    write(&d.join("good.service"), good);
    write(
        &d.join("binary.service"),
        &std::fs::read("/bin/true").unwrap()[..4000],
    );
    write(
        &d.join("utf8.service"),
        b"[Service]\nExecStart=/bin/true\nUser=al\xffice\n",
    );
    write(
        &d.join("nul.service"),
        b"[Service]\x00ExecStart=/bin/true\x00User=root\n",
    );
    let mut long = b"[Service]\nExecStart=/bin/true\nDescription=".to_vec();
    long.extend(std::iter::repeat_n(b'x', 2 * 1024 * 1024));
    write(&d.join("long.service"), &long);
    assert!(Command::new("mkfifo")
        .arg(d.join("fifo.service"))
        .status()
        .unwrap()
        .success());
    std::os::unix::fs::symlink("loop2.service", d.join("loop1.service")).unwrap();
    std::os::unix::fs::symlink("loop1.service", d.join("loop2.service")).unwrap();
    std::os::unix::fs::symlink("nowhere.service", d.join("dangling.service")).unwrap();
    std::fs::create_dir(d.join("dir.service")).unwrap();
    std::os::unix::fs::symlink("/dev/null", d.join("masked.service")).unwrap();
    write(&d.join("unreadable.service"), good);
    std::fs::set_permissions(
        d.join("unreadable.service"),
        std::fs::Permissions::from_mode(0o000),
    )
    .unwrap();
    let closed = d.join("closed");
    std::fs::create_dir(&closed).unwrap();
    write(&closed.join("inside.service"), good);
    std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o000)).unwrap();
    std::fs::create_dir(d.join("many.service.d")).unwrap();
    write(
        &d.join("many.service"),
        b"[Service]\nExecStart=/bin/true\nUser=app\nCapabilityBoundingSet=\nNoNewPrivileges=yes\n",
    );
    for i in 0..10_000 {
        write(
            &d.join(format!("many.service.d/{i:05}.conf")),
            format!("[Service]\nEnvironment=N={i}\n").as_bytes(),
        );
    }
    let binary = env!("CARGO_BIN_EXE_capcheck");
    let mut command = if root {
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            binary,
        ]);
        c
    } else {
        Command::new(binary)
    };
    let out = command
        .args([
            "lint",
            "--isolated",
            "--format",
            "concise",
            "--color",
            "never",
        ])
        .arg(d)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    for (name, message) in [
        ("dir.service", "is a directory"),
        ("dangling.service", "dangling symlink"),
        ("fifo.service", "not a regular file"),
        ("loop1.service", "symlink loop"),
        ("unreadable.service", "permission denied"),
        ("closed", "Permission denied"),
    ] {
        let lines: Vec<&str> = stderr
            .lines()
            .filter(|l| l.contains(&format!("{}: ", d.join(name).display())))
            .collect();
        assert_eq!(lines.len(), 1, "one message for {name}:\n{stderr}");
        assert!(lines[0].contains(message), "{name}: {}", lines[0]);
    }
    for (name, code) in [
        ("binary.service", "binary file"),
        ("utf8.service", "not valid UTF-8"),
        ("long.service", "bytes long"),
    ] {
        let lines: Vec<&str> = stdout.lines().filter(|l| l.contains(name)).collect();
        assert_eq!(lines.len(), 1, "{name}:\n{stdout}");
        assert!(
            lines[0].contains("CAP001") && lines[0].contains(code),
            "{}",
            lines[0]
        );
    }
    assert!(
        stdout.contains("nul.service:3:1: CAP101"),
        "NUL is a line end:\n{stdout}"
    );
    assert!(
        !stdout.contains("good.service")
            && !stdout.contains("many.service")
            && !stdout.contains("masked"),
        "{stdout}"
    );
    assert!(
        stdout.contains("in 7 units."),
        "good, binary, utf8, nul, long, many, masked are linted:\n{stdout}"
    );
    std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o755)).unwrap();
}

const MIB: u64 = 1 << 20;

/// `capcheck lint --isolated ARGS` and its peak memory in bytes, from GNU
/// time; None when GNU time is not installed.
fn lint_measured(args: &[&str]) -> Option<(Output, u64)> {
    let time = Path::new("/usr/bin/time");
    if !time.is_file() {
        return None;
    }
    let report = tempfile::NamedTempFile::new().unwrap();
    let out = Command::new(time)
        .arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(report.path())
        .arg(env!("CARGO_BIN_EXE_capcheck"))
        .args(["lint", "--isolated", "--color", "never"])
        .args(args)
        .env_remove("GITHUB_ACTIONS")
        .output()
        .unwrap();
    let kib: u64 = std::fs::read_to_string(report.path())
        .unwrap()
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .expect("GNU time's %M");
    Some((out, kib * 1024))
}

/// What the memory budget allows for a file of `size` bytes.
fn budget(size: u64) -> u64 {
    64_000_000 + 2 * size
}

/// A file of newlines is a line per byte; short assignments are a record
/// each (the file has more words than capcheck reads: refused, one error
/// naming it); the most a file may hold, in every kind of line, padded to
/// the same size, printed in the full format. Each within the budget.
#[test]
fn large_files_stay_within_the_memory_budget() {
    let dir = tempfile::tempdir().unwrap();
    let size = 15 * MIB;
    let padded = |mut bytes: Vec<u8>| {
        bytes.resize(size as usize, b'\n');
        bytes
    };
    let newlines = dir.path().join("newlines.service");
    write(&newlines, &padded(Vec::new()));
    let assignments = dir.path().join("assignments.service");
    let mut text = b"[Service]\nExecStart=/bin/true\n".to_vec();
    while text.len() < size as usize {
        text.extend_from_slice(b"A=b\n");
    }
    write(&assignments, &text);
    // Every kind of line systemd reads, to just under the word limit.
    let kinds = "x\n=y\nA=b\n[X-Foo]\nB=c\n[Service]\nK=a \\\n b\n# capcheck: ignore=CAP002\nCapabilityBoundingSet=CAP_NET_RAWW\nExecStartPre=+/bin/true a b\n";
    let words_per_copy = kinds.split_ascii_whitespace().count();
    let copies = (capcheck::limits::MAX_WORDS - 10) / words_per_copy;
    let mixed = dir.path().join("mixed.service");
    let mut text = b"[Service]\nExecStart=/bin/true\n".to_vec();
    text.extend(kinds.repeat(copies).bytes());
    write(&mixed, &padded(text));

    let Some((out, peak)) = lint_measured(&["--format", "json", newlines.to_str().unwrap()]) else {
        return common::skip(
            "large_files_stay_within_the_memory_budget",
            "needs GNU time (/usr/bin/time)",
        );
    };
    let findings: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{findings:?}");
    assert!(
        findings.iter().all(|f| f["code"] == "CAP001"),
        "{findings:?}"
    );
    assert!(peak < budget(size), "newlines: {peak} bytes");

    let (out, peak) = lint_measured(&["--format", "json", assignments.to_str().unwrap()]).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(
        stderr.trim(),
        format!(
            "capcheck: {}: has more than {} words, the most capcheck reads of a unit file",
            assignments.display(),
            capcheck::limits::MAX_WORDS
        )
    );
    assert!(peak < budget(size), "assignments: {peak} bytes");

    let (out, peak) = lint_measured(&["--format", "full", mixed.to_str().unwrap()]).unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("CAP201 unknown-capability"),
        "{}",
        &stdout[..2000]
    );
    assert!(peak < budget(size), "every kind of line: {peak} bytes");
}

/// A sparse 1 GiB file is refused by its size, before a byte is read; the
/// unit beside it is linted.
#[test]
fn a_file_over_the_size_limit_is_refused_unread() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.service");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(1 << 30)
        .unwrap();
    write(
        &dir.path().join("good.service"),
        b"[Service]\nExecStart=/bin/true\nUser=app\nCapabilityBoundingSet=\nNoNewPrivileges=yes\n",
    );
    let started = std::time::Instant::now();
    let Some((out, peak)) = lint_measured(&["--format", "concise", dir.path().to_str().unwrap()])
    else {
        return common::skip(
            "a_file_over_the_size_limit_is_refused_unread",
            "needs GNU time (/usr/bin/time)",
        );
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(
        stderr.trim(),
        format!(
            "capcheck: {}: is larger than 16 MiB, the most capcheck reads of a unit file",
            big.display()
        )
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("No findings in 1 unit."));
    assert!(peak < budget(0), "{peak} bytes");
    assert!(started.elapsed().as_secs() < 10, "{:?}", started.elapsed());
}

/// A drop-in, or standard input, over the word limit: one error naming it,
/// exit code 2; systemd would read such a drop-in, so its unit is not
/// linted as if it were skipped. Units without one still are.
#[test]
fn files_over_the_word_limit_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let good =
        b"[Service]\nExecStart=/bin/true\nUser=app\nCapabilityBoundingSet=\nNoNewPrivileges=yes\n";
    write(&dir.path().join("good.service"), good);
    write(&dir.path().join("web.service"), good);
    std::fs::create_dir(dir.path().join("web.service.d")).unwrap();
    let words = "[Service]\nEnvironment=".to_string() + &"A=b ".repeat(capcheck::limits::MAX_WORDS);
    let dropin = dir.path().join("web.service.d/many.conf");
    write(&dropin, words.as_bytes());
    let out = Command::new(env!("CARGO_BIN_EXE_capcheck"))
        .args(["lint", "--isolated", "--format", "concise"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let refused = format!(
        "capcheck: {}: has more than {} words, the most capcheck reads of a unit file",
        dropin.display(),
        capcheck::limits::MAX_WORDS
    );
    assert_eq!(stderr.trim(), refused);
    assert!(String::from_utf8_lossy(&out.stdout).contains("No findings in 1 unit."));

    let mut child = Command::new(env!("CARGO_BIN_EXE_capcheck"))
        .args(["lint", "--isolated", "-", "--stdin-filename", "web.service"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    std::io::Write::write_all(&mut stdin, words.as_bytes()).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("web.service (standard input): has more than"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
