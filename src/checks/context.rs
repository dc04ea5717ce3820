//! What a check sees (the unit, its files, its model, the options) and how
//! it reports.

use super::binary::{BinaryInfo, BinaryInspector};
use super::platform::Platform;
use super::Meta;
use crate::finding::{position, Finding, Fix, Severity};
use crate::load::Unit;
use crate::model::{Origin, Privileges};
use crate::syntax::logical::UnitFile;
use std::ops::Range;

/// Settings that change what checks report.
pub struct CheckOptions<'a> {
    /// The platform the units are meant for (`--platform`).
    pub platform: Option<&'static Platform>,
    /// Reads the ExecStart binaries (host or `--root`).
    pub binaries: &'a dyn BinaryInspector,
    /// The lowest capability risk CAP302 reports.
    pub min_risk: crate::caps::Risk,
}

/// One unit, as the checks see it.
pub struct Context<'a> {
    pub unit: &'a Unit,
    pub model: &'a Privileges,
    /// The unit's files, fragment first (indices match [`Origin::file_index`]).
    pub files: Vec<&'a UnitFile>,
    pub options: &'a CheckOptions<'a>,
    current: Option<&'static Meta>,
    findings: Vec<Finding>,
}

impl<'a> Context<'a> {
    pub fn new(
        unit: &'a Unit,
        model: &'a Privileges,
        options: &'a CheckOptions<'a>,
    ) -> Context<'a> {
        Context {
            unit,
            model,
            files: unit.files().collect(),
            options,
            current: None,
            findings: Vec::new(),
        }
    }

    /// Runs `check` and keeps what it reports.
    pub fn run(&mut self, check: &dyn super::Check) {
        self.current = Some(check.meta());
        check.check(self);
        self.current = None;
    }

    pub fn into_findings(self) -> Vec<Finding> {
        self.findings
    }

    /// Reports a finding at `span` of file `file_index`.
    pub fn report(
        &mut self,
        file_index: usize,
        span: Range<usize>,
        message: impl Into<String>,
    ) -> &mut Finding {
        let meta = self.current.expect("report is called from a running check");
        let file = self.files[file_index];
        let finding = Finding {
            code: meta.code,
            name: meta.name,
            severity: meta.default_severity,
            message: message.into(),
            unit: self.model.unit.clone(),
            path: file.path.clone(),
            position: position(&file.tree, &span),
            span,
            label: String::new(),
            help: None,
            fix: None,
            source: Some(file.tree.source.text.clone()),
        };
        self.findings.push(finding);
        self.findings.last_mut().expect("just pushed")
    }

    /// Reports at the assignment an origin points to (key to end of value).
    pub fn report_origin(&mut self, origin: &Origin, message: impl Into<String>) -> &mut Finding {
        let a = &self.files[origin.file_index].assignments[origin.assignment];
        let span = a.span.clone();
        self.report(origin.file_index, span, message)
    }

    /// Reports about the unit as a whole, at its `[Service]` (or other exec
    /// section) header in the fragment, or its first line.
    pub fn report_unit(&mut self, message: impl Into<String>) -> &mut Finding {
        let span = self.exec_section_span();
        self.report(0, span, message)
    }

    /// The first header of the unit's exec section in the fragment (or its
    /// first section header, when it has no exec section).
    pub fn exec_section_span(&self) -> Range<usize> {
        let Some(fragment) = self.files.first() else {
            return 0..0;
        };
        let own = self.unit.name.unit_type.own_section();
        fragment
            .sections
            .iter()
            .find(|s| Some(s.name.as_str()) == own)
            .or(fragment.sections.first())
            .map(|s| s.span.clone())
            .or_else(|| fragment.tree.lines().next().map(|l| l.span))
            .unwrap_or(0..0)
    }

    /// Every assignment of `key` in the unit's exec section, in the order
    /// systemd applies them, as origins.
    pub fn assignments_of(&self, key: &str) -> Vec<Origin> {
        let own = self.unit.name.unit_type.own_section();
        let mut out = Vec::new();
        for (file_index, file) in self.files.iter().enumerate() {
            for (index, a) in file.assignments.iter().enumerate() {
                let section = file.section_of(a);
                if a.key == key && section.known && Some(section.name.as_str()) == own {
                    out.push(Origin::of(file, file_index, index));
                }
            }
        }
        out
    }

    /// The Exec commands whose binaries exist here, with what they are (for
    /// `|`, the shell that runs the command line); `+` commands (never
    /// sandboxed) always left out, `!` ones too unless `with_no_setuid`.
    pub fn exec_binaries(
        &self,
        with_no_setuid: bool,
    ) -> Vec<(&'a crate::model::Command, BinaryInfo)> {
        use crate::model::exec::Prefix;
        self.model
            .commands
            .iter()
            .filter(|c| {
                !c.command.has(Prefix::FullyPrivileged)
                    && (with_no_setuid || !c.command.has(Prefix::NoSetuid))
            })
            .filter_map(|c| {
                let binaries = self.options.binaries;
                let path = if c.command.has(Prefix::ViaShell) {
                    binaries.shell(self.model.user.value.as_deref().unwrap_or("root"))
                } else {
                    c.command.path.clone()
                };
                binaries.inspect(&path).map(|info| (c, info))
            })
            .collect()
    }

    /// The file and span of an origin's value (for labels on the value).
    pub fn value_span(&self, origin: &Origin) -> Range<usize> {
        let a = &self.files[origin.file_index].assignments[origin.assignment];
        match (a.value_spans.first(), a.value_spans.last()) {
            (Some(first), Some(last)) => first.start..last.end,
            _ => a.span.clone(),
        }
    }
}

impl Finding {
    pub fn severity(&mut self, severity: Severity) -> &mut Finding {
        self.severity = severity;
        self
    }

    pub fn help(&mut self, help: impl Into<String>) -> &mut Finding {
        self.help = Some(help.into());
        self
    }

    pub fn label(&mut self, label: impl Into<String>) -> &mut Finding {
        self.label = label.into();
        self
    }

    pub fn fix(&mut self, fix: Fix) -> &mut Finding {
        self.fix = Some(fix);
        self
    }
}
