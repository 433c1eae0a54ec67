//! What a simulation run sent, and what the pipeline should therefore have
//! stored.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::time::Duration;

use collector::sample::Measurement;
use serde::{Deserialize, Serialize};

use super::fleet::SimMessage;
use super::payload::FORMATS;

/// The result of a run: counts of what was published, and the exact number
/// of InfluxDB points the pipeline must write for them.
///
/// # How messages map to points
///
/// Every non-status message the simulator sends produces exactly **one**
/// canonical sample, hence one InfluxDB point (a point is identified by
/// measurement, tag set — school, district, device, role, interface/target —
/// and timestamp):
///
/// - each message carries one metric (collectd: one value list; Telegraf:
///   one line; JSON: one object; value: one number);
/// - every value is finite (no `nan`, never a first-sample `nan` from
///   collectd), so nothing is dropped as unknown;
/// - first samples still produce a point: a Telegraf counter's first sample
///   (and one after a reboot reset) has no rate but carries `rx_bytes`; a
///   collectd rate's first sample carries the rate;
/// - a device's timestamps are strictly increasing, at least 1 ms apart,
///   across all its messages, so no two points of one series share a
///   timestamp (no overwrites) and counters never go out of order;
/// - `json` and `value` payloads carry no timestamp: the collector stamps
///   them with its receive time (nanoseconds), which differs per message.
///
/// Status messages (`tele/<device>/LWT`) produce no point.
///
/// So `expected_points[measurement][school]` = number of messages sent with
/// that measurement for devices recorded under that school (an OLT counts
/// under the school it is recorded at). This holds when every message was
/// delivered (`acked == sent` at QoS ≥ 1) and the collector runs the default
/// routes; a duplicate QoS 1 redelivery after a reconnect adds one point only
/// for receive-time formats (`json`, `value`), since the others rewrite the
/// same point.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SimulateReport {
    /// Messages handed to the MQTT client, by format label: `collectd`,
    /// `influx`, `json`, `value`, `status`.
    pub sent_by_format: BTreeMap<String, u64>,
    /// Messages by school id (status messages included).
    pub sent_by_school: BTreeMap<String, u64>,
    /// Expected InfluxDB points: measurement name → school id → count.
    pub expected_points: BTreeMap<String, BTreeMap<String, u64>>,
    /// All messages handed to the MQTT client.
    pub sent: u64,
    /// Messages the broker acknowledged (PUBACK at QoS 1, PUBCOMP at QoS 2;
    /// equals `sent` at QoS 0 once written to the socket).
    pub acked: u64,
    /// Publish errors plus connection errors, plus messages still unacked at
    /// the end. Every one is also logged.
    pub errors: u64,
    /// Wall-clock duration of the run.
    #[serde(with = "secs_f64")]
    pub elapsed: Duration,
}

impl SimulateReport {
    /// Counts one message as sent.
    pub fn record(&mut self, msg: &SimMessage) {
        self.sent += 1;
        *self
            .sent_by_format
            .entry(msg.format.to_string())
            .or_default() += 1;
        *self
            .sent_by_school
            .entry(msg.school.to_string())
            .or_default() += 1;
        if let Some(m) = msg.expected {
            *self
                .expected_points
                .entry(m.as_str().to_string())
                .or_default()
                .entry(msg.school.to_string())
                .or_default() += 1;
        }
    }

    /// Expected points of `measurement` for `school`.
    pub fn expected(&self, measurement: Measurement, school: &str) -> u64 {
        self.expected_points
            .get(measurement.as_str())
            .and_then(|m| m.get(school))
            .copied()
            .unwrap_or(0)
    }

    /// Expected points of `measurement` over all schools.
    pub fn expected_total(&self, measurement: Measurement) -> u64 {
        self.expected_points
            .get(measurement.as_str())
            .map(|m| m.values().sum())
            .unwrap_or(0)
    }

    /// Expected points over all measurements and schools.
    pub fn expected_points_total(&self) -> u64 {
        self.expected_points.values().flat_map(|m| m.values()).sum()
    }

    pub fn sent_of_format(&self, format: &str) -> u64 {
        self.sent_by_format.get(format).copied().unwrap_or(0)
    }

    /// Messages per second over the run.
    pub fn rate(&self) -> f64 {
        let s = self.elapsed.as_secs_f64();
        if s > 0.0 {
            self.sent as f64 / s
        } else {
            0.0
        }
    }

    /// The one-line progress summary: `sent 12345 msgs (2000/s) collectd=… …`.
    pub fn progress_line(&self, per_second: f64) -> String {
        let mut s = format!("sent {} msgs ({per_second:.0}/s)", self.sent);
        for f in FORMATS {
            s.push_str(&format!(" {f}={}", self.sent_of_format(f)));
        }
        if self.errors > 0 {
            s.push_str(&format!(" errors={}", self.errors));
        }
        s
    }

    /// Human-readable final report.
    pub fn print_table(&self, w: &mut impl Write) -> io::Result<()> {
        writeln!(w, "{:<10} {:>12}", "format", "messages")?;
        for f in FORMATS {
            writeln!(w, "{:<10} {:>12}", f, self.sent_of_format(f))?;
        }
        writeln!(
            w,
            "{:<10} {:>12}   in {:.1} s = {:.1} msg/s, {} schools",
            "total",
            self.sent,
            self.elapsed.as_secs_f64(),
            self.rate(),
            self.sent_by_school.len()
        )?;
        writeln!(w)?;
        writeln!(w, "{:<10} {:>12}", "expected", "points")?;
        for m in Measurement::ALL {
            writeln!(w, "{:<10} {:>12}", m.as_str(), self.expected_total(m))?;
        }
        writeln!(w, "{:<10} {:>12}", "total", self.expected_points_total())?;
        writeln!(w)?;
        writeln!(
            w,
            "acked {}/{}, errors {}",
            self.acked, self.sent, self.errors
        )?;
        Ok(())
    }
}

mod secs_f64 {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let secs = f64::deserialize(d)?;
        Duration::try_from_secs_f64(secs).map_err(serde::de::Error::custom)
    }
}
