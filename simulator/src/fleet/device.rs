//! One simulated device: its kind, RNG stream, clock (strictly increasing
//! timestamps, boot time, uptime) and raw counters; and [`Gen`], which turns
//! one report of a device into [`SimMessage`]s (the per-kind generators live
//! in `router` and `ont_olt`).

use std::sync::Arc;

use collector::inventory::DeviceInfo;
use collector::sample::Measurement;

use super::counters::NetCounters;
use super::SimMessage;
use crate::model::{from_unix_ms, Rng, RouterStyle, SchoolProfile};
use crate::payload::{self, LpValue};

/// What a device is, and so what it publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Router(RouterStyle),
    Ont,
    Olt,
}

/// Messages one device publishes per report.
pub(super) fn messages_per_tick(kind: Kind) -> usize {
    match kind {
        Kind::Router(RouterStyle::Collectd) => 9,
        Kind::Router(RouterStyle::Telegraf) => 6,
        Kind::Router(RouterStyle::Mikrotik) => 4,
        Kind::Ont => 1,
        Kind::Olt => 2,
    }
}

/// One device's simulation state.
#[derive(Debug, Clone)]
pub(super) struct SimDevice {
    pub(super) info: Arc<DeviceInfo>,
    /// Index into `Fleet::profiles` (an OLT: its recorded school).
    pub(super) profile: usize,
    pub(super) kind: Kind,
    pub(super) interval_ms: i64,
    pub(super) rng: Rng,
    /// Last timestamp handed out (ms), for strictly increasing timestamps.
    last_ms: Option<i64>,
    /// Boot time (ms); set on the first report from a random initial uptime.
    pub(super) boot_ms: Option<i64>,
    pub(super) net: Option<NetCounters>,
}

impl SimDevice {
    /// A device that has not reported yet, with its own RNG stream.
    pub(super) fn new(info: Arc<DeviceInfo>, profile: usize, kind: Kind, seed: u64) -> SimDevice {
        SimDevice {
            rng: Rng::stream(seed, &info.id),
            interval_ms: (info.expected_interval.as_millis() as i64).max(1),
            info,
            profile,
            kind,
            last_ms: None,
            boot_ms: None,
            net: None,
        }
    }

    /// A timestamp ≥ `want_ms`, strictly after the previous one.
    pub(super) fn stamp(&mut self, want_ms: i64) -> i64 {
        let t = match self.last_ms {
            Some(last) if want_ms <= last => last + 1,
            _ => want_ms,
        };
        self.last_ms = Some(t);
        t
    }

    pub(super) fn uptime_s(&mut self, at_ms: i64) -> f64 {
        let boot = match self.boot_ms {
            Some(b) => b,
            None => {
                // Up between 2 hours and 60 days when the simulation starts.
                let up_ms = self.rng.range(2.0 * 3600.0, 60.0 * 86_400.0) * 1000.0;
                let b = at_ms - up_ms as i64;
                self.boot_ms = Some(b);
                b
            }
        };
        ((at_ms - boot).max(0) / 1000) as f64
    }

    /// A reboot at `at_ms`: up for under two minutes, raw counters start over.
    pub(super) fn reboot(&mut self, at_ms: i64) {
        let up_ms = self.rng.range(40_000.0, 90_000.0) as i64;
        self.boot_ms = Some(at_ms - up_ms);
        if let Some(net) = &mut self.net {
            net.reset(at_ms, &mut self.rng);
        }
        tracing::debug!(device = %self.info.id, "simulated reboot");
    }
}

/// Generates one device's messages for one report.
pub(super) struct Gen<'a> {
    pub(super) dev: &'a mut SimDevice,
    pub(super) profile: &'a SchoolProfile,
    pub(super) out: &'a mut Vec<SimMessage>,
}

impl Gen<'_> {
    pub(super) fn push(
        &mut self,
        topic: String,
        payload: Vec<u8>,
        format: &'static str,
        time_ms: i64,
        m: Measurement,
    ) {
        self.out.push(SimMessage {
            topic,
            payload,
            retain: false,
            format,
            device: self.dev.info.id.clone(),
            school: self.dev.info.school.id.clone(),
            time: from_unix_ms(time_ms),
            expected: Some(m),
        });
    }

    /// One line-protocol metric as Telegraf `outputs.mqtt` publishes it:
    /// `telegraf/<device>/<name>`, tagged `host`, timestamp in ns.
    pub(super) fn telegraf(
        &mut self,
        name: &str,
        extra_tags: &[(&str, &str)],
        fields: &[(&str, LpValue)],
        t: i64,
        m: Measurement,
    ) {
        let id = self.dev.info.id.clone();
        let mut tags: Vec<(&str, &str)> = Vec::with_capacity(extra_tags.len() + 1);
        tags.extend_from_slice(extra_tags);
        tags.push(("host", &id));
        tags.sort_unstable();
        let body = payload::line(name, &tags, fields, t * 1_000_000);
        self.push(format!("telegraf/{id}/{name}"), body, payload::INFLUX, t, m);
    }
}

pub(super) fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

pub(super) fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}
