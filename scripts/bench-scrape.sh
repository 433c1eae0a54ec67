#!/usr/bin/env bash
# What one /metrics scrape costs at national scale, in a minute or two
# instead of bench-scale.sh's six: builds the exporter's `scrape-bench`
# example (release), prints the date, machine, load and commit, and runs
# it: a generated 30,000-school live state served on 127.0.0.1:0 in the
# example's own process, scraped with curl, identity and gzip.
#
#   scripts/bench-scrape.sh [--no-build] [example options]
#     --schools N        schools (30000)
#     --spaced N         timed scrapes per encoding, each rendering (10)
#     --back-to-back N   scrapes per encoding one after another, RSS read
#                        right after each (30)
#     --concurrent N     scrapes at once per round (4), --rounds N rounds
#                        per encoding (5), RSS read right after each round
#     --compare R        instead: R interleaved rounds of --spaced gzip
#                        scrapes with the parallel gzip and with plain
#                        single-threaded flate2 level 1
#
# Output: curl p50 / p90 / max and CPU-s per scrape per encoding; the RSS
# (VmRSS) right after every scrape with its ratio to the RSS before the
# first one, the mean of the first and last third (a ratchet shows as a
# rise), the RSS after the last window and the peak (VmHWM).
# docs/performance.md "Scale" has a run. Needs curl.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

build=1
if [ "${1:-}" = "--no-build" ]; then build=0; shift; fi
if [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then sed -n '2,22p' "$0"; exit 0; fi
command -v curl >/dev/null ||
  { echo "scripts/bench-scrape.sh: needs curl (scripts/setup-test-deps.sh)" >&2; exit 1; }

if [ $build = 1 ]; then
  cargo build --release -p exporter --example scrape-bench
fi
bin="${CARGO_TARGET_DIR:-target}/release/examples/scrape-bench"
[ -x "$bin" ] || { echo "scripts/bench-scrape.sh: no $bin (drop --no-build)" >&2; exit 1; }

commit=$(git rev-parse --short HEAD)
git diff --quiet HEAD -- exporter collector || commit="$commit+uncommitted changes"
echo "date:    $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)," \
     "$(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), Linux $(uname -r)"
echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min) at the start"
echo "commit:  $commit"
"$bin" "$@"
echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min) at the end"
