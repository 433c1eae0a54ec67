#!/usr/bin/env bash
# The throughput table of issue #21 in one command: builds the release
# binaries, then runs the load harness (schoolnet-load) with its own
# generator (the simulator's stream pre-encoded over N raw MQTT connections)
# against mosquitto_sub (C, the limit), the rumqttc counting subscriber,
# schoolnet run at QoS 0 (spool + DB) and QoS 1 (spool + DB, and DB without
# the spool), and Node-RED if installed; medians over --repeat runs, ratios
# to mosquitto_sub, CPU-s per million, peak RSS, the generator's own rate
# and the broker's load. The header names date, machine and commit.
# Not part of the test suite (its smoke run is: cargo test -p loadtest).
#
#   scripts/bench-ceiling.sh [--no-build] [--no-peer] [schoolnet-load args...]
#     --no-build   use the release binaries as built
#     --no-peer    leave Node-RED out even if scripts/setup-node-red.sh ran
#     e.g. --count 1000000 --repeat 5, --pin (broker core 0, consumer core 1),
#          --connections 4, --generator simulate (the old rumqttc generator),
#          --consumer-connections 1,2,4 (the rumqttc subscriber's intake split
#          over N connections, issue #21 D), --json FILE; see
#          target/release/schoolnet-load --help
#
# Defaults here: --count 1000000 --repeat 3, latency, demo and soak phases off
# (they are not about throughput; run schoolnet-load without this script
# for them). Run it on a quiet machine: every process shares the cores.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

build=1
peer=auto
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) build=0 ;;
    --no-peer) peer=no ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    *) args+=("$1") ;;
  esac
  shift
done

if [ "$build" = 1 ]; then
  cargo build --release -p schoolnet -p loadtest
fi
target_dir=${CARGO_TARGET_DIR:-target}
command -v mosquitto_sub >/dev/null || {
  echo "scripts/bench-ceiling.sh: mosquitto_sub not found: run scripts/setup-test-deps.sh" >&2
  exit 1
}
peer_args=()
if [ "$peer" = auto ] && [ -f "$target_dir/node-red/node_modules/node-red/package.json" ]; then
  peer_args=(--peer node-red)
fi
set -x
exec "$target_dir/release/schoolnet-load" \
  --count 1000000 --repeat 3 --latency-secs 0 --demo-secs 0 \
  "${peer_args[@]}" "${args[@]}"
