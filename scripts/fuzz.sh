#!/usr/bin/env bash
# Fuzzes schoolnet's payload decoders, the whole pipeline and the spool's
# record reader with cargo-fuzz (libFuzzer). See fuzz/README.md.
#
#   scripts/fuzz.sh [TARGET|all] [SECONDS]     # default: all targets, 60 s each
#
# Targets (every file in fuzz/fuzz_targets/): collectd influx
# line_protocol_diff telegraf_json json_mapping value status pipeline
# spool_reader. Installs cargo-fuzz if it is missing.
# Prints executions, coverage and the result per target; exits 1 if any
# target crashed, leaving the input in fuzz/artifacts/<target>/.
#
# Environment:
#   FUZZ_SANITIZER  address (default) or none. cargo-fuzz's instrumentation
#                   flags are nightly-only; on a stable toolchain this script
#                   sets RUSTC_BOOTSTRAP=1 to allow them (stable ships the ASan
#                   runtime). `none` is still coverage-guided and catches
#                   panics and overflows; it builds into a separate directory.
#   FUZZ_JOBS       libFuzzer -fork=N workers per target (default 1).
#   FUZZ_ARGS       extra libFuzzer flags, e.g. "-max_len=4096".
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root/fuzz"

target="${1:-all}"
seconds="${2:-60}"
sanitizer="${FUZZ_SANITIZER:-address}"
jobs="${FUZZ_JOBS:-1}"

all_targets=()
for f in fuzz_targets/*.rs; do
    all_targets+=("$(basename "$f" .rs)")
done
if [[ "$target" == all ]]; then
    targets=("${all_targets[@]}")
elif [[ -f "fuzz_targets/$target.rs" ]]; then
    targets=("$target")
else
    echo "unknown target \`$target\` (known: all ${all_targets[*]})" >&2
    exit 2
fi
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || ((seconds < 1)); then
    echo "SECONDS must be a positive integer, got \`$seconds\`" >&2
    exit 2
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz (cargo install cargo-fuzz --locked)"
    cargo install cargo-fuzz --locked
fi

# Sanitizer and libFuzzer flags are nightly-only (-Z); allow them on stable.
if ! rustc --version | grep -q nightly; then
    export RUSTC_BOOTSTRAP=1
fi

echo "== building ${targets[*]} (sanitizer: $sanitizer)"
if [[ "$target" == all ]]; then build_args=(); else build_args=("$target"); fi
cargo fuzz build --sanitizer "$sanitizer" "${build_args[@]}"

mkdir -p artifacts logs
summary=()
failed=()
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t" "artifacts/$t"
    log="logs/$t.log"
    echo "== fuzzing $t for ${seconds}s (log: fuzz/$log)"
    fork_args=()
    if ((jobs > 1)); then fork_args=("-fork=$jobs"); fi
    set +e
    # shellcheck disable=SC2086 # FUZZ_ARGS is a list of flags
    cargo fuzz run --sanitizer "$sanitizer" "$t" "corpus/$t" -- \
        -max_total_time="$seconds" -print_final_stats=1 "${fork_args[@]}" \
        ${FUZZ_ARGS:-} >"$log" 2>&1
    rc=$?
    set -e
    execs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || true)"
    if [[ -z "$execs" ]]; then
        # -fork mode or a crash before the final stats: last status line.
        execs="$(grep -oE '#[0-9]+' "$log" | tail -1 | tr -d '#' || true)"
    fi
    status_line="$(grep -E '^#[0-9]+.*(cov|ft):' "$log" | tail -1 || true)"
    cov="$(grep -oE 'cov: [0-9]+' <<<"$status_line" | grep -oE '[0-9]+' || true)"
    ft="$(grep -oE 'ft: [0-9]+' <<<"$status_line" | grep -oE '[0-9]+' || true)"
    corpus_n="$(grep -oE 'corp: [0-9]+' <<<"$status_line" | grep -oE '[0-9]+' || true)"
    if ((rc == 0)); then
        result="ok, no crash"
    else
        artifact="$(grep -oE 'artifacts/[^ ]+' "$log" | tail -1 || true)"
        result="CRASH (exit $rc) input: fuzz/${artifact:-artifacts/$t/}"
        failed+=("$t")
        echo "---- $t crashed (full output: fuzz/$log)"
        grep -m1 -A4 -E "panicked at|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)" "$log" || true
        if [[ -n "$artifact" && -f "$artifact" ]]; then
            echo "input (hex, $(wc -c <"$artifact") bytes): $(od -An -tx1 -v "$artifact" | tr -d ' \n' | head -c 4096)"
        fi
        echo "----"
    fi
    line="$(printf '%-14s executions %-10s cov %-6s ft %-6s corpus %-6s %s' \
        "$t" "${execs:-?}" "${cov:-?}" "${ft:-?}" "${corpus_n:-?}" "$result")"
    echo "$line"
    summary+=("$line")
done

echo
echo "== fuzz summary (${seconds}s per target, sanitizer: $sanitizer)"
printf '%s\n' "${summary[@]}"
if ((${#failed[@]} > 0)); then
    echo "crashed: ${failed[*]}; reproduce with" \
        "RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer $sanitizer <target> fuzz/artifacts/<target>/<file>" \
        "(in fuzz/)" >&2
    exit 1
fi
