//! `capcheck fix`: plans least-privilege settings from evidence (confine
//! or de-root), turns them into edits (or a drop-in), and proves the edits
//! give the plan, and take privileges away only, by reading the result
//! back the way systemd would.

pub mod deroot;
pub mod diff;
pub mod edits;
pub mod evidence;
pub mod guard;
pub mod knowledge;
pub mod owned;
pub mod plan;
pub mod protect;
pub mod write;

use crate::checks::CheckOptions;
use crate::finding::{Applicability, Edit};
use crate::lint::Rules;
use crate::load::{DropIn, Fragment, Unit};
use crate::model::exec::Prefix;
use crate::model::{privileges, Privileges};
use crate::syntax::logical::UnitFile;
use crate::system::TargetSystem;
use evidence::{Needed, Profile};
use plan::{Identity, IdentityChoice, Kind, Missing, Plan};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What the user allows and provides, and the system the fix is for.
#[derive(Debug)]
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
    /// The users of the system the unit runs on.
    pub system: TargetSystem,
    /// Planning for `capcheck try` (see [`plan::Inputs::trial`]).
    pub trial: bool,
    /// Keep the identity: no move off root (`try`'s second plan, when the
    /// move failed).
    pub keep_identity: bool,
}

impl Default for FixOptions {
    fn default() -> FixOptions {
        FixOptions {
            profiles: Vec::new(),
            caps: Vec::new(),
            identity: IdentityChoice::default(),
            force_dropin: false,
            root: None,
            unsafe_fixes: false,
            system: TargetSystem::of(None),
            trial: false,
            keep_identity: false,
        }
    }
}

/// One file's contents before and after (before is None for a new file).
#[derive(Debug, Clone)]
pub struct FileChange {
    pub path: PathBuf,
    pub before: Option<Vec<u8>>,
    pub after: Vec<u8>,
}

/// The fix of one unit.
#[derive(Debug)]
pub struct UnitFix {
    pub unit: String,
    pub changes: Vec<FileChange>,
    /// The least safe applicability among the applied changes.
    pub applicability: Option<Applicability>,
    /// The kind of fix planned (None before planning: the unit runs
    /// nothing, or does not load).
    pub kind: Option<Kind>,
    /// Who the service runs as after the fix, and why.
    pub identity: Option<IdentityDecision>,
    /// Per needed capability, the evidence for it.
    pub evidence: BTreeMap<String, Vec<String>>,
    /// What the fix aims at, for the report (None when nothing was planned).
    pub target: Option<TargetSummary>,
    /// Capabilities the evidence needs that the unit does not give.
    pub missing: Vec<Missing>,
    /// What was deliberately left as it is, and why.
    pub left_alone: Vec<String>,
    pub notes: Vec<String>,
    /// Set when no exact fix could be made; nothing is changed then.
    pub error: Option<String>,
    /// The plan the changes carry out (for `try`, which applies it as a
    /// runtime drop-in).
    pub plan: Option<Plan>,
}

/// The identity decision, as the report shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct IdentityDecision {
    pub identity: String,
    pub reason: String,
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

/// How many times a fix is planned again on its own result (`fix_unit`).
const MAX_FIX_ROUNDS: usize = 3;

/// The start of the note about a lint fix the guard left out.
const LEFT_OUT: &str = "a suggested fix was left out";

/// Plans the fix of one unit. Nothing is written.
///
/// One fix can make another acceptable: a misspelled `user=` naming a user
/// the system lacks is left as it is, until the plan puts `DynamicUser=` in
/// force, under which the name need not exist. So the result is fixed again
/// until a round leaves it alone, as a second `capcheck fix` would; the
/// rounds together must still widen nothing. Only edits of the unit's own
/// files are folded in: a new drop-in or sysusers.d file is the next run's.
pub fn fix_unit(
    unit: &Unit,
    rules: &Rules,
    checks: &CheckOptions,
    options: &FixOptions,
) -> UnitFix {
    let mut result = fix_once(unit, rules, checks, options);
    let own = file_texts(unit);
    let original_model = privileges(unit);
    // A round whose edits can be folded in: no error, and edits of the
    // unit's own files only.
    let foldable = |fix: &UnitFix| {
        fix.error.is_none()
            && !fix.changes.is_empty()
            && fix.changes.iter().all(|c| own.contains_key(&c.path))
    };
    for _ in 1..MAX_FIX_ROUNDS {
        if !foldable(&result) {
            break;
        }
        let mut texts = own.clone();
        texts.extend(
            result
                .changes
                .iter()
                .map(|c| (c.path.clone(), c.after.clone())),
        );
        let again = fix_once(&rebuild(unit, &texts, None), rules, checks, options);
        if !foldable(&again) {
            break;
        }
        texts.extend(
            again
                .changes
                .iter()
                .map(|c| (c.path.clone(), c.after.clone())),
        );
        let fixed = rebuild(unit, &texts, None);
        let after = privileges(&fixed);
        let created: Vec<String> = result
            .plan
            .iter()
            .filter_map(|p| p.create_user.clone())
            .collect();
        if !after.loaded
            || !guard::widenings(
                (unit, &original_model),
                (&fixed, &after),
                &options.system,
                &created,
            )
            .is_empty()
        {
            break;
        }
        for change in again.changes {
            match result.changes.iter_mut().find(|c| c.path == change.path) {
                Some(earlier) => earlier.after = change.after,
                None => result.changes.push(change),
            }
        }
        result
            .changes
            .retain(|c| c.before.as_deref() != Some(c.after.as_slice()));
        result.applicability = result.applicability.max(again.applicability);
        // What was left out earlier and taken now is no longer left out.
        result
            .notes
            .retain(|n| !n.starts_with(LEFT_OUT) || again.notes.contains(n));
    }
    result
}

