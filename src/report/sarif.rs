//! SARIF 2.1.0 with the properties GitHub code scanning requires: rule
//! metadata with help text and `security-severity`, results with regions.

use crate::checks::{self, Registered};
use crate::finding::{Finding, Severity};
use serde_json::{json, Value};
use std::path::Path;

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

/// GitHub's security severity (0.1–10.0), from the check's default
/// severity.
fn security_severity(s: Severity) -> &'static str {
    match s {
        Severity::Error => "8.0",
        Severity::Warning => "5.5",
        Severity::Info => "2.0",
    }
}

/// Where the rule pages (docs/rules/) are published, set when building
/// (`CAPCHECK_DOCS_URL=https://…/docs/rules/ cargo build`); SARIF's helpUri
/// must be an absolute URI, so without it there is none.
const DOCS_URL: Option<&str> = option_env!("CAPCHECK_DOCS_URL");

fn rule(r: &Registered) -> Value {
    let m = r.meta();
    let doc = r.doc();
    let finds = r
        .doc_section("What it finds")
        .unwrap_or_else(|| m.summary.to_string());
    let mut rule = json!({
        "id": m.code,
        "name": m.name,
        "shortDescription": {"text": m.summary},
        "fullDescription": {"text": finds},
        "help": {"text": doc.clone(), "markdown": doc},
        "defaultConfiguration": {"level": level(m.default_severity)},
        "properties": {
            "tags": ["security", "systemd", "capabilities"],
            "precision": "high",
            "security-severity": security_severity(m.default_severity),
        },
    });
    if let Some(base) = DOCS_URL {
        rule["helpUri"] = json!(format!("{base}{}.md", m.code));
    }
    rule
}

/// Percent-encodes a path for a URI (unreserved characters and `/` kept).
fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn artifact_location(path: &Path) -> Value {
    let text = path.display().to_string();
    if path.is_absolute() {
        json!({"uri": format!("file://{}", encode_path(&text))})
    } else {
        let relative = text.trim_start_matches("./");
        json!({"uri": encode_path(relative), "uriBaseId": "%SRCROOT%"})
    }
}

pub fn render(findings: &[Finding]) -> String {
    let all = checks::all();
    let results: Vec<Value> = findings
        .iter()
        .map(|f| {
            let index = all.iter().position(|r| r.meta().code == f.code).unwrap_or(0);
            let p = &f.position;
            json!({
                "ruleId": f.code,
                "ruleIndex": index,
                "level": level(f.severity),
                "message": {"text": f.message},
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": artifact_location(&f.path),
                        "region": {
                            "startLine": p.line,
                            "startColumn": p.column,
                            "endLine": p.end_line,
                            "endColumn": p.end_column.max(if p.line == p.end_line { p.column + 1 } else { 1 }),
                        },
                    },
                }],
            })
        })
        .collect();
    let sarif = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "capcheck",
                "version": env!("CARGO_PKG_VERSION"),
                "semanticVersion": env!("CARGO_PKG_VERSION"),
                "rules": all.iter().map(rule).collect::<Vec<_>>(),
            }},
            "results": results,
        }],
    });
    let mut out = super::escape::json(&sarif);
    out.push('\n');
    out
}
