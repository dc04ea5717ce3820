//! What a trial applies, and what keeping it writes: the fix `fix --write`
//! would make, planned (by fix's planner) from the host's unit as it is
//! without the trial's own runtime drop-in, and that plan as one drop-in.

use crate::checks::binary::HostInspector;
use crate::checks::CheckOptions;
use crate::fix::{fix_unit, plan_as_dropin, write, FixOptions, UnitFix};
use crate::lint::Rules;
use crate::load::targets::{resolve, Scope};
use crate::load::Unit;
use crate::system::TargetSystem;
use std::path::{Path, PathBuf};

/// What a fix is planned from: the rules (for lint-carried fixes) and
/// `fix`'s options, as the command line gives them.
pub struct Planning {
    pub rules: Rules,
    pub options: FixOptions,
}

/// The host's unit `name`, without the runtime drop-in at `without` (a
/// trial's: the fix is planned from the unit as it is without it).
pub fn load(name: &str, without: Option<&Path>) -> Result<Unit, String> {
    let (targets, errors) = resolve(&[name.to_string()], &Scope::new(None, false));
    if let Some(e) = errors.first() {
        return Err(format!("{}: {}", e.operand, e.message));
    }
    let mut unit = targets
        .first()
        .ok_or_else(|| format!("{name}: no such unit"))?
        .load();
    if let Some(path) = without {
        unit.dropins.retain(|d| d.path != path);
    }
    Ok(unit)
}

/// The fix `fix --write` would make of `unit`.
pub fn plan(unit: &Unit, planning: &Planning) -> Result<UnitFix, String> {
    let inspector = HostInspector::new("/".into());
    let checks = CheckOptions {
        platform: None,
        binaries: &inspector,
        min_risk: planning.rules.min_risk(),
    };
    let fix = fix_unit(unit, &planning.rules, &checks, &planning.options);
    match &fix.error {
        Some(e) => Err(format!("{}: {e}", unit.name)),
        None => Ok(fix),
    }
}

/// The fix's plan as the text of one drop-in at `path`, read back with
/// the unit like any fix; Err says why there is nothing to try.
pub fn as_dropin(unit: &Unit, fix: &UnitFix, path: &Path) -> Result<Vec<u8>, String> {
    plan_as_dropin(unit, fix, path.to_path_buf(), &TargetSystem::of(None))
}

/// Makes a fix persistent, with the same edits as `fix --write`; the
/// files written.
pub fn persist(fix: &UnitFix) -> Result<Vec<PathBuf>, String> {
    let mut written = Vec::new();
    for change in &fix.changes {
        write::write_atomic(&change.path, change.before.as_deref(), &change.after, None)?;
        written.push(change.path.clone());
    }
    Ok(written)
}
