//! ## What it finds
//! Capability lines that do not combine with the lines before them the way
//! they read, because of systemd's merge rule: a line *replaces* the set
//! when the set holds its "unset" value, and merges otherwise.
//! - A line that starts over (systemd 252–261): after
//!   `CapabilityBoundingSet=~CAP_NET_ADMIN` and
//!   `CapabilityBoundingSet=CAP_NET_ADMIN` the set is all ones again, which
//!   these releases take for "unset", so a following
//!   `CapabilityBoundingSet=CAP_CHOWN` leaves only CAP_CHOWN. From 262 on,
//!   all ones is no longer "unset" and that line merges (see below).
//! - A line that changes nothing: after `CapabilityBoundingSet=~CAP_SYS_ADMIN`
//!   (all but one), `CapabilityBoundingSet=CAP_CHOWN` adds a capability the
//!   set already has; it does not restrict to CAP_CHOWN. From 262 on, this
//!   is also what `CapabilityBoundingSet=~` followed by a positive line does.
//!
//! Which of the two a line is follows the systemd release capcheck reads the
//! unit as.
//!
//! ## Why it matters
//! Drop-ins and vendor units are often layered line by line; the result
//! can be far more (or less) than any single line suggests.
//!
//! ## Example
//! ```ini
//! [Service]
//! CapabilityBoundingSet=~CAP_SYS_ADMIN
//! CapabilityBoundingSet=CAP_NET_BIND_SERVICE
//! ```
//! Use instead (an empty assignment starts a fresh list):
//! ```ini
//! [Service]
//! CapabilityBoundingSet=
//! CapabilityBoundingSet=CAP_NET_BIND_SERVICE
//! ```
//!
//! ## Fix
//! No automatic fix: which of the two readings was meant is not knowable.
//!
//! ## Suppression
//! `# capcheck: ignore=CAP204 -- reason` on the line above.

use super::{Check, Context, Meta};
use crate::caps::CapSet;
use crate::finding::Severity;
use crate::model::capset::{CapAssignment, Merge, CAP_SETTINGS};

pub struct CapabilityListRestarted;

static META: Meta = Meta {
    code: "CAP204",
    name: "capability-list-restarted",
    summary: "a capability line replaces or adds nothing where it reads as a merge",
    default_severity: Severity::Warning,
    fixable: false,
};

impl Check for CapabilityListRestarted {
    fn meta(&self) -> &'static Meta {
        &META
    }

    fn check(&self, cx: &mut Context) {
        if !cx.model.loaded {
            return;
        }
        for (key, list) in CAP_SETTINGS {
            let semantics = cx.unit.semantics;
            let mut set = list.unset(semantics);
            let mut earlier = false;
            for origin in cx.assignments_of(key) {
                let parsed = CapAssignment::parse(&origin.value, semantics);
                let (next, merge) = parsed.apply(set, list, semantics);
                // An empty value or a bare `~` is an explicit reset.
                let explicit_reset = parsed.named.is_empty();
                if earlier && !explicit_reset {
                    if merge == Merge::Replaced {
                        cx.report_origin(
                            &origin,
                            format!(
                                "{key}= starts over here: the lines before left the set at its default, \
                                 so systemd replaces it with {next} instead of adding to it"
                            ),
                        )
                        .label("replaces, does not merge")
                        .help(format!("write {key}= (empty) first if a fresh list is meant, or merge the lines into one"));
                    } else if !parsed.inverted && next == set && !set.intersection(CapSet::KNOWN).is_empty() {
                        cx.report_origin(
                            &origin,
                            format!("{key}= changes nothing here: the set already holds everything this line names"),
                        )
                        .label("adds to the set, does not restrict it")
                        .help(format!("to keep only these capabilities, reset first with an empty {key}="));
                    }
                }
                set = next;
                earlier = true;
            }
        }
    }
}
