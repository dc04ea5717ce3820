//! Differential test against the real systemd of every release capcheck is
//! measured against (252 on this host, 254, 257 and 262 in the chroots of
//! tests/oracles/build.sh): generates units (and drop-ins) from random
//! mixes of the tricky parts — capability lines with `~`, resets, typos,
//! numbers (63 included), quotes and continuations, and the merge
//! sequences that changed; User=, DynamicUser=, NoNewPrivileges=,
//! SecureBits=, PrivateUsers= and ProtectHostname= values; Exec prefixes
//! (`|`, `!!`); SuccessAction= without ExecStart=; CRLF — and checks that
//! capcheck, reading them as each release, agrees with that release's
//! `systemd-analyze security --offline` on each.
//!
//! CAPCHECK_DIFF_UNITS sets how many units (default 500); CAPCHECK_DIFF_SEED
//! the seed (default fixed, so failures reproduce).

mod common;

use common::oracle;
use std::fmt::Write as _;
use std::path::PathBuf;

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
    "63",
    "~63",
    "CAP_KILL 63",
    "62 CAP_CHOWN",
];

/// Line sequences whose merge changed between releases (they must stay in
/// this order: the shuffle keeps them together).
const CAP_SEQUENCES: &[&[&str]] = &[
    &["~", "CAP_KILL"],
    &["~CAP_FOO", "CAP_BPF"],
    &["~CAP_KILL", "CAP_KILL", "CAP_BPF"],
    &["CAP_KILL", "~63"],
];

const EXEC_STARTS: &[&str] = &[
    "/bin/true",
    "+/bin/true",
    "!!/bin/true",
    "|echo hi",
    "|/bin/true",
    "@|true x",
    "+|true",
    "|",
    "\"/bin/unterminated",
];

const PRIVATE_USERS: &[&str] = &["yes", "no", "self", "identity", "full", "managed", "bogus"];
const PROTECT_HOSTNAME: &[&str] = &["yes", "no", "private", "private:host", "bogus"];
const SUCCESS_ACTIONS: &[&str] = &[
    "halt",
    "kexec-force",
    "soft-reboot",
    "reboot",
    "bogus",
    "none",
    "",
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
    if rng.chance(15) {
        let key = if rng.chance(80) {
            "CapabilityBoundingSet"
        } else {
            "AmbientCapabilities"
        };
        let sequence = CAP_SEQUENCES[rng.below(CAP_SEQUENCES.len())];
        lines.push(sequence.iter().map(|v| format!("{key}={v}\n")).collect());
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
            "no-cap-ambient-raise exec-restrict-file-locked",
        ]);
        lines.push(format!("SecureBits={bits}\n"));
    }
    if rng.chance(10) {
        lines.push(format!("PrivateUsers={}\n", rng.pick(PRIVATE_USERS)));
    }
    if rng.chance(8) {
        lines.push(format!("ProtectHostname={}\n", rng.pick(PROTECT_HOSTNAME)));
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
    let mut fragment = String::from("[Unit]\nDescription=generated\n");
    // Without ExecStart=, a oneshot service loads when SuccessAction= is
    // an action the release knows.
    let success_action = rng.chance(5);
    if success_action {
        let _ = writeln!(fragment, "SuccessAction={}", rng.pick(SUCCESS_ACTIONS));
    }
    fragment.push_str("\n[Service]\n");
    if success_action {
        fragment.push_str("Type=oneshot\n");
    } else if rng.chance(15) {
        let _ = writeln!(fragment, "ExecStart={}", rng.pick(EXEC_STARTS));
    } else {
        fragment.push_str("ExecStart=/bin/true\n");
    }
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
fn generated_units_agree_with_every_release() {
    let test = "generated_units_agree_with_every_release";
    let oracles = oracle::oracles_for(test);
    let count: usize = std::env::var("CAPCHECK_DIFF_UNITS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let seed: u64 = std::env::var("CAPCHECK_DIFF_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed_cafe);
    let mut rng = Rng(seed);
    // One directory: one systemd-analyze call per release reads them all
    // (the names differ and have no dash, so no drop-in reaches another).
    let dir = tempfile::tempdir().unwrap();
    let mut units = Vec::new();
    let mut paths: Vec<PathBuf> = Vec::new();
    for i in 0..count {
        let unit = generate(&mut rng, i);
        let path = dir.path().join(&unit.name);
        std::fs::write(&path, &unit.fragment).unwrap();
        if !unit.dropins.is_empty() {
            let dropin_dir = dir.path().join(format!("{}.d", unit.name));
            std::fs::create_dir_all(&dropin_dir).unwrap();
            for (file, text) in &unit.dropins {
                std::fs::write(dropin_dir.join(file), text).unwrap();
            }
        }
        paths.push(path);
        units.push(unit);
    }
    let mut failures = Vec::new();
    let mut first_views: Option<std::collections::HashMap<String, common::SystemdView>> = None;
    for oracle in &oracles {
        let views = oracle.views(&paths);
        if let Some(first) = &first_views {
            // The generator must reach the rules that changed: the
            // releases read some units differently.
            let differ = units
                .iter()
                .filter(|u| {
                    let norm = |v: Option<&common::SystemdView>| {
                        v.map(|v| common::SystemdView {
                            exposure: None,
                            ..v.clone()
                        })
                    };
                    norm(first.get(&u.name)) != norm(views.get(&u.name))
                })
                .count();
            println!(
                "{} reads {differ} of the units differently from {}",
                oracle.semantics, oracles[0].semantics
            );
            assert!(differ > 0, "no generated unit reaches a rule that changed");
        } else {
            first_views = Some(views.clone());
        }
        let mut agreed = 0;
        let mut loaded = 0;
        for (unit, path) in units.iter().zip(&paths) {
            let ours = common::capcheck_view(&common::model_as(path, oracle.semantics));
            let theirs = views.get(&unit.name);
            loaded += usize::from(ours.loaded && theirs.is_some());
            if oracle::agree(&ours, theirs) {
                agreed += 1;
                continue;
            }
            let mut report = format!("{} as {}:\n{}", unit.name, oracle.semantics, unit.fragment);
            for (file, text) in &unit.dropins {
                let _ = write!(report, "--- drop-in {file}:\n{text}");
            }
            let _ = write!(report, "  capcheck {ours:?}\n  systemd  {theirs:?}\n");
            failures.push(report);
        }
        println!(
            "{}: {agreed}/{count} generated units agree (seed {seed:#x}), {loaded} loaded in both [{}]",
            oracle.semantics, oracle.version
        );
        assert!(
            loaded > count / 2,
            "most generated units should load ({loaded} of {count} for {})",
            oracle.semantics
        );
    }
    oracle::assert_none(&failures);
}
