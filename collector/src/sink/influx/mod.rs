//! InfluxDB sink (TODO).
pub mod config;
