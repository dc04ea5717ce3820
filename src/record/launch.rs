//! What `record` and `run` start: a unit's `ExecStartPre=` and
//! `ExecStart=` commands with the credentials, environment and
//! directories systemd gives each, or one command as a user.

use super::own_bounding_set;
use crate::caps::CapSet;
use crate::load::Unit;
use crate::model::directories::{Directories, Kind};
use crate::model::environment::{self, EnvironmentSettings};
use crate::model::exec::{ExecCommand, Prefix};
use crate::model::privileges;
use crate::run::credentials::{self, Credentials, UnitUser};
use crate::run::directories::{self as made_directories, Made, Runtime};
use std::path::Path;

/// The commands `record --unit` and `run` start: ExecStartPre= then
/// ExecStart=, as systemd starts a service.
pub fn start_commands(
    unit: &Unit,
) -> Result<(crate::model::Privileges, Vec<crate::model::Command>), String> {
    let model = privileges(unit);
    if !model.loaded {
        let why = model
            .errors
            .first()
            .map(|e| e.message.clone())
            .unwrap_or_default();
        return Err(format!("{} does not load: {why}", unit.name));
    }
    let commands = ["ExecStartPre", "ExecStart"]
        .iter()
        .flat_map(|d| {
            model
                .commands
                .iter()
                .filter(move |c| c.directive == *d)
                .cloned()
        })
        .collect::<Vec<_>>();
    if commands.is_empty() {
        return Err(format!("{} has no ExecStart=", unit.name));
    }
    Ok((model, commands))
}

/// One command to start, with what systemd would start it with.
pub struct LaunchCommand {
    pub directive: String,
    pub path: String,
    /// Before `$VAR` expansion.
    pub argv: Vec<String>,
    /// False for the `:` prefix and for a command given on the command
    /// line (run as given).
    pub expand: bool,
    /// `|`: `argv` is a command line for `path`, the user's shell.
    pub via_shell: bool,
    /// The `-` prefix: a failure exit status is ignored.
    pub ignore_failure: bool,
    pub credentials: Credentials,
}

/// What runs and as whom: a unit's start commands, or one command.
pub struct Launch {
    pub commands: Vec<LaunchCommand>,
    pub user: UnitUser,
    pub environment: EnvironmentSettings,
    pub unit: Option<String>,
    /// RuntimeDirectory= and its kin, made before the first command.
    pub directories: Vec<(Kind, Directories)>,
    /// Type=forking: the last command leaves the daemon behind.
    pub forking: bool,
}

impl Launch {
    /// The directories systemd would make for the service, owned by the
    /// user the commands run as; removed when the result is dropped.
    pub fn make_directories(&self, runtime: Runtime) -> Result<Made, String> {
        made_directories::make(&self.directories, self.user.uid, self.user.gid, runtime)
    }

    /// The environment the commands get (one invocation: one
    /// INVOCATION_ID); what systemd ignores in the settings is shown.
    pub fn environment(&self) -> Result<Vec<String>, String> {
        for ignored in &self.environment.ignored {
            eprintln!("capcheck: note: {ignored}");
        }
        let invocation_id = std::fs::read_to_string("/proc/sys/kernel/random/uuid")
            .unwrap_or_default()
            .trim()
            .replace('-', "");
        environment::build(
            &self.environment,
            &environment::ExecContext {
                login: self.user.login.as_ref(),
                root: Path::new("/"),
                manager_environment: &|name| std::env::var(name).ok(),
                invocation_id,
            },
        )
    }

    /// Says how the user was chosen when that is not plain.
    pub fn explain_user(&self) {
        if self.user.dynamic {
            eprintln!(
                "capcheck: DynamicUser=yes: running as uid {} (gid {}), an id of systemd's dynamic range {}-{} that no user or group has, as systemd would allocate",
                self.user.uid,
                self.user.gid,
                credentials::DYNAMIC_UIDS.start(),
                credentials::DYNAMIC_UIDS.end()
            );
        }
    }
}

