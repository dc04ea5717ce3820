//! The lossless syntax tree of one unit file: its physical lines, each with
//! its byte span and terminator, as `grammar/unit.pest` splits them.
//!
//! The tree owns the original bytes; writing it back gives them unchanged.
//! Invalid UTF-8 is kept: the text the grammar sees has each invalid byte
//! replaced by one placeholder byte, so spans are the same in both.

pub mod boolean;
pub mod issue;
pub mod logical;
mod offsets;

use offsets::OffsetSet;
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
        if std::str::from_utf8(&bytes).is_ok() {
            // The text is the bytes: share them instead of holding the
            // file twice.
            let shared = Arc::into_raw(Arc::clone(&bytes)) as *const str;
            // SAFETY: str has the layout of [u8] (std converts Arc<str>
            // to Arc<[u8]> the same way), the bytes were just checked to be
            // UTF-8, and neither Arc lets them change.
            let text = unsafe { Arc::from_raw(shared) };
            return Source {
                bytes,
                text,
                invalid_utf8: Vec::new(),
            };
        }
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
#[derive(Debug, Clone, PartialEq, Eq)]
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

/// The syntax tree: the source and where each of its physical lines is.
#[derive(Debug, Clone)]
pub struct SyntaxTree {
    pub source: Source,
    /// Boxed: a unit's files sit in enums beside much smaller variants.
    marks: Box<LineMarks>,
}

impl SyntaxTree {
    /// Splits `bytes` into physical lines. Never fails: any byte sequence is
    /// a list of lines to systemd, whatever it then makes of them.
    pub fn parse(bytes: impl Into<Arc<[u8]>>) -> SyntaxTree {
        let source = Source::new(bytes);
        let marks = Box::new(LineMarks::of(&source.text));
        SyntaxTree { source, marks }
    }

    pub fn text(&self) -> &str {
        &self.source.text
    }

    /// The physical lines, in order.
    pub fn lines(&self) -> Lines<'_> {
        Lines {
            tree: self,
            next: 0,
            number: 1,
        }
    }

    /// How many physical lines there are.
    pub fn line_count(&self) -> u32 {
        self.marks.starts.count()
    }

    /// The bytes the tree was built from, reassembled line by line.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.source.bytes.len());
        for line in self.lines() {
            out.extend_from_slice(&self.source.bytes[line.span.clone()]);
            out.extend_from_slice(&self.source.bytes[line.eol.clone()]);
        }
        out
    }

    /// The physical line that holds byte `offset` (or the last line).
    pub fn line_at(&self, offset: usize) -> Option<PhysicalLine> {
        let start = self.marks.starts.prev_at(offset)?;
        Some(self.line(start, self.marks.starts.count_before(start) + 1))
    }

    /// The line that starts at byte `start`, from its marks.
    fn line(&self, start: usize, number: u32) -> PhysicalLine {
        let marks = &self.marks;
        let len = self.source.text.len();
        let end = marks.starts.next_from(start + 1).unwrap_or(len);
        let eol = marks
            .eols
            .next_from(start)
            .filter(|&e| e < end)
            .unwrap_or(end);
        let kind = if marks.comments.contains(start) {
            LineKind::Comment
        } else {
            let bom = marks
                .boms
                .contains(start)
                .then(|| start..start + BYTE_ORDER_MARK.len_utf8());
            let continuation = marks.continued.contains(start).then(|| eol - 1);
            LineKind::Text {
                content: bom.as_ref().map_or(start, |b| b.end)..continuation.unwrap_or(eol),
                bom,
                continuation,
            }
        };
        PhysicalLine {
            number,
            span: start..eol,
            eol: eol..end,
            kind,
        }
    }
}

/// The physical lines of a tree, in order, made from its marks.
#[derive(Debug, Clone)]
pub struct Lines<'a> {
    tree: &'a SyntaxTree,
    /// Where the next line starts.
    next: usize,
    number: u32,
}

impl Iterator for Lines<'_> {
    type Item = PhysicalLine;

    fn next(&mut self) -> Option<PhysicalLine> {
        if self.next >= self.tree.source.text.len() {
            return None;
        }
        let line = self.tree.line(self.next, self.number);
        self.next = line.eol.end;
        self.number += 1;
        Some(line)
    }
}

