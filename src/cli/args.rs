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
    /// Find over-privileged services and settings that silently do nothing.
    Lint(LintArgs),
    /// Print each unit's effective privileges as its systemd release reads
    /// them, with the file and line every value came from.
    Show(ShowArgs),
    /// List the checks.
    Rules(RulesArgs),
    /// Print a check's documentation.
    Explain(ExplainArgs),
    /// Rewrite units to run as non-root with exactly the capabilities the
    /// evidence shows they need (prints diffs; --write applies them).
    Fix(FixArgs),
    /// Record the capabilities a program really uses (tracefs, as root) into
    /// a profile.
    Record(RecordArgs),
    /// Start a unit's ExecStartPre= and ExecStart= commands with the unit's
    /// privileges, without systemd, and report what they started with.
    Run(RunArgs),
    /// Apply the planned fix to a running service as a runtime drop-in,
    /// restart it, and keep the fix only if the service still works.
    Try(TryArgs),
    /// Merge capability profiles, or import other tools' recordings.
    #[command(subcommand)]
    Profile(ProfileCommand),
    /// Print a shell completion script.
    Completions(CompletionsArgs),
    /// Print the man page (roff).
    Man,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct FixArgs {
    #[command(flatten)]
    pub units: UnitSelection,

    /// Use the user manager's search path.
    #[arg(long)]
    pub user_units: bool,

    #[command(flatten)]
    pub plan: PlanArgs,

    /// Write a drop-in instead of editing the unit file, whatever its path.
    #[arg(long)]
    pub drop_in: bool,

    /// Apply the safe and evidence-based fixes (atomically).
    #[arg(long)]
    pub write: bool,

    /// Write nothing; exit 1 when a fix is pending (for CI and pre-commit).
    #[arg(long, conflicts_with = "write")]
    pub check: bool,

    /// Print plain unified diffs only (no colour, no notes).
    #[arg(long)]
    pub diff: bool,

    /// Output format for the planned changes.
    #[arg(long, value_enum, default_value_t = ShowFormat::Text)]
    pub format: ShowFormat,

    /// When to use colour.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

/// What a fix is planned from: the evidence, the identity asked for, and
/// what is allowed (`fix` and `try`).
#[derive(Debug, Clone, Args)]
pub struct PlanArgs {
    /// Move a root service to this user (created with a sysusers.d file if
    /// the system lacks it) [default: the user the evidence or the unit
    /// names, else a dynamic user]. A program that needs root keeps it.
    #[arg(long, value_name = "NAME", conflicts_with = "dynamic_user")]
    pub user: Option<String>,

    /// Run the service with DynamicUser=yes instead of a named user.
    #[arg(long)]
    pub dynamic_user: bool,

    /// A capability profile (from `capcheck record`, or written by hand);
    /// several are merged.
    #[arg(long = "profile", value_name = "FILE")]
    pub profiles: Vec<PathBuf>,

    /// Use a profile although it was recorded from a run that failed or
    /// was interrupted.
    #[arg(long)]
    pub force: bool,

    /// A capability the service needs (repeatable, or comma-separated).
    #[arg(long = "cap", value_name = "CAP", value_delimiter = ',')]
    pub caps: Vec<String>,

    /// Also apply fixes that are guesses (and show them without --write).
    #[arg(long)]
    pub unsafe_fixes: bool,

    /// The configuration file (as for lint).
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Ignore every configuration file.
    #[arg(long, conflicts_with = "config")]
    pub isolated: bool,
}

#[derive(Debug, Args)]
pub struct TryArgs {
    /// The unit (a name: it runs on this host).
    pub unit: String,

    #[command(flatten)]
    pub plan: PlanArgs,

    /// A command that succeeds when the service does its job (run with
    /// /bin/sh after the settle time, in a process group of its own).
    #[arg(long, value_name = "CMD")]
    pub probe: Option<String>,

    /// How long the restarted service must stay up, not restarting.
    #[arg(long, value_name = "DURATION", default_value = "30s")]
    pub settle: String,

    /// How long the probe may run: then it is killed with its process
    /// group, the trial counts as failed and is rolled back.
    #[arg(long, value_name = "DURATION", default_value = "10s")]
    pub probe_timeout: String,

    /// On success, make the fix persistent (as `fix --write`); with a
    /// pending trial, keep it.
    #[arg(long, conflicts_with = "rollback")]
    pub keep: bool,

    /// Undo a pending trial (one left by a crash, or kept at run time); or,
    /// with none pending, roll back after the verdict.
    #[arg(long)]
    pub rollback: bool,

    /// First record the service into this profile, as `capcheck record
    /// --unit` does (its start: it is stopped for the recording, run again
    /// as a user when the evidence allows, and started again), and plan
    /// from it.
    #[arg(long, value_name = "PROFILE", conflicts_with = "rollback")]
    pub record: Option<PathBuf>,

    /// With --record: record the running service for this long instead of
    /// its start (it is not restarted; a plan from it alone only confines).
    #[arg(long, value_name = "DURATION", requires = "record")]
    pub attach: Option<String>,

    /// With --record: how long the recording of the start runs.
    #[arg(long, value_name = "DURATION", default_value = "25s")]
    pub record_timeout: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Args)]
pub struct LintArgs {
    #[command(flatten)]
    pub units: UnitSelection,

    /// Use the user manager's search path.
    #[arg(long)]
    pub user: bool,

