//! JSON views served under `/api/`. Field names are part of the HTTP API
//! (the status page and operators' scripts read them): add, don't rename.

use collector::deadletter::DeadLetter;
use serde::{Deserialize, Serialize};

use crate::health::{Cause, Health, SchoolAssessment, State};
use crate::outage::OutageTracker;
use crate::state::LiveState;
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
    let tracker = live.outages();
    assessments
        .iter()
        .map(|a| school_view(&live_state, &tracker, now, a))
        .collect()
}

/// One school of `/api/schools`, by inventory id (as written there); `None`
/// when the inventory has no such school.
pub(crate) fn school(live: &Live, id: &str) -> Option<SchoolView> {
    let now = live.clock.now();
    let (live_state, assessments) = live.assess_at(now);
    let index = live_state
        .inventory()
        .schools()
        .iter()
        .position(|s| &*s.id == id)?;
    let tracker = live.outages();
    let a = assessments.iter().find(|a| a.school == index)?;
    Some(school_view(&live_state, &tracker, now, a))
}

fn school_view(
    live_state: &LiveState,
    tracker: &OutageTracker,
    now: f64,
    a: &SchoolAssessment,
) -> SchoolView {
    let s = &live_state.inventory().schools()[a.school];
    let h = a.health;
    let since = since(tracker, a.school);
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
}

/// When the school stopped being fully up: its open outage, else its
/// degradation (see [`SchoolView::since`]).
fn since(tracker: &OutageTracker, school: usize) -> Option<f64> {
    tracker
        .open_since(school)
        .or_else(|| tracker.degraded_since(school))
}

/// `/api/status`: every school in one compact answer, what the status page
/// draws (list, district counts, map). At 30,000 schools `/api/schools`
/// is about 15 MB of JSON, mostly device detail the page needs for one
/// school at a time (it asks `/api/schools/{id}` for that); this is a
/// tenth of it, and gzip (when the browser accepts it) shrinks it further.
///
/// Field names and the order of a row's items are part of the HTTP API:
/// add at the end, don't reorder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusView {
    /// Unix seconds of this answer, on the exporter's clock.
    pub generated_at: f64,
    /// `exporter.grafana_url` without a trailing `/`; null when unset.
    pub grafana_url: Option<String>,
    /// The states a row's `state` indexes: `up`, `degraded`, `down`, `unknown`.
    pub states: Vec<String>,
    /// The causes a row's `cause` indexes (those that occur, in order of
    /// first occurrence).
    pub causes: Vec<String>,
    /// The districts a row's `district` indexes, inventory order.
    pub districts: Vec<String>,
    /// One row per school, inventory order.
    pub schools: Vec<StatusRow>,
}

/// One school of `/api/status`, a JSON array:
/// `[id, name, district, lat, lon, state, cause, duration_s]`: district and
/// state index [`StatusView::districts`] and [`StatusView::states`], cause
/// indexes [`StatusView::causes`] (null when none), duration_s is whole
/// seconds since the school stopped being fully up ([`SchoolView::duration_s`],
/// null when up or unknown within the grace period).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusRow(
    pub String,
    pub String,
    pub usize,
    pub f64,
    pub f64,
    pub usize,
    pub Option<usize>,
    pub Option<u64>,
);

const STATES: [State; 4] = [State::Up, State::Degraded, State::Down, State::Unknown];

pub(crate) fn status(live: &Live, grafana_url: Option<&str>) -> StatusView {
    let now = live.clock.now();
    let (live_state, assessments) = live.assess_at(now);
    let tracker = live.outages();
    let mut districts: Vec<String> = Vec::new();
    let mut causes: Vec<Cause> = Vec::new();
    let mut last_district: Option<(&str, usize)> = None;
    let schools = assessments
        .iter()
        .map(|a| {
            let s = &live_state.inventory().schools()[a.school];
            // Schools of a district are usually listed together: one
            // comparison instead of a search per school.
            let district = match last_district {
                Some((name, i)) if name == &*s.district => i,
                _ => index_of(&mut districts, s.district.to_string()),
            };
            last_district = Some((&s.district, district));
            let h = a.health;
            StatusRow(
                s.id.to_string(),
                s.name.to_string(),
                district,
                s.lat,
                s.lon,
                STATES.iter().position(|&x| x == h.state).unwrap_or(3),
                h.cause.map(|c| index_of(&mut causes, c)),
                since(&tracker, a.school).map(|t| (now - t).max(0.0) as u64),
            )
        })
        .collect();
    StatusView {
        generated_at: now,
        grafana_url: grafana_url.map(|u| u.trim_end_matches('/').to_string()),
        states: STATES.iter().map(|s| s.as_str().to_string()).collect(),
        causes: causes.iter().map(|c| c.as_str().to_string()).collect(),
        districts,
        schools,
    }
}

/// Where `item` is in `list`, appended if new.
fn index_of<T: PartialEq>(list: &mut Vec<T>, item: T) -> usize {
    match list.iter().position(|x| *x == item) {
        Some(i) => i,
        None => {
            list.push(item);
            list.len() - 1
        }
    }
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