const BYTE_ORDER_MARK: char = '\u{FEFF}';

/// Bytes the grammar reads at a time. pest keeps two tokens of 40 bytes
/// for every rule it matched until the parse returns, six a line: a whole
/// file of newlines at once would cost hundreds of times its size.
const CHUNK: usize = 16 * 1024;

/// What the grammar found, by byte offset: every line has at least one
/// byte (its text or its terminator), so a line is known by where it
/// starts, and its kind by marks at that offset.
#[derive(Debug, Clone)]
struct LineMarks {
    starts: OffsetSet,
    /// Where each terminator starts.
    eols: OffsetSet,
    /// Starts of comment lines.
    comments: OffsetSet,
    /// Starts of text lines that open with a byte-order mark.
    boms: OffsetSet,
    /// Starts of text lines that end in a continuation backslash.
    continued: OffsetSet,
}

impl LineMarks {
    /// Parses `text` a chunk at a time. A chunk's last line may go on past
    /// the chunk, so it is parsed again as the start of the next chunk.
    fn of(text: &str) -> LineMarks {
        let set = || OffsetSet::new(text.len());
        let mut marks = LineMarks {
            starts: set(),
            eols: set(),
            comments: set(),
            boms: set(),
            continued: set(),
        };
        let mut start = 0;
        let mut size = CHUNK;
        while start < text.len() {
            let mut end = (start + size).min(text.len());
            while !text.is_char_boundary(end) {
                end += 1;
            }
            let mut lines = split_lines(&text[start..end], start);
            let unfinished = if end < text.len() { lines.pop() } else { None };
            if lines.is_empty() {
                // A line longer than the chunk: read it whole, to the first
                // terminator byte (no line's text holds one) and a few bytes
                // past it, not a larger chunk of lines after it too.
                let rest = &text.as_bytes()[end..];
                let terminator = rest.iter().position(|b| matches!(b, b'\n' | b'\r' | 0));
                size = end - start + terminator.map_or(rest.len(), |at| at + 4);
                continue;
            }
            lines.iter().for_each(|line| marks.add(line));
            start = unfinished.map_or(end, |line| line.span.start);
            size = CHUNK;
        }
        marks
    }

    fn add(&mut self, line: &PhysicalLine) {
        self.starts.push(line.span.start);
        if !line.eol.is_empty() {
            self.eols.push(line.eol.start);
        }
        match &line.kind {
            LineKind::Comment => self.comments.push(line.span.start),
            LineKind::Text {
                bom, continuation, ..
            } => {
                if bom.is_some() {
                    self.boms.push(line.span.start);
                }
                if continuation.is_some() {
                    self.continued.push(line.span.start);
                }
            }
        }
    }
}

