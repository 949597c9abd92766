#!/usr/bin/env bash
# The lints every commit keeps clean: rustfmt and clippy with warnings as errors (all targets).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
