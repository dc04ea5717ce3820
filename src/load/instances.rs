//! Templates are never loaded bare: systemd loads `getty@.service` only as
//! an instance (`getty@tty1.service`). A template found in a system or a
//! directory is checked through the instances that exist there (links in
//! `.wants/`, `.requires/`, `.upholds/` directories, instance drop-in
//! directories such as `user@0.service.d`, instance files), or, with none,
//! as `systemd-analyze verify` checks a template file: with a test
//! instance.

use super::Listing;
use crate::unit_name::UnitName;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The instance a template is checked with when no instance of it exists
/// or it was named itself: `systemd-analyze verify`'s (up to systemd 256;
/// later releases say `test_instance`, which reads the same but for `%i`).
pub const TEST_INSTANCE: &str = "i";

/// How a template came to be checked as the instance a target names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateCheck {
    /// An instance the system has.
    Existing,
    /// The test instance: the template was named, or no instance of it
    /// exists.
    TestInstance,
}

/// `foo@.service` as `foo@i.service`.
pub fn test_instance(template: &UnitName) -> UnitName {
    UnitName::parse(&template.with_instance(TEST_INSTANCE))
        .expect("an instance of a valid template")
}

/// Directories whose links pull units in (`multi-user.target.wants/`):
/// an instance linked there is one systemd starts.
const DEPENDENCY_DIR_SUFFIXES: [&str; 3] = [".wants", ".requires", ".upholds"];

pub fn is_dependency_dir(name: &str) -> bool {
    DEPENDENCY_DIR_SUFFIXES.iter().any(|s| name.ends_with(s))
}

/// The instance an entry of a unit directory shows to exist: an instance
/// drop-in directory (`user@0.service.d`). Links in dependency directories
/// are read by [`linked_instances`].
pub fn dropin_dir_instance(entry: &str) -> Option<UnitName> {
    UnitName::parse(entry.strip_suffix(".d")?).filter(UnitName::is_instance)
}

/// The instances linked in the dependency directory `dir`
/// (`getty.target.wants/getty@tty1.service`).
pub fn linked_instances(dir: &Path) -> Vec<UnitName> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| UnitName::parse(e.file_name().to_str()?))
        .filter(UnitName::is_instance)
        .collect()
}

/// The instances one unit directory shows to exist, besides instance
/// files: its instance drop-in directories and the instance links of its
/// dependency directories.
pub fn instances_in(dir: &Path, listing: &Listing) -> Vec<UnitName> {
    let mut found = Vec::new();
    for (name, file_type) in listing.entries() {
        let Some(name) = name.to_str() else {
            continue;
        };
        if let Some(instance) = dropin_dir_instance(name) {
            found.push(instance);
        } else if is_dependency_dir(name) && (file_type.is_dir() || file_type.is_symlink()) {
            found.extend(linked_instances(&dir.join(name)));
        }
    }
    found
}

/// The units that a set of unit names found together stands for, each
/// with how a template led to it: every name but a template as itself;
/// each template as the instances of it among `names` and `instances`,
/// or as its test instance when there is none. Sorted by name.
pub fn units_of(
    names: impl IntoIterator<Item = UnitName>,
    instances: impl IntoIterator<Item = UnitName>,
) -> Vec<(UnitName, Option<TemplateCheck>)> {
    let mut units: BTreeMap<String, (UnitName, Option<TemplateCheck>)> = BTreeMap::new();
    let mut templates = Vec::new();
    for name in names {
        if name.is_template() {
            templates.push(name);
        } else {
            units.insert(name.name.clone(), (name, None));
        }
    }
    let mut instances_of: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for unit in units
        .values()
        .map(|(u, _)| u)
        .chain(&instances.into_iter().collect::<Vec<_>>())
    {
        if let Some(template) = unit.template() {
            instances_of
                .entry(template)
                .or_default()
                .insert(unit.name.clone());
        }
    }
    for template in templates {
        match instances_of.get(&template.name) {
            Some(existing) => {
                for name in existing {
                    let unit = UnitName::parse(name).expect("parsed before");
                    units
                        .entry(name.clone())
                        .and_modify(|(_, how)| *how = Some(TemplateCheck::Existing))
                        .or_insert((unit, Some(TemplateCheck::Existing)));
                }
            }
            None => {
                let unit = test_instance(&template);
                units.insert(unit.name.clone(), (unit, Some(TemplateCheck::TestInstance)));
            }
        }
    }
    units.into_values().collect()
}

