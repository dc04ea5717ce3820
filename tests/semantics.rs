//! Every confirmed case of ../shared/docs/systemd-semantics.md §5, as a
//! fixture in fixtures/semantics/ and the model systemd 252 ends with.
//! (L16/L25 build their 1 MiB lines at run time instead of committing them.)

mod common;

use capcheck::caps::CapSet;
use capcheck::load::targets::{resolve, Scope};
use capcheck::model::values::secure_bit_names;
use capcheck::model::{privileges, Privileges};
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    common::fixtures().join("semantics").join(name)
}

fn m(name: &str) -> Privileges {
    common::model_of(&fixture(name))
}

fn bounding(p: &Privileges) -> Vec<&'static str> {
    p.capability_bounding_set.value.sorted_names()
}

fn ambient(p: &Privileges) -> Vec<&'static str> {
    p.ambient_capabilities.value.sorted_names()
}

fn user(p: &Privileges) -> Option<&str> {
    p.user.value.as_deref()
}

fn warned(p: &Privileges, text: &str) -> bool {
    p.warnings.iter().any(|w| w.message.contains(text))
}

fn refused(p: &Privileges, text: &str) -> bool {
    !p.loaded && p.errors.iter().any(|e| e.message.contains(text))
}

const ROOT: Option<&str> = None;

#[test]
fn lexical_cases() {
    assert_eq!(user(&m("L01.service")), Some("alice"));
    assert_eq!(user(&m("L02.service")), Some("alice # comment"));
    assert_eq!(user(&m("L03.service")), Some("alice"));
    assert_eq!(bounding(&m("L04.service")), ["CAP_CHOWN", "CAP_NET_ADMIN"]);
    let l05 = m("L05.service");
    assert_eq!(bounding(&l05), ["CAP_CHOWN", "CAP_NET_ADMIN"]);
    assert_eq!(
        l05.capability_bounding_set.origins[0].line, 5,
        "reported at the last physical line"
    );
    let l06 = m("L06.service");
    assert_eq!(bounding(&l06), ["CAP_CHOWN"]);
    assert!(warned(&l06, "no '='"));
    assert_eq!(l06.warnings[0].line, 5);
    let l07 = m("L07.service");
    assert_eq!(bounding(&l07), ["CAP_CHOWN"]);
    assert!(warned(&l07, "no '='"));
    assert_eq!(bounding(&m("L08.service")), ["CAP_CHOWN", "CAP_NET_ADMIN"]);
    let l09 = m("L09.service");
    assert!(warned(&l09, "unknown section 'service'"));
    assert!(refused(&l09, "no ExecStart="));
    assert_eq!(user(&m("L10.service")), ROOT);
    assert_eq!(user(&m("L11.service")), Some("alice"));
    let l12 = m("L12.service");
    assert_eq!(user(&l12), ROOT);
    assert!(warned(&l12, "outside of any section"));
    assert_eq!(user(&m("L13.service")), Some("alice"));
    assert!(refused(&m("L14.service"), "invalid section header"));
    assert!(refused(
        &m("L15.service"),
        "bad characters in section header"
    ));
    assert!(refused(&m("L17.service"), "not valid UTF-8"));
    let l18 = m("L18.service");
    assert_eq!(user(&l18), Some("alice"));
    assert_eq!(bounding(&l18), ["CAP_CHOWN"]);
    let l19 = m("L19.service");
    assert!(l19.loaded && l19.warnings.is_empty());
    let l26 = m("L26.service");
    assert!(l26.loaded);
    assert!(warned(&l26, "outside of any section"));
    assert!(warned(&m("L20.service"), "no '='"));
    assert_eq!(user(&m("L21.service")), Some("alice"));
    let l22 = m("L22.service");
    assert!(
        l22.loaded && l22.warnings.is_empty(),
        "X- keys are silent; unknown keys are lint's business"
    );
    assert!(warned(&m("L23.service"), "no '='"));
    assert!(warned(&m("L24.service"), "no key name"));
    assert!(refused(&m("L27.service"), "invalid section header"));
    let l28 = m("L28.service");
    assert!(warned(&l28, "unknown section ' Service '"));
    assert!(refused(&l28, "no ExecStart="));
}

