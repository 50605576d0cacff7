#!/usr/bin/env bash
# The release binary as packages ship it, in OUTDIR (default target/dist):
#
#   hareconcile         stripped, what runs on the nodes
#   hareconcile.debug   its debug info (line tables, symbols), found by
#                       gdb and backtraces through the binary's build id
#
#   packaging/release.sh [OUTDIR]
#
# It is `cargo build --release` (the profile in Cargo.toml: size-optimized,
# fat LTO) with line tables kept for the .debug file, whereas a plain
# `cargo build --release` strips them. The code is the same: debug info
# does not change what the compiler generates. Then the binary is checked
# against the glibc baseline (packaging/check-glibc.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-target/dist}

CARGO_PROFILE_RELEASE_DEBUG=line-tables-only CARGO_PROFILE_RELEASE_STRIP=none \
    cargo build --release --locked --bin hareconcile
built=target/release/hareconcile

packaging/check-glibc.sh "$built" >/dev/null
mkdir -p "$out"
objcopy --only-keep-debug --compress-debug-sections=zlib "$built" "$out/hareconcile.debug"
objcopy --strip-unneeded --remove-section=.comment --add-gnu-debuglink="$out/hareconcile.debug" \
    "$built" "$out/hareconcile"
chmod 0644 "$out/hareconcile.debug"
ls -l "$out/hareconcile" "$out/hareconcile.debug"
