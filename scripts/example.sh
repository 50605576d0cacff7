#!/usr/bin/env bash
# The main job on the built-in example: two hareconcile agents serving
# manifests/ in a network-namespace lab on this machine. Run as root on
# Debian; installs the lab's tools (apt) and builds the binary first.
#
#   sudo scripts/example.sh          # run once and exit
#   sudo scripts/example.sh --hold   # keep the lab up to explore
set -euo pipefail
cd "$(dirname "$0")/.."

command -v cargo >/dev/null || {
  echo "cargo not found: install the Rust toolchain (rustup) first" >&2
  exit 2
}
scripts/install-test-deps.sh
cargo build --quiet --bin hareconcile --example two_node
exec target/debug/examples/two_node "$@"