#[test]
fn line_length_limit() {
    let dir = tempfile::tempdir().unwrap();
    for (len, loads) in [(1024 * 1024 - 1, true), (1024 * 1024, false)] {
        let description = format!("Description={}", "x".repeat(len - "Description=".len()));
        let text = format!("[Unit]\n{description}\n[Service]\nExecStart=/bin/true\n");
        let path = dir.path().join(format!("l{len}.service"));
        std::fs::write(&path, text).unwrap();
        let p = common::model_of(&path);
        assert_eq!(p.loaded, loads, "L16/L25: line of {len} bytes");
        if !loads {
            assert!(refused(&p, "1 MiB"));
        }
    }
}

#[test]
fn capability_cases() {
    assert_eq!(bounding(&m("C01.service")), ["CAP_CHOWN", "CAP_NET_ADMIN"]);
    assert_eq!(bounding(&m("C02.service")), ["CAP_CHOWN"]);
    assert_eq!(bounding(&m("C03.service")), ["CAP_CHOWN"]);
    assert_eq!(
        m("C04.service").capability_bounding_set.value,
        CapSet::EMPTY
    );
    assert_eq!(m("C05.service").capability_bounding_set.value, CapSet::ALL);
    let c06 = m("C06.service");
    assert_eq!(c06.capability_bounding_set.value, CapSet::EMPTY);
    assert_eq!(
        c06.capability_bounding_set.origins.last().unwrap().dropped,
        ["CAP_NET_ADMN"]
    );
    assert_eq!(m("C07.service").capability_bounding_set.value, CapSet::ALL);
    let c08 = m("C08.service");
    assert_eq!(bounding(&c08), ["CAP_CHOWN", "CAP_NET_ADMIN"]);
    assert_eq!(
        c08.capability_bounding_set.origins[0].dropped,
        ["SYS_ADMIN"]
    );
    assert_eq!(
        m("C09.service").capability_bounding_set.value,
        CapSet::EMPTY
    );
    let c10 = m("C10.service");
    assert_eq!(
        bounding(&c10),
        [
            "CAP_CHOWN",
            "CAP_DAC_OVERRIDE",
            "CAP_FOWNER",
            "CAP_NET_ADMIN",
            "CAP_SYS_ADMIN"
        ]
    );
    assert_eq!(c10.capability_bounding_set.value.unnamed_bits(), [41, 63]);
    assert_eq!(c10.capability_bounding_set.origins[0].dropped, ["64"]);
    assert_eq!(bounding(&m("C11.service")), ["CAP_CHOWN", "CAP_NET_ADMIN"]);
    assert_eq!(
        m("C12.service").capability_bounding_set.value,
        CapSet::EMPTY
    );
    assert_eq!(
        m("C13.service").capability_bounding_set.value,
        CapSet::EMPTY
    );
    assert_eq!(bounding(&m("C14.service")), ["CAP_CHOWN"]);
    let c15 = m("C15.service");
    assert_eq!(ambient(&c15).len(), 40);
    assert!(!c15.ambient_capabilities.value.contains(12));
    assert_eq!(
        c15.ambient_capabilities.value,
        CapSet::ALL.difference(CapSet::single(12))
    );
    let c16 = m("C16.service");
    assert!(c16.loaded);
    assert_eq!(bounding(&c16), ["CAP_CHOWN"]);
    assert_eq!(ambient(&c16), ["CAP_NET_ADMIN"]);
    let c17 = m("C17.service");
    assert_eq!(bounding(&c17), ["CAP_CHOWN"]);
    assert_eq!(c17.removed_from_bounding_set.len(), 4);
    assert_eq!(c17.capability_bounding_set.origins[0].line, 3);
    let c18 = m("C18.service");
    assert_eq!(bounding(&c18), ["CAP_CHOWN"]);
    assert_eq!(c18.capability_bounding_set.origins[0].dropped, ["%i"]);
    assert_eq!(ambient(&m("C19.service")), ["CAP_CHOWN"]);
    let c20 = m("C20.service");
    assert_eq!(
        c20.capability_bounding_set.value,
        CapSet::ALL.difference(CapSet::single(12))
    );
    assert_eq!(bounding(&m("C21.service")), ["CAP_CHOWN"]);
    assert_eq!(
        m("C22.service").capability_bounding_set.value,
        CapSet::EMPTY
    );
    let c23 = m("C23.socket");
    assert!(c23.loaded && c23.has_exec_context);
    assert_eq!(
        (user(&c23), bounding(&c23), ambient(&c23)),
        (Some("alice"), vec!["CAP_CHOWN"], vec!["CAP_CHOWN"])
    );
    assert_eq!(m("C24.service").ambient_capabilities.value, CapSet::EMPTY);
    let c25 = m("C25.service");
    assert_eq!(c25.capability_bounding_set.value, CapSet::single(41));
    assert!(bounding(&c25).is_empty());
    assert_eq!(bounding(&m("C26.service")), ["CAP_CHOWN", "CAP_KILL"]);
}