/// One round of `fix_unit`: lint-carried fixes, then the plan.
fn fix_once(unit: &Unit, rules: &Rules, checks: &CheckOptions, options: &FixOptions) -> UnitFix {
    let mut result = UnitFix {
        unit: unit.name.name.clone(),
        changes: Vec::new(),
        applicability: None,
        kind: None,
        identity: None,
        evidence: BTreeMap::new(),
        target: None,
        missing: Vec::new(),
        left_alone: Vec::new(),
        notes: Vec::new(),
        error: None,
        plan: None,
    };
    let original_model = privileges(unit);
    if !original_model.loaded || !original_model.has_exec_context || !original_model.runs_commands()
    {
        return result;
    }
    let originals = file_texts(unit);
    let (linted, mut texts) =
        lint_fixes(unit, &original_model, rules, checks, options, &mut result);
    let model = privileges(&linted);
    let needed = match evidence::gather(&model, &options.profiles, &options.caps) {
        Ok(mut n) => {
            n.needs_privileged_exec
                .extend(recorded_privileged_execs(&options.profiles, checks));
            n
        }
        Err(e) => {
            result.error = Some(e);
            return result;
        }
    };
    result.notes.extend(options.profiles.iter().filter_map(|p| {
        let flaw = p.forced.as_ref()?;
        Some(format!(
            "--force: {} is used although {flaw}",
            p.path.display()
        ))
    }));
    let plan = plan_for(&linted, &model, &needed, checks, options);
    result.kind = Some(plan.kind);
    result.identity = Some(IdentityDecision {
        identity: plan.identity.describe(),
        reason: plan.reason.clone(),
    });
    result.left_alone = plan.left_alone.clone();
    result.missing = plan.missing.clone();
    if plan.kind == Kind::None {
        if needed.caps.is_empty() && needed.program.is_none() {
            result.notes.push(format!(
                "no evidence of what {} needs: record it with `capcheck record --unit {} -o profile.toml` and pass --profile, \
                 or name capabilities with --cap",
                linted.name, linted.name
            ));
        }
        finish(&mut result, &linted, &originals, texts);
        return result;
    }
    let Fragment::File(fragment) = &linted.fragment else {
        return result;
    };
    let fragment = fragment.path.clone();
    let planned = Planned {
        unit: &linted,
        model: &model,
        plan: &plan,
        needed: &needed,
    };
    let (dropin, mut new_files) =
        match plan_edits(&planned, &fragment, options, &mut texts, &mut result) {
            Ok(files) => files,
            Err(e) => {
                result.error = Some(e);
                return result;
            }
        };
    let fixed = rebuild(&linted, &texts, dropin.clone());
    let after = privileges(&fixed);
    if let Some(problem) = read_back(
        (unit, &original_model),
        (&fixed, &after),
        &planned,
        &options.system,
    ) {
        result.error = Some(format!(
            "the planned edits would not give the planned privileges ({problem}); nothing changed"
        ));
        return result;
    }
    new_files.extend(dropin);
    if let Err(e) = add_new_files(&mut result, new_files, options.root.as_deref()) {
        result.error = Some(e);
        return result;
    }
    describe(&mut result, &after, &needed, &plan);
    finish(&mut result, &linted, &originals, texts);
    result.plan = Some(plan);
    result
}

