//! ## What it finds
//! Exec commands with the `+` prefix, which run as root with every
//! capability and no sandboxing whatever `User=`, `CapabilityBoundingSet=`
//! and `NoNewPrivileges=` say, and commands with `!` in a unit with a
//! non-root `User=`, which keep uid 0 (the bounding set still applies).
//! `systemd-analyze security` ignores prefixes and scores such units as if
//! every command ran as `User=`. From systemd 258 on, a `|` command line
//! (run with the user's shell) is shown as written: `ExecStart=+|install …`
//! runs that shell as root.
//!
//! ## Why it matters
//! The unit looks confined but part of it is not. A `+` helper that
//! handles untrusted input (a config file the service user can write, say)
//! is a path to root.
//!
//! ## Example
//! ```ini
//! [Service]
//! User=app
//! ExecStartPre=+/usr/bin/install -d -o app /var/lib/app
//! ExecStart=/usr/bin/app
//! ```
//! Use instead:
//! ```ini
//! [Service]
//! User=app
//! StateDirectory=app
//! ExecStart=/usr/bin/app
//! ```
//!
//! ## Fix
//! None: the fixer keeps these commands and reports that they still run as
//! root.
//!
//! ## Suppression
//! `# capcheck: ignore=CAP103 -- reason` on the line above the Exec line.

use super::{Check, Context, Meta};
use crate::finding::Severity;
use crate::model::exec::Prefix;

pub struct PrivilegedCommand;

static META: Meta = Meta {
    code: "CAP103",
    name: "privileged-command",
    summary: "an Exec command runs as root despite User=",
    default_severity: Severity::Warning,
    fixable: false,
};

impl Check for PrivilegedCommand {
    fn meta(&self) -> &'static Meta {
        &META
    }

    fn check(&self, cx: &mut Context) {
        let p = cx.model;
        if !p.loaded {
            return;
        }
        let confined = !p.runs_as_root()
            || !p.capability_bounding_set.value.has_all_known()
            || p.no_new_privileges_at_runtime();
        for command in &p.commands {
            let c = &command.command;
            let written = c.display();
            if c.has(Prefix::FullyPrivileged) && confined {
                cx.report_origin(
                    &command.origin,
                    format!(
                        "{}={written} runs as root with all capabilities and no sandboxing, \
                         ignoring User=, CapabilityBoundingSet= and NoNewPrivileges=",
                        command.directive
                    ),
                )
                .label("'+': fully privileged")
                .help("drop the '+' if the command can run as the service user, or move its job to a tmpfiles.d entry or StateDirectory=");
            } else if c.has(Prefix::NoSetuid) && !p.runs_as_root() {
                let user = p.user.value.clone().unwrap_or_default();
                cx.report_origin(
                    &command.origin,
                    format!(
                        "{}={written} keeps uid 0 instead of switching to User={user}; \
                         only the bounding set limits it",
                        command.directive
                    ),
                )
                .severity(Severity::Info)
                .label("'!': no user switch")
                .help("fine for daemons that drop privileges themselves; otherwise remove the '!'");
            }
        }
    }
}
