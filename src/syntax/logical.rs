//! Logical lines: physical lines joined the way systemd's `config_parse()`
//! joins them, then read as section headers and assignments.
//!
//! This is where systemd's reading order lives: the line-length check, the
//! comment check, stripping the first byte-order mark, joining continued
//! lines (the backslash becomes a space), UTF-8 validation, and the header
//! and `=` rules of `parse_line()`.

use super::issue::{SyntaxIssue, SyntaxIssueKind};
use super::{LineKind, SyntaxTree, LONG_LINE_MAX};
use crate::unit_name::UnitType;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// A `[Section]` header.
#[derive(Debug, Clone)]
pub struct Section {
    pub name: String,
    /// Whether systemd reads this section for the unit's type; assignments
    /// in other sections are ignored.
    pub known: bool,
    pub line: u32,
    pub span: Range<usize>,
}

/// One `Key=value` assignment inside a section.
#[derive(Debug, Clone)]
pub struct Assignment {
    /// Index into [`UnitFile::sections`].
    pub section: usize,
    pub key: String,
    /// The value as systemd passes it to the setting's parser: continued
    /// lines joined, surrounding blanks stripped.
    pub value: String,
    pub key_span: Range<usize>,
    /// Where the value's bytes are; several ranges when it is continued.
    pub value_spans: Vec<Range<usize>>,
    /// From the start of the first physical line to the end of the last.
    pub span: Range<usize>,
    pub first_line: u32,
    /// The line number systemd reports: the last physical line.
    pub line: u32,
}

/// One unit file or drop-in, read as systemd reads it.
#[derive(Debug, Clone)]
pub struct UnitFile {
    pub path: PathBuf,
    pub tree: SyntaxTree,
    pub sections: Vec<Section>,
    /// Assignments in file order, up to the first fatal syntax issue.
    pub assignments: Vec<Assignment>,
    pub issues: Vec<SyntaxIssue>,
}

impl UnitFile {
    /// Reads `bytes` as a file of a unit of type `unit_type`.
    pub fn parse(
        path: impl AsRef<Path>,
        bytes: impl Into<std::sync::Arc<[u8]>>,
        unit_type: UnitType,
    ) -> UnitFile {
        let tree = SyntaxTree::parse(bytes);
        let mut reader = Reader {
            tree: &tree,
            unit_type,
            sections: Vec::new(),
            assignments: Vec::new(),
            issues: Vec::new(),
            current: None,
        };
        reader.read();
        let Reader {
            sections,
            assignments,
            mut issues,
            ..
        } = reader;
        if let Some(fatal) = issues.iter().find(|i| i.kind.is_fatal()) {
            if looks_binary(&tree.source.bytes) {
                // One clear error instead of a warning per line of garbage.
                issues = vec![SyntaxIssue {
                    kind: SyntaxIssueKind::BinaryFile,
                    line: fatal.line,
                    span: fatal.span.clone(),
                    message: "binary file, not a unit file".to_string(),
                }];
            }
        }
        UnitFile {
            path: path.as_ref().to_path_buf(),
            tree,
            sections,
            assignments,
            issues,
        }
    }

    pub fn text(&self) -> &str {
        self.tree.text()
    }

    /// The first issue that made systemd stop reading this file.
    pub fn fatal_issue(&self) -> Option<&SyntaxIssue> {
        self.issues.iter().find(|i| i.kind.is_fatal())
    }

    /// The section an assignment belongs to.
    pub fn section_of(&self, assignment: &Assignment) -> &Section {
        &self.sections[assignment.section]
    }
}

/// True for data that is not text: NUL bytes or many control bytes in the
/// first 8 KiB (systemd reads NUL as a line end, but no unit file has one).
fn looks_binary(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(8192)];
    let control = head
        .iter()
        .filter(|&&b| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r'))
        .count();
    head.contains(&0) || control * 20 > head.len()
}