/// The new files (drop-in, sysusers.d file) that differ from what is
/// there now, as changes; Err when one's path holds a file capcheck did
/// not write, which it never replaces.
fn add_new_files(
    result: &mut UnitFix,
    files: Vec<NewFile>,
    root: Option<&Path>,
) -> Result<(), String> {
    for (path, bytes) in files {
        let before = write::read_current(&path, root);
        if let Some(theirs) = before.as_deref().filter(|b| !owned::is_marked(b)) {
            return Err(owned::occupied(&path, theirs));
        }
        if before.as_deref() != Some(bytes.as_slice()) {
            result.changes.push(FileChange {
                path,
                before,
                after: bytes,
            });
        }
    }
    Ok(())
}

/// The fixed unit read back as systemd would: what differs from the plan,
/// or widens the unit as it was; None when it is the plan and only takes
/// privileges away.
fn read_back(
    original: (&Unit, &Privileges),
    fixed: (&Unit, &Privileges),
    planned: &Planned,
    system: &TargetSystem,
) -> Option<String> {
    let created: Vec<String> = planned.plan.create_user.iter().cloned().collect();
    mismatch(planned.model, fixed.1, planned.plan).or_else(|| {
        let widens = guard::widenings(original, fixed, system, &created);
        (!widens.is_empty()).then(|| format!("it would widen the service: {}", widens.join("; ")))
    })
}

/// The fixes lint findings carry (typos, misspelled keys), pass after
/// pass: one fix can reveal the next (a renamed key whose value holds a
/// typo), and the result must be one that a second run leaves alone. A fix
/// that would stop the unit from loading (a renamed key bringing a bad
/// value into force), or give it more (a corrected capability name that
/// was dropped at exec), is left out, with a note. Returns the unit with
/// the accepted fixes and its files' texts.
fn lint_fixes(
    unit: &Unit,
    original_model: &Privileges,
    rules: &Rules,
    checks: &CheckOptions,
    options: &FixOptions,
    result: &mut UnitFix,
) -> (Unit, BTreeMap<PathBuf, Vec<u8>>) {
    let allowed = if options.unsafe_fixes {
        Applicability::Guess
    } else {
        Applicability::EvidenceBased
    };
    let mut texts = file_texts(unit);
    let mut linted = unit.clone();
    for _ in 0..MAX_LINT_PASSES {
        let fixes: Vec<_> = rules
            .lint(&linted, checks)
            .into_iter()
            .filter_map(|f| f.fix)
            .filter(|f| f.applicability <= allowed)
            .collect();
        // Each fix is tried on top of those accepted in this pass (their
        // edits are all relative to the pass's starting text).
        let start = texts.clone();
        let mut accepted: Vec<Edit> = Vec::new();
        for fix in fixes {
            let mut trial = start.clone();
            let edits: Vec<Edit> = accepted.iter().chain(&fix.edits).cloned().collect();
            if apply_edits(&mut trial, &edits).is_err() {
                continue; // overlaps an accepted fix: the next pass sees it again
            }
            let rebuilt = rebuild(&linted, &trial, None);
            let rebuilt_model = privileges(&rebuilt);
            let refusal = if !rebuilt_model.loaded {
                Some("the unit would not load with it".to_string())
            } else {
                let widens = guard::widenings(
                    (unit, original_model),
                    (&rebuilt, &rebuilt_model),
                    &options.system,
                    &[],
                );
                (!widens.is_empty())
                    .then(|| format!("it would widen the service: {}", widens.join("; ")))
            };
            match refusal {
                Some(why) => {
                    let note = format!("{LEFT_OUT}: {why}");
                    if !result.notes.contains(&note) {
                        result.notes.push(note);
                    }
                }
                None => {
                    result.applicability = result.applicability.max(Some(fix.applicability));
                    accepted = edits;
                }
            }
        }
        if accepted.is_empty() {
            break;
        }
        apply_edits(&mut texts, &accepted).expect("accepted edits apply");
        linted = rebuild(&linted, &texts, None);
    }
    (linted, texts)
}

/// The plan the evidence supports for the (lint-fixed) unit.
fn plan_for(
    unit: &Unit,
    model: &Privileges,
    needed: &Needed,
    checks: &CheckOptions,
    options: &FixOptions,
) -> Plan {
    let inputs = plan::Inputs {
        model,
        unit_prefix: &unit.name.prefix,
        system: &options.system,
        choice: &options.identity,
        guesses: options.unsafe_fixes,
        intended_user: plan::intended_user(unit),
        pins_uid: plan::pins_uid(unit),
        privileged_binaries: privileged_binaries(model, checks),
        trial: options.trial,
        keep_identity: options.keep_identity,
        present: own_settings(unit),
    };
    plan::plan(&inputs, needed)
}

