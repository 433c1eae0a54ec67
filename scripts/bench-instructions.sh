#!/usr/bin/env bash
# Exact cost per message of the collector's hot path, per payload format:
# heap allocations (bench `allocs`, a counting allocator) and instructions
# (the same replay under valgrind's callgrind, counting only inside
# `replay_measured`). Deterministic, unlike timings on a shared machine:
# use it to see what a hot-path change saved. Not part of the test suite.
#
#   scripts/bench-instructions.sh [--messages N] [<format>...]
#     formats: collectd influx telegraf-json json value (default: all)
#     --messages N  measured messages per format (default 2000; the
#                   simulator's warm-up minute is replayed first, uncounted)
#
# Needs valgrind and jq (apt-get install valgrind jq). Each format takes ~1.5 min
# (the simulator runs under valgrind too).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/lib/bench-binary.sh

messages=2000
while [ $# -gt 0 ]; do
  case "$1" in
    --messages) messages=$2; shift ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    -*) echo "scripts/bench-instructions.sh: unknown option: $1 (see --help)" >&2; exit 2 ;;
    *) break ;;
  esac
  shift
done
formats=("$@")
[ ${#formats[@]} -gt 0 ] || formats=(collectd influx telegraf-json json value)
for tool in valgrind jq; do
  command -v "$tool" >/dev/null ||
    { echo "scripts/bench-instructions.sh: needs $tool (apt-get install $tool)" >&2; exit 1; }
done

bin=$(bench_binary allocs)
[ -x "$bin" ] || { echo "scripts/bench-instructions.sh: building bench allocs failed" >&2; exit 1; }

out=$(mktemp)
trap 'rm -f "$out"' EXIT
printf '%-14s %9s %11s %10s %13s\n' format messages allocs/msg bytes/msg instr/msg
for format in "${formats[@]}"; do
  log=$(valgrind --tool=callgrind --callgrind-out-file="$out" \
    --toggle-collect='*replay_measured*' "$bin" "$format" "$messages" 2>&1)
  # The bench's own line: format, messages, allocs/msg, bytes/msg.
  read -r _ n allocs bytes < <(echo "$log" | awk -v f="$format" '$1 == f')
  ir=$(echo "$log" | awk '/Collected :/ { gsub(",", "", $4); print $4 }')
  printf '%-14s %9s %11s %10s %13s\n' "$format" "$n" "$allocs" "$bytes" \
    "$(awk -v ir="$ir" -v n="$n" 'BEGIN { printf "%.0f", ir / n }')"
done
