//! Hostile input: each bad file gives one clear message naming its path,
//! the rest of the tree is still linted, and the exit code is 2.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn a_tree_of_hostile_files() {
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
    // As root, permissions do not stop reads: lint as nobody then.
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
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
