//! Planning a historical query, pure (the caller passes `now`): the window,
//! the interval length, and which data answers it — the raw samples or one
//! of the rollups that `deploy/influxdb/influxdb1-setup.iql` maintains.
//!
//! The `--source auto` rule (also in `schoolnet query --help` and the
//! README, "Retention"), with `age` = now − start of the range and `E` =
//! `--every` (for `top`: the length of the range):
//! 1. `raw`       if age ≤ 30 d and E < 1 h;
//! 2. `rollup_5m` if age ≤ 395 d and E is a multiple of 5 min;
//! 3. `rollup_1h` if age ≤ 1825 d and E is a multiple of 1 h;
//! 4. `raw`       if age ≤ 30 d (an E that no rollup can add up to);
//! 5. otherwise an error saying what is kept how long.
//!
//! With a rollup, the range is widened to its buckets (start rounded down,
//! end rounded up) so that no bucket is half counted.

use chrono::{DateTime, TimeZone, Utc};

pub use crate::commands::args::parse_duration;

pub const MINUTE: i64 = 60;
pub const HOUR: i64 = 3600;
pub const DAY: i64 = 86_400;

/// Where the numbers come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Data {
    /// The samples as the collector wrote them (routers: every ~10 s).
    Raw,
    /// `rollup_5m`: one point per series and 5 minutes.
    Rollup5m,
    /// `rollup_1h`: one point per series and hour.
    Rollup1h,
}

/// `--source`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SourceArg {
    /// Pick by the range's age and --every (see --help).
    Auto,
    /// The raw samples (retention policy `raw`, or the collector's).
    Raw,
    /// The 5-minute rollups (retention policy `rollup_5m`).
    #[value(name = "5m")]
    Rollup5m,
    /// The hourly rollups (retention policy `rollup_1h`).
    #[value(name = "1h")]
    Rollup1h,
}

impl Data {
    /// The name shown in the output (and the rollups' retention policy).
    pub fn name(self) -> &'static str {
        match self {
            Data::Raw => "raw",
            Data::Rollup5m => "rollup_5m",
            Data::Rollup1h => "rollup_1h",
        }
    }

    /// Bucket length in seconds; 0 for raw samples.
    pub fn resolution_s(self) -> i64 {
        match self {
            Data::Raw => 0,
            Data::Rollup5m => 5 * MINUTE,
            Data::Rollup1h => HOUR,
        }
    }

    /// How long the deployed retention policy keeps it, in seconds.
    pub fn kept_s(self) -> i64 {
        match self {
            Data::Raw => 30 * DAY,
            Data::Rollup5m => 395 * DAY,
            Data::Rollup1h => 1825 * DAY,
        }
    }

    /// What one rate sample is, for the output.
    pub fn rate_samples(self) -> &'static str {
        match self {
            Data::Raw => "the raw rate samples (one per router report, ~10 s)",
            Data::Rollup5m => "the 5-minute mean rates",
            Data::Rollup1h => "the hourly mean rates",
        }
    }
}

/// The chosen data and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    pub data: Data,
    pub why: String,
}

/// Applies `--source` (see the module docs). `every_s` is `--every`, or the
/// range's length when `aligned` is false (a single interval: `top`).
pub fn choose(arg: SourceArg, age_s: i64, every_s: i64, aligned: bool) -> anyhow::Result<Choice> {
    let fits = |d: Data| {
        let r = d.resolution_s();
        r == 0 || !aligned || (every_s >= r && every_s % r == 0)
    };
    let covers = |d: Data| age_s <= d.kept_s();
    let days = |s: i64| format!("{} days", s / DAY);
    let explicit = |d: Data| -> anyhow::Result<Choice> {
        if !fits(d) {
            anyhow::bail!(
                "--source {}: --every {} is not a multiple of its {} buckets",
                d.name(),
                human_duration(every_s),
                human_duration(d.resolution_s())
            );
        }
        Ok(Choice {
            data: d,
            why: "--source".into(),
        })
    };
    match arg {
        SourceArg::Raw => return explicit(Data::Raw),
        SourceArg::Rollup5m => return explicit(Data::Rollup5m),
        SourceArg::Rollup1h => return explicit(Data::Rollup1h),
        SourceArg::Auto => {}
    }
    let what = if aligned { "--every" } else { "the range" };
    let pick = |data: Data, why: String| Ok(Choice { data, why });
    if covers(Data::Raw) && every_s < HOUR {
        return pick(
            Data::Raw,
            format!("auto: starts within raw's 30 days and {what} is under 1h"),
        );
    }
    if covers(Data::Rollup5m) && fits(Data::Rollup5m) {
        let why = if covers(Data::Raw) {
            format!("auto: {what} is 1h or more")
        } else {
            format!("auto: starts {} ago, raw keeps 30 days", days(age_s))
        };
        return pick(Data::Rollup5m, why);
    }
    if covers(Data::Rollup1h) && fits(Data::Rollup1h) {
        return pick(
            Data::Rollup1h,
            format!("auto: starts {} ago, rollup_5m keeps 395 days", days(age_s)),
        );
    }
    if covers(Data::Raw) {
        return pick(
            Data::Raw,
            format!(
                "auto: --every {} is no multiple of 5m",
                human_duration(every_s)
            ),
        );
    }
    if !covers(Data::Rollup1h) {
        anyhow::bail!(
            "the range starts {} ago; nothing is kept that long (raw 30 days, rollup_5m 395 days, \
             rollup_1h 1825 days)",
            days(age_s)
        );
    }
    anyhow::bail!(
        "--every {}: the range starts {} ago, beyond raw's 30 days, and the rollups only add up \
         to multiples of 5m (kept 395 days) or 1h (kept 1825 days)",
        human_duration(every_s),
        days(age_s)
    )
}