/// The lines of `text`, which is the part of the file from byte `base` on
/// (offsets are the file's; numbers count from 1 within `text`).
fn split_lines(text: &str, base: usize) -> Vec<PhysicalLine> {
    let file = UnitGrammar::parse(Rule::file, text)
        .expect("the unit grammar accepts every input")
        .next()
        .expect("file rule");
    let offsets = |span: pest::Span| base + span.start()..base + span.end();
    let mut lines: Vec<PhysicalLine> = Vec::new();
    for pair in file.into_inner() {
        let span = offsets(pair.as_span());
        match pair.as_rule() {
            Rule::eol => {
                let line = lines.last_mut().expect("a terminator follows a line");
                line.eol = span;
            }
            Rule::empty_lines => {
                for at in span {
                    lines.push(PhysicalLine {
                        number: lines.len() as u32 + 1,
                        span: at..at,
                        eol: at..at + 1,
                        kind: LineKind::Text {
                            bom: None,
                            content: at..at,
                            continuation: None,
                        },
                    });
                }
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
                    .map_or(span.start..span.start, |c| offsets(c.as_span()));
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
        tree.lines()
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
            .lines()
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
        assert_eq!(tree.line_count(), 2);
    }

    #[test]
    fn valid_utf8_is_held_once() {
        let source = Source::new(b"User=\xe2\x82\xac\n".to_vec());
        assert_eq!(&*source.text, "User=\u{20ac}\n");
        assert_eq!(source.text.as_ptr(), source.bytes.as_ptr());
    }

    #[test]
    fn empty_input_has_no_lines() {
        assert_eq!(SyntaxTree::parse(Vec::new()).lines().next(), None);
        assert_eq!(SyntaxTree::parse(Vec::new()).line_at(0), None);
        assert_eq!(kinds(b"\n").len(), 1);
    }

    /// A text of every kind of line and terminator, in a fixed pseudo-random
    /// order, so that each falls on a chunk's edge somewhere.
    fn mixed_lines(len: usize) -> Vec<u8> {
        let pieces: [&[u8]; 14] = [
            b"\n",
            b"\r\n",
            b"\n\r",
            b"\r\n\0",
            b"\0",
            b"\r",
            b"Key=a \\\n",
            b"b \\\\\n",
            b"  # comment\n",
            b";x\r\n",
            b"\xef\xbb\xbfUser=x\n",
            b"\xef\xbb\xbf",
            b"User=\xe2\x82\xac\xff\n",
            b"[Service]",
        ];
        let mut out = Vec::new();
        let mut state: u32 = 7;
        while out.len() < len {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            out.extend_from_slice(pieces[(state >> 16) as usize % pieces.len()]);
        }
        out
    }

    /// Read a chunk at a time, the lines are those of one parse of the whole
    /// text, whatever falls on a chunk's edge.
    #[test]
    fn chunks_read_as_one_parse() {
        let mut long_line_between = mixed_lines(3 * CHUNK);
        long_line_between.extend(std::iter::repeat_n(b'x', 3 * CHUNK));
        long_line_between.extend(mixed_lines(3 * CHUNK));
        for input in [mixed_lines(CHUNK - 3), long_line_between] {
            let tree = SyntaxTree::parse(input.clone());
            let whole = split_lines(tree.text(), 0);
            assert!(whole.len() > 1000, "{}", whole.len());
            let lines: Vec<PhysicalLine> = tree.lines().collect();
            assert!(lines == whole, "chunked and whole parses differ");
            assert_eq!(tree.line_count() as usize, whole.len());
            assert_eq!(tree.to_bytes(), input);
            for line in whole.iter().step_by(7) {
                for at in [line.span.start, line.eol.end - 1] {
                    assert_eq!(tree.line_at(at).as_ref(), Some(line), "line_at({at})");
                }
            }
            assert_eq!(tree.line_at(usize::MAX).as_ref(), whole.last());
        }
    }

    /// Lines made from the marks are the grammar's, also where the marks
    /// leave parts to derive: empty content after a byte-order mark or
    /// before a continuation, a line that is only a terminator.
    #[test]
    fn lines_from_marks_are_the_grammars_at_the_edges() {
        for input in [
            "\u{feff}",
            "\u{feff}\n",
            "\u{feff}\\\n",
            "\\",
            "\\\n\\",
            "\u{feff}#x\r\n",
            " # x\\\n",
            "\r",
            "\0\n\r\0",
            "a\\\\\n",
        ] {
            let tree = SyntaxTree::parse(input.as_bytes().to_vec());
            let lines: Vec<PhysicalLine> = tree.lines().collect();
            assert_eq!(lines, split_lines(input, 0), "{input:?}");
        }
    }

    /// Memory follows the file's size, not its number of lines: a line per
    /// byte costs a few bits per byte.
    #[test]
    fn a_file_of_newlines_is_marked_in_bits() {
        let tree = SyntaxTree::parse(vec![b'\n'; 1 << 18]);
        assert_eq!(tree.line_count(), 1 << 18);
        let words: usize = [
            &tree.marks.starts,
            &tree.marks.eols,
            &tree.marks.comments,
            &tree.marks.boms,
            &tree.marks.continued,
        ]
        .iter()
        .map(|set| set.heap_bytes())
        .sum();
        // Five bits a byte, and a count per 512 bytes for two of them.
        assert!(words <= (1 << 18) * 5 / 8 + (1 << 18) / 64, "{words} bytes");
        let last = tree.line_at(usize::MAX).unwrap();
        assert_eq!((last.number, last.span.start), (1 << 18, (1 << 18) - 1));
    }
}
