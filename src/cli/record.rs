//! `capcheck record`, `capcheck run` and `capcheck profile`.

use super::args::{ImportFormat, ProfileCommand, RecordArgs, RunArgs, ShowFormat};
use super::ExitStatus;
use crate::caps::CapSet;
use crate::checks::platform;
use crate::load::targets::{resolve, Scope};
use crate::load::Unit;
use crate::model::directories::{Directories, Kind};
use crate::model::environment::{self, EnvironmentSettings};
use crate::model::exec::{ExecCommand, Prefix};
use crate::model::privileges;
use crate::record::profile::{Identity, RecordingMeta};
use crate::record::{self, import, profile, tracefs, Request};
use crate::run::credentials::{self, Credentials, UnitUser};
use crate::run::directories;
use crate::run::tree::ProcessTree;
use crate::run::{self, Interrupts, Outcome, Probe, Start};
use std::path::Path;

fn fail(message: impl std::fmt::Display) -> ExitStatus {
    eprintln!("capcheck: {message}");
    ExitStatus::Error
}

/// A unit of this host (its programs run here), read as `systemd` (a
/// release) or as the host's release.
fn load_unit(name: &str, systemd: Option<&str>) -> Result<Unit, String> {
    let scope = Scope::with_semantics(None, false, super::semantics(systemd, None)?);
    let (targets, errors) = resolve(&[name.to_string()], &scope);
    if let Some(e) = errors.first() {
        return Err(format!("{}: {}", e.operand, e.message));
    }
    let target = targets.first().ok_or_else(|| format!("{name}: no unit"))?;
    Ok(target.load())
}