/// What a run says about the templates it checked, in one line: which
/// were checked through the instances the system has, which with the test
/// instance. None when no template was involved.
pub fn note<'a>(
    checked: impl IntoIterator<Item = (&'a UnitName, TemplateCheck)>,
) -> Option<String> {
    let mut existing = BTreeSet::new();
    let mut tested: BTreeSet<String> = BTreeSet::new();
    for (name, how) in checked {
        match how {
            TemplateCheck::Existing => existing.insert(name.name.clone()),
            TemplateCheck::TestInstance => tested.insert(name.template().unwrap_or_default()),
        };
    }
    let list = |names: &BTreeSet<String>| {
        const SHOWN: usize = 4;
        let mut shown: Vec<&str> = names.iter().take(SHOWN).map(String::as_str).collect();
        if names.len() > SHOWN {
            shown.push("…");
        }
        shown.join(", ")
    };
    let mut parts = Vec::new();
    if !existing.is_empty() {
        parts.push(format!(
            "{} instance{} that exist{} here ({})",
            existing.len(),
            if existing.len() == 1 { "" } else { "s" },
            if existing.len() == 1 { "s" } else { "" },
            list(&existing)
        ));
    }
    if !tested.is_empty() {
        parts.push(format!(
            "{} template{} with the test instance `{TEST_INSTANCE}`, as `systemd-analyze verify` does ({})",
            tested.len(),
            if tested.len() == 1 { "" } else { "s" },
            list(&tested)
        ));
    }
    (!parts.is_empty()).then(|| {
        format!(
            "note: systemd never loads a bare template; checked {}",
            parts.join(", and ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<UnitName> {
        list.iter().map(|n| UnitName::parse(n).unwrap()).collect()
    }

    #[test]
    fn templates_go_through_their_instances_or_the_test_instance() {
        let units = units_of(
            names(&[
                "getty@.service",
                "user@.service",
                "getty@tty2.service",
                "ssh.service",
            ]),
            names(&["getty@tty1.service", "user@0.service", "other@x.service"]),
        );
        let shown: Vec<(&str, Option<TemplateCheck>)> = units
            .iter()
            .map(|(n, how)| (n.name.as_str(), *how))
            .collect();
        assert_eq!(
            shown,
            [
                ("getty@tty1.service", Some(TemplateCheck::Existing)),
                ("getty@tty2.service", Some(TemplateCheck::Existing)),
                ("ssh.service", None),
                ("user@0.service", Some(TemplateCheck::Existing)),
            ]
        );
        let alone = units_of(names(&["user@.service"]), Vec::new());
        assert_eq!(alone[0].0.name, "user@i.service");
        assert_eq!(alone[0].1, Some(TemplateCheck::TestInstance));
    }

    #[test]
    fn instance_dropin_directories_name_instances() {
        assert_eq!(
            dropin_dir_instance("user@0.service.d").map(|n| n.name),
            Some("user@0.service".to_string())
        );
        assert!(dropin_dir_instance("user@.service.d").is_none());
        assert!(dropin_dir_instance("ssh.service.d").is_none());
        assert!(dropin_dir_instance("service.d").is_none());
    }

    #[test]
    fn the_note_says_which_way_each_template_was_checked() {
        let a = UnitName::parse("getty@tty1.service").unwrap();
        let b = UnitName::parse("user@i.service").unwrap();
        assert_eq!(
            note([
                (&a, TemplateCheck::Existing),
                (&b, TemplateCheck::TestInstance)
            ])
            .unwrap(),
            "note: systemd never loads a bare template; checked 1 instance that exists here \
             (getty@tty1.service), and 1 template with the test instance `i`, as \
             `systemd-analyze verify` does (user@.service)"
        );
        assert_eq!(note([]), None);
    }
}
