#!/usr/bin/env bash
# Weighs hand-written fast paths end to end (the fast-path policy,
# docs/performance.md "Fast paths: keep or drop"). Takes prebuilt variants
# (the baseline first, then one per fast path with the crate it mimics in
# its place; how to build them: that section) and
#  1. counts instructions per message of the collector's hot path
#     (`Pipeline::handle` + the spool path's line-protocol encode, bench
#     `fastpaths`) under callgrind, on the simulator's mixed stream and on
#     the Telegraf JSON stream, and times the same replay natively (thread
#     CPU), each the median of --rounds runs;
#  2. runs the load harness (`schoolnet-load`, one repeat per QoS) with
#     each variant's `schoolnet` in turn, alternating, --rounds times, and
#     takes the median of the collector's CPU seconds per million messages.
# Prints one table: per variant the numbers and the saving the fast path
# makes, (crate − baseline) / crate, in % of what was measured. Not part
# of the test suite.
#
#   scripts/bench-fastpaths.sh [--rounds N] [--count N] [--messages N] [--qos Q]
#                              [--no-harness] <base>=<dir> <variant>=<dir>...
#     <dir>          holds the variant's `fastpaths` (the bench binary) and
#                    `schoolnet` (release); the base's also `schoolnet-load`
#     --rounds N     alternations (default 3)
#     --count N      messages per harness run (default 200000)
#     --messages N   measured messages of the replay (default 20000)
#     --qos Q        harness QoS, 0 or 1 (default 1: the production setup)
#     --no-harness   the replay only
#
# Needs valgrind, jq and the harness's servers (scripts/setup-test-deps.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

rounds=3 count=200000 messages=20000 qos=1 harness=1
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift ;;
    --count) count=$2; shift ;;
    --messages) messages=$2; shift ;;
    --qos) qos=$2; shift ;;
    --no-harness) harness=0 ;;
    -h|--help) sed -n '2,28p' "$0"; exit 0 ;;
    -*) echo "scripts/bench-fastpaths.sh: unknown option: $1 (see --help)" >&2; exit 2 ;;
    *) break ;;
  esac
  shift
