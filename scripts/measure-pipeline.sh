#!/usr/bin/env bash
# Rough end-to-end throughput of `schoolnet simulate` -> mosquitto ->
# `schoolnet run` (-> InfluxDB 1.x with --influx), on this machine.
# Not part of the test suite: it is a measurement, run it by hand:
#
#   scripts/measure-pipeline.sh [--count N] [--runs R] [--influx]
#
# Prints per run: messages, seconds from the first publish until the
# collector has processed the last message, messages/s, and the collector's
# peak RSS (VmHWM); then the median rate. Uses the release binary.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

count=100000
runs=3
influx=0
while [ $# -gt 0 ]; do
  case "$1" in
    --count) count=$2; shift ;;
    --runs) runs=$2; shift ;;
    --influx) influx=1 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

cargo build --release --quiet
bin=target/release/schoolnet
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

mq_port=$(free_port)
cat > "$work/mosquitto.conf" <<CONF
listener $mq_port 127.0.0.1
allow_anonymous true
max_queued_messages 0
max_inflight_messages 0
$( [ "$(id -u)" = 0 ] && echo "user root" )
CONF
mosquitto -c "$work/mosquitto.conf" > "$work/mosquitto.log" 2>&1 & pids+=($!)

influx_section=""
if [ "$influx" = 1 ]; then
  http=$(free_port); rpc=$(free_port)
  cat > "$work/influxdb.conf" <<CONF
reporting-disabled = true
bind-address = "127.0.0.1:$rpc"
[meta]
  dir = "$work/influx/meta"
[data]
  dir = "$work/influx/data"
  wal-dir = "$work/influx/wal"
[http]
  bind-address = "127.0.0.1:$http"
  log-enabled = false
[monitor]
  store-enabled = false
CONF
  influxd -config "$work/influxdb.conf" > "$work/influxd.log" 2>&1 & pids+=($!)
  until curl -sf "http://127.0.0.1:$http/ping" >/dev/null; do sleep 0.2; done
  curl -sf -XPOST "http://127.0.0.1:$http/query" --data-urlencode "q=CREATE DATABASE schoolnet" >/dev/null
  influx_section="[influx]
url = \"http://127.0.0.1:$http\"
api = \"v1\"
database = \"schoolnet\""
fi

rates=()
for run in $(seq 1 "$runs"); do
  ex_port=$(free_port)
  cat > "$work/schoolnet.toml" <<CONF
[mqtt]
url = "mqtt://127.0.0.1:$mq_port"
client_id = "measure-$run"
clean_session = true
[inventory]
schools = "$PWD/deploy/inventory/schools.csv"
devices = "$PWD/deploy/inventory/devices.csv"
[exporter]
listen = "127.0.0.1:$ex_port"
$influx_section
CONF
  RUST_LOG=warn "$bin" run --config "$work/schoolnet.toml" 2> "$work/run-$run.log" & run_pid=$!
  pids+=("$run_pid")
  until curl -sf "http://127.0.0.1:$ex_port/readyz" >/dev/null; do sleep 0.1; done
  start=$(date +%s.%N)
  RUST_LOG=warn "$bin" simulate --broker "mqtt://127.0.0.1:$mq_port" --rate 0 --count "$count" --quiet \
    --client-id "sim-$run" > "$work/sim-$run.txt"
  while :; do
    done_msgs=$(curl -sf "http://127.0.0.1:$ex_port/metrics" \
      | awk '/^schoolnet_collector_messages_total\{/ {s += $NF} END {printf "%d", s}')
    [ "$done_msgs" -ge "$count" ] && break
    sleep 0.05
  done
  end=$(date +%s.%N)
  rss_kb=$(awk '/VmHWM/ {print $2}' "/proc/$run_pid/status")
  secs=$(awk -v a="$start" -v b="$end" 'BEGIN {print b - a}')
  rate=$(awk -v n="$count" -v s="$secs" 'BEGIN {print n / s}')
  printf 'run %d: %d messages in %.2f s = %.0f msg/s, collector peak RSS %.1f MB\n' \
    "$run" "$count" "$secs" "$rate" "$(awk -v k="$rss_kb" 'BEGIN {print k / 1024}')"
  rates+=("$rate")
  kill -TERM "$run_pid"; wait "$run_pid" || true
done
median=$(printf '%s\n' "${rates[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
printf 'median: %.0f msg/s over %d runs (%s, %d cores)\n' "$median" "$runs" \
  "$( [ "$influx" = 1 ] && echo 'with InfluxDB 1.x history' || echo 'live metrics only')" "$(nproc)"
