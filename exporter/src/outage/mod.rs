//! Outage history: when each school went down, why, and when it came back.
//!
//! The tracker is fed every assessment (each scrape and a one-second tick),
//! opens an outage when a school stops counting as up (down for any cause,
//! or unknown past the grace period) and closes it when the school is up or
//! degraded again. Each open and close becomes an [`OutageRecord`] for the
//! InfluxDB `outage` measurement (timestamped at the start, so the close
//! overwrites the open point) and stays listed for `/api/outages`.
//!
//! The start of a `stale` outage is the last sign of life, not the moment
//! staleness was detected: that is when the school actually went dark, and
//! what availability must count from.
//!
//! It also notes when each school became degraded. That is not an outage
//! (degraded counts as up), but the status page shows how long it lasts.

use std::collections::VecDeque;
use std::sync::Arc;

use collector::inventory::{Inventory, School};
use collector::sample::OutageRecord;
use serde::Serialize;

use crate::health::{Cause, HealthPolicy, SchoolAssessment, State};

mod log;
use log::{Change, Transition};

/// Closed outages kept for `/api/outages`.
pub const RECENT_CAPACITY: usize = 1_000;

/// One outage of one school.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outage {
    pub school: Arc<str>,
    pub name: Arc<str>,
    pub district: Arc<str>,
    /// `lwt_offline`, `stale`, `link_down`, `upstream_down` or `unknown`.
    pub cause: &'static str,
    /// Unix seconds.
    pub started_at: f64,
    /// Unix seconds; `None` while open.
    pub ended_at: Option<f64>,
    pub duration_s: f64,
}

#[derive(Debug)]
struct Open {
    cause: &'static str,
    started_at: f64,
}

/// Per-school outage state; one per exporter, behind a mutex.
#[derive(Debug)]
pub struct OutageTracker {
    inventory: Arc<Inventory>,
    open: Vec<Option<Open>>,
    totals: Vec<u64>,
    /// Start of the current degradation, Unix seconds (first assessment
    /// that saw it).
    degraded_since: Vec<Option<f64>>,
    recent: VecDeque<Outage>,
    pending: Vec<OutageRecord>,
}

impl OutageTracker {
    pub fn new(inventory: Arc<Inventory>) -> OutageTracker {
        let n = inventory.schools().len();
        OutageTracker {
            inventory,
            open: (0..n).map(|_| None).collect(),
            totals: vec![0; n],
            degraded_since: vec![None; n],
            recent: VecDeque::new(),
            pending: Vec::new(),
        }
    }

    /// Applies one assessment of every school at `now`.
    pub fn update(&mut self, assessments: &[SchoolAssessment], policy: &HealthPolicy, now: f64) {
        let inventory = self.inventory.clone();
        let mut transitions = Vec::new();
        for a in assessments {
            let school = &inventory.schools()[a.school];
            let h = a.health;
            let degraded = &mut self.degraded_since[a.school];
            let change = match (h.state, *degraded) {
                (State::Degraded, None) => Some(Change::Degraded {
                    cause: h.cause.map_or("", Cause::as_str),
                }),
                (State::Degraded, Some(_)) | (_, None) => None,
                (_, Some(since)) => Some(Change::NoLongerDegraded {
                    duration_s: now - since,
                }),
            };
            *degraded = match (h.state, *degraded) {
                (State::Degraded, Some(since)) => Some(since),
                (State::Degraded, None) => Some(now),
                _ => None,
            };
            let mut note = |change| {
                transitions.push(Transition {
                    school: &school.id,
                    name: &school.name,
                    district: &school.district,
                    change,
                })
            };
            if let Some(change) = change {
                note(change);
            }
            match (&self.open[a.school], !h.counts_as_down) {
                (None, false) => {
                    let cause = h.cause.map_or("unknown", Cause::as_str);
                    let started_at = match (h.state, h.cause, h.last_seen) {
                        (State::Down, Some(Cause::Stale), Some(seen)) => seen,
                        (State::Unknown, _, _) => policy.started_at,
                        _ => now,
                    };
                    self.totals[a.school] += 1;
                    self.pending
                        .push(record(school, cause, started_at, now - started_at, true));
                    note(Change::Down {
                        cause,
                        down_for_s: now - started_at,
                    });
                    self.open[a.school] = Some(Open { cause, started_at });
                }
                (Some(open), true) => {
                    let outage = Outage {
                        school: school.id.clone(),
                        name: school.name.clone(),
                        district: school.district.clone(),
                        cause: open.cause,
                        started_at: open.started_at,
                        ended_at: Some(now),
                        duration_s: now - open.started_at,
                    };
                    self.pending.push(record(
                        school,
                        open.cause,
                        open.started_at,
                        outage.duration_s,
                        false,
                    ));
                    note(Change::Recovered {
                        cause: open.cause,
                        duration_s: outage.duration_s,
                    });
                    if self.recent.len() == RECENT_CAPACITY {
                        self.recent.pop_back();
                    }
                    self.recent.push_front(outage);
                    self.open[a.school] = None;
                }
                _ => {}
            }
        }
        log::log(&transitions);
    }

