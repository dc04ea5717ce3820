//! Every check has a documentation page in docs/rules/<CODE>.md generated
//! from its doc comment (this test fails when a page is stale;
//! CAPCHECK_BLESS=1 regenerates them), good and bad fixtures, and an entry
//! in `capcheck rules`.

use std::path::Path;

fn index() -> String {
    let mut out = String::from("# capcheck checks\n\nGenerated from each check's doc comment (`capcheck explain CODE` prints the same page).\n\n| code | name | severity | finds |\n|---|---|---|---|\n");
    for r in capcheck::checks::all() {
        let m = r.meta();
        out.push_str(&format!(
            "| [{}]({}.md) | {} | {} | {} |\n",
            m.code,
            m.code,
            m.name,
            m.default_severity.as_str(),
            m.summary
        ));
    }
    out
}

#[test]
fn rule_pages_are_current() {
    let dir = Path::new("docs/rules");
    let bless = std::env::var_os("CAPCHECK_BLESS").is_some();
    let mut stale = Vec::new();
    let mut pages: Vec<(String, String)> = capcheck::checks::all()
        .iter()
        .map(|r| (format!("{}.md", r.meta().code), r.page()))
        .collect();
    pages.push(("README.md".to_string(), index()));
    for (name, page) in &pages {
        let path = dir.join(name);
        if bless {
            std::fs::create_dir_all(dir).unwrap();
            std::fs::write(&path, page).unwrap();
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(page.as_str()) {
            stale.push(path.display().to_string());
        }
    }
    let extra: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|f| !pages.iter().any(|(n, _)| n == f))
        .collect();
    assert!(
        stale.is_empty(),
        "stale pages (CAPCHECK_BLESS=1 cargo test --test rule_docs): {stale:?}"
    );
    assert!(extra.is_empty(), "pages for no check: {extra:?}");
}

#[test]
fn every_rule_has_fixtures_and_a_listing() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_capcheck"))
        .arg("rules")
        .output()
        .unwrap();
    let listing = String::from_utf8(out.stdout).unwrap();
    for r in capcheck::checks::all() {
        let code = r.meta().code;
        let fixtures: Vec<String> = std::fs::read_dir(Path::new("fixtures/checks").join(code))
            .unwrap_or_else(|_| panic!("{code} has no fixtures"))
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            fixtures.iter().any(|f| f.starts_with("bad")),
            "{code}: no bad fixture"
        );
        assert!(
            fixtures.iter().any(|f| f.starts_with("ok")),
            "{code}: no good fixture"
        );
        assert!(
            listing
                .lines()
                .any(|l| l.starts_with(code) && l.contains(r.meta().name)),
            "{code} not in `capcheck rules`"
        );
    }
}