done
[ $# -ge 2 ] || { echo "usage: scripts/bench-fastpaths.sh [options] <base>=<dir> <variant>=<dir>... (see --help)" >&2; exit 2; }
for tool in valgrind jq; do
  command -v "$tool" >/dev/null ||
    { echo "scripts/bench-fastpaths.sh: needs $tool (apt-get install $tool)" >&2; exit 1; }
done

names=() dirs=()
for spec in "$@"; do
  names+=("${spec%%=*}")
  dirs+=("$(cd "${spec#*=}" && pwd)")
done
base=${names[0]}
for i in "${!names[@]}"; do
  for bin in fastpaths schoolnet; do
    [ -x "${dirs[$i]}/$bin" ] || { echo "scripts/bench-fastpaths.sh: no ${dirs[$i]}/$bin" >&2; exit 1; }
  done
done
[ "$harness" = 0 ] || [ -x "${dirs[0]}/schoolnet-load" ] ||
  { echo "scripts/bench-fastpaths.sh: no ${dirs[0]}/schoolnet-load" >&2; exit 1; }

results=$(mktemp)
cg=$(mktemp)
work=$(mktemp -d)
trap 'rm -rf "$results" "$cg" "$work"' EXIT
# 1. Instructions per message under callgrind. Nearly exact, but a build's
# counts come in two modes ~1.7 % apart from run to run (the hash maps'
# random seeds), so: --rounds runs each, median.
for round in $(seq 1 "$rounds"); do
 for i in "${!names[@]}"; do
  name=${names[$i]} bin=${dirs[$i]}
  for stream in mixed telegraf-json; do
    log=$(valgrind --tool=callgrind --callgrind-out-file="$cg" \
      --toggle-collect='*replay_measured*' "$bin/fastpaths" "$stream" "$messages" 2>&1)
    ir=$(echo "$log" | awk '/Collected :/ { gsub(",", "", $4); print $4 }')
    n=$(echo "$log" | awk -v s="$stream" '$1 == s { print $2 }')
    echo "$name instr-$stream $(awk -v ir="$ir" -v n="$n" 'BEGIN { printf "%.0f", ir / n }')" >>"$results"
    echo "callgrind $name $stream: $(tail -n 1 "$results" | cut -d' ' -f3) instr/msg" >&2
  done
 done
done
# The same replay natively: thread CPU ns per message, alternating.
for round in $(seq 1 "$rounds"); do
  for i in "${!names[@]}"; do
    ns=$("${dirs[$i]}/fastpaths" mixed "$messages" | awk '$1 == "mixed" { print $4 }')
    echo "${names[$i]} ns-mixed $ns" >>"$results"
  done
done

# 2. The load harness, alternating the variants round by round.
if [ "$harness" = 1 ]; then
  for round in $(seq 1 "$rounds"); do
    for i in "${!names[@]}"; do
      name=${names[$i]} json=$work/harness.json
      SCHOOLNET_BIN=${dirs[$i]}/schoolnet "${dirs[0]}/schoolnet-load" --count "$count" \
        --repeat 1 --qos "$qos" --latency-secs 0 --demo-secs 0 --json "$json" >"$work/log" 2>&1 ||
        { cat "$work/log" >&2; echo "scripts/bench-fastpaths.sh: harness run failed ($name, round $round)" >&2; exit 1; }
      cpu=$(jq '.rows[] | select(.consumer == "Collector") | .cpu_s_per_million' "$json")
      echo "$name cpu $cpu" >>"$results"
      echo "round $round/$rounds $name: collector $cpu CPU-s/M" >&2
    done
  done
fi

printf '%-14s %9s %7s %9s %7s %8s %7s %8s %7s %6s\n' variant "instr mix" saving \
  "instr tj" saving "ns mix" saving "CPU-s/M" saving spread
awk -v base="$base" -v order="${names[*]}" '
  function sorted(list, a,   n, i, j, t) {
    n = split(list, a, " ")
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
    return n
  }
  function median(a, n) { return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
  # Median of one measure of one variant (0 if not measured).
  function med(name, what,   a, n) { n = sorted(v[name, what], a); return n ? median(a, n) : 0 }
  # The fast path saving: (crate - baseline) / crate, in %.
  function saving(name, what,   c, b) {
    c = med(name, what); b = med(base, what)
    return name == base || !c || !b ? "-" : sprintf("%.1f%%", 100 * (c - b) / c)
  }
  { v[$1, $2] = v[$1, $2] " " $3 }
  END {
    nn = split(order, names, " ")
    for (k = 1; k <= nn; k++) {
      name = names[k]
      nc = sorted(v[name, "cpu"], c)
      printf "%-14s %9d %7s %9d %7s %8.1f %7s %8.2f %7s %6s\n", name,
        med(name, "instr-mixed"), saving(name, "instr-mixed"),
        med(name, "instr-telegraf-json"), saving(name, "instr-telegraf-json"),
        med(name, "ns-mixed"), saving(name, "ns-mixed"),
        med(name, "cpu"), saving(name, "cpu"), nc ? sprintf("%.2f", c[nc] / c[1]) : "-"
    }
  }' "$results"
echo "(instr: callgrind instructions per message of Pipeline::handle + encode, median of $rounds, mix = the simulator's"
echo " stream, tj = Telegraf JSON; ns mix: the same replay natively, thread CPU, median of $rounds;"
echo " CPU-s/M: the collector's CPU seconds per million messages in schoolnet-load, QoS $qos, median"
echo " of $rounds alternating rounds of $count messages; spread = its slowest / fastest round;"
echo " saving = the fast path's share of that measure, (crate - $base) / crate)"
