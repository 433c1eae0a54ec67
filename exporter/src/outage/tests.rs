use super::*;
use crate::health::Health;

const T0: f64 = 1_700_000_000.0;

fn inventory() -> Arc<Inventory> {
    Arc::new(
        Inventory::from_csv_text(
            "school_id,name,district,lat,lon,uplink_mbps\nS1,One,Babek,39.2,45.4,100\nS2,Two,Julfa,38.9,45.6,50\n",
            "device_id,school_id,role,expected_interval_s,parent\nr1,S1,router,10,\nr2,S2,router,10,\n",
        )
        .unwrap(),
    )
}

fn policy() -> HealthPolicy {
    HealthPolicy {
        stale_factor: 3.0,
        unknown_grace_s: 60.0,
        started_at: T0,
        degraded_loss_ratio: 0.05,
        optical_low_dbm: -25.0,
        optical_high_dbm: -8.0,
        degraded_error_rate: 1.0,
    }
}

fn assessment(
    school: usize,
    state: State,
    cause: Option<Cause>,
    last_seen: Option<f64>,
    now: f64,
) -> SchoolAssessment {
    SchoolAssessment {
        school,
        health: policy().verdict(state, cause, last_seen, now),
        devices: Vec::new(),
    }
}

#[test]
fn stale_outage_starts_at_the_last_sign_of_life_and_closes_with_a_duration() {
    let mut t = OutageTracker::new(inventory());
    let p = policy();
    t.update(&[assessment(0, State::Up, None, Some(T0), T0)], &p, T0);
    assert!(t.take_records().is_empty());

    t.update(
        &[assessment(
            0,
            State::Down,
            Some(Cause::Stale),
            Some(T0),
            T0 + 31.0,
        )],
        &p,
        T0 + 31.0,
    );
    assert_eq!(t.open_since(0), Some(T0));
    assert_eq!(t.total(0), 1);
    let opened = t.take_records();
    assert_eq!(opened.len(), 1);
    assert!(opened[0].open);
    assert_eq!(opened[0].cause, "stale");
    assert_eq!(opened[0].started_ns, (T0 * 1e9) as i64);

    // Still down: nothing new.
    t.update(
        &[assessment(
            0,
            State::Down,
            Some(Cause::Stale),
            Some(T0),
            T0 + 40.0,
        )],
        &p,
        T0 + 40.0,
    );
    assert!(t.take_records().is_empty());

    t.update(
        &[assessment(
            0,
            State::Degraded,
            Some(Cause::ProbeLoss),
            Some(T0 + 100.0),
            T0 + 100.0,
        )],
        &p,
        T0 + 100.0,
    );
    let closed = t.take_records();
    assert_eq!(closed.len(), 1);
    assert!(!closed[0].open);
    assert_eq!(closed[0].duration_s, 100.0);
    assert_eq!(
        closed[0].started_ns, opened[0].started_ns,
        "the close overwrites the open point"
    );
    assert_eq!(t.open_since(0), None);
    let (open, recent) = t.snapshot(T0 + 100.0);
    assert!(open.is_empty());
    assert_eq!(recent[0].school.as_ref(), "S1");
    assert_eq!(recent[0].ended_at, Some(T0 + 100.0));
}

#[test]
fn lwt_outage_starts_at_the_last_sign_of_life_and_unknown_counts_after_grace() {
    let mut t = OutageTracker::new(inventory());
    let p = policy();
    let now = T0 + 5.0;
    t.update(
        &[
            assessment(0, State::Down, Some(Cause::LwtOffline), Some(T0), now),
            assessment(1, State::Unknown, None, None, now),
        ],
        &p,
        now,
    );
    assert_eq!(t.open_since(0), Some(T0), "last seen, not detected");
    assert_eq!(
        t.open_since(1),
        None,
        "unknown within grace is not an outage"
    );
    let later = T0 + 61.0;
    t.update(
        &[assessment(1, State::Unknown, None, None, later)],
        &p,
        later,
    );
    assert_eq!(t.open_since(1), Some(T0), "never heard from since start");
    let recs = t.take_records();
    assert_eq!(
        recs.iter().map(|r| r.cause).collect::<Vec<_>>(),
        ["lwt_offline", "unknown"]
    );
    let (open, _) = t.snapshot(later);
    assert_eq!(open.len(), 2);
    assert_eq!(open[1].duration_s, 61.0);
    let _: Health = assessment(0, State::Up, None, None, later).health;
}

