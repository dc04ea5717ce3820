#![no_main]
//! Fuzz target: see `invariants::chase`.

mod invariants;

libfuzzer_sys::fuzz_target!(|data: &[u8]| invariants::chase(data));