#[test]
fn user_boolean_and_secure_bits_cases() {
    assert_eq!(user(&m("U01.service")), Some("root"));
    assert!(m("U01.service").runs_as_root());
    assert!(m("U02.service").runs_as_root());
    assert!(refused(
        &m("U03.service"),
        "invalid user/group name or numeric ID: 00"
    ));
    assert!(refused(&m("U04.service"), "65535"));
    let u05 = m("U05.service");
    assert!(u05.loaded && !u05.runs_as_root());
    assert!(refused(&m("U06.service"), "-1"));
    let u07 = m("U07.service");
    assert_eq!(user(&u07), ROOT);
    assert_eq!(
        u07.user.origins.len(),
        1,
        "the reset is the origin that counts"
    );
    assert_eq!(user(&m("U08.service")), Some("nobody"));
    let u09 = m("U09.service");
    assert_eq!(
        (user(&u09), u09.group.value.as_deref()),
        (Some("root"), Some("root"))
    );
    assert!(u09.no_new_privileges());
    let u10 = m("capt.service");
    assert_eq!(
        (user(&u10), u10.group.value.as_deref()),
        (Some("capt"), Some("capt"))
    );
    assert!(
        u10.dynamic_user.value && u10.no_new_privileges() && !u10.no_new_privileges.explicit.value
    );
    assert_eq!(user(&m("U11.service")), Some("my user"));
    assert!(refused(&m("U12.service"), "foo:bar"));
    assert_eq!(user(&m("U14.service")), Some("a%b"));
    assert_eq!(user(&m("U15.service")), Some("Alice.Smith"));
    assert!(refused(&m("U16.service"), "%z"));
    assert_eq!(user(&m("U17.service")), Some("a%!b"));
    assert_eq!(user(&m("U18.service")), Some("root"));
    assert!(refused(&m("U19.service"), "maybe"));
    assert!(m("N01.service").no_new_privileges());
    let n02 = m("N02.service");
    assert!(!n02.no_new_privileges() && warned(&n02, "enable"));
    assert!(m("N03.service").no_new_privileges());
    let n04 = m("N04.service");
    assert!(n04.no_new_privileges() && warned(&n04, "failed to parse boolean"));
    let s01 = m("S01.service");
    assert_eq!(
        secure_bit_names(s01.secure_bits.value),
        ["keep-caps", "noroot-locked"]
    );
    assert_eq!(s01.secure_bits.origins[0].dropped, ["bogus"]);
    assert_eq!(
        m("S02.service").private_users.value,
        capcheck::semantics::PrivateUsers::SelfOnly
    );
    assert_eq!(m("S03.service").secure_bits.value, 0);
}

fn prefixes(p: &Privileges, i: usize) -> String {
    p.commands[i]
        .command
        .prefixes
        .iter()
        .map(|x| x.as_str())
        .collect()
}

