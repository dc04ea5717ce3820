//! ## What it finds
//! Services that hold capabilities, or run as a non-root user, without
//! no_new_privs: no `NoNewPrivileges=yes`, no `DynamicUser=yes`, and (for a
//! non-root user) no sandboxing option that makes systemd set it at exec
//! (`RestrictSUIDSGID=`, `SystemCallFilter=`, `ProtectKernelTunables=`…).
//!
//! ## Why it matters
//! Without no_new_privs, setuid binaries and file capabilities work inside
//! the service: a compromised process can run `su`, `sudo`, `newuidmap` or
//! any binary with file capabilities and step up. With it, exec never adds
//! privilege; ambient capabilities still work.
//!
//! ## Example
//! ```ini
//! [Service]
//! User=app
//! AmbientCapabilities=CAP_NET_BIND_SERVICE
//! CapabilityBoundingSet=CAP_NET_BIND_SERVICE
//! ```
//! Use instead:
//! ```ini
//! [Service]
//! User=app
//! AmbientCapabilities=CAP_NET_BIND_SERVICE
//! CapabilityBoundingSet=CAP_NET_BIND_SERVICE
//! NoNewPrivileges=yes
//! ```
//!
//! ## Fix
//! `capcheck fix` adds `NoNewPrivileges=yes` (after checking that the
//! program is not itself setuid or file-capability based, see CAP403).
//!
//! ## Suppression
//! `# capcheck: ignore=CAP306 -- reason` on the line above `[Service]`,
//! for services that must run setuid helpers.

use super::{Check, Context, Meta};
use crate::caps::CapSet;
use crate::finding::Severity;

pub struct MissingNoNewPrivileges;

static META: Meta = Meta {
    code: "CAP306",
    name: "missing-no-new-privileges",
    summary: "NoNewPrivileges= is not in force",
    default_severity: Severity::Warning,
    fixable: false,
};

impl Check for MissingNoNewPrivileges {
    fn meta(&self) -> &'static Meta {
        &META
    }

    fn check(&self, cx: &mut Context) {
        let p = cx.model;
        if !p.loaded || !p.has_exec_context || !p.runs_commands() || p.no_new_privileges_at_runtime() {
            return;
        }
        let holds_caps = !p.capability_bounding_set.value.intersection(CapSet::KNOWN).is_empty();
        if p.runs_as_root() && !holds_caps {
            return;
        }
        let who = if p.runs_as_root() { "a root service" } else { "a non-root service" };
        let message = format!("NoNewPrivileges= is not in force for {who}: setuid binaries and file capabilities can raise its privileges");
        let finding = match p.no_new_privileges.explicit.origins.last() {
            Some(origin) => cx.report_origin(origin, message),
            None => cx.report_unit(message),
        };
        finding.label("no_new_privs off").help("add NoNewPrivileges=yes");
    }
}
