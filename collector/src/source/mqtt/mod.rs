//! The MQTT source: one task owns the rumqttc event loop, subscribes to the
//! routes' filters on every (re)connect and forwards each publish to the
//! pipeline. Split like vector's `sources/mqtt`: [`config`] is the `[mqtt]`
//! section, [`source`] is the running task, `message` is what it hands the
//! pipeline, `subscriptions` sends the
//! SUBSCRIBE packets (and their changes on reload), `retry` decides the
//! delay after a connection error, `session` notices a persistent session
//! the broker lost. Its TLS config comes from [`crate::tls`].

pub mod config;
mod message;
mod retry;
mod session;
mod source;
mod subscriptions;

pub use message::{Ack, MqttMessage};
pub use source::{MqttSource, SourceError, MAX_INCOMING_PACKET};
