//! The canonical sample model: what every decoder's output is normalized into,
//! and what every sink (InfluxDB, the exporter) consumes.
//!
//! Field names and units follow docs/architecture.md ("Canonical sample"): bytes, bits per
//! second, seconds, ratios 0–1, dBm, °C, volts, milliamperes. A [`Field`] knows
//! its measurement, its line-protocol key and whether it is a counter, so no
//! string matching happens on the hot path.

use std::fmt;
use std::sync::Arc;

use crate::inventory::DeviceInfo;

/// The InfluxDB measurements schoolnet writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Measurement {
    Interface,
    Optical,
    System,
    Probe,
    Clients,
}

impl Measurement {
    pub const ALL: [Measurement; 5] = [
        Measurement::Interface,
        Measurement::Optical,
        Measurement::System,
        Measurement::Probe,
        Measurement::Clients,
    ];

    /// Name as written to InfluxDB.
    pub const fn as_str(self) -> &'static str {
        match self {
            Measurement::Interface => "interface",
            Measurement::Optical => "optical",
            Measurement::System => "system",
            Measurement::Probe => "probe",
            Measurement::Clients => "clients",
        }
    }

    /// Tag key carrying [`Sample::key`] for this measurement, if it has one.
    pub fn key_tag(self) -> Option<&'static str> {
        match self {
            Measurement::Interface => Some("interface"),
            Measurement::Probe => Some("target"),
            _ => None,
        }
    }

    pub fn parse(s: &str) -> Option<Measurement> {
        Measurement::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

impl fmt::Display for Measurement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

macro_rules! fields {
    ($( $variant:ident => ($meas:ident, $key:literal, $kind:ident) ),* $(,)?) => {
        /// A canonical field. The variant fixes measurement, key and kind.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Field { $($variant),* }

        impl Field {
            pub const ALL: &'static [Field] = &[$(Field::$variant),*];

            /// Field key as written to InfluxDB (and accepted in route field maps).
            pub fn key(self) -> &'static str {
                match self { $(Field::$variant => $key),* }
            }

            /// `,key=` as the field is written in a line protocol field
            /// set (no key needs escaping; the encoder's tests check).
            pub const fn line_key(self) -> &'static [u8] {
                match self { $(Field::$variant => concat!(",", $key, "=").as_bytes()),* }
            }

            pub fn measurement(self) -> Measurement {
                match self { $(Field::$variant => Measurement::$meas),* }
            }

            pub fn kind(self) -> FieldKind {
                match self { $(Field::$variant => FieldKind::$kind),* }
            }

            /// Looks a field up by measurement and key (`("system",
            /// "temperature_c")`). One `match`, which the compiler turns
            /// into a dispatch on the key's length: a scan of
            /// [`Field::ALL`] cost ~90 instructions per call, and the
            /// decoders call this for every field of a canonical line.
            pub fn lookup(measurement: Measurement, key: &str) -> Option<Field> {
                match (measurement, key) {
                    $((Measurement::$meas, $key) => Some(Field::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

fields! {
    RxBytes => (Interface, "rx_bytes", Counter),
    TxBytes => (Interface, "tx_bytes", Counter),
    RxPackets => (Interface, "rx_packets", Counter),
    TxPackets => (Interface, "tx_packets", Counter),
    RxErrors => (Interface, "rx_errors", Counter),
    TxErrors => (Interface, "tx_errors", Counter),
    RxDrops => (Interface, "rx_drops", Counter),
    TxDrops => (Interface, "tx_drops", Counter),
    RxBps => (Interface, "rx_bps", Gauge),
    TxBps => (Interface, "tx_bps", Gauge),
    OperUp => (Interface, "oper_up", Gauge),
    Utilization => (Interface, "utilization", Gauge),
    RxDbm => (Optical, "rx_dbm", Gauge),
    TxDbm => (Optical, "tx_dbm", Gauge),
    OltRxDbm => (Optical, "olt_rx_dbm", Gauge),
    OpticalTemperatureC => (Optical, "temperature_c", Gauge),
    VoltageV => (Optical, "voltage_v", Gauge),
    BiasMa => (Optical, "bias_ma", Gauge),
    CpuRatio => (System, "cpu_ratio", Gauge),
    MemUsedBytes => (System, "mem_used_bytes", Gauge),
    MemTotalBytes => (System, "mem_total_bytes", Gauge),
    UptimeS => (System, "uptime_s", Gauge),
    SystemTemperatureC => (System, "temperature_c", Gauge),
    Load1 => (System, "load1", Gauge),
    RttS => (Probe, "rtt_s", Gauge),
    LossRatio => (Probe, "loss_ratio", Gauge),
    JitterS => (Probe, "jitter_s", Gauge),
    WifiClients => (Clients, "wifi_clients", Gauge),
    DhcpLeases => (Clients, "dhcp_leases", Gauge),
}

impl Field {
    /// For byte counters, the rate field derived from them (bits per second).
    pub fn derived_rate(self) -> Option<Field> {
        match self {
            Field::RxBytes => Some(Field::RxBps),
            Field::TxBytes => Some(Field::TxBps),
            _ => None,
        }
    }
}

/// Whether a field is a cumulative counter or a point-in-time gauge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    Counter,
    Gauge,
}

/// The declared width of a device's raw counters (a route's `counter_bits`,
/// a device's override); decides where a wrap lands when normalizing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
pub enum CounterWidth {
    #[serde(rename = "32")]
    Bits32,
    #[default]
    #[serde(rename = "64")]
    Bits64,
}

impl CounterWidth {
    /// 2^width, as u128 so the 64-bit case fits.
    pub fn modulus(self) -> u128 {
        match self {
            CounterWidth::Bits32 => 1u128 << 32,
            CounterWidth::Bits64 => 1u128 << 64,
        }
    }
}

/// A normalized field value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FieldValue {
    /// A gauge, always finite (normalization drops non-finite values).
    Float(f64),
    /// A monotonic counter: counts since the collector first saw the series,
    /// wrap- and reset-corrected, so it never decreases while the collector runs.
    Counter(u64),
}

impl FieldValue {
    pub fn as_f64(self) -> f64 {
        match self {
            FieldValue::Float(v) => v,
            FieldValue::Counter(v) => v as f64,
        }
    }
}

/// One normalized point: a device's reading for one measurement (and one
/// interface or probe target), with the inventory's identity attached.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub measurement: Measurement,
    /// Unix time in nanoseconds (device time where the payload carries one).
    pub time_ns: i64,
    /// The device and, through it, school, district and role.
    pub device: Arc<DeviceInfo>,
    /// Interface name (`interface`) or probe target (`probe`); `None` otherwise.
    pub key: Option<Arc<str>>,
    /// Non-empty, no duplicate fields, all belonging to `measurement`.
    pub fields: Vec<(Field, FieldValue)>,
}

/// A device announced itself online or offline (MQTT will / status topics).
#[derive(Debug, Clone, PartialEq)]
pub struct StatusEvent {
    pub device: Arc<DeviceInfo>,
    pub online: bool,
    pub time_ns: i64,
}

/// One outage of a school, as written to the `outage` measurement: one point
/// per outage, timestamped at its start, so the point written when it opens
/// (`open = true`) is overwritten by the one written when it closes.
#[derive(Debug, Clone, PartialEq)]
pub struct OutageRecord {
    pub school: Arc<crate::inventory::School>,
    /// `lwt_offline`, `stale`, `link_down`, `upstream_down` or `unknown`.
    pub cause: &'static str,
    /// Unix nanoseconds when this point's stretch of the outage started:
    /// the point's timestamp. An outage whose cause changes is several
    /// points, one per cause, each starting where the previous one ended.
    pub started_ns: i64,
    /// Unix nanoseconds when the whole outage started (the school's last
    /// sign of life): the same in every point of one outage, and equal to
    /// `started_ns` in its first.
    pub outage_started_ns: i64,
    /// Seconds of this stretch so far (open) or in total (closed).
    pub duration_s: f64,
    pub open: bool,
}

/// What the InfluxDB writer accepts: a sample, an outage, or line protocol
/// the spool already holds. (Not to be confused with `spool::Record`, one
/// record of the write-ahead log.)
#[derive(Debug, Clone, PartialEq)]
pub enum InfluxRecord {
    Sample(Sample),
    Outage(OutageRecord),
    /// Line protocol already encoded and kept in the spool: written as is,
    /// and the spool record `spool_id` is acknowledged once it is.
    Lines {
        spool_id: u64,
        lines: Vec<u8>,
    },
}

impl From<Sample> for InfluxRecord {
    fn from(s: Sample) -> InfluxRecord {
        InfluxRecord::Sample(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_keys_are_unique_within_a_measurement() {
        for a in Field::ALL {
            for b in Field::ALL {
                if a != b && a.measurement() == b.measurement() {
                    assert_ne!(a.key(), b.key(), "{a:?} and {b:?}");
                }
            }
        }
    }

    #[test]
    fn lookup_finds_by_measurement_and_key() {
        assert_eq!(
            Field::lookup(Measurement::System, "temperature_c"),
            Some(Field::SystemTemperatureC)
        );
        assert_eq!(
            Field::lookup(Measurement::Optical, "temperature_c"),
            Some(Field::OpticalTemperatureC)
        );
        assert_eq!(Field::lookup(Measurement::Probe, "rx_bytes"), None);
        for &f in Field::ALL {
            assert_eq!(Field::lookup(f.measurement(), f.key()), Some(f), "{f:?}");
        }
        assert_eq!(Field::lookup(Measurement::Interface, ""), None);
        assert_eq!(Field::lookup(Measurement::Interface, "rx_bytes "), None);
    }
}
