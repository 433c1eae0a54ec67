//! End-to-end tests of the `schoolnet` binary against real servers
//! (mosquitto, InfluxDB 1.x, VictoriaMetrics, Prometheus, Alertmanager,
//! collectd, Chromium), started by the tests on free loopback ports.
//!
//! One test binary with a module per area, rather than a binary per file:
//! every binary links the whole workspace, so one link instead of
//! seventeen. nextest still runs each test in its own process, in parallel.
//! Run one area with `cargo test --test e2e alerting::` (or
//! `cargo nextest run --test e2e -E 'test(/^alerting::/)'`).

mod support;

mod alert_links;
mod alert_metrics;
mod alerting;
mod availability;
mod backpressure;
mod broker_session;
mod cli;
mod collectd;
mod corpus;
mod dashboards;
mod demo;
mod deploy;
mod deploy_configs;
mod device_configs;
mod fault;
mod full_disk;
mod guide;
mod inventory_generator;
mod logs;
mod outage_truth;
mod oversize;
mod pipeline;
mod query;
mod reload;
mod retention;
mod routeros;
mod scale_out;
mod security;
mod status_page;
mod tag_round_trip;
