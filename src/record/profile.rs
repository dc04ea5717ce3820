//! Writing profiles with toml_edit, so a hand-edited profile keeps its
//! comments and order when recorded into again; merging profiles.

use super::access::{Access, Row};
use super::trace::{Observed, Summary};
use crate::caps;
use std::collections::BTreeMap;
use std::path::Path;
use toml_edit::{value, Array, DocumentMut, Item, Table};

fn array(values: impl IntoIterator<Item = String>) -> Array {
    values.into_iter().collect()
}

fn strings(item: Option<&Item>) -> Vec<String> {
    item.and_then(Item::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Adds observations to a profile document: counts add up, lists unite.
pub fn add(doc: &mut DocumentMut, observed: &BTreeMap<u8, Observed>) {
    if !doc.contains_key("capabilities") {
        let mut t = Table::new();
        t.set_implicit(true);
        doc.insert("capabilities", Item::Table(t));
    }
    let caps_table = doc["capabilities"]
        .as_table_mut()
        .expect("capabilities is a table");
    for (cap, o) in observed {
        let name = caps::by_number(*cap).map_or_else(|| cap.to_string(), |c| c.name.clone());
        let entry = caps_table.entry(&name).or_insert(Item::Table(Table::new()));
        let t = entry.as_table_mut().expect("a capability entry is a table");
        let count = |t: &Table, key: &str| t.get(key).and_then(Item::as_integer).unwrap_or(0);
        let granted = count(t, "granted") + o.granted as i64;
        let denied = count(t, "denied") + o.denied as i64;
        t["granted"] = value(granted);
        t["denied"] = value(denied);
        let mut binaries = strings(t.get("binaries"));
        binaries.extend(o.binaries.iter().cloned());
        binaries.sort();
        binaries.dedup();
        t["binaries"] = value(array(binaries));
        let mut sites = strings(t.get("call-sites"));
        sites.extend(o.call_sites.iter().cloned());
        sites.sort();
        sites.dedup();
        t["call-sites"] = value(array(sites));
    }
}

#[derive(serde::Deserialize, Default)]
struct Accesses {
    #[serde(default)]
    access: Vec<Row>,
}

/// The `[[access]]` tables of a profile document.
pub fn accesses(doc: &DocumentMut) -> Result<Vec<Access>, String> {
    let rows: Accesses = toml_edit::de::from_str(&doc.to_string()).map_err(|e| e.to_string())?;
    rows.access.iter().map(Access::from_row).collect()
}

/// Adds accesses to a profile document (the same access is counted
/// once, its counts and checks added up), and under each capability the
/// accesses it was checked for (`for`), as a person reads them.
pub fn add_accesses(
    doc: &mut DocumentMut,
    new: &[Access],
    name_of: &dyn Fn(u32) -> String,
) -> Result<(), String> {
    let mut all = accesses(doc)?;
    for access in new {
        match all.iter_mut().find(|a| a.key() == access.key()) {
            Some(old) => {
                old.count += access.count;
                if access.error == 0 {
                    old.error = 0;
                }
                old.exclusive |= access.exclusive;
                old.granted.extend(&access.granted);
                old.denied.extend(&access.denied);
                old.found = access.found.clone();
            }
            None => all.push(access.clone()),
        }
    }
    if all.is_empty() {
        return Ok(());
    }
    all.sort_by_key(Access::key);
    let mut tables = toml_edit::ArrayOfTables::new();
    for access in &all {
        let row = toml_edit::ser::to_document(&access.row()).map_err(|e| e.to_string())?;
        tables.push(row.as_table().clone());
    }
    doc.insert("access", Item::ArrayOfTables(tables));
    if let Some(caps_table) = doc.get_mut("capabilities").and_then(Item::as_table_mut) {
        for (name, item) in caps_table.iter_mut() {
            let (Some(cap), Some(t)) = (caps::by_name(&name), item.as_table_mut()) else {
                continue;
            };
            let uses: Vec<String> = all
                .iter()
                .filter(|a| a.granted.contains(&cap.number))
                .map(|a| a.describe(name_of))
                .take(MAX_USES_SHOWN)
                .collect();
            if !uses.is_empty() {
                t["for"] = value(array(uses));
            }
        }
    }
    Ok(())
}

/// Writes the `[de-root]` table: the program run again as a user, with
/// the unit settings of the plan that moves it off root (`settings`, as
/// unit lines), and whether it worked.
pub fn set_deroot_run(
    doc: &mut DocumentMut,
    settings: &[String],
    works: bool,
    outcome: &str,
    probe: Option<&str>,
) {
    let mut t = Table::new();
    t.insert("settings", value(array(settings.iter().cloned())));
    t.insert("works", value(works));
    t.insert("outcome", value(outcome));
    if let Some(probe) = probe {
        t.insert("probe", value(probe));
    }
    doc.insert("de-root", Item::Table(t));
}

/// How many accesses a capability's `for` lists (all are in `[[access]]`).
const MAX_USES_SHOWN: usize = 8;

/// Reads a profile document (an empty one when the file does not exist).
pub fn open(path: &Path) -> Result<DocumentMut, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => text
            .parse::<DocumentMut>()
            .map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(DocumentMut::new()),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// A new profile's header.
pub fn header(doc: &mut DocumentMut, what: &str) {
    if doc.is_empty() {
        doc.decor_mut().set_prefix(format!(
            "# capcheck capability profile: {what}\n# A capability is needed when granted > 0 (or needed = true); see docs/profile-format.md.\n\n"
        ));
    }
}

/// The observations in a profile document, to merge into another.
pub fn observations(doc: &DocumentMut) -> BTreeMap<u8, Observed> {
    let mut out = BTreeMap::new();
    let Some(table) = doc.get("capabilities").and_then(Item::as_table) else {
        return out;
    };
    for (name, item) in table {
        let (Some(cap), Some(t)) = (caps::by_name(name), item.as_table()) else {
            continue;
        };
        let count = |key: &str| t.get(key).and_then(Item::as_integer).unwrap_or(0).max(0) as u64;
        out.insert(
            cap.number,
            Observed {
                granted: count("granted"),
                denied: count("denied"),
                binaries: strings(t.get("binaries")).into_iter().collect(),
                call_sites: strings(t.get("call-sites")).into_iter().collect(),
            },
        );
    }
    out
}

/// Whose capabilities a profile describes: a process that started as
/// root, or as another user (their needs differ: root passes DAC checks on
/// its own files without a capability, a user does not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identity {
    Root,
    User,
}

impl Identity {
    pub fn of_uid(uid: u32) -> Identity {
        if uid == 0 {
            Identity::Root
        } else {
            Identity::User
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Identity::Root => "root",
            Identity::User => "user",
        }
    }
}

/// The `[recording]` table: how the observations were made. Absent keys
/// are unknown (a hand-written or imported profile).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecordingMeta {
    /// What ran (argv joined; several commands joined with "; ").
    pub command: Option<String>,
    pub unit: Option<String>,
    /// Taken from the running service (`record --attach`), for how long.
    pub attached: Option<String>,
    pub identity: Option<Identity>,
    pub user: Option<String>,
    pub uid: Option<u32>,
    pub succeeded: Option<bool>,
    pub outcome: Option<String>,
    pub probe: Option<String>,
    pub probe_passed: Option<bool>,
    /// False when the recording was interrupted.
    pub complete: Option<bool>,
    /// tracepoint, kprobe, capable, tetragon.
    pub source: Option<String>,
    /// What part of the program's life was seen: "start" (from its start,
    /// `record --unit` or a command), "running" (`--attach`: not its
    /// start), or both once merged.
    pub coverage: Option<String>,
    /// "traced" when what each check was for (files, ports, users) was
    /// recorded, else why not.
    pub objects: Option<String>,
}