/// A logical line being assembled: its text and where each piece came from.
#[derive(Default)]
struct Logical {
    text: String,
    /// (offset in `text`, offset in the source) at the start of each piece;
    /// a piece runs until the next one starts.
    pieces: Vec<(usize, usize)>,
    /// Source byte spans of the pieces (for UTF-8 checks).
    spans: Vec<Range<usize>>,
    first_line: u32,
    start: usize,
}

impl Logical {
    fn push(&mut self, source_start: usize, text: &str) {
        self.pieces.push((self.text.len(), source_start));
        self.spans.push(source_start..source_start + text.len());
        self.text.push_str(text);
    }

    /// Maps a range of the logical text back to source byte ranges.
    fn to_source(&self, range: Range<usize>) -> Vec<Range<usize>> {
        let mut out: Vec<Range<usize>> = Vec::new();
        for (i, &(logical_start, source_start)) in self.pieces.iter().enumerate() {
            let logical_end = self
                .pieces
                .get(i + 1)
                .map_or(self.text.len(), |&(next, _)| next);
            let lo = range.start.max(logical_start);
            let hi = range.end.min(logical_end);
            if lo < hi {
                let piece =
                    source_start + (lo - logical_start)..source_start + (hi - logical_start);
                match out.last_mut() {
                    Some(last) if last.end == piece.start => last.end = piece.end,
                    _ => out.push(piece),
                }
            }
        }
        out
    }

    fn source_span(&self, range: Range<usize>, fallback: usize) -> Range<usize> {
        let spans = self.to_source(range);
        match (spans.first(), spans.last()) {
            (Some(first), Some(last)) => first.start..last.end,
            _ => fallback..fallback,
        }
    }
}

struct Reader<'a> {
    tree: &'a SyntaxTree,
    unit_type: UnitType,
    sections: Vec<Section>,
    assignments: Vec<Assignment>,
    issues: Vec<SyntaxIssue>,
    /// The last section header read; assignments in a section systemd does
    /// not know are kept (marked by [`Section::known`]) but not warned about.
    current: Option<usize>,
}

/// systemd's WHITESPACE for `strstrip()`.
fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

