use super::*;

const S: i64 = 1_000_000_000;
const GBIT_BYTES: f64 = 1e9 / 8.0;

fn never(_: i64) -> bool {
    false
}

#[test]
fn first_sample_starts_at_zero_without_rate() {
    let (_, step) = CounterState::start(123_456, 0);
    assert_eq!(step, Step::First { monotonic: 0 });
}

#[test]
fn normal_increase_gives_rate() {
    let (mut c, _) = CounterState::start(1000, 0);
    let step = c.advance(2000, 10 * S, CounterWidth::Bits64, GBIT_BYTES, never);
    assert_eq!(
        step,
        Step::Advanced {
            monotonic: 1000,
            rate: 100.0,
            wrapped: false
        }
    );
}

#[test]
fn wrap_32_bit_is_corrected() {
    let max = u64::from(u32::MAX);
    let (mut c, _) = CounterState::start(max - 99, 0);
    // 100 bytes to reach the wrap, 400 after it.
    let step = c.advance(400, 10 * S, CounterWidth::Bits32, GBIT_BYTES, never);
    assert_eq!(
        step,
        Step::Advanced {
            monotonic: 500,
            rate: 50.0,
            wrapped: true
        }
    );
    // And the series goes on from the new raw value.
    let step = c.advance(1400, 20 * S, CounterWidth::Bits32, GBIT_BYTES, never);
    assert!(matches!(
        step,
        Step::Advanced {
            monotonic: 1500,
            ..
        }
    ));
}

#[test]
fn wrap_32_bit_at_line_rate_is_still_a_wrap() {
    // 1 Gbit/s for 30 s is 3.75 GB: nearly a full 32-bit turn.
    let start = 4_000_000_000u64;
    let delta = 3_750_000_000u64;
    let raw = (start + delta) % (1 << 32);
    let (mut c, _) = CounterState::start(start, 0);
    let step = c.advance(raw, 30 * S, CounterWidth::Bits32, 1.25 * GBIT_BYTES, never);
    assert_eq!(
        step,
        Step::Advanced {
            monotonic: delta,
            rate: delta as f64 / 30.0,
            wrapped: true
        }
    );
}

#[test]
fn wrap_64_bit_is_corrected() {
    let (mut c, _) = CounterState::start(u64::MAX - 9, 0);
    let step = c.advance(90, S, CounterWidth::Bits64, GBIT_BYTES, never);
    assert_eq!(
        step,
        Step::Advanced {
            monotonic: 100,
            rate: 100.0,
            wrapped: true
        }
    );
}

#[test]
fn implausible_wrap_is_a_reset_once_the_next_sample_confirms_it() {
    // A 64-bit counter dropping from 5e9 to 10 would need ~2^64 bytes: a
    // reboot (no uptime seen) or a damaged value; the counter holds still.
    let (mut c, _) = CounterState::start(5_000_000_000, 0);
    let step = c.advance(10, 10 * S, CounterWidth::Bits64, GBIT_BYTES, never);
    assert_eq!(step, Step::Suspect { monotonic: 0 });
    // The next sample continues from 10: it was a reset, and the 10 bytes
    // counted since it are credited with the 1000 of this interval.
    let step = c.advance(1010, 20 * S, CounterWidth::Bits64, GBIT_BYTES, never);
    assert!(matches!(step, Step::Advanced { monotonic: 1010, rate, .. } if rate == 100.0));
}

#[test]
fn reboot_makes_a_plausible_wrap_a_reset() {
    // Same numbers as a 32-bit wrap, but the uptime went down in between.
    let max = u64::from(u32::MAX);
    let (mut c, _) = CounterState::start(max - 99, 0);
    let step = c.advance(400, 10 * S, CounterWidth::Bits32, GBIT_BYTES, |_| true);
    assert_eq!(step, Step::Reset { monotonic: 400 });
}

#[test]
fn reboot_with_higher_value_is_still_a_reset() {
    let (mut c, _) = CounterState::start(100, 0);
    let step = c.advance(5000, 10 * S, CounterWidth::Bits64, GBIT_BYTES, |_| true);
    assert_eq!(step, Step::Reset { monotonic: 5000 });
}

