//! Every sysusers.d line a fix writes is one systemd-sysusers accepts, as
//! each oracle release reads it: `capcheck fix --write` of units that need
//! a user of their own (named like real units, with the characters unit
//! names allow and passwd fields do not: `:`, `\`), then
//! `systemd-sysusers --dry-run` of each file the fix wrote, exactly as the
//! fix's note tells a user to run it (252 on this host, 254, 257 and 262
//! in the oracle chroots).

mod common;

use common::oracle;
use std::path::Path;
use std::process::Command;

/// Unit names a user may have, and the user `--user` asks for.
const UNITS: [(&str, &str); 4] = [
    ("web.service", "capweb"),
    ("a:b.service", "capab"),
    (r"x\x2dy.service", "capxy"),
    ("tor@default.service", "captor"),
];

/// The sysusers.d files `capcheck fix --write` writes for `UNITS`.
fn lines_fixes_write() -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let mut lines = Vec::new();
    for (unit, user) in UNITS {
        let path = dir.path().join(unit);
        std::fs::write(
            &path,
            "[Service]\nExecStart=/usr/local/bin/bind_low_port\nUser=root\n",
        )
        .unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_capcheck"))
            .args([
                "fix",
                "--isolated",
                "--write",
                "--cap",
                "net_bind_service",
                "--user",
                user,
            ])
            .arg(&path)
            .output()
            .unwrap();
        assert!(out.status.success(), "{unit}: {out:?}");
        let written = dir.path().join(format!("sysusers.d/capcheck-{user}.conf"));
        let text = std::fs::read_to_string(&written)
            .unwrap_or_else(|e| panic!("{unit}: {}: {e}", written.display()));
        lines.push(text);
    }
    let users = lines
        .iter()
        .flat_map(|t| t.lines())
        .filter(|l| l.starts_with("u "))
        .count();
    assert_eq!(users, UNITS.len(), "{lines:?}");
    lines
}

/// What one release's systemd-sysusers says of a sysusers.d file's
/// `text`, read as a file (from standard input; None: accepted).
fn refusal(tree: Option<&Path>, text: &str) -> Option<String> {
    use std::io::Write;
    let mut command = match tree {
        None => Command::new("systemd-sysusers"),
        Some(tree) => {
            let mut c = Command::new("chroot");
            c.arg(tree.join("root")).arg("systemd-sysusers");
            c
        }
    };
    let mut child = command
        .args(["--dry-run", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(text.as_bytes()).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (!out.status.success() || stderr.contains("not a valid")).then_some(stderr)
}

#[test]
fn systemd_sysusers_of_every_release_accepts_the_lines_fixes_write() {
    let test = "systemd_sysusers_of_every_release_accepts_the_lines_fixes_write";
    if let Some(why) = common::missing_programs(&["systemd-sysusers"]) {
        return common::skip(test, &why);
    }
    let lines = lines_fixes_write();
    // The unit names' characters that passwd fields cannot hold are gone.
    assert!(
        lines
            .iter()
            .flat_map(|t| t.lines())
            .all(|l| l.starts_with('#') || !l.contains("a:b")),
        "{lines:?}"
    );
    let oracles = oracle::oracles_for(test);
    assert!(!oracles.is_empty());
    let mut refused = Vec::new();
    for o in &oracles {
        for line in &lines {
            if let Some(why) = refusal(o.tree.as_deref(), line) {
                refused.push(format!("{}: {line}: {why}", o.version));
            }
        }
    }
    assert!(refused.is_empty(), "{}", refused.join("\n"));
    // The check can fail: a colon in the GECOS field, as fixes wrote it
    // before, is refused.
    let old = "u capold - \"capcheck: the user web.service runs as\" -\n";
    assert!(refusal(None, old).is_some());
}