impl Reader<'_> {
    fn read(&mut self) {
        let text = self.tree.text();
        let mut bom_seen = false;
        let mut open: Option<Logical> = None;
        for line in self.tree.lines() {
            if line.span.len() >= LONG_LINE_MAX {
                self.issue(
                    SyntaxIssueKind::LineTooLong,
                    line.number,
                    line.span.start..line.span.start,
                    format!(
                        "line is {} bytes long; systemd reads lines of less than 1 MiB only",
                        line.span.len()
                    ),
                );
                return;
            }
            let LineKind::Text {
                bom,
                content,
                continuation,
            } = &line.kind
            else {
                continue;
            };
            // Only the first byte-order mark is stripped; a later one is text.
            let start = match bom {
                Some(bom) if !bom_seen => {
                    bom_seen = true;
                    bom.end
                }
                _ => line.span.start,
            };
            if open.is_none()
                && continuation.is_none()
                && text[start..content.end].trim_matches(is_blank).is_empty()
            {
                // A blank line, read as nothing (and there may be millions).
                continue;
            }
            let logical = open.get_or_insert_with(|| Logical {
                first_line: line.number,
                start: line.span.start,
                ..Logical::default()
            });
            let piece_end = continuation.map_or(content.end, |c| c + 1);
            if !logical.text.is_empty() && logical.text.len() + (piece_end - start) > LONG_LINE_MAX
            {
                self.issue(
                    SyntaxIssueKind::ContinuationTooLong,
                    line.number,
                    start..piece_end,
                    "continued line is longer than 1 MiB".to_string(),
                );
                return;
            }
            logical.push(start, &text[start..content.end]);
            if let Some(backslash) = continuation {
                // systemd replaces the backslash by a space and reads on.
                logical.push(*backslash, " ");
                continue;
            }
            let logical = open.take().expect("a logical line is open");
            if !self.logical_line(&logical, line.number) {
                return;
            }
        }
        if let Some(logical) = open.take() {
            let last = self.tree.line_count().max(1);
            self.logical_line(&logical, last);
        }
    }

    fn issue(&mut self, kind: SyntaxIssueKind, line: u32, span: Range<usize>, message: String) {
        self.issues.push(SyntaxIssue {
            kind,
            line,
            span,
            message,
        });
    }

    /// Reads one logical line (systemd's `parse_line()`); false when systemd
    /// stops reading the file here.
    fn logical_line(&mut self, logical: &Logical, line: u32) -> bool {
        let text = logical.text.as_str();
        let trimmed = text.trim_matches(is_blank);
        if trimmed.is_empty() {
            return true;
        }
        let lead = text.len() - text.trim_start_matches(is_blank).len();
        let stripped = lead..lead + trimmed.len();
        let whole = logical.source_span(stripped.clone(), logical.start);
        if logical
            .spans
            .iter()
            .any(|s| self.tree.source.has_invalid_utf8_in(s))
        {
            self.issue(
                SyntaxIssueKind::InvalidUtf8,
                line,
                whole,
                "line is not valid UTF-8".to_string(),
            );
            return false;
        }
        if trimmed.starts_with('[') {
            return self.section_header(trimmed, line, whole);
        }
        let Some(section) = self.current else {
            self.issue(
                SyntaxIssueKind::OutsideSection,
                line,
                whole,
                "assignment outside of any section; systemd ignores it".to_string(),
            );
            return true;
        };
        let Some(eq) = trimmed.find('=') else {
            if self.sections[section].known {
                self.issue(
                    SyntaxIssueKind::MissingEquals,
                    line,
                    whole,
                    "line has no '='; systemd ignores it".to_string(),
                );
            }
            return true;
        };
        if eq == 0 {
            if self.sections[section].known {
                self.issue(
                    SyntaxIssueKind::MissingKey,
                    line,
                    whole,
                    "no key name before '='; systemd ignores the line".to_string(),
                );
            }
            return true;
        }
        let key_raw = &trimmed[..eq];
        let key = key_raw.trim_matches(is_blank);
        let value_raw = &trimmed[eq + 1..];
        let value = value_raw.trim_matches(is_blank);
        let key_start = stripped.start;
        let value_start = stripped.start
            + eq
            + 1
            + (value_raw.len() - value_raw.trim_start_matches(is_blank).len());
        let value_range = value_start..value_start + value.len();
        let value_spans = if value.is_empty() {
            let equals = stripped.start + eq;
            let at = logical.source_span(equals..equals + 1, whole.end).end;
            std::iter::once(at..at).collect()
        } else {
            logical.to_source(value_range)
        };
        self.assignments.push(Assignment {
            section,
            key: key.to_string(),
            value: value.to_string(),
            key_span: logical.source_span(key_start..key_start + key.len(), whole.start),
            value_spans,
            span: whole,
            first_line: logical.first_line,
            line,
        });
        true
    }

    fn section_header(&mut self, trimmed: &str, line: u32, whole: Range<usize>) -> bool {
        if !trimmed.ends_with(']') || trimmed.len() < 2 {
            self.issue(
                SyntaxIssueKind::InvalidSectionHeader,
                line,
                whole,
                format!("invalid section header '{trimmed}'"),
            );
            return false;
        }
        let name = &trimmed[1..trimmed.len() - 1];
        if name
            .chars()
            .any(|c| (c as u32) < 0x20 || c == '\u{7f}' || matches!(c, '"' | '\'' | '\\'))
        {
            self.issue(
                SyntaxIssueKind::BadSectionCharacters,
                line,
                whole,
                format!("bad characters in section header '{trimmed}'"),
            );
            return false;
        }
        let known = self.unit_type.knows_section(name);
        if !known && !name.starts_with("X-") {
            self.issue(
                SyntaxIssueKind::UnknownSection,
                line,
                whole.clone(),
                format!("unknown section '{name}'; systemd ignores it and everything in it"),
            );
        }
        self.sections.push(Section {
            name: name.to_string(),
            known,
            line,
            span: whole,
        });
        self.current = Some(self.sections.len() - 1);
        true
    }
}