    /// The file name a unit read from standard input (`-`) stands for.
    #[arg(long, value_name = "PATH")]
    pub stdin_filename: Option<PathBuf>,

    /// Output format (default: full; github when GITHUB_ACTIONS=true).
    #[arg(long, value_enum)]
    pub format: Option<crate::report::Format>,

    /// Write the report to this file instead of standard output.
    #[arg(long, value_name = "PATH")]
    pub output_file: Option<PathBuf>,

    /// Exit 0 even when there are findings (2 stays 2).
    #[arg(long)]
    pub exit_zero: bool,

    /// The lowest severity that makes the exit status 1 [default: warning].
    #[arg(long, value_enum, value_name = "SEVERITY")]
    pub fail_on: Option<crate::finding::Severity>,

    /// Checks to run: codes, code prefixes (CAP3) or names; comma-separated.
    #[arg(long, value_delimiter = ',', value_name = "CHECKS")]
    pub select: Vec<String>,

    /// Checks not to run.
    #[arg(long, value_delimiter = ',', value_name = "CHECKS")]
    pub ignore: Vec<String>,

    /// The configuration file (default: capcheck.toml or .capcheck.toml in
    /// the current directory or an ancestor).
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Ignore every configuration file.
    #[arg(long, conflicts_with = "config")]
    pub isolated: bool,

    /// The platform the units run on (talos, kubernetes-restricted,
    /// kubernetes-baseline).
    #[arg(long, value_name = "NAME")]
    pub platform: Option<String>,

    /// When to use colour (auto honours NO_COLOR and terminals).
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,

    /// Print findings only, no summary line.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct RulesArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = ShowFormat::Text)]
    pub format: ShowFormat,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// A check's code or name.
    pub code: String,
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

    /// Read units as this systemd release does (252 to 262) [default: the
    /// release of the --root image, else of this host].
    #[arg(long, value_name = "VERSION")]
    pub systemd: Option<String>,
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

    /// Use the user manager's search path.
    #[arg(long)]
    pub user: bool,

    /// Output format.
    #[arg(long, value_enum, default_value_t = ShowFormat::Text)]
    pub format: ShowFormat,
}

#[derive(Debug, Args)]
pub struct RecordArgs {
    /// Write (or add to) this profile; without it the profile is printed.
    #[arg(short, long, value_name = "PROFILE")]
    pub output: Option<PathBuf>,

    /// Run the program as this user [default: as systemd runs the unit's
    /// commands (User=, root for `!`), or nobody for a command].
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,

    /// Stop the program (its whole process tree) after this long (30s, 2m,
    /// 500ms).
    #[arg(long, value_name = "DURATION", default_value = "30s")]
    pub timeout: String,

    /// A shell command (`/bin/sh -c`, as the invoking user, not recorded)
    /// that tells whether the program works: its exit status decides
    /// whether the recording succeeded.
    #[arg(long, value_name = "CMD")]
    pub probe: Option<String>,

    /// How long the program runs before the probe.
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "2s",
        requires = "probe"
    )]
    pub settle: String,

    /// How long the probe may run: then it is killed with its process
    /// group, and the recording counts as failed.
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "10s",
        requires = "probe"
    )]
    pub probe_timeout: String,

    /// Record a unit's Exec commands (a unit file or name) instead of a
    /// command. The program runs on this host, with its binaries and users:
    /// to record an image's service, run capcheck inside the image.
    #[arg(long, value_name = "PATH|NAME", conflicts_with = "command")]
    pub unit: Option<String>,

    /// Record the running service (--unit) as it is, with no restart: every
    /// process of its control group, and all they fork.
    #[arg(long, requires = "unit", conflicts_with_all = ["user", "probe"])]
    pub attach: bool,

    /// With --attach: how long to record.
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "60s",
        requires = "attach"
    )]
    pub duration: String,

    /// Offer no capability this platform forbids.
    #[arg(long, value_name = "NAME")]
    pub platform: Option<String>,

    /// With --unit, for a service that runs as root: do not run it again
    /// as the user that the recording's evidence would move it to (a fix
    /// then keeps it root).
    #[arg(long, requires = "unit")]
    pub no_user_run: bool,

    /// The command to record, after `--`.
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// A unit file or unit name. Its commands run on this host, with its
    /// binaries and users.
    pub unit: String,

    /// Stop each command after this long.
    #[arg(long, value_name = "DURATION", default_value = "30s")]
    pub timeout: String,

    /// Read the unit as this systemd release does (252 to 262) [default:
    /// this host's].
    #[arg(long, value_name = "VERSION")]
    pub systemd: Option<String>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = ShowFormat::Text)]
    pub format: ShowFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ImportFormat {
    /// Tetragon process_kprobe JSON events (creds-capability-usage policy).
    Tetragon,
    /// bcc or libbpf-tools `capable` output.
    Capable,
}

#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// Merge profiles (several recordings of one program) into one.
    Merge {
        /// The profiles to merge.
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        /// The merged profile (added to if it exists).
        #[arg(short, long, value_name = "PROFILE")]
        output: PathBuf,
    },
    /// Turn another tool's recording into a profile.
    Import {
        /// The recording's format.
        #[arg(long, value_enum)]
        from: ImportFormat,
        /// The recording.
        file: PathBuf,
        /// The profile to write (added to if it exists).
        #[arg(short, long, value_name = "PROFILE")]
        output: PathBuf,
    },
}
