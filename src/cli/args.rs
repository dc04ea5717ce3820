//! The command line, defined once with clap.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Finds over-privileged systemd services and rewrites them to run as
/// non-root with exactly the Linux capabilities they need.
#[derive(Debug, Parser)]
#[command(name = "capcheck", version = crate::cli::VERSION, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print each unit's effective privileges as systemd 252 reads them,
    /// with the file and line every value came from.
    Show(ShowArgs),
}

/// Which units to read.
#[derive(Debug, Args)]
pub struct UnitSelection {
    /// Unit files, directories of unit files, or unit names (looked up in
    /// the search path; under --root when given).
    pub operands: Vec<String>,

    /// Read units from this image or tree instead of the host.
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,

    /// Use the user manager's search path.
    #[arg(long)]
    pub user: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ShowFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    #[command(flatten)]
    pub units: UnitSelection,

    /// Output format.
    #[arg(long, value_enum, default_value_t = ShowFormat::Text)]
    pub format: ShowFormat,
}