#[test]
fn a_reload_moves_open_outages_to_the_new_positions_and_closes_removed_schools() {
    let mut t = OutageTracker::new(inventory());
    let p = policy();
    let down = |school| assessment(school, State::Down, Some(Cause::LwtOffline), Some(T0), T0);
    t.update(&[down(0), down(1)], &p, T0);
    t.take_records();
    // S1 removed, S3 new and first: S2 moves from position 1 to 1, S3 is 0.
    let reloaded = Arc::new(
        Inventory::from_csv_text(
            "school_id,name,district,lat,lon,uplink_mbps\nS3,Three,Babek,39.2,45.4,100\nS2,Two,Julfa,38.9,45.6,50\n",
            "device_id,school_id,role,expected_interval_s,parent\nr3,S3,router,10,\nr2,S2,router,10,\n",
        )
        .unwrap(),
    );
    t.retarget(reloaded, T0 + 60.0);
    assert_eq!(t.open_since(0), None, "the new school has no outage");
    assert_eq!(t.open_since(1), Some(T0), "S2's outage stays open");
    assert_eq!((t.total(0), t.total(1)), (0, 1));
    let closed = t.take_records();
    assert_eq!(closed.len(), 1, "{closed:?}");
    assert_eq!(&*closed[0].school.id, "S1");
    assert!(!closed[0].open);
    assert_eq!(closed[0].duration_s, 60.0);
}

#[test]
fn degradation_is_timed_from_its_first_assessment_and_is_not_an_outage() {
    let mut t = OutageTracker::new(inventory());
    let p = policy();
    let degraded = |now| {
        [assessment(
            0,
            State::Degraded,
            Some(Cause::ProbeLoss),
            Some(now),
            now,
        )]
    };
    t.update(&degraded(T0 + 10.0), &p, T0 + 10.0);
    t.update(&degraded(T0 + 20.0), &p, T0 + 20.0);
    assert_eq!(t.degraded_since(0), Some(T0 + 10.0), "kept while degraded");
    assert_eq!(t.open_since(0), None, "degraded counts as up");
    assert!(t.take_records().is_empty());

    t.update(
        &[assessment(0, State::Up, None, Some(T0 + 30.0), T0 + 30.0)],
        &p,
        T0 + 30.0,
    );
    assert_eq!(t.degraded_since(0), None);
    t.update(&degraded(T0 + 40.0), &p, T0 + 40.0);
    assert_eq!(t.degraded_since(0), Some(T0 + 40.0), "a new degradation");
}

#[test]
fn an_outage_right_after_another_starts_where_that_one_ended() {
    let mut t = OutageTracker::new(inventory());
    let p = policy();
    let stale = |seen, now| assessment(0, State::Down, Some(Cause::Stale), Some(seen), now);
    t.update(&[stale(T0, T0 + 31.0)], &p, T0 + 31.0);
    // One report at +40, noticed at +40.5: the outage ends at +40.5.
    t.update(
        &[assessment(0, State::Up, None, Some(T0 + 40.0), T0 + 40.5)],
        &p,
        T0 + 40.5,
    );
    // Silent again after that report: the next outage's last sign of life
    // is +40, but the school was counted down until +40.5.
    t.update(&[stale(T0 + 40.0, T0 + 71.0)], &p, T0 + 71.0);
    assert_eq!(t.open_since(0), Some(T0 + 40.5));
    assert_eq!(t.total(0), 2);
    let recs = t.take_records();
    let spans: Vec<(f64, f64, bool)> = recs
        .iter()
        .map(|r| (r.started_ns as f64 / 1e9 - T0, r.duration_s, r.open))
        .collect();
    assert_eq!(
        spans,
        [(0.0, 31.0, true), (0.0, 40.5, false), (40.5, 30.5, true)]
    );
}