/// A file a fix writes besides the unit's own: its path and contents.
type NewFile = (PathBuf, Vec<u8>);

/// A unit, its model and the plan made for it.
struct Planned<'a> {
    unit: &'a Unit,
    model: &'a Privileges,
    plan: &'a Plan,
    needed: &'a Needed,
}

/// The edits that carry out the plan: in the unit's own files (`texts`
/// changed), or a drop-in for a vendor unit or a setting in a shared file;
/// and the new files besides (a sysusers.d file for a user to create).
/// Returns the drop-in and the new files.
fn plan_edits(
    planned: &Planned,
    fragment: &Path,
    options: &FixOptions,
    texts: &mut BTreeMap<PathBuf, Vec<u8>>,
    result: &mut UnitFix,
) -> Result<(Option<NewFile>, Vec<NewFile>), String> {
    let Planned {
        unit,
        model,
        plan,
        needed,
    } = *planned;
    let wanted = edits::wanted(model, plan);
    let mut new_files = Vec::new();
    let mut dropin = None;
    if wanted.is_empty() {
        return Ok((dropin, new_files));
    }
    let in_place = if options.force_dropin || edits::is_vendor(fragment, options.root.as_deref()) {
        Err("vendor unit".to_string())
    } else if let Some(why) = edits::fragment_kept_as_is(unit) {
        Err(why)
    } else {
        edits::in_place(unit, &wanted)
    };
    match in_place {
        Ok(e) => apply_edits(texts, &e)?,
        Err(why) => {
            let path = edits::dropin_path(fragment, options.root.as_deref());
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
            dropin = Some((path, edits::dropin_text(model, plan, &header).into_bytes()));
        }
    }
    if let Some(user) = &plan.create_user {
        let path = edits::sysusers_path(fragment, options.root.as_deref(), user);
        let line = crate::system::sysusers_line(user, &unit.name.name);
        let what = format!("fix: the user {user} that {} runs as.", unit.name);
        new_files.push((path, owned::marked(&what, &line)));
        result.notes.push(format!(
            "run `systemd-sysusers` before restarting {}: it creates the user {user}",
            unit.name
        ));
    }
    result.applicability = result.applicability.max(Some(plan.applicability));
    Ok((dropin, new_files))
}

/// A fix's plan as one drop-in at `path` (a runtime one, for `try`),
/// read back with the unit as it is, like any fix: it must give the plan
/// and widen nothing. The lint-carried edits are not in it (they need the
/// files themselves).
pub fn plan_as_dropin(
    unit: &Unit,
    fix: &UnitFix,
    path: PathBuf,
    system: &TargetSystem,
) -> Result<Vec<u8>, String> {
    let plan = fix
        .plan
        .as_ref()
        .filter(|p| p.kind != Kind::None)
        .ok_or_else(|| "nothing to apply: no change of privileges is planned".to_string())?;
    if let Some(user) = &plan.create_user {
        return Err(format!(
            "the plan creates the user {user}, which a trial does not do: name an existing one with --user"
        ));
    }
    let header = format!("Written by capcheck try: the planned fix of {}.", unit.name);
    let before = privileges(unit);
    let bytes = edits::dropin_text(&before, plan, &header).into_bytes();
    let texts = file_texts(unit);
    let fixed = rebuild(unit, &texts, Some((path, bytes.clone())));
    let after = privileges(&fixed);
    if let Some(problem) = mismatch(&before, &after, plan) {
        return Err(format!("the drop-in would not give the plan: {problem}"));
    }
    let widens = guard::widenings((unit, &before), (&fixed, &after), system, &[]);
    if !widens.is_empty() {
        return Err(format!(
            "the drop-in would widen the service: {}",
            widens.join("; ")
        ));
    }
    Ok(bytes)
}

/// The keys the unit's own section sets, in any of its files.
fn own_settings(unit: &Unit) -> std::collections::BTreeSet<String> {
    unit.own_assignments().map(|a| a.key.clone()).collect()
}

/// The unit as its fix leaves it: the changed files and the new drop-in
/// (a sysusers.d file is not part of the unit).
pub fn fixed_unit(unit: &Unit, fix: &UnitFix) -> Unit {
    let mut texts = file_texts(unit);
    let mut dropin = None;
    for change in &fix.changes {
        // A fragment reached through a link is written through it.
        let path = match (&unit.fragment_link, unit.fragment_path()) {
            (Some(link), Some(fragment)) if *link == change.path => fragment.to_path_buf(),
            _ => change.path.clone(),
        };
        if let Some(text) = texts.get_mut(&path) {
            *text = change.after.clone();
        } else if change.path.extension().is_some_and(|x| x == "conf")
            && change
                .path
                .parent()
                .and_then(|d| d.file_name())
                .is_some_and(|d| d.to_string_lossy().ends_with(".d"))
        {
            dropin = Some((change.path.clone(), change.after.clone()));
        }
    }
    rebuild(unit, &texts, dropin)
}

