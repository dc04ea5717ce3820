//! ## What it finds
//! With `--platform NAME` (or `platform = "NAME"` in capcheck.toml),
//! capabilities the unit asks for that the platform never grants, as
//! listed in `rules/platforms.toml`:
//! - `talos`: CAP_SYS_MODULE and CAP_SYS_BOOT, for every process;
//! - `kubernetes-restricted`: everything but CAP_NET_BIND_SERVICE (drop
//!   ALL, add back at most that one);
//! - `kubernetes-baseline`: anything outside Docker's default set without
//!   CAP_NET_RAW.
//!
//! A unit asks for a capability by naming it in `AmbientCapabilities=` or in
//! a `CapabilityBoundingSet=` allow-list, or, on platforms with an
//! allow-list, by leaving the bounding set unrestricted.
//!
//! ## Why it matters
//! The workload fails to start on that platform ("unable to apply caps:
//! operation not permitted"), or runs without the capability it expects.
//!
//! ## Example
//! ```ini
//! [Service]
//! User=app
//! AmbientCapabilities=CAP_SYS_MODULE CAP_NET_ADMIN
//! ```
//! Use instead (on talos):
//! ```ini
//! [Service]
//! User=app
//! AmbientCapabilities=CAP_NET_ADMIN
//! CapabilityBoundingSet=CAP_NET_ADMIN
//! ```
//!
//! ## Fix
//! No automatic fix.
//!
//! ## Suppression
//! `# capcheck: ignore=CAP501 -- reason` on the line above.

use super::{Check, Context, Meta};
use crate::caps::CapSet;
use crate::finding::Severity;
use crate::model::capset::named_positively;

pub struct PlatformForbiddenCapability;

static META: Meta = Meta {
    code: "CAP501",
    name: "platform-forbidden-capability",
    summary: "the unit asks for a capability its platform never grants",
    default_severity: Severity::Error,
    fixable: false,
};

impl Check for PlatformForbiddenCapability {
    fn meta(&self) -> &'static Meta {
        &META
    }

    fn check(&self, cx: &mut Context) {
        let (Some(platform), p) = (cx.options.platform, cx.model) else {
            return;
        };
        if !p.loaded || !p.has_exec_context {
            return;
        }
        let forbidden = CapSet::KNOWN.difference(platform.permitted);
        let ambient = p.ambient_capabilities.value.intersection(forbidden);
        if let (false, Some(origin)) = (ambient.is_empty(), p.ambient_capabilities.origins.last()) {
            cx.report_origin(origin, format!("{} never grants {ambient}: {}", platform.name, platform.description))
                .label(format!("not on {}", platform.name))
                .help(format!("remove {ambient}"));
        }
        let bounding = p.capability_bounding_set.value;
        if bounding.has_all_known() {
            // An unrestricted set asks for everything; that only matters
            // where the platform has an allow-list of a few capabilities.
            if platform.permitted.iter().count() < 20 {
                let message = format!("{} requires dropping all capabilities but {}; the bounding set is unrestricted", platform.name, display(platform.permitted));
                let finding = match p.capability_bounding_set.origins.last() {
                    Some(origin) => cx.report_origin(origin, message),
                    None => cx.report_unit(message),
                };
                finding.label("no CapabilityBoundingSet=").help(format!("set CapabilityBoundingSet= to a subset of {}", display(platform.permitted)));
            }
            return;
        }
        let named = named_positively(p.capability_bounding_set.origins.iter().map(|o| o.value.as_str()), cx.unit.semantics);
        let asked = bounding.intersection(named).intersection(forbidden).difference(ambient);
        if let (false, Some(origin)) = (asked.is_empty(), p.capability_bounding_set.origins.last()) {
            cx.report_origin(origin, format!("{} never grants {asked}: {}", platform.name, platform.description))
                .label(format!("not on {}", platform.name))
                .help(format!("remove {asked} from CapabilityBoundingSet="));
        }
    }
}

fn display(set: CapSet) -> String {
    if set.is_empty() {
        "none".to_string()
    } else {
        set.to_string()
    }
}