#[test]
fn out_of_order_and_duplicates() {
    let (mut c, _) = CounterState::start(100, 10 * S);
    assert_eq!(
        c.advance(50, 5 * S, CounterWidth::Bits64, GBIT_BYTES, never),
        Step::OutOfOrder
    );
    assert_eq!(
        c.advance(100, 10 * S, CounterWidth::Bits64, GBIT_BYTES, never),
        Step::Duplicate { monotonic: 0 }
    );
    assert_eq!(
        c.advance(150, 10 * S, CounterWidth::Bits64, GBIT_BYTES, never),
        Step::OutOfOrder
    );
    // The rejected samples did not disturb the series.
    assert!(matches!(
        c.advance(200, 20 * S, CounterWidth::Bits64, GBIT_BYTES, never),
        Step::Advanced { monotonic: 100, .. }
    ));
}

#[test]
fn integrated_rates_rebuild_a_counter() {
    let mut s = IntegratedState::start(0);
    let adv = |monotonic, rate| Step::Advanced {
        monotonic,
        rate,
        wrapped: false,
    };
    assert_eq!(s.advance(100.0, 10 * S, GBIT_BYTES), adv(1000, 100.0));
    assert_eq!(s.advance(50.0, 20 * S, GBIT_BYTES), adv(1500, 50.0));
    assert_eq!(s.advance(50.0, 15 * S, GBIT_BYTES), Step::OutOfOrder);
}

/// A counter that has run for a while: 12.3 TB.
const BIG: u64 = 12_345_678_901_234;
/// Its true increase per 10 s in these tests: 100 Mbit/s.
const STEP: u64 = 125_000_000;

fn adv(c: &mut CounterState, raw: u64, t: i64) -> Step {
    c.advance(raw, t, CounterWidth::Bits64, 10.0 * GBIT_BYTES, never)
}

/// Digits of `v` cut after `keep` of them, as a truncated payload shows it.
fn cut(v: u64, keep: usize) -> u64 {
    v.to_string()[..keep].parse().unwrap()
}

#[test]
fn truncated_smaller_then_good_continues_from_the_trusted_value() {
    // Good, cut short (looks like a reset), good: the field's order.
    let (mut c, _) = CounterState::start(BIG, 0);
    let damaged = cut(BIG + STEP, 4);
    assert_eq!(adv(&mut c, damaged, 10 * S), Step::Suspect { monotonic: 0 });
    // Relative to the damaged value this is an implausible increase, but it
    // continues plausibly from the last trusted one: the counter gets the
    // true traffic of both intervals, not the doubled counter.
    assert_eq!(
        adv(&mut c, BIG + 2 * STEP, 20 * S),
        Step::Advanced {
            monotonic: 2 * STEP,
            rate: (2 * STEP) as f64 / 20.0,
            wrapped: false
        }
    );
    assert!(matches!(
        adv(&mut c, BIG + 3 * STEP, 30 * S),
        Step::Advanced { monotonic, .. } if monotonic == 3 * STEP
    ));
}

#[test]
fn truncated_value_above_the_previous_one_is_an_honest_smaller_step() {
    // A counter that grew a digit: the cut value still lies between the two
    // true ones, so the two steps add up to the truth.
    let (mut c, _) = CounterState::start(99_999, 0);
    let truth = 100_000_123;
    let damaged = cut(truth, 7);
    assert!(damaged > 99_999);
    assert!(matches!(
        adv(&mut c, damaged, 10 * S),
        Step::Advanced { .. }
    ));
    assert!(matches!(
        adv(&mut c, truth + 10, 20 * S),
        Step::Advanced { monotonic, .. } if monotonic == truth + 10 - 99_999
    ));
}

