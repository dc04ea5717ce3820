//! `capcheck fix`: plans least-privilege settings from evidence, turns
//! them into edits (or a drop-in), and proves the edits give the plan by
//! reading the result back the way systemd would.

pub mod diff;
pub mod edits;
pub mod evidence;
pub mod plan;
pub mod write;

use crate::checks::CheckOptions;
use crate::finding::{Applicability, Edit};
use crate::lint::Rules;
use crate::load::{DropIn, Fragment, Unit};
use crate::model::exec::Prefix;
use crate::model::{privileges, Privileges};
use crate::syntax::logical::UnitFile;
use evidence::{Needed, Profile};
use plan::{Identity, IdentityChoice, Target};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What the user allows and provides.
#[derive(Debug, Default)]
pub struct FixOptions {
    pub profiles: Vec<Profile>,
    /// `--cap`: capabilities the user says are needed.
    pub caps: Vec<u8>,
    pub identity: IdentityChoice,
    /// `--drop-in`: never edit the unit file itself.
    pub force_dropin: bool,
    pub root: Option<PathBuf>,
    /// `--unsafe-fixes`: also apply guesses.
    pub unsafe_fixes: bool,
}

/// One file's contents before and after (before is None for a new file).
#[derive(Debug, Clone)]
pub struct FileChange {
    pub path: PathBuf,
    pub before: Option<Vec<u8>>,
    pub after: Vec<u8>,
}

/// The fix of one unit.
#[derive(Debug, Default)]
pub struct UnitFix {
    pub unit: String,
    pub changes: Vec<FileChange>,
    /// The least safe applicability among the applied changes.
    pub applicability: Option<Applicability>,
    /// Per needed capability, the evidence for it.
    pub evidence: BTreeMap<String, Vec<String>>,
    /// What the fix aims at, for the report (None when nothing was planned).
    pub target: Option<TargetSummary>,
    pub notes: Vec<String>,
    /// Set when no exact fix could be made; nothing is changed then.
    pub error: Option<String>,
}

/// The planned privileges, as the JSON report shows them.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TargetSummary {
    pub user: Option<String>,
    pub dynamic_user: bool,
    pub capability_bounding_set: crate::caps::CapSet,
    pub ambient_capabilities: crate::caps::CapSet,
    pub no_new_privileges: bool,
}

/// Lint-carried fixes are applied in passes until none is left; more than
/// this many passes means fixes that undo each other.
const MAX_LINT_PASSES: usize = 10;

