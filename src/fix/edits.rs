//! Turning a target into byte edits: edit the assignment in effect, remove
//! the ones it supersedes, insert what is missing in the right section, and
//! touch nothing else. Or, for vendor units, write one drop-in.

use super::plan::{Identity, Plan};
use crate::caps::CapSet;
use crate::finding::Edit;
use crate::load::Unit;
use crate::model::Privileges;
use crate::syntax::logical::{Assignment, UnitFile};
use crate::syntax::LineKind;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// One setting the target needs: the key and its value, or None to remove
/// every assignment of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    pub key: &'static str,
    pub value: Option<String>,
    /// How the value goes in.
    pub placement: Placement,
}

/// How a wanted value goes in beside the assignments already there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// It replaces them (the last one edited, the others removed).
    Replace,
    /// A new line adds it to a list (`RuntimeDirectory=`), which keeps
    /// the entries already there.
    Add,
    /// A new line before every other command of the key: it must run
    /// first (`ExecStartPre=+` that prepares a file the next one opens).
    First,
}

/// A capability set as a value: names by number, space-separated.
pub fn capset_value(set: CapSet) -> String {
    set.iter()
        .map(|c| c.name.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The settings to change, leaving out those already right.
pub fn wanted(model: &Privileges, plan: &Plan) -> Vec<Wanted> {
    let mut out = Vec::new();
    let mut want_as = |key: &'static str, value: Option<String>, placement: Placement| {
        out.push(Wanted {
            key,
            value,
            placement,
        })
    };
    let mut want =
        |key: &'static str, value: Option<String>| want_as(key, value, Placement::Replace);
    let user_is = |name: &str| model.user.value.as_deref() == Some(name);
    match &plan.identity {
        Identity::Keep => {}
        Identity::User(name) => {
            if !user_is(name) || model.dynamic_user.value && model.user.origins.is_empty() {
                want("User", Some(name.clone()));
            }
        }
        Identity::DynamicUser(name) => {
            if !model.dynamic_user.value {
                want("DynamicUser", Some("yes".to_string()));
            }
            match name {
                Some(name) if !user_is(name) => want("User", Some(name.clone())),
                None if user_is("root") || user_is("0") => want("User", None),
                _ => {}
            }
        }
    }
    let ambient_unset = model.ambient_capabilities.origins.is_empty();
    if model.ambient_capabilities.value != plan.ambient
        && !(plan.ambient.is_empty() && ambient_unset)
    {
        want("AmbientCapabilities", Some(capset_value(plan.ambient)));
    }
    if model.capability_bounding_set.value != plan.bounding {
        want("CapabilityBoundingSet", Some(capset_value(plan.bounding)));
    }
    // DynamicUser=yes already implies it.
    if plan.no_new_privileges && !model.no_new_privileges() {
        want("NoNewPrivileges", Some("yes".to_string()));
    }
    for (key, value) in plan.protections.settings() {
        want(key, Some(value));
    }
    if let Some(d) = &plan.replaces_root {
        if let Some(group) = &d.group {
            want("Group", Some(group.clone()));
        }
        if !d.groups.is_empty() {
            want_as(
                "SupplementaryGroups",
                Some(d.groups.join(" ")),
                Placement::Add,
            );
        }
        for (kind, name) in &d.directories {
            let has = model
                .directories
                .iter()
                .any(|(k, dirs)| k == kind && dirs.paths.contains(name));
            if !has {
                want_as(kind.setting(), Some(name.clone()), Placement::Add);
            }
        }
        for assignment in &d.environment {
            want_as(
                "Environment",
                Some(format!("\"{assignment}\"")),
                Placement::Add,
            );
        }
        for command in &d.prepare {
            want_as("ExecStartPre", Some(command.clone()), Placement::First);
        }
    }
    out
}

/// Files a fix may edit in place: the fragment and the unit's own
/// `NAME.d/` drop-ins (not template, prefix or type-wide ones, which other
/// units share), unless a generator or a package keeps them
/// ([`kept_as_is`]).
fn owned(unit: &Unit, file_index: usize, file: &UnitFile) -> bool {
    if kept_as_is(&file.path, &unit.root).is_some() {
        return false;
    }
    if file_index == 0 {
        return true;
    }
    let own_dir = format!("{}.d", unit.name.name);
    file.path
        .parent()
        .and_then(|p| p.file_name())
        .is_some_and(|d| d.to_string_lossy() == own_dir)
}

/// The line terminator a file uses (CRLF or LF).
fn eol_of(file: &UnitFile) -> &'static str {
    match file.tree.lines().find(|l| !l.eol.is_empty()) {
        Some(l) if file.text()[l.eol.clone()].starts_with("\r\n") => "\r\n",
        _ => "\n",
    }
}

