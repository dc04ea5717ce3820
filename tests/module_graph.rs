//! The module graph follows the layering written in docs/architecture.md:
//! every `crate::MODULE` path in a top-level module of `src/` (in `use`
//! lines and inline, comments left out) names a module listed below it.

use std::collections::BTreeSet;
use std::path::Path;

/// Imports that break the layering today, each with the issue that removes
/// it. An entry whose import is gone fails the test, so the list only
/// shrinks.
const KNOWN_CLIMBS: &[(&str, &str, &str)] = &[];

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The `layering` block of docs/architecture.md, highest module first.
fn layering() -> Vec<String> {
    let doc = std::fs::read_to_string(repo().join("docs/architecture.md")).unwrap();
    let start = doc
        .find("```layering\n")
        .expect("docs/architecture.md has a ```layering block")
        + "```layering\n".len();
    let end = start + doc[start..].find("```").expect("the block ends");
    doc[start..end]
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

/// The top-level modules of `src/` (`x.rs` or `x/`), without the crate
/// roots.
fn modules() -> BTreeSet<String> {
    std::fs::read_dir(repo().join("src"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter_map(|p| {
            let name = p.file_name()?.to_str()?.to_string();
            if p.is_dir() {
                Some(name)
            } else {
                name.strip_suffix(".rs").map(String::from)
            }
        })
        .filter(|m| m != "lib" && m != "main")
        .collect()
}

/// The source files of module `name`.
fn files_of(name: &str) -> Vec<std::path::PathBuf> {
    let file = repo().join("src").join(format!("{name}.rs"));
    if file.is_file() {
        return vec![file];
    }
    let mut out = Vec::new();
    let mut dirs = vec![repo().join("src").join(name)];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out
}

/// The top-level modules `text` names through `crate::`, outside comments:
/// `crate::a::b`, and each first name of `crate::{a::x, b}`.
fn used_modules(text: &str) -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or_default();
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let after = &rest[at + "crate::".len()..];
            if let Some(group) = after.strip_prefix('{') {
                let group = group.split('}').next().unwrap_or_default();
                used.extend(group.split(',').filter_map(|item| {
                    let name = item.trim().split("::").next()?.trim();
                    (!name.is_empty()).then(|| name.to_string())
                }));
            } else {
                let name: String = after
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    used.insert(name);
                }
            }
            rest = after;
        }
    }
    used
}

#[test]
fn no_module_uses_one_above_it() {
    let layering = layering();
    let modules = modules();
    let unplaced: Vec<&String> = modules.iter().filter(|m| !layering.contains(m)).collect();
    assert!(
        unplaced.is_empty(),
        "modules missing from docs/architecture.md's layering: {unplaced:?}"
    );
    let gone: Vec<&String> = layering.iter().filter(|m| !modules.contains(*m)).collect();
    assert!(gone.is_empty(), "layering names no module: {gone:?}");
    let level = |m: &str| layering.iter().position(|l| l == m);
    let mut climbs = Vec::new();
    let mut known_seen = BTreeSet::new();
    for module in &modules {
        for file in files_of(module) {
            let text = std::fs::read_to_string(&file).unwrap();
            for used in used_modules(&text) {
                if used == *module {
                    continue;
                }
                let Some(used_level) = level(&used) else {
                    continue;
                };
                if used_level > level(module).unwrap() {
                    continue;
                }
                if KNOWN_CLIMBS
                    .iter()
                    .any(|(from, to, _)| from == module && *to == used)
                {
                    known_seen.insert((module.clone(), used));
                    continue;
                }
                climbs.push(format!(
                    "{} uses crate::{used}, which the layering puts above {module}",
                    file.strip_prefix(repo()).unwrap().display()
                ));
            }
        }
    }
    climbs.sort();
    climbs.dedup();
    assert!(
        climbs.is_empty(),
        "imports against docs/architecture.md's layering:\n{}",
        climbs.join("\n")
    );
    for (from, to, why) in KNOWN_CLIMBS {
        assert!(
            known_seen.contains(&(from.to_string(), to.to_string())),
            "{from} no longer uses {to}: remove the entry from KNOWN_CLIMBS ({why})"
        );
    }
}

#[test]
fn imports_are_read_from_use_lines_and_paths() {
    let text = "use crate::load::Unit;\n\
                // crate::fix in a comment\n\
                /// [`crate::report`] in a doc comment\n\
                let x = crate::model::values::f(); // crate::cli\n\
                use crate::{caps::CapSet, syntax};\n";
    let used: Vec<String> = used_modules(text).into_iter().collect();
    assert_eq!(used, ["caps", "load", "model", "syntax"]);
}
