//! The effective privilege model of a unit: what systemd's loader ends
//! with for User=, capabilities, NoNewPrivileges= and the Exec commands,
//! with the file and line of every assignment that shaped each value. The
//! release it follows is the unit's [`crate::semantics::Semantics`].

pub mod capset;
pub mod directories;
pub mod environment;
pub mod exec;
mod fold;
pub mod seccomp;
pub mod siphash;
pub mod specifier;
pub mod values;
pub mod words;

pub use fold::{privileges, BOUNDING_REMOVALS};

use crate::caps::CapSet;
use exec::ExecCommand;
use serde::Serialize;
use std::path::PathBuf;

/// Where a value came from: one assignment in one file.
#[derive(Debug, Clone, Serialize)]
pub struct Origin {
    pub file: PathBuf,
    pub line: u32,
    pub key: String,
    pub value: String,
    /// Words systemd dropped from this assignment without a word.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dropped: Vec<String>,
    /// Index of the file in [`crate::load::Unit::files`].
    #[serde(skip)]
    pub file_index: usize,
    /// Index of the assignment in that file's assignments.
    #[serde(skip)]
    pub assignment: usize,
}

impl Origin {
    /// The origin of assignment `index` of file `file_index`.
    pub fn of(file: &crate::syntax::logical::UnitFile, file_index: usize, index: usize) -> Origin {
        let a = &file.assignments[index];
        Origin {
            file: file.path.clone(),
            line: a.line,
            key: a.key.clone(),
            value: a.value.clone(),
            dropped: Vec::new(),
            file_index,
            assignment: index,
        }
    }
}

/// A value and the assignments that made it what it is: the last one that
/// replaced or reset it, and those merged in after.
#[derive(Debug, Clone, Serialize)]
pub struct Setting<T> {
    pub value: T,
    pub origins: Vec<Origin>,
}

impl<T> Setting<T> {
    fn new(value: T) -> Setting<T> {
        Setting {
            value,
            origins: Vec::new(),
        }
    }

    /// The value was replaced: earlier origins no longer matter.
    fn replace(&mut self, value: T, origin: Origin) {
        self.value = value;
        self.origins = vec![origin];
    }

    /// The value was changed on top of what it was.
    fn merge(&mut self, value: T, origin: Origin) {
        self.value = value;
        self.origins.push(origin);
    }
}

/// Where a load problem comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProblemKind {
    /// The file cannot be read, is masked, or does not exist.
    Load,
    /// A line systemd cannot read (see the file's syntax issues).
    Syntax,
    /// A setting's value (`User=00`, `NoNewPrivileges=enable`, a bad
    /// Exec path).
    Value,
    /// The service as a whole (no ExecStart=, several ExecStart=…).
    Service,
}

/// A problem systemd reports while loading the unit.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    pub file: PathBuf,
    pub line: u32,
    pub message: String,
    pub kind: ProblemKind,
    /// True when systemd stops reading here: the unit is refused, or the
    /// rest of a drop-in is skipped.
    pub fatal: bool,
    /// The setting, for value problems.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Index into [`crate::load::Unit::files`] and byte span, when the
    /// problem is in a file capcheck read.
    #[serde(skip)]
    pub at: Option<(usize, std::ops::Range<usize>)>,
}

/// One Exec* command with the setting it came from.
#[derive(Debug, Clone, Serialize)]
pub struct Command {
    pub directive: String,
    #[serde(flatten)]
    pub command: ExecCommand,
    #[serde(skip)]
    pub origin: Origin,
}

/// Whether NoNewPrivileges= is in force, and why.
#[derive(Debug, Clone, Serialize)]
pub struct NoNewPrivileges {
    /// NoNewPrivileges= as written.
    pub explicit: Setting<bool>,
    /// DynamicUser=yes forces it at load time.
    pub implied_by_dynamic_user: bool,
    /// Sandboxing options that make systemd set it at exec time for a
    /// process without an effective CAP_SYS_ADMIN (a non-root User=).
    pub implied_at_runtime_by: Vec<Origin>,
    /// Sandboxing options that would imply it before systemd 255, and no
    /// longer do: the system call filter lets the service drop privileges,
    /// so systemd keeps CAP_SYS_ADMIN until the filter is loaded.
    pub not_implied_by: Vec<Origin>,
}

