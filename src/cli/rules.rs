//! `capcheck rules` and `capcheck explain`.

use super::args::{ExplainArgs, RulesArgs, ShowFormat};
use super::ExitStatus;
use crate::checks;
use serde_json::json;

pub fn list(args: &RulesArgs) -> ExitStatus {
    match args.format {
        ShowFormat::Json => {
            let rules: Vec<_> = checks::all()
                .iter()
                .map(|r| {
                    let m = r.meta();
                    json!({
                        "code": m.code,
                        "name": m.name,
                        "severity": m.default_severity,
                        "fixable": m.fixable,
                        "summary": m.summary,
                    })
                })
                .collect();
            println!(
                "{}",
                serde_json::to_string_pretty(&rules).expect("rules serialise")
            );
        }
        ShowFormat::Text => {
            for r in checks::all() {
                let m = r.meta();
                let fix = if m.fixable { "fix" } else { "" };
                println!(
                    "{}  {:<36} {:<8} {:<4} {}",
                    m.code,
                    m.name,
                    m.default_severity.as_str(),
                    fix,
                    m.summary
                );
            }
        }
    }
    ExitStatus::Success
}

pub fn explain(args: &ExplainArgs) -> ExitStatus {
    match checks::find(&args.code) {
        Some(r) => {
            print!("{}", r.page());
            ExitStatus::Success
        }
        None => {
            eprintln!("capcheck: no check '{}' (see `capcheck rules`)", args.code);
            ExitStatus::Error
        }
    }
}
