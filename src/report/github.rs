//! GitHub Actions workflow commands: one `::error`/`::warning`/`::notice`
//! annotation per finding, escaped as `@actions/core` does; other control
//! characters are escaped as everywhere ([`super::escape`]), so that a
//! finding is one line of the log whatever the file holds.

use super::escape::visible;
use crate::finding::{Finding, Severity};
use std::fmt::Write as _;

/// Escapes a message: `%`, CR and LF, and the other control characters.
pub fn escape_data(s: &str) -> String {
    let encoded = s
        .replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A");
    visible(&encoded).into_owned()
}

/// Escapes a property value: as data, plus `:` and `,`.
pub fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

pub fn render(findings: &[Finding]) -> String {
    let mut out = String::new();
    for f in findings {
        let level = match f.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "notice",
        };
        let p = &f.position;
        let path = f.path.display().to_string();
        // Columns only for single-line spans: GitHub misplaces them otherwise.
        let columns = if p.line == p.end_line {
            format!(",col={},endColumn={}", p.column, p.end_column)
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "::{level} file={},line={},endLine={}{columns},title={}::{}",
            escape_property(&path),
            p.line,
            p.end_line,
            escape_property(&format!("capcheck ({})", f.code)),
            escape_data(&format!(
                "{path}:{}:{}: {} {}",
                p.line, p.column, f.code, f.message
            )),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_follows_actions_core() {
        assert_eq!(escape_data("100% a\r\nb"), "100%25 a%0D%0Ab");
        assert_eq!(escape_property("a:b,c%\n"), "a%3Ab%2Cc%25%0A");
        assert_eq!(escape_data("\u{1b}]0;x\u{7}"), "\\x1b]0;x\\x07");
    }
}
