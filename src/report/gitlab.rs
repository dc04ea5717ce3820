//! GitLab Code Quality: a JSON array of CodeClimate-style issues.

use crate::finding::{Finding, Severity};
use crate::model::siphash::siphash24;
use serde_json::json;
use std::collections::HashSet;
use std::path::Path;

/// The fingerprint key; any constant works, it only has to be stable.
const FINGERPRINT_KEY: [u8; 16] = *b"capcheck-gitlab!";

/// The path as GitLab expects it: relative to `$CI_PROJECT_DIR` if set.
fn project_path(path: &Path) -> String {
    let relative = std::env::var_os("CI_PROJECT_DIR")
        .and_then(|dir| path.strip_prefix(dir).ok().map(Path::to_path_buf));
    relative
        .unwrap_or_else(|| path.to_path_buf())
        .display()
        .to_string()
}

pub fn render(findings: &[Finding]) -> String {
    let mut seen = HashSet::new();
    let issues: Vec<_> = findings
        .iter()
        .map(|f| {
            let path = project_path(&f.path);
            // Stable across runs, unique within the report (re-salted on a
            // collision, e.g. two identical findings on one line).
            let mut salt = 0u32;
            let fingerprint = loop {
                let key = format!("{}\0{}\0{}\0{}\0{salt}", f.code, path, f.message, f.unit);
                let hash = format!("{:016x}", siphash24(key.as_bytes(), &FINGERPRINT_KEY));
                if seen.insert(hash.clone()) {
                    break hash;
                }
                salt += 1;
            };
            json!({
                "description": format!("{} {}", f.code, f.message),
                "check_name": f.code,
                "fingerprint": fingerprint,
                "severity": match f.severity {
                    Severity::Info => "info",
                    Severity::Warning => "minor",
                    Severity::Error => "major",
                },
                "location": {
                    "path": path,
                    "positions": {
                        "begin": {"line": f.position.line, "column": f.position.column},
                        "end": {"line": f.position.end_line, "column": f.position.end_column},
                    },
                },
            })
        })
        .collect();
    let mut out = super::escape::json(&issues);
    out.push('\n');
    out
}
