//! `capcheck try`: a planned fix applied to a running service, safely. The
//! fix goes in as a *runtime* drop-in (gone at reboot), the service is
//! restarted and watched: active and not restarting for the settle time,
//! and the probe passing within its time limit. If it is not, the trial's
//! instance stops, the drop-in goes, the original runs again, and the
//! journal says why. A marker under /run records what the trial does
//! before it does it, so that a crash, a SIGKILL or a Ctrl-C mid-way can
//! be undone (`try --rollback`).
//!
//! A trial writes and removes only its own files: the drop-in is created
//! only where nothing is (an administrator's file at its path stops the
//! trial before anything is restarted), and removed only while it is
//! still the file the trial wrote, by identity and contents
//! (`fix::owned`).

use super::plan::{self, Planning};
use crate::fix::owned::{self, Removal};
use crate::fix::plan::Kind;
use crate::fix::write::{self, FileId};
use crate::run::{self, Interrupts, Probe};
use crate::systemd::{self, Job, State};
use crate::unit_name::UnitName;
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
    WriteDropin,
    Stop,
    RemoveDropin,
    Reload,
    Start,
}

/// What applying the drop-in does, in order. The drop-in is written
/// first, where nothing is (or nothing happens at all); it is in force
/// only from the reload, so the running instance is stopped with the
/// settings it was started with (a de-rooted `ExecStop=` cannot signal a
/// root daemon). The trial's instance is always started.
fn apply_steps(was_active: bool) -> Vec<Step> {
    let mut steps = vec![Step::WriteDropin];
    if was_active {
        steps.push(Step::Stop);
    }
    steps.extend([Step::Reload, Step::Start]);
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

/// The drop-in a trial writes: the plan, and a line naming the trial (so
/// that its text is the trial's own) and how to undo it.
fn dropin_text(plan: &[u8], unit: &str, trial: &str) -> Vec<u8> {
    let mut text = plan.to_vec();
    text.extend_from_slice(
        format!(
            "# Trial {trial}: gone at reboot; `capcheck try --rollback {unit}` undoes it now.\n"
        )
        .as_bytes(),
    );
    text
}

/// What a trial changes, written before it changes anything.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Marker {
    pub unit: String,
    /// The trial (its start in nanoseconds, and capcheck's pid).
    pub trial: String,
    pub dropin: PathBuf,
    /// The drop-in's text, as written.
    pub contents: String,
    /// The drop-in's identity once written (None before, or when capcheck
    /// was killed between writing it and saying so here: its text, which
    /// names the trial, identifies it then).
    pub written: Option<FileId>,
    /// Whether the trial created the drop-in's directory (removed with the
    /// drop-in when nothing else is in it).
    pub created_dir: bool,
    /// Whether the service ran before the trial (restarted, or stopped,
    /// on rollback).
    pub was_active: bool,
    pub started: u64,
    /// The plan tried keeps the identity: the second one, after a move off
    /// root did not work (keeping plans it so again).
    #[serde(default)]
    pub keeps_identity: bool,
}

impl Marker {
    fn path(unit: &str) -> PathBuf {
        Path::new(MARKERS).join(format!("{unit}.json"))
    }

    /// The pending trial of `unit`, if there is one; Err when its marker
    /// cannot be read.
    pub fn pending(unit: &str) -> Result<Option<Marker>, String> {
        if UnitName::parse(unit).is_none() {
            return Ok(None); // not a unit's name, nor one of a marker's
        }
        let path = Marker::path(unit);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        serde_json::from_str(&text).map(Some).map_err(|e| {
            format!(
                "{}: not a marker of this capcheck ({e}): undo that trial by hand (README: \"What try changes on a host\")",
                path.display()
            )
        })
    }

