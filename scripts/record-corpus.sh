#!/usr/bin/env bash
# Re-records the field corpus (collector/tests/corpus/) from real clients:
#   collectd   the shipped deploy/devices/openwrt/collectd.conf run by the real
#              collectd 5.12 (Debian collectd-core, mqtt.so), StoreRates true
#              (device rtr-nx-001) and false (rtr-nx-002, prefix
#              collectd-counters), 3 intervals of 10 s each;
#   ont-poller the shipped deploy/devices/ont-poller/ont-poller.sh on its
#              sample `ethtool -m` output.
# Each client publishes to a private mosquitto on a free loopback port; a
# `mosquitto_sub -F '%t %x'` (topic, payload in hex: the bytes exactly,
# collectd's trailing NUL included) records what arrives, in arrival order.
# Every message becomes <case>/<NNN>.topic + <case>/<NNN>.payload.
#
# After re-recording, regenerate and REVIEW the expectations:
#   SCHOOLNET_CORPUS_BLESS=1 cargo test --test e2e corpus::
#
# Usage: scripts/record-corpus.sh [collectd|ont-poller|all]   (default all)
# Needs: mosquitto, mosquitto-clients, collectd-core, liboping0
# (scripts/setup-test-deps.sh installs them).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CORPUS="$ROOT/collector/tests/corpus"
what=${1:-all}
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

need() { command -v "$1" >/dev/null || { echo "record-corpus: $1 missing: run scripts/setup-test-deps.sh" >&2; exit 1; }; }
need mosquitto; need mosquitto_sub; need mosquitto_pub; need python3

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf 'listener %s 127.0.0.1\nallow_anonymous true\n' "$port" >"$work/mosquitto.conf"
mosquitto -c "$work/mosquitto.conf" >"$work/mosquitto.log" 2>&1 &
pids+=($!)
sleep 0.5

# Starts recording `filter` into $work/<name>.rec; sets rec_pid.
record() {
  mosquitto_sub -h 127.0.0.1 -p "$port" -q 1 -t "$2" -F '%t %x' >"$work/$1.rec" &
  rec_pid=$!
  pids+=("$rec_pid")
  sleep 0.3
}

# Splits a recording into <dir>/<NNN>.topic + .payload (replacing <dir>).
split_recording() {
  local rec=$1 dir=$2
  rm -rf "$dir"
  mkdir -p "$dir"
  python3 - "$rec" "$dir" <<'PY'
import sys, pathlib
rec, out = sys.argv[1], pathlib.Path(sys.argv[2])
n = 0
for line in open(rec, encoding="ascii"):
    line = line.rstrip("\n")
    if not line:
        continue
    topic, hexpayload = line.rsplit(" ", 1)
    n += 1
    (out / f"{n:03}.topic").write_text(topic)
    (out / f"{n:03}.payload").write_bytes(bytes.fromhex(hexpayload))
print(f"record-corpus: {n} messages -> {out}")
PY
}

record_collectd() {
  need collectd
  local conf="$ROOT/deploy/devices/openwrt/collectd.conf"
  for rates in true false; do
    local host=rtr-nx-001 prefix=collectd
    if [ "$rates" = false ]; then host=rtr-nx-002 prefix=collectd-counters; fi
    local dir="$work/collectd-$rates"
    mkdir -p "$dir"
    # The shipped config; only the broker, and for StoreRates false the
    # device, prefix and setting, substituted.
    sed -e "s|Host \"mqtt.schoolnet.example\"|Host \"127.0.0.1\"|" \
        -e "s|Port \"1883\"|Port \"$port\"|" \
        -e "s|\"rtr-nx-001\"|\"$host\"|g" \
        -e "s|Prefix \"collectd\"|Prefix \"$prefix\"|" \
        -e "s|StoreRates true|StoreRates $rates|" \
        "$conf" >"$dir/device.conf"
    printf 'BaseDir "%s"\nPIDFile "%s/pid"\nLoadPlugin logfile\n<Plugin logfile>\n  File "%s/log"\n</Plugin>\nInclude "%s/device.conf"\n' \
      "$dir" "$dir" "$dir" "$dir" >"$dir/wrapper.conf"
    record "collectd-$rates" "$prefix/#"
    collectd -f -C "$dir/wrapper.conf" &
    local cpid=$!
    pids+=("$cpid")
    # Three readings 10 s apart: rates need two, plus one more.
    sleep 25
    kill "$cpid"; wait "$cpid" 2>/dev/null || true
    sleep 0.5
    kill "$rec_pid"
    split_recording "$work/collectd-$rates.rec" "$CORPUS/collectd/storerates-$rates"
  done
}

record_ont_poller() {
  local poller="$ROOT/deploy/devices/ont-poller/ont-poller.sh"
  record ont-poller "ont/#"
  MQTT_HOST=127.0.0.1 MQTT_PORT=$port DEVICE=ont-nx-001 \
    ETHTOOL_OUTPUT="$ROOT/deploy/devices/ont-poller/sample-ethtool-m.txt" "$poller"
  sleep 0.5
  kill "$rec_pid"
  split_recording "$work/ont-poller.rec" "$CORPUS/ont-poller/ethtool-m"
}

case "$what" in
  collectd) record_collectd ;;
  ont-poller) record_ont_poller ;;
  all) record_collectd; record_ont_poller ;;
  *) echo "usage: $0 [collectd|ont-poller|all]" >&2; exit 2 ;;
esac
