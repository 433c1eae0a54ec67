// schoolnet on InfluxDB 2.x: the downsampling of influxdb1-setup.iql as one
// Flux task. NOT TESTED: there is no InfluxDB 2.x server in this project's
// test setup; it follows the documented Flux API (aggregateWindow,
// difference, to) and is kept equivalent to the 1.x continuous queries by
// review only. Try it on a staging instance first.
//
// Buckets (the retention of the 1.x policies) and the DBRP mappings that let
// `schoolnet availability` / `schoolnet query` read them over InfluxQL
// (`--source raw|5m|1h` name the retention policies raw, rollup_5m, rollup_1h):
//
//   influx bucket create --org schoolnet --name schoolnet    --retention 30d
//   influx bucket create --org schoolnet --name schoolnet_5m --retention 395d
//   influx bucket create --org schoolnet --name schoolnet_1h --retention 1825d
//   influx v1 dbrp create --db schoolnet --rp raw       --bucket-id <id of schoolnet> --default
//   influx v1 dbrp create --db schoolnet --rp rollup_5m --bucket-id <id of schoolnet_5m>
//   influx v1 dbrp create --db schoolnet --rp rollup_1h --bucket-id <id of schoolnet_1h>
//   influx task create --org schoolnet --file deploy/influxdb/influxdb2-tasks.flux
//
// The collector writes to bucket `schoolnet` ([influx] api = "v2", bucket =
// "schoolnet"). Field names in the rollups are those of 1.x:
// <field>_delta (counter increase over the bucket), _mean, _max, _min.
//
// Schedule: every 5 minutes. (1) 5-minute rollups of the last 30 minutes of
// raw data (late points up to ~25 minutes are included, as in 1.x); for the
// counters one extra bucket is read so that the first written bucket has a
// previous one to subtract; (2) hourly rollups of the last 2 complete hours
// from the 5-minute rollups (recomputed every 5 minutes: cheap, and complete
// once the 5-minute buckets are); (3) the outage log of the last 31 days
// copied point for point into schoolnet_1h.

import "date"
import "strings"

option task = {name: "schoolnet-rollups", every: 5m, offset: 30s}

stop5 = date.truncate(t: now(), unit: 5m)
start5 = date.sub(d: 30m, from: stop5)
stopH = date.truncate(t: now(), unit: 1h)
startH = date.sub(d: 2h, from: stopH)

raw = (m, fields) =>
    from(bucket: "schoolnet")
        |> range(start: start5, stop: stop5)
        |> filter(fn: (r) => r._measurement == m and contains(value: r._field, set: fields))

// fn over 5-minute windows, fields renamed <field><suffix>, into schoolnet_5m.
roll5 = (tables=<-, fn, suffix) =>
    tables
        |> aggregateWindow(every: 5m, fn: fn, createEmpty: false, timeSrc: "_start")
        |> map(fn: (r) => ({r with _field: r._field + suffix}))
        |> to(bucket: "schoolnet_5m")

// interface counters: last value per window, minus the previous window's.
from(bucket: "schoolnet")
    |> range(start: date.sub(d: 5m, from: start5), stop: stop5)
    |> filter(
        fn: (r) =>
            r._measurement == "interface" and contains(
                    value: r._field,
                    set: ["rx_bytes", "tx_bytes", "rx_packets", "tx_packets", "rx_errors", "tx_errors", "rx_drops", "tx_drops"],
                ),
    )
    |> aggregateWindow(every: 5m, fn: last, createEmpty: false, timeSrc: "_start")
    |> difference(nonNegative: true)
    |> map(fn: (r) => ({r with _field: r._field + "_delta"}))
    |> to(bucket: "schoolnet_5m")

raw(m: "interface", fields: ["rx_bps", "tx_bps", "utilization"]) |> roll5(fn: mean, suffix: "_mean")
raw(m: "interface", fields: ["rx_bps", "tx_bps", "utilization"]) |> roll5(fn: max, suffix: "_max")
raw(m: "interface", fields: ["oper_up"]) |> roll5(fn: min, suffix: "_min")
raw(m: "probe", fields: ["rtt_s", "loss_ratio", "jitter_s"]) |> roll5(fn: mean, suffix: "_mean")
raw(m: "probe", fields: ["rtt_s", "loss_ratio"]) |> roll5(fn: max, suffix: "_max")
raw(m: "optical", fields: ["rx_dbm", "tx_dbm", "olt_rx_dbm", "temperature_c", "voltage_v", "bias_ma"])
    |> roll5(fn: mean, suffix: "_mean")
raw(m: "optical", fields: ["rx_dbm", "olt_rx_dbm"]) |> roll5(fn: min, suffix: "_min")
raw(m: "optical", fields: ["temperature_c"]) |> roll5(fn: max, suffix: "_max")
raw(m: "system", fields: ["cpu_ratio", "load1", "temperature_c"]) |> roll5(fn: mean, suffix: "_mean")
raw(m: "system", fields: ["cpu_ratio", "mem_used_bytes", "mem_total_bytes", "temperature_c", "uptime_s"])
    |> roll5(fn: max, suffix: "_max")
raw(m: "clients", fields: ["wifi_clients", "dhcp_leases"]) |> roll5(fn: max, suffix: "_max")

// Hourly from the 5-minute rollups: the suffix says how to aggregate further.
five = from(bucket: "schoolnet_5m") |> range(start: startH, stop: stopH)
rollH = (suffix, fn) =>
    five
        |> filter(fn: (r) => strings.hasSuffix(v: r._field, suffix: suffix))
        |> aggregateWindow(every: 1h, fn: fn, createEmpty: false, timeSrc: "_start")
        |> to(bucket: "schoolnet_1h")

rollH(suffix: "_delta", fn: sum)
rollH(suffix: "_mean", fn: mean)
rollH(suffix: "_max", fn: max)
rollH(suffix: "_min", fn: min)

// The outage log, not downsampled: re-copied so a close point (written at the
// outage's start when it ends) replaces the open one in the copy too.
from(bucket: "schoolnet")
    |> range(start: -31d)
    |> filter(fn: (r) => r._measurement == "outage")
    |> to(bucket: "schoolnet_1h")
