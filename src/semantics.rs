//! The systemd release capcheck reads units as, and every rule that changed
//! between the releases it supports (252–262).
//!
//! One [`Semantics`] value travels with each loaded unit
//! ([`crate::load::Unit::semantics`]); the model, the checks, the fixer's
//! read-back and `run` ask it named questions (`capability_limit()`,
//! `bounding_set_unset()`…) instead of comparing version numbers. Each
//! answer comes from one [`Change`] in [`CHANGES`], with the release it
//! came in and where that is documented; `docs/semantics-releases.md`
//! lists them with the NEWS findings. Releases between the measured ones
//! (252, 254, 257, 262) get each rule by release number.

use crate::caps::CapSet;
use crate::syntax::boolean::parse_boolean;
use crate::unit_name::UnitType;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A behaviour of systemd that changed in a release.
#[derive(Debug)]
pub struct Change {
    /// A stable kebab-case name.
    pub name: &'static str,
    /// The first release with the new behaviour.
    pub since: u16,
    pub summary: &'static str,
    /// Where the change and its release are documented or measured.
    pub source: &'static str,
}

/// Capability numbers above 62 are rejected: `63` is an unknown word.
pub const CAPABILITY_LIMIT_62: Change = Change {
    name: "capability-limit-62",
    since: 254,
    summary:
        "capability numbers above 62 are rejected (CAP_LIMIT): 63 is an unknown word, so `~63` \
              resets the bounding set to everything and `CapabilityBoundingSet=63` empties it",
    source: "systemd commits d0e67c69ba 'cap-list: refuse parsing numeric capability 63' and \
             3b3ebabfa6 (CAP_LIMIT), first in v254; measured: 252 vs 254, 257, 262",
};

/// Capability lists are split leniently: an open quote ends a word.
pub const CAPABILITY_WORDS_RELAXED: Change = Change {
    name: "capability-words-relaxed",
    since: 254,
    summary: "capability lists are split with EXTRACT_RELAX: an unbalanced quote or a trailing \
              backslash ends the last word, which is read, instead of silently ending the list",
    source: "systemd commit 3f444e94f5 'cap-list: modernize capability_set_from_string() a bit' \
             (v254); measured: `CAP_CHOWN \"CAP_KILL` gives {CHOWN} on 252, {CHOWN, KILL} on 254, 257, 262",
};

/// More SuccessAction= values.
pub const SUCCESS_ACTIONS_254: Change = Change {
    name: "success-actions-254",
    since: 254,
    summary: "SuccessAction= also takes soft-reboot, soft-reboot-force, kexec, kexec-force, halt, \
              halt-force and halt-immediate; before, those values are ignored and a service without \
              ExecStart= is refused",
    source: "src/core/emergency-action.c (table grows in v254); measured: SuccessAction=halt without \
             ExecStart= is refused by 252, loaded by 254, 257, 262",
};

/// Sandboxing options of user units imply PrivateUsers=yes.
pub const USER_UNITS_IMPLY_PRIVATE_USERS: Change = Change {
    name: "user-units-imply-private-users",
    since: 254,
    summary: "in user units, sandboxing options imply PrivateUsers=yes",
    source: "NEWS 254; exec-invoke.c exec_context_need_unprivileged_private_users()",
};

/// A non-root service keeps CAP_SYS_ADMIN until its seccomp filter is
/// loaded, so sandboxing options no longer imply no_new_privs.
pub const SECCOMP_WITHOUT_NO_NEW_PRIVILEGES: Change = Change {
    name: "seccomp-without-no-new-privileges",
    since: 255,
    summary: "a non-root User= with seccomp-type sandboxing no longer implies NoNewPrivileges= when the \
              system call filter lets capget, capset and prctl through: systemd keeps CAP_SYS_ADMIN and \
              CAP_SETPCAP until the filter is loaded",
    source: "systemd commit 24832d10b6 'core: allow using seccomp without no_new_privs when unprivileged' \
             (PR #30274, NEWS 255); exec-invoke.c keep_seccomp_privileges, seccomp_allows_drop_privileges()",
};

