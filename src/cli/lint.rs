//! `capcheck lint`.

use super::args::LintArgs;
use super::ExitStatus;
use crate::checks::binary::HostInspector;
use crate::checks::{platform, CheckOptions};
use crate::config::Config;
use crate::finding::Severity;
use crate::lint::Rules;
use crate::load::read_within_limit;
use crate::load::targets::{map_in_order, resolve, stdin_target, Scope, Target};
use crate::report::{self, Format, Rendered};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

pub fn run(args: &LintArgs) -> ExitStatus {
    let config = match super::load_config(args.config.as_deref(), args.isolated) {
        Ok(c) => c,
        Err(message) => {
            super::print_error(&message);
            return ExitStatus::Error;
        }
    };
    let rules = match Rules::new(&config, &args.select, &args.ignore) {
        Ok(r) => r,
        Err(e) => {
            super::print_error(&format!(
                "unknown check or invalid pattern '{}' (see `capcheck rules`)",
                e.0
            ));
            return ExitStatus::Error;
        }
    };
    if let Some(file) = &config.file {
        warn_if_silenced(file, &rules, args);
    }
    let platform_name = args.platform.as_ref().or(config.platform.as_ref());
    let platform = match platform_name.map(|name| platform::lookup(name)).transpose() {
        Ok(p) => p,
        Err(e) => {
            super::print_error(&e);
            return ExitStatus::Error;
        }
    };
    let scope = match super::scope(&args.units, args.user, &config) {
        Ok(scope) => scope,
        Err(e) => {
            eprintln!("capcheck: {e}");
            return ExitStatus::Error;
        }
    };
    let (targets, mut errors) = targets(args, &scope);
    if !args.quiet {
        super::print_target_notes(&targets, &scope, &args.units.operands);
    }
    let inspector = HostInspector::new(args.units.root.clone().unwrap_or_else(|| "/".into()));
    let options = CheckOptions {
        platform,
        binaries: &inspector,
        min_risk: rules.min_risk(),
    };
    let format = args.format.unwrap_or_else(|| {
        if std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true") {
            Format::Github
        } else {
            Format::Full
        }
    });
    let color = format == Format::Full && super::use_color(args.color, args.output_file.is_none());
    let mut out = match Output::open(args.output_file.as_deref()) {
        Ok(out) => out,
        Err(e) => {
            super::print_error(&e);
            return ExitStatus::Error;
        }
    };
    let mut printer = report::Printer::new(format, color);
    let mut linted = 0;
    // Units are linted in parallel, a batch at a time; each batch is
    // printed in the operands' order before the next one starts, so
    // memory stays flat however many units there are.
    for batch in targets.chunks(BATCH) {
        let results: Vec<Result<Rendered, Option<String>>> = map_in_order(batch, |target| {
            super::load_target(target).map(|unit| printer.render(rules.lint(&unit, &options)))
        });
        for result in results {
            match result {
                Ok(rendered) => {
                    linted += 1;
                    out.write(&printer.print(rendered));
                }
                Err(Some(e)) => errors.push(e),
                Err(None) => {}
            }
        }
    }
    let tally = printer.tally;
    out.write(&printer.finish());
    if format.is_human() && !args.quiet {
        let summary = report::summary(&tally, linted, config.file.as_deref());
        out.write(&format!("{summary}\n"));
    }
    if let Err(e) = out.close() {
        errors.push(e);
    }
    for e in &errors {
        super::print_error(e);
    }
    let fail_on = args.fail_on.or(config.fail_on).unwrap_or(Severity::Warning);
    if !errors.is_empty() {
        ExitStatus::Error
    } else if !args.exit_zero && tally.worst >= Some(fail_on) {
        ExitStatus::Failure
    } else {
        ExitStatus::Success
    }
}

/// Warns (on standard error, whatever the format) when the configuration
/// file leaves nothing to report: a repository's configuration could
/// otherwise silence every check without a trace.
fn warn_if_silenced(file: &Path, rules: &Rules, args: &LintArgs) {
    let file = file.display();
    let without_file = Rules::new(&Config::default(), &args.select, &args.ignore);
    if !rules.runs_any() && without_file.is_ok_and(|r| r.runs_any()) {
        super::print_error(&format!(
            "warning: {file} turns off every check (select, ignore, severity): nothing is reported"
        ));
    } else if rules.runs_any() && rules.ignores_every_path() {
        super::print_error(&format!(
            "warning: {file} ignores every check for every path (per-path-ignores): nothing is reported"
        ));
    }
}