/// The commands `record --unit` and `run` start: ExecStartPre= then
/// ExecStart=, as systemd starts a service.
fn start_commands(
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
struct Planned {
    directive: String,
    path: String,
    /// Before `$VAR` expansion.
    argv: Vec<String>,
    /// False for the `:` prefix and for a command given on the command
    /// line (run as given).
    expand: bool,
    /// `|`: `argv` is a command line for `path`, the user's shell.
    via_shell: bool,
    /// The `-` prefix: a failure exit status is ignored.
    ignore_failure: bool,
    credentials: Credentials,
}

/// What runs and as whom: a unit's start commands, or one command.
struct Plan {
    commands: Vec<Planned>,
    user: UnitUser,
    environment: EnvironmentSettings,
    unit: Option<String>,
    /// RuntimeDirectory= and its kin, made before the first command.
    directories: Vec<(Kind, Directories)>,
    /// Type=forking: the last command leaves the daemon behind.
    forking: bool,
}

impl Plan {
    /// The environment the commands get (one invocation: one
    /// INVOCATION_ID); what systemd ignores in the settings is shown.
    fn environment(&self) -> Result<Vec<String>, String> {
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
    fn explain_user(&self) {
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

impl Planned {
    fn argv(&self, environment: &[String]) -> Vec<String> {
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
fn unit_plan(
    name: &str,
    systemd: Option<&str>,
    user_override: Option<&str>,
    with_privileged: bool,
) -> Result<Plan, String> {
    let unit = load_unit(name, systemd)?;
    let (model, commands) = start_commands(&unit)?;
    let user = match user_override {
        Some(u) => credentials::named_user(u)?,
        None => credentials::unit_user(&model)?,
    };
    let commands = commands
        .iter()
        .filter(|c| with_privileged || !c.command.has(Prefix::FullyPrivileged))
        .map(|c| {
            let mut credentials = credentials::for_command(&model, &user, c);
            if user_override.is_some() {
                credentials.setuid = true;
                credentials.uid = user.uid;
                credentials.gid = user.gid;
            }
            let via_shell = c.command.has(Prefix::ViaShell);
            // A `|` command runs the user's login shell (/bin/sh for a
            // placeholder one).
            let login_shell = user.login.as_ref().and_then(|l| l.shell.clone());
            Planned {
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
    Ok(Plan {
        commands,
        user,
        environment: model.environment.clone(),
        unit: Some(model.unit.clone()),
        directories: model.directories.clone(),
        forking: model.service_type.as_deref() == Some("forking"),
    })
}

/// One command from the command line, as `user` with its groups.
fn command_plan(argv: &[String], user: &str) -> Result<Plan, String> {
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
    Ok(Plan {
        commands: vec![Planned {
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
fn offered(planned: &Credentials, forbidden: CapSet) -> Credentials {
    let candidates = CapSet::KNOWN
        .difference(forbidden)
        .intersection(record::own_bounding_set());
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

fn caps_line(caps: &[&str]) -> String {
    if caps.is_empty() {
        "none".to_string()
    } else {
        caps.join(" ")
    }
}

pub fn record(args: &RecordArgs) -> ExitStatus {
    let (timeout, settle) = match (
        record::parse_duration(&args.timeout),
        record::parse_duration(&args.settle),
    ) {
        (Ok(t), Ok(s)) => (t, s),
        (Err(e), _) | (_, Err(e)) => return fail(e),
    };
    let forbidden = match args.platform.as_deref().map(|n| (n, platform::find(n))) {
        None => CapSet::EMPTY,
        Some((_, Some(p))) => CapSet::KNOWN.difference(p.permitted),
        Some((n, None)) => return fail(format!("unknown platform '{n}'")),
    };
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    if record::in_child_pid_namespace(&status) {
        return fail(
            "cannot record in a PID namespace (a container such as systemd-nspawn): tracefs follows host pids, which the namespace hides, so the trace would see nothing; record on the host or in a VM",
        );
    }
    if let (Some(unit), true) = (&args.unit, args.attach) {
        return record_attached(args, unit);
    }
    let plan = match (&args.unit, args.command.is_empty()) {
        (Some(name), _) => unit_plan(name, None, args.user.as_deref(), false),
        (None, true) => return fail("nothing to record: give -- CMD ARGS... or --unit"),
        (None, false) => command_plan(&args.command, args.user.as_deref().unwrap_or("nobody")),
    };
    let plan = match plan {
        Ok(p) if p.commands.is_empty() => {
            return fail("nothing to record: the unit starts only `+` commands")
        }
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    plan.explain_user();
    let environment = match plan.environment() {
        Ok(e) => e,
        Err(e) => return fail(e),
    };
    let _directories = match directories::make(&plan.directories, plan.user.uid, plan.user.gid) {
        Ok(made) => made,
        Err(e) => return fail(e),
    };
    let main = plan.commands.last().expect("a command");
    let uid = main.credentials.uid;
    let user = if uid == 0 {
        "root".to_string()
    } else {
        plan.user.display()
    };
    let mut doc = match &args.output {
        Some(path) => match profile::open(path) {
            Ok(d) => d,
            Err(e) => return fail(e),
        },
        None => Default::default(),
    };
    let command = plan
        .commands
        .iter()
        .map(|c| c.argv(&environment).join(" "))
        .collect::<Vec<_>>()
        .join("; ");
    let mut meta = RecordingMeta {
        command: Some(command.clone()),
        unit: plan.unit.clone(),
        identity: Some(Identity::of_uid(uid)),
        user: Some(user.clone()),
        uid: Some(uid),
        probe: args.probe.clone(),
        ..RecordingMeta::default()
    };
    profile::header(&mut doc, &format!("{command} (as {user})"));
    // A second recording of another identity is refused before anything
    // runs; in a new profile this puts [recording] first. The outcome is
    // added at the end (adding the same description again changes nothing).
    if let Err(e) = profile::add_recording(&mut doc, &meta) {
        return fail(e);
    }
    let interrupts = Interrupts::catch();
    let tree = ProcessTree::create();
    let mut instance = match tracefs::Instance::create() {
        Ok(i) => i,
        Err(e) => return fail(format!("cannot record: {}", e.0)),
    };
    let probe = args.probe.as_ref().map(|command| Probe {
        command: command.clone(),
        settle,
    });
    let (mut succeeded, mut outcome, mut probe_passed) = (true, String::new(), None);
    for (i, planned) in plan.commands.iter().enumerate() {
        let is_main = i + 1 == plan.commands.len();
        let argv = planned.argv(&environment);
        let request = Request {
            start: Start {
                path: &planned.path,
                argv: &argv,
                environment: &environment,
                credentials: &offered(&planned.credentials, forbidden),
                expects_daemon: plan.forking && is_main,
            },
            timeout,
            probe: probe.as_ref().filter(|_| is_main),
            progress: true,
        };
        let recording = record::record(&request, &mut instance, &tree, &interrupts);
        let run = &recording.run;
        let started = !matches!(
            run.outcome,
            Outcome::ExecFailed { .. } | Outcome::SetupFailed { .. }
        );
        if started && !recording.summary.exec_seen {
            return fail(format!(
                "the trace saw nothing of {} (not even its exec): capcheck cannot see this process, which happens in a PID namespace; nothing was written",
                argv.join(" ")
            ));
        }
        report_checks(&argv.join(" "), &run.describe(), &recording.summary);
        if let Some(p) = &run.probe {
            eprintln!(
                "  probe {}: {}",
                if p.passed { "passed" } else { "failed" },
                p.status
            );
            probe_passed = Some(p.passed);
        }
        profile::add(&mut doc, &recording.summary.caps);
        let ok = run.succeeded() || (planned.ignore_failure && started);
        outcome = if is_main {
            run.describe()
        } else {
            format!(
                "{}={}: {}",
                planned.directive,
                argv.join(" "),
                run.describe()
            )
        };
        if !ok || interrupts.seen() {
            succeeded &= ok;
            break;
        }
    }
    let source = instance.source().to_string();
    drop(instance);
    drop(tree);
    let complete = !interrupts.seen();
    drop(interrupts);
    meta.succeeded = Some(succeeded);
    meta.outcome = Some(outcome);
    meta.probe_passed = probe.as_ref().map(|_| probe_passed.unwrap_or(false));
    meta.complete = Some(complete);
    meta.source = Some(source);
    finish_profile(doc, &meta, args.output.as_deref())
}

/// What a recording found, on standard error.
fn report_checks(what: &str, how: &str, summary: &record::trace::Summary) {
    let (needed, possibly) = profile::verdict(summary);
    let noise: u64 = summary.noise.values().sum();
    eprintln!(
        "{what} {how}; {} capability checks ({noise} launcher or noise)",
        summary.checks
    );
    eprintln!("  needed: {}", caps_line(&needed));
    if !possibly.is_empty() {
        eprintln!(
            "  possibly needed (denied, the program may have coped): {}",
            possibly.join(" ")
        );
    }
}

/// Adds the recording's `[recording]` table and writes (or prints) the
/// profile; a failed or interrupted recording says so and exits 1.
fn finish_profile(
    mut doc: toml_edit::DocumentMut,
    meta: &RecordingMeta,
    output: Option<&Path>,
) -> ExitStatus {
    let (succeeded, complete) = (meta.succeeded == Some(true), meta.complete == Some(true));
    if !succeeded || !complete {
        eprintln!(
            "capcheck: the recording {}: its profile is marked so (succeeded = {succeeded}, complete = {complete}) and is no evidence of what the program needs",
            if complete { "failed" } else { "was interrupted" }
        );
    }
    if let Err(e) = profile::add_recording(&mut doc, meta) {
        return fail(e);
    }
    match output {
        Some(path) => {
            let before = std::fs::read(path).ok();
            if let Err(e) = crate::fix::write::write_atomic(
                path,
                before.as_deref(),
                doc.to_string().as_bytes(),
                None,
            ) {
                return fail(e);
            }
        }
        None => print!("{doc}"),
    }
    if succeeded && complete {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    }
}

/// `record --unit NAME --attach`: the running service, with no restart.
fn record_attached(args: &RecordArgs, unit: &str) -> ExitStatus {
    let duration = match record::parse_duration(&args.duration) {
        Ok(d) => d,
        Err(e) => return fail(e),
    };
    let mut doc = match &args.output {
        Some(path) => match profile::open(path) {
            Ok(d) => d,
            Err(e) => return fail(e),
        },
        None => Default::default(),
    };
    let interrupts = Interrupts::catch();
    let mut instance = match tracefs::Instance::create() {
        Ok(i) => i,
        Err(e) => return fail(format!("cannot record: {}", e.0)),
    };
    let attached = match record::attach::attach(unit, duration, &mut instance, &interrupts, true) {
        Ok(a) => a,
        Err(e) => return fail(e),
    };
    let source = instance.source().to_string();
    drop(instance);
    let user = credentials::account(&attached.uid.to_string())
        .map_or_else(|_| format!("uid {}", attached.uid), |a| a.name);
    let outcome = if attached.steady {
        format!(
            "ran steadily for {:.1}s ({} processes)",
            attached.elapsed.as_secs_f64(),
            attached.processes
        )
    } else {
        format!(
            "restarted or stopped while recorded ({:.1}s)",
            attached.elapsed.as_secs_f64()
        )
    };
    report_checks(unit, &outcome, &attached.summary);
    profile::header(&mut doc, &format!("{unit}, running (as {user})"));
    profile::add(&mut doc, &attached.summary.caps);
    let meta = RecordingMeta {
        unit: Some(unit.to_string()),
        attached: Some(format!("{:.1}s", attached.elapsed.as_secs_f64())),
        identity: Some(Identity::of_uid(attached.uid)),
        user: Some(user),
        uid: Some(attached.uid),
        succeeded: Some(attached.steady),
        outcome: Some(outcome),
        complete: Some(!attached.interrupted),
        source: Some(source),
        ..RecordingMeta::default()
    };
    finish_profile(doc, &meta, args.output.as_deref())
}

pub fn run(args: &RunArgs) -> ExitStatus {
    let timeout = match record::parse_duration(&args.timeout) {
        Ok(t) => t,
        Err(e) => return fail(e),
    };
    let plan = match unit_plan(&args.unit, args.systemd.as_deref(), None, true) {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    plan.explain_user();
    let environment = match plan.environment() {
        Ok(e) => e,
        Err(e) => return fail(e),
    };
    let _directories = match directories::make(&plan.directories, plan.user.uid, plan.user.gid) {
        Ok(made) => made,
        Err(e) => return fail(e),
    };
    let interrupts = Interrupts::catch();
    let tree = ProcessTree::create();
    let mut runs = Vec::new();
    let mut status = ExitStatus::Success;
    for (i, planned) in plan.commands.iter().enumerate() {
        let argv = planned.argv(&environment);
        let start = Start {
            path: &planned.path,
            argv: &argv,
            environment: &environment,
            credentials: &planned.credentials,
            expects_daemon: plan.forking && i + 1 == plan.commands.len(),
        };
        let result = run::run(&start, timeout, None, &tree, || Ok(()), &mut || {
            !interrupts.seen()
        });
        let ok = result.succeeded() || planned.ignore_failure;
        if !ok || interrupts.seen() {
            status = ExitStatus::Failure;
        }
        if args.format == ShowFormat::Text {
            print_run(&planned.directive, &result);
        }
        runs.push(serde_json::json!({"directive": planned.directive, "run": result}));
        if status == ExitStatus::Failure {
            break;
        }
    }
    if args.format == ShowFormat::Json {
        println!(
            "{}",
            serde_json::to_string_pretty(&runs).expect("runs serialise")
        );
    }
    status
}

fn print_run(directive: &str, r: &run::Run) {
    println!("{directive}: {}", r.argv.join(" "));
    if let Some(s) = &r.started {
        println!("  started as uid {} gid {}", s.uid, s.gid);
        println!(
            "  capabilities: effective {} permitted {} inheritable {} ambient {} bounding {}",
            s.cap_effective, s.cap_permitted, s.cap_inheritable, s.cap_ambient, s.cap_bounding
        );
        println!("  no_new_privs: {}", s.no_new_privs);
    }
    println!("  {}", r.describe());
}

pub fn profile(command: &ProfileCommand) -> ExitStatus {
    let (observations, meta, output, what) = match command {
        ProfileCommand::Merge { inputs, output } => {
            // The inputs' [recording] tables merge as recordings into one
            // profile do: one identity, failed or incomplete if any was.
            let mut merged = toml_edit::DocumentMut::new();
            for input in inputs {
                let doc = match profile::open(input) {
                    Ok(doc) if input.exists() => doc,
                    Ok(_) => return fail(format!("{}: no such file", input.display())),
                    Err(e) => return fail(e),
                };
                let added = profile::recording(&doc)
                    .and_then(|meta| profile::add_recording(&mut merged, &meta));
                if let Err(e) = added {
                    return fail(format!("{}: {e}", input.display()));
                }
                profile::add(&mut merged, &profile::observations(&doc));
            }
            let names: Vec<String> = inputs.iter().map(|p| p.display().to_string()).collect();
            let meta = match profile::recording(&merged) {
                Ok(m) => m,
                Err(e) => return fail(e),
            };
            (
                profile::observations(&merged),
                meta,
                output,
                format!("merged from {}", names.join(", ")),
            )
        }
        ProfileCommand::Import { from, file, output } => {
            let text = match std::fs::read_to_string(file) {
                Ok(t) => t,
                Err(e) => return fail(format!("{}: {e}", file.display())),
            };
            let (parsed, source) = match from {
                ImportFormat::Tetragon => (import::tetragon(&text), "tetragon"),
                ImportFormat::Capable => (import::capable(&text), "capable"),
            };
            // Who ran is unknown: no identity, no verdict on success.
            let meta = RecordingMeta {
                source: Some(source.to_string()),
                ..RecordingMeta::default()
            };
            match parsed {
                Ok(o) => (o, meta, output, format!("imported from {}", file.display())),
                Err(e) => return fail(format!("{}: {e}", file.display())),
            }
        }
    };
    let mut doc = match profile::open(output) {
        Ok(d) => d,
        Err(e) => return fail(e),
    };
    profile::header(&mut doc, &what);
    if let Err(e) = profile::add_recording(&mut doc, &meta) {
        return fail(format!("{}: {e}", output.display()));
    }
    profile::add(&mut doc, &observations);
    let before = std::fs::read(output).ok();
    match crate::fix::write::write_atomic(
        output,
        before.as_deref(),
        doc.to_string().as_bytes(),
        None,
    ) {
        Ok(()) => ExitStatus::Success,
        Err(e) => fail(e),
    }
}
