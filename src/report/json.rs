//! A JSON array of findings: `code`, `name`, `severity`, `message`, `unit`,
//! `path`, `line`, `column`, `end_line`, `end_column`, `help`, `fix`
//! (with no raw control character: [`super::escape::json`]).

use crate::finding::Finding;

pub fn render(findings: &[Finding]) -> String {
    let mut out = super::escape::json(&findings);
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
    let array = super::escape::json(&findings);
    let inner = array.strip_prefix("[\n")?.strip_suffix("\n]")?;
    Some(inner.to_string())
}