/// An assignment's bytes, with the continuation backslash its last line may
/// end in (at the end of the file it continues into nothing): a rewritten
/// assignment must not keep it, or it would swallow the line after.
fn assignment_bytes(file: &UnitFile, a: &Assignment) -> Range<usize> {
    let last = file
        .tree
        .line_at(a.span.end.saturating_sub(1).max(a.span.start));
    let end = match last.as_ref().map(|l| &l.kind) {
        Some(LineKind::Text {
            continuation: Some(at),
            ..
        }) if *at >= a.span.end => at + 1,
        _ => a.span.end,
    };
    a.span.start..end
}

/// The bytes of an assignment's whole physical lines, terminators included.
fn whole_lines(file: &UnitFile, a: &Assignment) -> Range<usize> {
    let end = file
        .tree
        .line_at(a.span.end.saturating_sub(1).max(a.span.start))
        .map_or(a.span.end, |l| l.eol.end);
    a.span.start..end
}

fn edit(file: &UnitFile, range: Range<usize>, content: String) -> Edit {
    let line = |offset: usize| file.tree.line_at(offset).map_or(1, |l| l.number);
    Edit {
        path: file.path.clone(),
        start_line: line(range.start),
        end_line: line(range.end),
        range,
        content,
    }
}

/// In-place edits for the wanted settings, or Err when a setting is in
/// effect from a file the fix must not edit (use a drop-in then).
pub fn in_place(unit: &Unit, wanted: &[Wanted]) -> Result<Vec<Edit>, String> {
    let files: Vec<&UnitFile> = unit.files().collect();
    let own = unit.name.unit_type.own_section().unwrap_or("Service");
    let mut edits = Vec::new();
    let mut inserts: Vec<String> = Vec::new();
    let mut first_lines: Vec<String> = Vec::new();
    for w in wanted {
        match (w.placement, &w.value) {
            (Placement::Add, Some(value)) => {
                inserts.push(format!("{}={value}", w.key));
                continue;
            }
            (Placement::First, Some(value)) => {
                first_lines.push(format!("{}={value}", w.key));
                continue;
            }
            _ => {}
        }
        let mut found: Vec<(usize, &Assignment)> = Vec::new();
        for (i, f) in files.iter().enumerate() {
            for a in &f.assignments {
                let section = f.section_of(a);
                if a.key == w.key && section.known && section.name == own {
                    found.push((i, a));
                }
            }
        }
        if let Some(&(i, _)) = found
            .iter()
            .find(|(i, f)| !owned(unit, *i, files[*i]) && f.key == w.key)
        {
            return Err(format!(
                "{}= is set in {}, which other units share",
                w.key,
                files[i].path.display()
            ));
        }
        let last = found.last().copied();
        for &(i, a) in &found {
            let file = files[i];
            match (&w.value, last) {
                (Some(value), Some((li, la))) if li == i && std::ptr::eq(la, a) => {
                    let bytes = assignment_bytes(file, a);
                    edits.push(edit(file, bytes, format!("{}={value}", w.key)));
                }
                _ => edits.push(edit(file, whole_lines(file, a), String::new())),
            }
        }
        if let (Some(value), None) = (&w.value, last) {
            inserts.push(format!("{}={value}", w.key));
        }
    }
    if let Some(first) = wanted.iter().find(|w| w.placement == Placement::First) {
        // Before the first command of the key, in the order systemd reads
        // the files; where there is none, with the other new lines.
        let existing = files.iter().enumerate().find_map(|(i, f)| {
            f.assignments
                .iter()
                .find(|a| {
                    let section = f.section_of(a);
                    a.key == first.key && section.known && section.name == own
                })
                .map(|a| (i, a))
        });
        match existing {
            Some((i, _)) if !owned(unit, i, files[i]) => {
                return Err(format!(
                    "{}= is set in {}, which other units share",
                    first.key,
                    files[i].path.display()
                ))
            }
            Some((i, a)) => {
                let file = files[i];
                let eol = eol_of(file);
                let text: String = first_lines.iter().map(|l| format!("{l}{eol}")).collect();
                edits.push(edit(file, a.span.start..a.span.start, text));
            }
            None => inserts.extend(first_lines),
        }
    }
    if !inserts.is_empty() {
        edits.push(insertion(files[0], own, &inserts));
    }
    Ok(edits)
}

