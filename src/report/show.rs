//! `capcheck show`: the privilege model of each unit, as text or JSON.
//! The text escapes what comes from files ([`super::escape`]).

use super::escape::visible;
use crate::caps::CapSet;
use crate::model::values::secure_bit_names;
use crate::model::{Origin, Privileges, Setting};
use crate::semantics::PrivateUsers;
use serde_json::{json, Map, Value};
use std::fmt::Write as _;

/// The JSON object for one unit (the keys are a stable interface).
pub fn to_json(p: &Privileges) -> Value {
    let mut sources = Map::new();
    let mut add = |name: &str, origins: &[Origin]| {
        if !origins.is_empty() {
            sources.insert(
                name.to_string(),
                serde_json::to_value(origins).expect("origins serialise"),
            );
        }
    };
    add("User", &p.user.origins);
    add("Group", &p.group.origins);
    add("DynamicUser", &p.dynamic_user.origins);
    add("SupplementaryGroups", &p.supplementary_groups.origins);
    add("CapabilityBoundingSet", &p.capability_bounding_set.origins);
    add("AmbientCapabilities", &p.ambient_capabilities.origins);
    add("NoNewPrivileges", &p.no_new_privileges.explicit.origins);
    add("SecureBits", &p.secure_bits.origins);
    add("PrivateUsers", &p.private_users.origins);
    let commands: Vec<Value> = p
        .commands
        .iter()
        .map(|c| {
            json!({
                "directive": c.directive,
                "prefixes": c.command.prefixes.iter().map(|x| x.as_str()).collect::<Vec<_>>(),
                "path": c.command.path,
                "argv": c.command.argv,
                "file": c.origin.file,
                "line": c.origin.line,
            })
        })
        .collect();
    json!({
        "unit": p.unit,
        "systemd": p.semantics,
        "path": p.path,
        "loaded": p.loaded,
        "masked": p.masked,
        "errors": p.errors,
        "warnings": p.warnings,
        "user": p.user.value,
        "group": p.group.value,
        "dynamic_user": p.dynamic_user.value,
        "supplementary_groups": p.supplementary_groups.value,
        "capability_bounding_set": p.capability_bounding_set.value,
        "capability_bounding_set_unnamed_bits": p.capability_bounding_set.value.unnamed_bits(),
        "removed_from_bounding_set": p.removed_from_bounding_set.iter()
            .map(|(option, set)| json!({"option": option, "capabilities": set}))
            .collect::<Vec<_>>(),
        "ambient_capabilities": p.ambient_capabilities.value,
        "no_new_privileges": p.no_new_privileges(),
        "no_new_privileges_explicit": p.no_new_privileges.explicit.value,
        "no_new_privileges_at_runtime": p.no_new_privileges_at_runtime(),
        "no_new_privileges_implied_by": p.no_new_privileges.implied_at_runtime_by.iter()
            .map(|o| format!("{}={}", o.key, o.value))
            .collect::<Vec<_>>(),
        "secure_bits": secure_bit_names(p.secure_bits.value),
        "private_users": p.private_users.value != PrivateUsers::No,
        "private_users_mapping": (p.private_users.value != PrivateUsers::No).then_some(p.private_users.value),
        "commands": commands,
        "sources": sources,
    })
}

fn origins(origins: &[Origin]) -> String {
    if origins.is_empty() {
        return "(default)".to_string();
    }
    origins
        .iter()
        .map(|o| {
            let mut s = format!("{}:{}", o.file.display(), o.line);
            if !o.dropped.is_empty() {
                let _ = write!(s, " (dropped: {})", o.dropped.join(" "));
            }
            s
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn row<T>(out: &mut String, label: &str, value: String, setting: &Setting<T>) {
    let value = visible(&value);
    let _ = writeln!(
        out,
        "  {label:<22} {value:<40} {}",
        visible(&origins(&setting.origins))
    );
}

fn capset(set: CapSet) -> String {
    if set.has_all_known() {
        "(all 41)".to_string()
    } else if set.intersection(CapSet::KNOWN).is_empty() {
        "(none)".to_string()
    } else {
        set.to_string()
    }
}

fn yes_no(v: bool) -> String {
    if v { "yes" } else { "no" }.to_string()
}

/// The text report for one unit.
pub fn to_text(p: &Privileges) -> String {
    let mut out = String::new();
    let path = p
        .path
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "{} ({}), read as {}",
        visible(&p.unit),
        visible(&path),
        p.semantics
    );
    if !p.loaded {
        let _ = writeln!(out, "  not loaded:");
        for e in &p.errors {
            let problem = format!("{}:{}: {}", e.file.display(), e.line, e.message);
            let _ = writeln!(out, "    {}", visible(&problem));
        }
    }
    for w in &p.warnings {
        let problem = format!("{}:{}: {}", w.file.display(), w.line, w.message);
        let _ = writeln!(out, "  warning: {}", visible(&problem));
    }
    if !p.loaded || !p.has_exec_context {
        return out;
    }
    let unset = || "(unset: root)".to_string();
    row(
        &mut out,
        "User",
        p.user.value.clone().unwrap_or_else(unset),
        &p.user,
    );
    row(
        &mut out,
        "Group",
        p.group.value.clone().unwrap_or_else(|| "(unset)".into()),
        &p.group,
    );
    row(
        &mut out,
        "DynamicUser",
        yes_no(p.dynamic_user.value),
        &p.dynamic_user,
    );
    row(
        &mut out,
        "SupplementaryGroups",
        p.supplementary_groups.value.join(" "),
        &p.supplementary_groups,
    );
    row(
        &mut out,
        "CapabilityBoundingSet",
        capset(p.capability_bounding_set.value),
        &p.capability_bounding_set,
    );
    for (option, set) in &p.removed_from_bounding_set {
        let _ = writeln!(out, "  {:<22} {option}= removed {set}", "");
    }
    row(
        &mut out,
        "AmbientCapabilities",
        capset(p.ambient_capabilities.value),
        &p.ambient_capabilities,
    );
    let nnp = format!(
        "{} (at run time: {})",
        yes_no(p.no_new_privileges()),
        yes_no(p.no_new_privileges_at_runtime())
    );
    row(
        &mut out,
        "NoNewPrivileges",
        nnp,
        &p.no_new_privileges.explicit,
    );
    let bits = secure_bit_names(p.secure_bits.value).join(" ");
    row(&mut out, "SecureBits", bits, &p.secure_bits);
    row(
        &mut out,
        "PrivateUsers",
        p.private_users.value.as_str().to_string(),
        &p.private_users,
    );
    for c in &p.commands {
        let prefixes: String = c.command.prefixes.iter().map(|x| x.as_str()).collect();
        // With `@`, argv[0] differs from the path; show both then.
        let line = if c.command.argv.first() == Some(&c.command.path) {
            format!("{prefixes}{}", shell_words(&c.command.argv))
        } else {
            format!(
                "{prefixes}{} {}",
                c.command.path,
                shell_words(&c.command.argv)
            )
        };
        let origin = format!("{}:{}", c.origin.file.display(), c.origin.line);
        let _ = writeln!(
            out,
            "  {:<22} {:<40} {}",
            c.directive,
            visible(&line),
            visible(&origin)
        );
    }
    out
}

/// argv as one line, quoting words with blanks.
fn shell_words(argv: &[String]) -> String {
    argv.iter()
        .map(|w| {
            if w.is_empty() || w.contains([' ', '\t', '"', '\'']) {
                format!("{w:?}")
            } else {
                w.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
