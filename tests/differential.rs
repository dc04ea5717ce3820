//! Differential test against the real systemd: generates units (and
//! drop-ins) from random mixes of the tricky parts — capability lines with
//! `~`, resets, typos, numbers, quotes and continuations; User=,
//! DynamicUser=, NoNewPrivileges= and SecureBits= values; CRLF — and checks
//! that capcheck and `systemd-analyze security --offline` agree on each.
//!
//! CAPCHECK_DIFF_UNITS sets how many units (default 300); CAPCHECK_DIFF_SEED
//! the seed (default fixed, so failures reproduce).

mod common;

use std::fmt::Write as _;

/// A small deterministic generator (xorshift64*), so the test needs no
/// dependency and a failure names its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const CAP_VALUES: &[&str] = &[
    "",
    "~",
    "CAP_CHOWN",
    "cap_net_admin CAP_KILL",
    "~CAP_SYS_ADMIN",
    "~CAP_SYS_ADMIN CAP_NET_ADMIN",
    "CAP_NET_ADMN",
    "~CAP_NET_ADMN",
    "NET_ADMIN",
    "\"CAP_CHOWN CAP_KILL\"",
    "'CAP_SYS_TIME' \"CAP_MKNOD\"",
    "12 0x15 014 0b1 0o3",
    "41",
    "64 CAP_LEASE",
    "CAP_CHOWN,CAP_KILL",
    "CAP_CHOWN \"CAP_KILL",
    "CAP\\_KILL",
    "%i CAP_SYSLOG",
    "Cap_Sys_Time CAP_WAKE_ALARM",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BIND_SERVICE CAP_NET_RAW",
    "~CAP_NET_BIND_SERVICE",
    "CAP_SETUID CAP_SETGID \\\n  CAP_SYS_CHROOT",
    "CAP_DAC_OVERRIDE \\\n# a comment \\\n CAP_FOWNER",
    "CAP_SYS_NICE \\\n\nCAP_IPC_LOCK",
    "\tCAP_BPF\t CAP_PERFMON ",
];

const USERS: &[&str] = &[
    "alice",
    "root",
    "0",
    "",
    "nobody",
    "%p",
    "my user",
    "a%%b",
    "4294967294",
    "Alice.Smith",
    "x # y",
    "00",
    "foo:bar",
];

const BOOLEANS: &[&str] = &["yes", "no", "on", "0", "Y", "enable", "", "true"];

fn cap_line(rng: &mut Rng, key: &str) -> String {
    format!("{key}={}\n", rng.pick(CAP_VALUES))
}

/// Privilege lines for a [Service] section (fragment or drop-in).
fn service_lines(rng: &mut Rng, out: &mut String, richness: usize) {
    let mut lines = Vec::new();
    for _ in 0..rng.below(richness + 1) {
        lines.push(cap_line(rng, "CapabilityBoundingSet"));
    }
    for _ in 0..rng.below(richness) {
        lines.push(cap_line(rng, "AmbientCapabilities"));
    }
    if rng.chance(60) {
        lines.push(format!("User={}\n", rng.pick(USERS)));
    }
    if rng.chance(20) {
        lines.push(format!("Group={}\n", rng.pick(&["grp", "root", "", "%p"])));
    }
    if rng.chance(25) {
        let value = if rng.chance(10) {
            "maybe"
        } else {
            rng.pick(&["yes", "no", "1"])
        };
        lines.push(format!("DynamicUser={value}\n"));
    }
    if rng.chance(40) {
        lines.push(format!("NoNewPrivileges={}\n", rng.pick(BOOLEANS)));
    }
    if rng.chance(15) {
        let bits = rng.pick(&[
            "keep-caps",
            "noroot-locked bogus",
            "",
            "no-setuid-fixup keep-caps-locked",
        ]);
        lines.push(format!("SecureBits={bits}\n"));
    }
    for option in [
        "PrivateDevices",
        "ProtectClock",
        "ProtectKernelModules",
        "ProtectKernelLogs",
    ] {
        if rng.chance(10) {
            lines.push(format!("{option}={}\n", rng.pick(BOOLEANS)));
        }
    }
    if rng.chance(10) {
        lines.push(format!("cAPABILITYbOUNDINGsET={}\n", rng.pick(CAP_VALUES)));
    }
    // Shuffle: order matters to the merge rules, so vary it.
    for i in (1..lines.len()).rev() {
        lines.swap(i, rng.below(i + 1));
    }
    for line in lines {
        out.push_str(&line);
    }
}

