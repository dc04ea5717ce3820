//! Writing profiles with toml_edit, so a hand-edited profile keeps its
//! comments and order when recorded into again; merging profiles.

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
}
