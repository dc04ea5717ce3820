//! `capcheck try`: a planned fix applied to a running service, safely. The
//! fix goes in as a *runtime* drop-in (gone at reboot), the service is
//! restarted and watched: active and not restarting for the settle time,
//! and the probe passing. If it is not, the drop-in goes, the original is
//! restarted, and the journal says why. A marker under /run records what
//! was changed before anything is, so that a crash or Ctrl-C mid-way can be
//! undone (`try --rollback`).

use super::systemd::{self, State};
use crate::run::Interrupts;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The runtime drop-in's file name: last in order, so that it is what the
/// unit runs with.
pub const DROPIN_NAME: &str = "99-capcheck-try.conf";

/// Where markers of pending trials are kept.
const MARKERS: &str = "/run/capcheck/try";

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
        crate::fix::write::write_atomic(&path, None, &text, None)
    }

    /// Undoes the trial: the drop-in goes, systemd reloads, the service
    /// runs (or stays stopped) as before.
    pub fn roll_back(&self) -> Result<(), String> {
        match std::fs::remove_file(&self.dropin) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(format!("{}: {e}", self.dropin.display()))
            }
            _ => {}
        }
        if let Some(dir) = self.dropin.parent() {
            let _ = std::fs::remove_dir(dir); // only when empty
        }
        systemd::systemctl(&["daemon-reload"])?;
        let verb = if self.was_active { "restart" } else { "stop" };
        systemd::systemctl(&[verb, "--", &self.unit])?;
        let _ = std::fs::remove_file(Marker::path(&self.unit));
        Ok(())
    }

    /// The trial is over and its drop-in stays where it is (or was made
    /// persistent by the caller, who removes it).
    pub fn forget(&self) {
        let _ = std::fs::remove_file(Marker::path(&self.unit));
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
    pub probe: Option<&'a str>,
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
    if let Err(e) = crate::fix::write::write_atomic(&marker.dropin, None, request.dropin, None)
        .and_then(|()| systemd::systemctl(&["daemon-reload"]))
    {
        marker.roll_back()?;
        return Err(e);
    }
    if let Err(e) = systemd::systemctl(&["restart", "--", unit]) {
        return broken(format!("it did not start: {e}"));
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
        if let Err(why) = run_probe(probe, interrupts) {
            if interrupts.seen() {
                marker.roll_back()?;
                return Ok((Verdict::Interrupted, marker));
            }
            return broken(why);
        }
    }
    let exposure = (exposure_before, systemd::exposure(unit));
    Ok((Verdict::Works { exposure }, marker))
}

/// Runs the probe with /bin/sh; Err with why when it fails.
fn run_probe(probe: &str, interrupts: &Interrupts) -> Result<(), String> {
    let mut child = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(probe)
        .stdin(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("the probe did not start: {e}"))?;
    loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            return if status.success() {
                Ok(())
            } else {
                Err(format!("the probe failed ({status}): {probe}"))
            };
        }
        if interrupts.seen() {
            let _ = child.kill();
            let _ = child.wait();
            return Err("interrupted".to_string());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
