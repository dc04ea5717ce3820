//! ## What it finds
//! Capabilities listed in `CapabilityBoundingSet=` or
//! `AmbientCapabilities=` that a sandboxing option removes again:
//! `PrivateDevices=yes` (CAP_MKNOD, CAP_SYS_RAWIO), `ProtectClock=yes`
//! (CAP_SYS_TIME, CAP_WAKE_ALARM), `ProtectKernelModules=yes`
//! (CAP_SYS_MODULE), `ProtectKernelLogs=yes` (CAP_SYSLOG).
//!
//! ## Why it matters
//! systemd takes them out of the bounding set after loading, so the
//! service never has them (an ambient one is dropped at exec) and fails
//! where it needs them, with nothing in the unit saying why.
//!
//! ## Example
//! ```ini
//! [Service]
//! AmbientCapabilities=CAP_SYS_TIME
//! CapabilityBoundingSet=CAP_SYS_TIME
//! ProtectClock=yes
//! ```
//! Use instead:
//! ```ini
//! [Service]
//! AmbientCapabilities=CAP_SYS_TIME
//! CapabilityBoundingSet=CAP_SYS_TIME
//! ```
//!
//! ## Fix
//! No automatic fix: either the capability or the option is wrong.
//!
//! ## Suppression
//! `# capcheck: ignore=CAP205 -- reason` on the line above.

use super::{Check, Context, Meta};
use crate::finding::Severity;
use crate::model::capset::named_positively;

pub struct CapabilityRemovedBySandboxing;

static META: Meta = Meta {
    code: "CAP205",
    name: "capability-removed-by-sandboxing",
    summary: "a listed capability is removed by a sandboxing option",
    default_severity: Severity::Warning,
    fixable: false,
};

impl Check for CapabilityRemovedBySandboxing {
    fn meta(&self) -> &'static Meta {
        &META
    }

    fn check(&self, cx: &mut Context) {
        let p = cx.model;
        if !p.loaded {
            return;
        }
        // Only capabilities someone asked for by name: a `~` deny list that
        // merely leaves them in is not a request.
        let named = named_positively(p.capability_bounding_set.origins.iter().map(|o| o.value.as_str()), cx.unit.semantics);
        let asked = named.union(p.ambient_capabilities.value);
        for (option, taken) in &p.removed_from_bounding_set {
            let listed = taken.intersection(asked);
            if listed.is_empty() {
                continue;
            }
            let in_ambient = taken.intersection(p.ambient_capabilities.value);
            let (origin, what) = match p.ambient_capabilities.origins.last() {
                Some(o) if !in_ambient.is_empty() => (o, "AmbientCapabilities="),
                _ => match p.capability_bounding_set.origins.last() {
                    Some(o) => (o, "CapabilityBoundingSet="),
                    None => continue,
                },
            };
            cx.report_origin(
                origin,
                format!("{what} lists {listed}, but {option}=yes removes it from the bounding set, so the service never has it"),
            )
            .label(format!("removed by {option}="))
            .help(format!("drop {option}=yes or stop asking for {listed}"));
        }
    }
}