/// Reads the `[recording]` table of a profile.
pub fn recording(doc: &DocumentMut) -> Result<RecordingMeta, String> {
    let Some(table) = doc.get("recording").and_then(Item::as_table) else {
        return Ok(RecordingMeta::default());
    };
    let text = |key: &str| table.get(key).and_then(Item::as_str).map(str::to_string);
    let flag = |key: &str| table.get(key).and_then(Item::as_bool);
    let identity = match table.get("identity").and_then(Item::as_str) {
        None => None,
        Some("root") => Some(Identity::Root),
        Some("user") => Some(Identity::User),
        Some(other) => {
            return Err(format!(
                "[recording] identity = \"{other}\": expected \"root\" or \"user\""
            ))
        }
    };
    Ok(RecordingMeta {
        command: text("command"),
        unit: text("unit"),
        attached: text("attached"),
        identity,
        user: text("user"),
        uid: table
            .get("uid")
            .and_then(Item::as_integer)
            .and_then(|u| u32::try_from(u).ok()),
        succeeded: flag("succeeded"),
        outcome: text("outcome"),
        probe: text("probe"),
        probe_passed: flag("probe-passed"),
        complete: flag("complete"),
        source: text("source"),
        coverage: text("coverage"),
        objects: text("objects"),
    })
}

