//! ONT and OLT reports: an ONT's optical levels (`ont/<d>/optical`, JSON
//! with numbers as strings) and an OLT's Telegraf `system` and `mem`.

use collector::sample::Measurement;

use super::device::{round2, Gen};
use crate::model::activity;
use crate::payload::{self, LpValue};

impl Gen<'_> {
    /// An ONT's optical levels around its school's baseline.
    pub(super) fn ont(&mut self, at_ms: i64) {
        let t = self.dev.stamp(at_ms);
        let p = self.profile;
        let rng = &mut self.dev.rng;
        let a = activity(at_ms);
        let rx = p.ont_rx_dbm + 0.15 * rng.normal().clamp(-3.0, 3.0);
        let tx = p.ont_tx_dbm + 0.03 * rng.normal().clamp(-3.0, 3.0);
        let temp = p.ont_temp_c + 3.0 * a + 0.3 * rng.normal();
        let volt = p.ont_voltage_v + 0.005 * rng.normal().clamp(-3.0, 3.0);
        let bias = p.ont_bias_ma + 0.2 * rng.normal().clamp(-3.0, 3.0);
        let body = payload::json_strings(&[
            ("rxpower", payload::fixed(rx, 2)),
            ("txpower", payload::fixed(tx, 2)),
            ("temperature", payload::fixed(temp, 1)),
            ("voltage", payload::fixed(volt, 3)),
            ("bcurr", payload::fixed(bias, 2)),
            // Device time in ms: a redelivered message rewrites the same
            // point instead of adding one (idempotent replay).
            ("ts", t.to_string()),
        ]);
        let topic = format!("ont/{}/optical", self.dev.info.id);
        self.push(topic, body, payload::JSON, t, Measurement::Optical);
    }

    /// An OLT's Telegraf `system` and `mem`.
    pub(super) fn olt(&mut self, at_ms: i64) {
        let a = activity(at_ms);
        let uptime = self.dev.uptime_s(at_ms);
        let rng = &mut self.dev.rng;
        let load1 = (0.4 + 1.2 * a) * rng.noise(0.15);
        let total: i64 = 2 << 30;
        let used = (total as f64 * (0.45 + 0.05 * a) * rng.noise(0.03)) as i64;
        let t = self.dev.stamp(at_ms);
        let fields = [
            ("load1", LpValue::Float(round2(load1))),
            ("n_cpus", LpValue::Int(4)),
            ("uptime", LpValue::Int(uptime as i64)),
        ];
        self.telegraf("system", &[], &fields, t, Measurement::System);
        let t = self.dev.stamp(at_ms);
        let fields = [("total", LpValue::Int(total)), ("used", LpValue::Int(used))];
        self.telegraf("mem", &[], &fields, t, Measurement::System);
    }
}
