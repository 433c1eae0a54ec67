//! Raw interface counters as a router's kernel holds them: 32- or 64-bit
//! wide, starting anywhere, advancing with traffic, wrapping (32-bit) and
//! starting over on a reboot. Published as Telegraf `net` fields.

use crate::model::Rng;

/// Raw interface counters as the device holds them (Telegraf `net`).
#[derive(Debug, Clone)]
pub(super) struct NetCounters {
    at_ms: i64,
    bits32: bool,
    pub(super) rx_bytes: u64,
    pub(super) tx_bytes: u64,
    pub(super) rx_packets: u64,
    pub(super) tx_packets: u64,
    pub(super) rx_errors: u64,
    pub(super) tx_errors: u64,
    pub(super) rx_drops: u64,
    pub(super) tx_drops: u64,
}

/// Adds `delta` to a raw counter of the declared width (32-bit: `u32`
/// wrapping arithmetic, like the kernel's `unsigned long` on 32-bit MIPS).
pub fn counter_add(value: u64, delta: u64, bits32: bool) -> u64 {
    if bits32 {
        u64::from((value as u32).wrapping_add(delta as u32))
    } else {
        value.wrapping_add(delta)
    }
}

impl NetCounters {
    pub(super) fn new(
        at_ms: i64,
        bits32: bool,
        rng: &mut Rng,
        uptime_s: f64,
        typical_bps: f64,
    ) -> NetCounters {
        // 32-bit counters start anywhere in their range so wraps come soon;
        // 64-bit ones at roughly what the uptime so far accumulated.
        let start = |rng: &mut Rng, scale: f64| -> u64 {
            if bits32 {
                rng.below(1u64 << 32)
            } else {
                (uptime_s * typical_bps * scale * rng.range(0.5, 1.5)) as u64
            }
        };
        NetCounters {
            at_ms,
            bits32,
            rx_bytes: start(rng, 1.0),
            tx_bytes: start(rng, 0.2),
            rx_packets: start(rng, 1.0 / 900.0),
            tx_packets: start(rng, 1.0 / 400.0),
            rx_errors: if bits32 {
                rng.below(50)
            } else {
                rng.below(500)
            },
            tx_errors: 0,
            rx_drops: rng.below(2000),
            tx_drops: rng.below(20),
        }
    }

    /// After a reboot the kernel counters start over.
    pub(super) fn reset(&mut self, at_ms: i64, rng: &mut Rng) {
        self.at_ms = at_ms;
        self.rx_bytes = rng.range(20_000.0, 2_000_000.0) as u64;
        self.tx_bytes = rng.range(5_000.0, 400_000.0) as u64;
        self.rx_packets = self.rx_bytes / 900;
        self.tx_packets = self.tx_bytes / 400;
        self.rx_errors = 0;
        self.tx_errors = 0;
        self.rx_drops = 0;
        self.tx_drops = 0;
    }

    pub(super) fn advance(&mut self, at_ms: i64, rx_bps: f64, tx_bps: f64, rng: &mut Rng) {
        let dt = ((at_ms - self.at_ms).max(0) as f64) / 1000.0;
        self.at_ms = at_ms;
        let rx = (rx_bps * dt) as u64;
        let tx = (tx_bps * dt) as u64;
        let w = self.bits32;
        self.rx_bytes = counter_add(self.rx_bytes, rx, w);
        self.tx_bytes = counter_add(self.tx_bytes, tx, w);
        self.rx_packets = counter_add(self.rx_packets, rx / 900 + 1, w);
        self.tx_packets = counter_add(self.tx_packets, tx / 400 + 1, w);
        if rng.chance(0.02) {
            self.rx_errors = counter_add(self.rx_errors, 1 + rng.below(3), w);
        }
        if rng.chance(0.05) {
            self.rx_drops = counter_add(self.rx_drops, 1 + rng.below(10), w);
        }
    }
}
