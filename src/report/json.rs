//! A JSON array of findings: `code`, `name`, `severity`, `message`, `unit`,
//! `path`, `line`, `column`, `end_line`, `end_column`, `help`, `fix`.

use crate::finding::Finding;

pub fn render(findings: &[Finding]) -> String {
    let mut out = serde_json::to_string_pretty(findings).expect("findings serialise");
    out.push('\n');
    out
}
