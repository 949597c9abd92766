#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs what the tests need (kubectl, the Pulumi
# SDKs, kubernetes-validate, checkov) into .tools/, then runs the Rust tests, the lints, and
# the conformance suite that checks generated output with the real tools.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-test-tools.sh

echo "== cargo fmt --check" >&2
cargo fmt --all -- --check
echo "== cargo clippy" >&2
cargo clippy --all-targets --locked -- -D warnings
echo "== cargo test" >&2
cargo test --locked
echo "== conformance (kubectl kustomize, Kubernetes and CRD schemas, Pulumi mocks, checkov)" >&2
export STRATA_BIN="$PWD/target/debug/strata"
.tools/venv/bin/python -m pytest tests/conformance -q -p no:cacheprovider -n auto --dist loadgroup
