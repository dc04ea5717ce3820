//! `capcheck try`: the arguments wired to the trial (`live::trial`).

use super::args::TryArgs;
use super::ExitStatus;
use crate::duration::parse_duration;
use crate::live::plan::Planning;
use crate::live::trial::{self, Marker, Prepared, Verdict, Watch};
use crate::report::escape::{visible, visible_lines};
use crate::run::{Interrupts, Probe};
use crate::systemd;

fn fail(message: impl std::fmt::Display) -> ExitStatus {
    super::print_error(&message.to_string());
    ExitStatus::Error
}

/// What the fix is planned from, given on the command line.
fn planning(args: &TryArgs) -> Result<Planning, String> {
    let (rules, options) =
        super::fix::planning(&args.plan, None, false).map_err(|e| e.join("; "))?;
    Ok(Planning { rules, options })
}

/// Keeps a trial, printing the files written.
fn keep(args: &TryArgs, marker: &Marker) -> Result<&'static str, String> {
    for path in marker.keep(&planning(args)?)? {
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
    let prepared = match planning(args).and_then(|p| trial::prepare(name, &p)) {
        Ok(Prepared::Trial(t)) => t,
        Ok(Prepared::Nothing(why)) => {
            println!("{name}: nothing tried: {why}");
            return ExitStatus::Success;
        }
        Err(e) => return fail(e),
    };
    println!("{}: trying {}", prepared.unit, prepared.dropin.display());
    print!(
        "{}",
        visible_lines(&String::from_utf8_lossy(&prepared.contents))
    );
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
    let (verdict, marker) = match trial::attempt(&prepared, &watch, &interrupts) {
        Ok(v) => v,
        Err(e) => return fail(e),
    };
    let unit = &prepared.unit;
    match verdict {
        Verdict::Works { exposure } => {
            let show = |e: Option<f64>| e.map_or("?".to_string(), |v| format!("{v:.1}"));
            println!(
                "{unit}: works (active, steady for {}{}); exposure {} → {}",
                args.settle,
                if args.probe.is_some() {
                    ", probe passed"
                } else {
                    ""
                },
                show(exposure.0),
                show(exposure.1)
            );
            match finish(args, &marker) {
                Ok(what) => {
                    println!("{unit}: {what}");
                    ExitStatus::Success
                }
                Err(e) => fail(e),
            }
        }
        Verdict::Broken { why, journal } => {
            println!(
                "{unit}: broken: {}; rolled back, it runs as before",
                visible(&why)
            );
            println!("journal:\n{}", visible_lines(&journal));
            ExitStatus::Failure
        }
        Verdict::Interrupted => {
            println!("{unit}: interrupted; rolled back, it runs as before");
            ExitStatus::Error
        }
    }
}
