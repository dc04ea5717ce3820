#!/usr/bin/env bash
# Runs each fuzz target for a fixed time (FUZZ_SECONDS, default 600), seeded
# with the unit files under fixtures/. Crashing inputs land in
# fuzz/artifacts/TARGET/; copy each into fuzz/regressions/TARGET/ once fixed,
# where tests/fuzz_regressions.rs replays it on every test run.
# Usage: fuzz/run.sh [TARGET...]      (targets: parser loader fixer chase)
# Needs cargo-fuzz (cargo install cargo-fuzz); runs on stable Rust through
# RUSTC_BOOTSTRAP, since sanitizer flags are nightly-only.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${FUZZ_SECONDS:-600}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(parser loader fixer chase)
export RUSTC_BOOTSTRAP=1
status=0
for target in "${targets[@]}"; do
    corpus=corpus/$target
    mkdir -p "$corpus"
    find ../fixtures -type f \( -name '*.service' -o -name '*.conf' \) -size -8k \
        -exec cp -n -t "$corpus" {} + 2>/dev/null || true
    echo "== $target: ${seconds}s"
    # A crash stops this target, not the others; the exit status tells.
    cargo fuzz run -O "$target" "$corpus" -- -max_total_time="$seconds" -max_len=4096 -timeout=10 \
        || { echo "== $target: FAILED (see fuzz/artifacts/$target/)"; status=1; }
done
exit $status