/// DynamicUser= in a user unit refuses the unit.
pub const DYNAMIC_USER_REFUSED_IN_USER_UNITS: Change = Change {
    name: "dynamic-user-refused-in-user-units",
    since: 256,
    summary: "DynamicUser=yes in a unit of the user manager refuses the unit",
    source: "src/core/unit.c unit_verify_contexts() (v256)",
};

/// WorkingDirectory=~ with DynamicUser=yes refuses the unit.
pub const HOME_DIRECTORY_REFUSED_WITH_DYNAMIC_USER: Change = Change {
    name: "home-directory-refused-with-dynamic-user",
    since: 256,
    summary: "WorkingDirectory=~ with DynamicUser=yes refuses the unit",
    source: "src/core/unit.c unit_verify_contexts() (v256)",
};

/// PrivateUsers= takes `self` and `identity`.
pub const PRIVATE_USERS_IDENTITY: Change = Change {
    name: "private-users-identity",
    since: 257,
    summary:
        "PrivateUsers= takes self (as yes) and identity (the first 65536 ids mapped to themselves)",
    source: "NEWS 257 (PR #34321); measured on 257 and 262",
};

/// PrivatePIDs= exists, and refuses units other than services.
pub const PRIVATE_PIDS: Change = Change {
    name: "private-pids",
    since: 257,
    summary: "PrivatePIDs= is new; set in a unit that is not a service, it refuses the unit",
    source: "NEWS 257; src/core/unit.c unit_verify_contexts() (v257)",
};

/// The `|` Exec prefix runs the command line through a shell.
pub const EXEC_VIA_SHELL: Change = Change {
    name: "exec-via-shell",
    since: 258,
    summary: "the `|` Exec prefix runs the command line with the user's shell (`sh -c`, `-sh` with `@`); \
              its first word is neither expanded nor checked as a path. Before, `|` is part of the \
              executable name",
    source: "NEWS 258 (PR #37071); measured on 257 and 262",
};

/// The `!!` Exec prefix is accepted and ignored.
pub const AMBIENT_MAGIC_IGNORED: Change = Change {
    name: "ambient-magic-ignored",
    since: 258,
    summary: "the `!!` Exec prefix is accepted and ignored (it acts as no prefix)",
    source: "NEWS 258 (PR #35587)",
};

/// PrivateUsers=full.
pub const PRIVATE_USERS_FULL: Change = Change {
    name: "private-users-full",
    since: 258,
    summary: "PrivateUsers= takes full (every id mapped to itself)",
    source: "NEWS 258; measured on 262",
};

/// ProtectHostname=private, which installs no seccomp filter.
pub const PROTECT_HOSTNAME_PRIVATE: Change = Change {
    name: "protect-hostname-private",
    since: 258,
    summary:
        "ProtectHostname= takes private[:NAME]: a UTS namespace whose hostname the service may \
              change, with no seccomp filter, so only `yes` counts towards implied no_new_privs",
    source: "NEWS 258; exec-invoke.c context_has_seccomp()",
};

/// ExecReloadPost= is a new command setting.
pub const EXEC_RELOAD_POST: Change = Change {
    name: "exec-reload-post",
    since: 259,
    summary: "ExecReloadPost= runs commands after a reload, with the unit's privileges",
    source: "NEWS 259; systemd --dump-configuration-items of 262",
};

/// PrivateUsers=managed.
pub const PRIVATE_USERS_MANAGED: Change = Change {
    name: "private-users-managed",
    since: 260,
    summary:
        "PrivateUsers= takes managed (a transient range of 65536 ids from systemd-nsresourced)",
    source: "NEWS 260",
};

