//! Never widen: a fix may only take privileges away. Every fix, the
//! lint-carried ones included, is read back the way systemd would and
//! compared with the unit as it is; a fix that would give the service more
//! than it has, switch off a protection, or name a user the system lacks is
//! refused here, whatever planned it.

use crate::caps::CapSet;
use crate::load::Unit;
use crate::model::Privileges;
use crate::system::TargetSystem;

/// Settings that restrict a service (the capability settings, User=,
/// DynamicUser= and NoNewPrivileges= are judged by the privileges they
/// make, above). A fix never changes them; only a
/// misspelled one may be brought into force (by its lint fix) when nothing
/// was in force before and the value turns the protection on.
const RESTRICTIONS: [&str; 40] = [
    "PrivateDevices",
    "PrivateMounts",
    "PrivateNetwork",
    "PrivateTmp",
    "PrivateUsers",
    "PrivateIPC",
    "ProtectControlGroups",
    "ProtectKernelModules",
    "ProtectKernelTunables",
    "ProtectKernelLogs",
    "ProtectClock",
    "ProtectHome",
    "ProtectHostname",
    "ProtectSystem",
    "ProtectProc",
    "ProcSubset",
    "RootDirectory",
    "RootImage",
    "LockPersonality",
    "MemoryDenyWriteExecute",
    "KeyringMode",
    "NotifyAccess",
    "RemoveIPC",
    "UMask",
    "RestrictRealtime",
    "RestrictSUIDSGID",
    "RestrictNamespaces",
    "RestrictAddressFamilies",
    "RestrictFileSystems",
    "SystemCallArchitectures",
    "SystemCallFilter",
    "SystemCallErrorNumber",
    "IPAddressDeny",
    "DevicePolicy",
    "ReadOnlyPaths",
    "InaccessiblePaths",
    "NoExecPaths",
    "TemporaryFileSystem",
    "RestrictNetworkInterfaces",
    "SocketBindDeny",
];

/// Settings that give a service more when added or changed: a fix never
/// touches them, not even to correct their spelling.
const GRANTS: [&str; 10] = [
    "ReadWritePaths",
    "ExecPaths",
    "BindPaths",
    "BindReadOnlyPaths",
    "IPAddressAllow",
    "DeviceAllow",
    "SupplementaryGroups",
    "Group",
    "SecureBits",
    "SocketBindAllow",
];

/// Settings that hand a service's user files or groups: a fix adds them
/// only when it moves the service off root, whose uid 0 had every file
/// and group already.
const OWNERSHIPS: [&str; 6] = [
    "RuntimeDirectory",
    "StateDirectory",
    "CacheDirectory",
    "LogsDirectory",
    "Group",
    "SupplementaryGroups",
];

/// Settings that make parts of the file system read-only or hidden: while
/// none is set, everything is writable, and `ReadWritePaths=` cannot open
/// more than that.
const CLOSING: [&str; 5] = [
    "ProtectSystem",
    "ProtectHome",
    "ReadOnlyPaths",
    "InaccessiblePaths",
    "TemporaryFileSystem",
];

/// The values of `key`'s assignments in the unit's own section, in the
/// order systemd reads them.
fn assignments(unit: &Unit, key: &str) -> Vec<String> {
    unit.own_assignments()
        .filter(|a| a.key == key)
        .map(|a| a.value.clone())
        .collect()
}

fn turns_off(value: &str) -> bool {
    matches!(
        value.to_ascii_lowercase().as_str(),
        "" | "no" | "false" | "0" | "off"
    )
}

/// The union of what every command holds at exec, and what the main one
/// holds.
fn held(model: &Privileges) -> (CapSet, CapSet) {
    let all = model.commands.iter().fold(CapSet::EMPTY, |set, c| {
        set.union(model.held_at_exec(&c.command))
    });
    let main = model
        .main_command()
        .map_or(CapSet::EMPTY, |c| model.held_at_exec(&c.command));
    (all, main)
}

fn names(set: CapSet) -> String {
    set.sorted_names().join(" ")
}