#[test]
fn exec_cases() {
    let e01 = m("E01.service");
    assert!(e01.loaded && !e01.runs_as_root());
    assert_eq!(prefixes(&e01, 0), "+");
    assert!(
        e01.commands[0].command.escapes_user(),
        "the + command runs as root regardless"
    );
    assert_eq!(prefixes(&m("E02.service"), 0), "!!");
    assert!(refused(
        &m("E03.service"),
        "neither a valid executable name nor an absolute path: !/bin/true"
    ));
    assert!(refused(&m("E04.service"), "!/bin/true"));
    let e05 = m("E05.service");
    assert_eq!(prefixes(&e05, 0), "-@:+");
    assert_eq!(e05.commands[0].command.argv, ["argv0", "x"]);
    assert!(refused(&m("E06.service"), "|/bin/true"));
    let e07 = m("E07.service");
    assert!(warned(&e07, "ignoring") && refused(&e07, "no ExecStart="));
    assert_eq!(m("E08.service").commands[0].command.path, "true");
    assert_eq!(
        m("E09.service").commands[0].command.path,
        "/bin/E09.service"
    );
    assert_eq!(
        m("E10.service").commands[0].command.argv,
        ["/bin/echo", "\\q"]
    );
    let e12 = m("E12.service");
    assert_eq!(e12.commands.len(), 1);
    assert_eq!(e12.commands[0].command.path, "/bin/true");
}

fn in_root(name: &str) -> Privileges {
    let scope = Scope::new(Some(fixture("root")), false);
    let (targets, errors) = resolve(&[name.to_string()], &scope);
    assert!(errors.is_empty());
    privileges(&targets[0].load())
}

#[test]
fn dropin_template_and_mask_cases() {
    let d01 = in_root("a-b-c.service");
    let (targets, _) = resolve(
        &["a-b-c.service".to_string()],
        &Scope::new(Some(fixture("root")), false),
    );
    let unit = targets[0].load();
    let order: Vec<String> = unit
        .dropins
        .iter()
        .map(|d| {
            d.path
                .strip_prefix(fixture("root"))
                .unwrap()
                .display()
                .to_string()
        })
        .collect();
    assert_eq!(
        order,
        [
            "usr/lib/systemd/system/service.d/05-type-E.conf",
            "etc/systemd/system/a-.service.d/10-prefix.conf",
            "etc/systemd/system/a-b-c.service.d/15-exact.conf",
            "etc/systemd/system/a-b-.service.d/20-prefix.conf",
            "etc/systemd/system/a-b-c.service.d/30-e.conf",
            "usr/lib/systemd/system/a-b-c.service.d/40-noheader.conf",
            "usr/lib/systemd/system/a-b-c.service.d/50-exact.conf",
            "etc/systemd/system/service.d/99-type.conf",
        ],
        "D01/D02: merged by file name, first directory wins, *.conf only"
    );
    assert!(
        unit.dropins[4].file.is_none(),
        "D03: the /dev/null drop-in shadows and adds nothing"
    );
    assert_eq!(user(&d01), Some("d99"));
    assert_eq!(bounding(&d01), ["CAP_CHOWN", "CAP_KILL", "CAP_NET_ADMIN"]);
    assert!(warned(&d01, "outside of any section"), "D04");
    assert!(d01.user.origins[0]
        .file
        .ends_with("etc/systemd/system/service.d/99-type.conf"));

    let d05 = in_root("t@root.service");
    assert_eq!(d05.unit, "t@root.service");
    assert!(d05.path.as_ref().unwrap().ends_with("t@.service"));
    assert_eq!(bounding(&d05), ["CAP_CHOWN", "CAP_KILL"]);

    let masked = in_root("masked.service");
    assert!(masked.masked && !masked.loaded);
    let empty = m("M01-empty.service");
    assert!(
        empty.masked && !empty.loaded,
        "M01: an empty file is a mask"
    );

    let alias = in_root("alias.service");
    assert_eq!(
        (alias.unit.as_str(), user(&alias)),
        ("real.service", Some("d99"))
    );
    let linked = in_root("linked.service");
    assert_eq!(
        linked.unit, "real2.service",
        "an absolute link is read inside the root"
    );
}

