//! The collector's own metrics (messages, rejects, InfluxDB writes, MQTT
//! connection), registered in a `prometheus::Registry` that the exporter
//! renders next to the live school state.
//!
//! Label values are bounded: route names come from config, reasons and
//! outcomes from enums, error classes from a fixed list.

use prometheus::{
    Counter, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry,
};

/// Outcome label of `schoolnet_collector_messages_total`: exactly one per
/// message. `rejected` and `partial` messages each add at least one to
/// `schoolnet_collector_rejected_total` (one per rejected item: the whole
/// message, a line or metric of a batch, an observation, or the mapped
/// paths a payload lacked); the other outcomes add none.
pub mod outcome {
    /// Normalized into at least one sample or status event, nothing rejected.
    pub const OK: &str = "ok";
    /// Some of it stored, some rejected (a bad line of several, an unknown
    /// device in a batch, mapped paths the payload lacked).
    pub const PARTIAL: &str = "partial";
    /// Valid but nothing to store (unmapped collectd plugin, first `nan`).
    pub const IGNORED: &str = "ignored";
    /// Rejected; see `schoolnet_collector_rejected_total`.
    pub const REJECTED: &str = "rejected";
    /// A device another collector instance owns (`[shard]`): not processed.
    pub const NOT_OWNED: &str = "not_owned";
}

#[derive(Clone, Debug)]
pub struct PipelineMetrics {
    /// Messages received, by route and outcome.
    pub messages: IntCounterVec,
    /// Rejected items (dead letters), by route and reason.
    pub rejected: IntCounterVec,
    /// Configured `json` paths absent from a payload, by route and
    /// canonical field.
    pub mapping_missing: IntCounterVec,
    /// Samples produced by normalization, by measurement.
    pub samples: IntCounterVec,
    /// Status (LWT) events, by online/offline.
    pub status_events: IntCounterVec,
    /// Seconds between device timestamp and receipt.
    pub lag_seconds: Histogram,
    /// 1 while connected to the broker with every subscription acknowledged.
    pub mqtt_connected: IntGauge,
    /// Connection errors, by kind.
    pub mqtt_connection_errors: IntCounterVec,
    /// Successful (re)connections.
    pub mqtt_connections: IntCounter,
    /// Reconnects where a persistent session was expected and the broker
    /// had none (its queue for the collector is gone).
    pub mqtt_sessions_lost: IntCounter,
    /// Points written to InfluxDB.
    pub influx_points_written: IntCounter,
    /// Write requests, by result class (`ok`, `retryable`, `throttled`, `rejected`,
    /// `misconfigured` (401/403/404: retried, never dropped), `split`).
    pub influx_writes: IntCounterVec,
    /// Points dropped because InfluxDB rejected them (4xx other than 413/429).
    pub influx_points_rejected: IntCounter,
    /// Request latency.
    pub influx_write_duration: HistogramVec,
    /// Points per batch.
    pub influx_batch_points: Histogram,
    /// Batches queued for the writer.
    pub influx_queue_batches: IntGauge,
    /// `schoolnet_influx_writes_in_flight`: batches being written (or
    /// retried) right now; at `influx.max_in_flight` the database is the
    /// bottleneck and intake waits.
    pub influx_writes_in_flight: IntGauge,
    /// Spool size on disk.
    pub spool_bytes: IntGauge,
    pub spool_segments: IntGauge,
    /// Records not yet delivered, by sink (during a replay: what is left).
    pub spool_backlog_records: IntGaugeVec,
    /// Age of the oldest undelivered record, by sink.
    pub spool_oldest_unsent_age_seconds: GaugeVec,
    /// Records dropped by `overflow = "drop_oldest"` and never delivered, by sink.
    pub spool_dropped_records: IntCounterVec,
    /// The configured `spool.max_bytes`.
    pub spool_max_bytes: IntGauge,
    /// 1 during a full episode, by cause (`max_bytes`, `disk`).
    pub spool_full: IntGaugeVec,
    /// 1 while the spool refuses appends (intake waits).
    pub spool_blocked: IntGauge,
    /// Seconds intake spent blocked by a full spool.
    pub spool_blocked_seconds: Counter,
    /// Spooled records readers skipped because they were damaged on disk
    /// after the spool was opened: never delivered.
    pub spool_damaged_records: IntCounter,
    /// Bytes the spool's opening cut off the last segment's torn tail
    /// (appended, never synced, before a crash); 0 after a clean stop.
    pub spool_recovered_torn_bytes: IntGauge,
    /// Records the spool's opening found lost: damaged in older segments
    /// (skipped) or deleted before a sink's cursor reached them.
    pub spool_recovered_lost_records: IntGauge,
    /// Distinct (device, measurement, key, field) series the normalizer
    /// tracks. Deliberately not per device: that label would be as large as
    /// the inventory; `/api/dead-letters` names a device at its budget.
    pub series: IntGauge,
    /// New series refused because their device reached its budget.
    pub series_limit_hits: IntCounter,
    /// The configured `limits.max_series_per_device`.
    pub series_budget_per_device: IntGauge,
}

