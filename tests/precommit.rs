//! The pre-commit hooks, with the real pre-commit (from PyPI; CI installs
//! it): in a temporary git repository, `pre-commit try-repo` against this
//! checkout fails on a bad unit with capcheck's message, passes a good one,
//! and the fix hook rewrites the bad one.

mod common;

use std::path::Path;
use std::process::{Command, Output};

fn run(dir: &Path, program: &str, args: &[&str], home: &Path) -> Output {
    Command::new(program)
        .args(args)
        .current_dir(dir)
        .env("PRE_COMMIT_HOME", home)
        // pre-commit builds the hooks with `cargo install` (the release
        // profile) for each try-repo: one target directory for all four,
        // and without the whole-program optimisation, which only makes
        // linting ~5% faster and each build minutes longer.
        .env("CARGO_TARGET_DIR", home.join("cargo-target"))
        .env("CARGO_PROFILE_RELEASE_LTO", "false")
        .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "16")
        .env("CARGO_PROFILE_RELEASE_DEBUG", "0")
        .env("NO_COLOR", "1")
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"))
}

#[test]
fn hooks_work_with_the_real_pre_commit() {
    if let Some(why) = common::missing_programs(&["pre-commit", "git"]) {
        return common::skip("hooks_work_with_the_real_pre_commit", &why);
    }
    let checkout = Path::new(env!("CARGO_MANIFEST_DIR"));
    let repo = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let dir = repo.path();
    std::fs::copy(
        checkout.join("fixtures/examples/bind-root.service"),
        dir.join("bad.service"),
    )
    .unwrap();
    std::fs::copy(
        checkout.join("fixtures/examples/bind-captest.service"),
        dir.join("good.service"),
    )
    .unwrap();
    for args in [&["init", "-q"][..], &["add", "."][..]] {
        assert!(run(dir, "git", args, home.path()).status.success());
    }
    let checkout = checkout.to_str().unwrap();
    let try_repo = |hook: &str, file: &str| {
        run(
            dir,
            "pre-commit",
            &["try-repo", checkout, hook, "--files", file],
            home.path(),
        )
    };
    let bad = try_repo("capcheck", "bad.service");
    let bad_out = String::from_utf8_lossy(&bad.stdout);
    assert!(!bad.status.success(), "{bad_out}");
    assert!(bad_out.contains("CAP101 runs-as-root"), "{bad_out}");
    let good = try_repo("capcheck", "good.service");
    assert!(
        good.status.success(),
        "{}",
        String::from_utf8_lossy(&good.stdout)
    );
    let fixed = try_repo("capcheck-fix", "bad.service");
    let fixed_out = String::from_utf8_lossy(&fixed.stdout);
    assert!(
        !fixed.status.success(),
        "pre-commit fails a hook that changed files: {fixed_out}"
    );
    assert!(
        fixed_out.contains("files were modified by this hook"),
        "{fixed_out}"
    );
    let text = std::fs::read_to_string(dir.join("bad.service")).unwrap();
    assert!(
        text.contains("AmbientCapabilities=CAP_NET_BIND_SERVICE\n")
            && text.contains("NoNewPrivileges=yes\n"),
        "{text}"
    );
    let again = try_repo("capcheck", "bad.service");
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );
}
