//! Text from unit files and file names, made safe to print. A unit file,
//! or its name, can hold any character: printed raw, an ESC sequence
//! clears the screen or retitles the terminal, and a line feed starts an
//! output line that CI may read as a command (`::error …` in GitHub
//! Actions). Every printer passes such text through here.
//!
//! Control characters (C0 but tab, DEL, C1) become escapes: `\n`, `\r`,
//! `\x1b`, `\u{9b}`. Tab stays: it only moves the cursor right, and unit
//! files use it between words. A backslash is not doubled, so `\x1b` may
//! also be those four characters in the file: the escapes are for reading,
//! not for reading back.

use std::borrow::Cow;
use std::fmt::Write as _;

fn is_escaped(c: char) -> bool {
    c.is_control() && c != '\t'
}

/// `text` with each control character as an escape.
pub fn visible(text: &str) -> Cow<'_, str> {
    escape(text, false, |_, _| {})
}

/// As [`visible`], for a file's text shown line by line (a snippet, a
/// diff): a line feed, and a carriage return right before one, stay line
/// ends.
pub fn visible_lines(text: &str) -> Cow<'_, str> {
    escape(text, true, |_, _| {})
}

/// `value` as pretty JSON with no raw control character: serde escapes C0;
/// DEL and C1, which JSON allows raw, are escaped too (`\u009b`), so that
/// JSON read on a terminal is as inert as the other formats. (Outside
/// strings, JSON is ASCII punctuation and blanks: any such character is in
/// a string.)
pub fn json(value: &impl serde::Serialize) -> String {
    // C0 characters left are the pretty-printer's line ends.
    let raw_in_strings = |c: char| c.is_control() && c >= '\u{7f}';
    let text = serde_json::to_string_pretty(value).expect("JSON values serialise");
    // DEL is 0x7f and C1 starts with 0xc2 in UTF-8: a byte scan clears
    // nearly every output without decoding it.
    if !text.bytes().any(|b| b == 0x7f || b == 0xc2) {
        return text;
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if raw_in_strings(c) {
            let _ = write!(out, "\\u{:04x}", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}

/// A piece of a file's text as [`visible_lines`] shows it, and where each
/// of its byte offsets went.
pub struct VisibleLines {
    pub text: String,
    /// For each escaped character: the offset after it in the original,
    /// and how many bytes longer the text is from there on.
    shifts: Vec<(usize, usize)>,
}

impl VisibleLines {
    pub fn new(text: &str) -> VisibleLines {
        let mut shifts = Vec::new();
        let mut added = 0;
        let text = escape(text, true, |end, growth| {
            added += growth;
            shifts.push((end, added));
        })
        .into_owned();
        VisibleLines { text, shifts }
    }

    /// Where byte `offset` of the original text is in [`Self::text`].
    pub fn offset(&self, offset: usize) -> usize {
        let escaped_before = self.shifts.partition_point(|&(end, _)| end <= offset);
        offset
            + escaped_before
                .checked_sub(1)
                .map_or(0, |i| self.shifts[i].1)
    }
}

/// Escapes the control characters of `text` (but line ends, if
/// `keep_line_ends`), telling `escaped` the offset after each one in
/// `text` and how much longer its escape is than it.
fn escape(text: &str, keep_line_ends: bool, mut escaped: impl FnMut(usize, usize)) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    let kept = |at: usize, c: char| {
        keep_line_ends && (c == '\n' || (c == '\r' && bytes.get(at + 1) == Some(&b'\n')))
    };
    let Some(first) = text
        .char_indices()
        .find(|&(at, c)| is_escaped(c) && !kept(at, c))
        .map(|(at, _)| at)
    else {
        return Cow::Borrowed(text);
    };
    let mut out = String::with_capacity(text.len() + 16);
    out.push_str(&text[..first]);
    for (at, c) in text[first..].char_indices().map(|(i, c)| (first + i, c)) {
        if !is_escaped(c) || kept(at, c) {
            out.push(c);
            continue;
        }
        let before = out.len();
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c.is_ascii() => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
        }
        escaped(at + c.len_utf8(), out.len() - before - c.len_utf8());
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_become_escapes_and_tab_stays() {
        assert_eq!(
            visible("a\u{1b}]0;owned\u{7}b\tc\n\r\0\u{7f}\u{9b}2J"),
            "a\\x1b]0;owned\\x07b\tc\\n\\r\\x00\\x7f\\u{9b}2J"
        );
        assert!(matches!(visible("User=root é"), Cow::Borrowed(_)));
    }

    #[test]
    fn line_ends_stay_in_lines() {
        assert_eq!(
            visible_lines("a\r\nb\n\u{1b}[2J\rc\n\r"),
            "a\r\nb\n\\x1b[2J\\rc\n\\r"
        );
    }

    #[test]
    fn json_has_no_raw_controls_and_means_the_same() {
        let value = serde_json::json!({"m": "a\u{1b}b\u{7f}c\u{9b}d"});
        let text = json(&value);
        assert!(
            !text.contains(|c: char| c.is_control() && c != '\n'),
            "{text}"
        );
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&text).unwrap(),
            value
        );
    }

    #[test]
    fn offsets_follow_the_escapes() {
        let original = "ab\u{1b}cd\u{9b}e\nf";
        let shown = VisibleLines::new(original);
        assert_eq!(shown.text, "ab\\x1bcd\\u{9b}e\nf");
        for (offset, c) in original.char_indices().filter(|(_, c)| !c.is_control()) {
            let at = shown.offset(offset);
            assert_eq!(shown.text[at..].chars().next(), Some(c), "{offset}");
        }
        assert_eq!(shown.offset(original.len()), shown.text.len());
    }
}
