//! The availability computation, pure: outage points + inventory + window →
//! one row per school, one summary per district and a total. No I/O and no
//! clock: the caller passes `now`.
//!
//! Rules (the same text is in `schoolnet availability --help`):
//! - an outage counts with the part inside the window `[from, to)`;
//! - an outage whose cause changed is stored as one point per cause (a
//!   stretch), all naming the outage's start in `started_at`: the stretches
//!   are one outage, and each second counts under the cause it had then;
//! - a closed stretch ends at `start + duration_s`; an open one at `now`,
//!   unless the school has a later point: then schoolnet stopped while it
//!   was open (nothing ever closed it) and it ends where the next one starts;
//! - overlapping outages of one school count once (union of the intervals);
//! - availability = 1 − downtime / window length;
//! - MTTR = mean *full* duration of the outages restored (closed) within the
//!   window, so every outage enters the MTTR of exactly one window.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use collector::inventory::{Inventory, School};
use serde::Serialize;

/// One `outage` point as stored (a close point overwrites its open point):
/// an outage, or one stretch of it under one cause.
#[derive(Debug, Clone, PartialEq)]
pub struct OutagePoint {
    pub school: String,
    /// `lwt_offline`, `stale`, … (`unknown` when the tag is missing).
    pub cause: String,
    /// The point's time: when this stretch started, Unix seconds.
    pub start_s: f64,
    /// The `started_at` field: when the whole outage started, the same in
    /// each of its points (the point's time where the field is missing).
    pub outage_start_s: f64,
    /// Total when closed, so far when open.
    pub duration_s: f64,
    pub open: bool,
}

/// The report window `[from_s, to_s)`, Unix seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    pub from_s: f64,
    pub to_s: f64,
}

impl Window {
    pub fn seconds(&self) -> f64 {
        self.to_s - self.from_s
    }
}

/// One school over the window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SchoolRow {
    pub school: Arc<str>,
    pub name: Arc<str>,
    pub district: Arc<str>,
    /// 0–1: 1 − downtime_s / window length.
    pub availability: f64,
    /// Union of the outages' parts inside the window.
    pub downtime_s: f64,
    /// Outages overlapping the window (an outage whose cause changed is one).
    pub outages: u32,
    /// Of those, the ones closed before the window's end.
    pub restored: u32,
    /// Mean full duration of the restored outages; `None` without any.
    pub mttr_s: Option<f64>,
    /// The school was down at the window's end.
    pub down_at_end: bool,
    /// Downtime per cause (union per cause): each second under the cause
    /// the live state showed then. Outages of different causes may
    /// overlap, so these can add up to more than `downtime_s`.
    pub downtime_by_cause_s: BTreeMap<String, f64>,
    #[serde(skip)]
    restored_s: f64,
}

/// A group of schools: one district, or all of them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// The district, or `total`.
    pub name: Arc<str>,
    pub schools: usize,
    /// Mean of the schools' availabilities (= 1 − downtime / (schools × window)).
    pub mean_availability: f64,
    pub min_availability: f64,
    /// The school with `min_availability` (the first in inventory order).
    pub min_school: Option<Arc<str>>,
    pub outages: u32,
    pub restored: u32,
    pub downtime_s: f64,
    /// Over all restored outages of the group.
    pub mttr_s: Option<f64>,
    /// Schools down at the window's end.
    pub down_at_end: usize,
}

/// Everything the formats print.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub window: Window,
    /// By district (inventory order of first appearance), then inventory order.
    pub schools: Vec<SchoolRow>,
    pub districts: Vec<Summary>,
    pub total: Summary,
    /// Schools with outage points that are not in the inventory (not counted).
    pub unknown_schools: Vec<String>,
    /// Outage points that overlap the window (of inventory schools).
    pub points_in_window: usize,
}

