//! InfluxDB line protocol, both ways, in one place: it is neither a
//! decoder's nor the sink's.
//!
//! - [`encode`]: canonical samples (and outage records) → lines. The
//!   pipeline runs it before the spool (a spool record is a message's
//!   lines) and the InfluxDB sink for records it did not get encoded; its
//!   [`LineEncoder`] keeps each device's escaped tags.
//! - [`parse`]: lines → measurement, tags, fields and timestamp, borrowing
//!   from the payload; the syntax under the `influx` decoder (Telegraf's
//!   `outputs.mqtt`).
//!
//! The two are not inverses of each other: the encoder writes the subset
//! every server reads alike (see its escaping rules), the parser accepts
//! what InfluxDB's own parser accepts.

pub mod encode;
pub mod parse;

pub use encode::{
    encode_outage, encode_record, encode_sample, max_encoded_len, max_sample_len, stored_tag_value,
    stored_value, LineEncoder,
};