/// What would widen the service, comparing the unit as it is (`before`)
/// with the fixed unit (`after`); empty when the fix only takes away.
/// `created` names the users the same fix creates.
pub fn widenings(
    before: (&Unit, &Privileges),
    after: (&Unit, &Privileges),
    system: &TargetSystem,
    created: &[String],
) -> Vec<String> {
    let ((before_unit, b), (after_unit, a)) = (before, after);
    let mut out = Vec::new();
    let ((b_all, b_main), (a_all, a_main)) = (held(b), held(a));
    for (what, before, after) in [
        ("the main process", b_main, a_main),
        ("its commands", b_all, a_all),
    ] {
        let more = after.difference(before);
        if !more.is_empty() {
            out.push(format!("{what} would hold {} at exec", names(more)));
        }
    }
    let bounding_more = a
        .capability_bounding_set
        .value
        .difference(b.capability_bounding_set.value)
        .intersection(CapSet::KNOWN);
    if !bounding_more.is_empty() {
        out.push(format!(
            "the bounding set would gain {}",
            names(bounding_more)
        ));
    }
    // An ambient capability the bounding set masks today is still a grant
    // in waiting: it is held as soon as the bounding set allows it.
    let ambient_more = a
        .ambient_capabilities
        .value
        .difference(b.ambient_capabilities.value)
        .difference(b_all)
        .intersection(CapSet::KNOWN);
    if !ambient_more.is_empty() {
        out.push(format!(
            "the ambient set would gain {}, which no command holds today",
            names(ambient_more)
        ));
    }
    if b.no_new_privileges() && !a.no_new_privileges()
        || b.no_new_privileges_at_runtime() && !a.no_new_privileges_at_runtime()
    {
        out.push("no_new_privs would be off".to_string());
    }
    let off_root = b.runs_as_root() && !a.runs_as_root();
    // ReadWritePaths= reopens only what a protection closed: it grants
    // nothing while nothing was closed (DynamicUser= implies
    // ProtectSystem=strict), and it comes with the ProtectSystem= the fix
    // switches on.
    let nothing_closed = !b.dynamic_user.value
        && CLOSING
            .iter()
            .all(|key| assignments(before_unit, key).iter().all(|v| turns_off(v)));
    let protects_now = {
        let will = assignments(after_unit, "ProtectSystem");
        !will.is_empty() && will.iter().all(|v| !turns_off(v))
    };
    for key in RESTRICTIONS.iter().chain(&GRANTS).chain(&OWNERSHIPS) {
        let (was, will) = (assignments(before_unit, key), assignments(after_unit, key));
        if was == will {
            continue;
        }
        let switched_on =
            RESTRICTIONS.contains(key) && was.is_empty() && will.iter().all(|v| !turns_off(v));
        let handed_by_root = OWNERSHIPS.contains(key) && off_root;
        let reopened_within_all =
            *key == "ReadWritePaths" && was.is_empty() && nothing_closed && protects_now;
        if !switched_on && !handed_by_root && !reopened_within_all {
            out.push(format!(
                "{key}= would change from {was:?} to {will:?}; a fix never changes it"
            ));
        }
    }
    if a.user.value != b.user.value && !a.dynamic_user.value {
        if let Some(user) = &a.user.value {
            if !system.has_user(user) && !created.contains(user) {
                out.push(format!(
                    "User={user} names a user this system does not have"
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::targets::{resolve, Scope};
    use crate::model::privileges;

    fn unit(dir: &std::path::Path, name: &str, text: &str) -> (Unit, Privileges) {
        let path = dir.join(name).join("test.service");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        let (targets, _) = resolve(&[path.display().to_string()], &Scope::new(None, false));
        let unit = targets[0].load();
        let model = privileges(&unit);
        (unit, model)
    }

    /// What widens between two texts of one unit.
    fn compare(before: &str, after: &str) -> Vec<String> {
        let dir = tempfile::tempdir().unwrap();
        let (bu, bm) = unit(dir.path(), "before", before);
        let (au, am) = unit(dir.path(), "after", after);
        let system = TargetSystem::with_users(["web".to_string()]);
        widenings((&bu, &bm), (&au, &am), &system, &["made".to_string()])
    }

    const WEB: &str = "[Service]\nExecStart=/bin/web\nUser=web\n";

    #[test]
    fn taking_away_is_not_widening() {
        let root = "[Service]\nExecStart=/bin/web\n";
        for after in [
            format!("{root}CapabilityBoundingSet=CAP_NET_BIND_SERVICE\nNoNewPrivileges=yes\n"),
            format!("{WEB}AmbientCapabilities=CAP_NET_BIND_SERVICE\nCapabilityBoundingSet=CAP_NET_BIND_SERVICE\n"),
            format!("{root}DynamicUser=yes\n"),
            format!("{root}User=made\n"),
            // A misspelled protection brought into force, switched on.
            format!("{root}ProtectSystem=strict\n"),
        ] {
            assert_eq!(compare(root, &after), Vec::<String>::new(), "{after}");
        }
    }

    #[test]
    fn giving_more_is_widening() {
        let cases = [
            // A corrected ambient name grants what is dropped today.
            (
                format!("{WEB}AmbientCapabilities=CAP_NET_BIND_SERVIC\n"),
                format!("{WEB}AmbientCapabilities=CAP_NET_BIND_SERVICE\n"),
                "the main process would hold CAP_NET_BIND_SERVICE at exec",
            ),
            // Masked by the bounding set, but granted once it allows it.
            (
                format!("{WEB}AmbientCapabilities=NET_BIND_SERVICE\nCapabilityBoundingSet=\n"),
                format!("{WEB}AmbientCapabilities=CAP_NET_BIND_SERVICE\nCapabilityBoundingSet=\n"),
                "the ambient set would gain CAP_NET_BIND_SERVICE",
            ),
            (
                format!("{WEB}CapabilityBoundingSet=CAP_CHOWN\n"),
                format!("{WEB}CapabilityBoundingSet=CAP_CHOWN CAP_KILL\n"),
                "the bounding set would gain CAP_KILL",
            ),
            (
                format!("{WEB}ProtectKernelModules=yes\n"),
                WEB.to_string(),
                "ProtectKernelModules= would change",
            ),
            (
                WEB.to_string(),
                format!("{WEB}ProtectClock=no\n"),
                "ProtectClock= would change",
            ),
            (
                format!("{WEB}NoNewPrivileges=yes\n"),
                WEB.to_string(),
                "no_new_privs would be off",
            ),
            (
                WEB.to_string(),
                format!("{WEB}ReadWritePaths=/\n"),
                "ReadWritePaths= would change",
            ),
            (
                "[Service]\nExecStart=/bin/web\n".to_string(),
                "[Service]\nExecStart=/bin/web\nUser=nginx\n".to_string(),
                "User=nginx names a user this system does not have",
            ),
        ];
        for (before, after, expected) in cases {
            let found = compare(&before, &after);
            assert!(
                found.iter().any(|w| w.starts_with(expected)),
                "{after}: {found:?}"
            );
        }
    }
}