/// Seconds → the shortest `1d`, `5m`, `1h30m`, `45s`.
pub fn human_duration(s: i64) -> String {
    if s == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    let mut rest = s;
    for (unit, name) in [(DAY, "d"), (HOUR, "h"), (MINUTE, "m"), (1, "s")] {
        if rest >= unit {
            out.push_str(&format!("{}{name}", rest / unit));
            rest %= unit;
        }
    }
    out
}

/// `[from, to)` widened to whole buckets of `res` seconds (0: unchanged).
pub fn align(from: DateTime<Utc>, to: DateTime<Utc>, res: i64) -> (DateTime<Utc>, DateTime<Utc>) {
    if res == 0 {
        return (from, to);
    }
    let at = |s: i64| Utc.timestamp_opt(s, 0).single().unwrap_or(from);
    let f = from.timestamp().div_euclid(res) * res;
    let t = to.timestamp() + (to.timestamp_subsec_nanos() > 0) as i64;
    let t = (t + res - 1).div_euclid(res) * res;
    (at(f), at(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auto(age_days: i64, every: i64) -> anyhow::Result<Data> {
        choose(SourceArg::Auto, age_days * DAY, every, true).map(|c| c.data)
    }

    #[test]
    fn auto_picks_the_finest_data_that_covers_the_range() {
        assert_eq!(auto(7, 10 * MINUTE).unwrap(), Data::Raw);
        assert_eq!(auto(30, 59 * MINUTE).unwrap(), Data::Raw);
        assert_eq!(auto(7, DAY).unwrap(), Data::Rollup5m);
        assert_eq!(auto(45, HOUR).unwrap(), Data::Rollup5m);
        assert_eq!(auto(395, DAY).unwrap(), Data::Rollup5m);
        assert_eq!(auto(396, DAY).unwrap(), Data::Rollup1h);
        assert_eq!(auto(20, 7 * MINUTE + 3 * HOUR).unwrap(), Data::Raw);
        let e = auto(45, 10 * MINUTE + 1).unwrap_err().to_string();
        assert!(e.contains("beyond raw's 30 days"), "{e}");
        let e = auto(1900, DAY).unwrap_err().to_string();
        assert!(e.contains("nothing is kept that long"), "{e}");
        // top: one interval, no alignment needed
        let c = choose(SourceArg::Auto, 7 * DAY, 7 * DAY + 17, false).unwrap();
        assert_eq!(c.data, Data::Rollup5m);
    }

    #[test]
    fn an_explicit_rollup_needs_a_multiple_of_its_buckets() {
        assert!(choose(SourceArg::Rollup1h, 0, 30 * MINUTE, true).is_err());
        assert_eq!(
            choose(SourceArg::Rollup5m, 0, 15 * MINUTE, true)
                .unwrap()
                .data,
            Data::Rollup5m
        );
        assert_eq!(
            choose(SourceArg::Raw, 400 * DAY, DAY, true).unwrap().data,
            Data::Raw
        );
    }

    #[test]
    fn durations_print() {
        assert_eq!(human_duration(DAY), "1d");
        assert_eq!(human_duration(90 * MINUTE), "1h30m");
        assert_eq!(human_duration(45), "45s");
    }

    #[test]
    fn alignment_widens_to_whole_buckets() {
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 9, 7, 30).unwrap();
        let (f, t) = align(now - chrono::Duration::hours(2), now, 300);
        assert_eq!(f, Utc.with_ymd_and_hms(2026, 11, 23, 7, 5, 0).unwrap());
        assert_eq!(t, Utc.with_ymd_and_hms(2026, 11, 23, 9, 10, 0).unwrap());
    }
}
