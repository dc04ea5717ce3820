//! A hostile image (`--root`) cannot lead capcheck out of it: links that
//! climb past the root with `..`, absolute links (re-rooted as systemd
//! reads them), linked drop-in directories and binary directories all stay
//! inside the image, so no host file is read, printed or checked; links
//! inside the image resolve inside it; %H, %m and %o are the image's.

use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Command;

const SECRET: &str = "host-secret-line-do-not-print";

fn capcheck(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_capcheck"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn nothing_in_an_image_leads_out_of_it() {
    let tmp = tempfile::tempdir().unwrap();
    // The "host": files beside the image that a link could reach.
    let host = tmp.path().join("host");
    let secret_unit = format!("[Service]\nExecStart=/bin/true\nDescription={SECRET}\nUser=root\n");
    write(&host.join("shadow.service"), &secret_unit);
    write(&host.join("secret.d/10-secret.conf"), &secret_unit);
    write(&host.join("bin/privileged"), "#!/bin/sh\n");
    let host_abs = host.display().to_string();

    let root = tmp.path().join("image");
    let units = root.join("etc/systemd/system");
    std::fs::create_dir_all(&units).unwrap();
    // Links that climb out: relative past the root, absolute with `..`.
    symlink(
        format!("../../../../../../../../..{host_abs}/shadow.service"),
        units.join("climb.service"),
    )
    .unwrap();
    symlink(
        format!("/../../../..{host_abs}/shadow.service"),
        units.join("absolute.service"),
    )
    .unwrap();
    // A unit whose drop-in directory is a link to the host's.
    write(
        &units.join("web.service"),
        "[Service]\nExecStart=/opt/bin/privileged\nUser=web\nNoNewPrivileges=yes\n",
    );
    symlink(format!("{host_abs}/secret.d"), units.join("web.service.d")).unwrap();
    // /opt/bin is a link to the host's binaries (absolute: re-rooted).
    std::fs::create_dir_all(root.join("opt")).unwrap();
    symlink(format!("{host_abs}/bin"), root.join("opt/bin")).unwrap();
    // An alternatives-style chain inside the image, to a setuid binary.
    write(
        &units.join("alt.service"),
        "[Service]\nExecStart=/usr/bin/tool\nUser=app\nNoNewPrivileges=yes\n",
    );
    write(&root.join("usr/lib/tool/tool.real"), "#!/bin/sh\n");
    std::fs::set_permissions(
        root.join("usr/lib/tool/tool.real"),
        std::os::unix::fs::PermissionsExt::from_mode(0o4755),
    )
    .unwrap();
    std::fs::create_dir_all(root.join("etc/alternatives")).unwrap();
    std::fs::create_dir_all(root.join("usr/bin")).unwrap();
    symlink(
        "/usr/lib/tool/tool.real",
        root.join("etc/alternatives/tool"),
    )
    .unwrap();
    symlink("/etc/alternatives/tool", root.join("usr/bin/tool")).unwrap();
    // The host's binary would make the check fire if it were looked at.
    std::fs::set_permissions(
        host.join("bin/privileged"),
        std::os::unix::fs::PermissionsExt::from_mode(0o4755),
    )
    .unwrap();

    let root_arg = root.display().to_string();
    for format in ["full", "concise", "json"] {
        let (_, out) = capcheck(&[
            "lint",
            "--isolated",
            "--root",
            &root_arg,
            "--format",
            format,
        ]);
        assert!(
            !out.contains(SECRET),
            "{format}: the host's file was read:\n{out}"
        );
        // The links that climb out stop at the image's root, where nothing is.
        assert!(out.contains("climb.service"), "{out}");
    }
    let (_, json) = capcheck(&[
        "lint",
        "--isolated",
        "--root",
        &root_arg,
        "--format",
        "json",
    ]);
    let findings: Vec<serde_json::Value> =
        serde_json::from_str(&json[..json.rfind(']').unwrap() + 1]).unwrap();
    let codes_at = |unit: &str| -> Vec<String> {
        findings
            .iter()
            .filter(|f| f["path"].as_str().unwrap_or_default().ends_with(unit))
            .map(|f| f["code"].as_str().unwrap().to_string())
            .collect()
    };
    // The host's setuid binary is not the image's /opt/bin/privileged.
    assert!(
        !codes_at("web.service").contains(&"CAP403".to_string()),
        "{json}"
    );
    // The image's own chain leads to its setuid binary: found.
    assert!(
        codes_at("alt.service").contains(&"CAP403".to_string()),
        "{json}"
    );
}

#[test]
fn specifiers_name_the_image_not_the_host() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    write(&root.join("etc/hostname"), "image-host\n");
    write(
        &root.join("etc/machine-id"),
        "0123456789abcdef0123456789abcdef\n",
    );
    write(
        &root.join("usr/lib/os-release"),
        "ID=imageos\nVERSION_ID=7\n",
    );
    write(
        &root.join("etc/systemd/system/spec.service"),
        "[Service]\nExecStart=/bin/echo %H %m %o %w %v\n",
    );
    // The image has no systemd to tell its release by: name one.
    let (code, out) = capcheck(&[
        "show",
        "--root",
        &root.display().to_string(),
        "--systemd",
        "252",
        "--format",
        "json",
        "spec.service",
    ]);
    assert_eq!(code, 0, "{out}");
    let shown: serde_json::Value = serde_json::from_str(&out).unwrap();
    let argv: Vec<&str> = shown[0]["commands"][0]["argv"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    // %v (the running kernel) is empty for an image that is not running.
    assert_eq!(
        argv,
        [
            "/bin/echo",
            "image-host",
            "0123456789abcdef0123456789abcdef",
            "imageos",
            "7",
            ""
        ]
    );
}
