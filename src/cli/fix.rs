//! `capcheck fix`.

use super::args::{FixArgs, PlanArgs, ShowFormat};
use super::ExitStatus;
use crate::caps;
use crate::checks::binary::HostInspector;
use crate::checks::CheckOptions;
use crate::finding::Applicability;
use crate::fix::evidence::Profile;
use crate::fix::plan::IdentityChoice;
use crate::fix::{diff, fix_unit, write, FixOptions, UnitFix};
use crate::lint::Rules;
use crate::load::targets::resolve;
use crate::report::escape::visible;
use crate::system::TargetSystem;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// What `fix` and `try` plan from: the rules (for lint-carried fixes) and
/// the options, or the errors in the arguments (profiles, capabilities,
/// configuration), each named.
pub fn planning(
    args: &PlanArgs,
    root: Option<PathBuf>,
    force_dropin: bool,
) -> Result<(Rules, FixOptions), Vec<String>> {
    let config = super::load_config(args.config.as_deref(), args.isolated).map_err(|e| vec![e])?;
    let rules = Rules::new(&config, &[], &[])
        .map_err(|e| vec![format!("unknown check '{}' in the configuration", e.0)])?;
    let mut errors = Vec::new();
    let mut profiles = Vec::new();
    for path in &args.profiles {
        match Profile::load(path, args.force) {
            Ok(p) => profiles.push(p),
            Err(e) => errors.push(e),
        }
    }
    let mut extra = Vec::new();
    for name in &args.caps {
        let upper = name.to_ascii_uppercase();
        let full = if upper.starts_with("CAP_") {
            upper
        } else {
            format!("CAP_{upper}")
        };
        match caps::by_name(&full) {
            Some(c) => extra.push(c.number),
            None => errors.push(format!("--cap {name}: not a capability")),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let options = FixOptions {
        profiles,
        caps: extra,
        identity: IdentityChoice {
            user: args.user.clone(),
            dynamic_user: args.dynamic_user,
        },
        force_dropin,
        system: TargetSystem::of(root.as_deref()),
        root,
        unsafe_fixes: args.unsafe_fixes,
        trial: false,
        keep_identity: false,
    };
    Ok((rules, options))
}

pub fn run(args: &FixArgs) -> ExitStatus {
    let (rules, options) = match planning(&args.plan, args.units.root.clone(), args.drop_in) {
        Ok(planned) => planned,
        Err(errors) => {
            for e in &errors {
                super::print_error(e);
            }
            return ExitStatus::Error;
        }
    };
    let mut errors: Vec<String> = Vec::new();
    // The release to read as may be named in the configuration; planning
    // reported any error in it already.
    let config =
        super::load_config(args.plan.config.as_deref(), args.plan.isolated).unwrap_or_default();
    let scope = match super::scope(&args.units, args.user_units, &config) {
        Ok(scope) => scope,
        Err(e) => {
            eprintln!("capcheck: {e}");
            return ExitStatus::Error;
        }
    };
    let (targets, target_errors) = resolve(&args.units.operands, &scope);
    super::print_target_notes(&targets, &scope, &args.units.operands);
    errors.extend(
        target_errors
            .into_iter()
            .map(|e| format!("{}: {}", e.operand, e.message)),
    );
    if args.units.operands.is_empty() && args.units.root.is_none() {
        errors
            .push("nothing to fix: give unit files, directories, unit names or --root".to_string());
    }
    let inspector = HostInspector::new(args.units.root.clone().unwrap_or_else(|| "/".into()));
    let checks = CheckOptions {
        platform: None,
        binaries: &inspector,
        min_risk: rules.min_risk(),
    };
    let mut fixes: Vec<UnitFix> = Vec::new();
    for target in &targets {
        match super::load_target(target) {
            Ok(unit) => fixes.push(fix_unit(&unit, &rules, &checks, &options)),
            Err(Some(e)) => errors.push(e),
            Err(None) => {}
        }
    }
    let pending = fixes.iter().any(|f| !f.changes.is_empty());
    match args.format {
        ShowFormat::Json => print_json(&fixes, scope.semantics),
        ShowFormat::Text => print_text(&fixes, args),
    }
    if args.write {
        for f in &fixes {
            for c in &f.changes {
                if let Err(e) = write::write_atomic(
                    &c.path,
                    c.before.as_deref(),
                    &c.after,
                    args.units.root.as_deref(),
                ) {
                    errors.push(e);
                }
            }
        }
    }
    for f in &fixes {
        if let Some(e) = &f.error {
            errors.push(format!("{}: {e}", f.unit));
        }
    }
    for e in &errors {
        super::print_error(e);
    }
    if !errors.is_empty() {
        ExitStatus::Error
    } else if args.check && pending {
        ExitStatus::Failure
    } else {
        ExitStatus::Success
    }
}

fn applicability(a: Option<Applicability>) -> &'static str {
    match a {
        Some(Applicability::Safe) | None => "safe",
        Some(Applicability::EvidenceBased) => "evidence-based",
        Some(Applicability::Guess) => "guess",
    }
}

fn print_text(fixes: &[UnitFix], args: &FixArgs) {
    let color = !args.diff && super::use_color(args.color, true);
    let mut changed_files = 0;
    for f in fixes {
        for c in &f.changes {
            print!("{}", diff::unified(c, color));
            changed_files += 1;
        }
        let says_something = !f.changes.is_empty()
            || !f.notes.is_empty()
            || !f.missing.is_empty()
            || f.error.is_some();
        if args.diff || !says_something {
            continue;
        }
        let kind = f.kind.map_or("none", |k| k.as_str());
        if f.changes.is_empty() {
            println!("{}: {kind}, nothing changed", visible(&f.unit));
        } else {
            println!(
                "{}: {kind} ({} fix)",
                visible(&f.unit),
                applicability(f.applicability)
            );
        }
        if let Some(identity) = &f.identity {
            println!(
                "  identity: {} — {}",
                visible(&identity.identity),
                visible(&identity.reason)
            );
        }
        // Capabilities with the same evidence (a knowledge-base row, a
        // profile) on one line.
        let mut by_evidence: BTreeMap<String, Vec<&str>> = BTreeMap::new();
        for (cap, evidence) in &f.evidence {
            by_evidence
                .entry(evidence.join("; "))
                .or_default()
                .push(cap);
        }
        for (evidence, caps) in &by_evidence {
            println!("  needs {}: {}", caps.join(" "), visible(evidence));
        }
        let mut by_reason: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for m in &f.missing {
            by_reason.entry(&m.why).or_default().push(&m.capability);
        }
        for (why, caps) in &by_reason {
            println!(
                "  warning: may be missing {}: {}; a fix never grants a capability",
                caps.join(" "),
                visible(why)
            );
        }
        for what in &f.left_alone {
            println!("  left alone: {}", visible(what));
        }
        for note in &f.notes {
            println!("  note: {}", visible(note));
        }
    }
    if args.diff {
        return;
    }
    let units = fixes.iter().filter(|f| !f.changes.is_empty()).count();
    let verb = if args.write { "fixed" } else { "would change" };
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    if units == 0 {
        println!("Nothing to fix in {}.", plural(fixes.len(), "unit"));
    } else {
        let hint = if args.write {
            ""
        } else {
            " (--write applies them)"
        };
        println!(
            "{} {verb}, {}{hint}.",
            plural(units, "unit"),
            plural(changed_files, "file")
        );
    }
}

/// The report as JSON, each unit with the release its fix was read as.
fn print_json(fixes: &[UnitFix], semantics: crate::semantics::Semantics) {
    let out: Vec<_> = fixes
        .iter()
        .map(|f| {
            json!({
                "unit": f.unit,
                "systemd": semantics,
                "kind": f.kind.map(|k| k.as_str()),
                "applicability": if f.changes.is_empty() { serde_json::Value::Null } else { applicability(f.applicability).into() },
                "identity": f.identity,
                "target": f.target,
                "evidence": f.evidence,
                "missing": f.missing,
                "left_alone": f.left_alone,
                "changes": f.changes.iter().map(|c| json!({
                    "path": c.path,
                    "new_file": c.before.is_none(),
                    "diff": diff::unified(c, false),
                })).collect::<Vec<_>>(),
                "notes": f.notes,
                "error": f.error,
            })
        })
        .collect();
    println!("{}", crate::report::escape::json(&out));
}
