//! Problems found while reading a unit file, with systemd's verdict on each.

use serde::Serialize;
use std::ops::Range;

/// What went wrong in a line, named after systemd's own message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SyntaxIssueKind {
    /// `[Section` or `[Section] # x`: "Invalid section header".
    InvalidSectionHeader,
    /// A quote, backslash or control character between the brackets.
    BadSectionCharacters,
    /// A physical line of 1 MiB or more.
    LineTooLong,
    /// Continued lines that add up to more than 1 MiB.
    ContinuationTooLong,
    /// A logical line that is not valid UTF-8.
    InvalidUtf8,
    /// A line with no `=`.
    MissingEquals,
    /// A line starting with `=`.
    MissingKey,
    /// An assignment before the first section header.
    OutsideSection,
    /// A section this unit type does not have (`[service]`, `[ Service ]`).
    UnknownSection,
    /// Not a text file at all (NUL or control bytes where systemd stopped).
    BinaryFile,
}

impl SyntaxIssueKind {
    /// True when systemd stops reading the file here: the unit fails to
    /// load, or, in a drop-in, the rest of that drop-in is skipped.
    pub fn is_fatal(self) -> bool {
        matches!(
            self,
            Self::InvalidSectionHeader
                | Self::BadSectionCharacters
                | Self::LineTooLong
                | Self::ContinuationTooLong
                | Self::InvalidUtf8
                | Self::BinaryFile
        )
    }
}

/// One syntax problem, located in the file's bytes.
#[derive(Debug, Clone, Serialize)]
pub struct SyntaxIssue {
    pub kind: SyntaxIssueKind,
    /// The line number systemd reports (the last physical line of a
    /// continued line).
    pub line: u32,
    #[serde(skip)]
    pub span: Range<usize>,
    pub message: String,
}
