#!/bin/bash
# InfluxDB 2.x first-start setup for schoolnet, run once by the influxdb
# image's entrypoint after DOCKER_INFLUXDB_INIT_MODE=setup has created the
# org and the bucket `schoolnet` (30 days; docker-compose.yml), with the
# influx CLI already pointed at the server with the operator token. A later
# start finds the existing database and skips it.
#
# Creates what deploy/influxdb/influxdb2-tasks.flux describes:
#   buckets schoolnet_5m (395 d) and schoolnet_1h (1825 d);
#   DBRP mappings db "schoolnet" -> rp raw (default), rollup_5m, rollup_1h,
#     which InfluxQL readers need: Grafana's InfluxDB data source,
#     `schoolnet availability` and `schoolnet query --influx-api v2`;
#   the Flux downsampling task (not tested on a 2.x server: a failure to
#     create it is reported and does not stop InfluxDB from starting).
set -euo pipefail

org="${DOCKER_INFLUXDB_INIT_ORG:?}"
raw_bucket="${DOCKER_INFLUXDB_INIT_BUCKET:?}"

bucket_id() {
  influx bucket list --org "$org" --name "$1" --hide-headers | cut -f 1
}

influx bucket create --org "$org" --name schoolnet_5m --retention 395d >/dev/null
influx bucket create --org "$org" --name schoolnet_1h --retention 1825d >/dev/null

influx v1 dbrp create --org "$org" --db schoolnet --rp raw \
  --bucket-id "$(bucket_id "$raw_bucket")" --default >/dev/null
influx v1 dbrp create --org "$org" --db schoolnet --rp rollup_5m \
  --bucket-id "$(bucket_id schoolnet_5m)" >/dev/null
influx v1 dbrp create --org "$org" --db schoolnet --rp rollup_1h \
  --bucket-id "$(bucket_id schoolnet_1h)" >/dev/null
echo "schoolnet-setup: buckets schoolnet_5m, schoolnet_1h and DBRP mappings schoolnet/{raw,rollup_5m,rollup_1h} created"

task=/schoolnet/influxdb2-tasks.flux
if influx task create --org "$org" --file "$task" >/dev/null; then
  echo "schoolnet-setup: task schoolnet-rollups created from $task"
else
  echo "schoolnet-setup: WARNING: could not create the rollup task from $task;" \
    "history is kept (30 days raw) but not downsampled. Fix and run:" \
    "influx task create --org $org --file $task" >&2
fi
