//! Router reports, one [`RouterStyle`] per school: collectd (OpenWrt
//! `collectd-mod-mqtt`, StoreRates), Telegraf (line protocol) and MikroTik
//! (JSON `system`, a bare-value probe, Telegraf `net` and `clients`). All
//! derive from one set of [`Readings`] shaped by school hours and the
//! school's traits.

use std::sync::Arc;

use collector::sample::Measurement;

use super::counters::NetCounters;
use super::device::{round2, round3, Gen};
use super::PROBE_TARGET;
use crate::model::{activity, RouterStyle};
use crate::payload::{self, LpValue};

/// The router's readings at one instant.
struct Readings {
    rx_bps: f64,
    tx_bps: f64,
    rtt_ms: f64,
    rtt_sd_ms: f64,
    loss: f64,
    cpu: f64,
    load1: f64,
    mem_used: u64,
    uptime_s: f64,
    clients: f64,
    leases: f64,
}

impl Gen<'_> {
    /// The router's readings now, drawn from its RNG stream.
    fn readings(&mut self, at_ms: i64) -> Readings {
        let p = self.profile;
        let rng = &mut self.dev.rng;
        let a = activity(at_ms);
        let uplink_bytes = p.school.uplink_mbps * 1e6 / 8.0;
        let util = (0.004 + a * p.peak_utilization * rng.noise(0.15)).clamp(0.001, 0.97);
        let rx_bps = util * uplink_bytes;
        let tx_bps = (rx_bps * p.tx_ratio * rng.noise(0.1)).min(0.97 * uplink_bytes);
        let rtt_ms = p.base_rtt_ms * (1.0 + 0.4 * a * util) * rng.noise(0.12);
        let loss = if p.lossy { rng.range(0.02, 0.10) } else { 0.0 };
        let cpu = (0.03 + 0.35 * a * rng.noise(0.2)).clamp(0.01, 0.99);
        let load1 = cpu * f64::from(p.n_cpus) * rng.noise(0.1);
        let mem_ratio = (0.35 + 0.15 * a + 0.03 * rng.normal()).clamp(0.2, 0.9);
        let clients = (p.max_clients * a * rng.noise(0.1)).round().max(0.0);
        let leases = clients + p.wired_clients;
        let rtt_sd_ms = rtt_ms * rng.range(0.02, 0.15);
        let uptime_s = self.dev.uptime_s(at_ms);
        Readings {
            rx_bps,
            tx_bps,
            rtt_ms,
            rtt_sd_ms,
            loss,
            cpu,
            load1,
            mem_used: (p.mem_total as f64 * mem_ratio) as u64,
            uptime_s,
            clients,
            leases,
        }
    }

    /// One router report in the school's style.
    pub(super) fn router(&mut self, style: RouterStyle, at_ms: i64) {
        let r = self.readings(at_ms);
        let wan = self
            .dev
            .info
            .wan_interface
            .clone()
            .unwrap_or_else(|| Arc::from("wan"));
        match style {
            RouterStyle::Collectd => self.collectd(&wan, at_ms, &r),
            RouterStyle::Telegraf => self.telegraf_router(&wan, at_ms, &r),
            RouterStyle::Mikrotik => self.mikrotik(&wan, at_ms, &r),
        }
    }

    /// OpenWrt `collectd-mod-mqtt` (StoreRates): nine single-metric topics.
    fn collectd(&mut self, wan: &str, at_ms: i64, r: &Readings) {
        let id = self.dev.info.id.clone();
        let cd = |plugin: &str, typ: &str| format!("collectd/{id}/{plugin}/{typ}");
        let lf = f64::from(self.profile.n_cpus);
        let msgs: [(String, Vec<f64>, Measurement); 9] = [
            (
                cd(&format!("interface-{wan}"), "if_octets"),
                vec![r.rx_bps, r.tx_bps],
                Measurement::Interface,
            ),
            (
                cd("load", "load"),
                vec![r.load1, r.load1 * 0.9, (r.load1 * 0.8).min(lf)],
                Measurement::System,
            ),
            (
                cd("memory", "memory-used"),
                vec![r.mem_used as f64],
                Measurement::System,
            ),
            (
                cd("cpu", "percent-active"),
                vec![r.cpu * 100.0],
                Measurement::System,
            ),
            (
                cd("uptime", "uptime"),
                vec![r.uptime_s],
                Measurement::System,
            ),
            (
                cd("ping", &format!("ping-{PROBE_TARGET}")),
                vec![r.rtt_ms],
                Measurement::Probe,
            ),
            (
                cd("ping", &format!("ping_droprate-{PROBE_TARGET}")),
                vec![(r.loss * 100.0).round() / 100.0],
                Measurement::Probe,
            ),
            (
                cd("iwinfo-wlan0", "stations"),
                vec![r.clients],
                Measurement::Clients,
            ),
            (
                cd("dhcpleases", "count"),
                vec![r.leases],
                Measurement::Clients,
            ),
        ];
        for (topic, values, m) in msgs {
            let t = self.dev.stamp(at_ms);
            self.push(
                topic,
                payload::collectd(t, &values),
                payload::COLLECTD,
                t,
                m,
            );
        }
    }

    /// Telegraf on the router: `net`, `ping`, `system`, `mem`, `cpu`, `clients`.
    fn telegraf_router(&mut self, wan: &str, at_ms: i64, r: &Readings) {
        self.telegraf_net(wan, at_ms, r);
        self.telegraf_ping(at_ms, r);
        let t = self.dev.stamp(at_ms);
        let fields = [
            ("load1", LpValue::Float(round2(r.load1))),
            ("load5", LpValue::Float(round2(r.load1 * 0.9))),
            ("load15", LpValue::Float(round2(r.load1 * 0.8))),
            ("n_cpus", LpValue::Int(i64::from(self.profile.n_cpus))),
            ("n_users", LpValue::Int(0)),
            ("uptime", LpValue::Int(r.uptime_s as i64)),
        ];
        self.telegraf("system", &[], &fields, t, Measurement::System);
        let t = self.dev.stamp(at_ms);
        let total = self.profile.mem_total as i64;
        let used = r.mem_used as i64;
        let fields = [
            ("total", LpValue::Int(total)),
            ("used", LpValue::Int(used)),
            ("free", LpValue::Int(total - used)),
            ("available", LpValue::Int(total - used)),
            (
                "used_percent",
                LpValue::Float(round2(used as f64 * 100.0 / total as f64)),
            ),
        ];
        self.telegraf("mem", &[], &fields, t, Measurement::System);
        let t = self.dev.stamp(at_ms);
        let busy = r.cpu * 100.0;
        let fields = [
            ("usage_idle", LpValue::Float(round2(100.0 - busy))),
            ("usage_user", LpValue::Float(round2(busy * 0.6))),
            ("usage_system", LpValue::Float(round2(busy * 0.3))),
            ("usage_softirq", LpValue::Float(round2(busy * 0.1))),
        ];
        self.telegraf(
            "cpu",
            &[("cpu", "cpu-total")],
            &fields,
            t,
            Measurement::System,
        );
        self.telegraf_clients(at_ms, r);
    }

    /// MikroTik: JSON `system`, Telegraf `net`, a bare-value probe, `clients`.
    fn mikrotik(&mut self, wan: &str, at_ms: i64, r: &Readings) {
        let id = self.dev.info.id.clone();
        let t = self.dev.stamp(at_ms);
        let temp = 38.0 + 10.0 * r.cpu + self.dev.rng.range(0.0, 4.0);
        let total = self.profile.mem_total;
        let body = payload::json_strings(&[
            ("uptime", payload::mikrotik_uptime(r.uptime_s as u64)),
            ("cpu-load", format!("{}", (r.cpu * 100.0).round() as u32)),
            ("free-memory", (total - r.mem_used).to_string()),
            ("total-memory", total.to_string()),
            ("used-memory", r.mem_used.to_string()),
            ("temperature", format!("{}", temp.round() as i32)),
            ("board-name", "hAP ac^2".to_string()),
            ("ts", t.to_string()),
        ]);
        self.push(
            format!("mikrotik/{id}/system"),
            body,
            payload::JSON,
            t,
            Measurement::System,
        );
        self.telegraf_net(wan, at_ms, r);
        let t = self.dev.stamp(at_ms);
        self.push(
            format!("probe/{id}/{PROBE_TARGET}/rtt_ms"),
            payload::fixed(r.rtt_ms, 1).into_bytes(),
            payload::VALUE,
            t,
            Measurement::Probe,
        );
        self.telegraf_clients(at_ms, r);
    }

    /// Telegraf `net` of the WAN interface: the raw counters, advanced to now.
    fn telegraf_net(&mut self, wan: &str, at_ms: i64, r: &Readings) {
        let t = self.dev.stamp(at_ms);
        let bits32 = self.profile.counter_bits == 32;
        let uptime_s = r.uptime_s;
        let typical = self.profile.school.uplink_mbps * 1e6 / 8.0 * 0.05;
        let dev = &mut *self.dev;
        let net = match &mut dev.net {
            Some(net) => {
                net.advance(t, r.rx_bps, r.tx_bps, &mut dev.rng);
                net
            }
            None => dev
                .net
                .insert(NetCounters::new(t, bits32, &mut dev.rng, uptime_s, typical)),
        };
        let c = |v: u64| LpValue::Int(v as i64);
        let fields = [
            ("bytes_recv", c(net.rx_bytes)),
            ("bytes_sent", c(net.tx_bytes)),
            ("packets_recv", c(net.rx_packets)),
            ("packets_sent", c(net.tx_packets)),
            ("err_in", c(net.rx_errors)),
            ("err_out", c(net.tx_errors)),
            ("drop_in", c(net.rx_drops)),
            ("drop_out", c(net.tx_drops)),
        ];
        self.telegraf(
            "net",
            &[("interface", wan)],
            &fields,
            t,
            Measurement::Interface,
        );
    }

    /// Telegraf `ping` of the probe target.
    fn telegraf_ping(&mut self, at_ms: i64, r: &Readings) {
        let t = self.dev.stamp(at_ms);
        // Telegraf pings 5 times per interval; never all lost (then the
        // response fields would be missing).
        let lost = (0..5)
            .filter(|_| self.dev.rng.chance(r.loss))
            .count()
            .min(4) as i64;
        let fields = [
            ("packets_transmitted", LpValue::Int(5)),
            ("packets_received", LpValue::Int(5 - lost)),
            ("percent_packet_loss", LpValue::Float(lost as f64 * 20.0)),
            ("ttl", LpValue::Int(117)),
            (
                "minimum_response_ms",
                LpValue::Float(round3(r.rtt_ms - r.rtt_sd_ms)),
            ),
            ("average_response_ms", LpValue::Float(round3(r.rtt_ms))),
            (
                "maximum_response_ms",
                LpValue::Float(round3(r.rtt_ms + 2.0 * r.rtt_sd_ms)),
            ),
            ("standard_deviation_ms", LpValue::Float(round3(r.rtt_sd_ms))),
            ("result_code", LpValue::Int(0)),
        ];
        self.telegraf(
            "ping",
            &[("url", PROBE_TARGET)],
            &fields,
            t,
            Measurement::Probe,
        );
    }

    /// Client counts in schoolnet's canonical line protocol (a Telegraf
    /// `exec` input on the router), since Telegraf has no such input.
    fn telegraf_clients(&mut self, at_ms: i64, r: &Readings) {
        let t = self.dev.stamp(at_ms);
        let fields = [
            ("wifi_clients", LpValue::Int(r.clients as i64)),
            ("dhcp_leases", LpValue::Int(r.leases as i64)),
        ];
        self.telegraf("clients", &[], &fields, t, Measurement::Clients);
    }
}
