//! From evidence to a target: who the service runs as and with which
//! capabilities.

use super::evidence::{Evidence, Needed};
use crate::caps::CapSet;
use crate::finding::Applicability;
use crate::model::Privileges;

/// Who the fixed service runs as.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Identity {
    /// `User=NAME`.
    User(String),
    /// `DynamicUser=yes`.
    DynamicUser,
    /// The program starts as root and switches user itself (the evidence
    /// shows CAP_SETUID/CAP_SETGID): it stays root, with a bounding set.
    KeepRoot,
}

/// The privileges the fix aims at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub identity: Identity,
    pub ambient: CapSet,
    pub bounding: CapSet,
    /// Sandboxing options that would remove a needed capability.
    pub disable: Vec<&'static str>,
    pub applicability: Applicability,
}

/// How the user chose the identity.
#[derive(Debug, Clone, Default)]
pub struct IdentityChoice {
    pub user: Option<String>,
    pub dynamic_user: bool,
}

/// The last non-root `User=` the unit's files name, even if a later
/// assignment (a drop-in's `User=root`, say) overrides it: the user the
/// author meant.
pub fn intended_user(unit: &crate::load::Unit) -> Option<String> {
    let own = unit.name.unit_type.own_section()?;
    unit.files()
        .flat_map(|f| f.assignments.iter().map(move |a| (f, a)))
        .filter(|(f, a)| a.key == "User" && f.section_of(a).known && f.section_of(a).name == own)
        .map(|(_, a)| a.value.clone())
        .filter(|v| !v.is_empty() && v != "root" && v != "0" && !v.contains('%'))
        .last()
}

/// A user name derived from the unit's prefix: lower case, `-` for other
/// characters, a letter first, at most 31 characters.
pub fn default_user_name(prefix: &str) -> String {
    let mut name: String = prefix
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    if !name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_') {
        name.insert(0, '_');
    }
    name.truncate(31);
    name
}

/// Decides the target, or None when there is no evidence and guesses are
/// not allowed.
pub fn target(
    model: &Privileges,
    prefix: &str,
    intended_user: Option<String>,
    needed: &Needed,
    choice: &IdentityChoice,
    guesses: bool,
) -> Option<Target> {
    let applicability = if needed.decided {
        Applicability::EvidenceBased
    } else if guesses {
        Applicability::Guess
    } else {
        return None;
    };
    let set = needed.set();
    // Only a service that starts as root can switch user itself; one that
    // already runs as a user keeps it, with CAP_SETUID/CAP_SETGID ambient.
    let switches_user = (set.contains(6) || set.contains(7)) && model.runs_as_root();
    let identity = if switches_user && choice.user.is_none() && !choice.dynamic_user {
        Identity::KeepRoot
    } else if choice.dynamic_user {
        Identity::DynamicUser
    } else if let Some(user) = &choice.user {
        Identity::User(user.clone())
    } else if model.dynamic_user.value && !model.runs_as_root() {
        Identity::DynamicUser
    } else if let (false, Some(user)) = (model.runs_as_root(), &model.user.value) {
        Identity::User(user.clone())
    } else {
        Identity::User(intended_user.unwrap_or_else(|| default_user_name(prefix)))
    };
    let ambient = if identity == Identity::KeepRoot {
        // Root needs no ambient set; but what the unit already grants as
        // ambient stays, since it is the evidence the next run plans from
        // (without it, fixing twice would change the unit again).
        needed
            .caps
            .iter()
            .filter(|(_, evidence)| evidence.contains(&Evidence::Ambient))
            .map(|(cap, _)| *cap)
            .collect()
    } else {
        set
    };
    let disable = crate::model::BOUNDING_REMOVALS
        .iter()
        .filter(|(_, names)| !crate::caps::set_of(names).intersection(set).is_empty())
        .map(|(option, _)| *option)
        .collect();
    Some(Target {
        identity,
        ambient,
        bounding: set,
        disable,
        applicability,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names_from_unit_prefixes() {
        assert_eq!(default_user_name("bind-root"), "bind-root");
        assert_eq!(default_user_name("Foo.Bar"), "foo-bar");
        assert_eq!(default_user_name("9abc"), "_9abc");
        assert_eq!(default_user_name(&"x".repeat(40)).len(), 31);
    }
}
