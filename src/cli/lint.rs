//! `capcheck lint`.

use super::args::LintArgs;
use super::ExitStatus;
use crate::checks::binary::HostInspector;
use crate::checks::{platform, CheckOptions};
use crate::finding::{Finding, Severity};
use crate::lint::Rules;
use crate::load::targets::{resolve, stdin_target, Scope, Target};
use crate::report::{self, Format};
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
    let scope = Scope {
        root: args.units.root.clone(),
        user_manager: args.user,
    };
    let (targets, mut errors) = targets(args, &scope);
    let inspector = HostInspector {
        root: args.units.root.clone().unwrap_or_else(|| "/".into()),
    };
    let options = CheckOptions {
        platform,
        binaries: &inspector,
        min_risk: rules.min_risk(),
    };
    // Units are linted in parallel; collecting keeps the operands' order.
    let results: Vec<Result<Vec<Finding>, Option<String>>> = targets
        .par_iter()
        .map(|target| super::load_target(target).map(|unit| rules.lint(&unit, &options)))
        .collect();
    let mut findings: Vec<Finding> = Vec::new();
    let mut linted = 0;
    for result in results {
        match result {
            Ok(f) => {
                linted += 1;
                findings.extend(f);
            }
            Err(Some(e)) => errors.push(e),
            Err(None) => {}
        }
    }
    let format = args.format.unwrap_or_else(|| {
        if std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true") {
            Format::Github
        } else {
            Format::Full
        }
    });
    let color = format == Format::Full && super::use_color(args.color, args.output_file.is_none());
    let mut output = report::render(format, &findings, color);
    if format.is_human() && !args.quiet {
        output.push_str(&report::summary(&findings, linted));
        output.push('\n');
    }
    if let Err(e) = write_output(args.output_file.as_deref(), &output) {
        errors.push(e);
    }
    for e in &errors {
        eprintln!("capcheck: {e}");
    }
    let fail_on = args.fail_on.or(config.fail_on).unwrap_or(Severity::Warning);
    if !errors.is_empty() {
        ExitStatus::Error
    } else if !args.exit_zero && findings.iter().any(|f| f.severity >= fail_on) {
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

fn write_output(file: Option<&Path>, output: &str) -> Result<(), String> {
    match file {
        Some(path) => std::fs::write(path, output).map_err(|e| format!("{}: {e}", path.display())),
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(output.as_bytes())
                .and_then(|_| out.flush())
                .map_err(|e| format!("standard output: {e}"))
        }
    }
}
