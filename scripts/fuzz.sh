#!/usr/bin/env bash
# Runs every fuzz target (fuzz/fuzz_targets/) for a budget of seconds each:
#
#   scripts/fuzz.sh                 # every target, FUZZ_SECONDS (30) each
#   FUZZ_SECONDS=600 scripts/fuzz.sh compose    # one target, longer
#
# The targets are libFuzzer binaries built on the stable toolchain: rustc's
# SanitizerCoverage pass (-Cpasses=sancov-module and its LLVM options) gives
# libFuzzer its coverage feedback without nightly's -Zsanitizer; there is no
# AddressSanitizer, which safe Rust needs least. The flags go through
# RUSTFLAGS with an explicit --target, so that build scripts and proc
# macros are built without them.
#
# Each target starts from its corpus in the repository (fuzz/corpus/NAME,
# only read) and what earlier runs found (fuzz/target/work/NAME, kept
# between local runs, never committed). A crash, a panic, a timeout or an
# input that takes more memory than FUZZ_RSS_MB stops the run with exit 1
# and leaves the input in fuzz/artifacts/NAME/; docs/development.md says
# how to reproduce it and add it to the corpus.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds=${FUZZ_SECONDS:-30}
# Per input: far above what any of these parsers takes on a real file.
timeout=${FUZZ_TIMEOUT:-10}
rss_mb=${FUZZ_RSS_MB:-1024}
host=$(rustc -vV | sed -n 's/^host: //p')

targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
    targets=()
    for file in fuzz_targets/*.rs; do
        name=${file##*/}
        targets+=("${name%.rs}")
    done
fi

export RUSTFLAGS="${RUSTFLAGS:-} --cfg fuzzing -Cpasses=sancov-module \
-Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
-Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares"
# Not --locked: fuzz/Cargo.lock follows the crates it tests, whose
# dependencies change in the main workspace without a thought for it.
bins=()
for target in "${targets[@]}"; do bins+=(--bin "$target"); done
cargo build --release --target "$host" "${bins[@]}"

for target in "${targets[@]}"; do
    work=target/work/$target
    artifacts=artifacts/$target
    mkdir -p "$work" "$artifacts" "corpus/$target"
    echo "fuzz: $target for ${seconds}s"
    if ! "target/$host/release/$target" "$work" "corpus/$target" \
        -max_total_time="$seconds" -timeout="$timeout" -rss_limit_mb="$rss_mb" \
        -artifact_prefix="$artifacts/" -print_final_stats=1 2>"target/work/$target.log"; then
        tail -n 40 "target/work/$target.log" >&2
        echo "fuzz: $target FAILED; the input is in fuzz/$artifacts/ (see docs/development.md, Fuzzing)" >&2
        exit 1
    fi
    grep -E '^stat::(number_of_executed_units|peak_rss_mb|new_units_added)' "target/work/$target.log" | sed "s/^/fuzz: $target /"
done
echo "fuzz: ${#targets[@]} targets, ${seconds}s each, no crash"
