#!/usr/bin/env bash
# The scale benchmark (issue #22 D; docs/performance.md "Scale"): a generated
# inventory of N schools (routers every 60 s, ONTs and OLTs every 120 s,
# QoS 0) through mosquitto, `schoolnet run` (one instance, or N shards
# started together) and a real Prometheus with the shipped rules, scraping
# and evaluating every 30 s. Prints one table: series, /metrics size and
# scrape cost, exporter RSS, /readyz time, Prometheus scrape durations,
# head series, RSS and rule evaluation time, mosquitto RSS; with the date,
# machine and commit. Not part of the test suite: at 30,000 schools it needs
# about 10 GB of memory and 5-6 minutes.
#
#   scripts/bench-scale.sh [--schools N] [--districts D] [--olt-fanout F]
#                          [--shards N] [--warmup 130s] [--duration 150s]
#                          [--scrapes 5] [--json FILE] [--keep] [--no-build]
#     --schools N     schools in the generated inventory (default 30000)
#     --districts D   districts, one OLT each unless --olt-fanout (default N/300)
#     --shards N      run N instances ([shard] index 0..N-1, count N)
#     --warmup T      simulate this long before measuring the exporter
#     --duration T    how long Prometheus scrapes before its numbers are read
#     --scrapes N     sequential curl scrapes per instance (p50, CPU-s)
#     --no-build      use target/release/schoolnet as it is
#
# Needs mosquitto, prometheus and curl (scripts/setup-test-deps.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

build=1
args=()
for a in "$@"; do
  case "$a" in
    --no-build) build=0 ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    *) args+=("$a") ;;
  esac
done
for bin in /usr/sbin/mosquitto /usr/bin/prometheus curl python3; do
  command -v "$bin" >/dev/null || {
    echo "bench-scale: $bin not found; run scripts/setup-test-deps.sh" >&2
    exit 1
  }
done
if [ "$build" -eq 1 ]; then
  cargo build --release -p schoolnet --bin schoolnet
fi
exec python3 scripts/lib/bench_scale.py "${args[@]}"
