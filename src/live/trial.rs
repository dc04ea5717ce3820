//! `capcheck try`: a planned fix applied to a running service, safely. The
//! fix goes in as a *runtime* drop-in (gone at reboot), the service is
//! restarted and watched: active and not restarting for the settle time,
//! and the probe passing. If it is not, the drop-in goes, the original is
//! restarted, and the journal says why. A marker under /run records what
//! was changed before anything is, so that a crash or Ctrl-C mid-way can be
//! undone (`try --rollback`).

use super::systemd::{self, State};
use crate::run::{self, Interrupts, Probe};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The runtime drop-in's file name: last in order, so that it is what the
/// unit runs with.
pub const DROPIN_NAME: &str = "99-capcheck-try.conf";

/// Where markers of pending trials are kept.
const MARKERS: &str = "/run/capcheck/try";

/// One thing a trial does to the service or its configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Stop,
    WriteDropin,
    RemoveDropin,
    Reload,
    Start,
}

/// What applying the drop-in does, in order. The running instance is
/// stopped *before* the drop-in is in force: its `ExecStop=` runs with the
/// settings it was started with (a de-rooted `ExecStop=` cannot signal a
/// root daemon). The trial's instance is always started.
fn apply_steps(was_active: bool) -> Vec<Step> {
    let mut steps = Vec::new();
    if was_active {
        steps.push(Step::Stop);
    }
    steps.extend([Step::WriteDropin, Step::Reload, Step::Start]);
    steps
}

/// What rolling back does, in order: the trial's instance is stopped with
/// the trial's settings, then the original runs again only if it ran.
fn rollback_steps(was_active: bool) -> Vec<Step> {
    let mut steps = vec![Step::Stop, Step::RemoveDropin, Step::Reload];
    if was_active {
        steps.push(Step::Start);
    }
    steps
}

/// What a trial changed, written before it changes anything.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Marker {
    pub unit: String,
    pub dropin: PathBuf,
    /// Whether the service ran before the trial (restarted, or stopped,
    /// on rollback).
    pub was_active: bool,
    pub started: u64,
}

impl Marker {
    fn path(unit: &str) -> PathBuf {
        Path::new(MARKERS).join(format!("{unit}.json"))
    }

    /// The pending trial of `unit`, if there is one.
    pub fn pending(unit: &str) -> Option<Marker> {
        let text = std::fs::read_to_string(Marker::path(unit)).ok()?;
        serde_json::from_str(&text).ok()
    }

    fn save(&self) -> Result<(), String> {
        std::fs::create_dir_all(MARKERS).map_err(|e| format!("{MARKERS}: {e}"))?;
        let path = Marker::path(&self.unit);
        let text = serde_json::to_vec_pretty(self).expect("a marker serialises");
        crate::fix::write::write_atomic(&path, None, &text, None).map(|_| ())
    }

    /// Does one step of a trial to this marker's unit.
    fn step(&self, step: Step, dropin: &[u8]) -> Result<(), String> {
        match step {
            Step::Stop => systemd::systemctl(&["stop", "--", &self.unit]),
            Step::Start => systemd::systemctl(&["start", "--", &self.unit]),
            Step::Reload => systemd::systemctl(&["daemon-reload"]),
            Step::WriteDropin => {
                crate::fix::write::write_atomic(&self.dropin, None, dropin, None).map(|_| ())
            }
            Step::RemoveDropin => {
                match std::fs::remove_file(&self.dropin) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        return Err(format!("{}: {e}", self.dropin.display()))
                    }
                    _ => {}
                }
                remove_empty_parent(&self.dropin);
                Ok(())
            }
        }
    }

    /// Undoes the trial: the trial's instance stops, the drop-in goes,
    /// systemd reloads, the service runs (or stays stopped) as before.
    /// Every step is tried even when one fails (a unit that does not stop
    /// cleanly must still lose the drop-in); the first error is returned
    /// and the marker stays, so that `--rollback` can be run again.
    pub fn roll_back(&self) -> Result<(), String> {
        let mut first_error = None;
        for step in rollback_steps(self.was_active) {
            if let Err(e) = self.step(step, &[]) {
                first_error.get_or_insert(e);
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => {
                let _ = std::fs::remove_file(Marker::path(&self.unit));
                Ok(())
            }
        }
    }

    /// The trial is over and its drop-in stays where it is (or was made
    /// persistent by the caller, who removes it).
    pub fn forget(&self) {
        let _ = std::fs::remove_file(Marker::path(&self.unit));
    }
}

