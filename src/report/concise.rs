//! `path:line:col: CODE [severity] message`, one line per finding (the
//! form editors' quickfix lists read).

use super::escape::visible;
use crate::finding::Finding;
use std::fmt::Write as _;

pub fn render(findings: &[Finding]) -> String {
    let mut out = String::new();
    for f in findings {
        let _ = writeln!(
            out,
            "{}:{}:{}: {} [{}] {}",
            visible(&f.path.display().to_string()),
            f.position.line,
            f.position.column,
            f.code,
            f.severity.as_str(),
            visible(&f.message)
        );
    }
    out
}