    fn json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("a marker serialises")
    }

    /// Writes a new marker; fails if there is one (another trial of the
    /// unit started meanwhile).
    fn create(&self) -> Result<(), String> {
        std::fs::create_dir_all(MARKERS).map_err(|e| format!("{MARKERS}: {e}"))?;
        write::write_atomic(&Marker::path(&self.unit), None, &self.json(), None)
            .map(|_| ())
            .map_err(|e| format!("another trial of {} began: {e}", self.unit))
    }

    /// Writes the drop-in where nothing is, and then its identity into
    /// the marker.
    fn write_dropin(&mut self) -> Result<(), String> {
        let id = write::write_atomic(&self.dropin, None, self.contents.as_bytes(), None)?;
        let before = self.json();
        self.written = Some(id);
        if let Err(e) =
            write::write_atomic(&Marker::path(&self.unit), Some(&before), &self.json(), None)
        {
            // Not in force yet (no reload): it goes, with the trial.
            let _ = self.remove_dropin();
            return Err(e);
        }
        Ok(())
    }

    /// Removes the drop-in if it is still the file the trial wrote, and
    /// its directory if the trial made it and it is empty.
    fn remove_dropin(&self) -> Result<Removal, String> {
        let removal = owned::remove_own(&self.dropin, self.written, self.contents.as_bytes())?;
        if self.created_dir {
            if let Some(dir) = self.dropin.parent() {
                let _ = std::fs::remove_dir(dir); // fails unless empty
            }
        }
        Ok(removal)
    }

    /// Does one step of a trial to this marker's unit; Ok(Some(why)) when
    /// the drop-in to remove is no longer the trial's, and was left.
    fn step(&mut self, step: Step) -> Result<Option<String>, String> {
        match step {
            Step::WriteDropin => self.write_dropin().map(|()| None),
            Step::Stop => systemd::job(Job::Stop, &self.unit).map(|()| None),
            Step::Start => systemd::job(Job::Start, &self.unit).map(|()| None),
            Step::Reload => systemd::daemon_reload().map(|()| None),
            Step::RemoveDropin => match self.remove_dropin()? {
                Removal::NotOurs(why) => Ok(Some(why)),
                Removal::Removed | Removal::Absent => Ok(None),
            },
        }
    }

    /// Undoes the trial: the trial's instance stops, the drop-in goes
    /// (if it is still the trial's), systemd reloads, the service runs (or
    /// stays stopped) as before. Every step is tried even when one fails
    /// (a unit that does not stop cleanly must still lose the drop-in);
    /// the first error is returned. The marker stays if a step failed, so
    /// that `--rollback` can be run again; a drop-in that is no longer the
    /// trial's is not a failed step: it is left, and said.
    pub fn roll_back(&self) -> Result<(), String> {
        let mut first_error = None;
        let mut left = None;
        let mut this = self.clone();
        for step in rollback_steps(self.was_active) {
            match this.step(step) {
                Ok(note) => left = left.or(note),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        if let Some(e) = first_error {
            return Err(format!(
                "the rollback failed: {e}; the trial stays pending: `capcheck try --rollback {}` tries again",
                self.unit
            ));
        }
        self.forget();
        match left {
            Some(why) => Err(format!("rolled back, but {why}: left as it is")),
            None => Ok(()),
        }
    }

    /// The trial is over and its drop-in stays where it is (or was made
    /// persistent by the caller, who removes it).
    pub fn forget(&self) {
        let _ = std::fs::remove_file(Marker::path(&self.unit));
    }

    /// Keeps this trial: the fix, planned again from the unit without the
    /// runtime drop-in, must be the one tried; it is written as `fix
    /// --write` writes it, the runtime drop-in goes, systemd reloads.
    /// Returns the files written.
    pub fn keep(&self, planning: &Planning) -> Result<Vec<PathBuf>, String> {
        if write::read_current(&self.dropin, None).as_deref() != Some(self.contents.as_bytes()) {
            return Err(format!(
                "{} is not the trial's drop-in (it was not written, or was changed): nothing to keep; `capcheck try --rollback {}` ends the trial",
                self.dropin.display(),
                self.unit
            ));
        }
        let unit = plan::load(&self.unit, Some(&self.dropin))?;
        let fix = plan::plan(&unit, planning)?;
        let planned = plan::as_dropin(&unit, &fix, &self.dropin)?;
        same_as_tried(
            &dropin_text(&planned, &self.unit, &self.trial),
            self.contents.as_bytes(),
            &self.dropin,
        )?;
        let written = plan::persist(&fix)?;
        if let Removal::NotOurs(why) = self.remove_dropin()? {
            return Err(format!(
                "the fix is written ({}), but {why}: left as it is",
                written
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        systemd::daemon_reload()?;
        self.forget();
        Ok(written)
    }
}

/// Whether the drop-in these arguments plan is the one on trial: keeping
/// must persist what was tried, not what other arguments would plan (a
/// `try --keep UNIT` after a crash without the trial's `--profile`).
fn same_as_tried(planned: &[u8], tried: &[u8], dropin: &Path) -> Result<(), String> {
    if planned == tried {
        Ok(())
    } else {
        Err(format!(
            "the fix these arguments plan is not the one on trial in {}: give --keep the arguments the trial was started with (--profile, --cap, --user, --unsafe-fixes…), or --rollback",
            dropin.display()
        ))
    }
}

/// The pending trial of the unit `name` (or of the unit it is an alias
/// of: markers are named after the unit's own name).
pub fn pending(name: &str) -> Result<Option<Marker>, String> {
    let canonical = plan::load(name, None).ok().map(|u| u.name.name);
    match canonical.as_deref().filter(|c| *c != name) {
        Some(own) => match Marker::pending(own)? {
            Some(marker) => Ok(Some(marker)),
            None => Marker::pending(name),
        },
        None => Marker::pending(name),
    }
}

/// A trial, planned: the unit, and the drop-in it would get.
#[derive(Debug)]
pub struct Trial {
    pub unit: String,
    pub dropin: PathBuf,
    pub contents: Vec<u8>,
    /// The kind of fix the drop-in carries out.
    pub kind: Kind,
    keeps_identity: bool,
    id: String,
}

/// What `try` would do to the unit `name`.
#[derive(Debug)]
pub enum Prepared {
    Trial(Trial),
    /// Nothing to try, and why.
    Nothing(String),
}

/// Refuses a trial whose drop-in's path holds a file: the trial would
/// neither replace nor remove it.
fn refuse_occupied(dropin: &Path, unit: &str) -> Result<(), String> {
    match write::read_current(dropin, None) {
        Some(there) => Err(format!(
            "{}; nothing was tried, {unit} was not touched",
            owned::occupied(dropin, &there)
        )),
        None => Ok(()),
    }
}

/// Plans the trial of the unit `name`: the fix `fix --write` would make,
/// as the runtime drop-in.
pub fn prepare(name: &str, planning: &Planning) -> Result<Prepared, String> {
    let unit = plan::load(name, None)?;
    let dropin = systemd::runtime_dropin(&unit.name.name, DROPIN_NAME);
    refuse_occupied(&dropin, &unit.name.name)?;
    let fix = plan::plan(&unit, planning)?;
    let planned = match plan::as_dropin(&unit, &fix, &dropin) {
        Ok(planned) => planned,
        Err(why) => return Ok(Prepared::Nothing(why)),
    };
    let id = format!("{}-{}", systemd::now_nanos(), std::process::id());
    Ok(Prepared::Trial(Trial {
        contents: dropin_text(&planned, &unit.name.name, &id),
        unit: unit.name.name,
        dropin,
        kind: fix.plan.as_ref().map_or(Kind::None, |p| p.kind),
        keeps_identity: planning.options.keep_identity,
        id,
    }))
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

/// How the trial's instance is watched.
pub struct Watch<'a> {
    pub settle: Duration,
    pub probe: Option<&'a Probe>,
}

/// Applies the drop-in, restarts the unit and watches it; rolls back when
/// it fails. On success the drop-in and the marker stay (the caller keeps
/// the fix, forgets the marker, or rolls back). An error before the
/// service was touched changes nothing; one after it rolls back.
pub fn attempt(
    trial: &Trial,
    watch: &Watch,
    interrupts: &Interrupts,
) -> Result<(Verdict, Marker), String> {
    systemd::require_running("capcheck try")?;
    let unit = trial.unit.as_str();
    if let Some(pending) = Marker::pending(unit)? {
        return Err(format!(
            "a trial of {unit} is pending ({}): `capcheck try --rollback {unit}` undoes it, `--keep` keeps it",
            pending.dropin.display()
        ));
    }
    refuse_occupied(&trial.dropin, unit)?;
    let before = State::read(unit)?;
    let exposure_before = systemd::exposure(unit);
    let mut marker = Marker {
        unit: unit.to_string(),
        trial: trial.id.clone(),
        dropin: trial.dropin.clone(),
        contents: String::from_utf8_lossy(&trial.contents).into_owned(),
        written: None,
        created_dir: !trial.dropin.parent().is_some_and(Path::is_dir),
        was_active: before.is_active(),
        started: systemd::now(),
        keeps_identity: trial.keeps_identity,
    };
    marker.create()?;
    let journal = |marker: &Marker| systemd::journal_since(unit, marker.started, 30);
    for step in apply_steps(marker.was_active) {
        match marker.step(step) {
            Ok(_) => {}
            // Nothing was changed but the marker.
            Err(e) if step == Step::WriteDropin => {
                marker.forget();
                return Err(format!("{e}; nothing was tried, {unit} was not touched"));
            }
            Err(e) if step == Step::Start => {
                let why = format!("it did not start: {e}");
                let journal = journal(&marker);
                marker.roll_back()?;
                return Ok((Verdict::Broken { why, journal }, marker));
            }
            Err(e) => return Err(failed(e, &marker)),
        }
    }
    let outcome = watch_trial(unit, watch, interrupts);
    let verdict = match outcome {
        Ok(None) => Verdict::Works {
            exposure: (exposure_before, systemd::exposure(unit)),
        },
        Ok(Some(_)) if interrupts.seen() => {
            marker.roll_back()?;
            Verdict::Interrupted
        }
        Ok(Some(why)) => {
            let journal = journal(&marker);
            marker.roll_back()?;
            Verdict::Broken { why, journal }
        }
        Err(e) => return Err(failed(e, &marker)),
    };
    Ok((verdict, marker))
}

/// An error once the service was touched: the trial is rolled back.
fn failed(e: String, marker: &Marker) -> String {
    match marker.roll_back() {
        Ok(()) => format!("{e}; rolled back"),
        Err(back) => format!("{e}; {back}"),
    }
}

/// Watches the trial's instance: None when it works, else why not.
fn watch_trial(
    unit: &str,
    watch: &Watch,
    interrupts: &Interrupts,
) -> Result<Option<String>, String> {
    let started = State::read(unit)?;
    if !started.is_active() {
        return Ok(Some(format!(
            "it is {} ({}) after the restart",
            started.active, started.sub
        )));
    }
    let deadline = Instant::now() + watch.settle;
    while Instant::now() < deadline {
        if interrupts.seen() {
            return Ok(Some("interrupted".to_string()));
        }
        std::thread::sleep(Duration::from_millis(250));
        let now = State::read(unit)?;
        if !now.same_run_as(&started) {
            return Ok(Some(format!(
                "it did not stay up: {} ({}), {} restart(s), main pid {} (was {})",
                now.active,
                now.sub,
                now.restarts - started.restarts.min(now.restarts),
                now.main_pid,
                started.main_pid
            )));
        }
    }
    let Some(probe) = watch.probe else {
        return Ok(None);
    };
    let result = run::probe_to_end(probe, &|| interrupts.seen());
    Ok((!result.passed).then(|| format!("the probe {}: {}", result.status, probe.command)))
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
                apply.first(),
                Some(&Step::WriteDropin),
                "the drop-in is written before anything is stopped"
            );
            assert_eq!(
                apply.contains(&Step::Stop),
                was_active,
                "only a running service is stopped"
            );
            if was_active {
                assert!(position(&apply, Step::Stop) < position(&apply, Step::Reload));
            }
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

    #[test]
    fn only_what_was_tried_is_kept() {
        let dropin = Path::new("/run/systemd/system/a.service.d/99-capcheck-try.conf");
        let tried = dropin_text(b"[Service]\nNoNewPrivileges=yes\n", "a.service", "1-2");
        assert!(same_as_tried(
            &dropin_text(b"[Service]\nNoNewPrivileges=yes\n", "a.service", "1-2"),
            &tried,
            dropin
        )
        .is_ok());
        let other = same_as_tried(
            &dropin_text(b"[Service]\nUser=www-data\n", "a.service", "1-2"),
            &tried,
            dropin,
        )
        .unwrap_err();
        assert!(other.contains("not the one on trial"), "{other}");
        assert!(other.contains("99-capcheck-try.conf"), "{other}");
    }

    #[test]
    fn nothing_is_kept_unless_the_trials_dropin_is_there() {
        let dir = tempfile::tempdir().unwrap();
        let marker = Marker {
            unit: "a.service".to_string(),
            trial: "1-2".to_string(),
            dropin: dir.path().join("a.service.d").join(DROPIN_NAME),
            contents: "[Service]\nNoNewPrivileges=yes\n# Trial 1-2\n".to_string(),
            written: None,
            created_dir: false,
            was_active: true,
            started: 0,
            keeps_identity: false,
        };
        let planning = Planning {
            rules: crate::lint::Rules::new(&Default::default(), &[], &[]).unwrap(),
            options: crate::fix::FixOptions::default(),
        };
        let absent = marker.keep(&planning).unwrap_err();
        assert!(absent.contains("nothing to keep"), "{absent}");
        std::fs::create_dir_all(marker.dropin.parent().unwrap()).unwrap();
        std::fs::write(&marker.dropin, "[Service]\nUser=admin\n").unwrap();
        let other = marker.keep(&planning).unwrap_err();
        assert!(other.contains("nothing to keep"), "{other}");
        assert_eq!(
            std::fs::read_to_string(&marker.dropin).unwrap(),
            "[Service]\nUser=admin\n"
        );
    }

    #[test]
    fn a_trials_dropin_names_the_trial_and_how_to_undo_it() {
        let text = dropin_text(
            b"# Written by capcheck try: x.\n[Service]\n",
            "a.service",
            "7-9",
        );
        let text = String::from_utf8(text).unwrap();
        assert!(owned::is_marked(text.as_bytes()));
        assert!(text.ends_with(
            "# Trial 7-9: gone at reboot; `capcheck try --rollback a.service` undoes it now.\n"
        ));
    }
}
