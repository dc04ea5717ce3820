//! ## What it finds
//! Settings whose value systemd cannot read and therefore ignores, keeping
//! the previous value: `NoNewPrivileges=enable`, `NoNewPrivileges=` (empty
//! is not a reset for booleans), `PrivateDevices=maybe`, or an Exec line
//! with the `-` prefix whose path is invalid (the command is dropped).
//!
//! ## Why it matters
//! The protection the author asked for is silently absent: the unit loads
//! and runs without it.
//!
//! ## Example
//! ```ini
//! [Service]
//! NoNewPrivileges=enable
//! ```
//! Use instead:
//! ```ini
//! [Service]
//! NoNewPrivileges=yes
//! ```
//!
//! ## Fix
//! No automatic fix: `enable` most likely means `yes`, but capcheck does not
//! guess booleans.
//!
//! ## Suppression
//! `# capcheck: ignore=CAP203 -- reason` on the line above.

use super::{Check, Context, Meta};
use crate::finding::Severity;
use crate::model::ProblemKind;

pub struct IgnoredValue;

static META: Meta = Meta {
    code: "CAP203",
    name: "ignored-value",
    summary: "systemd cannot read this value and ignores it",
    default_severity: Severity::Warning,
    fixable: false,
};

impl Check for IgnoredValue {
    fn meta(&self) -> &'static Meta {
        &META
    }

    fn check(&self, cx: &mut Context) {
        for problem in &cx.model.warnings {
            let (ProblemKind::Value, Some((file, span))) = (&problem.kind, &problem.at) else {
                continue;
            };
            let severity = if problem.fatal { Severity::Error } else { Severity::Warning };
            let key = problem.key.clone().unwrap_or_default();
            cx.report(*file, span.clone(), format!("{key}=: {}", problem.message))
                .severity(severity)
                .label("systemd ignores this value");
        }
    }
}