/// The effective privileges of one unit.
#[derive(Debug, Clone, Serialize)]
pub struct Privileges {
    pub unit: String,
    /// The release the unit was read as.
    #[serde(rename = "systemd")]
    pub semantics: crate::semantics::Semantics,
    pub path: Option<PathBuf>,
    /// False for masked, missing or refused units; `errors` says why.
    pub loaded: bool,
    pub masked: bool,
    pub errors: Vec<Problem>,
    /// Lines and values systemd ignored with a warning.
    pub warnings: Vec<Problem>,
    /// Whether the unit type has an exec context at all.
    pub has_exec_context: bool,
    pub user: Setting<Option<String>>,
    pub group: Setting<Option<String>>,
    pub dynamic_user: Setting<bool>,
    pub supplementary_groups: Setting<Vec<String>>,
    /// After the removals by PrivateDevices= and friends.
    pub capability_bounding_set: Setting<CapSet>,
    /// What PrivateDevices=, ProtectClock=, ProtectKernelModules= and
    /// ProtectKernelLogs= took out of the bounding set, by option.
    pub removed_from_bounding_set: Vec<(String, CapSet)>,
    pub ambient_capabilities: Setting<CapSet>,
    pub no_new_privileges: NoNewPrivileges,
    pub secure_bits: Setting<u16>,
    pub private_users: Setting<crate::semantics::PrivateUsers>,
    pub commands: Vec<Command>,
    /// Environment=, EnvironmentFile=, PassEnvironment=, UnsetEnvironment=.
    #[serde(skip_serializing_if = "environment::EnvironmentSettings::is_empty")]
    pub environment: environment::EnvironmentSettings,
    /// RuntimeDirectory= and its kin, by kind (those with no path left out).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub directories: Vec<(directories::Kind, directories::Directories)>,
    /// A service's `Type=` as written (`forking`: the start command leaves
    /// the daemon behind); None when unset.
    #[serde(skip)]
    pub service_type: Option<String>,
}

impl Privileges {
    /// True when the unit's processes start as uid 0: no User= (or `root`,
    /// `0`), and not DynamicUser= with a non-root name.
    pub fn runs_as_root(&self) -> bool {
        match self.user.value.as_deref() {
            None => true,
            Some(u) => u == "root" || u == "0",
        }
    }

    /// Whether the unit starts any process at all (a service with only
    /// `SuccessAction=` runs nothing, so its privileges do not matter).
    pub fn runs_commands(&self) -> bool {
        !self.commands.is_empty()
    }

    /// The main command: the first `ExecStart=` (or the first command of a
    /// unit that has none).
    pub fn main_command(&self) -> Option<&Command> {
        self.commands
            .iter()
            .find(|c| c.directive == "ExecStart")
            .or(self.commands.first())
    }

    /// Whether `command` starts as uid 0: the service runs as root, or the
    /// command keeps uid 0 with `!` or `+`.
    pub fn starts_as_root(&self, command: &ExecCommand) -> bool {
        self.runs_as_root() || command.escapes_user()
    }

    /// The capabilities `command` holds right after exec, before any file
    /// capabilities: every one for `+` (no sandbox), the bounding set for
    /// a process that starts as root, ambient ∩ bounding otherwise.
    pub fn held_at_exec(&self, command: &ExecCommand) -> CapSet {
        let bounding = self.capability_bounding_set.value;
        if command.has(exec::Prefix::FullyPrivileged) {
            CapSet::ALL
        } else if self.starts_as_root(command) {
            bounding
        } else {
            self.ambient_capabilities.value.intersection(bounding)
        }
    }

    /// NoNewPrivileges= as systemd's loader ends with it (explicit or
    /// forced by DynamicUser=).
    pub fn no_new_privileges(&self) -> bool {
        self.no_new_privileges.explicit.value || self.no_new_privileges.implied_by_dynamic_user
    }

    /// Whether the main process runs with no_new_privs set, counting the
    /// sandboxing options that imply it for a non-root user.
    pub fn no_new_privileges_at_runtime(&self) -> bool {
        self.no_new_privileges()
            || (!self.runs_as_root() && !self.no_new_privileges.implied_at_runtime_by.is_empty())
    }
}