/// A full bounding set no longer means "unset".
pub const BOUNDING_SET_ALL_ONES_IS_SET: Change = Change {
    name: "bounding-set-all-ones-is-set",
    since: 262,
    summary: "the bounding set starts as every capability 0–62 instead of the all-ones 'unset' marker, so \
              a set that returns to all ones (`~`, a `~` line of unknown words, or a merge that restores \
              the only removed capabilities) no longer counts as unset: the next positive line merges \
              instead of replacing. Measured in 262, not in 257; the release in between that changed it \
              could not be pinned (no 258–261 build or git history reachable), so 258–261 keep 257's rule",
    source: "execute.c exec_context_init() .capability_bounding_set = CAP_MASK_ALL (upstream main); \
             measured: `~` then `CAP_KILL` gives {KILL} on 252/257 and all on 262, `0 … 62` then \
             `CAP_KILL` gives {KILL} on 262",
};

/// More SecureBits= words.
pub const SECURE_BITS_262: Change = Change {
    name: "secure-bits-262",
    since: 262,
    summary: "SecureBits= knows no-cap-ambient-raise, exec-restrict-file, exec-deny-interactive and their \
              -locked variants",
    source: "NEWS 262",
};

/// Every rule, oldest first.
pub const CHANGES: [&Change; 17] = [
    &CAPABILITY_LIMIT_62,
    &CAPABILITY_WORDS_RELAXED,
    &SUCCESS_ACTIONS_254,
    &USER_UNITS_IMPLY_PRIVATE_USERS,
    &SECCOMP_WITHOUT_NO_NEW_PRIVILEGES,
    &DYNAMIC_USER_REFUSED_IN_USER_UNITS,
    &HOME_DIRECTORY_REFUSED_WITH_DYNAMIC_USER,
    &PRIVATE_USERS_IDENTITY,
    &PRIVATE_PIDS,
    &EXEC_VIA_SHELL,
    &AMBIENT_MAGIC_IGNORED,
    &PRIVATE_USERS_FULL,
    &PROTECT_HOSTNAME_PRIVATE,
    &EXEC_RELOAD_POST,
    &PRIVATE_USERS_MANAGED,
    &BOUNDING_SET_ALL_ONES_IS_SET,
    &SECURE_BITS_262,
];

/// The systemd release whose reading of unit files capcheck follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Semantics(u16);

/// A release outside the supported range, or not a release number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsupportedRelease(pub String);

impl fmt::Display for UnsupportedRelease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "systemd {}: capcheck knows systemd {}–{}",
            self.0,
            Semantics::OLDEST.0,
            Semantics::NEWEST.0
        )
    }
}

/// SuccessAction= values of every release, then those added in 254.
const SUCCESS_ACTIONS: [&str; 9] = [
    "none",
    "reboot",
    "reboot-force",
    "reboot-immediate",
    "poweroff",
    "poweroff-force",
    "poweroff-immediate",
    "exit",
    "exit-force",
];
const SUCCESS_ACTIONS_SINCE_254: [&str; 7] = [
    "soft-reboot",
    "soft-reboot-force",
    "kexec",
    "kexec-force",
    "halt",
    "halt-force",
    "halt-immediate",
];

/// The SecureBits= words of every release (bit numbers as in
/// linux/securebits.h, in the order systemd prints them), then 262's.
const SECURE_BITS: [(&str, u8); 6] = [
    ("keep-caps", 4),
    ("keep-caps-locked", 5),
    ("no-setuid-fixup", 2),
    ("no-setuid-fixup-locked", 3),
    ("noroot", 0),
    ("noroot-locked", 1),
];
const SECURE_BITS_SINCE_262: [(&str, u8); 6] = [
    ("no-cap-ambient-raise", 6),
    ("no-cap-ambient-raise-locked", 7),
    ("exec-restrict-file", 8),
    ("exec-restrict-file-locked", 9),
    ("exec-deny-interactive", 10),
    ("exec-deny-interactive-locked", 11),
];

/// How PrivateUsers= maps ids (what a value of it means).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PrivateUsers {
    No,
    /// `yes`/`self`: root and the service's own user.
    #[serde(rename = "self")]
    SelfOnly,
    Identity,
    Full,
    Managed,
}

impl PrivateUsers {
    pub fn as_str(self) -> &'static str {
        match self {
            PrivateUsers::No => "no",
            PrivateUsers::SelfOnly => "self",
            PrivateUsers::Identity => "identity",
            PrivateUsers::Full => "full",
            PrivateUsers::Managed => "managed",
        }
    }
}

