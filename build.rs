//! Reads the tables in `rules/` at build time, so that a run pays nothing
//! for the ones it does not use and little for the others
//! (docs/performance.md, "Start-up"): the directive table and the
//! capability table become Rust statics; the knowledge base and the
//! platforms become JSON, which a run that needs them reads in microseconds
//! (TOML took milliseconds).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    let out = Path::new(&out);
    for table in ["directives", "capabilities", "programs", "platforms"] {
        println!("cargo::rerun-if-changed=rules/{table}.toml");
    }
    write(out, "directives.rs", &directives());
    write(out, "capabilities.rs", &capabilities());
    write(out, "programs.json", &json("programs"));
    write(out, "platforms.json", &json("platforms"));
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap_or_else(|e| panic!("{name}: {e}"));
}

fn read(table: &str) -> String {
    std::fs::read_to_string(format!("rules/{table}.toml"))
        .unwrap_or_else(|e| panic!("rules/{table}.toml: {e}"))
}

/// A Rust string literal of `s`.
fn literal(s: &str) -> String {
    format!("{s:?}")
}

/// `rules/directives.toml` as `DIRECTIVES`: (section, key, releases), sorted
/// by section and key for a binary search.
fn directives() -> String {
    let table: BTreeMap<String, BTreeMap<String, serde_json::Value>> =
        toml_edit::de::from_str(&read("directives"))
            .unwrap_or_else(|e| panic!("rules/directives.toml: {e}"));
    let mut code = String::from(
        "/// `rules/directives.toml` (made by build.rs): section, key, and the\n\
         /// releases that know it; sorted by section and key.\n\
         static DIRECTIVES: &[(&str, &str, KnownIn)] = &[\n",
    );
    for (section, keys) in &table {
        for (key, releases) in keys {
            let known_in = match releases {
                serde_json::Value::Number(n) => format!("KnownIn::Since({})", release(n)),
                serde_json::Value::Array(pair) if pair.len() == 2 => {
                    let [since, until] = [&pair[0], &pair[1]].map(|v| match v {
                        serde_json::Value::Number(n) => release(n),
                        other => panic!("rules/directives.toml: {section}.{key}: {other}"),
                    });
                    format!("KnownIn::Between([{since}, {until}])")
                }
                other => panic!("rules/directives.toml: {section}.{key}: {other}"),
            };
            writeln!(
                code,
                "    ({}, {}, {known_in}),",
                literal(section),
                literal(key)
            )
            .unwrap();
        }
    }
    code.push_str("];\n");
    code
}

fn release(n: &serde_json::Number) -> u16 {
    n.as_u64()
        .and_then(|n| u16::try_from(n).ok())
        .unwrap_or_else(|| panic!("rules/directives.toml: {n} is not a release"))
}

/// `rules/capabilities.toml` as `CAPABILITY_ROWS`: number, name, since,
/// gates, risk, in the file's order.
fn capabilities() -> String {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Row {
        number: u8,
        name: String,
        since: String,
        gates: String,
        risk: String,
    }
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Table {
        capability: Vec<Row>,
    }
    let table: Table = toml_edit::de::from_str(&read("capabilities"))
        .unwrap_or_else(|e| panic!("rules/capabilities.toml: {e}"));
    let mut code = String::from(
        "/// `rules/capabilities.toml` (made by build.rs): number, name, since,\n\
         /// gates, risk.\n\
         const CAPABILITY_ROWS: &[(u8, &str, &str, &str, Risk)] = &[\n",
    );
    for row in &table.capability {
        let risk = match row.risk.as_str() {
            "low" => "Low",
            "medium" => "Medium",
            "high" => "High",
            "root-equivalent" => "RootEquivalent",
            other => panic!("rules/capabilities.toml: {}: risk {other}", row.name),
        };
        writeln!(
            code,
            "    ({}, {}, {}, {}, Risk::{risk}),",
            row.number,
            literal(&row.name),
            literal(&row.since),
            literal(&row.gates)
        )
        .unwrap();
    }
    code.push_str("];\n");
    code
}

/// A table of `rules/` as JSON, for serde at run time (its structure is
/// checked there, by the types that read it).
fn json(table: &str) -> String {
    let value: serde_json::Value =
        toml_edit::de::from_str(&read(table)).unwrap_or_else(|e| panic!("rules/{table}.toml: {e}"));
    value.to_string()
}
