//! A JSON array of findings: `code`, `name`, `severity`, `message`, `unit`,
//! `path`, `line`, `column`, `end_line`, `end_column`, `help`, `fix`.

use crate::finding::Finding;

pub fn render(findings: &[Finding]) -> String {
    let mut out = serde_json::to_string_pretty(findings).expect("findings serialise");
    out.push('\n');
    out
}

/// One finding as an element of the pretty-printed array (indented by two
/// spaces), so that batches printed one after another read as one array.
pub fn push_element(out: &mut String, finding: &Finding) {
    let element = serde_json::to_string_pretty(finding).expect("findings serialise");
    for (i, line) in element.lines().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str("  ");
        out.push_str(line);
    }
}
