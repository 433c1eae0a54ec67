#!/usr/bin/env bash
# The project's test command (CI runs it through .ci/run):
#   install test servers -> fmt check -> build -> clippy -D warnings -> tests.
#
# Usage: scripts/test.sh [--no-setup] [-- <extra args for nextest/cargo test>]
#   --no-setup   skip scripts/setup-test-deps.sh (apt) for quick local runs
#
# Every step runs even if an earlier check (fmt, clippy) failed, so one run
# shows all problems; the exit status is non-zero if any step failed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

setup=1
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --no-setup) setup=0 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    --) shift; extra=("$@"); break ;;
    *) echo "scripts/test.sh: unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
export RUST_BACKTRACE="${RUST_BACKTRACE:-1}"

# CI builds once on a clean clone: incremental caches and full debug info
# only cost disk and link time there (a clean CI target was 8.7 GB with them,
# and a CI run once died of a full disk). Line tables keep file:line in
# backtraces. Local runs keep cargo's defaults.
if [ -n "${CI:-}" ]; then
  export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
  export CARGO_PROFILE_DEV_DEBUG="${CARGO_PROFILE_DEV_DEBUG:-line-tables-only}"
fi

if [ "$setup" -eq 1 ]; then
  scripts/setup-test-deps.sh
fi

locked=()
if [ -f Cargo.lock ]; then
  locked=(--locked)
fi

failed=()
step() {
  local name=$1
  shift
  echo "==> $name: $*"
  if ! "$@"; then
    echo "==> $name FAILED"
    failed+=("$name")
    return 1
  fi
}

step fmt cargo fmt --all -- --check --color never || true
if ! step build cargo build --workspace --all-targets "${locked[@]}"; then
  echo "scripts/test.sh: build failed; failed steps: ${failed[*]}" >&2
  exit 1
fi
step clippy cargo clippy --workspace --all-targets "${locked[@]}" -- -D warnings || true

if cargo nextest --version >/dev/null 2>&1; then
  # nextest does not run doctests; run them first so that nextest's summary
  # is the closing line of the run.
  step doctest cargo test --workspace --doc "${locked[@]}" || true
  # nextest: parallel test processes and a closing summary line.
  step test cargo nextest run --workspace --no-fail-fast "${locked[@]}" "${extra[@]}" || true
else
  echo "scripts/test.sh: cargo-nextest not found; using cargo test"
  step test cargo test --workspace --no-fail-fast "${locked[@]}" "${extra[@]}" || true
fi

if [ "${#failed[@]}" -gt 0 ]; then
  echo "scripts/test.sh: failed steps: ${failed[*]}" >&2
  exit 1
fi