/// Removes the drop-in's directory once it is empty (a runtime `NAME.d`
/// capcheck made).
pub fn remove_empty_parent(dropin: &Path) {
    if let Some(dir) = dropin.parent() {
        let _ = std::fs::remove_dir(dir); // fails unless empty
    }
}

/// How a trial went.
#[derive(Debug)]
pub enum Verdict {
    /// Active, steady for the settle time, and the probe passed.
    Works {
        exposure: (Option<f64>, Option<f64>),
    },
    /// It did not; rolled back. `why` and the journal lines since the
    /// restart.
    Broken { why: String, journal: String },
    /// Ctrl-C or SIGTERM; rolled back.
    Interrupted,
}

/// What to try.
pub struct Request<'a> {
    pub unit: &'a str,
    /// The drop-in's contents (the fix, read back and checked by the
    /// fixer).
    pub dropin: &'a [u8],
    pub probe: Option<&'a Probe>,
    pub settle: Duration,
}

/// Applies the drop-in, restarts the unit and watches it; rolls back when
/// it fails. On success the drop-in and the marker stay (the caller keeps
/// the fix, forgets the marker, or rolls back).
pub fn attempt(request: &Request, interrupts: &Interrupts) -> Result<(Verdict, Marker), String> {
    systemd::require_running("capcheck try")?;
    let unit = request.unit;
    if let Some(pending) = Marker::pending(unit) {
        return Err(format!(
            "a trial of {unit} is pending ({}): `capcheck try --rollback {unit}` undoes it, `--keep` keeps it",
            pending.dropin.display()
        ));
    }
    let before = State::read(unit)?;
    let exposure_before = systemd::exposure(unit);
    let marker = Marker {
        unit: unit.to_string(),
        dropin: systemd::runtime_dropin(unit, DROPIN_NAME),
        was_active: before.is_active(),
        started: systemd::now(),
    };
    marker.save()?;
    let broken = |why: String| -> Result<(Verdict, Marker), String> {
        let journal = systemd::journal_since(unit, marker.started, 30);
        marker.roll_back()?;
        Ok((Verdict::Broken { why, journal }, marker.clone()))
    };
    for step in apply_steps(marker.was_active) {
        if let Err(e) = marker.step(step, request.dropin) {
            if step == Step::Start {
                return broken(format!("it did not start: {e}"));
            }
            marker.roll_back()?;
            return Err(e);
        }
    }
    let started = State::read(unit)?;
    if !started.is_active() {
        return broken(format!(
            "it is {} ({}) after the restart",
            started.active, started.sub
        ));
    }
    let deadline = Instant::now() + request.settle;
    while Instant::now() < deadline {
        if interrupts.seen() {
            marker.roll_back()?;
            return Ok((Verdict::Interrupted, marker));
        }
        std::thread::sleep(Duration::from_millis(250));
        let now = State::read(unit)?;
        if !now.same_run_as(&started) {
            return broken(format!(
                "it did not stay up: {} ({}), {} restart(s), main pid {} (was {})",
                now.active,
                now.sub,
                now.restarts - started.restarts.min(now.restarts),
                now.main_pid,
                started.main_pid
            ));
        }
    }
    if let Some(probe) = request.probe {
        let result = run::probe_to_end(probe, &|| interrupts.seen());
        if !result.passed {
            if interrupts.seen() {
                marker.roll_back()?;
                return Ok((Verdict::Interrupted, marker));
            }
            return broken(format!("the probe {}: {}", result.status, probe.command));
        }
    }
    let exposure = (exposure_before, systemd::exposure(unit));
    Ok((Verdict::Works { exposure }, marker))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn position(steps: &[Step], step: Step) -> usize {
        steps.iter().position(|s| *s == step).expect("the step")
    }

    #[test]
    fn each_instance_is_stopped_with_the_settings_it_started_with() {
        for was_active in [true, false] {
            let apply = apply_steps(was_active);
            assert_eq!(
                apply.contains(&Step::Stop),
                was_active,
                "only a running service is stopped"
            );
            if was_active {
                assert!(position(&apply, Step::Stop) < position(&apply, Step::WriteDropin));
            }
            assert!(position(&apply, Step::WriteDropin) < position(&apply, Step::Reload));
            assert_eq!(apply.last(), Some(&Step::Start));

            let back = rollback_steps(was_active);
            assert_eq!(back[0], Step::Stop, "the trial's instance stops first");
            assert!(position(&back, Step::RemoveDropin) < position(&back, Step::Reload));
            assert_eq!(
                back.contains(&Step::Start),
                was_active,
                "the original runs again only if it ran"
            );
        }
    }
}