/// Plans the fix of one unit. Nothing is written.
pub fn fix_unit(
    unit: &Unit,
    rules: &Rules,
    checks: &CheckOptions,
    options: &FixOptions,
) -> UnitFix {
    let mut result = UnitFix {
        unit: unit.name.name.clone(),
        ..UnitFix::default()
    };
    let model = privileges(unit);
    if !model.loaded || !model.has_exec_context || !model.runs_commands() {
        return result;
    }
    let mut texts: BTreeMap<PathBuf, Vec<u8>> = unit
        .files()
        .map(|f| (f.path.clone(), f.tree.source.bytes.to_vec()))
        .collect();
    let originals = texts.clone();
    let allowed = if options.unsafe_fixes {
        Applicability::Guess
    } else {
        Applicability::EvidenceBased
    };

    // 1. The fixes lint findings carry (typos, misspelled keys), pass after
    // pass: one fix can reveal the next (a renamed key whose value holds a
    // typo), and the result must be one that a second run leaves alone.
    let mut unit = unit.clone();
    for _ in 0..MAX_LINT_PASSES {
        let lint_edits: Vec<Edit> = rules
            .lint(&unit, checks)
            .into_iter()
            .filter_map(|f| f.fix)
            .filter(|f| f.applicability <= allowed)
            .flat_map(|f| {
                let applicability = f.applicability;
                f.edits.into_iter().map(move |e| (e, applicability))
            })
            .map(|(e, a)| {
                result.applicability = result.applicability.max(Some(a));
                e
            })
            .collect();
        if lint_edits.is_empty() {
            break;
        }
        let previous = texts.clone();
        if let Err(e) = apply_edits(&mut texts, &lint_edits) {
            result.error = Some(e);
            return result;
        }
        let rebuilt = rebuild(&unit, &texts, None);
        // A renamed key can bring a bad value into force (`user=` with a
        // control character becoming `User=`): such a pass is left out.
        if !privileges(&rebuilt).loaded {
            texts = previous;
            result
                .notes
                .push("a suggested fix was left out: the unit would not load with it".to_string());
            break;
        }
        unit = rebuilt;
    }
    let model = privileges(&unit);

    // 2. The target the evidence supports.
    let needed = evidence::gather(&model, &options.profiles, &options.caps);
    let intended = plan::intended_user(&unit);
    let Some(target) = plan::target(
        &model,
        &unit.name.prefix,
        intended,
        &needed,
        &options.identity,
        options.unsafe_fixes,
    ) else {
        result.notes.push(format!(
            "no evidence of what {} needs: record it with `capcheck record --unit {} -o profile.toml` and pass --profile, \
             or name capabilities with --cap (--unsafe-fixes guesses: non-root, no capabilities)",
            unit.name, unit.name
        ));
        finish(&mut result, &unit, &originals, texts);
        return result;
    };
    let wanted = edits::wanted(&model, &target);
    let mut dropin = None;
    if !wanted.is_empty() {
        let fragment = match &unit.fragment {
            Fragment::File(f) => f.path.clone(),
            _ => return result,
        };
        let in_place =
            if options.force_dropin || edits::is_vendor(&fragment, options.root.as_deref()) {
                Err("vendor unit".to_string())
            } else {
                edits::in_place(&unit, &wanted)
            };
        match in_place {
            Ok(e) => {
                if let Err(e) = apply_edits(&mut texts, &e) {
                    result.error = Some(e);
                    return result;
                }
            }
            Err(why) => {
                let path = edits::dropin_path(&fragment, options.root.as_deref());
                if why != "vendor unit" {
                    result
                        .notes
                        .push(format!("{why}: writing a drop-in instead"));
                }
                let header = format!(
                    "Written by capcheck fix: least privilege for {} ({}).",
                    unit.name,
                    needed.basis.join(", ")
                );
                dropin = Some((path, edits::dropin_text(&target, &header).into_bytes()));
            }
        }
        result.applicability = result.applicability.max(Some(target.applicability));
    }

    // 3. Read the result back as systemd would: it must be the target.
    let fixed = rebuild(&unit, &texts, dropin.clone());
    let after = privileges(&fixed);
    if let Some(problem) = mismatch(&after, &target) {
        result.error = Some(format!(
            "the planned edits would not give the planned privileges ({problem}); nothing changed"
        ));
        return result;
    }
    if let Some((path, bytes)) = dropin {
        let before = std::fs::read(&path).ok();
        if before.as_deref() != Some(bytes.as_slice()) {
            result.changes.push(FileChange {
                path,
                before,
                after: bytes,
            });
        }
    }
    describe(&mut result, &after, &needed, &target);
    finish(&mut result, &unit, &originals, texts);
    result
}

fn apply_edits(texts: &mut BTreeMap<PathBuf, Vec<u8>>, all: &[Edit]) -> Result<(), String> {
    let mut by_path: BTreeMap<&Path, Vec<Edit>> = BTreeMap::new();
    for e in all {
        by_path.entry(&e.path).or_default().push(e.clone());
    }
    for (path, list) in by_path {
        let text = texts
            .get(path)
            .ok_or_else(|| format!("{}: not a file of this unit", path.display()))?;
        let new = edits::apply(text, &list).map_err(|e| format!("{}: {e}", path.display()))?;
        texts.insert(path.to_path_buf(), new);
    }
    Ok(())
}