/// Both texts, once: a recording of the same thing adds nothing.
fn unite(old: Option<String>, new: Option<String>) -> Option<String> {
    match (old, new) {
        (Some(o), Some(n)) if o.contains(&n) => Some(o),
        (Some(o), Some(n)) => Some(format!("{o}; {n}")),
        (o, n) => o.or(n),
    }
}

/// False if either is false.
fn both(old: Option<bool>, new: Option<bool>) -> Option<bool> {
    match (old, new) {
        (Some(o), Some(n)) => Some(o && n),
        (o, n) => o.or(n),
    }
}

/// Adds a recording's metadata to a profile's: one identity (a different
/// one is an error), success and completeness only if every recording had
/// them, the descriptions united, the latest user.
pub fn add_recording(doc: &mut DocumentMut, new: &RecordingMeta) -> Result<(), String> {
    let old = recording(doc)?;
    if let (Some(o), Some(n)) = (old.identity, new.identity) {
        if o != n {
            return Err(format!(
                "the profile was recorded as {}, this recording is as {}: a profile has one identity (record into another file)",
                describe_identity(o),
                describe_identity(n)
            ));
        }
    }
    let merged = RecordingMeta {
        command: unite(old.command, new.command.clone()),
        unit: unite(old.unit, new.unit.clone()),
        attached: unite(old.attached, new.attached.clone()),
        identity: old.identity.or(new.identity),
        user: new.user.clone().or(old.user),
        uid: new.uid.or(old.uid),
        succeeded: both(old.succeeded, new.succeeded),
        outcome: unite(old.outcome, new.outcome.clone()),
        probe: unite(old.probe, new.probe.clone()),
        probe_passed: both(old.probe_passed, new.probe_passed),
        complete: both(old.complete, new.complete),
        source: unite(old.source, new.source.clone()),
        coverage: unite(old.coverage, new.coverage.clone()),
        objects: unite(old.objects, new.objects.clone()),
    };
    write_recording(doc, &merged);
    Ok(())
}

fn describe_identity(identity: Identity) -> &'static str {
    match identity {
        Identity::Root => "root",
        Identity::User => "a user other than root",
    }
}

/// Writes the `[recording]` table (first in a new profile), keeping the
/// keys' order fixed.
fn write_recording(doc: &mut DocumentMut, meta: &RecordingMeta) {
    if *meta == RecordingMeta::default() && !doc.contains_key("recording") {
        return;
    }
    if !doc.contains_key("recording") {
        let mut t = Table::new();
        t.set_position(0);
        doc.insert("recording", Item::Table(t));
    }
    let t = doc["recording"]
        .as_table_mut()
        .expect("recording is a table");
    // Rewritten whole, so that the keys keep their documented order.
    t.clear();
    let mut set = |key: &str, item: Option<Item>| match item {
        Some(item) => {
            t.insert(key, item);
        }
        None => {
            t.remove(key);
        }
    };
    set("command", meta.command.clone().map(value));
    set("unit", meta.unit.clone().map(value));
    set("attached", meta.attached.clone().map(value));
    set("identity", meta.identity.map(|i| value(i.as_str())));
    set("user", meta.user.clone().map(value));
    set("uid", meta.uid.map(|u| value(i64::from(u))));
    set("succeeded", meta.succeeded.map(value));
    set("outcome", meta.outcome.clone().map(value));
    set("probe", meta.probe.clone().map(value));
    set("probe-passed", meta.probe_passed.map(value));
    set("complete", meta.complete.map(value));
    set("source", meta.source.clone().map(value));
    set("coverage", meta.coverage.clone().map(value));
    set("objects", meta.objects.clone().map(value));
}