#[test]
fn implausible_increase_then_good_is_skipped() {
    // Larger-than-true damage first: a value grown by digits.
    let (mut c, _) = CounterState::start(BIG, 0);
    let bogus = (BIG + STEP) * 10;
    let Step::Implausible { rate } = adv(&mut c, bogus, 10 * S) else {
        panic!("not refused")
    };
    assert!(rate > 10.0 * GBIT_BYTES);
    // The good value is a decrease from the bogus one, but continues from
    // the trusted one.
    assert_eq!(
        adv(&mut c, BIG + 2 * STEP, 20 * S),
        Step::Advanced {
            monotonic: 2 * STEP,
            rate: (2 * STEP) as f64 / 20.0,
            wrapped: false
        }
    );
}

#[test]
fn implausible_increase_confirmed_is_a_rebase_without_the_jump() {
    // The first value seen was the damaged one (cut short): every good one
    // after it looks like an implausible increase.
    let (mut c, _) = CounterState::start(cut(BIG, 5), 0);
    assert!(matches!(adv(&mut c, BIG, 10 * S), Step::Implausible { .. }));
    // The next continues from the new value: it becomes the base, and the
    // bogus jump is never added.
    assert_eq!(
        adv(&mut c, BIG + STEP, 20 * S),
        Step::Advanced {
            monotonic: STEP,
            rate: STEP as f64 / 10.0,
            wrapped: false
        }
    );
}

#[test]
fn two_damaged_values_in_a_row_stay_within_the_bound() {
    let max = 10.0 * GBIT_BYTES;
    let (mut c, _) = CounterState::start(BIG, 0);
    assert!(matches!(
        adv(&mut c, cut(BIG + STEP, 3), 10 * S),
        Step::Suspect { monotonic: 0 }
    ));
    // A second cut value that looks like a counter counting up after a
    // reset is indistinguishable from one; what it may add is bounded by
    // the time since the last trusted sample.
    let step = adv(&mut c, cut(BIG + 2 * STEP, 9), 20 * S);
    let Step::Advanced {
        monotonic, rate, ..
    } = step
    else {
        panic!("{step:?}")
    };
    assert!(rate <= max && monotonic as f64 <= max * 20.0, "{step:?}");
    // The good values after that jump from the "reset" counter: refused,
    // then the series continues from them without the jump.
    assert!(matches!(
        adv(&mut c, BIG + 3 * STEP, 30 * S),
        Step::Implausible { .. }
    ));
    assert_eq!(
        adv(&mut c, BIG + 4 * STEP, 40 * S),
        Step::Advanced {
            monotonic: monotonic + STEP,
            rate: STEP as f64 / 10.0,
            wrapped: false
        }
    );
}

#[test]
fn reset_value_beyond_the_bound_is_not_credited() {
    // After a reboot the counter restarted; it cannot have counted more
    // than max_rate × interval since.
    let (mut c, _) = CounterState::start(100, 0);
    let step = c.advance(BIG, 10 * S, CounterWidth::Bits64, GBIT_BYTES, |_| true);
    assert!(matches!(step, Step::Implausible { .. }), "{step:?}");
    // The series goes on from the new value.
    let step = c.advance(BIG + 1000, 20 * S, CounterWidth::Bits64, GBIT_BYTES, never);
    assert!(
        matches!(
            step,
            Step::Advanced {
                monotonic: 1000,
                ..
            }
        ),
        "{step:?}"
    );
}

#[test]
fn every_counter_kind_is_held_to_its_bound() {
    // Packets at 14.88 Mpps (10 Gbit/s of minimum frames) pass; ten times
    // that does not. The bound is the caller's: same logic for every kind.
    let pps = 10e9 / (84.0 * 8.0);
    for (kind, max) in [("bytes", 10.0 * GBIT_BYTES), ("packets/errors/drops", pps)] {
        let (mut c, _) = CounterState::start(BIG, 0);
        let ok = (max * 10.0) as u64;
        let step = c.advance(BIG + ok, 10 * S, CounterWidth::Bits64, max, never);
        assert!(matches!(step, Step::Advanced { .. }), "{kind}: {step:?}");
        let step = c.advance(BIG + ok * 11, 20 * S, CounterWidth::Bits64, max, never);
        assert!(matches!(step, Step::Implausible { .. }), "{kind}: {step:?}");
    }
}

