//! The lossless syntax tree of one unit file: its physical lines, each with
//! its byte span and terminator, as `grammar/unit.pest` splits them.
//!
//! The tree owns the original bytes; writing it back gives them unchanged.
//! Invalid UTF-8 is kept: the text the grammar sees has each invalid byte
//! replaced by one placeholder byte, so spans are the same in both.

pub mod issue;
pub mod logical;

use pest::Parser;
use std::ops::Range;
use std::sync::Arc;

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/unit.pest"]
struct UnitGrammar;

/// The byte that stands for an invalid UTF-8 byte in [`Source::text`].
pub const INVALID_BYTE_PLACEHOLDER: char = '\u{1a}';

/// systemd's `LONG_LINE_MAX`: a physical line this long or longer makes
/// `read_line()` fail and the unit is refused.
pub const LONG_LINE_MAX: usize = 1024 * 1024;

/// The bytes of a unit file and a same-length text view of them.
#[derive(Debug, Clone)]
pub struct Source {
    pub bytes: Arc<[u8]>,
    /// `bytes` as text, with each byte of an invalid UTF-8 sequence replaced
    /// by [`INVALID_BYTE_PLACEHOLDER`]; every offset means the same in both.
    pub text: Arc<str>,
    /// Offsets of the bytes that are not valid UTF-8.
    pub invalid_utf8: Vec<usize>,
}

impl Source {
    pub fn new(bytes: impl Into<Arc<[u8]>>) -> Source {
        let bytes: Arc<[u8]> = bytes.into();
        let mut text = String::with_capacity(bytes.len());
        let mut invalid_utf8 = Vec::new();
        for chunk in bytes.utf8_chunks() {
            text.push_str(chunk.valid());
            let start = text.len();
            for i in 0..chunk.invalid().len() {
                invalid_utf8.push(start + i);
                text.push(INVALID_BYTE_PLACEHOLDER);
            }
        }
        Source {
            bytes,
            text: text.into(),
            invalid_utf8,
        }
    }

    pub fn has_invalid_utf8_in(&self, span: &Range<usize>) -> bool {
        let first = self.invalid_utf8.partition_point(|&i| i < span.start);
        self.invalid_utf8.get(first).is_some_and(|&i| i < span.end)
    }
}

/// What kind of physical line this is, as far as the line alone tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineKind {
    /// First non-blank character `#` or `;`. Skipped by systemd everywhere.
    Comment,
    /// Anything else: a header, an assignment, a continuation segment, a
    /// blank line or garbage; the logical-line model decides.
    Text {
        /// A byte-order mark at the start of the line.
        bom: Option<Range<usize>>,
        /// The line's text, between a BOM and a continuation backslash.
        content: Range<usize>,
        /// Offset of the trailing unescaped backslash, if the line continues.
        continuation: Option<usize>,
    },
}

/// One physical line.
#[derive(Debug, Clone)]
pub struct PhysicalLine {
    /// 1-based line number, as systemd counts (each terminator ends a line).
    pub number: u32,
    /// The line without its terminator.
    pub span: Range<usize>,
    /// The terminator (`\n`, `\r\n`, NUL, …); empty for a last line without one.
    pub eol: Range<usize>,
    pub kind: LineKind,
}

impl PhysicalLine {
    pub fn is_comment(&self) -> bool {
        self.kind == LineKind::Comment
    }
}

/// The syntax tree: every physical line of the source, in order.
#[derive(Debug, Clone)]
pub struct SyntaxTree {
    pub source: Source,
    pub lines: Vec<PhysicalLine>,
}

impl SyntaxTree {
    /// Splits `bytes` into physical lines. Never fails: any byte sequence is
    /// a list of lines to systemd, whatever it then makes of them.
    pub fn parse(bytes: impl Into<Arc<[u8]>>) -> SyntaxTree {
        let source = Source::new(bytes);
        let lines = split_lines(&source.text);
        SyntaxTree { source, lines }
    }

    pub fn text(&self) -> &str {
        &self.source.text
    }

