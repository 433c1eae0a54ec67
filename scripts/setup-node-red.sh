#!/usr/bin/env bash
# Installs the load harness's peer: Node-RED and node-red-contrib-influxdb,
# at the versions pinned in bench/node-red/package.json and
# package-lock.json, with npm into target/node-red (not tracked by git).
# Needs Node.js >= 18.5 and npm (Debian: apt-get install nodejs npm).
#
#   scripts/setup-node-red.sh [DIR]     # default DIR: target/node-red
#
# Then: target/release/schoolnet-load --peer node-red (see README, "Performance").
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

dir=${1:-target/node-red}
if ! command -v npm >/dev/null || ! command -v node >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && apt-get install -y -qq nodejs npm
  else
    echo "setup-node-red.sh: node and npm are needed (apt-get install nodejs npm)" >&2
    exit 1
  fi
fi
mkdir -p "$dir"
cp bench/node-red/package.json bench/node-red/package-lock.json "$dir/"
cd "$dir"
npm ci --omit=dev --no-audit --no-fund --loglevel=error
echo "Node-RED $(node -p "require('./node_modules/node-red/package.json').version") installed in $PWD"