struct Generated {
    name: String,
    fragment: String,
    dropins: Vec<(String, String)>,
}

fn generate(rng: &mut Rng, index: usize) -> Generated {
    let name = format!("gen{index}.service");
    let mut fragment = String::from("[Unit]\nDescription=generated\n\n[Service]\n");
    fragment.push_str(if rng.chance(5) {
        "ExecStart=+/bin/true\n"
    } else {
        "ExecStart=/bin/true\n"
    });
    service_lines(rng, &mut fragment, 3);
    if rng.chance(15) {
        let _ = write!(
            fragment,
            "# comment\n[Install]\nWantedBy=multi-user.target\n"
        );
    }
    let mut dropins = Vec::new();
    for n in 0..rng.below(3) {
        if !rng.chance(50) {
            continue;
        }
        let mut text = String::new();
        if !rng.chance(10) {
            text.push_str("[Service]\n");
        }
        service_lines(rng, &mut text, 2);
        dropins.push((format!("{}{n}-gen.conf", rng.below(9)), text));
    }
    if rng.chance(20) {
        fragment = fragment.replace('\n', "\r\n");
    }
    Generated {
        name,
        fragment,
        dropins,
    }
}

#[test]
fn generated_units_agree_with_systemd() {
    if !common::have_systemd_analyze() {
        return common::skip(
            "generated_units_agree_with_systemd",
            "needs systemd-analyze",
        );
    }
    let count: usize = std::env::var("CAPCHECK_DIFF_UNITS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let seed: u64 = std::env::var("CAPCHECK_DIFF_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed_cafe);
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();
    let mut loaded = 0;
    let mut failures = Vec::new();
    for i in 0..count {
        let unit = generate(&mut rng, i);
        let unit_dir = dir.path().join(format!("u{i}"));
        std::fs::create_dir_all(&unit_dir).unwrap();
        let path = unit_dir.join(&unit.name);
        std::fs::write(&path, &unit.fragment).unwrap();
        if !unit.dropins.is_empty() {
            let dropin_dir = unit_dir.join(format!("{}.d", unit.name));
            std::fs::create_dir_all(&dropin_dir).unwrap();
            for (file, text) in &unit.dropins {
                std::fs::write(dropin_dir.join(file), text).unwrap();
            }
        }
        let ours = common::capcheck_view(&common::model_of(&path));
        let systemd = common::SystemdView {
            exposure: None,
            ..common::systemd_view(&[path.to_str().unwrap()])
        };
        let agree = if systemd.loaded && ours.loaded {
            loaded += 1;
            ours == systemd
        } else {
            ours.loaded == systemd.loaded
        };
        if !agree {
            let mut report = format!("{}:\n{}", unit.name, unit.fragment);
            for (file, text) in &unit.dropins {
                let _ = write!(report, "--- drop-in {file}:\n{text}");
            }
            let _ = write!(report, "  capcheck {ours:?}\n  systemd  {systemd:?}\n");
            failures.push(report);
        }
    }
    println!("{count} generated units (seed {seed:#x}) compared with systemd-analyze; {loaded} loaded in both");
    assert!(
        loaded > count / 2,
        "most generated units should load ({loaded} of {count})"
    );
    assert!(
        failures.is_empty(),
        "{} disagreements:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
