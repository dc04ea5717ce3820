//! `capcheck record`, `capcheck run` and `capcheck profile`.

use super::args::{ImportFormat, ProfileCommand, RecordArgs, RunArgs, ShowFormat};
use super::ExitStatus;
use crate::caps::CapSet;
use crate::checks::platform;
use crate::load::targets::{resolve, Scope};
use crate::load::Unit;
use crate::model::exec::Prefix;
use crate::model::privileges;
use crate::record::{self, import, profile, tracefs, Request};
use crate::run::credentials::{self, lookup_user};
use crate::run::{self, Outcome};
use std::path::Path;

fn fail(message: impl std::fmt::Display) -> ExitStatus {
    eprintln!("capcheck: {message}");
    ExitStatus::Error
}

fn load_unit(name: &str, root: Option<&Path>) -> Result<Unit, String> {
    let scope = Scope::new(root.map(Path::to_path_buf), false);
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

pub fn record(args: &RecordArgs) -> ExitStatus {
    let timeout = match record::parse_duration(&args.timeout) {
        Ok(t) => t,
        Err(e) => return fail(e),
    };
    let forbidden = match args.platform.as_deref().map(|n| (n, platform::find(n))) {
        None => CapSet::EMPTY,
        Some((_, Some(p))) => CapSet::KNOWN.difference(p.permitted),
        Some((n, None)) => return fail(format!("unknown platform '{n}'")),
    };
    // What to run: the unit's start commands, or the command line.
    let (commands, unit_user) = match &args.unit {
        Some(name) => {
            match load_unit(name, args.root.as_deref()).and_then(|u| start_commands(&u)) {
                Ok((model, commands)) => {
                    let user = model.user.value.clone().filter(|_| !model.runs_as_root());
                    let commands: Vec<(String, Vec<String>)> = commands
                        .into_iter()
                        .filter(|c| !c.command.has(Prefix::FullyPrivileged))
                        .map(|c| (c.command.path.clone(), c.command.argv.clone()))
                        .collect();
                    (commands, user)
                }
                Err(e) => return fail(e),
            }
        }
        None if args.command.is_empty() => {
            return fail("nothing to record: give -- CMD ARGS... or --unit")
        }
        None => (vec![(args.command[0].clone(), args.command.clone())], None),
    };
    let user = args
        .user
        .clone()
        .or(unit_user)
        .unwrap_or_else(|| "nobody".to_string());
    let (uid, gid) = match lookup_user(&user) {
        Ok(ids) => ids,
        Err(e) => return fail(e),
    };
    let mut instance = match tracefs::Instance::create() {
        Ok(i) => i,
        Err(e) => return fail(format!("cannot record: {}", e.0)),
    };
    let mut doc = match &args.output {
        Some(path) => match profile::open(path) {
            Ok(d) => d,
            Err(e) => return fail(e),
        },
        None => Default::default(),
    };
    let what = commands
        .iter()
        .map(|(_, argv)| argv.join(" "))
        .collect::<Vec<_>>()
        .join("; ");
    profile::header(&mut doc, &format!("{what} (as {user})"));
    let mut status = ExitStatus::Success;
    for (path, argv) in &commands {
        let request = Request {
            path: path.clone(),
            argv: argv.clone(),
            uid,
            gid,
            candidates: CapSet::KNOWN.difference(forbidden),
            timeout,
            progress: true,
        };
        let recording = record::record(&request, &mut instance);
        let (needed, possibly) = profile::verdict(&recording.summary);
        let ended = match &recording.run.outcome {
            Outcome::Exited { code } => format!("exited with status {code}"),
            Outcome::Signaled { signal } => format!("killed by signal {signal}"),
            Outcome::TimedOut => "stopped at the timeout".to_string(),
            Outcome::ExecFailed { error } | Outcome::SetupFailed { error } => {
                status = ExitStatus::Error;
                format!("did not start: {error}")
            }
        };
        let noise: u64 = recording.summary.noise.values().sum();
        eprintln!(
            "{} {ended} after {:.1}s; {} capability checks ({noise} launcher or noise)",
            argv.join(" "),
            recording.elapsed.as_secs_f64(),
            recording.summary.checks
        );
        eprintln!(
            "  needed: {}",
            if needed.is_empty() {
                "none".to_string()
            } else {
                needed.join(" ")
            }
        );
        if !possibly.is_empty() {
            eprintln!(
                "  possibly needed (denied, the program may have coped): {}",
                possibly.join(" ")
            );
        }
        profile::add(&mut doc, &recording.summary.caps);
    }
    drop(instance);
    match &args.output {
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
    status
}

pub fn run(args: &RunArgs) -> ExitStatus {
    let timeout = match record::parse_duration(&args.timeout) {
        Ok(t) => t,
        Err(e) => return fail(e),
    };
    let (model, commands) =
        match load_unit(&args.unit, args.root.as_deref()).and_then(|u| start_commands(&u)) {
            Ok(x) => x,
            Err(e) => return fail(e),
        };
    let mut runs = Vec::new();
    let mut status = ExitStatus::Success;
    for command in &commands {
        let creds = match credentials::for_command(&model, command) {
            Ok(c) => c,
            Err(e) => return fail(e),
        };
        let result = run::run(
            &command.command.path,
            &command.command.argv,
            &creds,
            timeout,
            || Ok(()),
            &mut || true,
        );
        let ok = matches!(result.outcome, Outcome::Exited { code: 0 })
            || (result.outcome == Outcome::TimedOut && command.directive == "ExecStart");
        let ignored = command.command.has(Prefix::IgnoreFailure);
        if !ok && !ignored {
            status = ExitStatus::Failure;
        }
        if args.format == ShowFormat::Text {
            print_run(&command.directive, &result);
        }
        runs.push(serde_json::json!({"directive": command.directive, "run": result}));
        if !ok && !ignored {
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
    match &r.outcome {
        Outcome::Exited { code } => println!("  exited with status {code}"),
        Outcome::Signaled { signal } => println!("  killed by signal {signal}"),
        Outcome::TimedOut => println!("  still running at the timeout; stopped"),
        Outcome::ExecFailed { error } => {
            println!("  exec failed: {error} (systemd: status 203/EXEC)")
        }
        Outcome::SetupFailed { error } => {
            println!("  could not apply the unit's credentials: {error}")
        }
    }
}

pub fn profile(command: &ProfileCommand) -> ExitStatus {
    let (observations, output, what) = match command {
        ProfileCommand::Merge { inputs, output } => {
            let mut merged = toml_edit::DocumentMut::new();
            for input in inputs {
                match profile::open(input) {
                    Ok(doc) if input.exists() => {
                        profile::add(&mut merged, &profile::observations(&doc))
                    }
                    Ok(_) => return fail(format!("{}: no such file", input.display())),
                    Err(e) => return fail(e),
                }
            }
            let names: Vec<String> = inputs.iter().map(|p| p.display().to_string()).collect();
            (
                profile::observations(&merged),
                output,
                format!("merged from {}", names.join(", ")),
            )
        }
        ProfileCommand::Import { from, file, output } => {
            let text = match std::fs::read_to_string(file) {
                Ok(t) => t,
                Err(e) => return fail(format!("{}: {e}", file.display())),
            };
            let parsed = match from {
                ImportFormat::Tetragon => import::tetragon(&text),
                ImportFormat::Capable => import::capable(&text),
            };
            match parsed {
                Ok(o) => (o, output, format!("imported from {}", file.display())),
                Err(e) => return fail(format!("{}: {e}", file.display())),
            }
        }
    };
    let mut doc = match profile::open(output) {
        Ok(d) => d,
        Err(e) => return fail(e),
    };
    profile::header(&mut doc, &what);
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