/// Where and how to add new lines to the fragment: after the last
/// assignment of its last exec section, or a new section at the end.
fn insertion(file: &UnitFile, own: &str, lines: &[String]) -> Edit {
    let eol = eol_of(file);
    let text = file.text();
    let body: String = lines.iter().map(|l| format!("{l}{eol}")).collect();
    let section = file.sections.iter().rposition(|s| s.known && s.name == own);
    let Some(section) = section else {
        let lead = if text.is_empty() || text.ends_with(['\n', '\r']) {
            ""
        } else {
            eol
        };
        return edit(
            file,
            text.len()..text.len(),
            format!("{lead}{eol}[{own}]{eol}{body}"),
        );
    };
    let anchor_end = file
        .assignments
        .iter()
        .filter(|a| a.section == section)
        .map(|a| a.span.end)
        .next_back()
        .unwrap_or(file.sections[section].span.end);
    let line = file
        .tree
        .line_at(anchor_end.saturating_sub(1))
        .expect("the anchor is in a line");
    let at = line.eol.end;
    let lead = if line.eol.is_empty() { eol } else { "" };
    edit(file, at..at, format!("{lead}{body}"))
}

/// The drop-in that sets the plan exactly: each capability list reset
/// first; list settings added to; commands that must run first put
/// before the unit's own, which are listed again after a reset (a
/// drop-in's commands otherwise run after the unit's).
pub fn dropin_text(model: &Privileges, plan: &Plan, header: &str) -> String {
    let mut out = format!("# {header}\n[Service]\n");
    match &plan.identity {
        Identity::Keep => {}
        Identity::User(name) => out.push_str(&format!("User={name}\n")),
        Identity::DynamicUser(name) => out.push_str(&format!(
            "User={}\nDynamicUser=yes\n",
            name.as_deref().unwrap_or("")
        )),
    }
    for (key, set) in [
        ("AmbientCapabilities", plan.ambient),
        ("CapabilityBoundingSet", plan.bounding),
    ] {
        out.push_str(&format!("{key}=\n"));
        if !set.is_empty() {
            out.push_str(&format!("{key}={}\n", capset_value(set)));
        }
    }
    if plan.no_new_privileges {
        out.push_str("NoNewPrivileges=yes\n");
    }
    let others: Vec<Wanted> = wanted(model, plan)
        .into_iter()
        .filter(|w| {
            !matches!(
                w.key,
                "User"
                    | "DynamicUser"
                    | "AmbientCapabilities"
                    | "CapabilityBoundingSet"
                    | "NoNewPrivileges"
            )
        })
        .collect();
    let mut first = Vec::new();
    for w in &others {
        let Some(value) = &w.value else { continue };
        match w.placement {
            Placement::First => first.push(format!("{}={value}", w.key)),
            _ => out.push_str(&format!("{}={value}\n", w.key)),
        }
    }
    if let Some(key) = others
        .iter()
        .find(|w| w.placement == Placement::First)
        .map(|w| w.key)
    {
        let own: Vec<String> = model
            .commands
            .iter()
            .filter(|c| c.directive == key)
            .map(|c| format!("{key}={}", c.origin.value))
            .collect();
        if !own.is_empty() {
            out.push_str(&format!("{key}=\n"));
        }
        for line in first.iter().chain(&own) {
            out.push_str(&format!("{line}\n"));
        }
    }
    out
}

/// Whether a unit file is in one of systemd's unit directories (inside
/// `root`), rather than, say, a repository.
fn in_system_dir(fragment: &Path, root: &Path) -> bool {
    let relative = fragment.strip_prefix(root).unwrap_or(fragment);
    let relative = relative.strip_prefix("/").unwrap_or(relative);
    [
        "usr/lib/systemd",
        "lib/systemd",
        "etc/systemd",
        "usr/local/lib/systemd",
        "run/systemd",
    ]
    .iter()
    .any(|d| relative.starts_with(d))
}

