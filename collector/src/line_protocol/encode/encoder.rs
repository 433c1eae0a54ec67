//! [`LineEncoder`]: the encoder of a stream of records, owning what it
//! keeps between lines (each device's escaped tags, [`TagCache`]).

use super::tags::TagCache;
use super::{encode_record, write_sample};
use crate::sample::{InfluxRecord, Sample};

/// The line-protocol encoder of a stream of records: the same lines as
/// [`encode_record`], with each device's escaped tags kept from its first
/// line on. The pipeline holds one (samples into spool records), the
/// InfluxDB sink another (samples it gets unencoded).
#[derive(Default)]
pub struct LineEncoder {
    pub(super) tags: TagCache,
}

impl LineEncoder {
    pub fn new() -> LineEncoder {
        LineEncoder::default()
    }

    /// Appends one line for `sample` to `out`, like
    /// [`encode_sample`](super::encode_sample).
    pub fn encode_sample(&mut self, sample: &Sample, out: &mut Vec<u8>) -> bool {
        write_sample(sample, self.tags.pieces(&sample.device), out)
    }

    /// Appends the line(s) of `record` to `out`, like [`encode_record`].
    pub fn encode_record(&mut self, record: &InfluxRecord, out: &mut Vec<u8>) -> bool {
        match record {
            InfluxRecord::Sample(s) => self.encode_sample(s, out),
            _ => encode_record(record, out),
        }
    }
}

impl std::fmt::Debug for LineEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LineEncoder")
            .field("devices", &self.tags.len())
            .finish()
    }
}
