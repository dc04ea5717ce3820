//! `capcheck show`.

use super::args::{ShowArgs, ShowFormat};
use super::ExitStatus;
use crate::load::targets::resolve;
use crate::model::privileges;
use crate::report::show;
use std::io::Write;

pub fn run(args: &ShowArgs) -> ExitStatus {
    // show reads no configuration file: --systemd or the system's release.
    let scope = match super::scope(&args.units, args.user, &Default::default()) {
        Ok(scope) => scope,
        Err(e) => {
            eprintln!("capcheck: {e}");
            return ExitStatus::Error;
        }
    };
    let (targets, errors) = resolve(&args.units.operands, &scope);
    super::print_target_notes(&targets, &scope, &args.units.operands);
    let models: Vec<_> = targets.iter().map(|t| privileges(&t.load())).collect();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let written = match args.format {
        ShowFormat::Json => {
            let array: Vec<_> = models.iter().map(show::to_json).collect();
            writeln!(out, "{}", crate::report::escape::json(&array))
        }
        ShowFormat::Text => models.iter().enumerate().try_for_each(|(i, m)| {
            let sep = if i == 0 { "" } else { "\n" };
            write!(out, "{sep}{}", show::to_text(m))
        }),
    };
    if written.is_err() {
        return ExitStatus::Error;
    }
    for e in &errors {
        super::print_error(&format!("{}: {}", e.operand, e.message));
    }
    if !errors.is_empty() || (args.units.operands.is_empty() && args.units.root.is_none()) {
        if args.units.operands.is_empty() && args.units.root.is_none() {
            eprintln!(
                "capcheck: nothing to show: give unit files, directories, unit names or --root"
            );
        }
        ExitStatus::Error
    } else if models.iter().any(|m| !m.loaded) {
        ExitStatus::Failure
    } else {
        ExitStatus::Success
    }
}
