#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs what the tests need (kubectl, helm, the
# Pulumi SDKs, kubernetes-validate, checkov, parliament, ruff, actionlint, cel-python,
# pytest-xdist) into .tools/, then runs the lints, the Rust tests, and the conformance suite that
# checks generated output with the real tools.
#
# The install (mostly downloads) runs while cargo builds; the conformance suite then runs in the
# background while the Rust tests run. Each stage prints when it started.
set -euo pipefail
cd "$(dirname "$0")/.."

stage() { printf '== %s (at %ss)\n' "$1" "$SECONDS" >&2; }

mkdir -p .tools
stage "installing the test tools in the background (log: .tools/install.log)"
bash scripts/install-test-tools.sh > .tools/install.log 2>&1 &
install=$!
trap 'kill "$install" 2>/dev/null || true' EXIT

stage "cargo fmt --check"
cargo fmt --all -- --check
stage "cargo build (the binary the conformance suite runs)"
cargo build --locked

stage "waiting for the test tools"
if ! wait "$install"; then
  cat .tools/install.log >&2
  echo "test.sh: installing the test tools failed (log above)" >&2
  exit 1
fi
trap - EXIT
cat .tools/install.log >&2

# The conformance suite runs in the background while the Rust tests run: the two
# cores stay busy through the suite's last, longest groups. Its output follows theirs.
stage "conformance, in the background (kubectl kustomize, Kubernetes and CRD schemas, Pulumi mocks, checkov, on every core)"
export STRATA_BIN="$PWD/target/debug/strata"
# Bytecode is written to one cache outside the repos even where the machine says not to write
# it: each of the suite's Python processes would otherwise compile the Pulumi SDKs again.
unset PYTHONDONTWRITEBYTECODE
export PYTHONPYCACHEPREFIX="$PWD/.tools/pycache"
.tools/venv/bin/python -m pytest tests/conformance -q -p no:cacheprovider -n auto --dist loadgroup \
  > .tools/conformance.log 2>&1 &
conformance=$!
trap 'kill "$conformance" 2>/dev/null || true' EXIT

# clippy is the lint of scripts/lint.sh (with `cargo fmt --check`), run before each commit: in
# this suite it competed with the conformance suite for the two cores (about 60 s of the 8-minute
# budget).
rust=0
stage "cargo test"
cargo test --locked || rust=$?

stage "waiting for the conformance suite"
status=0
wait "$conformance" || status=$?
trap - EXIT
cat .tools/conformance.log
stage "done"
if [ "$rust" -ne 0 ]; then
  echo "test.sh: the Rust tests failed (above the conformance suite's output)" >&2
  exit "$rust"
fi
exit "$status"
