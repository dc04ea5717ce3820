//! Wires the subcommands to the library; `main` only maps the result to an
//! exit code.

pub mod args;
mod fix;
mod lint;
mod record;
mod rules;
mod show;
mod try_fix;
mod user_run;

use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;

/// capcheck's version and the systemd releases whose semantics it follows
/// (`Semantics::OLDEST` to `Semantics::NEWEST`, checked by a test).
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (systemd 252–262 semantics)");

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
        args::Command::Fix(a) => fix::run(&a),
        args::Command::Record(a) => record::record(&a),
        args::Command::Run(a) => record::run(&a),
        args::Command::Try(a) => try_fix::run(&a),
        args::Command::Profile(c) => record::profile(&c),
        args::Command::Completions(a) => {
            let mut command = <args::Cli as clap::CommandFactory>::command();
            clap_complete::generate(a.shell, &mut command, "capcheck", &mut std::io::stdout());
            ExitStatus::Success
        }
        args::Command::Man => {
            let command = <args::Cli as clap::CommandFactory>::command();
            match clap_mangen::Man::new(command).render(&mut std::io::stdout()) {
                Ok(()) => ExitStatus::Success,
                Err(_) => ExitStatus::Error,
            }
        }
    }
}

/// The configuration: `--config`, or discovered from the current
/// directory up, or none with `--isolated`.
fn load_config(
    path: Option<&std::path::Path>,
    isolated: bool,
) -> Result<crate::config::Config, String> {
    use crate::config::Config;
    if isolated {
        return Ok(Config::default());
    }
    let path = match path {
        Some(p) => Some((p.to_path_buf(), p.to_path_buf())),
        None => std::env::current_dir().ok().and_then(|cwd| {
            let found = Config::discover(&cwd)?;
            // Named from here in messages (./capcheck.toml, ../capcheck.toml).
            let below = found.parent().and_then(|dir| cwd.strip_prefix(dir).ok())?;
            let dir: PathBuf = match below.components().count() {
                0 => ".".into(),
                levels => std::iter::repeat_n("..", levels).collect(),
            };
            let shown = dir.join(found.file_name()?);
            Some((found, shown))
        }),
    };
    match path {
        Some((path, shown)) => Config::load(&path, &shown).map_err(|e| e.to_string()),
        None => Ok(Config::default()),
    }
}

/// Prints an error on standard error. Errors name files, and a file name
/// can hold anything: escaped ([`crate::report::escape`]).
fn print_error(message: &str) {
    eprintln!("capcheck: {}", crate::report::escape::visible(message));
}

/// Where units are read from, and as which systemd release: `--systemd`,
/// else the configuration's `systemd`, else the release the image (or the
/// host) runs. A release that cannot be told, or that capcheck does not
/// know, is noted once on standard error.
fn scope(
    units: &args::UnitSelection,
    user_manager: bool,
    config: &crate::config::Config,
) -> Result<crate::load::targets::Scope, String> {
    let chosen = units.systemd.as_deref().or(config.systemd.as_deref());
    let semantics = semantics(chosen, units.root.as_deref())?;
    Ok(crate::load::targets::Scope::with_semantics(
        units.root.clone(),
        user_manager,
        semantics,
    ))
}

/// The release named (`--systemd` or the configuration), else the one the
/// system at `root` (or the host) runs, with a note when that cannot be
/// told or is one capcheck does not know.
fn semantics(
    chosen: Option<&str>,
    root: Option<&std::path::Path>,
) -> Result<crate::semantics::Semantics, String> {
    use crate::semantics::Semantics;
    let semantics = match chosen {
        Some(release) => Semantics::parse(release).map_err(|e| e.to_string())?,
        None => {
            let system = root.unwrap_or(std::path::Path::new("/"));
            match crate::load::release::detect(system) {
                Some(found) => {
                    let semantics = Semantics::nearest(found.release);
                    if semantics.release() != found.release {
                        eprintln!(
                            "capcheck: note: {} is systemd {}, which capcheck does not know; reading units as {semantics}",
                            found.evidence.display(),
                            found.release
                        );
                    }
                    semantics
                }
                None => {
                    eprintln!(
                        "capcheck: note: cannot tell which systemd {} runs; reading units as {} (--systemd picks another)",
                        system.display(),
                        Semantics::NEWEST
                    );
                    Semantics::NEWEST
                }
            }
        }
    };
    Ok(semantics)
}

/// Notes on what a run checks beside what it was given, on standard
/// error: how templates were checked (systemd never loads one bare), and,
/// for a whole image (`--root` and no operand), that the units generators
/// write at boot are not there.
fn print_target_notes(
    targets: &[crate::load::targets::Target],
    scope: &crate::load::targets::Scope,
    operands: &[String],
) {
    let templates = targets.iter().filter_map(|t| Some((&t.name, t.template?)));
    if let Some(note) = crate::load::instances::note(templates) {
        print_error(&note);
    }
    if let Some(note) = scope.generated_units_note().filter(|_| operands.is_empty()) {
        print_error(&note);
    }
}

/// `auto`: colour on a terminal unless NO_COLOR is set (to anything).
fn use_color(choice: args::ColorChoice, to_stdout: bool) -> bool {
    use std::io::IsTerminal;
    match choice {
        args::ColorChoice::Always => true,
        args::ColorChoice::Never => false,
        args::ColorChoice::Auto => {
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && to_stdout
                && std::io::stdout().is_terminal()
        }
    }
}

/// Loads a target's unit for lint and fix: `Err(Some(message))` when its
/// file cannot be read or found, or one of its drop-ins is over capcheck's
/// limits (systemd would read it: the unit cannot be seen as systemd sees
/// it), `Err(None)` for a unit named only through a drop-in and not
/// installed here (nothing to report).
fn load_target(target: &crate::load::targets::Target) -> Result<crate::load::Unit, Option<String>> {
    use crate::load::Fragment;
    let unit = target.load();
    match &unit.fragment {
        Fragment::Unreadable(path, e) => Err(Some(format!("{}: {e}", path.display()))),
        Fragment::NotFound if target.via_dropin => Err(None),
        Fragment::NotFound => Err(Some(format!("{}: unit not found", unit.name))),
        _ => match unit
            .dropins
            .iter()
            .find_map(|d| Some((&d.path, d.error.as_ref().filter(|e| e.is_limit())?)))
        {
            Some((path, e)) => Err(Some(format!("{}: {e}", path.display()))),
            None => Ok(unit),
        },
    }
}
