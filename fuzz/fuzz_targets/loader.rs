#![no_main]
//! Fuzz target: see `invariants::loader`.

mod invariants;

libfuzzer_sys::fuzz_target!(|data: &[u8]| invariants::loader(data));
