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

/// Prints findings batch by batch as units are linted, so that a run over
/// a hundred thousand units never holds all its findings. Line formats
/// print each batch at once; document formats (SARIF, GitLab, Checkstyle)
/// keep their findings for the end.
pub struct Printer {
    format: Format,
    color: bool,
    kept: Vec<Finding>,
    json_started: bool,
    pub tally: Tally,
}

/// What the summary line and the exit status need to know.
#[derive(Debug, Default, Clone, Copy)]
pub struct Tally {
    pub errors: usize,
    pub warnings: usize,
    pub infos: usize,
    pub fixable: usize,
    pub worst: Option<Severity>,
}

impl Tally {
    fn add(&mut self, f: &Finding) {
        match f.severity {
            Severity::Error => self.errors += 1,
            Severity::Warning => self.warnings += 1,
            Severity::Info => self.infos += 1,
        }
        self.fixable += usize::from(f.fix.is_some());
        self.worst = self.worst.max(Some(f.severity));
    }

    fn total(&self) -> usize {
        self.errors + self.warnings + self.infos
    }
}

impl Printer {
    pub fn new(format: Format, color: bool) -> Printer {
        Printer {
            format,
            color,
            kept: Vec::new(),
            json_started: false,
            tally: Tally::default(),
        }
    }

    /// The text for one batch of findings (empty for document formats).
    pub fn print(&mut self, findings: Vec<Finding>) -> String {
        findings.iter().for_each(|f| self.tally.add(f));
        match self.format {
            Format::Sarif | Format::Gitlab | Format::Checkstyle => {
                self.kept.extend(findings);
                String::new()
            }
            Format::Json => match json::elements(&findings) {
                Some(elements) => {
                    let open = if self.json_started { ",\n" } else { "[\n" };
                    self.json_started = true;
                    format!("{open}{elements}")
                }
                None => String::new(),
            },
            format => render(format, &findings, self.color),
        }
    }

    /// The text that closes the output.
    pub fn finish(self) -> String {
        match self.format {
            Format::Json if self.json_started => "\n]\n".to_string(),
            Format::Json => json::render(&[]),
            Format::Sarif | Format::Gitlab | Format::Checkstyle => {
                render(self.format, &self.kept, self.color)
            }
            _ => String::new(),
        }
    }
}

/// "Found 2 errors, 1 warning and 3 infos in 4 units."
pub fn summary(tally: &Tally, units: usize) -> String {
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    let units = plural(units, "unit");
    if tally.total() == 0 {
        return format!("No findings in {units}.");
    }
    let fixable = if tally.fixable > 0 {
        format!(" ({} with a fix: `capcheck fix`)", tally.fixable)
    } else {
        String::new()
    };
    format!(
        "Found {}, {} and {} in {units}.{fixable}",
        plural(tally.errors, "error"),
        plural(tally.warnings, "warning"),
        plural(tally.infos, "info"),
    )
}
