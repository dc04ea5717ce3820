//! `capcheck try`.

use super::args::TryArgs;
use super::ExitStatus;
use crate::checks::binary::HostInspector;
use crate::checks::CheckOptions;
use crate::fix::{fix_unit, plan_as_dropin, write, UnitFix};
use crate::live::systemd;
use crate::live::trial::{self, Marker, Verdict};
use crate::load::targets::{resolve, Scope};
use crate::load::Unit;
use crate::run::{Interrupts, Probe};

fn fail(message: impl std::fmt::Display) -> ExitStatus {
    eprintln!("capcheck: {message}");
    ExitStatus::Error
}

/// The host's unit, without a trial's runtime drop-in (the fix is planned
/// from the unit as it is without it).
fn load(name: &str, without: Option<&Marker>) -> Result<Unit, String> {
    let (targets, errors) = resolve(&[name.to_string()], &Scope::new(None, false));
    if let Some(e) = errors.first() {
        return Err(format!("{}: {}", e.operand, e.message));
    }
    let mut unit = targets
        .first()
        .ok_or_else(|| format!("{name}: no such unit"))?
        .load();
    if let Some(marker) = without {
        unit.dropins.retain(|d| d.path != marker.dropin);
    }
    Ok(unit)
}

/// The fix `fix --write` would make, planned from the command line.
fn plan(args: &TryArgs, unit: &Unit) -> Result<UnitFix, String> {
    let (rules, options) =
        super::fix::planning(&args.plan, None, false).map_err(|e| e.join("; "))?;
    let inspector = HostInspector::new("/".into());
    let checks = CheckOptions {
        platform: None,
        binaries: &inspector,
        min_risk: rules.min_risk(),
    };
    let fix = fix_unit(unit, &rules, &checks, &options);
    match &fix.error {
        Some(e) => Err(format!("{}: {e}", unit.name)),
        None => Ok(fix),
    }
}

/// Makes a fix persistent: the same edits as `fix --write`.
fn persist(fix: &UnitFix) -> Result<(), String> {
    for change in &fix.changes {
        write::write_atomic(&change.path, change.before.as_deref(), &change.after, None)?;
        println!("wrote {}", change.path.display());
    }
    Ok(())
}

/// Whether the drop-in these arguments plan is the one on trial: keeping
/// must persist what was tried, not what other arguments would plan (a
/// `try --keep UNIT` after a crash without the trial's `--profile`).
fn same_as_tried(planned: &[u8], tried: &[u8], dropin: &std::path::Path) -> Result<(), String> {
    if planned == tried {
        Ok(())
    } else {
        Err(format!(
            "the fix these arguments plan is not the one on trial in {}: give --keep the arguments the trial was started with (--profile, --cap, --user, --unsafe-fixes…), or --rollback",
            dropin.display()
        ))
    }
}

/// Keeps a pending trial: the fix, planned again from the unit without
/// the runtime drop-in (and checked to be what was tried), is written, and
/// the drop-in goes.
fn keep(args: &TryArgs, marker: &Marker) -> Result<(), String> {
    let unit = load(&marker.unit, Some(marker))?;
    let fix = plan(args, &unit)?;
    let tried =
        std::fs::read(&marker.dropin).map_err(|e| format!("{}: {e}", marker.dropin.display()))?;
    let planned = plan_as_dropin(
        &unit,
        &fix,
        marker.dropin.clone(),
        &crate::system::TargetSystem::of(None),
    )?;
    same_as_tried(&planned, &tried, &marker.dropin)?;
    persist(&fix)?;
    std::fs::remove_file(&marker.dropin)
        .map_err(|e| format!("{}: {e}", marker.dropin.display()))?;
    trial::remove_empty_parent(&marker.dropin);
    systemd::systemctl(&["daemon-reload"])?;
    marker.forget();
    Ok(())
}

