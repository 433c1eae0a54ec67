//! Outage history: when each school went down, why, and when it came back.
//!
//! The tracker is fed every assessment (each scrape and a one-second tick),
//! opens an outage when a school stops counting as up (down for any cause,
//! or unknown past the grace period) and closes it when the school is up or
//! degraded again. Each open and close becomes an [`OutageRecord`] for the
//! InfluxDB `outage` measurement (timestamped at the start, so the close
//! overwrites the open point) and stays listed for `/api/outages`.
//!
//! An outage starts at the school's last sign of life, not when it was
//! detected, whatever the cause: that is when the school actually went
//! dark, and what availability must count from.
//!
//! Its cause follows the live state. When a school stays down for another
//! reason (`stale` becomes `upstream_down` once every school behind the OLT
//! is dark; `upstream_down` becomes `stale` when the OLT is back but the
//! school is not), the outage goes on (same start, counted once) and a new
//! stretch begins: the old stretch's point is closed and a point for the
//! new cause opens at the change, carrying the outage's start in
//! `started_at`. So every second of an outage is stored under the cause
//! `/metrics` showed for it.
//!
//! It also notes when each school became degraded. That is not an outage
//! (degraded counts as up), but the status page shows how long it lasts.

use std::collections::VecDeque;
use std::sync::Arc;

use collector::inventory::{Inventory, School};
use collector::sample::OutageRecord;
use serde::Serialize;

use crate::health::{Cause, Health, HealthPolicy, SchoolAssessment, State};

mod log;
use log::{Change, Transition};

/// Closed outages kept for `/api/outages`.
pub const RECENT_CAPACITY: usize = 1_000;

/// One stretch of an outage under one cause.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CauseSpan {
    /// `lwt_offline`, `stale`, `link_down`, `upstream_down` or `unknown`.
    pub cause: &'static str,
    /// Unix seconds: the outage's start for the first cause, else when the
    /// live state switched to this one.
    pub since: f64,
}

/// One outage of one school.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outage {
    pub school: Arc<str>,
    pub name: Arc<str>,
    pub district: Arc<str>,
    /// While open, the cause now (what `/metrics` shows); once closed, the
    /// cause that covered most of it (see [`main_cause`]).
    pub cause: &'static str,
    /// Every cause it had, in order; one entry unless the cause changed.
    pub causes: Vec<CauseSpan>,
    /// Unix seconds: the school's last sign of life.
    pub started_at: f64,
    /// Unix seconds; `None` while open.
    pub ended_at: Option<f64>,
    pub duration_s: f64,
}

#[derive(Debug)]
struct Open {
    started_at: f64,
    /// Never empty; the last is the cause now.
    causes: Vec<CauseSpan>,
}

impl Open {
    fn current(&self) -> &CauseSpan {
        self.causes.last().expect("an open outage has a cause")
    }
}

