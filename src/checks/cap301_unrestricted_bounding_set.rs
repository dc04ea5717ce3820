//! ## What it finds
//! Services without `CapabilityBoundingSet=`, whose bounding set is
//! therefore every capability: a root service holds all 41; a non-root
//! service without `NoNewPrivileges=` can regain any of them through a
//! setuid or file-capability helper.
//!
//! ## Why it matters
//! The bounding set is the only limit on what a root process can do, and
//! the ceiling for what any process can ever gain. Leaving it full is the
//! single largest privilege a unit grants by omission.
//!
//! ## Example
//! ```ini
//! [Service]
//! ExecStart=/usr/sbin/ntpd
//! ```
//! Use instead:
//! ```ini
//! [Service]
//! ExecStart=/usr/sbin/ntpd
//! CapabilityBoundingSet=CAP_SYS_TIME CAP_NET_BIND_SERVICE
//! ```
//!
//! ## Fix
//! `capcheck fix` sets the bounding set to the capabilities the evidence
//! shows the program needs.
//!
//! ## Suppression
//! `# capcheck: ignore=CAP301 -- reason` on the line above `[Service]`.

use super::{Check, Context, Meta};
use crate::finding::Severity;

pub struct UnrestrictedBoundingSet;

static META: Meta = Meta {
    code: "CAP301",
    name: "unrestricted-bounding-set",
    summary: "no CapabilityBoundingSet=: the bounding set is every capability",
    default_severity: Severity::Warning,
    fixable: false,
};

impl Check for UnrestrictedBoundingSet {
    fn meta(&self) -> &'static Meta {
        &META
    }

    fn check(&self, cx: &mut Context) {
        let p = cx.model;
        if !p.loaded || !p.has_exec_context || !p.runs_commands() || !p.capability_bounding_set.value.has_all_known() {
            return;
        }
        let help = "set CapabilityBoundingSet= to the capabilities the service needs (empty for none)";
        let (message, severity) = if p.runs_as_root() {
            ("the bounding set holds all 41 capabilities and the service runs as root: it has every one of them".to_string(), Severity::Warning)
        } else if !p.no_new_privileges_at_runtime() {
            ("the bounding set holds all 41 capabilities: a setuid or file-capability helper could gain any of them (NoNewPrivileges= is off)".to_string(), Severity::Info)
        } else {
            return;
        };
        let finding = match p.capability_bounding_set.origins.last() {
            Some(origin) => cx.report_origin(origin, message),
            None => cx.report_unit(message),
        };
        finding.severity(severity).label("no capability limit").help(help);
    }
}
