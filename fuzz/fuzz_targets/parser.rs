#![no_main]
//! Fuzz target: see `invariants::parser`.

mod invariants;

libfuzzer_sys::fuzz_target!(|data: &[u8]| invariants::parser(data));