impl PipelineMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn new(registry: &Registry) -> PipelineMetrics {
        let m = PipelineMetrics {
            messages: IntCounterVec::new(
                Opts::new(
                    "schoolnet_collector_messages_total",
                    "MQTT messages received, by route and outcome.",
                ),
                &["route", "outcome"],
            )
            .expect("valid metric"),
            rejected: IntCounterVec::new(
                Opts::new(
                    "schoolnet_collector_rejected_total",
                    "Rejected items (whole messages, lines or metrics of a batch, observations, missing mapped paths), by route and reason; each is a dead letter.",
                ),
                &["route", "reason"],
            )
            .expect("valid metric"),
            mapping_missing: IntCounterVec::new(
                Opts::new(
                    "schoolnet_collector_mapping_missing_total",
                    "Messages of a json route that lacked a configured path of a required field, by route and field.",
                ),
                &["route", "field"],
            )
            .expect("valid metric"),
            samples: IntCounterVec::new(
                Opts::new(
                    "schoolnet_collector_samples_total",
                    "Normalized samples produced, by measurement.",
                ),
                &["measurement"],
            )
            .expect("valid metric"),
            status_events: IntCounterVec::new(
                Opts::new(
                    "schoolnet_collector_status_events_total",
                    "Device status (will/LWT) messages, by state.",
                ),
                &["state"],
            )
            .expect("valid metric"),
            lag_seconds: Histogram::with_opts(
                HistogramOpts::new(
                    "schoolnet_collector_lag_seconds",
                    "Seconds from the device timestamp to receipt by the collector.",
                )
                .buckets(vec![
                    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
                ]),
            )
            .expect("valid metric"),
            mqtt_connected: IntGauge::new(
                "schoolnet_mqtt_connected",
                "1 while connected to the MQTT broker and subscribed.",
            )
            .expect("valid metric"),
            mqtt_connection_errors: IntCounterVec::new(
                Opts::new(
                    "schoolnet_mqtt_connection_errors_total",
                    "MQTT connection errors, by kind.",
                ),
                &["kind"],
            )
            .expect("valid metric"),
            mqtt_connections: IntCounter::new(
                "schoolnet_mqtt_connections_total",
                "Successful MQTT connections (the first and every reconnect).",
            )
            .expect("valid metric"),
            mqtt_sessions_lost: IntCounter::new(
                "schoolnet_mqtt_sessions_lost_total",
                "Connections where the broker had no session although the collector expected its persistent one: messages published meanwhile may be lost.",
            )
            .expect("valid metric"),
            influx_points_written: IntCounter::new(
                "schoolnet_influx_points_written_total",
                "Points accepted by InfluxDB.",
            )
            .expect("valid metric"),
            influx_writes: IntCounterVec::new(
                Opts::new(
                    "schoolnet_influx_writes_total",
                    "InfluxDB write requests, by result class.",
                ),
                &["result"],
            )
            .expect("valid metric"),
            influx_points_rejected: IntCounter::new(
                "schoolnet_influx_points_rejected_total",
                "Points InfluxDB refused as invalid (dropped after logging).",
            )
            .expect("valid metric"),
            influx_write_duration: HistogramVec::new(
                HistogramOpts::new(
                    "schoolnet_influx_write_duration_seconds",
                    "InfluxDB write request latency.",
                )
                .buckets(vec![
                    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ]),
                &["result"],
            )
            .expect("valid metric"),
            influx_batch_points: Histogram::with_opts(
                HistogramOpts::new(
                    "schoolnet_influx_batch_points",
                    "Points per InfluxDB write request.",
                )
                .buckets(vec![
                    1.0, 10.0, 100.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0,
                ]),
            )
            .expect("valid metric"),
            spool_bytes: IntGauge::new("schoolnet_spool_bytes", "Bytes of the spool on disk.")
                .expect("valid metric"),
            spool_segments: IntGauge::new("schoolnet_spool_segments", "Segment files in the spool.")
                .expect("valid metric"),
            spool_backlog_records: IntGaugeVec::new(
                Opts::new(
                    "schoolnet_spool_backlog_records",
                    "Spooled records a sink has not delivered yet (replay progress after a restart or an outage).",
                ),
                &["sink"],
            )
            .expect("valid metric"),
            spool_oldest_unsent_age_seconds: GaugeVec::new(
                Opts::new(
                    "schoolnet_spool_oldest_unsent_age_seconds",
                    "Age of the oldest record a sink has not delivered; 0 when caught up.",
                ),
                &["sink"],
            )
            .expect("valid metric"),
            spool_dropped_records: IntCounterVec::new(
                Opts::new(
                    "schoolnet_spool_dropped_records_total",
                    "Records dropped because the spool was full (overflow = drop_oldest), by sink.",
                ),
                &["sink"],
            )
            .expect("valid metric"),
            spool_max_bytes: IntGauge::new(
                "schoolnet_spool_max_bytes",
                "Configured spool.max_bytes: the most the spool may hold on disk.",
            )
            .expect("valid metric"),
            spool_full: IntGaugeVec::new(
                Opts::new(
                    "schoolnet_spool_full",
                    "1 while the spool is full, by cause: max_bytes (reached spool.max_bytes) or disk (its filesystem has no space left).",
                ),
                &["cause"],
            )
            .expect("valid metric"),
            spool_blocked: IntGauge::new(
                "schoolnet_spool_blocked",
                "1 while the full spool refuses appends: intake waits, the broker keeps the messages.",
            )
            .expect("valid metric"),
            spool_blocked_seconds: Counter::new(
                "schoolnet_spool_blocked_seconds_total",
                "Seconds intake spent blocked by a full spool.",
            )
            .expect("valid metric"),
            spool_damaged_records: IntCounter::new(
                "schoolnet_spool_damaged_records_total",
                "Spooled records skipped because they were damaged on disk (bad checksum or framing) after the spool was opened: never delivered.",
            )
            .expect("valid metric"),
            spool_recovered_torn_bytes: IntGauge::new(
                "schoolnet_spool_recovered_torn_bytes",
                "Bytes this process cut off the spool's torn tail when it opened the spool (appended but never synced before a crash); 0 after a clean stop.",
            )
            .expect("valid metric"),
            spool_recovered_lost_records: IntGauge::new(
                "schoolnet_spool_recovered_lost_records",
                "Spooled records this process found lost when it opened the spool: damaged on disk (skipped) or deleted before a sink delivered them. Never delivered.",
            )
            .expect("valid metric"),
            influx_queue_batches: IntGauge::new(
                "schoolnet_influx_queue_batches",
                "Batches waiting for the InfluxDB writer.",
            )
            .expect("valid metric"),
            influx_writes_in_flight: IntGauge::new(
                "schoolnet_influx_writes_in_flight",
                "InfluxDB batches being written or retried now (at most influx.max_in_flight).",
            )
            .expect("valid metric"),
            series: IntGauge::new(
                "schoolnet_collector_series",
                "Distinct (device, measurement, key, field) series tracked by the normalizer.",
            )
            .expect("valid metric"),
            series_limit_hits: IntCounter::new(
                "schoolnet_collector_series_limit_hits_total",
                "New series refused because their device reached limits.max_series_per_device.",
            )
            .expect("valid metric"),
            series_budget_per_device: IntGauge::new(
                "schoolnet_collector_series_budget_per_device",
                "Configured limits.max_series_per_device: distinct series one device may create.",
            )
            .expect("valid metric"),
        };
        let collectors: Vec<Box<dyn prometheus::core::Collector>> = vec![
            Box::new(m.messages.clone()),
            Box::new(m.rejected.clone()),
            Box::new(m.mapping_missing.clone()),
            Box::new(m.samples.clone()),
            Box::new(m.status_events.clone()),
            Box::new(m.lag_seconds.clone()),
            Box::new(m.mqtt_connected.clone()),
            Box::new(m.mqtt_connection_errors.clone()),
            Box::new(m.mqtt_connections.clone()),
            Box::new(m.mqtt_sessions_lost.clone()),
            Box::new(m.influx_points_written.clone()),
            Box::new(m.influx_writes.clone()),
            Box::new(m.influx_points_rejected.clone()),
            Box::new(m.influx_write_duration.clone()),
            Box::new(m.influx_batch_points.clone()),
            Box::new(m.influx_queue_batches.clone()),
            Box::new(m.influx_writes_in_flight.clone()),
            Box::new(m.spool_bytes.clone()),
            Box::new(m.spool_segments.clone()),
            Box::new(m.spool_backlog_records.clone()),
            Box::new(m.spool_oldest_unsent_age_seconds.clone()),
            Box::new(m.spool_dropped_records.clone()),
            Box::new(m.spool_max_bytes.clone()),
            Box::new(m.spool_full.clone()),
            Box::new(m.spool_blocked.clone()),
            Box::new(m.spool_blocked_seconds.clone()),
            Box::new(m.spool_damaged_records.clone()),
            Box::new(m.spool_recovered_torn_bytes.clone()),
            Box::new(m.spool_recovered_lost_records.clone()),
            Box::new(m.series.clone()),
            Box::new(m.series_limit_hits.clone()),
            Box::new(m.series_budget_per_device.clone()),
        ];
        for c in collectors {
            registry.register(c).expect("metric registered once");
        }
        // Alerted on: present at 0 from startup.
        for cause in crate::spool::FullCause::ALL {
            m.spool_full.with_label_values(&[cause.as_str()]).set(0);
        }
        m
    }

    /// Metrics registered in a private registry (tests, tools).
    pub fn unregistered() -> PipelineMetrics {
        PipelineMetrics::new(&Registry::new())
    }
}
