#!/usr/bin/env bash
# Makes the secrets of deploy/compose/docker-compose.yml, once:
#   .env                       SCHOOLNET_MQTT_PASSWORD, SCHOOLNET_INFLUX_TOKEN,
#                              INFLUX_ADMIN_PASSWORD, GRAFANA_ADMIN_PASSWORD
#                              (random; mode 600; docker-compose reads it)
#   secrets/mosquitto-passwd   the broker's password file with the user
#                              schoolnet-collector (salted hash of
#                              SCHOOLNET_MQTT_PASSWORD)
# Passwords never appear on a command line. The hash is made by the local
# mosquitto_passwd (Debian package mosquitto) or, without it, by the
# compose file's mosquitto image through docker.
#
# Usage: deploy/compose/init-secrets.sh [--force] [DIR]
#   DIR defaults to this script's directory. Existing files are kept unless
#   --force (which replaces them all: InfluxDB and Grafana keep the
#   passwords of their first start in their volumes).
set -euo pipefail

# Keep in step with the mosquitto service's image in docker-compose.yml.
MOSQUITTO_IMAGE=eclipse-mosquitto:2.0.18
# The uid/gid mosquitto runs as in that image.
MOSQUITTO_UID=1883

force=0
dir=""
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    -*) echo "init-secrets: unknown option $arg" >&2; exit 2 ;;
    *) dir="$arg" ;;
  esac
done
dir="${dir:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}"
env_file="$dir/.env"
passwd_file="$dir/secrets/mosquitto-passwd"

if [ "$force" -eq 0 ] && { [ -e "$env_file" ] || [ -e "$passwd_file" ]; }; then
  echo "init-secrets: $env_file or $passwd_file exists; keeping them (--force replaces both)" >&2
  exit 1
fi

random() { od -An -tx1 -N24 /dev/urandom | tr -d ' \n'; }

umask 077
mkdir -p "$dir/secrets"
mqtt_password=$(random)
{
  echo "# Made by init-secrets.sh on $(date -u +%Y-%m-%dT%H:%M:%SZ). Secrets: never commit."
  echo "SCHOOLNET_MQTT_PASSWORD=$mqtt_password"
  echo "SCHOOLNET_INFLUX_TOKEN=$(random)"
  echo "INFLUX_ADMIN_PASSWORD=$(random)"
  echo "GRAFANA_ADMIN_PASSWORD=$(random)"
} >"$env_file.tmp"
mv "$env_file.tmp" "$env_file"

# mosquitto_passwd -U hashes a plain `user:password` file in place.
printf 'schoolnet-collector:%s\n' "$mqtt_password" >"$passwd_file"
if command -v mosquitto_passwd >/dev/null 2>&1; then
  mosquitto_passwd -U "$passwd_file"
  if [ "$(id -u)" -eq 0 ]; then
    chown "$MOSQUITTO_UID:$MOSQUITTO_UID" "$passwd_file"
  else
    # The broker in the container (uid 1883) must read it.
    chmod 644 "$passwd_file"
    echo "init-secrets: not root: $passwd_file is world-readable (hashes only);" \
      "as root: chown $MOSQUITTO_UID:$MOSQUITTO_UID $passwd_file && chmod 600 $passwd_file" >&2
  fi
elif command -v docker >/dev/null 2>&1; then
  docker run --rm -v "$dir/secrets:/secrets" --entrypoint /bin/sh "$MOSQUITTO_IMAGE" -c \
    "mosquitto_passwd -U /secrets/mosquitto-passwd && chown $MOSQUITTO_UID:$MOSQUITTO_UID /secrets/mosquitto-passwd && chmod 600 /secrets/mosquitto-passwd"
else
  rm -f "$passwd_file"
  echo "init-secrets: need mosquitto_passwd (apt-get install mosquitto) or docker to hash the broker password" >&2
  exit 1
fi
if grep -q "$mqtt_password" "$passwd_file" 2>/dev/null; then
  echo "init-secrets: $passwd_file still holds the plain password" >&2
  exit 1
fi
echo "init-secrets: wrote $env_file and $passwd_file"