#[test]
fn integrated_rate_beyond_the_bound_is_not_integrated() {
    let mut s = IntegratedState::start(0);
    assert!(matches!(
        s.advance(100.0, 10 * S, GBIT_BYTES),
        Step::Advanced {
            monotonic: 1000,
            ..
        }
    ));
    // "1250.5" grown to "125050000000" by damage: skipped, interval and all.
    assert_eq!(
        s.advance(125e9, 20 * S, GBIT_BYTES),
        Step::Implausible { rate: 125e9 }
    );
    assert!(matches!(
        s.advance(100.0, 30 * S, GBIT_BYTES),
        Step::Advanced {
            monotonic: 2000,
            ..
        }
    ));
}

proptest::proptest! {
    /// A true counter growing at any plausible rate, sampled every few
    /// seconds, with single samples cut short (any number of digits kept)
    /// between good ones: every rate stays within the bound, the counter
    /// never decreases, and at each good sample it equals the true traffic
    /// since the first sample: damage never adds to it.
    #[test]
    fn isolated_truncations_never_move_the_counter_beyond_the_truth(
        start in 0u64..1u64 << 50,
        steps in proptest::collection::vec(
            (1i64..60, 0.0f64..=1.0, proptest::option::of(0usize..20)),
            1..30,
        ),
    ) {
        let max = 10.0 * GBIT_BYTES;
        let (mut c, _) = CounterState::start(start, 0);
        let (mut truth, mut t, mut last_mono) = (start, 0i64, 0u64);
        let mut previous_damaged = false;
        for (dt_s, load, damage) in steps {
            t += dt_s * S;
            truth += (max * load * dt_s as f64) as u64;
            let digits = truth.to_string().len();
            let damaged = damage.filter(|k| !previous_damaged && *k < digits);
            let raw = damaged.map_or(truth, |k| if k == 0 { 0 } else { cut(truth, k) });
            let step = c.advance(raw, t, CounterWidth::Bits64, max, never);
            let mono = match step {
                Step::Advanced { monotonic, rate, .. } => {
                    proptest::prop_assert!(rate <= max, "{step:?}");
                    Some(monotonic)
                }
                Step::Suspect { monotonic } => Some(monotonic),
                Step::Implausible { .. } => None,
                other => panic!("{other:?}"),
            };
            if let Some(m) = mono {
                proptest::prop_assert!(m >= last_mono);
                proptest::prop_assert!(m <= truth - start, "{m} > {}", truth - start);
                last_mono = m;
            }
            if damaged.is_none() {
                proptest::prop_assert_eq!(mono, Some(truth - start), "good sample");
            }
            previous_damaged = damaged.is_some();
        }
    }
}

#[test]
fn counter_state_stays_small() {
    // One per counter series: ~720,000 at 30,000 schools. The doubt state
    // costs 24 bytes a series (the whole state was 24 before it).
    assert_eq!(std::mem::size_of::<CounterState>(), 48);
}

#[test]
fn a_cut_32_bit_value_that_looks_like_a_wrap_costs_one_modulus() {
    // Known limit: at 10 Gbit/s a 32-bit counter can wrap within 3.4 s, so
    // over 10 s any decrease is a plausible wrap, a cut value included.
    // The counter then gains one modulus (4.29 GB) it should not, every
    // rate staying within the bound. (Telegraf lines cut short are caught
    // by their lost timestamp; this is collectd `StoreRates false` or a
    // bare value on a 32-bit device.)
    let w = CounterWidth::Bits32;
    let max = 10.0 * GBIT_BYTES;
    let truth = [4_000_000_000u64, 4_012_500_000, 4_025_000_000];
    let (mut c, _) = CounterState::start(truth[0], 0);
    let step = c.advance(cut(truth[1], 9), 10 * S, w, max, never);
    assert!(matches!(step, Step::Advanced { wrapped: true, rate, .. } if rate <= max));
    let Step::Advanced {
        monotonic, rate, ..
    } = c.advance(truth[2], 20 * S, w, max, never)
    else {
        panic!()
    };
    assert!(rate <= max);
    let overcount = monotonic - (truth[2] - truth[0]);
    assert_eq!(u128::from(overcount), w.modulus());
}
