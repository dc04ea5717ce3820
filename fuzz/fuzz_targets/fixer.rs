#![no_main]
//! Fuzz target: see `invariants::fixer`.

mod invariants;

libfuzzer_sys::fuzz_target!(|data: &[u8]| invariants::fixer(data));
