//! ## What it finds
//! Capabilities the service's processes really hold that give away much:
//! for a root service the bounding set, for a non-root service its ambient
//! capabilities. Graded by the risk class in `rules/capabilities.toml`:
//! root-equivalent and high are warnings, medium is info, low is not
//! reported. (A service with no bounding set at all is reported once by
//! CAP301 instead.) `[checks.dangerous-capability] min-risk` in capcheck.toml
//! raises the lowest class reported.
//!
//! ## Why it matters
//! Root-equivalent capabilities (CAP_SYS_ADMIN, CAP_SETUID, CAP_DAC_OVERRIDE,
//! CAP_SYS_PTRACE…) each lead to full root in one step; high ones need one
//! more precondition. A service that holds them is worth a second look.
//!
//! ## Example
//! ```ini
//! [Service]
//! User=app
//! AmbientCapabilities=CAP_SYS_ADMIN
//! ```
//! Use instead (whatever the program really needs, e.g.):
//! ```ini
//! [Service]
//! User=app
//! AmbientCapabilities=CAP_NET_BIND_SERVICE
//! CapabilityBoundingSet=CAP_NET_BIND_SERVICE
//! ```
//!
//! ## Fix
//! `capcheck fix` with a recorded profile narrows the set to what is used.
//!
//! ## Suppression
//! `# capcheck: ignore=CAP302 -- reason` on the line above the capability
//! line, for services that need the capability by design.

use super::{Check, Context, Meta};
use crate::caps::{CapSet, Risk};
use crate::finding::Severity;

pub struct DangerousCapability;

static META: Meta = Meta {
    code: "CAP302",
    name: "dangerous-capability",
    summary: "the service holds a high-risk capability",
    default_severity: Severity::Warning,
    fixable: false,
};

impl Check for DangerousCapability {
    fn meta(&self) -> &'static Meta {
        &META
    }

    fn check(&self, cx: &mut Context) {
        let p = cx.model;
        if !p.loaded || !p.has_exec_context || !p.runs_commands() {
            return;
        }
        let bounding = p.capability_bounding_set.value;
        let (held, setting, origins): (CapSet, &str, _) = if p.runs_as_root() {
            if bounding.has_all_known() {
                return;
            }
            (bounding, "bounding set of a root service", &p.capability_bounding_set.origins)
        } else {
            let ambient = p.ambient_capabilities.value.intersection(bounding);
            (ambient, "ambient set", &p.ambient_capabilities.origins)
        };
        let Some(origin) = origins.last() else {
            return;
        };
        // One finding per risk class, most dangerous first.
        for (risk, severity, what) in [
            (Risk::RootEquivalent, Severity::Warning, "root-equivalent"),
            (Risk::High, Severity::Warning, "high-risk"),
            (Risk::Medium, Severity::Info, "medium-risk"),
        ] {
            if risk < cx.options.min_risk {
                continue;
            }
            let class: Vec<_> = held.iter().filter(|c| c.risk == risk).collect();
            if class.is_empty() {
                continue;
            }
            let names: Vec<&str> = class.iter().map(|c| c.name.as_str()).collect();
            let gates = if class.len() == 1 {
                format!(": {}", class[0].gates)
            } else {
                String::new()
            };
            cx.report_origin(origin, format!("{what} capabilities in the {setting}: {}{gates}", names.join(" ")))
                .severity(severity)
                .label(what)
                .help("keep them only if the program needs them (record a profile with `capcheck record` to know)");
        }
    }
}
