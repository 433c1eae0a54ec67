//! Sinks: where normalized samples go.
pub mod influx;
