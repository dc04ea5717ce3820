//! Suppression comments. systemd has no trailing comments, so a
//! suppression stands on its own line:
//!
//! - `# capcheck: ignore=CODE[,CODE] -- reason` covers the next line (the
//!   whole continued assignment), or the whole section when the next line is
//!   a section header;
//! - `# capcheck: file-ignore=CODE[,CODE]` covers the whole file.
//!
//! Codes may be written as codes (`CAP101`) or names (`runs-as-root`);
//! `all` matches every check.

use crate::checks;
use crate::finding::Finding;
use crate::syntax::logical::UnitFile;
use crate::syntax::PhysicalLine;
use std::ops::Range;
use std::path::PathBuf;

/// One suppression comment.
#[derive(Debug, Clone)]
pub struct Suppression {
    pub path: PathBuf,
    /// The comment line.
    pub line: u32,
    pub span: Range<usize>,
    /// The codes as written.
    pub codes: Vec<String>,
    /// `file-ignore`: covers the whole file.
    pub file_wide: bool,
    /// The bytes an `ignore` covers.
    pub scope: Range<usize>,
    pub reason: Option<String>,
}

impl Suppression {
    fn matches(&self, code: &str, name: &str) -> Option<usize> {
        self.codes.iter().position(|c| {
            c.eq_ignore_ascii_case(code) || c == name || c.eq_ignore_ascii_case("all")
        })
    }
}

/// The suppressions of one file, in one pass over its lines.
pub fn parse(file: &UnitFile) -> Vec<Suppression> {
    let text = file.text();
    let mut out: Vec<Suppression> = Vec::new();
    // The `ignore`s above the current line, which covers them all when it
    // is not a comment or blank.
    let mut waiting: Vec<usize> = Vec::new();
    for line in file.tree.lines() {
        if !line.is_comment() {
            if !waiting.is_empty() && !text[line.span.clone()].trim().is_empty() {
                let scope = scope_of(file, &line);
                waiting.drain(..).for_each(|i| out[i].scope = scope.clone());
            }
            continue;
        }
        let comment = text[line.span.clone()]
            .trim_start()
            .trim_start_matches(['#', ';'])
            .trim();
        let Some(directive) = comment.strip_prefix("capcheck:") else {
            continue;
        };
        let (directive, reason) = match directive.split_once("--") {
            Some((d, r)) => (d.trim(), Some(r.trim().to_string())),
            None => (directive.trim(), None),
        };
        let (file_wide, codes) = if let Some(codes) = directive.strip_prefix("file-ignore=") {
            (true, codes)
        } else if let Some(codes) = directive.strip_prefix("ignore=") {
            (false, codes)
        } else {
            continue;
        };
        let codes: Vec<String> = codes
            .split(',')
            .map(|c| c.trim().to_string())
            .filter(|c| !c.is_empty())
            .collect();
        if !file_wide {
            waiting.push(out.len());
        }
        out.push(Suppression {
            path: file.path.clone(),
            line: line.number,
            span: line.span.clone(),
            codes,
            file_wide,
            // Set by the line it covers; none follows: nothing.
            scope: 0..0,
            reason,
        });
    }
    out
}

/// What an `ignore` above `next` (a line that is not a comment or blank)
/// covers: that line, extended to its whole assignment, or to the whole
/// section for a header.
fn scope_of(file: &UnitFile, next: &PhysicalLine) -> Range<usize> {
    let text = file.text();
    let start = next.span.start;
    if let Some(section) = file
        .sections
        .iter()
        .position(|s| s.span.start == start || s.span.contains(&start))
    {
        let end = file
            .sections
            .get(section + 1)
            .map_or(text.len(), |s| s.span.start);
        return start..end;
    }
    match file.assignments.iter().find(|a| a.span.contains(&start)) {
        Some(a) => start..a.span.end.max(start + 1),
        None => start..next.span.end.max(start + 1),
    }
}

/// Drops suppressed findings; returns the unused suppressions as CAP901
/// findings. `ran` tells whether a check (by code) was run, so that a
/// suppression for a deselected check is not called unused.
pub fn apply(
    findings: &mut Vec<Finding>,
    files: &[&UnitFile],
    unit: &str,
    ran: &dyn Fn(&str) -> bool,
) -> Vec<Finding> {
    let mut unused = Vec::new();
    for file in files {
        let suppressions = parse(file);
        if suppressions.is_empty() {
            continue;
        }
        let mut used: Vec<Vec<bool>> = suppressions
            .iter()
            .map(|s| vec![false; s.codes.len()])
            .collect();
        findings.retain(|f| {
            if f.path != file.path {
                return true;
            }
            let mut keep = true;
            for (s, used) in suppressions.iter().zip(used.iter_mut()) {
                let covers = s.file_wide || s.scope.contains(&f.span.start);
                if let (true, Some(i)) = (covers, s.matches(f.code, f.name)) {
                    used[i] = true;
                    keep = false;
                }
            }
            keep
        });
        // Unused suppressions are findings too (CAP901), and can themselves
        // be suppressed: decide which are reported before marking.
        let mut report = Vec::new();
        for (i, s) in suppressions.iter().enumerate() {
            for (j, code) in s.codes.iter().enumerate() {
                if used[i][j] || code.eq_ignore_ascii_case("all") {
                    continue;
                }
                let message = match checks::find(code) {
                    None => format!("'{code}' is not a capcheck check, so this suppresses nothing"),
                    Some(r) if !ran(r.meta().code) => continue,
                    Some(r) if r.meta().code == "CAP901" => continue,
                    Some(r) => format!(
                        "{} ({}) is not reported here; remove this suppression",
                        r.meta().code,
                        r.meta().name
                    ),
                };
                report.push((i, message));
            }
        }
        for (i, message) in report {
            let start = suppressions[i].span.start;
            let silenced = suppressions
                .iter()
                .zip(used.iter_mut())
                .find_map(|(t, used)| {
                    let covers = t.file_wide || t.scope.contains(&start);
                    covers
                        .then(|| t.matches("CAP901", "unused-suppression"))
                        .flatten()
                        .map(|k| used[k] = true)
                });
            if silenced.is_none() {
                unused.push(unused_finding(file, &suppressions[i], unit, message));
            }
        }
        for (s, used) in suppressions.iter().zip(&used) {
            for (code, used) in s.codes.iter().zip(used) {
                let is_cap901 = checks::find(code).is_some_and(|r| r.meta().code == "CAP901");
                if is_cap901 && !used {
                    let message =
                        "CAP901 (unused-suppression) is not reported here; remove this suppression"
                            .to_string();
                    unused.push(unused_finding(file, s, unit, message));
                }
            }
        }
    }
    unused
}

fn unused_finding(file: &UnitFile, s: &Suppression, unit: &str, message: String) -> Finding {
    let meta = checks::find("CAP901").expect("CAP901 is registered").meta();
    Finding {
        code: meta.code,
        name: meta.name,
        severity: meta.default_severity,
        message,
        unit: unit.to_string(),
        path: file.path.clone(),
        position: crate::finding::position(&file.tree, &s.span),
        span: s.span.clone(),
        label: "unused suppression".to_string(),
        help: Some("remove the comment, or fix the code it names".to_string()),
        fix: None,
        source: Some(file.tree.source.text.clone()),
    }
}
