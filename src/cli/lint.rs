//! `capcheck lint`.

use super::args::LintArgs;
use super::ExitStatus;
use crate::checks::binary::HostInspector;
use crate::checks::{platform, CheckOptions};
use crate::finding::Severity;
use crate::lint::Rules;
use crate::load::targets::{resolve, stdin_target, Scope, Target};
use crate::report::{self, Format, Rendered};
use rayon::prelude::*;
use std::io::{Read, Write};
use std::path::Path;

pub fn run(args: &LintArgs) -> ExitStatus {
    let config = match super::load_config(args.config.as_deref(), args.isolated) {
        Ok(c) => c,
        Err(message) => {
            eprintln!("capcheck: {message}");
            return ExitStatus::Error;
        }
    };
    let rules = match Rules::new(&config, &args.select, &args.ignore) {
        Ok(r) => r,
        Err(e) => {
            eprintln!(
                "capcheck: unknown check or invalid pattern '{}' (see `capcheck rules`)",
                e.0
            );
            return ExitStatus::Error;
        }
    };
    let platform_name = args.platform.clone().or_else(|| config.platform.clone());
    let platform = match platform_name.as_deref().map(|n| (n, platform::find(n))) {
        None => None,
        Some((_, Some(p))) => Some(p),
        Some((name, None)) => {
            let known: Vec<_> = platform::all().iter().map(|p| p.name.as_str()).collect();
            eprintln!(
                "capcheck: unknown platform '{name}' (known: {})",
                known.join(", ")
            );
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
            eprintln!("capcheck: {e}");
            return ExitStatus::Error;
        }
    };
    let mut printer = report::Printer::new(format, color);
    let mut linted = 0;
    // Units are linted in parallel, a batch at a time; each batch is
    // printed in the operands' order before the next one starts, so
    // memory stays flat however many units there are.
    for batch in targets.chunks(BATCH) {
        let results: Vec<Result<Rendered, Option<String>>> = batch
            .par_iter()
            .map(|target| {
                super::load_target(target).map(|unit| printer.render(rules.lint(&unit, &options)))
            })
            .collect();
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
        out.write(&format!("{}\n", report::summary(&tally, linted)));
    }
    if let Err(e) = out.close() {
        errors.push(e);
    }
    for e in &errors {
        eprintln!("capcheck: {e}");
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

fn targets(args: &LintArgs, scope: &Scope) -> (Vec<Target>, Vec<String>) {
    let (files, stdin): (Vec<String>, Vec<String>) =
        args.units.operands.iter().cloned().partition(|o| o != "-");
    let (mut targets, errors) = resolve(&files, scope);
    let mut errors: Vec<String> = errors
        .into_iter()
        .map(|e| format!("{}: {}", e.operand, e.message))
        .collect();
    if !stdin.is_empty() {
        let mut bytes = Vec::new();
        let name = args
            .stdin_filename
            .clone()
            .unwrap_or_else(|| "stdin.service".into());
        match std::io::stdin().read_to_end(&mut bytes) {
            Ok(_) => match stdin_target(&name, bytes, scope) {
                Ok(t) => targets.push(t),
                Err(e) => errors.push(format!("{}: {e}", name.display())),
            },
            Err(e) => errors.push(format!("standard input: {e}")),
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
    writer: std::io::BufWriter<Box<dyn Write>>,
    name: String,
    error: Option<std::io::Error>,
}

impl Output {
    fn open(file: Option<&Path>) -> Result<Output, String> {
        let (sink, name): (Box<dyn Write>, String) = match file {
            Some(path) => (
                Box::new(
                    std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?,
                ),
                path.display().to_string(),
            ),
            None => (Box::new(std::io::stdout()), "standard output".to_string()),
        };
        Ok(Output {
            writer: std::io::BufWriter::with_capacity(1 << 16, sink),
            name,
            error: None,
        })
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
        match self.error.take().map_or(flushed, Err) {
            Ok(()) => Ok(()),
            Err(e) => Err(format!("{}: {e}", self.name)),
        }
    }
}