/// Computes the report for the inventory's schools (only `district`'s, if
/// given; it must be an inventory district, matched exactly).
pub fn compute(
    inventory: &Inventory,
    district: Option<&str>,
    points: &[OutagePoint],
    window: Window,
    now_s: f64,
) -> Report {
    let mut by_school: HashMap<&str, Vec<&OutagePoint>> = HashMap::new();
    let mut unknown = BTreeSet::new();
    for p in points {
        if inventory.school(&p.school).is_some() {
            by_school.entry(&p.school).or_default().push(p);
        } else {
            unknown.insert(p.school.clone());
        }
    }
    let mut schools = Vec::new();
    let mut districts = Vec::new();
    let mut points_in_window = 0;
    for d in inventory.districts() {
        if district.is_some_and(|want| want != &*d) {
            continue;
        }
        let start = schools.len();
        for school in inventory.schools().iter().filter(|s| s.district == d) {
            let pts = by_school.get(&*school.id).map_or(&[][..], Vec::as_slice);
            let (row, n) = school_row(school, pts, window, now_s);
            points_in_window += n;
            schools.push(row);
        }
        districts.push(summarize(d, &schools[start..]));
    }
    let total = summarize("total".into(), &schools);
    Report {
        window,
        schools,
        districts,
        total,
        unknown_schools: unknown.into_iter().collect(),
        points_in_window,
    }
}

/// One school's row and the number of its points inside the window.
fn school_row(
    school: &School,
    points: &[&OutagePoint],
    w: Window,
    now_s: f64,
) -> (SchoolRow, usize) {
    let mut pts: Vec<&OutagePoint> = points.to_vec();
    pts.sort_by(|a, b| a.start_s.total_cmp(&b.start_s));
    let mut clipped: Vec<(f64, f64)> = Vec::new();
    let mut by_cause: BTreeMap<&str, Vec<(f64, f64)>> = BTreeMap::new();
    // Per outage (by its start, to the millisecond): seen inside the window,
    // every stretch closed, its end, its full length.
    let mut by_outage: BTreeMap<i64, (bool, bool, f64, f64)> = BTreeMap::new();
    let mut down_at_end = false;
    let mut points_inside = 0;
    for (i, p) in pts.iter().enumerate() {
        let end = if p.open {
            // The next point of this school that starts later, if any.
            let next = pts[i + 1..]
                .iter()
                .map(|q| q.start_s)
                .find(|&s| s > p.start_s);
            next.unwrap_or(now_s)
                .min(now_s)
                .max(p.start_s + p.duration_s)
        } else {
            p.start_s + p.duration_s
        };
        let outage = by_outage
            .entry((p.outage_start_s * 1e3).round() as i64)
            .or_insert((false, true, f64::MIN, 0.0));
        outage.1 &= !p.open;
        outage.2 = outage.2.max(end);
        outage.3 += end - p.start_s;
        // Overlaps the window; a zero-length outage counts where it starts.
        let inside = p.start_s < w.to_s && (end > w.from_s || p.start_s >= w.from_s);
        if !inside {
            continue;
        }
        outage.0 = true;
        points_inside += 1;
        let interval = (p.start_s.max(w.from_s), end.min(w.to_s));
        down_at_end |= end >= w.to_s;
        clipped.push(interval);
        by_cause.entry(&p.cause).or_default().push(interval);
    }
    let (mut outages, mut restored, mut restored_s) = (0u32, 0u32, 0.0);
    for &(inside, closed, end, full_s) in by_outage.values() {
        if !inside {
            continue;
        }
        outages += 1;
        if closed && end <= w.to_s {
            restored += 1;
            restored_s += full_s;
        }
    }
    let downtime_s = union_len(clipped);
    let window_s = w.seconds();
    let availability = if window_s > 0.0 {
        (1.0 - downtime_s / window_s).clamp(0.0, 1.0)
    } else {
        1.0
    };
    let row = SchoolRow {
        school: school.id.clone(),
        name: school.name.clone(),
        district: school.district.clone(),
        availability,
        downtime_s,
        outages,
        restored,
        mttr_s: (restored > 0).then(|| restored_s / f64::from(restored)),
        down_at_end,
        downtime_by_cause_s: by_cause
            .into_iter()
            .map(|(c, iv)| (c.to_string(), union_len(iv)))
            .collect(),
        restored_s,
    };
    (row, points_inside)
}

/// Total length of the union of half-open intervals.
fn union_len(mut intervals: Vec<(f64, f64)>) -> f64 {
    intervals.retain(|(s, e)| e > s);
    intervals.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut total = 0.0;
    let mut current: Option<(f64, f64)> = None;
    for (s, e) in intervals {
        current = match current {
            Some((cs, ce)) if s <= ce => Some((cs, ce.max(e))),
            Some((cs, ce)) => {
                total += ce - cs;
                Some((s, e))
            }
            None => Some((s, e)),
        };
    }
    if let Some((cs, ce)) = current {
        total += ce - cs;
    }
    total
}

