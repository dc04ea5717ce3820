//! Checkstyle XML, grouped by file.

use super::escape::visible;
use crate::finding::{Finding, Severity};
use std::fmt::Write as _;

/// Text for an attribute: control characters escaped as everywhere
/// ([`super::escape`]; XML 1.0 cannot hold most of them at all, not even
/// as `&#x1b;`), markup as XML does, and the two characters XML 1.0 also
/// excludes, U+FFFE and U+FFFF, as `\u{fffe}`.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in visible(s).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\u{fffe}' | '\u{ffff}' => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

pub fn render(findings: &[Finding]) -> String {
    let mut out =
        String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<checkstyle version=\"4.3\">\n");
    let mut current: Option<&std::path::Path> = None;
    for f in findings {
        if current != Some(f.path.as_path()) {
            if current.is_some() {
                out.push_str("  </file>\n");
            }
            let _ = writeln!(
                out,
                "  <file name=\"{}\">",
                escape(&f.path.display().to_string())
            );
            current = Some(f.path.as_path());
        }
        let severity = match f.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        };
        let _ = writeln!(
            out,
            "    <error line=\"{}\" column=\"{}\" severity=\"{severity}\" message=\"{}\" source=\"capcheck.{}\"/>",
            f.position.line,
            f.position.column,
            escape(&f.message),
            f.code
        );
    }
    if current.is_some() {
        out.push_str("  </file>\n");
    }
    out.push_str("</checkstyle>\n");
    out
}