/// What a ProtectHostname= value does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtectHostname {
    No,
    /// A UTS namespace and a seccomp filter against changing the hostname.
    Yes,
    /// A UTS namespace whose hostname the service may change (no filter).
    Private,
}

impl Semantics {
    pub const OLDEST: Semantics = Semantics(252);
    pub const NEWEST: Semantics = Semantics(262);

    /// The semantics of systemd `release` (e.g. 257).
    pub fn new(release: u16) -> Result<Semantics, UnsupportedRelease> {
        if (Semantics::OLDEST.0..=Semantics::NEWEST.0).contains(&release) {
            Ok(Semantics(release))
        } else {
            Err(UnsupportedRelease(release.to_string()))
        }
    }

    /// The supported release closest to `release`: a system older or newer
    /// than capcheck knows is read as the oldest or newest it does.
    pub fn nearest(release: u16) -> Semantics {
        Semantics(release.clamp(Semantics::OLDEST.0, Semantics::NEWEST.0))
    }

    /// Reads `257` or a full version such as `257.13-1~deb13u1`.
    pub fn parse(text: &str) -> Result<Semantics, UnsupportedRelease> {
        let digits: String = text.chars().take_while(char::is_ascii_digit).collect();
        digits
            .parse()
            .map_err(|_| UnsupportedRelease(text.to_string()))
            .and_then(Semantics::new)
    }

    pub fn release(self) -> u16 {
        self.0
    }

    /// Whether this release behaves as `change` says.
    pub fn has(self, change: &Change) -> bool {
        self.0 >= change.since
    }

    /// The highest capability number capability lists accept.
    pub fn capability_limit(self) -> u8 {
        if self.has(&CAPABILITY_LIMIT_62) {
            62
        } else {
            63
        }
    }

    /// Whether an open quote or a trailing backslash ends the last word of
    /// a capability list (instead of ending the list before it).
    pub fn capability_words_relaxed(self) -> bool {
        self.has(&CAPABILITY_WORDS_RELAXED)
    }

    /// The bounding set before any assignment: a line replaces the set
    /// while it holds this value, and merges into it otherwise.
    pub fn bounding_set_unset(self) -> CapSet {
        if self.has(&BOUNDING_SET_ALL_ONES_IS_SET) {
            CapSet(CapSet::ALL.0 >> 1)
        } else {
            CapSet::ALL
        }
    }

    /// Whether a bounding set of all ones (after `~`) still counts as
    /// unset, so that the next positive line replaces it.
    pub fn all_ones_is_unset(self) -> bool {
        self.bounding_set_unset() == CapSet::ALL
    }

    /// Whether a non-root service whose system call filter lets it drop
    /// privileges keeps CAP_SYS_ADMIN until the filter is loaded, so that
    /// sandboxing does not imply no_new_privs.
    pub fn seccomp_keeps_privileges(self) -> bool {
        self.has(&SECCOMP_WITHOUT_NO_NEW_PRIVILEGES)
    }

    /// Whether `value` is a SuccessAction= this release accepts.
    pub fn is_success_action(self, value: &str) -> bool {
        SUCCESS_ACTIONS.contains(&value)
            || (self.has(&SUCCESS_ACTIONS_254) && SUCCESS_ACTIONS_SINCE_254.contains(&value))
    }

    pub fn user_units_imply_private_users(self) -> bool {
        self.has(&USER_UNITS_IMPLY_PRIVATE_USERS)
    }

    pub fn refuses_dynamic_user_in_user_units(self) -> bool {
        self.has(&DYNAMIC_USER_REFUSED_IN_USER_UNITS)
    }

    pub fn refuses_home_directory_with_dynamic_user(self) -> bool {
        self.has(&HOME_DIRECTORY_REFUSED_WITH_DYNAMIC_USER)
    }

    /// Whether PrivatePIDs= exists (and refuses units that are not services).
    pub fn knows_private_pids(self) -> bool {
        self.has(&PRIVATE_PIDS)
    }

