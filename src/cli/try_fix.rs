//! `capcheck try`: the arguments wired to the trial (`live::trial`).

use super::args::TryArgs;
use super::ExitStatus;
use crate::duration::parse_duration;
use crate::fix::plan::Kind;
use crate::live::plan::Planning;
use crate::live::trial::{self, Marker, Prepared, Verdict, Watch};
use crate::report::escape::{visible, visible_lines};
use crate::run::{Interrupts, Probe};
use crate::systemd;

fn fail(message: impl std::fmt::Display) -> ExitStatus {
    super::print_error(&message.to_string());
    ExitStatus::Error
}

/// What the fix is planned from, given on the command line (and the
/// profile `--record` wrote), for a trial: a move off root that no run as
/// the user proved yet is tried, as is a confinement from a recording that
/// missed the start; the trial proves them or rolls them back.
fn planning(args: &TryArgs, keep_identity: bool) -> Result<Planning, String> {
    let mut plan_args = args.plan.clone();
    plan_args.profiles.extend(args.record.iter().cloned());
    let (rules, mut options) =
        super::fix::planning(&plan_args, None, false).map_err(|e| e.join("; "))?;
    options.trial = true;
    options.keep_identity = keep_identity;
    Ok(Planning { rules, options })
}

/// Keeps a trial, printing the files written.
fn keep(args: &TryArgs, marker: &Marker) -> Result<&'static str, String> {
    for path in marker.keep(&planning(args, marker.keeps_identity)?)? {
        println!("wrote {}", path.display());
    }
    Ok("kept: the fix is persistent")
}

/// Ends a trial as the arguments ask: kept, rolled back, or left running.
fn finish(args: &TryArgs, marker: &Marker) -> Result<&'static str, String> {
    if args.keep {
        keep(args, marker)
    } else if args.rollback {
        marker.roll_back().map(|()| "rolled back, as asked")
    } else {
        Ok("running with the runtime drop-in until reboot: --keep makes it persistent, --rollback undoes it")
    }
}

