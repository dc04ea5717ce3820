//! ## What it finds
//! `# capcheck: ignore=…` and `# capcheck: file-ignore=…` comments that
//! suppress nothing: the code is not reported there (any more), or is not a
//! capcheck code at all.
//!
//! ## Why it matters
//! A stale suppression hides the next real finding on that line, and an
//! unknown code is a typo that suppresses nothing.
//!
//! ## Example
//! ```ini
//! [Service]
//! # capcheck: ignore=CAP101 -- starts as root, drops itself
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
//! `# capcheck: file-ignore=CAP901` anywhere in the file. The findings are
//! produced by the suppression pass, after every other check has run.

use super::{Check, Context, Meta};
use crate::finding::Severity;

pub struct UnusedSuppression;

static META: Meta = Meta {
    code: "CAP901",
    name: "unused-suppression",
    summary: "a suppression comment that suppresses nothing",
    default_severity: Severity::Warning,
    fixable: false,
};

impl Check for UnusedSuppression {
    fn meta(&self) -> &'static Meta {
        &META
    }

    /// Reported by [`crate::suppress`], which sees every other finding.
    fn check(&self, _cx: &mut Context) {}
}