    /// Whether `|` is an Exec prefix (before, it is part of the name).
    pub fn exec_via_shell(self) -> bool {
        self.has(&EXEC_VIA_SHELL)
    }

    /// Whether the `!!` Exec prefix is ignored (before, it means "no
    /// setuid on kernels without ambient capabilities").
    pub fn ambient_magic_ignored(self) -> bool {
        self.has(&AMBIENT_MAGIC_IGNORED)
    }

    /// A PrivateUsers= value as this release reads it; None when it
    /// ignores the assignment.
    pub fn private_users(self, value: &str) -> Option<PrivateUsers> {
        if let Some(yes) = parse_boolean(value) {
            return Some(if yes {
                PrivateUsers::SelfOnly
            } else {
                PrivateUsers::No
            });
        }
        let (mode, change) = match value {
            "self" => (PrivateUsers::SelfOnly, &PRIVATE_USERS_IDENTITY),
            "identity" => (PrivateUsers::Identity, &PRIVATE_USERS_IDENTITY),
            "full" => (PrivateUsers::Full, &PRIVATE_USERS_FULL),
            "managed" => (PrivateUsers::Managed, &PRIVATE_USERS_MANAGED),
            _ => return None,
        };
        self.has(change).then_some(mode)
    }

    /// A ProtectHostname= value as this release reads it; None when it
    /// ignores the assignment.
    pub fn protect_hostname(self, value: &str) -> Option<ProtectHostname> {
        if let Some(yes) = parse_boolean(value) {
            return Some(if yes {
                ProtectHostname::Yes
            } else {
                ProtectHostname::No
            });
        }
        let private = value == "private" || value.starts_with("private:");
        (private && self.has(&PROTECT_HOSTNAME_PRIVATE)).then_some(ProtectHostname::Private)
    }

    /// The Exec* settings of a unit type, in the order systemd lists them.
    pub fn exec_directives(self, unit_type: UnitType) -> impl Iterator<Item = &'static str> {
        let all: &'static [&'static str] = match unit_type {
            UnitType::Service => &[
                "ExecCondition",
                "ExecStartPre",
                "ExecStart",
                "ExecStartPost",
                "ExecReload",
                "ExecReloadPost",
                "ExecStop",
                "ExecStopPost",
            ],
            UnitType::Socket => &[
                "ExecStartPre",
                "ExecStartPost",
                "ExecStopPre",
                "ExecStopPost",
            ],
            UnitType::Mount => &["ExecMount", "ExecUnmount", "ExecRemount"],
            UnitType::Swap => &["ExecActivate", "ExecDeactivate"],
            _ => &[],
        };
        let reload_post = self.has(&EXEC_RELOAD_POST);
        all.iter()
            .copied()
            .filter(move |d| reload_post || *d != "ExecReloadPost")
    }

    /// The SecureBits= words this release knows, with their bits.
    pub fn secure_bits(self) -> impl Iterator<Item = (&'static str, u8)> {
        let newer = self.has(&SECURE_BITS_262);
        SECURE_BITS
            .into_iter()
            .chain(SECURE_BITS_SINCE_262.into_iter().filter(move |_| newer))
    }
}

/// The releases that know a key: from the first, up to (not including)
/// the one that dropped it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum KnownIn {
    Since(u16),
    Between([u16; 2]),
}

impl KnownIn {
    fn includes(self, release: u16) -> bool {
        match self {
            KnownIn::Since(since) => release >= since,
            KnownIn::Between([since, until]) => (since..until).contains(&release),
        }
    }
}

include!(concat!(env!("OUT_DIR"), "/directives.rs"));

impl Semantics {
    /// The releases that know `Section.Key`; None for a key no supported
    /// release knows (a typo, an `X-` key, another program's).
    pub fn directive_known_in(section: &str, key: &str) -> Option<KnownIn> {
        DIRECTIVES
            .binary_search_by(|(s, k, _)| (*s, *k).cmp(&(section, key)))
            .ok()
            .map(|i| DIRECTIVES[i].2)
    }

