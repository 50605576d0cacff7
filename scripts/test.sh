#!/usr/bin/env bash
# The whole test suite, on a fresh Debian machine as root: installs the
# tools the lab tests use (apt), then builds and runs every test of the
# workspace. With CI set, privileged tests fail instead of skipping when
# root, namespaces or Docker are missing.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v cargo >/dev/null || {
  echo "cargo not found: install the Rust toolchain (rustup) first" >&2
  exit 2
}
scripts/install-test-deps.sh
cargo build --workspace --all-targets
cargo test --workspace --no-fail-fast "$@"