    /// Follows a reloaded inventory: open outages and totals of the schools
    /// that remain move to their new positions. A removed school's open
    /// outage is closed now, so its history does not stay open forever.
    pub fn retarget(&mut self, inventory: Arc<Inventory>, now: f64) {
        let position: std::collections::HashMap<&str, usize> = inventory
            .schools()
            .iter()
            .enumerate()
            .map(|(i, s)| (&*s.id, i))
            .collect();
        let mut open: Vec<Option<Open>> = (0..inventory.schools().len()).map(|_| None).collect();
        let mut totals = vec![0; inventory.schools().len()];
        let mut degraded_since = vec![None; inventory.schools().len()];
        for (i, school) in self.inventory.schools().iter().enumerate() {
            let was_open = self.open[i].take();
            if let Some(&j) = position.get(&*school.id) {
                open[j] = was_open;
                totals[j] = self.totals[i];
                degraded_since[j] = self.degraded_since[i];
            } else if let Some(o) = was_open {
                let duration = now - o.started_at;
                self.pending
                    .push(record(school, o.cause, o.started_at, duration, false));
            }
        }
        self.inventory = inventory;
        self.open = open;
        self.totals = totals;
        self.degraded_since = degraded_since;
    }

    /// Start of the school's current outage (Unix seconds), if any.
    /// Schools with an open outage (down, or unknown past the grace period)
    /// and the number of schools tracked.
    pub fn open_count(&self) -> (usize, usize) {
        (self.open.iter().flatten().count(), self.open.len())
    }

    pub fn open_since(&self, school: usize) -> Option<f64> {
        self.open.get(school)?.as_ref().map(|o| o.started_at)
    }

    /// When the school became degraded (Unix seconds), if it is now.
    pub fn degraded_since(&self, school: usize) -> Option<f64> {
        self.degraded_since.get(school).copied().flatten()
    }

    /// Outages the school has had since start (including an open one).
    pub fn total(&self, school: usize) -> u64 {
        self.totals[school]
    }

    /// Records written since the last call, for InfluxDB.
    pub fn take_records(&mut self) -> Vec<OutageRecord> {
        std::mem::take(&mut self.pending)
    }

    /// Open outages (inventory order) and recently closed ones (newest first).
    pub fn snapshot(&self, now: f64) -> (Vec<Outage>, Vec<Outage>) {
        let open = self
            .open
            .iter()
            .enumerate()
            .filter_map(|(i, o)| {
                let o = o.as_ref()?;
                let s = &self.inventory.schools()[i];
                Some(Outage {
                    school: s.id.clone(),
                    name: s.name.clone(),
                    district: s.district.clone(),
                    cause: o.cause,
                    started_at: o.started_at,
                    ended_at: None,
                    duration_s: now - o.started_at,
                })
            })
            .collect();
        (open, self.recent.iter().cloned().collect())
    }
}

fn record(
    school: &Arc<School>,
    cause: &'static str,
    started_at: f64,
    duration_s: f64,
    open: bool,
) -> OutageRecord {
    OutageRecord {
        school: school.clone(),
        cause,
        started_ns: (started_at * 1e9) as i64,
        duration_s: duration_s.max(0.0),
        open,
    }
}

#[cfg(test)]
mod tests;
