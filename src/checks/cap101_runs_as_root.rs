//! ## What it finds
//! Services whose processes run as root: no `User=` or `DynamicUser=`,
//! `User=root`, `User=0`, or a `User=` that a drop-in resets with an empty
//! `User=`.
//!
//! ## Why it matters
//! Root is limited only by the capability bounding set, which is the full
//! set unless `CapabilityBoundingSet=` says otherwise. Most daemons need one
//! or two capabilities, which a non-root user can hold through
//! `AmbientCapabilities=`.
//!
//! ## Example
//! ```ini
//! [Service]
//! ExecStart=/usr/local/bin/bind_low_port
//! User=root
//! ```
//! Use instead:
//! ```ini
//! [Service]
//! ExecStart=/usr/local/bin/bind_low_port
//! User=captest
//! AmbientCapabilities=CAP_NET_BIND_SERVICE
//! CapabilityBoundingSet=CAP_NET_BIND_SERVICE
//! NoNewPrivileges=yes
//! ```
//!
//! ## Fix
//! `capcheck fix` rewrites the unit to a non-root user with the capabilities
//! the evidence shows it needs.
//!
//! ## Suppression
//! `# capcheck: ignore=CAP101 -- reason` on the line above `[Service]` (or
//! above `User=`), for daemons that must start as root and drop privileges
//! themselves.

use super::{Check, Context, Meta};
use crate::finding::Severity;

pub struct RunsAsRoot;

static META: Meta = Meta {
    code: "CAP101",
    name: "runs-as-root",
    summary: "the service runs as root",
    default_severity: Severity::Warning,
    fixable: false,
};

impl Check for RunsAsRoot {
    fn meta(&self) -> &'static Meta {
        &META
    }

    fn check(&self, cx: &mut Context) {
        let p = cx.model;
        if !p.loaded || !p.has_exec_context || !p.runs_commands() || !p.runs_as_root() {
            return;
        }
        let bounding = p.capability_bounding_set.value;
        let caps = if bounding.has_all_known() {
            "all 41 capabilities".to_string()
        } else if bounding.intersection(crate::caps::CapSet::KNOWN).is_empty() {
            "no capabilities (uid 0 still owns most system files)".to_string()
        } else {
            format!("the capabilities {bounding}")
        };
        let help = "run it as a non-root User= (or DynamicUser=yes) with AmbientCapabilities= \
                    and CapabilityBoundingSet= set to what it needs";
        match p.user.origins.last() {
            Some(origin) if p.user.value.is_none() => {
                cx.report_origin(origin, format!("User= is reset here, so the service runs as root with {caps}"))
                    .label("empty User= means root")
                    .help(help);
            }
            Some(origin) => {
                let user = p.user.value.clone().unwrap_or_default();
                cx.report_origin(origin, format!("the service runs as root (User={user}) with {caps}"))
                    .label("uid 0")
                    .help(help);
            }
            None => {
                cx.report_unit(format!("the service runs as root with {caps}: no User= or DynamicUser="))
                    .label("no User= in this section")
                    .help(help);
            }
        }
    }
}
