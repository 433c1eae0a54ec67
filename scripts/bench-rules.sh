#!/usr/bin/env bash
# Rule evaluation cost at national scale (issue #22 E): a real Prometheus
# (the Debian package, as the tests use) scrapes a rendered exporter
# exposition every 30 s and evaluates the shipped rule files every 30 s;
# Prometheus's own /api/v1/rules reports how long each group's last
# evaluation took. Not part of the test suite: run it by hand.
#
#   scripts/bench-rules.sh [--minutes N] [--warmup N] [--rules DIR] [--schools N] [--detail standard|full] [EXPOSITION.prom]
#     --minutes  how long Prometheus runs before the report (default 10);
#                range selectors see at most this much data, so rules with
#                longer windows (increase(...[1h])) cost less here than in
#                steady state
#     --warmup   minutes before cycles are counted (default 3, or half of
#                --minutes if that is less); --minutes 21 --warmup 16
#                counts only cycles whose [15m] windows are full
#                (UplinkSaturated)
#     --rules    directory of *.yml rule files (default deploy/prometheus/rules)
#     --schools / --detail  without EXPOSITION.prom, render one first with
#                `cargo run -p exporter --example national_exposition`
#                (default 30000 schools, standard detail; a debug build
#                takes a few minutes to feed 30,000 schools)
#
# The exposition is served as a static file (python3 http.server), so values
# do not move between scrapes: sample decoding is cheaper than with live
# data, series lookups and joins (what dominates here) are the same.
# Prints, per group: interval, series the scrape holds, evaluation time of
# every cycle observed after the warm-up (median and max), and the
# slowest rules of the last evaluation. Ports are chosen free; everything it
# starts is stopped on exit.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

minutes=10
warmup=
rules=deploy/prometheus/rules
schools=30000
detail=standard
exposition=
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) minutes=$2; shift ;;
    --warmup) warmup=$2; shift ;;
    --rules) rules=$2; shift ;;
    --schools) schools=$2; shift ;;
    --detail) detail=$2; shift ;;
    -h|--help) sed -n '2,29p' "$0"; exit 0 ;;
    -*) echo "scripts/bench-rules.sh: unknown argument: $1 (see --help)" >&2; exit 2 ;;
    *) exposition=$1 ;;
  esac
  shift
done
for bin in /usr/bin/prometheus /usr/bin/promtool python3; do
  command -v "$bin" >/dev/null || { echo "missing $bin: run scripts/setup-test-deps.sh" >&2; exit 1; }
done

work=$(mktemp -d /tmp/bench-rules.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

if [ -z "$exposition" ]; then
  exposition=$work/metrics.prom
  cargo run -q -p exporter --example national_exposition -- "$schools" "$detail" "$exposition"
fi
mkdir -p "$work/www" "$work/rules"
ln -s "$(realpath "$exposition")" "$work/www/metrics"
cp "$rules"/*.yml "$work/rules/"
promtool check rules "$work"/rules/*.yml >/dev/null

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
web=$(free_port)
prom=$(free_port)
python3 -m http.server --bind 127.0.0.1 --directory "$work/www" "$web" >"$work/http.log" 2>&1 &
pids+=($!)
cat >"$work/prometheus.yml" <<EOF
global:
  scrape_interval: 30s
  scrape_timeout: 25s
  evaluation_interval: 30s
rule_files:
  - $work/rules/*.yml
scrape_configs:
  - job_name: schoolnet
    metrics_path: /metrics
    static_configs:
      - targets: ['127.0.0.1:$web']
EOF
/usr/bin/prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
  --web.listen-address="127.0.0.1:$prom" >"$work/prometheus.log" 2>&1 &
pids+=($!)

echo "exposition $exposition ($(grep -vc '^#' "$exposition") series), rules $rules, $minutes min" >&2
python3 - "$prom" "$minutes" "$warmup" <<'EOF'
import json, statistics, sys, time, urllib.parse, urllib.request

port, minutes = sys.argv[1], float(sys.argv[2])
warmup_s = float(sys.argv[3]) * 60 if sys.argv[3] else min(180, minutes * 60 / 2)
base = f"http://127.0.0.1:{port}"

def get(path):
    with urllib.request.urlopen(base + path, timeout=30) as r:
        return json.load(r)["data"]

deadline = time.time() + minutes * 60
warmup = time.time() + warmup_s
seen = {}   # group -> {lastEvaluation: evaluationTime}
last = None
while time.time() < deadline:
    time.sleep(5)
    try:
        groups = get("/api/v1/rules")["groups"]
    except Exception as e:  # Prometheus still starting
        continue
    last = groups
    if time.time() < warmup:
        continue
    for g in groups:
        if g.get("lastEvaluation", "").startswith("0001"):
            continue
        seen.setdefault(g["name"], {})[g["lastEvaluation"]] = g["evaluationTime"]

def value(q):
    r = get("/api/v1/query?query=" + urllib.parse.quote(q))["result"]
    return float(r[0]["value"][1]) if r else float("nan")
print(f"samples per scrape (max): {value('max_over_time(scrape_samples_scraped[1h])'):.0f}, "
      f"scrape duration (max): {value('max_over_time(scrape_duration_seconds[1h])'):.1f} s, "
      f"scrapes up: {value('sum_over_time(up[1h])'):.0f} of {value('count_over_time(up[1h])'):.0f}")
total_median = 0.0
print(f"{'group':32} {'interval':>8} {'cycles':>6} {'median s':>9} {'max s':>7}")
for g in last or []:
    times = list(seen.get(g["name"], {}).values())
    if not times:
        print(f"{g['name']:32} {g['interval']:>7}s {0:>6}")
        continue
    med = statistics.median(times)
    # Per 30 s cycle: a group evaluated every 2 min costs a quarter of that.
    total_median += med * 30 / g["interval"]
    print(f"{g['name']:32} {g['interval']:>7}s {len(times):>6} {med:>9.3f} {max(times):>7.3f}")
print(f"all groups, per 30 s cycle (median, slower groups prorated): {total_median:.3f} s")
rules = [(r["evaluationTime"], g["name"], r["name"]) for g in last or [] for r in g["rules"]]
print("slowest rules of the last evaluation:")
for t, g, name in sorted(rules, reverse=True)[:12]:
    print(f"  {t:8.3f} s  {g}/{name}")
EOF
