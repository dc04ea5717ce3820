//! ## What it finds
//! Words in `CapabilityBoundingSet=` and `AmbientCapabilities=` that are
//! not capabilities, which systemd drops without a word: typos
//! (`CAP_NET_ADMN`), names without the `CAP_` prefix (`NET_ADMIN`), lists
//! separated by commas (`CAP_CHOWN,CAP_KILL` is one word), a quoted list
//! (`"CAP_CHOWN CAP_KILL"` is one word), `%` specifiers (not expanded
//! there), numbers above 63, and an unbalanced quote (systemd stops reading
//! the line at it).
//!
//! ## Why it matters
//! The set systemd ends with is not the one written. Worse, a line whose
//! words are all unknown *replaces* the set: a lone typo line empties the
//! bounding set (the service loses every capability), and a `~` typo line
//! resets it to everything. The message shows the set systemd really uses.
//!
//! ## Example
//! ```ini
//! [Service]
//! CapabilityBoundingSet=CAP_NET_BIND_SERVICE
//! CapabilityBoundingSet=CAP_NET_ADMN
//! ```
//! Use instead:
//! ```ini
//! [Service]
//! CapabilityBoundingSet=CAP_NET_BIND_SERVICE CAP_NET_ADMIN
//! ```
//!
//! ## Fix
//! When a word has exactly one likely correction, the finding carries an
//! edit that replaces it (evidence-based: it grants the capability the
//! author wrote).
//!
//! ## Suppression
//! `# capcheck: ignore=CAP201 -- reason` on the line above.

use super::suggest::closest;
use super::{Check, Context, Meta};
use crate::caps::{self, CapSet};
use crate::finding::{Applicability, Edit, Fix, Severity};
use crate::model::capset::{CapAssignment, CapList, CAP_SETTINGS};
use crate::model::Origin;
use crate::semantics::Semantics;

pub struct UnknownCapability;

static META: Meta = Meta {
    code: "CAP201",
    name: "unknown-capability",
    summary: "a capability word systemd silently drops",
    default_severity: Severity::Warning,
    fixable: true,
};

/// Why a word is not a capability (for `semantics`), and its likely
/// correction.
fn diagnose(word: &str, semantics: Semantics) -> (String, Option<String>) {
    let limit = semantics.capability_limit();
    let names = || caps::table().iter().map(|c| c.name.as_str());
    if word.contains(',') {
        let parts: Vec<String> = word.split(',').filter(|p| !p.is_empty()).map(str::to_string).collect();
        let all_valid = parts.iter().all(|p| caps::parse_word(p, limit).is_some());
        let fix = all_valid.then(|| parts.join(" "));
        return (format!("'{word}' is one word: capabilities are separated by spaces, not commas"), fix);
    }
    if word.contains([' ', '\t']) {
        return (format!("the quotes make '{word}' a single word, which is no capability"), None);
    }
    if word.contains('%') {
        return (format!("'{word}': specifiers are not expanded in capability lists"), None);
    }
    if let Some(n) = caps::parse_c_int(word) {
        return (format!("'{word}' ({n}) is not a capability number ({semantics} takes 0..{limit})"), None);
    }
    let prefixed = format!("CAP_{}", word.to_ascii_uppercase());
    if caps::by_name(&prefixed).is_some() {
        return (format!("'{word}' lacks the CAP_ prefix systemd requires"), Some(prefixed));
    }
    match closest(word, names(), 2).or_else(|| closest(&prefixed, names(), 2)) {
        Some(name) => (format!("unknown capability '{word}'; did you mean {name}?"), Some(name.to_string())),
        None => (format!("unknown capability '{word}'"), None),
    }
}

impl Check for UnknownCapability {
    fn meta(&self) -> &'static Meta {
        &META
    }

    fn check(&self, cx: &mut Context) {
        if !cx.model.loaded {
            return;
        }
        for (key, list) in CAP_SETTINGS {
            let final_set = match list {
                CapList::Bounding => cx.model.capability_bounding_set.value,
                CapList::Ambient => cx.model.ambient_capabilities.value,
            };
            for origin in cx.assignments_of(key) {
                let parsed = CapAssignment::parse(&origin.value, cx.unit.semantics);
                self.report_line(cx, &origin, &parsed, list, final_set);
            }
        }
    }
}

impl UnknownCapability {
    fn report_line(&self, cx: &mut Context, origin: &Origin, parsed: &CapAssignment, list: CapList, final_set: CapSet) {
        if parsed.dropped.is_empty() && parsed.stopped.is_none() {
            return;
        }
        let key = &origin.key;
        let consequence = match (parsed.named.is_empty(), parsed.inverted, list) {
            (true, false, CapList::Bounding) => " This line names no capability, so it replaces the set with the empty set.",
            (true, false, CapList::Ambient) => " This line names no capability, so it empties the ambient set.",
            (true, true, _) => " This ~ line names no capability, so it resets the set to every capability.",
            _ => "",
        };
        let severity = if parsed.named.is_empty() { Severity::Error } else { Severity::Warning };
        let mut reasons = Vec::new();
        // None once a word has no correction found exactly once in the line.
        let mut edits = Some(Vec::new());
        let file = cx.files[origin.file_index];
        let value_span = cx.value_span(origin);
        let source = &file.text()[value_span.clone()];
        for word in &parsed.dropped {
            let (reason, correction) = diagnose(word, cx.unit.semantics);
            reasons.push(reason);
            // The fix needs every word: after one fails, searching the line
            // for the others (quadratic on a line of many words) is wasted.
            edits = edits.zip(correction).and_then(|(mut edits, correction)| {
                let at = source.find(word.as_str())?;
                if source.matches(word.as_str()).nth(1).is_some() {
                    return None;
                }
                edits.push(Edit {
                    path: file.path.clone(),
                    range: value_span.start + at..value_span.start + at + word.len(),
                    start_line: origin.line,
                    end_line: origin.line,
                    content: correction,
                });
                Some(edits)
            });
        }
        if parsed.stopped.is_some() {
            reasons.push("an unbalanced quote stops systemd reading the line; the words after it are dropped".to_string());
        }
        let shown = if final_set.has_all_known() {
            "every capability".to_string()
        } else if final_set.intersection(CapSet::KNOWN).is_empty() {
            "nothing".to_string()
        } else {
            final_set.to_string()
        };
        let mut message = format!("{key}=: {}", reasons.join("; "));
        if !message.ends_with('?') {
            message.push('.');
        }
        message.push_str(&format!("{consequence} In the end {key} holds {shown}."));
        let fix = edits.filter(|edits| !edits.is_empty() && parsed.stopped.is_none());
        let finding = cx
            .report_origin(origin, message)
            .severity(severity)
            .label("dropped by systemd without a warning");
        if let Some(edits) = fix {
            let replacement = edits.iter().map(|e| e.content.as_str()).collect::<Vec<_>>().join(", ");
            finding.help(format!("write {replacement}"));
            finding.fix(Fix {
                message: format!("replace with {replacement}"),
                applicability: Applicability::EvidenceBased,
                edits,
            });
        }
    }
}
