//! ## What it finds
//! Ambient capabilities that are not in the bounding set.
//!
//! ## Why it matters
//! The kernel cannot hold an ambient capability outside the bounding set.
//! systemd drops the bounding set first and then silently skips those
//! ambient capabilities (a debug-level log line only), so the service
//! starts without them and fails later, far from the cause.
//!
//! ## Example
//! ```ini
//! [Service]
//! User=app
//! CapabilityBoundingSet=CAP_CHOWN
//! AmbientCapabilities=CAP_NET_BIND_SERVICE
//! ```
//! Use instead:
//! ```ini
//! [Service]
//! User=app
//! CapabilityBoundingSet=CAP_NET_BIND_SERVICE
//! AmbientCapabilities=CAP_NET_BIND_SERVICE
//! ```
//!
//! ## Fix
//! `capcheck fix` makes the two sets equal to the needed set.
//!
//! ## Suppression
//! `# capcheck: ignore=CAP303 -- reason` on the line above.

use super::{Check, Context, Meta};
use crate::caps::CapSet;
use crate::finding::Severity;

pub struct AmbientOutsideBounding;

static META: Meta = Meta {
    code: "CAP303",
    name: "ambient-outside-bounding",
    summary: "an ambient capability is not in the bounding set and is dropped at exec",
    default_severity: Severity::Warning,
    fixable: false,
};

impl Check for AmbientOutsideBounding {
    fn meta(&self) -> &'static Meta {
        &META
    }

    fn check(&self, cx: &mut Context) {
        let p = cx.model;
        if !p.loaded {
            return;
        }
        // Capabilities a sandboxing option removed are CAP205's business.
        let removed = p
            .removed_from_bounding_set
            .iter()
            .fold(CapSet::EMPTY, |acc, (_, set)| acc.union(*set));
        let declared = p.capability_bounding_set.value.union(removed);
        let outside = p
            .ambient_capabilities
            .value
            .intersection(CapSet::KNOWN)
            .difference(declared);
        if outside.is_empty() {
            return;
        }
        let Some(origin) = p.ambient_capabilities.origins.last() else {
            return;
        };
        cx.report_origin(
            origin,
            format!("ambient {outside} not in CapabilityBoundingSet=: systemd drops it at exec without an error"),
        )
        .label("never raised")
        .help("add it to CapabilityBoundingSet= or remove it from AmbientCapabilities=");
    }
}
