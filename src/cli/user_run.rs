//! `record --unit` of a service that runs as root, once its recording
//! worked: the plan that moves it off root by the evidence of why it
//! needed root is run again, as the user the plan names and with the unit
//! settings it adds (as `capcheck run` starts a unit), with the same
//! probe. Its result goes in the profile's `[de-root]` table: a fix moves
//! the service off root only when this run worked.

use crate::checks::binary::HostInspector;
use crate::checks::CheckOptions;
use crate::config::Config;
use crate::fix::evidence::Profile;
use crate::fix::plan::Kind;
use crate::fix::{fix_unit, fixed_unit, FixOptions};
use crate::lint::Rules;
use crate::load::Unit;
use crate::record::launch;
use crate::record::{self, tracefs};
use crate::run::tree::ProcessTree;
use crate::run::{credentials, directories, Interrupts, Probe};
use std::path::Path;
use std::time::Duration;

/// What the run needs.
pub struct UserRun<'a> {
    pub unit: &'a Unit,
    /// The profile recorded as root, so far.
    pub doc: &'a toml_edit::DocumentMut,
    pub timeout: Duration,
    pub probe: Option<&'a Probe>,
    pub instance: &'a mut tracefs::Instance,
    pub tree: &'a ProcessTree,
    pub interrupts: &'a Interrupts,
}

/// How the run as the user went.
pub struct UserRunResult {
    /// The plan's settings, as unit lines.
    pub settings: Vec<String>,
    pub works: bool,
    pub outcome: String,
}

impl UserRun<'_> {
    /// Runs the program as the de-root plan says; None when the evidence
    /// allows no such plan (the reason goes to standard error).
    pub fn run(self) -> Option<UserRunResult> {
        let profile = Profile::parse(&self.doc.to_string(), Path::new("this recording"), false)
            .map_err(|e| eprintln!("capcheck: {e}"))
            .ok()?;
        let rules = Rules::new(&Config::default(), &[], &[]).ok()?;
        let inspector = HostInspector::new("/".into());
        let checks = CheckOptions {
            platform: None,
            binaries: &inspector,
            min_risk: rules.min_risk(),
        };
        let options = FixOptions {
            profiles: vec![profile],
            trial: true,
            ..FixOptions::default()
        };
        let fix = fix_unit(self.unit, &rules, &checks, &options);
        let Some(plan) = fix
            .plan
            .as_ref()
            .filter(|p| p.kind == Kind::DeRoot && fix.error.is_none())
        else {
            for why in fix
                .left_alone
                .iter()
                .filter(|l| l.starts_with("the identity"))
            {
                eprintln!("capcheck: {}", crate::report::escape::visible(why));
            }
            return None;
        };
        let d = plan.replaces_root.as_ref()?;
        let settings = d.settings();
        let joined = settings.join(", ");
        let shown = crate::report::escape::visible(&joined);
        let fixed = fixed_unit(self.unit, &fix);
        // A user the fix creates does not exist yet: the run takes an id
        // no user or group has, as a new user would be.
        let created = match &plan.create_user {
            Some(name) if !d.prepare.is_empty() => {
                eprintln!(
                    "capcheck: moving it off root needs {shown}; not run: the user {name} does not exist yet and must own the files prepared for it"
                );
                return None;
            }
            Some(name) => Some(credentials::dynamic_id(name).ok()?.to_string()),
            None => None,
        };
        let launch = match launch::of_unit(&fixed, created.as_deref(), true) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("capcheck: moving it off root needs {shown}; not run: {e}");
                return None;
            }
        };
        eprintln!(
            "capcheck: the recording shows what root was needed for; running it again as {}, with {shown}",
            launch.user.display()
        );
        let environment = launch.environment().ok()?;
        let absent: Vec<String> = d
            .prepare
            .iter()
            .filter_map(|c| c.rsplit(' ').next())
            .filter(|p| !Path::new(p).exists())
            .map(str::to_string)
            .collect();
        let recorded = {
            // As at every start after the first, once systemd has removed
            // them at the stop before.
            let _made = match launch.make_directories(directories::Runtime::Fresh) {
                Ok(m) => m,
                Err(e) => {
                    return Some(UserRunResult {
                        settings,
                        works: false,
                        outcome: e,
                    })
                }
            };
            record::record_launch(
                &launch,
                &environment,
                &|planned| planned.clone(),
                self.timeout,
                self.probe,
                self.instance,
                self.tree,
                self.interrupts,
                &mut super::record::report_command,
            )
        };
        // The files prepared for the run go again; the daemon left them.
        for path in absent {
            let regular = std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file());
            if regular {
                let _ = std::fs::remove_file(&path);
            }
        }
        let works = recorded.succeeded && !self.interrupts.seen();
        eprintln!(
            "capcheck: as {}: {} ({})",
            launch.user.display(),
            if works {
                "it works"
            } else {
                "it does not work"
            },
            crate::report::escape::visible(&recorded.outcome)
        );
        Some(UserRunResult {
            settings,
            works,
            outcome: recorded.outcome,
        })
    }
}