/// The fixture tree gives the same answers when systemd itself reads it.
#[test]
fn fixture_root_agrees_with_systemd() {
    if !common::have_systemd_analyze() {
        return common::skip("fixture_root_agrees_with_systemd", "needs systemd-analyze");
    }
    let root = format!("--root={}", fixture("root").display());
    for unit in [
        "a-b-c.service",
        "t@root.service",
        "alias.service",
        "linked.service",
    ] {
        let systemd = common::SystemdView {
            exposure: None,
            ..common::systemd_view(&[&root, unit])
        };
        assert!(systemd.loaded, "{unit}: systemd loaded it");
        assert_eq!(common::capcheck_view(&in_root(unit)), systemd, "{unit}");
    }
}

/// Every flat fixture, read by systemd-analyze and by capcheck: the same
/// load state, user, group, capability sets, SecureBits and NNP.
#[test]
fn flat_fixtures_agree_with_systemd() {
    if !common::have_systemd_analyze() {
        return common::skip("flat_fixtures_agree_with_systemd", "needs systemd-analyze");
    }
    let mut checked = 0;
    let mut disagreements = Vec::new();
    for entry in std::fs::read_dir(fixture("")).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            continue;
        }
        let ours = common::capcheck_view(&common::model_of(&path));
        let systemd = common::SystemdView {
            exposure: None,
            ..common::systemd_view(&[path.to_str().unwrap()])
        };
        let agree = if ours.loaded && systemd.loaded {
            ours == systemd
        } else {
            ours.loaded == systemd.loaded
        };
        if !agree {
            disagreements.push(format!(
                "{}:\n  capcheck {ours:?}\n  systemd  {systemd:?}",
                path.display()
            ));
        }
        checked += 1;
    }
    println!("{checked} fixtures compared with systemd-analyze");
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}

/// The model of `text` (a service, or a user unit) read as `release`.
fn model_at(text: &str, release: u16, user_manager: bool) -> Privileges {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rule.service");
    std::fs::write(&path, text).unwrap();
    let semantics = capcheck::semantics::Semantics::new(release).unwrap();
    let scope = Scope::with_semantics(None, user_manager, semantics);
    let (targets, errors) = resolve(&[path.display().to_string()], &scope);
    assert!(errors.is_empty(), "{errors:?}");
    privileges(&targets[0].load())
}

/// A rule at the boundary of its release: whether `holds` is true of
/// `unit` from `change.since` on (`from_then`), and not before.
struct Boundary {
    change: &'static capcheck::semantics::Change,
    unit: String,
    user_manager: bool,
    holds: fn(&Privileges) -> bool,
    from_then: bool,
}

/// Each rule that changed, at the boundary of its release (the measured
/// releases are also compared with systemd itself in tests/oracle.rs and
/// tests/differential.rs; this covers the releases between them).
#[test]
fn rules_that_changed_apply_from_their_release() {
    use capcheck::semantics::{self as s, PrivateUsers};
    let exec = "[Service]\nExecStart=/bin/true\n";
    let loaded: fn(&Privileges) -> bool = |p| p.loaded;
    let at = |change, unit: String, holds, from_then| Boundary {
        change,
        unit,
        user_manager: false,
        holds,
        from_then,
    };
    let cases = [
        at(
            &s::SECCOMP_WITHOUT_NO_NEW_PRIVILEGES,
            format!("{exec}User=app\nPrivateDevices=yes\nSystemCallFilter=@system-service\n"),
            |p| p.no_new_privileges_at_runtime(),
            false,
        ),
        at(
            &s::SUCCESS_ACTIONS_254,
            "[Unit]\nSuccessAction=halt\n[Service]\nType=oneshot\n".to_string(),
            loaded,
            true,
        ),
        Boundary {
            user_manager: true,
            ..at(
                &s::USER_UNITS_IMPLY_PRIVATE_USERS,
                format!("{exec}ProtectSystem=strict\n"),
                |p| p.private_users.value == PrivateUsers::SelfOnly,
                true,
            )
        },
        Boundary {
            user_manager: true,
            ..at(
                &s::DYNAMIC_USER_REFUSED_IN_USER_UNITS,
                format!("{exec}DynamicUser=yes\n"),
                loaded,
                false,
            )
        },
        at(
            &s::HOME_DIRECTORY_REFUSED_WITH_DYNAMIC_USER,
            format!("{exec}DynamicUser=yes\nWorkingDirectory=-~\n"),
            loaded,
            false,
        ),
        at(
            &s::EXEC_VIA_SHELL,
            "[Service]\nExecStart=|/bin/echo hi\n".to_string(),
            loaded,
            true,
        ),
        // `private` installs no seccomp filter: it is no option that
        // would imply no_new_privs.
        at(
            &s::PROTECT_HOSTNAME_PRIVATE,
            format!("{exec}User=app\nProtectHostname=yes\nProtectHostname=private\n"),
            |p| {
                p.no_new_privileges
                    .not_implied_by
                    .iter()
                    .any(|o| o.key == "ProtectHostname")
            },
            false,
        ),
        at(
            &s::EXEC_RELOAD_POST,
            format!("{exec}ExecReloadPost=bin/relative\n"),
            loaded,
            false,
        ),
        at(
            &s::PRIVATE_USERS_MANAGED,
            format!("{exec}PrivateUsers=managed\nUser=app\n"),
            loaded,
            false,
        ),
        at(
            &s::BOUNDING_SET_ALL_ONES_IS_SET,
            format!("{exec}CapabilityBoundingSet=~\nCapabilityBoundingSet=CAP_KILL\n"),
            |p| p.capability_bounding_set.value.has_all_known(),
            true,
        ),
    ];
    for case in &cases {
        let since = case.change.since;
        let before = model_at(&case.unit, since - 1, case.user_manager);
        let after = model_at(&case.unit, since, case.user_manager);
        let name = case.change.name;
        assert_eq!(
            (case.holds)(&before),
            !case.from_then,
            "{name} before {since}"
        );
        assert_eq!((case.holds)(&after), case.from_then, "{name} from {since}");
    }
}

