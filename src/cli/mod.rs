//! Wires the subcommands to the library; `main` only maps the result to an
//! exit code.

pub mod args;
mod lint;
mod rules;
mod show;

use clap::Parser;
use std::process::ExitCode;

/// capcheck's version and the systemd whose semantics it follows.
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (systemd 252 semantics)");

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Nothing to report.
    Success = 0,
    /// Findings (or, for `show`, a unit that does not load).
    Failure = 1,
    /// A usage or I/O error, reported after everything else was done.
    Error = 2,
}

impl From<ExitStatus> for ExitCode {
    fn from(s: ExitStatus) -> Self {
        ExitCode::from(s as u8)
    }
}

pub fn run() -> ExitStatus {
    let cli = args::Cli::parse();
    match cli.command {
        args::Command::Lint(a) => lint::run(&a),
        args::Command::Show(a) => show::run(&a),
        args::Command::Rules(a) => rules::list(&a),
        args::Command::Explain(a) => rules::explain(&a),
    }
}