pub fn run(args: &TryArgs) -> ExitStatus {
    if let Err(e) = systemd::require_running("capcheck try") {
        return fail(e);
    }
    let (settle, probe_timeout) = match (
        parse_duration(&args.settle),
        parse_duration(&args.probe_timeout),
    ) {
        (Ok(s), Ok(p)) => (s, p),
        (Err(e), _) | (_, Err(e)) => return fail(e),
    };
    let name = &args.unit;
    match trial::pending(name) {
        Err(e) => return fail(e),
        Ok(Some(pending)) => {
            let done = if args.rollback {
                pending
                    .roll_back()
                    .map(|()| "rolled back: the unit runs as before the trial")
            } else if args.keep {
                keep(args, &pending)
            } else {
                Err(format!(
                    "a trial of {name} is pending: --rollback undoes it, --keep keeps it"
                ))
            };
            return match done {
                Ok(what) => {
                    println!("{name}: {what}");
                    ExitStatus::Success
                }
                Err(e) => fail(e),
            };
        }
        Ok(None) => {}
    }
    if let Some(profile) = &args.record {
        if let Err(e) = record_first(args, profile) {
            return fail(e);
        }
    }
    let probe = args.probe.as_ref().map(|command| Probe {
        command: command.clone(),
        settle,
        timeout: probe_timeout,
    });
    let watch = Watch {
        settle,
        probe: probe.as_ref(),
    };
    let interrupts = Interrupts::catch();
    // The best plan first: a move off root when the evidence allows one;
    // when it does not work, the confinement.
    let mut keep_identity = false;
    loop {
        let prepared = match planning(args, keep_identity).and_then(|p| trial::prepare(name, &p)) {
            Ok(Prepared::Trial(t)) => t,
            Ok(Prepared::Nothing(why)) if !keep_identity => {
                // A move off root a trial cannot make (a user to create):
                // the confinement.
                println!("{name}: not moved off root in a trial: {}", visible(&why));
                keep_identity = true;
                continue;
            }
            Ok(Prepared::Nothing(why)) => {
                println!("{name}: nothing tried: {}", visible(&why));
                return ExitStatus::Success;
            }
            Err(e) => return fail(e),
        };
        println!(
            "{}: trying {} ({})",
            prepared.unit,
            prepared.dropin.display(),
            prepared.kind.as_str()
        );
        print!(
            "{}",
            visible_lines(&String::from_utf8_lossy(&prepared.contents))
        );
        let (verdict, marker) = match trial::attempt(&prepared, &watch, &interrupts) {
            Ok(v) => v,
            Err(e) => return fail(e),
        };
        let unit = &prepared.unit;
        match verdict {
            Verdict::Works { exposure } => {
                let show = |e: Option<f64>| e.map_or("?".to_string(), |v| format!("{v:.1}"));
                println!(
                    "{unit}: works (active, steady for {}{}); exposure {} → {}; the plan kept: {}",
                    args.settle,
                    if args.probe.is_some() {
                        ", probe passed"
                    } else {
                        ""
                    },
                    show(exposure.0),
                    show(exposure.1),
                    prepared.kind.as_str()
                );
                return match finish(args, &marker) {
                    Ok(what) => {
                        println!("{unit}: {what}");
                        ExitStatus::Success
                    }
                    Err(e) => fail(e),
                };
            }
            Verdict::Broken { why, journal } => {
                println!(
                    "{unit}: {} broken: {}; rolled back, it runs as before",
                    prepared.kind.as_str(),
                    visible(&why)
                );
                println!("journal:\n{}", visible_lines(&journal));
                if prepared.kind == Kind::DeRoot && !keep_identity {
                    println!("{unit}: trying the confinement instead (it keeps its identity)");
                    keep_identity = true;
                    continue;
                }
                return ExitStatus::Failure;
            }
            Verdict::Interrupted => {
                println!("{unit}: interrupted; rolled back, it runs as before");
                return ExitStatus::Error;
            }
        }
    }
}

/// `--record PROFILE`: records the service into PROFILE before the trial,
/// as `capcheck record --unit` does: its start (the service is stopped for
/// the recording and started again), or with `--attach` the running
/// service, untouched.
fn record_first(args: &TryArgs, profile: &std::path::Path) -> Result<(), String> {
    let name = &args.unit;
    let record = super::args::RecordArgs {
        output: Some(profile.to_path_buf()),
        user: None,
        timeout: args.record_timeout.clone(),
        probe: args.probe.clone(),
        settle: "2s".to_string(),
        probe_timeout: args.probe_timeout.clone(),
        unit: Some(name.clone()),
        attach: args.attach.is_some(),
        duration: args.attach.clone().unwrap_or_default(),
        platform: None,
        no_user_run: false,
        command: Vec::new(),
    };
    // The recording starts the program itself: systemd's copy, and the
    // sockets that would start it again, are stopped meanwhile.
    let mut stopped = Vec::new();
    if !record.attach {
        let triggers = systemd::show(name, &["TriggeredBy"])?;
        let sockets = triggers.get("TriggeredBy").cloned().unwrap_or_default();
        for unit in sockets.split_whitespace().chain([name.as_str()]) {
            if systemd::State::read(unit)?.is_active() {
                systemd::job(systemd::Job::Stop, unit)?;
                stopped.push(unit.to_string());
            }
        }
    }
    println!("{name}: recording into {}", profile.display());
    let recorded = super::record::record(&record);
    for unit in stopped.iter().rev() {
        systemd::job(systemd::Job::Start, unit)?;
    }

    match recorded {
        ExitStatus::Success => Ok(()),
        _ => Err(format!(
            "the recording of {name} did not succeed ({}): nothing was tried",
            profile.display()
        )),
    }
}
