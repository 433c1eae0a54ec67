#!/usr/bin/env bash
# A/B of the collector's criterion benches: a base commit against the
# working tree, in the same session, alternating, so the noise of a shared
# machine hits both alike. Prints each benchmark's median over the rounds
# for both, and the ratio new/base. Not part of the test suite.
#
#   scripts/bench-ab.sh [--rounds N] [--bench NAME] <base-commit> [<criterion filter>]
#     --rounds N    alternations (default 5); each runs 1 s warm-up + 3 s
#     --bench NAME  collector bench target (default pipeline; also line_protocol)
#     filter        criterion filter, e.g. 'decode_normalize/' (default: all)
#
# The base is built from a worktree of <base-commit> under
# target/bench-ab/ (a full release build the first time: ~10 min on 2 cores).
# Needs jq. Ratios below ~0.95 or above ~1.05 on this 2-core VM need
# several rounds to trust (the spread column shows how noisy the window
# was); scripts/bench-instructions.sh counts exactly.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/lib/bench-binary.sh

rounds=5 bench=pipeline
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift ;;
    --bench) bench=$2; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    -*) echo "scripts/bench-ab.sh: unknown option: $1 (see --help)" >&2; exit 2 ;;
    *) break ;;
  esac
  shift
done
base=${1:?usage: scripts/bench-ab.sh [--rounds N] [--bench NAME] <base-commit> [filter]}
filter=${2:-}
command -v jq >/dev/null || { echo "scripts/bench-ab.sh: needs jq (apt-get install jq)" >&2; exit 1; }

ab_dir=$PWD/target/bench-ab
tree=$ab_dir/tree
mkdir -p "$ab_dir"
sha=$(git rev-parse --verify "$base^{commit}")
if [ "$(git -C "$tree" rev-parse HEAD 2>/dev/null || true)" != "$sha" ]; then
  git worktree remove --force "$tree" 2>/dev/null || rm -rf "$tree"
  git worktree add --detach "$tree" "$sha" >/dev/null
fi

# Builds the bench in $1 with target dir $2; prints the binary's path.
build() {
  (cd "$1" && CARGO_TARGET_DIR=$2 bench_binary "$bench")
}
echo "building $bench at ${sha:0:10} and at the working tree..." >&2
base_bin=$(build "$tree" "$ab_dir/target")
new_bin=$(build "$PWD" "${CARGO_TARGET_DIR:-$PWD/target}")
[ -x "$base_bin" ] && [ -x "$new_bin" ] || { echo "scripts/bench-ab.sh: build failed" >&2; exit 1; }

results=$(mktemp)
trap 'rm -f "$results"' EXIT
crit_dir=$(mktemp -d)
for round in $(seq 1 "$rounds"); do
  for side in base new; do
    bin=$base_bin
    [ "$side" = new ] && bin=$new_bin
    rm -rf "$crit_dir"/*
    CRITERION_HOME=$crit_dir "$bin" --bench --warm-up-time 1 --measurement-time 3 \
      --noplot ${filter:+"$filter"} >/dev/null 2>&1
    find "$crit_dir" -path '*/new/estimates.json' | while read -r est; do
      id=$(jq -r '.full_id // .title' "${est%/estimates.json}/benchmark.json")
      printf '%s %s %s\n' "$id" "$side" "$(jq '.median.point_estimate' "$est")"
    done >>"$results"
  done
  echo "round $round/$rounds done" >&2
done
rm -rf "$crit_dir"

printf '%-36s %12s %12s %7s %13s\n' benchmark "base (ns)" "new (ns)" new/base "spread b / n"
sort "$results" | awk '
  # Sorts the numbers of a space-separated list into a[1..n]; returns n.
  function sorted(list, a,   n, i, j, t) {
    n = split(list, a, " ")
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return n
  }
  function median(a, n) { return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
  { v[$1, $2] = v[$1, $2] " " $3; ids[$1] = 1 }
  END {
    for (id in ids) {
      nb = sorted(v[id, "base"], b); nn = sorted(v[id, "new"], w)
      printf "%-36s %12.1f %12.1f %7.3f %6.2f / %4.2f\n", id, median(b, nb), median(w, nn),
        median(w, nn) / median(b, nb), b[nb] / b[1], w[nn] / w[1]
    }
  }' | sort
echo "(medians of $rounds alternating rounds; base ${sha:0:10}, new = working tree;"
echo " spread = slowest / fastest round of each side: above ~1.3 the window was noisy)"
