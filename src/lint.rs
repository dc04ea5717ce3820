//! Linting a unit: model it, run the selected checks, apply suppressions,
//! severities and per-path ignores.

use crate::caps::Risk;
use crate::checks::{self, CheckOptions, Context, Registered};
use crate::config::Config;
use crate::finding::{Finding, Severity};
use crate::load::Unit;
use crate::model::privileges;
use crate::suppress;
use globset::{Glob, GlobSet, GlobSetBuilder};
use std::collections::BTreeMap;

/// Which checks run and how their findings are graded.
pub struct Rules {
    selected: Vec<&'static Registered>,
    /// The codes of the selected checks that are not `off`: asked for
    /// every check and finding of every unit.
    running: Vec<&'static str>,
    severity: BTreeMap<&'static str, Option<Severity>>,
    per_path: Vec<(GlobSet, Vec<&'static str>)>,
    min_risk: Risk,
}

/// A selector that names no check.
#[derive(Debug)]
pub struct UnknownSelector(pub String);

fn resolve(selectors: &[String]) -> Result<Vec<&'static Registered>, UnknownSelector> {
    let mut out = Vec::new();
    for s in selectors {
        let matched: Vec<_> = checks::all().iter().filter(|r| r.selected_by(s)).collect();
        if matched.is_empty() {
            return Err(UnknownSelector(s.clone()));
        }
        out.extend(matched);
    }
    Ok(out)
}

impl Rules {
    /// Combines the configuration file with the command line (`select` and
    /// `ignore` from the command line come last and win).
    pub fn new(
        config: &Config,
        select: &[String],
        ignore: &[String],
    ) -> Result<Rules, UnknownSelector> {
        let select = if !select.is_empty() {
            select.to_vec()
        } else {
            config
                .select
                .clone()
                .unwrap_or_else(|| vec!["ALL".to_string()])
        };
        let chosen = resolve(&select)?;
        let mut ignored = resolve(&config.ignore)?;
        ignored.extend(resolve(ignore)?);
        let selected: Vec<&'static Registered> = checks::all()
            .iter()
            .filter(|r| {
                chosen.iter().any(|c| std::ptr::eq(*c, *r))
                    && !ignored.iter().any(|i| std::ptr::eq(*i, *r))
            })
            .collect();
        let mut severity = BTreeMap::new();
        for (selector, level) in &config.severity {
            for r in resolve(std::slice::from_ref(selector))? {
                severity.insert(r.meta().code, level.severity());
            }
        }
        let mut per_path = Vec::new();
        let base = std::path::absolute(&config.base).unwrap_or_else(|_| config.base.clone());
        for (pattern, codes) in &config.per_path_ignores {
            // Patterns are relative to the configuration file's directory
            // and matched against absolute paths.
            let joined = base.join(pattern);
            let mut set = GlobSetBuilder::new();
            for p in [pattern.clone(), joined.display().to_string()] {
                set.add(Glob::new(&p).map_err(|e| UnknownSelector(format!("{pattern}: {e}")))?);
            }
            let set = set
                .build()
                .map_err(|e| UnknownSelector(format!("{pattern}: {e}")))?;
            let codes = resolve(codes)?.into_iter().map(|r| r.meta().code).collect();
            per_path.push((set, codes));
        }
        let running = selected
            .iter()
            .map(|r| r.meta().code)
            .filter(|code| {
                severity
                    .get(code)
                    .is_none_or(|s: &Option<Severity>| s.is_some())
            })
            .collect();
        Ok(Rules {
            selected,
            running,
            severity,
            per_path,
            min_risk: config
                .checks
                .dangerous_capability
                .min_risk
                .unwrap_or(Risk::Medium),
        })
    }

    /// The lowest risk CAP302 reports (`[checks.dangerous-capability]`).
    pub fn min_risk(&self) -> Risk {
        self.min_risk
    }

    pub fn selected(&self) -> &[&'static Registered] {
        &self.selected
    }

    fn runs(&self, code: &str) -> bool {
        self.running.contains(&code)
    }

    /// The checks that run (selected, not ignored, not `off`).
    fn running(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.running.iter().copied()
    }

    /// Whether any check runs at all.
    pub fn runs_any(&self) -> bool {
        self.running().next().is_some()
    }

    /// Whether per-path ignores drop every finding of every file: for each
    /// check that runs, a pattern that matches any path (`**`, `*`) ignores
    /// it.
    pub fn ignores_every_path(&self) -> bool {
        let any_path = |set: &GlobSet| {
            ["x.service", "/x.service", "a/b/x.service", "/a/b/x.service"]
                .iter()
                .all(|p| set.is_match(p))
        };
        self.running().all(|code| {
            self.per_path
                .iter()
                .any(|(set, codes)| codes.contains(&code) && any_path(set))
        })
    }

    /// Lints one unit: every selected check, then suppressions, then the
    /// configured severities and per-path ignores. Sorted by file and line.
    pub fn lint(&self, unit: &Unit, options: &CheckOptions) -> Vec<Finding> {
        let model = privileges(unit);
        let mut cx = Context::new(unit, &model, options);
        for r in &self.selected {
            if self.runs(r.meta().code) {
                cx.run(r.check);
            }
        }
        let files = cx.files.clone();
        let mut findings = cx.into_findings();
        let unused = suppress::apply(&mut findings, &files, &model.unit, &|code| self.runs(code));
        if self.runs("CAP901") {
            findings.extend(unused);
        }
        findings.retain_mut(|f| {
            if let Some(level) = self.severity.get(f.code) {
                match level {
                    Some(s) => f.severity = *s,
                    None => return false,
                }
            }
            let ignoring: Vec<_> = self
                .per_path
                .iter()
                .filter(|(_, codes)| codes.contains(&f.code))
                .collect();
            if ignoring.is_empty() {
                return true;
            }
            let absolute = std::path::absolute(&f.path).unwrap_or_else(|_| f.path.clone());
            !ignoring
                .iter()
                .any(|(set, _)| set.is_match(&f.path) || set.is_match(&absolute))
        });
        if unit.is_generated() {
            name_the_generator(&mut findings, unit);
        }
        findings.sort_by(|a, b| {
            (&a.path, a.position.line, a.position.column, a.code).cmp(&(
                &b.path,
                b.position.line,
                b.position.column,
                b.code,
            ))
        });
        findings
    }
}

/// A unit a generator wrote is fixed elsewhere than in its file, which
/// systemd writes anew at each boot: each finding says what the unit was
/// made from (`SourcePath=`, the init script) and where a fix goes.
fn name_the_generator(findings: &mut [Finding], unit: &Unit) {
    let from = match unit.source_path() {
        Some(source) => format!("generated at boot from {source}"),
        None => "generated at boot by a systemd generator".to_string(),
    };
    let advice = format!(
        "the unit is {from}: change it with a drop-in in /etc/systemd/system/{}.d/ \
         (`capcheck fix --write` writes one), which outlasts reboots",
        unit.name
    );
    for finding in findings {
        finding.message = format!("{} ({from})", finding.message);
        finding.help = Some(match finding.help.take() {
            Some(help) => format!("{help}\n{advice}"),
            None => advice.clone(),
        });
    }
}