/// Needed (granted) and possibly needed (only denied) capabilities.
pub fn verdict(summary: &Summary) -> (Vec<&'static str>, Vec<&'static str>) {
    let name = |cap: &u8| caps::by_number(*cap).map_or("?", |c| c.name.as_str());
    let needed = summary
        .caps
        .iter()
        .filter(|(_, o)| o.granted > 0)
        .map(|(c, _)| name(c))
        .collect();
    let possibly = summary
        .caps
        .iter()
        .filter(|(_, o)| o.granted == 0)
        .map(|(c, _)| name(c))
        .collect();
    (needed, possibly)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recording_into_a_hand_edited_profile_keeps_its_comments() {
        let text = "# my web server\n[capabilities.CAP_NET_BIND_SERVICE]\n# port 80\ngranted = 2\nneeded = true\n";
        let mut doc: DocumentMut = text.parse().unwrap();
        let mut observed = BTreeMap::new();
        observed.insert(
            10,
            Observed {
                granted: 1,
                denied: 0,
                binaries: ["/bin/web".to_string()].into(),
                call_sites: ["__inet_bind".to_string()].into(),
            },
        );
        observed.insert(
            13,
            Observed {
                granted: 0,
                denied: 3,
                ..Observed::default()
            },
        );
        add(&mut doc, &observed);
        let out = doc.to_string();
        assert!(out.starts_with("# my web server\n[capabilities.CAP_NET_BIND_SERVICE]\n# port 80\ngranted = 3\nneeded = true\n"), "{out}");
        assert!(
            out.contains("[capabilities.CAP_NET_RAW]\ngranted = 0\ndenied = 3\n"),
            "{out}"
        );
        let back = observations(&out.parse().unwrap());
        assert_eq!(back[&10].granted, 3);
        assert_eq!(back[&13].denied, 3);
    }

    fn meta(identity: Identity, succeeded: bool, complete: bool, outcome: &str) -> RecordingMeta {
        RecordingMeta {
            command: Some("/usr/sbin/nginx -g daemon on; master_process on;".to_string()),
            unit: Some("nginx.service".to_string()),
            identity: Some(identity),
            user: Some("root".to_string()),
            uid: Some(0),
            succeeded: Some(succeeded),
            outcome: Some(outcome.to_string()),
            probe: None,
            probe_passed: None,
            complete: Some(complete),
            source: Some("tracepoint".to_string()),
            ..RecordingMeta::default()
        }
    }

    #[test]
    fn the_recording_table_comes_first_and_merges() {
        let mut doc = DocumentMut::new();
        add_recording(
            &mut doc,
            &meta(Identity::Root, true, true, "still running after 10.0s"),
        )
        .unwrap();
        add(
            &mut doc,
            &BTreeMap::from([(
                10,
                Observed {
                    granted: 1,
                    ..Observed::default()
                },
            )]),
        );
        let text = doc.to_string();
        assert!(
            text.starts_with("[recording]\ncommand = \"/usr/sbin/nginx -g daemon on; master_process on;\"\nunit = \"nginx.service\"\nidentity = \"root\"\nuser = \"root\"\nuid = 0\nsucceeded = true\noutcome = \"still running after 10.0s\"\ncomplete = true\nsource = \"tracepoint\"\n\n[capabilities.CAP_NET_BIND_SERVICE]\n"),
            "{text}"
        );
        add_recording(
            &mut doc,
            &meta(
                Identity::Root,
                false,
                true,
                "exited with status 1 after 0.1s",
            ),
        )
        .unwrap();
        add_recording(
            &mut doc,
            &meta(Identity::Root, true, false, "still running after 10.0s"),
        )
        .unwrap();
        let merged = recording(&doc).unwrap();
        assert_eq!(
            merged.succeeded,
            Some(false),
            "one failed recording taints it"
        );
        assert_eq!(merged.complete, Some(false));
        assert_eq!(
            merged.outcome.as_deref(),
            Some("still running after 10.0s; exited with status 1 after 0.1s")
        );
        assert_eq!(
            merged.command.as_deref(),
            Some("/usr/sbin/nginx -g daemon on; master_process on;")
        );
        let with_probe = RecordingMeta {
            probe: Some("curl -sf http://127.0.0.1/".to_string()),
            ..meta(Identity::Root, true, true, "still running after 10.0s")
        };
        add_recording(&mut doc, &with_probe).unwrap();
        let text = doc.to_string();
        assert!(
            text.contains("outcome = \"still running after 10.0s; exited with status 1 after 0.1s\"\nprobe = "),
            "the keys keep their order: {text}"
        );
        let before = recording(&doc).unwrap();
        let e = add_recording(&mut doc, &meta(Identity::User, true, true, "x")).unwrap_err();
        assert!(e.contains("one identity"), "{e}");
        assert_eq!(
            recording(&doc).unwrap(),
            before,
            "a refused merge changes nothing"
        );
    }
}
