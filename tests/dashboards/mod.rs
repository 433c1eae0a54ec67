//! Helpers for `tests/dashboards_e2e.rs`: the dashboards and provisioning as
//! data ([`model`]), structural checks ([`structure`]) and Grafana's query interpolation and execution against
//! real Prometheus and InfluxDB servers ([`grafana`]).

pub mod grafana;
pub mod model;
pub mod structure;