    /// The bytes the tree was built from, reassembled line by line.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.source.bytes.len());
        for line in &self.lines {
            out.extend_from_slice(&self.source.bytes[line.span.clone()]);
            out.extend_from_slice(&self.source.bytes[line.eol.clone()]);
        }
        out
    }

    /// The physical line that holds byte `offset` (or the last line).
    pub fn line_at(&self, offset: usize) -> Option<&PhysicalLine> {
        let i = self.lines.partition_point(|l| l.eol.end <= offset);
        self.lines.get(i).or(self.lines.last())
    }
}

fn split_lines(text: &str) -> Vec<PhysicalLine> {
    let file = UnitGrammar::parse(Rule::file, text)
        .expect("the unit grammar accepts every input")
        .next()
        .expect("file rule");
    let mut lines: Vec<PhysicalLine> = Vec::new();
    for pair in file.into_inner() {
        let span = pair.as_span().start()..pair.as_span().end();
        match pair.as_rule() {
            Rule::eol => {
                let line = lines.last_mut().expect("a terminator follows a line");
                line.eol = span;
            }
            Rule::comment_line => lines.push(PhysicalLine {
                number: lines.len() as u32 + 1,
                eol: span.end..span.end,
                span,
                kind: LineKind::Comment,
            }),
            Rule::text_line => {
                let content = pair
                    .into_inner()
                    .next()
                    .map_or(span.start..span.start, |c| {
                        c.as_span().start()..c.as_span().end()
                    });
                lines.push(PhysicalLine {
                    number: lines.len() as u32 + 1,
                    eol: span.end..span.end,
                    // The grammar's silent parts, around the content.
                    kind: LineKind::Text {
                        bom: (content.start > span.start).then_some(span.start..content.start),
                        continuation: (content.end < span.end).then_some(content.end),
                        content,
                    },
                    span,
                })
            }
            Rule::EOI => {}
            rule => unreachable!("unexpected rule {rule:?} in file"),
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(input: &[u8]) -> Vec<(String, String, bool)> {
        let tree = SyntaxTree::parse(input.to_vec());
        assert_eq!(tree.to_bytes(), input, "round trip");
        tree.lines
            .iter()
            .map(|l| {
                (
                    tree.text()[l.span.clone()].to_string(),
                    tree.text()[l.eol.clone()].to_string(),
                    l.is_comment(),
                )
            })
            .collect()
    }

    #[test]
    fn terminators_follow_read_line() {
        let lines = kinds(b"a\r\nb\n\rc\r\n\0d\0e\r\rf");
        let got: Vec<(&str, &str)> = lines
            .iter()
            .map(|(t, e, _)| (t.as_str(), e.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("a", "\r\n"),
                ("b", "\n\r"),
                ("c", "\r\n\0"),
                ("d", "\0"),
                ("e", "\r"),
                ("", "\r"),
                ("f", "")
            ]
        );
    }

    #[test]
    fn comments_only_at_line_start() {
        let lines = kinds(b"  # c\n;x\nUser=a # no\n\xef\xbb\xbf# not a comment\n");
        let comment: Vec<bool> = lines.iter().map(|l| l.2).collect();
        assert_eq!(comment, vec![true, true, false, false]);
    }

    #[test]
    fn continuation_needs_an_unescaped_backslash() {
        let tree = SyntaxTree::parse(b"a \\\nb \\\\\nc\\".to_vec());
        let cont: Vec<bool> = tree
            .lines
            .iter()
            .map(|l| {
                matches!(
                    l.kind,
                    LineKind::Text {
                        continuation: Some(_),
                        ..
                    }
                )
            })
            .collect();
        assert_eq!(cont, vec![true, false, true]);
    }

    #[test]
    fn invalid_utf8_is_kept_byte_for_byte() {
        let input = b"User=al\xffice\n\xfe\xfe\n".to_vec();
        let tree = SyntaxTree::parse(input.clone());
        assert_eq!(tree.to_bytes(), input);
        assert_eq!(tree.source.invalid_utf8, vec![7, 12, 13]);
        assert_eq!(tree.lines.len(), 2);
    }

    #[test]
    fn empty_input_has_no_lines() {
        assert!(SyntaxTree::parse(Vec::new()).lines.is_empty());
        assert_eq!(kinds(b"\n").len(), 1);
    }
}