/// Exec binaries of commands that switch user (neither `+` nor `!`) that
/// are setuid, setgid or have file capabilities.
fn privileged_binaries(model: &Privileges, checks: &CheckOptions) -> Vec<String> {
    let mut out: Vec<String> = model
        .commands
        .iter()
        .filter(|c| !c.command.escapes_user())
        .filter_map(|c| checks.binaries.inspect(&c.command.path))
        .filter(|info| info.is_privileged())
        .map(|info| info.path.display().to_string())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Setuid, setgid and file-capability programs a recording saw at work
/// (its capability checks' binaries): the program gains privileges by
/// exec, which no_new_privs would cut back (exim re-executes itself, setuid
/// root, from the process that received a mail as Debian-exim, to deliver
/// it).
fn recorded_privileged_execs(profiles: &[evidence::Profile], checks: &CheckOptions) -> Vec<String> {
    let mut seen: Vec<&str> = profiles
        .iter()
        .flat_map(|p| p.capabilities.values())
        .flat_map(|entry| entry.binaries.iter().map(String::as_str))
        .collect();
    seen.sort();
    seen.dedup();
    seen.into_iter()
        .filter_map(|binary| checks.binaries.inspect(binary))
        .filter(|info| info.is_privileged())
        .map(|info| {
            format!(
                "the recording saw {} at work, which gains privileges when executed (setuid, setgid or file capabilities)",
                info.path.display()
            )
        })
        .collect()
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

/// The unit's files and their contents as read.
fn file_texts(unit: &Unit) -> BTreeMap<PathBuf, Vec<u8>> {
    unit.files()
        .map(|f| (f.path.clone(), f.tree.source.bytes.to_vec()))
        .collect()
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

/// What differs between the privileges systemd would read and the plan.
fn mismatch(before: &Privileges, after: &Privileges, plan: &Plan) -> Option<String> {
    if !after.loaded {
        return Some("the unit would not load".to_string());
    }
    let user_ok = match &plan.identity {
        Identity::User(name) => after.user.value.as_deref() == Some(name.as_str()),
        Identity::DynamicUser(name) => {
            after.dynamic_user.value
                && !after.runs_as_root()
                && name
                    .as_deref()
                    .is_none_or(|n| after.user.value.as_deref() == Some(n))
        }
        Identity::Keep => after.user.value == before.user.value,
    };
    if !user_ok {
        return Some(format!("User= would be {:?}", after.user.value));
    }
    if after.capability_bounding_set.value != plan.bounding {
        return Some(format!(
            "CapabilityBoundingSet= would be {}",
            after.capability_bounding_set.value
        ));
    }
    if after.ambient_capabilities.value != plan.ambient {
        return Some(format!(
            "AmbientCapabilities= would be {}",
            after.ambient_capabilities.value
        ));
    }
    if let Some(d) = &plan.replaces_root {
        let set = &after.environment.assignments.value;
        if let Some(e) = d.environment.iter().find(|e| !set.contains(e)) {
            return Some(format!("Environment= would not set {e}"));
        }
        let has_dir = |kind: &crate::model::directories::Kind, name: &String| {
            after
                .directories
                .iter()
                .any(|(k, dirs)| k == kind && dirs.paths.contains(name))
        };
        if let Some((kind, name)) = d.directories.iter().find(|(k, n)| !has_dir(k, n)) {
            return Some(format!("{}={name} would not be set", kind.setting()));
        }
    }
    (plan.no_new_privileges && !after.no_new_privileges())
        .then(|| "NoNewPrivileges= would be off".to_string())
}

/// The evidence per capability and the notes a reader needs.
fn describe(result: &mut UnitFix, after: &Privileges, needed: &Needed, plan: &Plan) {
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
    if plan.applicability == Applicability::Guess {
        let what = if needed.caps.is_empty() {
            "no evidence of what the program needs; it gets no capability".to_string()
        } else {
            format!(
                "the evidence is incomplete or reasoned ({})",
                needed.basis.join(", ")
            )
        };
        result.notes.push(format!("guess: {what}"));
    }
    for c in after
        .commands
        .iter()
        .filter(|c| c.command.has(Prefix::NoSetuid))
    {
        result.notes.push(format!(
            "{}=!{} still starts as root",
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
