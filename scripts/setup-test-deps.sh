#!/usr/bin/env bash
# Installs what schoolnet's tests need: the real servers the tests start as
# child processes, the validators of deploy/ (docker-compose, systemd-analyze;
# Debian packages) and cargo-nextest.
#
# Idempotent: when everything is present it only checks and exits (no apt).
# Runs apt as root (through sudo when not root). The packages' own services
# are not started (policy-rc.d answers 101 during the install) and, where
# systemd runs, are disabled: tests start their own servers on free ports.
#
# Usage: sudo scripts/setup-test-deps.sh [--force]
#   (as root, or as a user with sudo). --force runs apt even when every
#   package is already installed.
set -euo pipefail

force=0
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "setup-test-deps: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

# Debian packages -> a file each must provide (checked after install).
PACKAGES=(
  mosquitto            # MQTT broker 2.0.x: /usr/sbin/mosquitto
  mosquitto-clients    # mosquitto_pub / mosquitto_sub
  libmosquitto1        # needed by collectd's mqtt.so
  influxdb             # InfluxDB 1.6: /usr/bin/influxd
  victoria-metrics     # /usr/bin/victoria-metrics (v2 write target, PromQL)
  prometheus           # /usr/bin/prometheus, /usr/bin/promtool
  prometheus-alertmanager # /usr/bin/prometheus-alertmanager, /usr/bin/amtool
  collectd-core        # /usr/sbin/collectd + /usr/lib/collectd/mqtt.so
  liboping0            # collectd's ping plugin (deploy/devices/openwrt/collectd.conf loads it)
  chromium             # /usr/bin/chromium: headless browser for the status page test
  fonts-dejavu-core    # a font for chromium's screenshots (text is boxes without one)
  docker-compose       # /usr/bin/docker-compose: `config` validates deploy/compose/ (no engine needed)
  systemd              # /usr/bin/systemd-analyze: `verify` checks deploy/systemd/schoolnet.service
)
REQUIRED_FILES=(
  /usr/sbin/mosquitto
  /usr/bin/mosquitto_sub
  /usr/bin/mosquitto_pub
  /usr/bin/influxd
  /usr/bin/victoria-metrics
  /usr/bin/prometheus
  /usr/bin/promtool
  /usr/bin/prometheus-alertmanager
  /usr/bin/amtool
  /usr/sbin/collectd
  /usr/lib/collectd/mqtt.so
  /usr/bin/chromium
  /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf
  /usr/bin/docker-compose
  /usr/bin/systemd-analyze
)
SERVICES=(mosquitto influxdb victoria-metrics prometheus prometheus-alertmanager collectd)

log() { printf 'setup-test-deps: %s\n' "$*"; }

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    # Ask for a password only when someone can type it.
    if [ -t 0 ]; then SUDO=(sudo); else SUDO=(sudo -n); fi
  else
    log "not root and no sudo: run as root"
    exit 1
  fi
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  if [ "$force" -eq 1 ] || [ "$status" != "install ok installed" ]; then
    missing+=("$pkg")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  log "Debian packages already installed: ${PACKAGES[*]}"
else
  log "installing: ${missing[*]}"
  # Keep the packages' services from starting during the install. Leave an
  # existing policy-rc.d (container images often have one) alone.
  policy=/usr/sbin/policy-rc.d
  created_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# added by schoolnet scripts/setup-test-deps.sh\nexit 101\n' \
      | "${SUDO[@]}" tee "$policy" >/dev/null
    "${SUDO[@]}" chmod 755 "$policy"
    created_policy=1
  fi
  cleanup() {
    if [ "$created_policy" -eq 1 ]; then "${SUDO[@]}" rm -f "$policy"; fi
  }
  trap cleanup EXIT

  export DEBIAN_FRONTEND=noninteractive
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    "${missing[@]}"
  log "apt-get install done for: ${missing[*]}"

  # Where systemd runs, make sure the packaged daemons stay off.
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    for svc in "${SERVICES[@]}"; do
      "${SUDO[@]}" systemctl disable --now "$svc" >/dev/null 2>&1 || true
    done
    log "disabled services: ${SERVICES[*]}"
  fi
fi

for f in "${REQUIRED_FILES[@]}"; do
  if [ ! -e "$f" ]; then
    log "ERROR: $f is missing after the install"
    exit 1
  fi
done
if ldd /usr/lib/collectd/mqtt.so | grep -q 'not found'; then
  log "ERROR: collectd's mqtt.so has unresolved libraries:"
  ldd /usr/lib/collectd/mqtt.so | grep 'not found'
  exit 1
fi

# Nothing from these packages should hold their default ports (the tests do
# not use them, but a running daemon wastes the machine).
if command -v ss >/dev/null 2>&1; then
  busy=$(ss -ltnH 2>/dev/null | awk '{print $4}' | grep -E ':(1883|8086|8088|8428|9090|9093|9094|25826)$' || true)
  if [ -n "$busy" ]; then
    log "note: default server ports in use (not needed by the tests): $(echo "$busy" | tr '\n' ' ')"
  fi
fi

log "versions: mosquitto $(dpkg-query -W -f='${Version}' mosquitto)," \
  "influxdb $(dpkg-query -W -f='${Version}' influxdb)," \
  "victoria-metrics $(dpkg-query -W -f='${Version}' victoria-metrics)," \
  "prometheus $(dpkg-query -W -f='${Version}' prometheus)," \
  "prometheus-alertmanager $(dpkg-query -W -f='${Version}' prometheus-alertmanager)," \
  "collectd-core $(dpkg-query -W -f='${Version}' collectd-core)," \
  "chromium $(dpkg-query -W -f='${Version}' chromium)," \
  "docker-compose $(dpkg-query -W -f='${Version}' docker-compose)," \
  "systemd $(dpkg-query -W -f='${Version}' systemd)"

# cargo-nextest: for the invoking user's cargo; only when missing.
if command -v cargo >/dev/null 2>&1; then
  if cargo nextest --version >/dev/null 2>&1; then
    log "cargo-nextest present: $(cargo nextest --version 2>/dev/null | head -n1)"
  else
    log "installing cargo-nextest (cargo install --locked)"
    cargo install cargo-nextest --locked
    log "installed: $(cargo nextest --version 2>/dev/null | head -n1)"
  fi
else
  log "note: cargo not on PATH for $(id -un); scripts/test.sh falls back to cargo test without nextest"
fi
log "done"
