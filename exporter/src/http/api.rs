//! JSON views served under `/api/`. Field names are part of the HTTP API
//! (the status page and operators' scripts read them): add, don't rename.

use collector::deadletter::DeadLetter;
use serde::{Deserialize, Serialize};

use crate::health::Health;
use crate::Live;

/// One inventory school in `/api/schools`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SchoolView {
    pub id: String,
    pub name: String,
    pub district: String,
    pub lat: f64,
    pub lon: f64,
    pub uplink_mbps: f64,
    /// `up`, `degraded`, `down` or `unknown`.
    pub state: String,
    /// Why it is degraded or down (`probe_loss`, `lwt_offline`, `stale`, …);
    /// null when up or unknown.
    pub cause: Option<String>,
    /// Unix seconds since when the school is not fully up: the start of its
    /// open outage (down, or unknown past the grace period; as
    /// `schoolnet_school_outage_started_timestamp_seconds`), else the start
    /// of its degradation; null otherwise.
    pub since: Option<f64>,
    /// Seconds from `since` to this answer, on the exporter's clock (so a
    /// browser with a wrong clock still shows the right duration).
    pub duration_s: Option<f64>,
    /// Same as `schoolnet_school_up`.
    pub up: bool,
    /// Unix seconds of the last telemetry from the school; null before the first.
    pub last_seen: Option<f64>,
    pub devices: Vec<DeviceView>,
}

/// One device of a school in `/api/schools`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceView {
    pub id: String,
    pub role: String,
    pub state: String,
    pub cause: Option<String>,
    pub up: bool,
    pub last_seen: Option<f64>,
}

/// `/api/dead-letters`.
#[derive(Debug, Clone, Serialize)]
pub struct DeadLettersView {
    pub capacity: usize,
    /// Dead letters since start, including ones since dropped from the ring.
    pub total: u64,
    /// Newest first.
    pub entries: Vec<DeadLetter>,
}

pub(crate) fn schools(live: &Live) -> Vec<SchoolView> {
    let now = live.clock.now();
    let (live_state, assessments) = live.assess_at(now);
    let inventory = live_state.inventory();
    let tracker = live.outages();
    assessments
        .into_iter()
        .map(|a| {
            let s = &inventory.schools()[a.school];
            let h = a.health;
            let since = tracker
                .open_since(a.school)
                .or_else(|| tracker.degraded_since(a.school));
            SchoolView {
                id: s.id.to_string(),
                name: s.name.to_string(),
                district: s.district.to_string(),
                lat: s.lat,
                lon: s.lon,
                uplink_mbps: s.uplink_mbps,
                state: h.state.as_str().to_string(),
                cause: cause(&h),
                since,
                duration_s: since.map(|t| (now - t).max(0.0)),
                up: h.up,
                last_seen: h.last_seen,
                devices: a
                    .devices
                    .iter()
                    .map(|&(slot, dh)| {
                        let d = live_state.device(slot);
                        DeviceView {
                            id: d.id.to_string(),
                            role: d.role.as_str().to_string(),
                            state: dh.state.as_str().to_string(),
                            cause: cause(&dh),
                            up: dh.up,
                            last_seen: dh.last_seen,
                        }
                    })
                    .collect(),
            }
        })
        .collect()
}

fn cause(h: &Health) -> Option<String> {
    h.cause.map(|c| c.as_str().to_string())
}

/// `/api/outages`: open outages (inventory order) and recently closed ones
/// (newest first, bounded).
#[derive(Debug, Serialize)]
pub struct OutagesView {
    pub open: Vec<crate::outage::Outage>,
    pub recent: Vec<crate::outage::Outage>,
}
