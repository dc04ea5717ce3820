//! Every input a fuzz target ever failed on (`fuzz/regressions/TARGET/`),
//! replayed through the same invariants the fuzzers check.

#[path = "../fuzz/fuzz_targets/invariants.rs"]
mod invariants;

use std::path::Path;

fn replay(target: &str, check: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/regressions")
        .join(target);
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().is_some_and(|n| n != ".gitkeep"))
        .collect();
    inputs.sort();
    for input in &inputs {
        println!("{target}: {}", input.display());
        check(&std::fs::read(input).unwrap());
    }
    inputs.len()
}

#[test]
fn parser_regressions() {
    assert!(replay("parser", invariants::parser) > 0);
}

#[test]
fn loader_regressions() {
    replay("loader", invariants::loader);
}

#[test]
fn fixer_regressions() {
    replay("fixer", invariants::fixer);
}

#[test]
fn chase_regressions() {
    replay("chase", invariants::chase);
}

/// The resolver's invariant over inputs a seeded generator makes (the
/// fuzzer explores further; this keeps every test run checking it).
#[test]
fn chase_holds_on_generated_trees() {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..1000 {
        let input: Vec<u8> = (0..40)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        invariants::chase(&input);
    }
}