/// The cause that covered most of an outage ending at `end` (on a tie, the
/// one that appeared later): the one a closed outage is summarised by.
pub fn main_cause(causes: &[CauseSpan], end: f64) -> &'static str {
    let mut covered: Vec<(&'static str, f64)> = Vec::new();
    for (i, span) in causes.iter().enumerate() {
        let until = causes.get(i + 1).map_or(end, |next| next.since);
        let length = (until - span.since).max(0.0);
        match covered.iter_mut().find(|(c, _)| *c == span.cause) {
            Some((_, total)) => *total += length,
            None => covered.push((span.cause, length)),
        }
    }
    // Later causes win ties: `max_by` keeps the last maximum.
    covered
        .iter()
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map_or("unknown", |(c, _)| c)
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
    /// When the school's last outage ended (Unix seconds; 0 before any).
    last_ended: Vec<f64>,
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
            last_ended: vec![0.0; n],
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
            let cause = h.cause.map_or("unknown", Cause::as_str);
            match (&mut self.open[a.school], h.counts_as_down) {
                (None, true) => {
                    // The previous outage closed when the sign of life that
                    // ended it was noticed; if that was the last one, this
                    // outage starts where that one ended: never overlapping.
                    let started_at =
                        outage_start(&h, policy, now).max(self.last_ended[a.school].min(now));
                    self.totals[a.school] += 1;
                    self.pending.push(record(
                        school,
                        cause,
                        started_at,
                        started_at,
                        now - started_at,
                        true,
                    ));
                    note(Change::Down {
                        cause,
                        down_for_s: now - started_at,
                    });
                    self.open[a.school] = Some(Open {
                        started_at,
                        causes: vec![CauseSpan {
                            cause,
                            since: started_at,
                        }],
                    });
                }
                // Still down, for another reason now: the stretch under the
                // old cause closes, one under the new cause opens, and the
                // outage (its start, its count) goes on.
                (Some(open), true) if open.current().cause != cause => {
                    let was = open.current().clone();
                    self.pending.push(record(
                        school,
                        was.cause,
                        was.since,
                        open.started_at,
                        now - was.since,
                        false,
                    ));
                    self.pending
                        .push(record(school, cause, now, open.started_at, 0.0, true));
                    note(Change::CauseChanged {
                        from: was.cause,
                        cause,
                        down_for_s: now - open.started_at,
                    });
                    open.causes.push(CauseSpan { cause, since: now });
                }
                (Some(_), false) => {
                    let open = self.open[a.school].take().expect("matched Some");
                    let outage = self.close(school, open, now);
                    self.last_ended[a.school] = now;
                    note(Change::Recovered {
                        cause: outage.cause,
                        duration_s: outage.duration_s,
                    });
                    if self.recent.len() == RECENT_CAPACITY {
                        self.recent.pop_back();
                    }
                    self.recent.push_front(outage);
                }
                _ => {}
            }
        }
        log::log(&transitions);
    }

    /// Closes `open` at `now`: the record closing its last stretch, and the
    /// outage as `/api/outages` lists it.
    fn close(&mut self, school: &Arc<School>, open: Open, now: f64) -> Outage {
        let last = open.current();
        self.pending.push(record(
            school,
            last.cause,
            last.since,
            open.started_at,
            now - last.since,
            false,
        ));
        Outage {
            school: school.id.clone(),
            name: school.name.clone(),
            district: school.district.clone(),
            cause: main_cause(&open.causes, now),
            started_at: open.started_at,
            ended_at: Some(now),
            duration_s: now - open.started_at,
            causes: open.causes,
        }
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
        let mut last_ended = vec![0.0; inventory.schools().len()];
        let previous = self.inventory.clone();
        for (i, school) in previous.schools().iter().enumerate() {
            let was_open = self.open[i].take();
            if let Some(&j) = position.get(&*school.id) {
                open[j] = was_open;
                totals[j] = self.totals[i];
                degraded_since[j] = self.degraded_since[i];
                last_ended[j] = self.last_ended[i];
            } else if let Some(o) = was_open {
                self.close(school, o, now);
            }
        }
        self.inventory = inventory;
        self.open = open;
        self.totals = totals;
        self.degraded_since = degraded_since;
        self.last_ended = last_ended;
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
                    cause: o.current().cause,
                    causes: o.causes.clone(),
                    started_at: o.started_at,
                    ended_at: None,
                    duration_s: now - o.started_at,
                })
            })
            .collect();
        (open, self.recent.iter().cloned().collect())
    }
}

/// Where a new outage starts: the school's last sign of life, whatever the
/// cause (a school whose silence completes "every school behind the OLT is
/// dark" opens as `upstream_down`, yet went dark when it fell silent).
/// Unknown since start: the start. No sign of life at all: now.
fn outage_start(h: &Health, policy: &HealthPolicy, now: f64) -> f64 {
    match (h.state, h.last_seen) {
        (State::Unknown, _) => policy.started_at,
        (_, Some(seen)) => seen.min(now),
        (_, None) => now,
    }
}

/// The point of one stretch (under one cause) of the outage that started
/// at `outage_started_at`; the stretch started at `since`.
fn record(
    school: &Arc<School>,
    cause: &'static str,
    since: f64,
    outage_started_at: f64,
    duration_s: f64,
    open: bool,
) -> OutageRecord {
    OutageRecord {
        school: school.clone(),
        cause,
        started_ns: (since * 1e9) as i64,
        outage_started_ns: (outage_started_at * 1e9) as i64,
        duration_s: duration_s.max(0.0),
        open,
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod truth_tests;
