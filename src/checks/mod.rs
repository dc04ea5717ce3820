//! The checks: one file each, its `//!` comment is its documentation, and
//! one line in [`declare_checks!`] below registers it.

pub mod binary;
mod context;
pub mod platform;
mod suggest;

pub use context::{CheckOptions, Context};

use crate::finding::Severity;

/// Static facts about a check.
#[derive(Debug)]
pub struct Meta {
    /// Stable code, `CAP` + 3 digits, grouped by family.
    pub code: &'static str,
    /// kebab-case name; reads as "allow <name>".
    pub name: &'static str,
    /// One line: what it finds.
    pub summary: &'static str,
    pub default_severity: Severity,
    /// Whether findings can carry a fix.
    pub fixable: bool,
}

/// A check over one unit's files and model.
pub trait Check: Sync {
    fn meta(&self) -> &'static Meta;
    fn check(&self, cx: &mut Context);
}

/// A registered check with its documentation.
pub struct Registered {
    pub check: &'static dyn Check,
    /// The check file's source; its `//!` lines are the documentation.
    source: &'static str,
}

impl Registered {
    pub fn meta(&self) -> &'static Meta {
        self.check.meta()
    }

    /// Whether `selector` (a code, a code prefix like `CAP3`, a name, or
    /// `ALL`) names this check.
    pub fn selected_by(&self, selector: &str) -> bool {
        let m = self.meta();
        selector.eq_ignore_ascii_case("all")
            || m.name == selector
            || (selector.len() >= 3
                && m.code
                    .to_ascii_uppercase()
                    .starts_with(&selector.to_ascii_uppercase()))
    }

    /// The check's documentation (Markdown), from its `//!` comment.
    pub fn doc(&self) -> String {
        let mut doc = String::new();
        for line in self.source.lines() {
            let Some(text) = line.strip_prefix("//!") else {
                if !doc.is_empty() {
                    break;
                }
                continue;
            };
            doc.push_str(text.strip_prefix(' ').unwrap_or(text));
            doc.push('\n');
        }
        doc
    }

    /// The check's documentation page (`capcheck explain`, docs/rules/).
    pub fn page(&self) -> String {
        let m = self.meta();
        let fix = if m.fixable {
            "findings can carry a fix"
        } else {
            "no automatic fix in findings"
        };
        format!(
            "# {} {}\n\n{}.\n\nDefault severity: {}; {fix}. Suppress with `# capcheck: ignore={}`.\n\n{}",
            m.code,
            m.name,
            capitalize(m.summary),
            m.default_severity.as_str(),
            m.code,
            self.doc()
        )
    }

    /// A section of the documentation (`## Heading`), without its heading.
    pub fn doc_section(&self, heading: &str) -> Option<String> {
        let doc = self.doc();
        let start = doc.find(&format!("## {heading}\n"))? + heading.len() + 4;
        let rest = &doc[start..];
        let end = rest.find("\n## ").map_or(rest.len(), |i| i + 1);
        Some(rest[..end].trim().to_string())
    }
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map_or_else(String::new, |c| c.to_uppercase().chain(chars).collect())
}

macro_rules! declare_checks {
    ($($module:ident :: $check:ident,)*) => {
        $(pub mod $module;)*

        /// Every check, in code order.
        pub fn all() -> &'static [Registered] {
            const ALL: &[Registered] = &[$(Registered {
                check: &$module::$check,
                source: include_str!(concat!(stringify!($module), ".rs")),
            },)*];
            ALL
        }
    };
}

declare_checks! {
    cap001_unit_refused::UnitRefused,
    cap002_ignored_line::IgnoredLine,
    cap101_runs_as_root::RunsAsRoot,
    cap102_nobody_user::NobodyUser,
    cap103_privileged_command::PrivilegedCommand,
    cap201_unknown_capability::UnknownCapability,
    cap202_misspelled_directive::MisspelledDirective,
    cap203_ignored_value::IgnoredValue,
    cap204_capability_list_restarted::CapabilityListRestarted,
    cap205_capability_removed_by_sandboxing::CapabilityRemovedBySandboxing,
    cap301_unrestricted_bounding_set::UnrestrictedBoundingSet,
    cap302_dangerous_capability::DangerousCapability,
    cap303_ambient_outside_bounding::AmbientOutsideBounding,
    cap304_ambient_on_root::AmbientOnRoot,
    cap305_ambient_without_bounding_set::AmbientWithoutBoundingSet,
    cap306_missing_no_new_privileges::MissingNoNewPrivileges,
    cap401_file_capabilities_exceed_bounding::FileCapabilitiesExceedBounding,
    cap402_ambient_cleared_by_binary::AmbientClearedByBinary,
    cap403_no_new_privileges_blocks_binary::NoNewPrivilegesBlocksBinary,
    cap501_platform_forbidden_capability::PlatformForbiddenCapability,
    cap901_unused_suppression::UnusedSuppression,
}

/// A file whose whole content is one unit name or absolute path — a
/// symlink that a copy turned into a file. systemd reads it as a unit file
/// (and refuses it); the author meant a link. Returns the target.
pub fn flattened_symlink(file: &crate::syntax::logical::UnitFile) -> Option<&str> {
    // A link target is at most PATH_MAX bytes; checks ask for every line
    // of a file, so a large file must not be trimmed each time.
    const PATH_MAX: usize = 4096;
    if file.text().len() > PATH_MAX {
        return None;
    }
    let text = file.text().trim();
    let looks_like_target = !text.is_empty()
        && !text.contains(['\n', '\r', '=', '[', ' '])
        && (text.starts_with('/')
            || crate::unit_name::UnitName::parse(text.rsplit('/').next().unwrap_or(text))
                .is_some());
    looks_like_target.then_some(text)
}

/// Whether `selector` names at least one check (configuration and
/// command line alike).
pub fn names_a_check(selector: &str) -> bool {
    all().iter().any(|r| r.selected_by(selector))
}

/// The check with this code or name.
pub fn find(code_or_name: &str) -> Option<&'static Registered> {
    all()
        .iter()
        .find(|r| r.meta().code.eq_ignore_ascii_case(code_or_name) || r.meta().name == code_or_name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_is_consistent() {
        let mut codes = std::collections::HashSet::new();
        for r in all() {
            let m = r.meta();
            assert!(codes.insert(m.code), "duplicate {}", m.code);
            assert!(
                m.code.len() == 6
                    && m.code.starts_with("CAP")
                    && m.code[3..].chars().all(|c| c.is_ascii_digit())
            );
            assert!(
                m.name.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
                "{}",
                m.name
            );
            for heading in [
                "What it finds",
                "Why it matters",
                "Example",
                "Fix",
                "Suppression",
            ] {
                assert!(
                    r.doc_section(heading).is_some(),
                    "{} lacks ## {heading}",
                    m.code
                );
            }
        }
    }
}
