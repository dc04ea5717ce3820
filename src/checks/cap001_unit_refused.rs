//! ## What it finds
//! Units that systemd refuses to load: an invalid section header, a line
//! of 1 MiB or more, invalid UTF-8, a binary file, an invalid `User=` or
//! `Group=` (`User=00`, `User=foo:bar`), a `DynamicUser=` that is not a
//! boolean, an unknown `%` specifier, an Exec path systemd rejects, or a
//! service without a usable `ExecStart=` — and, by release, what later
//! ones refuse (`DynamicUser=` in a user unit from 256, `PrivateUsers=managed`
//! with `User=` from 260; docs/semantics-releases.md). A file that holds
//! nothing but a unit name or a path (a symlink some copy turned into a
//! file) is reported once, as that.
//!
//! ## Why it matters
//! systemd logs the error once at daemon-reload and the service never
//! starts. Nothing in the unit file itself looks wrong to a reader.
//!
//! ## Example
//! ```ini
//! [Service]
//! ExecStart=/usr/bin/app
//! User=00
//! ```
//! Use instead:
//! ```ini
//! [Service]
//! ExecStart=/usr/bin/app
//! User=app
//! ```
//!
//! ## Fix
//! No automatic fix: the intent behind a broken value is not knowable.
//!
//! ## Suppression
//! `# capcheck: ignore=CAP001 -- reason` on the line above; rarely right, as
//! the unit does not load.

use super::{Check, Context, Meta};
use crate::finding::Severity;
use crate::model::ProblemKind;

pub struct UnitRefused;

static META: Meta = Meta {
    code: "CAP001",
    name: "unit-refused",
    summary: "systemd refuses to load the unit",
    default_severity: Severity::Error,
    fixable: false,
};

impl Check for UnitRefused {
    fn meta(&self) -> &'static Meta {
        &META
    }

    fn check(&self, cx: &mut Context) {
        if let Some(target) = cx.files.first().and_then(|f| super::flattened_symlink(f)) {
            let span = cx.files[0].tree.lines().next().map_or(0..0, |l| l.span);
            let outcome = if cx.model.loaded { "an empty unit" } else { "a unit it refuses" };
            cx.report(
                0,
                span,
                format!("this file holds only '{target}': a symlink saved as a file? systemd reads it as {outcome}"),
            )
            .label("not a unit file")
            .help(format!("make it a symlink to {target} (an alias, or a mask for /dev/null)"));
            return;
        }
        for problem in &cx.model.errors {
            if problem.kind == ProblemKind::Load {
                continue;
            }
            let message = format!("systemd refuses this unit: {}", problem.message);
            let finding = match &problem.at {
                Some((file, span)) => cx.report(*file, span.clone(), message),
                None => cx.report_unit(message),
            };
            finding.label("systemd stops here");
        }
    }
}
