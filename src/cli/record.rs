//! `capcheck record`, `capcheck run` and `capcheck profile`.

use super::args::{ImportFormat, ProfileCommand, RecordArgs, RunArgs, ShowFormat};
use super::user_run::UserRun;
use super::ExitStatus;
use crate::caps::CapSet;
use crate::checks::platform;
use crate::duration::parse_duration;
use crate::load::targets::{resolve, Scope};
use crate::load::Unit;
use crate::record::launch;
use crate::record::profile::{Identity, RecordingMeta};
use crate::record::{self, import, profile, tracefs};
use crate::run::credentials;
use crate::run::directories;
use crate::run::tree::ProcessTree;
use crate::run::{self, Interrupts, Probe, Start};
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

fn caps_line(caps: &[&str]) -> String {
    if caps.is_empty() {
        "none".to_string()
    } else {
        caps.join(" ")
    }
}

pub fn record(args: &RecordArgs) -> ExitStatus {
    let (timeout, settle, probe_timeout) = match (
        parse_duration(&args.timeout),
        parse_duration(&args.settle),
        parse_duration(&args.probe_timeout),
    ) {
        (Ok(t), Ok(s), Ok(p)) => (t, s, p),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return fail(e),
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
    let unit = match args.unit.as_deref().map(|name| load_unit(name, None)) {
        Some(Ok(u)) => Some(u),
        Some(Err(e)) => return fail(e),
        None => None,
    };
    let launch = match (&unit, args.command.is_empty()) {
        (Some(unit), _) => launch::of_unit(unit, args.user.as_deref(), false),
        (None, true) => return fail("nothing to record: give -- CMD ARGS... or --unit"),
        (None, false) => {
            launch::of_command(&args.command, args.user.as_deref().unwrap_or("nobody"))
        }
    };
    let launch = match launch {
        Ok(p) if p.commands.is_empty() => {
            return fail("nothing to record: the unit starts only `+` commands")
        }
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    launch.explain_user();
    let environment = match launch.environment() {
        Ok(e) => e,
        Err(e) => return fail(e),
    };
    let main = launch.commands.last().expect("a command");
    let uid = main.credentials.uid;
    let user = if uid == 0 {
        "root".to_string()
    } else {
        launch.user.display()
    };
    let mut doc = match &args.output {
        Some(path) => match profile::open(path) {
            Ok(d) => d,
            Err(e) => return fail(e),
        },
        None => Default::default(),
    };
    let command = launch
        .commands
        .iter()
        .map(|c| c.argv(&environment).join(" "))
        .collect::<Vec<_>>()
        .join("; ");
    let mut meta = RecordingMeta {
        command: Some(command.clone()),
        unit: launch.unit.clone(),
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
        timeout: probe_timeout,
    });
    let recorded = {
        let _directories = match launch.make_directories(directories::Runtime::AsFound) {
            Ok(made) => made,
            Err(e) => return fail(e),
        };
        record::record_launch(
            &launch,
            &environment,
            &|planned| launch::offered(planned, forbidden),
            timeout,
            probe.as_ref(),
            &mut instance,
            &tree,
            &interrupts,
            &mut report_command,
        )
    };
    if let Some(command) = &recorded.blind {
        return fail(format!(
            "the trace saw nothing of {command} (not even its exec): capcheck cannot see this process, which happens in a PID namespace; nothing was written"
        ));
    }
    let mut accesses = Vec::new();
    for summary in &recorded.summaries {
        profile::add(&mut doc, &summary.caps);
        accesses.extend(summary.accesses.iter().cloned());
    }
    warn_unprobed(probe.is_none(), &accesses);
    let objects = objects_traced(&instance);
    let complete = !interrupts.seen();
    meta.succeeded = Some(recorded.succeeded);
    meta.outcome = Some(recorded.outcome.clone());
    meta.probe_passed = probe
        .as_ref()
        .map(|_| recorded.probe_passed.unwrap_or(false));
    meta.complete = Some(complete);
    meta.source = Some(instance.source().to_string());
    meta.coverage = Some("start".to_string());
    meta.objects = Some(objects);
    if let Err(e) = add_evidence(&mut doc, accesses) {
        return fail(e);
    }
    if let Err(e) = profile::add_recording(&mut doc, &meta) {
        return fail(e);
    }
    let usable = recorded.succeeded && complete && meta.objects.as_deref() == Some("traced");
    if let (Some(unit), true, true) = (&unit, usable, args.user.is_none() && uid == 0) {
        if !args.no_user_run {
            let run = UserRun {
                unit,
                doc: &doc,
                timeout,
                probe: probe.as_ref(),
                instance: &mut instance,
                tree: &tree,
                interrupts: &interrupts,
            };
            if let Some(result) = run.run() {
                profile::set_deroot_run(
                    &mut doc,
                    &result.settings,
                    result.works,
                    &result.outcome,
                    args.probe.as_deref(),
                );
            }
        }
    }
    drop(instance);
    drop(tree);
    drop(interrupts);
    finish_profile(doc, &meta, args.output.as_deref())
}

/// A network daemon recorded without a probe served no client: what it
/// does per client (a switch to the client's user, files it opens then)
/// is not in the recording.
fn warn_unprobed(unprobed: bool, accesses: &[crate::record::access::Access]) {
    let mut ports: Vec<u16> = accesses.iter().filter_map(|a| a.port).collect();
    ports.sort_unstable();
    ports.dedup();
    if unprobed && !ports.is_empty() {
        let ports: Vec<String> = ports.iter().map(u16::to_string).collect();
        eprintln!(
            "capcheck: warning: it listens on port {} and no --probe served a client: what it does per client is not recorded, and a fix from this profile may refuse clients",
            ports.join(", ")
        );
    }
}

/// What a recorded command did, on standard error.
pub fn report_command(what: &str, run: &run::Run, summary: &record::trace::Summary) {
    report_checks(what, &run.describe(), summary);
    if let Some(p) = &run.probe {
        eprintln!(
            "  probe {}: {}",
            if p.passed { "passed" } else { "failed" },
            p.status
        );
    }
}

/// The `[recording]` table's `objects`: "traced", or why not.
fn objects_traced(instance: &tracefs::Instance) -> String {
    instance
        .objects_missing
        .clone()
        .unwrap_or_else(|| "traced".to_string())
}

/// The user name of a uid on this host (the number when it has none).
fn user_name(uid: u32) -> String {
    credentials::account(&uid.to_string()).map_or_else(|_| uid.to_string(), |a| a.name)
}

/// Adds what the program did to what, with what is at each path now,
/// to the profile.
fn add_evidence(
    doc: &mut toml_edit::DocumentMut,
    accesses: Vec<crate::record::access::Access>,
) -> Result<(), String> {
    let kept = crate::record::access::keep_evidence(accesses, &crate::record::access::HostFiles);
    profile::add_accesses(doc, &kept, &user_name)
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
    let duration = match parse_duration(&args.duration) {
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
    let objects = objects_traced(&instance);
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
    if let Err(e) = add_evidence(&mut doc, attached.summary.accesses.clone()) {
        return fail(e);
    }
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
        coverage: Some("running".to_string()),
        objects: Some(objects),
        ..RecordingMeta::default()
    };
    finish_profile(doc, &meta, args.output.as_deref())
}

pub fn run(args: &RunArgs) -> ExitStatus {
    let timeout = match parse_duration(&args.timeout) {
        Ok(t) => t,
        Err(e) => return fail(e),
    };
    let plan = match load_unit(&args.unit, args.systemd.as_deref())
        .and_then(|unit| launch::of_unit(&unit, None, true))
    {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    plan.explain_user();
    let environment = match plan.environment() {
        Ok(e) => e,
        Err(e) => return fail(e),
    };
    let _directories = match plan.make_directories(directories::Runtime::AsFound) {
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
    let (observations, accesses, meta, output, what) = match command {
        ProfileCommand::Merge { inputs, output } => {
            // The inputs' [recording] tables merge as recordings into one
            // profile do: one identity, failed or incomplete if any was.
            let mut merged = toml_edit::DocumentMut::new();
            let mut accesses = Vec::new();
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
                match profile::accesses(&doc) {
                    Ok(a) => accesses.extend(a),
                    Err(e) => return fail(format!("{}: {e}", input.display())),
                }
            }
            let names: Vec<String> = inputs.iter().map(|p| p.display().to_string()).collect();
            let meta = match profile::recording(&merged) {
                Ok(m) => m,
                Err(e) => return fail(e),
            };
            (
                profile::observations(&merged),
                accesses,
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
                Ok(o) => (
                    o,
                    Vec::new(),
                    meta,
                    output,
                    format!("imported from {}", file.display()),
                ),
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
    if let Err(e) = profile::add_accesses(&mut doc, &accesses, &user_name) {
        return fail(format!("{}: {e}", output.display()));
    }
    let before = std::fs::read(output).ok();
    match crate::fix::write::write_atomic(
        output,
        before.as_deref(),
        doc.to_string().as_bytes(),
        None,
    ) {
        Ok(_) => ExitStatus::Success,
        Err(e) => fail(e),
    }
}
