//! ## What it finds
//! A non-root service with `AmbientCapabilities=` but no
//! `CapabilityBoundingSet=`.
//!
//! ## Why it matters
//! The ambient list gives the service what it needs, but the bounding set
//! stays full: any setuid-root or file-capability program the service runs
//! can still gain every capability (unless `NoNewPrivileges=` is in force).
//! Upstream units do this often (caddy, kea, earlyoom, e2scrub).
//!
//! ## Example
//! ```ini
//! [Service]
//! User=caddy
//! AmbientCapabilities=CAP_NET_BIND_SERVICE
//! ```
//! Use instead:
//! ```ini
//! [Service]
//! User=caddy
//! AmbientCapabilities=CAP_NET_BIND_SERVICE
//! CapabilityBoundingSet=CAP_NET_BIND_SERVICE
//! ```
//!
//! ## Fix
//! `capcheck fix` sets the bounding set equal to the ambient set.
//!
//! ## Suppression
//! `# capcheck: ignore=CAP305 -- reason` on the line above.

use super::{Check, Context, Meta};
use crate::caps::CapSet;
use crate::finding::Severity;

pub struct AmbientWithoutBoundingSet;

static META: Meta = Meta {
    code: "CAP305",
    name: "ambient-without-bounding-set",
    summary: "ambient capabilities with a full bounding set",
    default_severity: Severity::Warning,
    fixable: false,
};

impl Check for AmbientWithoutBoundingSet {
    fn meta(&self) -> &'static Meta {
        &META
    }

    fn check(&self, cx: &mut Context) {
        let p = cx.model;
        let ambient = p.ambient_capabilities.value.intersection(CapSet::KNOWN);
        if !p.loaded || p.runs_as_root() || ambient.is_empty() || !p.capability_bounding_set.value.has_all_known() {
            return;
        }
        let Some(origin) = p.ambient_capabilities.origins.last() else {
            return;
        };
        let severity = if p.no_new_privileges_at_runtime() { Severity::Info } else { Severity::Warning };
        cx.report_origin(
            origin,
            format!("AmbientCapabilities={ambient} without CapabilityBoundingSet=: the bounding set stays full"),
        )
        .severity(severity)
        .label("no matching bounding set")
        .help(format!("add CapabilityBoundingSet={ambient}"));
    }
}
