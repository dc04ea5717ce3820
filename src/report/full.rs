//! Findings for people: miette's graphical report with the source line,
//! a label, the help and the code. Text from the file is escaped
//! ([`super::escape`]).

use super::escape::{visible, VisibleLines};
use crate::finding::{Finding, Severity};
use miette::{
    Diagnostic, GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteError,
    MietteSpanContents, SourceCode, SourceSpan, SpanContents,
};
use std::fmt;
use std::ops::Range;

/// Lines shown around a finding's own.
const CONTEXT_LINES: usize = 1;

/// A finding as a miette diagnostic.
struct Report<'a> {
    finding: &'a Finding,
    /// The snippet, and the finding's span in it.
    source: Option<(Snippet, Range<usize>)>,
}

impl fmt::Debug for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&visible(&self.finding.message))
    }
}

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&visible(&self.finding.message))
    }
}

impl std::error::Error for Report<'_> {}

impl Diagnostic for Report<'_> {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(format!(
            "{} {}",
            self.finding.code, self.finding.name
        )))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.finding.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
            Severity::Info => miette::Severity::Advice,
        })
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        let help = visible(self.finding.help.as_deref()?);
        let code = self.finding.code;
        let explain = format!("{help}\n(more: capcheck explain {code}, docs/rules/{code}.md)");
        Some(Box::new(explain))
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.source.as_ref().map(|(s, _)| s as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let (_, span) = self.source.as_ref()?;
        let f = self.finding;
        let label = (!f.label.is_empty()).then(|| visible(&f.label).into_owned());
        let span = (span.start, span.len());
        Some(Box::new(std::iter::once(LabeledSpan::new_with_span(
            label, span,
        ))))
    }
}

/// The lines of a file around a finding, escaped, numbered as in the file:
/// miette is given no more of a file than it shows, so a finding costs the
/// same at the start of a large file as at its end.
struct Snippet {
    name: String,
    text: String,
    /// The line of the file (from 0) the snippet starts with.
    first_line: usize,
}

impl Snippet {
    /// The snippet of `f` in `text`, and the finding's span in it.
    fn of(f: &Finding, text: &str) -> (Snippet, Range<usize>) {
        let bytes = text.as_bytes();
        let line_start = |at: usize| {
            bytes[..at]
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |i| i + 1)
        };
        let next_line = |at: usize| {
            bytes[at..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(bytes.len(), |i| at + i + 1)
        };
        let span = f.span.start.min(text.len())..f.span.end.clamp(f.span.start, text.len());
        let mut start = line_start(span.start);
        for _ in 0..CONTEXT_LINES {
            start = line_start(start.saturating_sub(1));
        }
        let mut end = next_line(span.end);
        for _ in 0..CONTEXT_LINES {
            end = next_line(end);
        }
        // Numbered from the finding's line, counted as systemd counts (as
        // every other format does).
        let lines_to_span = bytes[start..span.start]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        let first_line = (f.position.line as usize).saturating_sub(1 + lines_to_span);
        let shown = VisibleLines::new(&text[start..end]);
        let span = shown.offset(span.start - start)..shown.offset(span.end - start);
        let name = visible(&f.path.display().to_string()).into_owned();
        let snippet = Snippet {
            name,
            text: shown.text,
            first_line,
        };
        (snippet, span)
    }
}

impl SourceCode for Snippet {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        let contents = self
            .text
            .read_span(span, context_lines_before, context_lines_after)?;
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.clone(),
            contents.data(),
            *contents.span(),
            contents.line() + self.first_line,
            contents.column(),
            contents.line_count(),
        )))
    }
}

pub fn render(findings: &[Finding], color: bool) -> String {
    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(100)
        .with_links(false)
        .with_context_lines(CONTEXT_LINES);
    let mut out = String::new();
    for f in findings {
        let report = Report {
            finding: f,
            source: f.source.as_deref().map(|text| Snippet::of(f, text)),
        };
        let _ = handler.render_report(&mut out, &report);
        out.push('\n');
    }
    out
}
