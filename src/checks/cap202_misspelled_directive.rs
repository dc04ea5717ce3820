//! ## What it finds
//! Privilege settings that systemd never applies because their name or
//! place is wrong: a typo (`NoNewPrivilege=`, `CapabilityBoundingSets=`),
//! the wrong case (`user=`: keys are case-sensitive), the wrong section
//! (`User=` under `[Unit]` or `[Install]`), or a section systemd does not
//! know (`[service]`).
//!
//! ## Why it matters
//! systemd logs "Unknown key" once at daemon-reload and carries on: the
//! service runs as root, or without `NoNewPrivileges=`, or with the full
//! capability set, while the file reads as if it were confined.
//!
//! ## Example
//! ```ini
//! [Unit]
//! User=app
//!
//! [Service]
//! NoNewPrivilege=yes
//! ```
//! Use instead:
//! ```ini
//! [Service]
//! User=app
//! NoNewPrivileges=yes
//! ```
//!
//! ## Fix
//! A misspelled or miscased key in the right section gets an edit that
//! renames it (evidence-based: it turns on a setting that was off).
//!
//! ## Suppression
//! `# capcheck: ignore=CAP202 -- reason` on the line above.

use super::suggest::closest;
use super::{Check, Context, Meta};
use crate::finding::{Applicability, Edit, Fix, Severity};
use std::cell::RefCell;
use std::collections::HashMap;

pub struct MisspelledDirective;

static META: Meta = Meta {
    code: "CAP202",
    name: "misspelled-directive",
    summary: "a privilege setting systemd ignores because of its name or section",
    default_severity: Severity::Warning,
    fixable: true,
};

/// The settings this check watches: those that decide a service's user,
/// capabilities and no_new_privs.
const PRIVILEGE_KEYS: [&str; 15] = [
    "User",
    "Group",
    "DynamicUser",
    "SupplementaryGroups",
    "CapabilityBoundingSet",
    "AmbientCapabilities",
    "NoNewPrivileges",
    "SecureBits",
    "PrivateUsers",
    "PrivateDevices",
    "ProtectClock",
    "ProtectKernelModules",
    "ProtectKernelLogs",
    "ProtectKernelTunables",
    "RestrictSUIDSGID",
];

/// Short keys are only matched by case: `Users=` is too far from meaning.
const MIN_LEN_FOR_TYPOS: usize = 7;

fn intended(key: &str) -> Option<&'static str> {
    if let Some(k) = PRIVILEGE_KEYS.iter().find(|k| k.eq_ignore_ascii_case(key)) {
        return Some(k);
    }
    if key.len() < MIN_LEN_FOR_TYPOS || key.starts_with("X-") {
        return None;
    }
    // Units repeat the same few hundred keys, and the edit distances were
    // the costliest part of linting: each thread remembers its answers.
    SEEN.with_borrow_mut(|seen| {
        if let Some(answer) = seen.get(key) {
            return *answer;
        }
        let answer = closest(key, PRIVILEGE_KEYS.iter().copied(), 2)
            .filter(|k| k.len() >= MIN_LEN_FOR_TYPOS);
        if seen.len() < SEEN_MAX {
            seen.insert(key.into(), answer);
        }
        answer
    })
}

/// Keys remembered per thread; beyond this (hostile input), the rest are
/// computed each time.
const SEEN_MAX: usize = 4096;

thread_local! {
    static SEEN: RefCell<HashMap<Box<str>, Option<&'static str>>> = RefCell::default();
}

impl Check for MisspelledDirective {
    fn meta(&self) -> &'static Meta {
        &META
    }

    fn check(&self, cx: &mut Context) {
        if !cx.model.loaded || !cx.model.has_exec_context {
            return;
        }
        let own = cx.unit.name.unit_type.own_section().unwrap_or("Service");
        for file_index in 0..cx.files.len() {
            let file = cx.files[file_index];
            for a in &file.assignments {
                let section = file.section_of(a);
                let Some(meant) = intended(&a.key) else {
                    continue;
                };
                let in_own = section.known && section.name == own;
                // A key this release reads is no misspelling, however close.
                if in_own && (a.key == meant || cx.unit.semantics.knows_directive(own, &a.key)) {
                    continue;
                }
                let path = file.path.clone();
                let (message, fix) = if !section.known {
                    (
                        format!(
                            "{}= is in [{}], a section systemd does not know for this unit (names are case-sensitive), so it is ignored",
                            a.key, section.name
                        ),
                        None,
                    )
                } else if !in_own {
                    (
                        format!("{}= belongs in [{own}]; systemd ignores it in [{}]", a.key, section.name),
                        None,
                    )
                } else {
                    let what = if a.key.eq_ignore_ascii_case(meant) { "wrong case" } else { "misspelled" };
                    let fix = Fix {
                        message: format!("rename to {meant}="),
                        applicability: Applicability::EvidenceBased,
                        edits: vec![Edit {
                            path,
                            range: a.key_span.clone(),
                            start_line: a.first_line,
                            end_line: a.first_line,
                            content: meant.to_string(),
                        }],
                    };
                    (
                        format!("unknown key {}= ({what}); systemd ignores it — did you mean {meant}=?", a.key),
                        Some(fix),
                    )
                };
                let finding = cx
                    .report(file_index, a.span.clone(), message)
                    .label(format!("not {meant}= to systemd"))
                    .help(format!("write {meant}= in [{own}]"));
                if let Some(fix) = fix {
                    finding.fix(fix);
                }
            }
        }
    }
}
