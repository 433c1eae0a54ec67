#!/usr/bin/env bash
# Micro benchmarks (criterion) of issue 6 and their targets, on this machine:
# decode + normalize per format, line-protocol encoding per point, spool
# append (groups, with and without fsync), /metrics render at 216 and
# 30,000 schools, and the third-party parsers alone (parser_floor). Not part
# of the test suite: run it by hand.
#
#   scripts/bench-micro.sh [--quick] [-- <criterion args, e.g. a filter>]
#     --quick   1 s warm-up and 3 s measurement per benchmark (default:
#               criterion's 3 s and 5 s); the 30,000-school render always
#               takes 10 samples (~1 min)
#
# Prints criterion's output, then a table: benchmark, median per iteration
# (criterion's median estimate), target, status (pass / MISS / -).
# Results stay in target/criterion/ (criterion compares with the last run).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

crit=()
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) crit+=(--warm-up-time 1 --measurement-time 3) ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    --) shift; crit+=("$@"); break ;;
    *) echo "scripts/bench-micro.sh: unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

target_dir=${CARGO_TARGET_DIR:-target}
started=$(date +%s)
cargo bench --workspace --bench pipeline --bench line_protocol --bench spool \
  --bench exposition -- "${crit[@]}"

# Benchmark id -> target in ns ("" = no target). The per-message targets
# of issue 6 (decode + normalize <= 1 us, encode <= 200 ns) were retired as
# goals by issue #21: micro work has to show up end to end (the load
# harness, scripts/bench-ceiling.sh), so those rows are measurements only.
target_ns() {
  case "$1" in
    exposition/render_216) echo 5000000 ;;
    exposition/render_30000) echo 1500000000 ;;
    *) echo "" ;;
  esac
}

human() { # ns -> text
  awk -v ns="$1" 'BEGIN {
    if (ns >= 1e9) printf "%.2f s", ns / 1e9;
    else if (ns >= 1e6) printf "%.2f ms", ns / 1e6;
    else if (ns >= 1e3) printf "%.2f µs", ns / 1e3;
    else printf "%.0f ns", ns }'
}

echo
printf '%-34s %12s %12s  %s\n' benchmark median target status
# Only results written by this run (criterion keeps older ones).
find "$target_dir/criterion" -path '*/new/estimates.json' -newermt "@$started" | sort |
while read -r est; do
  dir=${est%/new/estimates.json}
  id=$(jq -r '.full_id // .title' "$dir/new/benchmark.json" 2>/dev/null || echo "${dir#"$target_dir"/criterion/}")
  median=$(jq -r '.median.point_estimate' "$est")
  target=$(target_ns "$id")
  status=-
  shown_target=-
  if [ -n "$target" ]; then
    shown_target=$(human "$target")
    if awk -v m="$median" -v t="$target" 'BEGIN { exit !(m <= t) }'; then
      status=pass
    else
      status=MISS
    fi
  fi
  printf '%-34s %12s %12s  %s\n' "$id" "$(human "$median")" "$shown_target" "$status"
done
