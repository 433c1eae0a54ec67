//! The fleet simulator: synthetic telemetry from every router, ONT and OLT
//! of an inventory, in the payload formats seen in the field, published over
//! MQTT (`schoolnet simulate`) or drained in-process (the demo, tests).
//!
//! - [`model`]: deterministic RNG, school-hours activity, per-school traits.
//! - [`fleet`]: the device state machines, schedule and control handle;
//!   produces [`SimMessage`]s without any I/O.
//! - [`payload`]: the wire formats (collectd, line protocol, JSON, value, LWT).
//! - [`publish`]: pacing, devices spread over the connections, progress.
//! - [`connection`]: one MQTT connection (rumqttc), its acks and errors.
//! - [`report`]: what was sent and the exact InfluxDB point counts to expect.
//!
//! What each device publishes (topics match the collector's default routes):
//!
//! | device | style (school index % 3) | topics, per report |
//! |---|---|---|
//! | router | 0: collectd (StoreRates) | `collectd/<d>/interface-wan/if_octets`, `load/load`, `memory/memory-used`, `cpu/percent-active`, `uptime/uptime`, `ping/ping-8.8.8.8`, `ping/ping_droprate-8.8.8.8`, `iwinfo-wlan0/stations`, `dhcpleases/count` |
//! | router | 1: Telegraf | `telegraf/<d>/net`, `ping`, `system`, `mem`, `cpu`, `clients` (line protocol) |
//! | router | 2: MikroTik | `mikrotik/<d>/system` (JSON), `telegraf/<d>/net`, `probe/<d>/8.8.8.8/rtt_ms` (value), `telegraf/<d>/clients` |
//! | ONT | – | `ont/<d>/optical` (JSON, numbers as strings) |
//! | OLT | – | `telegraf/<d>/system`, `telegraf/<d>/mem` |
//!
//! Routers and OLTs also publish `tele/<d>/LWT` = `Online` (retained) at start.
//! Every third Telegraf/MikroTik school has 32-bit interface counters that
//! wrap; routers occasionally reboot (uptime and counters start over).

pub mod connection;
pub mod fleet;
pub mod model;
pub mod payload;
pub mod publish;
pub mod report;

#[cfg(test)]
mod tests;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use collector::inventory::{Inventory, InventoryError};

pub use fleet::{Fleet, FleetControl, FleetOptions, SimMessage};
pub use model::{RouterStyle, SchoolProfile};
pub use publish::Pacer;
pub use report::SimulateReport;

/// The synthetic 216-school sample, `deploy/inventory/schools.csv`.
pub const SAMPLE_SCHOOLS_CSV: &str = include_str!("../../deploy/inventory/schools.csv");
/// The sample's devices, `deploy/inventory/devices.csv`.
pub const SAMPLE_DEVICES_CSV: &str = include_str!("../../deploy/inventory/devices.csv");

/// The built-in synthetic sample inventory (216 schools in Nakhchivan).
pub fn sample_inventory() -> Result<Inventory, InventoryError> {
    Inventory::from_csv_text(SAMPLE_SCHOOLS_CSV, SAMPLE_DEVICES_CSV)
}

/// How to run the simulator against a broker.
#[derive(Debug, Clone)]
pub struct SimulateOptions {
    /// `mqtt://host:port` (also `tcp://`, or bare `host:port`).
    pub broker: String,
    /// Simulate only the first N schools of the inventory.
    pub schools: Option<usize>,
    /// Total messages per second. `None`: real time, every device at its
    /// inventory interval (about 144 msg/s for the 216-school sample);
    /// `Some(0.0)`: as fast as the broker accepts; `Some(r)`: `r` msg/s,
    /// devices taken round-robin in schedule order.
    pub rate: Option<f64>,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Stop after this many messages (status messages included).
    pub count: Option<u64>,
    /// MQTT QoS of every publish (0, 1 or 2; default 1).
    pub qos: u8,
    /// Client id; with several connections, `<client_id>-<i>`.
    pub client_id: String,
    /// MQTT connections to publish over (at least 1). Each device always
    /// uses the same one, so its messages stay in order; more connections
    /// let the broker and the client's event loops run in parallel.
    pub connections: usize,
    /// Print a progress line on stderr every second.
    pub progress: bool,
    /// Same seed → same fleet and traffic.
    pub seed: u64,
    /// Simulated clock at the start (default now); it then advances with the
    /// wall clock. Device timestamps in collectd/line-protocol payloads and the
    /// school-hours traffic profile follow it. The collector rejects device
    /// times more than 5 min ahead of or 7 days behind its own clock.
    pub start_time: Option<SystemTime>,
}

impl Default for SimulateOptions {
    fn default() -> Self {
        SimulateOptions {
            broker: "mqtt://127.0.0.1:1883".into(),
            schools: None,
            rate: None,
            duration: None,
            count: None,
            qos: 1,
            client_id: "schoolnet-simulator".into(),
            connections: 1,
            progress: false,
            seed: 42,
            start_time: None,
        }
    }
}

/// Simulates `inventory` (or its first `opts.schools` schools) against
/// `opts.broker` until `opts.duration`/`opts.count` or `shutdown`.
pub async fn run(
    inventory: Arc<Inventory>,
    opts: SimulateOptions,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<SimulateReport> {
    let fleet = Fleet::new(
        &inventory,
        FleetOptions {
            schools: opts.schools,
            seed: opts.seed,
            start: opts.start_time.unwrap_or_else(SystemTime::now),
        },
    );
    run_fleet(fleet, opts, shutdown).await
}

/// Like [`run`], with a fleet built by the caller, who may keep its
/// [`Fleet::control`] handle to make devices go silent or offline mid-run.
/// `opts.schools` and `opts.seed` are ignored (the fleet already has them).
pub async fn run_fleet(
    fleet: Fleet,
    opts: SimulateOptions,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<SimulateReport> {
    publish::publish(fleet, &opts, shutdown).await
}
