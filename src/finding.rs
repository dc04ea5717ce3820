//! Findings: what a check reports, located in a file, with an optional fix.

use crate::syntax::SyntaxTree;
use serde::Serialize;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

/// How serious a finding is.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    serde::Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// How safe it is to apply a fix (ruff's applicability).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Applicability {
    /// Nothing that runs changes (a spelling systemd already ignores).
    Safe,
    /// Changes what runs, backed by evidence.
    EvidenceBased,
    /// Changes what runs on a guess.
    Guess,
}

/// One replacement of a byte range of a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Edit {
    pub path: PathBuf,
    #[serde(skip)]
    pub range: Range<usize>,
    pub start_line: u32,
    pub end_line: u32,
    pub content: String,
}

/// A set of edits that together fix a finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fix {
    pub message: String,
    pub applicability: Applicability,
    pub edits: Vec<Edit>,
}

/// A position in a file: 1-based line and column (columns in characters;
/// the end column is the one after the last character).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Position {
    pub line: u32,
    pub column: u32,
    pub end_line: u32,
    pub end_column: u32,
}

/// One finding.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub code: &'static str,
    pub name: &'static str,
    pub severity: Severity,
    pub message: String,
    /// The unit the finding is about.
    pub unit: String,
    pub path: PathBuf,
    #[serde(flatten)]
    pub position: Position,
    /// Byte range in the file.
    #[serde(skip)]
    pub span: Range<usize>,
    /// What the label under the source line says.
    #[serde(skip)]
    pub label: String,
    pub help: Option<String>,
    pub fix: Option<Fix>,
    /// The file's text, shared, for rendering snippets.
    #[serde(skip)]
    pub source: Option<Arc<str>>,
}

/// 1-based line/column positions of a byte range, lines counted as
/// systemd counts them (every line terminator, NUL included).
pub fn position(tree: &SyntaxTree, span: &Range<usize>) -> Position {
    let text = tree.text();
    let at = |offset: usize| match tree.line_at(offset) {
        Some(line) => {
            let start = line.span.start.min(offset);
            let end = floor_char_boundary(text, offset.min(text.len()).max(start));
            (line.number, text[start..end].chars().count() as u32 + 1)
        }
        None => (1, 1),
    };
    let (line, column) = at(span.start);
    let (end_line, end_column) = at(span.end);
    Position {
        line,
        column,
        end_line,
        end_column,
    }
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}
