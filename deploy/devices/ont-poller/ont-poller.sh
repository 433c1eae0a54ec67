#!/bin/sh
# schoolnet ONT/SFP poller: reads an SFP/ONT stick's optical diagnostics
# (DDM) with `ethtool -m <iface>` and publishes them as JSON to
# ont/<device>/optical, schoolnet's built-in `ont-optical` route:
#   {"rxpower":-16.99,"txpower":3.00,"temperature":47.25,"voltage":3.294,"bcurr":12.34,"ts":1796521960123}
# (dBm, dBm, °C, V, mA; ts in ms). Values the module does not report are left
# out (the route stores what is there). POSIX sh + awk + mosquitto_pub, so it
# runs on OpenWrt (opkg install ethtool mosquitto-client-nossl) and Debian.
#
# Run it from cron every minute, or loop:  while ont-poller.sh; do sleep 30; done
#
# Environment:
#   DEVICE      the ONT's device_id in the schoolnet inventory (required)
#   IFACE       the SFP interface (default eth1)
#   MQTT_HOST   broker (default mqtt.schoolnet.example), MQTT_PORT (1883)
#   MQTT_USER / MQTT_PASS  optional credentials
#   ETHTOOL_OUTPUT  read this file instead of running `ethtool -m` (tests)
set -eu

: "${DEVICE:?set DEVICE to the ONT's inventory device_id}"
IFACE=${IFACE:-eth1}
MQTT_HOST=${MQTT_HOST:-mqtt.schoolnet.example}
MQTT_PORT=${MQTT_PORT:-1883}

if [ -n "${ETHTOOL_OUTPUT:-}" ]; then
  ddm=$(cat "$ETHTOOL_OUTPUT")
else
  ddm=$(ethtool -m "$IFACE")
fi

# The number right before the unit on ethtool's DDM lines (sfpdiag format:
# "Receiver signal average optical power : 0.0200 mW / -16.99 dBm").
json=$(printf '%s\n' "$ddm" | awk -F': *' '
  function num_before(s, unit,   i, n, w) {
    n = split(s, w, " ")
    for (i = 2; i <= n; i++) if (w[i] == unit) return w[i-1]
    return ""
  }
  /Receiver signal average optical power/ { rx = num_before($2, "dBm") }
  /Laser output power/                    { tx = num_before($2, "dBm") }
  /Module temperature/                    { temp = num_before($2, "degrees") }
  /Module voltage/                        { volt = num_before($2, "V") }
  /Laser bias current/                    { bias = num_before($2, "mA") }
  # "-inf dBm" (no light) and other non-numbers are left out: not JSON.
  function add(k, v) { if (v ~ /^-?[0-9]+(\.[0-9]+)?$/) { out = out (out == "" ? "" : ",") "\"" k "\":" v } }
  END {
    add("rxpower", rx); add("txpower", tx); add("temperature", temp)
    add("voltage", volt); add("bcurr", bias)
    print out
  }')
if [ -z "$json" ]; then
  echo "ont-poller: no optical diagnostics from ${ETHTOOL_OUTPUT:-ethtool -m $IFACE}" >&2
  exit 1
fi
# Milliseconds since the epoch, from whole seconds (busybox date has no %N).
ts=$(($(date +%s) * 1000))

set -- -h "$MQTT_HOST" -p "$MQTT_PORT" -q 1 -t "ont/$DEVICE/optical"
if [ -n "${MQTT_USER:-}" ]; then set -- "$@" -u "$MQTT_USER" -P "${MQTT_PASS:-}"; fi
mosquitto_pub "$@" -m "{$json,\"ts\":$ts}"
