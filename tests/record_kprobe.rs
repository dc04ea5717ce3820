//! The kprobe fallback on a real kernel without the cap_capable tracepoint:
//! tests/vm/kprobe_fallback.sh boots Debian's Linux 6.1 cloud kernel in
//! qemu with capcheck inside, records bind_low_port, then a recording
//! killed with SIGKILL (its program dies with it) and the next one. Needs qemu-system-x86_64, busybox
//! and apt-get (for the kernel, cached under target/); CI installs them,
//! elsewhere the test prints that it skips.

mod common;

use std::path::Path;
use std::process::Command;

/// The text between `== NAME: [` and the next `]`.
fn bracketed<'a>(output: &'a str, name: &str) -> &'a str {
    let start = output
        .find(&format!("== {name}: ["))
        .unwrap_or_else(|| panic!("no '{name}' in the VM's output:\n{output}"))
        + name.len()
        + 6;
    let end = start + output[start..].find(']').expect("closing bracket");
    &output[start..end]
}

#[test]
fn kprobe_fallback_records_on_linux_6_1() {
    let tools = [
        "qemu-system-x86_64",
        "busybox",
        "apt-get",
        "cc",
        "gzip",
        "bash",
    ];
    if let Some(why) = common::missing_programs(&tools) {
        return common::skip("kprobe_fallback_records_on_linux_6_1", &why);
    }
    let work = tempfile::tempdir().unwrap();
    let program = work.path().join("bind_low_port");
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/programs/bind_low_port.c");
    assert!(Command::new("cc")
        .arg("-O2")
        .arg("-o")
        .arg(&program)
        .arg(source)
        .status()
        .unwrap()
        .success());
    let kernel_cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("vm-kernel");
    let vm = Command::new("bash")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vm/kprobe_fallback.sh"))
        .arg(env!("CARGO_BIN_EXE_capcheck"))
        .arg(&program)
        .arg(work.path())
        .arg(&kernel_cache)
        .output()
        .unwrap();
    let output = String::from_utf8_lossy(&vm.stdout).into_owned();
    assert!(
        output.contains("== done"),
        "the VM did not finish:\n{output}\n{vm:?}"
    );
    assert!(output.contains("== kernel 6.1."), "{output}");
    assert!(
        !output.contains("has the cap_capable tracepoint"),
        "the VM's kernel must lack the tracepoint:\n{output}"
    );

    // The recording: exactly CAP_NET_BIND_SERVICE, seen at its real caller.
    assert!(output.contains("Successfully bound to port 80"), "{output}");
    assert!(
        output.contains("  needed: CAP_NET_BIND_SERVICE\n"),
        "{output}"
    );
    assert!(output.contains("== record exit 0"), "{output}");
    let profile_sections: Vec<&str> = output
        .lines()
        .filter(|l| l.starts_with("[capabilities."))
        .collect();
    assert_eq!(
        profile_sections,
        ["[capabilities.CAP_NET_BIND_SERVICE]"],
        "{output}"
    );
    assert!(
        output.contains("call-sites = [\"__inet_bind\"]"),
        "{output}"
    );

    // The global kprobe_events: as found after a recording; a killed
    // recording leaves its probes, and the next recording removes them.
    let before = bracketed(&output, "kprobe_events before");
    assert_eq!(before, "p:other/openat do_sys_openat2");
    assert_eq!(bracketed(&output, "kprobe_events after"), before);
    assert_eq!(bracketed(&output, "instances after"), "");
    assert!(
        bracketed(&output, "kprobe_events after kill").contains("capcheck_"),
        "{output}"
    );
    assert_ne!(bracketed(&output, "recorded program before kill"), "");
    assert_eq!(
        bracketed(&output, "recorded program after kill"),
        "",
        "the recorded program dies with capcheck"
    );
    assert_eq!(
        bracketed(&output, "kprobe_events after next record"),
        before
    );
    assert_eq!(bracketed(&output, "instances after next record"), "");

    // A program that writes /var/lib/X as root: the profile lists the path
    // with its owner, the run as a user with StateDirectory= worked, the
    // host's files got their owner back, and the fix is that move.
    let section = |from: &str, to: &str| {
        let start = output
            .find(from)
            .unwrap_or_else(|| panic!("no {from}:\n{output}"));
        let end = start
            + output[start..]
                .find(to)
                .unwrap_or_else(|| panic!("no {to}:\n{output}"));
        output[start..end].to_string()
    };
    assert!(output.contains("== statekeeper record exit 0"), "{output}");
    let profile = section("== statekeeper profile", "== state owner after");
    assert!(profile.contains("objects = \"traced\""), "{profile}");
    assert!(
        profile.contains(
            "what = \"create\"\ncall = \"openat\"\npath = \"/var/lib/statekeeper/state\"\nas = 0\n"
        ),
        "{profile}"
    );
    assert!(
        profile.contains(
            "what = \"mkdir\"\ncall = \"mkdir\"\npath = \"/var/lib/statekeeper\"\nas = 0\n"
        ),
        "{profile}"
    );
    assert!(
        profile.contains("file = \"0:0 d0755\""),
        "the owner and mode: {profile}"
    );
    assert!(profile.contains("[de-root]"), "{profile}");
    assert!(
        profile.contains("settings = [\"DynamicUser=yes\", \"AmbientCapabilities=\", \"StateDirectory=statekeeper\"]"),
        "{profile}"
    );
    assert!(profile.contains("works = true"), "{profile}");
    assert_eq!(bracketed(&output, "state owner after"), "0:0 0:0");
    let fix = section("== statekeeper fix", "== statekeeper fix end");
    for line in [
        "+DynamicUser=yes",
        "+StateDirectory=statekeeper",
        "+CapabilityBoundingSet=",
        "de-root",
    ] {
        assert!(fix.contains(line), "{line}: {fix}");
    }
}
