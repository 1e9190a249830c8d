#!/usr/bin/env bash
# Fuzz one parser of untrusted input for SECONDS (default 300) on one core:
#   ./scripts/fuzz.sh TARGET [SECONDS]      targets: ./scripts/fuzz.sh --list
#   ./scripts/fuzz.sh all SECONDS           every target in turn, SECONDS each
# Needs the nightly toolchain and cargo-fuzz (`rustup toolchain install nightly`,
# `cargo install cargo-fuzz`). Builds in fuzz/target (not the shared target dir: fuzz builds
# use other compiler flags). The working corpus grows in fuzz/corpus/TARGET (ignored by git),
# seeded from fuzz/seeds/TARGET (made from ../shared by `python3 fuzz/make_seeds.py`). A crash
# lands in fuzz/artifacts/TARGET/; minimise it with
#   cargo +nightly fuzz tmin -s none TARGET fuzz/artifacts/TARGET/crash-…
# and commit it under the parsing crate's tests/fuzz_regressions/ (see README "Fuzzing").
# The last line printed is the run's figure: executions, seconds, executions per second.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
unset CARGO_TARGET_DIR
export PATH="$HOME/.cargo/bin:$PATH"
if [ "${1:-}" = "--list" ] || [ $# -lt 1 ]; then
    cargo +nightly fuzz list
    exit 0
fi
target="$1"
seconds="${2:-300}"
if [ "$target" = "all" ]; then
    for t in $(cargo +nightly fuzz list); do "$0" "$t" "$seconds"; done
    exit 0
fi
mkdir -p "corpus/$target" "artifacts/$target"
log="artifacts/$target/last-run.log"
# -s none: the targets are safe Rust, so AddressSanitizer adds cost and finds nothing a panic,
# a timeout or the RSS limit would not. Debug assertions stay on (integer overflow panics).
# One in-process fuzzer (no -jobs/-workers: libFuzzer then runs a single process), the machine is shared.
# Only the spool and config targets need the (large) pipeline crate.
# They build in the dev profile (opt-level 1, see fuzz/Cargo.toml): release would spend most
# of its time optimising tract for a TOML and a JSON parser.
features=(--no-default-features)
case "$target" in spool_request | config_toml) features=(--dev) ;; esac
set +e
cargo +nightly fuzz run -s none "${features[@]}" "$target" "corpus/$target" "seeds/$target" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=1024 \
    -malloc_limit_mb=512 -print_final_stats=1 2>&1 | tee "$log" | grep -E "^(#[0-9]+.*(pulse|DONE)|==|SUMMARY|artifact_prefix|Test unit)" || true
rc=${PIPESTATUS[0]}
set -e
runs=$(grep -E "^stat::number_of_executed_units" "$log" | awk '{print $2}')
secs=$(grep -E "^stat::total_time|Done [0-9]+ runs in" "$log" | grep -oE "[0-9]+ second" | awk '{print $1}' | tail -1)
[ -n "$secs" ] || secs="$seconds"
echo "fuzz $target: ${runs:-?} executions in ${secs}s ($(( ${runs:-0} / (secs > 0 ? secs : 1) )) exec/s), exit $rc"
exit "$rc"
