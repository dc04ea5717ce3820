//! Output formats. Each printer reads findings (or the model); none
//! re-parses text. Machine formats never carry colour.

pub mod checkstyle;
pub mod concise;
pub mod full;
pub mod github;
pub mod gitlab;
pub mod json;
pub mod sarif;
pub mod show;

use crate::finding::{Finding, Severity};

/// The `--format` values of `capcheck lint`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Source snippets, labels and help, for people (miette).
    Full,
    /// One line per finding: `path:line:col: CODE [severity] message`.
    Concise,
    /// A JSON array of findings.
    Json,
    /// SARIF 2.1.0, for GitHub code scanning.
    Sarif,
    /// GitHub Actions workflow commands (annotations).
    Github,
    /// GitLab Code Quality report.
    Gitlab,
    /// Checkstyle XML.
    Checkstyle,
}

impl Format {
    /// Formats meant for people get a summary line and may get colour.
    pub fn is_human(self) -> bool {
        matches!(self, Format::Full | Format::Concise)
    }
}

/// Renders findings in `format`.
pub fn render(format: Format, findings: &[Finding], color: bool) -> String {
    match format {
        Format::Full => full::render(findings, color),
        Format::Concise => concise::render(findings),
        Format::Json => json::render(findings),
        Format::Sarif => sarif::render(findings),
        Format::Github => github::render(findings),
        Format::Gitlab => gitlab::render(findings),
        Format::Checkstyle => checkstyle::render(findings),
    }
}

/// "Found 2 errors, 1 warning and 3 infos in 4 units."
pub fn summary(findings: &[Finding], units: usize) -> String {
    let count = |s: Severity| findings.iter().filter(|f| f.severity == s).count();
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    let units = plural(units, "unit");
    if findings.is_empty() {
        return format!("No findings in {units}.");
    }
    let fixable = findings.iter().filter(|f| f.fix.is_some()).count();
    let fixable = if fixable > 0 {
        format!(" ({fixable} with a fix: `capcheck fix`)")
    } else {
        String::new()
    };
    format!(
        "Found {}, {} and {} in {units}.{fixable}",
        plural(count(Severity::Error), "error"),
        plural(count(Severity::Warning), "warning"),
        plural(count(Severity::Info), "info"),
    )
}
