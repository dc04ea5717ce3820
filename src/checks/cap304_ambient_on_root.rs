//! ## What it finds
//! `AmbientCapabilities=` on a service that runs as root.
//!
//! ## Why it matters
//! A root process already gets its whole bounding set at exec, so the
//! ambient list adds nothing; it suggests a restriction that does not
//! exist. What limits a root service is `CapabilityBoundingSet=`.
//!
//! ## Example
//! ```ini
//! [Service]
//! User=root
//! AmbientCapabilities=CAP_NET_BIND_SERVICE
//! ```
//! Use instead:
//! ```ini
//! [Service]
//! User=app
//! AmbientCapabilities=CAP_NET_BIND_SERVICE
//! CapabilityBoundingSet=CAP_NET_BIND_SERVICE
//! ```
//!
//! ## Fix
//! `capcheck fix` moves the service to a non-root user with those
//! capabilities.
//!
//! ## Suppression
//! `# capcheck: ignore=CAP304 -- reason` on the line above.

use super::{Check, Context, Meta};
use crate::caps::CapSet;
use crate::finding::Severity;

pub struct AmbientOnRoot;

static META: Meta = Meta {
    code: "CAP304",
    name: "ambient-on-root",
    summary: "AmbientCapabilities= on a root service does nothing",
    default_severity: Severity::Warning,
    fixable: false,
};

impl Check for AmbientOnRoot {
    fn meta(&self) -> &'static Meta {
        &META
    }

    fn check(&self, cx: &mut Context) {
        let p = cx.model;
        let ambient = p.ambient_capabilities.value.intersection(CapSet::KNOWN);
        if !p.loaded || !p.runs_as_root() || ambient.is_empty() {
            return;
        }
        let Some(origin) = p.ambient_capabilities.origins.last() else {
            return;
        };
        let bounding = if p.capability_bounding_set.value.has_all_known() {
            "every capability".to_string()
        } else {
            p.capability_bounding_set.value.to_string()
        };
        cx.report_origin(
            origin,
            format!("AmbientCapabilities= does nothing for a root service: it runs with its whole bounding set ({bounding})"),
        )
        .label("no effect as root")
        .help("run the service as a non-root User= with these ambient capabilities, or limit CapabilityBoundingSet=");
    }
}