/// The unit with some files' contents replaced, and maybe a new drop-in.
pub fn rebuild(
    unit: &Unit,
    texts: &BTreeMap<PathBuf, Vec<u8>>,
    new_dropin: Option<(PathBuf, Vec<u8>)>,
) -> Unit {
    let unit_type = unit.name.unit_type;
    let reparse = |f: &UnitFile| match texts.get(&f.path) {
        Some(bytes) if bytes.as_slice() != &*f.tree.source.bytes => {
            UnitFile::parse(&f.path, bytes.clone(), unit_type)
        }
        _ => f.clone(),
    };
    let mut rebuilt = unit.clone();
    if let Fragment::File(f) = &unit.fragment {
        rebuilt.fragment = Fragment::File(reparse(f));
    }
    for d in &mut rebuilt.dropins {
        if let Some(f) = &d.file {
            d.file = Some(reparse(f));
        }
    }
    if let Some((path, bytes)) = new_dropin {
        let name = path.file_name().map(|n| n.to_os_string());
        rebuilt
            .dropins
            .retain(|d| d.path.file_name().map(|n| n.to_os_string()) != name);
        rebuilt.dropins.push(DropIn {
            file: Some(UnitFile::parse(&path, bytes, unit_type)),
            path,
            error: None,
        });
        rebuilt
            .dropins
            .sort_by(|a, b| a.path.file_name().cmp(&b.path.file_name()));
    }
    rebuilt
}

/// What differs between the privileges systemd would read and the target.
fn mismatch(after: &Privileges, target: &Target) -> Option<String> {
    if !after.loaded {
        return Some("the unit would not load".to_string());
    }
    let user_ok = match &target.identity {
        Identity::User(name) => after.user.value.as_deref() == Some(name.as_str()),
        Identity::DynamicUser => after.dynamic_user.value && !after.runs_as_root(),
        Identity::KeepRoot => true,
    };
    if !user_ok {
        return Some(format!("User= would be {:?}", after.user.value));
    }
    if after.capability_bounding_set.value != target.bounding {
        return Some(format!(
            "CapabilityBoundingSet= would be {}",
            after.capability_bounding_set.value
        ));
    }
    if after.ambient_capabilities.value != target.ambient {
        return Some(format!(
            "AmbientCapabilities= would be {}",
            after.ambient_capabilities.value
        ));
    }
    (!after.no_new_privileges()).then(|| "NoNewPrivileges= would be off".to_string())
}

/// The evidence per capability and the notes a reader needs.
fn describe(result: &mut UnitFix, after: &Privileges, needed: &Needed, target: &Target) {
    for (cap, evidence) in &needed.caps {
        let name = crate::caps::by_number(*cap).map_or_else(|| cap.to_string(), |c| c.name.clone());
        result
            .evidence
            .insert(name, evidence.iter().map(ToString::to_string).collect());
    }
    result.target = Some(TargetSummary {
        user: after.user.value.clone(),
        dynamic_user: after.dynamic_user.value,
        capability_bounding_set: after.capability_bounding_set.value,
        ambient_capabilities: after.ambient_capabilities.value,
        no_new_privileges: after.no_new_privileges(),
    });
    match &target.identity {
        Identity::User(name) => result.notes.push(format!(
            "the user must exist; a sysusers.d line that creates it: u {name} - \"{}\" -",
            result.unit
        )),
        Identity::KeepRoot => result.notes.push(
            "the program switches user itself (the evidence shows CAP_SETUID/CAP_SETGID): it stays root, limited by the bounding set".to_string(),
        ),
        Identity::DynamicUser => {}
    }
    if target.applicability == Applicability::Guess {
        result.notes.push(
            "guess: no evidence of what the program needs; it gets no capability".to_string(),
        );
    }
    for c in after.commands.iter().filter(|c| c.command.escapes_user()) {
        let prefix = if c.command.has(Prefix::FullyPrivileged) {
            "+"
        } else {
            "!"
        };
        result.notes.push(format!(
            "{}={prefix}{} still runs as root",
            c.directive, c.command.path
        ));
    }
}

fn finish(
    result: &mut UnitFix,
    unit: &Unit,
    originals: &BTreeMap<PathBuf, Vec<u8>>,
    texts: BTreeMap<PathBuf, Vec<u8>>,
) {
    for (path, after) in texts {
        let before = originals.get(&path).cloned();
        if before.as_deref() != Some(after.as_slice()) {
            // A fragment reached through a symlink is written through it,
            // so that the writer can tell whether the link may be followed.
            let through_link = unit
                .fragment_link
                .as_ref()
                .filter(|_| unit.fragment_path() == Some(path.as_path()));
            result.changes.push(FileChange {
                path: through_link.cloned().unwrap_or(path),
                before,
                after,
            });
        }
    }
    result.changes.sort_by(|a, b| a.path.cmp(&b.path));
}
