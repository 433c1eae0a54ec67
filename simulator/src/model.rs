//! The behaviour model behind the simulated fleet: a small deterministic
//! random number generator, local school time, the diurnal activity profile
//! and per-school traits (payload style, counter width, line quality).
//!
//! Everything here is a pure function of (seed, school, time), so the same
//! seed gives the same fleet on every machine and with every `rand` version.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use collector::inventory::School;

/// SplitMix64: tiny, fast, good enough for simulation noise, and stable
/// across platforms and dependency versions (unlike `rand`'s `StdRng`).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// An independent stream for `name` (a device or school id) under `seed`.
    pub fn stream(seed: u64, name: &str) -> Rng {
        // FNV-1a of the name, mixed with the seed.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in name.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        let mut rng = Rng(seed ^ h.rotate_left(17));
        rng.next_u64();
        rng
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `[lo, hi)`.
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// Uniform integer in `[0, n)`; `n` must be positive.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.unit().max(1e-12);
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// `1 + sd * N(0,1)`, clamped to `[1 - 3sd, 1 + 3sd]` and to positive.
    pub fn noise(&mut self, sd: f64) -> f64 {
        (1.0 + sd * self.normal().clamp(-3.0, 3.0)).max(0.01)
    }
}

/// Nakhchivan (and all of Azerbaijan) is UTC+4 all year, without DST.
pub const LOCAL_UTC_OFFSET_S: i64 = 4 * 3600;

/// Unix milliseconds of `t` (negative before 1970).
pub fn unix_ms(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_millis() as i64,
        Err(e) => -(e.duration().as_millis() as i64),
    }
}

/// `SystemTime` of Unix milliseconds.
pub fn from_unix_ms(ms: i64) -> SystemTime {
    if ms >= 0 {
        UNIX_EPOCH + std::time::Duration::from_millis(ms as u64)
    } else {
        UNIX_EPOCH - std::time::Duration::from_millis(ms.unsigned_abs())
    }
}

/// Local weekday (0 = Monday … 6 = Sunday) and hour of day (fractional).
pub fn local_weekday_hour(unix_ms: i64) -> (u32, f64) {
    let local_s = unix_ms.div_euclid(1000) + LOCAL_UTC_OFFSET_S;
    let day = local_s.div_euclid(86_400);
    // 1970-01-01 was a Thursday (index 3).
    let weekday = (day + 3).rem_euclid(7) as u32;
    let sec_of_day = local_s.rem_euclid(86_400) as f64 + (unix_ms.rem_euclid(1000) as f64) / 1000.0;
    (weekday, sec_of_day / 3600.0)
}

/// How busy a school is at local time `unix_ms`, 0–1: 1 during lessons
/// (weekdays 08:00–15:00), ramps around them, a little evening activity
/// (cleaning staff, updates), near idle at night and on weekends.
pub fn activity(unix_ms: i64) -> f64 {
    let (weekday, h) = local_weekday_hour(unix_ms);
    if weekday >= 5 {
        return if (10.0..18.0).contains(&h) {
            0.05
        } else {
            0.02
        };
    }
    match h {
        h if h < 7.0 => 0.02,
        h if h < 8.0 => 0.05 + 0.95 * (h - 7.0),
        h if h < 12.0 => 1.0,
        // Lunch break: fewer tablets on the network.
        h if h < 12.5 => 0.7,
        h if h < 15.0 => 1.0,
        h if h < 17.0 => 1.0 - 0.45 * (h - 15.0),
        h if h < 22.0 => 0.08,
        _ => 0.03,
    }
}

/// How a school's router reports (chosen by the school's position in the
/// inventory: index % 3), so several real payload formats are always in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouterStyle {
    /// OpenWrt with `collectd-mod-mqtt`, StoreRates on: `collectd/<host>/<plugin>/<type>`.
    Collectd,
    /// OpenWrt with Telegraf `outputs.mqtt`, line protocol: `telegraf/<host>/<name>`.
    Telegraf,
    /// MikroTik: system JSON from a script (`mikrotik/<host>/system`), traffic
    /// via Telegraf line protocol, RTT as a bare number (`probe/<host>/<target>/rtt_ms`).
    Mikrotik,
}