pub fn run(args: &TryArgs) -> ExitStatus {
    if let Err(e) = systemd::require_running("capcheck try") {
        return fail(e);
    }
    let (settle, probe_timeout) = match (
        crate::duration::parse_duration(&args.settle),
        crate::duration::parse_duration(&args.probe_timeout),
    ) {
        (Ok(s), Ok(p)) => (s, p),
        (Err(e), _) | (_, Err(e)) => return fail(e),
    };
    let name = &args.unit;
    // Markers are named after the unit's own name (an alias on the command
    // line finds it too).
    let canonical = load(name, None).map(|u| u.name.name.clone());
    let pending = canonical
        .as_ref()
        .ok()
        .and_then(|n| Marker::pending(n))
        .or_else(|| Marker::pending(name));
    if let Some(pending) = pending {
        let done = if args.rollback {
            pending
                .roll_back()
                .map(|()| "rolled back: the unit runs as before the trial")
        } else if args.keep {
            keep(args, &pending).map(|()| "kept: the fix is persistent")
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
    let (unit, fix) = match load(name, None).and_then(|u| plan(args, &u).map(|f| (u, f))) {
        Ok(x) => x,
        Err(e) => return fail(e),
    };
    let dropin_path = systemd::runtime_dropin(&unit.name.name, trial::DROPIN_NAME);
    let dropin = match plan_as_dropin(
        &unit,
        &fix,
        dropin_path.clone(),
        &crate::system::TargetSystem::of(None),
    ) {
        Ok(d) => d,
        Err(e) => {
            println!("{name}: nothing tried: {e}");
            return ExitStatus::Success;
        }
    };
    println!("{}: trying {}", unit.name, dropin_path.display());
    print!(
        "{}",
        crate::report::escape::visible_lines(&String::from_utf8_lossy(&dropin))
    );
    let interrupts = Interrupts::catch();
    let probe = args.probe.as_ref().map(|command| Probe {
        command: command.clone(),
        settle,
        timeout: probe_timeout,
    });
    let request = trial::Request {
        unit: &unit.name.name,
        dropin: &dropin,
        probe: probe.as_ref(),
        settle,
    };
    let (verdict, marker) = match trial::attempt(&request, &interrupts) {
        Ok(v) => v,
        Err(e) => return fail(e),
    };
    match verdict {
        Verdict::Works { exposure } => {
            let show = |e: Option<f64>| e.map_or("?".to_string(), |v| format!("{v:.1}"));
            println!(
                "{}: works (active, steady for {}{}); exposure {} → {}",
                unit.name,
                args.settle,
                if args.probe.is_some() {
                    ", probe passed"
                } else {
                    ""
                },
                show(exposure.0),
                show(exposure.1)
            );
            let finished = if args.keep {
                keep(args, &marker).map(|()| "kept: the fix is persistent")
            } else if args.rollback {
                marker.roll_back().map(|()| "rolled back, as asked")
            } else {
                Ok("running with the runtime drop-in until reboot: --keep makes it persistent, --rollback undoes it")
            };
            match finished {
                Ok(what) => {
                    println!("{}: {what}", unit.name);
                    ExitStatus::Success
                }
                Err(e) => fail(e),
            }
        }
        Verdict::Broken { why, journal } => {
            println!(
                "{}: broken: {why}; rolled back, it runs as before",
                unit.name
            );
            println!(
                "journal:\n{}",
                crate::report::escape::visible_lines(&journal)
            );
            ExitStatus::Failure
        }
        Verdict::Interrupted => {
            println!("{}: interrupted; rolled back, it runs as before", unit.name);
            ExitStatus::Error
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_was_tried_is_kept() {
        let dropin = std::path::Path::new("/run/systemd/system/a.service.d/99-capcheck-try.conf");
        assert!(same_as_tried(
            b"[Service]\nNoNewPrivileges=yes\n",
            b"[Service]\nNoNewPrivileges=yes\n",
            dropin
        )
        .is_ok());
        let other = same_as_tried(
            b"[Service]\nUser=www-data\n",
            b"[Service]\nNoNewPrivileges=yes\n",
            dropin,
        )
        .unwrap_err();
        assert!(other.contains("not the one on trial"), "{other}");
        assert!(other.contains("99-capcheck-try.conf"), "{other}");
    }
}