/// From 255, a non-root service with sandboxing whose system call filter
/// lets it drop privileges has no implied no_new_privs; a filter denying
/// capset (`~@privileged`) keeps the 252 rule, and CAP306 says which.
#[test]
fn seccomp_rule_of_255() {
    let base = "[Service]\nExecStart=/bin/true\nUser=app\nProtectKernelTunables=yes\n";
    for (filter, implied_from_255) in [
        ("", false),
        ("SystemCallFilter=@system-service\n", false),
        ("SystemCallFilter=~@privileged\n", true),
        (
            "SystemCallFilter=@system-service\nSystemCallFilter=~@privileged @resources\n",
            true,
        ),
        ("SystemCallFilter=~@mount\n", false),
    ] {
        let text = format!("{base}{filter}");
        assert!(
            model_at(&text, 254, false).no_new_privileges_at_runtime(),
            "{filter}"
        );
        let newer = model_at(&text, 255, false);
        assert_eq!(
            newer.no_new_privileges_at_runtime(),
            implied_from_255,
            "{filter}"
        );
        assert_eq!(
            newer.no_new_privileges.not_implied_by.is_empty(),
            implied_from_255
        );
    }
}

/// A run of a few units looks each file up by name (one `lstat` each); a
/// larger one reads each search directory once: both find the same files.
#[test]
fn units_load_the_same_looked_up_by_name_or_from_listings() {
    let names: Vec<String> = [
        "a-b-c.service",
        "t@root.service",
        "masked.service",
        "alias.service",
        "linked.service",
        "real.service",
    ]
    .map(String::from)
    .to_vec();
    assert!(names.len() > capcheck::load::targets::FEW_UNITS);
    let files = |unit: &capcheck::load::Unit| {
        let mut shown = vec![
            unit.name.name.clone(),
            format!("{:?}", unit.aliases),
            format!("{:?}", unit.fragment_path()),
            format!("{:?}", unit.fragment_link),
        ];
        shown.extend(
            unit.dropins
                .iter()
                .map(|d| format!("{} {}", d.path.display(), d.file.is_some())),
        );
        shown
    };
    let scope = Scope::new(Some(fixture("root")), false);
    let (together, errors) = resolve(&names, &scope);
    assert!(errors.is_empty(), "{errors:?}");
    for (name, listed) in names.iter().zip(&together) {
        let scope = Scope::new(Some(fixture("root")), false);
        let (alone, errors) = resolve(std::slice::from_ref(name), &scope);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(files(&alone[0].load()), files(&listed.load()), "{name}");
    }
}
