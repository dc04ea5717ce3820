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

/// Prints findings unit by unit as units are linted, so that a run over a
/// hundred thousand units never holds all its findings. Each unit's
/// findings are rendered by the thread that linted it ([`Printer::render`]);
/// the printer then only joins the pieces in the operands' order. Line
/// formats print each unit at once; document formats (SARIF, GitLab,
/// Checkstyle) keep their findings for the end.
pub struct Printer {
    format: Format,
    color: bool,
    kept: Vec<Finding>,
    json_started: bool,
    pub tally: Tally,
}

/// One unit's findings, rendered and counted, waiting to be printed.
pub struct Rendered {
    text: String,
    tally: Tally,
    kept: Vec<Finding>,
}

/// Between two units' JSON elements, and before the first (as the opening
/// bracket, the same length).
const JSON_SEPARATOR: &str = ",\n";
const JSON_OPEN: &str = "[\n";

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

    fn merge(&mut self, other: &Tally) {
        self.errors += other.errors;
        self.warnings += other.warnings;
        self.infos += other.infos;
        self.fixable += other.fixable;
        self.worst = self.worst.max(other.worst);
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

    /// Renders one unit's findings. Needs no state, so it runs on the
    /// worker threads.
    pub fn render(&self, findings: Vec<Finding>) -> Rendered {
        let mut tally = Tally::default();
        findings.iter().for_each(|f| tally.add(f));
        let (text, kept) = match self.format {
            Format::Sarif | Format::Gitlab | Format::Checkstyle => (String::new(), findings),
            // Elements of one array: each unit's open with the separator;
            // the first unit's becomes the opening bracket in `print`.
            Format::Json => match json::elements(&findings) {
                Some(elements) => (format!("{JSON_SEPARATOR}{elements}"), Vec::new()),
                None => (String::new(), Vec::new()),
            },
            format => (render(format, &findings, self.color), Vec::new()),
        };
        Rendered { text, tally, kept }
    }

    /// The text to write for a rendered unit (empty for document formats).
    pub fn print(&mut self, mut unit: Rendered) -> String {
        self.tally.merge(&unit.tally);
        self.kept.append(&mut unit.kept);
        if self.format == Format::Json && !unit.text.is_empty() && !self.json_started {
            self.json_started = true;
            unit.text.replace_range(..JSON_SEPARATOR.len(), JSON_OPEN);
        }
        unit.text
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

/// Text from a unit, a journal or a path, safe for a terminal: control
/// characters (but newline and tab) shown as `\xNN`, never raw.
pub fn escape_text(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\n' | '\t' => c.to_string(),
            c if c.is_control() => format!("\\x{:02x}", c as u32),
            c => c.to_string(),
        })
        .collect()
}