    /// Whether this release reads `key` in `[section]`.
    pub fn knows_directive(self, section: &str, key: &str) -> bool {
        Semantics::directive_known_in(section, key).is_some_and(|k| k.includes(self.0))
    }
}

impl fmt::Display for Semantics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "systemd {}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_are_listed_once_oldest_first_and_in_range() {
        let mut names = std::collections::HashSet::new();
        for pair in CHANGES.windows(2) {
            assert!(pair[0].since <= pair[1].since, "{}", pair[1].name);
        }
        for c in CHANGES {
            assert!(names.insert(c.name), "{} twice", c.name);
            assert!(Semantics::new(c.since).is_ok(), "{}", c.name);
            assert!(c.since > Semantics::OLDEST.release(), "{}", c.name);
        }
    }

    #[test]
    fn directives_follow_the_release() {
        let at = |r| Semantics::new(r).unwrap();
        assert!(at(252).knows_directive("Service", "User"));
        assert!(!at(256).knows_directive("Service", "PrivatePIDs"));
        assert!(at(257).knows_directive("Service", "PrivatePIDs"));
        assert!(at(261).knows_directive("Service", "CPUShares"));
        assert!(!at(262).knows_directive("Service", "CPUShares"));
        assert!(!at(262).knows_directive("Unit", "User"));
        assert_eq!(Semantics::directive_known_in("Service", "X-Foo"), None);
        for pair in DIRECTIVES.windows(2) {
            assert!((pair[0].0, pair[0].1) < (pair[1].0, pair[1].1), "sorted");
        }
        for (section, key, known) in DIRECTIVES {
            let since = match known {
                KnownIn::Since(s) | KnownIn::Between([s, _]) => *s,
            };
            assert!(Semantics::new(since).is_ok(), "[{section}] {key}");
            assert_eq!(Semantics::directive_known_in(section, key), Some(*known));
        }
    }

    #[test]
    fn the_release_notes_name_every_change() {
        let doc = include_str!("../docs/semantics-releases.md");
        for c in CHANGES {
            assert!(doc.contains(&format!("`{}`", c.name)), "{}", c.name);
        }
    }

    #[test]
    fn releases_parse_from_numbers_and_versions() {
        assert_eq!(Semantics::parse("257").unwrap().release(), 257);
        assert_eq!(Semantics::parse("257.13-1~deb13u1").unwrap().release(), 257);
        assert!(Semantics::parse("251").is_err());
        assert!(Semantics::parse("263").is_err());
        assert!(Semantics::parse("v257").is_err());
    }

    #[test]
    fn rules_follow_the_release_number() {
        let at = |r| Semantics::new(r).unwrap();
        assert_eq!(at(253).capability_limit(), 63);
        assert_eq!(at(254).capability_limit(), 62);
        assert!(at(261).all_ones_is_unset());
        assert!(!at(262).all_ones_is_unset());
        assert!(!at(254).seccomp_keeps_privileges());
        assert!(at(255).seccomp_keeps_privileges());
        assert!(!at(253).is_success_action("halt"));
        assert!(at(254).is_success_action("halt"));
        assert!(!at(262).is_success_action("bogus"));
        assert_eq!(at(256).private_users("identity"), None);
        assert_eq!(
            at(257).private_users("identity"),
            Some(PrivateUsers::Identity)
        );
        assert_eq!(at(257).private_users("full"), None);
        assert_eq!(at(259).private_users("managed"), None);
        assert_eq!(
            at(260).private_users("managed"),
            Some(PrivateUsers::Managed)
        );
        assert_eq!(at(252).private_users("on"), Some(PrivateUsers::SelfOnly));
        assert_eq!(at(257).protect_hostname("private:h"), None);
        assert_eq!(
            at(258).protect_hostname("private:h"),
            Some(ProtectHostname::Private)
        );
        let reload_post = |r| {
            at(r)
                .exec_directives(UnitType::Service)
                .any(|d| d == "ExecReloadPost")
        };
        assert!(!reload_post(258));
        assert!(reload_post(259));
        assert_eq!(at(261).secure_bits().count(), 6);
        assert_eq!(at(262).secure_bits().count(), 12);
    }
}