impl LaunchCommand {
    pub fn argv(&self, environment: &[String]) -> Vec<String> {
        let argv = if self.expand {
            environment::expand_argv(&self.argv, environment)
        } else {
            self.argv.clone()
        };
        if self.via_shell {
            ExecCommand::via_shell_argv(&argv)
        } else {
            argv
        }
    }
}

/// The start commands of a unit with the identity systemd gives each;
/// `--user` (for `record`) runs every one as that user instead. Commands
/// with `+` are left out when `with_privileged` is false.
pub fn of_unit(
    unit: &Unit,
    user_override: Option<&str>,
    with_privileged: bool,
) -> Result<Launch, String> {
    let (model, commands) = start_commands(unit)?;
    let user = match user_override {
        Some(u) => credentials::named_user(u)?,
        None => credentials::unit_user(&model)?,
    };
    let commands = commands
        .iter()
        .filter(|c| with_privileged || !c.command.has(Prefix::FullyPrivileged))
        .map(|c| {
            let mut credentials = credentials::for_command(&model, &user, c);
            // `+` commands keep root whoever the others run as.
            if user_override.is_some() && !c.command.has(Prefix::FullyPrivileged) {
                credentials.setuid = true;
                credentials.uid = user.uid;
                credentials.gid = user.gid;
            }
            let via_shell = c.command.has(Prefix::ViaShell);
            // A `|` command runs the user's login shell (/bin/sh for a
            // placeholder one).
            let login_shell = user.login.as_ref().and_then(|l| l.shell.clone());
            LaunchCommand {
                directive: c.directive.clone(),
                path: match login_shell {
                    Some(shell) if via_shell => shell,
                    _ => c.command.path.clone(),
                },
                argv: c.command.argv.clone(),
                via_shell,
                expand: !c.command.has(Prefix::NoEnvExpand),
                ignore_failure: c.command.has(Prefix::IgnoreFailure),
                credentials,
            }
        })
        .collect();
    Ok(Launch {
        commands,
        user,
        environment: model.environment.clone(),
        unit: Some(model.unit.clone()),
        directories: model.directories.clone(),
        forking: model.service_type.as_deref() == Some("forking"),
    })
}

/// One command from the command line, as `user` with its groups.
pub fn of_command(argv: &[String], user: &str) -> Result<Launch, String> {
    let user = credentials::named_user(user)?;
    let credentials = Credentials {
        setuid: true,
        uid: user.uid,
        gid: user.gid,
        groups: user.groups.clone(),
        sandbox: true,
        bounding: CapSet::ALL,
        ambient: CapSet::EMPTY,
        secure_bits: 0,
        no_new_privileges: false,
    };
    Ok(Launch {
        commands: vec![LaunchCommand {
            directive: "command".to_string(),
            path: argv[0].clone(),
            argv: argv.to_vec(),
            via_shell: false,
            expand: false,
            ignore_failure: false,
            credentials,
        }],
        user,
        environment: EnvironmentSettings::default(),
        unit: None,
        directories: Vec::new(),
        forking: false,
    })
}

/// What a recording offers: the identity as planned, a full bounding set
/// (less what the platform forbids), and for a user the broad candidate
/// set as ambient capabilities (root has the bounding set anyway); no
/// securebits or no_new_privs, which would hide needs.
pub fn offered(planned: &Credentials, forbidden: CapSet) -> Credentials {
    let candidates = CapSet::KNOWN
        .difference(forbidden)
        .intersection(own_bounding_set());
    Credentials {
        sandbox: true,
        bounding: CapSet::ALL.difference(forbidden),
        ambient: if planned.uid == 0 {
            CapSet::EMPTY
        } else {
            candidates
        },
        secure_bits: 0,
        no_new_privileges: false,
        ..planned.clone()
    }
}
