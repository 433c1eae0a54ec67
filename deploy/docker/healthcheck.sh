#!/bin/bash
# Container health check for `schoolnet run`: GET /healthz on the exporter,
# healthy when the answer's status line says 200. Needs nothing but bash
# (its /dev/tcp), so the runtime image carries no curl or wget.
#
# Used by the Dockerfile's HEALTHCHECK as /usr/local/bin/schoolnet-healthcheck.
# SCHOOLNET_HEALTH_PORT (default 9740) must match the port of
# `exporter.listen`. Plain HTTP only: with `exporter.web_config_file`
# (TLS or basic auth) this check fails; turn it off for such a container
# (`healthcheck: disable: true` in compose) and rely on Prometheus'
# CollectorDown instead.
set -euo pipefail
port="${SCHOOLNET_HEALTH_PORT:-9740}"
exec 3<>"/dev/tcp/127.0.0.1/${port}"
printf 'GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' >&3
status=""
IFS= read -r -t 5 status <&3 || true
case "$status" in
  "HTTP/1."?" 200 "*) exit 0 ;;
  *) echo "schoolnet /healthz: ${status:-no answer}" >&2; exit 1 ;;
esac
