//! ## What it finds
//! Lines systemd reads and then ignores: a line without `=`, `=value` with no
//! key, an assignment before the first section header, an unknown section
//! (sections are case-sensitive: `[service]`, `[ Service ]`), the rest
//! of a drop-in after a line that stops systemd reading it, and a setting
//! the systemd release the unit is read as does not know, though another
//! does (`PrivatePIDs=` before 257, `CPUShares=` from 262 on;
//! `rules/directives.toml`).
//!
//! ## Why it matters
//! Whatever the line meant to set is not set, with only a warning in the
//! journal at daemon-reload. In a drop-in, a broken line also drops every
//! line after it.
//!
//! ## Example
//! ```ini
//! [service]
//! User=app
//! ```
//! Use instead:
//! ```ini
//! [Service]
//! User=app
//! ```
//!
//! ## Fix
//! No automatic fix.
//!
//! ## Suppression
//! `# capcheck: ignore=CAP002 -- reason` on the line above.

use super::{Check, Context, Meta};
use crate::finding::Severity;
use crate::model::ProblemKind;

pub struct IgnoredLine;

static META: Meta = Meta {
    code: "CAP002",
    name: "ignored-line",
    summary: "systemd ignores this line",
    default_severity: Severity::Warning,
    fixable: false,
};

impl Check for IgnoredLine {
    fn meta(&self) -> &'static Meta {
        &META
    }

    fn check(&self, cx: &mut Context) {
        let problems = cx.model.warnings.iter().chain(&cx.model.errors);
        for problem in problems {
            let (ProblemKind::Syntax, Some((file, span))) = (&problem.kind, &problem.at) else {
                continue;
            };
            if problem.fatal && *file == 0 {
                continue; // the fragment is refused: CAP001's business
            }
            if let Some(target) = super::flattened_symlink(cx.files[*file]) {
                if *file > 0 {
                    cx.report(*file, span.clone(), format!("this drop-in holds only '{target}': a symlink saved as a file? systemd ignores it"))
                        .label("not a drop-in");
                }
                continue;
            }
            let severity = if problem.fatal { Severity::Error } else { Severity::Warning };
            cx.report(*file, span.clone(), problem.message.clone())
                .severity(severity)
                .label("ignored by systemd");
        }
    }
}