fn targets(args: &LintArgs, scope: &Scope) -> (Vec<Target>, Vec<String>) {
    let (files, stdin): (Vec<String>, Vec<String>) =
        args.units.operands.iter().cloned().partition(|o| o != "-");
    let (mut targets, errors) = resolve(&files, scope);
    let mut errors: Vec<String> = errors
        .into_iter()
        .map(|e| format!("{}: {}", e.operand, e.message))
        .collect();
    if !stdin.is_empty() {
        let name = args
            .stdin_filename
            .clone()
            .unwrap_or_else(|| "stdin.service".into());
        match read_within_limit(std::io::stdin().lock(), 0) {
            Ok(bytes) => match stdin_target(&name, bytes, scope) {
                Ok(t) => targets.push(t),
                Err(e) => errors.push(format!("{}: {e}", name.display())),
            },
            Err(e) => errors.push(format!("{} (standard input): {e}", name.display())),
        }
    }
    if args.units.operands.is_empty() && scope.root.is_none() {
        errors.push(
            "nothing to lint: give unit files, directories, unit names, - or --root".to_string(),
        );
    }
    (targets, errors)
}

/// Units linted together before their findings are printed: enough to
/// keep both cores busy, few enough that findings never pile up.
const BATCH: usize = 1024;

/// Standard output or `--output-file`, written as findings arrive. The
/// first write error is kept and reported at the end.
struct Output {
    writer: BufWriter<Box<dyn Write>>,
    name: String,
    /// For `--output-file`: the new file written, renamed over the path at
    /// the end.
    replacing: Option<Replacement>,
    error: Option<std::io::Error>,
}

/// The path may be a symlink a repository planted (`report.sarif ->
/// ~/.bashrc`): the report goes to a new file beside it, which then
/// replaces the link (or file) itself, so that nothing is written through
/// a link, and a report is never seen half written.
struct Replacement {
    file: File,
    temporary: PathBuf,
    path: PathBuf,
}

impl Output {
    fn open(file: Option<&Path>) -> Result<Output, String> {
        let Some(path) = file else {
            return Ok(Output::new(
                Box::new(std::io::stdout()),
                "standard output",
                None,
            ));
        };
        let name = path.display().to_string();
        let replacement = Replacement::create(path).map_err(|e| format!("{name}: {e}"))?;
        let sink = replacement
            .file
            .try_clone()
            .map_err(|e| format!("{name}: {e}"))?;
        Ok(Output::new(Box::new(sink), &name, Some(replacement)))
    }

    fn new(sink: Box<dyn Write>, name: &str, replacing: Option<Replacement>) -> Output {
        Output {
            writer: BufWriter::with_capacity(1 << 16, sink),
            name: name.to_string(),
            replacing,
            error: None,
        }
    }

    fn write(&mut self, text: &str) {
        if self.error.is_none() {
            if let Err(e) = self.writer.write_all(text.as_bytes()) {
                self.error = Some(e);
            }
        }
    }

    fn close(mut self) -> Result<(), String> {
        let flushed = self.writer.flush();
        let mut result = self.error.take().map_or(flushed, Err);
        if let Some(replacement) = self.replacing {
            result = replacement.finish(result);
        }
        result.map_err(|e| format!("{}: {e}", self.name))
    }
}

impl Replacement {
    /// A new file in `path`'s directory, made with O_EXCL and O_NOFOLLOW:
    /// nothing that exists there, link or not, is opened. An existing
    /// file's permissions are kept.
    fn create(path: &Path) -> std::io::Result<Replacement> {
        let existing = std::fs::symlink_metadata(path).ok();
        if existing.as_ref().is_some_and(|m| m.is_dir()) {
            return Err(std::io::Error::from(std::io::ErrorKind::IsADirectory));
        }
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = path
            .file_name()
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::InvalidInput))?
            .to_string_lossy();
        let mut attempt = 0;
        let (temporary, file) = loop {
            let temporary = dir.join(format!(
                ".{name}.capcheck-{}-{attempt}.tmp",
                std::process::id()
            ));
            let created = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .open(&temporary);
            match created {
                Ok(file) => break (temporary, file),
                // Someone else's file by that name: take another.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 100 => {
                    attempt += 1
                }
                Err(e) => return Err(e),
            }
        };
        if let Some(m) = existing.filter(|m| m.is_file()) {
            file.set_permissions(m.permissions())?;
        }
        Ok(Replacement {
            file,
            temporary,
            path: path.to_path_buf(),
        })
    }

    /// Puts the file in place when it was `written` completely, else (or
    /// if that fails) removes it.
    fn finish(self, written: std::io::Result<()>) -> std::io::Result<()> {
        let renamed = written
            .and_then(|()| self.file.sync_all())
            .and_then(|()| std::fs::rename(&self.temporary, &self.path));
        if renamed.is_err() {
            let _ = std::fs::remove_file(&self.temporary);
        }
        renamed
    }
}
