//! The schoolnet collector: everything between the MQTT broker and the sinks.
//!
//! `source::mqtt` receives messages, `route` picks a route per topic,
//! `decode` turns payloads into observations, `normalize` joins them with the
//! `inventory` and fixes counters and units into canonical [`sample`]s,
//! [`line_protocol`] encodes them for the `spool`, and `sink::influx` writes
//! them to InfluxDB. `pipeline` wires these together; rejects go to
//! `deadletter` and are counted in `metrics`. `shard` splits the inventory
//! between collector instances. [`tls`] builds the TLS configs of every
//! client and server (here, in the exporter and in the binary).

pub mod config;
pub mod deadletter;
pub mod decode;
pub mod inventory;
pub mod line_protocol;
pub mod metrics;
pub mod normalize;
pub mod pipeline;
pub mod reject;
pub mod route;
pub mod sample;
pub mod shard;
pub mod sink;
pub mod source;
pub mod spool;
pub mod tls;
