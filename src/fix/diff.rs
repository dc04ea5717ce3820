//! Unified diffs of planned changes (similar), plain or coloured; what the
//! file holds is escaped ([`crate::report::escape`]).

use super::FileChange;
use crate::report::escape::{visible, visible_lines};
use similar::TextDiff;
use std::fmt::Write as _;

/// A `git apply`-able unified diff of one change.
pub fn unified(change: &FileChange, color: bool) -> String {
    let before = String::from_utf8_lossy(change.before.as_deref().unwrap_or_default()).into_owned();
    let after = String::from_utf8_lossy(&change.after).into_owned();
    // `a/` + the path without its leading slash, as git writes it.
    let display = visible(&change.path.display().to_string()).into_owned();
    let path = display.trim_start_matches('/');
    let old = if change.before.is_some() {
        format!("a/{path}")
    } else {
        "/dev/null".to_string()
    };
    let diff = TextDiff::from_lines(&before, &after);
    let text = diff
        .unified_diff()
        .context_radius(3)
        .header(&old, &format!("b/{path}"))
        .to_string();
    let text = visible_lines(&text).into_owned();
    if !color {
        return text;
    }
    let mut out = String::new();
    for line in text.split_inclusive('\n') {
        let code = match line.as_bytes().first() {
            Some(b'+') if !line.starts_with("+++") => "32",
            Some(b'-') if !line.starts_with("---") => "31",
            Some(b'@') => "36",
            _ => "",
        };
        if code.is_empty() {
            out.push_str(line);
        } else {
            let _ = writeln!(
                out,
                "\u{1b}[{code}m{}\u{1b}[0m",
                line.trim_end_matches('\n')
            );
        }
    }
    out
}