fn summarize(name: Arc<str>, rows: &[SchoolRow]) -> Summary {
    let n = rows.len();
    let mut min: Option<&SchoolRow> = None;
    for r in rows {
        if min.is_none_or(|m| r.availability < m.availability) {
            min = Some(r);
        }
    }
    let restored: u32 = rows.iter().map(|r| r.restored).sum();
    let restored_s: f64 = rows.iter().map(|r| r.restored_s).sum();
    Summary {
        name,
        schools: n,
        mean_availability: if n == 0 {
            1.0
        } else {
            rows.iter().map(|r| r.availability).sum::<f64>() / n as f64
        },
        min_availability: min.map_or(1.0, |m| m.availability),
        min_school: min.map(|m| m.school.clone()),
        outages: rows.iter().map(|r| r.outages).sum(),
        restored,
        downtime_s: rows.iter().map(|r| r.downtime_s).sum(),
        mttr_s: (restored > 0).then(|| restored_s / f64::from(restored)),
        down_at_end: rows.iter().filter(|r| r.down_at_end).count(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: f64 = 86_400.0;
    /// 2026-01-01T00:00:00Z
    const T0: f64 = 1_767_225_600.0;

    fn inventory() -> Inventory {
        Inventory::from_csv_text(
            "school_id,name,district,lat,lon,uplink_mbps\n\
             A1,Alpha One,Alpha,39,45,100\n\
             B1,Beta One,Beta,39,45,100\n\
             A2,Alpha Two,Alpha,39,45,100\n\
             B2,Beta Two,Beta,39,45,100\n",
            "device_id,school_id,role,expected_interval_s,parent\n",
        )
        .unwrap()
    }

    fn closed(school: &str, start_s: f64, duration_s: f64) -> OutagePoint {
        OutagePoint {
            school: school.into(),
            cause: "stale".into(),
            start_s,
            outage_start_s: start_s,
            duration_s,
            open: false,
        }
    }

    fn open(school: &str, start_s: f64, so_far_s: f64) -> OutagePoint {
        OutagePoint {
            open: true,
            cause: "lwt_offline".into(),
            ..closed(school, start_s, so_far_s)
        }
    }

    /// Window: the 10 days from T0; now long after.
    fn run(points: &[OutagePoint]) -> Report {
        let w = Window {
            from_s: T0,
            to_s: T0 + 10.0 * DAY,
        };
        compute(&inventory(), None, points, w, T0 + 100.0 * DAY)
    }

    fn row<'a>(r: &'a Report, id: &str) -> &'a SchoolRow {
        r.schools.iter().find(|s| &*s.school == id).unwrap()
    }

    fn close_to(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6
    }

    #[test]
    fn schools_without_outages_are_fully_available_and_sorted_by_district() {
        let r = run(&[]);
        let ids: Vec<&str> = r.schools.iter().map(|s| &*s.school).collect();
        assert_eq!(ids, ["A1", "A2", "B1", "B2"]);
        for s in &r.schools {
            assert_eq!(s.availability, 1.0);
            assert_eq!((s.outages, s.restored, s.downtime_s), (0, 0, 0.0));
            assert_eq!(s.mttr_s, None);
        }
        assert_eq!(r.total.mean_availability, 1.0);
        assert_eq!(r.total.schools, 4);
    }

    #[test]
    fn outages_are_clipped_at_both_window_edges() {
        let r = run(&[
            // 2 h before the window until 1 h into it: 1 h counts.
            closed("A1", T0 - 7200.0, 3.0 * 3600.0),
            // 1 h before the end until 3 h after it: 1 h counts.
            closed("A2", T0 + 10.0 * DAY - 3600.0, 4.0 * 3600.0),
            // Entirely before the window: not counted at all.
            closed("B1", T0 - DAY, 3600.0),
            // Starts exactly at the window's end: not counted.
            closed("B2", T0 + 10.0 * DAY, 60.0),
        ]);
        let a1 = row(&r, "A1");
        assert!(close_to(a1.downtime_s, 3600.0));
        assert_eq!((a1.outages, a1.restored), (1, 1));
        // MTTR uses the full duration of an outage restored in the window.
        assert_eq!(a1.mttr_s, Some(3.0 * 3600.0));
        assert!(close_to(a1.availability, 1.0 - 3600.0 / (10.0 * DAY)));
        let a2 = row(&r, "A2");
        assert!(close_to(a2.downtime_s, 3600.0));
        // Still down at the end: restored only in the next window.
        assert_eq!((a2.outages, a2.restored, a2.mttr_s), (1, 0, None));
        assert!(a2.down_at_end);
        assert_eq!(row(&r, "B1").outages, 0);
        assert_eq!(row(&r, "B2").outages, 0);
        assert_eq!(r.points_in_window, 2);
    }

    #[test]
    fn an_open_outage_lasts_until_now_or_the_window_end() {
        let w = Window {
            from_s: T0,
            to_s: T0 + DAY,
        };
        let pts = [open("A1", T0 + 3600.0, 5.0)];
        // Window in the past: until its end.
        let r = compute(&inventory(), None, &pts, w, T0 + 5.0 * DAY);
        let a1 = row(&r, "A1");
        assert!(close_to(a1.downtime_s, DAY - 3600.0));
        assert_eq!((a1.outages, a1.restored, a1.mttr_s), (1, 0, None));
        assert!(a1.down_at_end);
        // Now inside the window: until now.
        let r = compute(&inventory(), None, &pts, w, T0 + 7200.0);
        assert!(close_to(row(&r, "A1").downtime_s, 3600.0));
        // The window ends now (capped `--to`): still down at its end.
        let now = T0 + 7200.0;
        let capped = Window { to_s: now, ..w };
        let r = compute(&inventory(), None, &pts, capped, now);
        assert!(row(&r, "A1").down_at_end);
        assert_eq!(r.total.down_at_end, 1);
    }

    #[test]
    fn an_orphaned_open_outage_ends_where_the_next_one_starts() {
        let r = run(&[
            open("A1", T0 + DAY, 10.0),
            closed("A1", T0 + 2.0 * DAY, 600.0),
        ]);
        let a1 = row(&r, "A1");
        assert!(close_to(a1.downtime_s, DAY + 600.0));
        assert_eq!((a1.outages, a1.restored), (2, 1));
        assert_eq!(a1.mttr_s, Some(600.0));
        assert!(!a1.down_at_end);
    }

    /// The exporter's points for one outage whose cause changed: the
    /// stretch before the change and the one after, both naming the start.
    fn stretch(cause: &str, outage_start_s: f64, start_s: f64, duration_s: f64) -> OutagePoint {
        OutagePoint {
            cause: cause.into(),
            outage_start_s,
            ..closed("A1", start_s, duration_s)
        }
    }

    #[test]
    fn an_outage_whose_cause_changed_counts_once_and_each_second_under_its_cause() {
        // The OLT scenario: A1 dark from +91 s (last report), stale until
        // every school behind the OLT was dark at +130 s, then upstream_down
        // until it spoke again at +221 s; then a second, separate outage.
        let start = T0 + 91.0;
        let pts = [
            stretch("stale", start, start, 39.0),
            stretch("upstream_down", start, T0 + 130.0, 91.0),
            closed("A1", T0 + 1000.0, 30.0),
        ];
        let w = Window {
            from_s: T0,
            to_s: T0 + 3000.0,
        };
        let r = compute(&inventory(), None, &pts, w, T0 + DAY);
        let a1 = row(&r, "A1");
        assert_eq!(a1.downtime_s, 130.0 + 30.0, "to the second");
        assert_eq!(a1.availability, 1.0 - 160.0 / 3000.0);
        assert_eq!((a1.outages, a1.restored), (2, 2));
        assert_eq!(a1.mttr_s, Some((130.0 + 30.0) / 2.0), "full durations");
        assert_eq!(a1.downtime_by_cause_s["stale"], 39.0 + 30.0);
        assert_eq!(a1.downtime_by_cause_s["upstream_down"], 91.0);
        assert_eq!(r.points_in_window, 3);

        // The window starts in the second stretch: still that one outage,
        // restored, with its full duration in the MTTR.
        let late = Window {
            from_s: T0 + 200.0,
            ..w
        };
        let r = compute(&inventory(), None, &pts[..2], late, T0 + DAY);
        let a1 = row(&r, "A1");
        assert_eq!(a1.downtime_s, 21.0);
        assert_eq!((a1.outages, a1.restored, a1.mttr_s), (1, 1, Some(130.0)));

        // Still open in its second stretch: down at the end, not restored.
        let open_now = [
            stretch("stale", start, start, 39.0),
            OutagePoint {
                open: true,
                ..stretch("upstream_down", start, T0 + 130.0, 0.0)
            },
        ];
        let now = Window {
            to_s: T0 + 400.0,
            ..w
        };
        let r = compute(&inventory(), None, &open_now, now, now.to_s);
        let a1 = row(&r, "A1");
        assert_eq!(a1.downtime_s, 400.0 - 91.0);
        assert_eq!((a1.outages, a1.restored, a1.down_at_end), (1, 0, true));
    }

    #[test]
    fn overlapping_outages_of_one_school_count_once() {
        let r = run(&[
            closed("B1", T0 + 1000.0, 1000.0), // [1000, 2000)
            OutagePoint {
                cause: "link_down".into(),
                ..closed("B1", T0 + 1500.0, 1000.0) // [1500, 2500)
            },
            closed("B1", T0 + 1600.0, 100.0), // inside the first
            closed("B1", T0 + 5000.0, 500.0), // separate
        ]);
        let b1 = row(&r, "B1");
        assert!(close_to(b1.downtime_s, 1500.0 + 500.0));
        assert_eq!((b1.outages, b1.restored), (4, 4));
        assert_eq!(b1.mttr_s, Some(2600.0 / 4.0));
        assert!(close_to(b1.downtime_by_cause_s["stale"], 1000.0 + 500.0));
        assert!(close_to(b1.downtime_by_cause_s["link_down"], 1000.0));
    }

    #[test]
    fn districts_and_total_summarize_their_schools() {
        let r = run(&[
            closed("A1", T0, 3600.0),
            closed("A1", T0 + DAY, 1800.0),
            closed("A2", T0, 7200.0),
            open("B2", T0 + 9.0 * DAY, 1.0),
            closed("ZZ-9", T0, 60.0),
        ]);
        let window = 10.0 * DAY;
        let alpha = &r.districts[0];
        assert_eq!(&*alpha.name, "Alpha");
        assert_eq!((alpha.schools, alpha.outages, alpha.restored), (2, 3, 3));
        assert!(close_to(alpha.downtime_s, 3.0 * 3600.0 + 1800.0));
        assert!(close_to(
            alpha.mean_availability,
            1.0 - (5400.0 + 7200.0) / 2.0 / window
        ));
        assert!(close_to(alpha.min_availability, 1.0 - 7200.0 / window));
        assert_eq!(alpha.min_school.as_deref(), Some("A2"));
        assert_eq!(alpha.mttr_s, Some((3600.0 + 1800.0 + 7200.0) / 3.0));
        let beta = &r.districts[1];
        assert_eq!(
            (beta.schools, beta.outages, beta.restored, beta.down_at_end),
            (2, 1, 0, 1)
        );
        assert_eq!(beta.mttr_s, None);
        assert_eq!(beta.min_school.as_deref(), Some("B2"));
        let t = &r.total;
        assert_eq!(
            (t.schools, t.outages, t.restored, t.down_at_end),
            (4, 4, 3, 1)
        );
        assert!(close_to(t.downtime_s, 5400.0 + 7200.0 + DAY));
        assert!(close_to(
            t.mean_availability,
            1.0 - t.downtime_s / (4.0 * window)
        ));
        assert_eq!(r.unknown_schools, ["ZZ-9"]);
    }

    #[test]
    fn a_district_filter_keeps_only_its_schools() {
        let w = Window {
            from_s: T0,
            to_s: T0 + DAY,
        };
        let pts = [closed("A1", T0, 60.0), closed("B1", T0, 60.0)];
        let r = compute(&inventory(), Some("Beta"), &pts, w, T0 + 2.0 * DAY);
        let ids: Vec<&str> = r.schools.iter().map(|s| &*s.school).collect();
        assert_eq!(ids, ["B1", "B2"]);
        assert_eq!(r.districts.len(), 1);
        assert_eq!((r.total.schools, r.total.outages), (2, 1));
        assert!(r.unknown_schools.is_empty());
    }

    #[test]
    fn union_len_merges_touching_and_nested_intervals() {
        assert_eq!(union_len(vec![]), 0.0);
        assert_eq!(union_len(vec![(0.0, 1.0), (1.0, 2.0), (0.5, 0.7)]), 2.0);
        assert_eq!(union_len(vec![(5.0, 6.0), (0.0, 1.0), (3.0, 3.0)]), 2.0);
    }
}
