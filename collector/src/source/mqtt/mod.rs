//! The MQTT source (TODO).
pub mod config;