impl RouterStyle {
    pub fn for_index(index: usize) -> RouterStyle {
        match index % 3 {
            0 => RouterStyle::Collectd,
            1 => RouterStyle::Telegraf,
            _ => RouterStyle::Mikrotik,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RouterStyle::Collectd => "collectd",
            RouterStyle::Telegraf => "telegraf",
            RouterStyle::Mikrotik => "mikrotik",
        }
    }
}

/// The simulated traits of one school, fixed for a run.
#[derive(Debug, Clone)]
pub struct SchoolProfile {
    pub school: Arc<School>,
    /// Position in the inventory (0-based); decides [`RouterStyle`].
    pub index: usize,
    pub style: RouterStyle,
    /// Width of the router's raw interface counters (Telegraf `net`), from
    /// the inventory's `counter_bits` column (default 64).
    /// collectd schools send rates and have no raw counters.
    pub counter_bits: u8,
    /// A lossy line: 2–10 % probe loss and higher RTT.
    pub lossy: bool,
    /// A weak fiber: ONT receive power near −26 dBm (GPON warning level).
    pub weak_optical: bool,
    /// Uplink utilization at full activity (0–1).
    pub peak_utilization: f64,
    /// Upload as a fraction of download.
    pub tx_ratio: f64,
    /// Probe round-trip time when idle, ms.
    pub base_rtt_ms: f64,
    /// Wi-Fi clients at full activity.
    pub max_clients: f64,
    /// Wired DHCP clients (PCs, printers), always present.
    pub wired_clients: f64,
    /// ONT receive power, dBm (before noise).
    pub ont_rx_dbm: f64,
    pub ont_tx_dbm: f64,
    pub ont_bias_ma: f64,
    pub ont_voltage_v: f64,
    pub ont_temp_c: f64,
    /// Router memory, bytes.
    pub mem_total: u64,
    pub n_cpus: u32,
}

impl SchoolProfile {
    pub fn new(seed: u64, index: usize, school: Arc<School>) -> SchoolProfile {
        let mut rng = Rng::stream(seed, &school.id);
        let style = RouterStyle::for_index(index);
        // Overridden from the inventory's `counter_bits` by `Fleet::new`.
        let counter_bits = 64;
        let lossy = rng.chance(0.04);
        let weak_optical = rng.chance(0.04);
        // Bigger uplinks belong to bigger (town) schools with more tablets.
        let size = (school.uplink_mbps / 100.0).clamp(0.5, 10.0);
        let mem_total = match style {
            RouterStyle::Mikrotik => [256u64, 1024][rng.below(2) as usize] << 20,
            _ => [128u64, 256, 512][rng.below(3) as usize] << 20,
        };
        SchoolProfile {
            index,
            style,
            counter_bits,
            lossy,
            weak_optical,
            peak_utilization: rng.range(0.25, 0.75),
            tx_ratio: rng.range(0.1, 0.3),
            base_rtt_ms: rng.range(5.0, 25.0) + if lossy { 15.0 } else { 0.0 },
            max_clients: (rng.range(12.0, 30.0) * size.sqrt() * 2.0).round(),
            wired_clients: rng.range(3.0, 12.0).round(),
            ont_rx_dbm: if weak_optical {
                rng.range(-26.6, -25.6)
            } else {
                rng.range(-22.0, -14.0)
            },
            ont_tx_dbm: rng.range(2.0, 2.6),
            ont_bias_ma: rng.range(10.0, 14.0),
            ont_voltage_v: rng.range(3.28, 3.34),
            ont_temp_c: rng.range(40.0, 50.0),
            mem_total,
            n_cpus: [1u32, 2, 4][rng.below(3) as usize],
            school,
        }
    }
}