/// The directory for a file that goes with a unit: `system_dir` (inside
/// `root`) for a unit in a system directory, `beside` the unit otherwise.
fn companion_dir(fragment: &Path, root: Option<&Path>, system_dir: &str, beside: &str) -> PathBuf {
    let root = root.unwrap_or(Path::new("/"));
    if in_system_dir(fragment, root) {
        crate::load::paths::join_root(root, system_dir)
    } else {
        fragment.parent().unwrap_or(Path::new("")).join(beside)
    }
}

/// Where a unit's capcheck drop-in goes: under /etc/systemd/system for a
/// unit in a system directory, beside the unit otherwise.
pub fn dropin_path(fragment: &Path, root: Option<&Path>) -> PathBuf {
    let name = fragment
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    companion_dir(fragment, root, "/etc/systemd/system", "")
        .join(format!("{name}.d"))
        .join("50-capcheck.conf")
}

/// Where the sysusers.d file that creates `user` goes: /etc/sysusers.d
/// for a unit in a system directory, `sysusers.d/` beside it otherwise.
pub fn sysusers_path(fragment: &Path, root: Option<&Path>, user: &str) -> PathBuf {
    companion_dir(fragment, root, "/etc/sysusers.d", "sysusers.d")
        .join(format!("capcheck-{user}.conf"))
}

/// Why a fix must not edit the unit file `path` (in the system at `root`)
/// when a drop-in can say the same, if it must not: a generator writes it
/// anew at each boot and `daemon-reload` (an edit would vanish without a
/// word), or a package ships it as a configuration file (dpkg's
/// `conffiles`: an upgrade asks about, or replaces, an edited one). Units
/// under /usr/lib and /lib are [`is_vendor`]'s.
pub fn kept_as_is(path: &Path, root: &Path) -> Option<String> {
    if crate::load::paths::is_generated(path, root) {
        return Some(format!(
            "{} is written by a systemd generator at each boot and daemon-reload",
            path.display()
        ));
    }
    let package = conffile_package(path, root)?;
    Some(format!(
        "{} is a configuration file of the package {package}",
        path.display()
    ))
}

/// [`kept_as_is`] for the fragment, naming what a generated unit was made
/// from (`SourcePath=`: the init script).
pub fn fragment_kept_as_is(unit: &Unit) -> Option<String> {
    let why = kept_as_is(unit.fragment_path()?, &unit.root)?;
    Some(match unit.source_path() {
        Some(source) if unit.is_generated() => format!("{why}, from {source}"),
        _ => why,
    })
}

/// The Debian package that lists `path` among its configuration files
/// (`var/lib/dpkg/info/PKG.conffiles` under `root`).
fn conffile_package(path: &Path, root: &Path) -> Option<String> {
    let inside = Path::new("/").join(path.strip_prefix(root).unwrap_or(path));
    if !inside.starts_with("/etc") {
        return None;
    }
    let info = crate::load::paths::under_root(root, "/var/lib/dpkg/info").ok()?;
    std::fs::read_dir(info).ok()?.flatten().find_map(|entry| {
        let name = entry.file_name().into_string().ok()?;
        let package = name.strip_suffix(".conffiles")?;
        let listed = std::fs::read_to_string(entry.path()).ok()?;
        listed
            .lines()
            .any(|line| Path::new(line.split_whitespace().next().unwrap_or_default()) == inside)
            .then(|| package.to_string())
    })
}

/// True for units shipped by packages, which a fix must not edit.
pub fn is_vendor(fragment: &Path, root: Option<&Path>) -> bool {
    let root = root.unwrap_or(Path::new("/"));
    let relative = fragment.strip_prefix(root).unwrap_or(fragment);
    let relative = relative.strip_prefix("/").unwrap_or(relative);
    relative.starts_with("usr/lib") || relative.starts_with("lib")
}

/// Applies non-overlapping edits to a text (in byte order).
pub fn apply(text: &[u8], edits: &[Edit]) -> Result<Vec<u8>, String> {
    let mut sorted: Vec<&Edit> = edits.iter().collect();
    sorted.sort_by_key(|e| (e.range.start, e.range.end));
    let mut out = Vec::with_capacity(text.len());
    let mut at = 0;
    for e in sorted {
        if e.range.start < at {
            return Err(format!("overlapping edits at line {}", e.start_line));
        }
        out.extend_from_slice(&text[at..e.range.start]);
        out.extend_from_slice(e.content.as_bytes());
        at = e.range.end;
    }
    out.extend_from_slice(&text[at..]);
    Ok(out)
}
