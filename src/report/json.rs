//! A JSON array of findings: `code`, `name`, `severity`, `message`, `unit`,
//! `path`, `line`, `column`, `end_line`, `end_column`, `help`, `fix`.

use crate::finding::Finding;

pub fn render(findings: &[Finding]) -> String {
    let mut out = serde_json::to_string_pretty(findings).expect("findings serialise");
    out.push('\n');
    out
}

/// The elements of a pretty-printed array of `findings` (indented by two
/// spaces, without the brackets), so that batches printed one after
/// another, joined by commas, read as one array.
pub fn elements(findings: &[Finding]) -> Option<String> {
    if findings.is_empty() {
        return None;
    }
    let array = serde_json::to_string_pretty(findings).expect("findings serialise");
    let inner = array.strip_prefix("[\n")?.strip_suffix("\n]")?;
    Some(inner.to_string())
}
