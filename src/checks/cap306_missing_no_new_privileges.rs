//! ## What it finds
//! Services that hold capabilities, or run as a non-root user, without
//! no_new_privs: no `NoNewPrivileges=yes`, no `DynamicUser=yes`, and (for a
//! non-root user) no sandboxing option that makes systemd set it at exec
//! (`RestrictSUIDSGID=`, `SystemCallFilter=`, `ProtectKernelTunables=`…).
//!
//! From systemd 255 on, those sandboxing options imply no_new_privs only
//! when the system call filter stops the service from dropping privileges
//! (a `SystemCallFilter=` that denies `capget`, `capset` or `prctl`, such
//! as `~@privileged`): otherwise systemd keeps CAP_SYS_ADMIN until the
//! filter is loaded and sets no no_new_privs. The check follows the
//! release capcheck reads the unit as.
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
        let mut message = format!("NoNewPrivileges= is not in force for {who}: setuid binaries and file capabilities can raise its privileges");
        if let Some(option) = p.no_new_privileges.not_implied_by.first().filter(|_| !p.runs_as_root()) {
            message.push_str(&format!(
                " ({} does not imply it from systemd 255 on: the system call filter lets the service drop privileges, so systemd keeps CAP_SYS_ADMIN until it is loaded; read as {})",
                option.key, p.semantics
            ));
        }
        let finding = match p.no_new_privileges.explicit.origins.last() {
            Some(origin) => cx.report_origin(origin, message),
            None => cx.report_unit(message),
        };
        finding.label("no_new_privs off").help("add NoNewPrivileges=yes");
    }
}
