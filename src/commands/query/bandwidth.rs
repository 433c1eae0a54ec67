//! `schoolnet query bandwidth`: a school's (or each school of a district's)
//! WAN traffic per interval and over the whole range, from the `interface`
//! measurement — raw samples or a rollup (see [`super::plan`]).
//!
//! InfluxQL, per interval (`GROUP BY time(E), school`) and for the range
//! (`GROUP BY school`), all in one request:
//! - volume, raw: `sum` over a subquery of `non_negative_difference` of the
//!   `rx_bytes`/`tx_bytes` counters per series: the increases between
//!   consecutive samples inside the range, each counted in the interval of
//!   its later sample; a decrease (the counter restarting) adds nothing.
//!   Rollups: `sum` of the stored 5-minute increases (`rx_bytes_delta`);
//! - rates: `mean`, `max` and `percentile(…, N)` of `rx_bps`/`tx_bps`
//!   (rollups: of the bucket means `rx_bps_mean`, max of `rx_bps_max`);
//! - district total: the volumes added up; the rates over the district's
//!   aggregate rate: per bucket (5 min; 1 h for `rollup_1h`; `--every` if
//!   shorter) the sum of the schools' mean rates, then mean, max and pN of
//!   those sums.

use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
use serde::{Serialize, Serializer};

use super::grid::{self, Grid};
use super::plan::{self, Data};
use super::rows::{rows, Row};
use super::scope::{self, Scope};
use super::{format, BandwidthArgs, Ctx};
use crate::cli::ReportFormat;
use crate::influx_query::Series;

/// Traffic over one interval (or the range). `None`: no data.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Stats {
    pub rx_bytes: Option<u64>,
    pub tx_bytes: Option<u64>,
    pub rx_bps_mean: Option<f64>,
    pub rx_bps_max: Option<f64>,
    /// The `--percentile` of the rate samples.
    pub rx_bps_p: Option<f64>,
    pub tx_bps_mean: Option<f64>,
    pub tx_bps_max: Option<f64>,
    pub tx_bps_p: Option<f64>,
    /// Rate samples the rates come from (raw samples, rollup points, or
    /// for a district total its aggregate buckets).
    pub samples: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Interval {
    #[serde(serialize_with = "rfc3339")]
    pub start: DateTime<Utc>,
    #[serde(serialize_with = "rfc3339")]
    pub end: DateTime<Utc>,
    #[serde(flatten)]
    pub stats: Stats,
}

#[derive(Debug, Clone, Serialize)]
pub struct SchoolReport {
    pub school: String,
    pub name: String,
    pub district: String,
    /// `device/interface` of its routers' WAN.
    pub wan: Vec<String>,
    pub intervals: Vec<Interval>,
    pub total: Stats,
}

#[derive(Debug, Clone, Serialize)]
pub struct DistrictReport {
    pub district: String,
    pub schools: usize,
    /// Bucket of the aggregate rate, seconds.
    pub rate_bucket_s: i64,
    pub intervals: Vec<Interval>,
    pub total: Stats,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub every_s: i64,
    pub percentile: f64,
    pub schools: Vec<SchoolReport>,
    pub district: Option<DistrictReport>,
}

fn rfc3339<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
}

/// `schoolnet query bandwidth …` → the text to print.
pub async fn run(args: BandwidthArgs) -> anyhow::Result<String> {
    let every = plan::parse_duration(&args.every).context("--every")?;
    let mut ctx = Ctx::new(&args.common, &args.range, "30d", Some(every))?;
    let (scope, wan) = wan_scope(&args, &mut ctx)?;
    let grid = grid::checked(ctx.from, ctx.to, every)?;
    let p = args.percentile;
    let (statements, bucket) = statements(&ctx, &scope, &wan, every, p)?;
    let results = ctx.query(&statements).await?;

    let at = Grid {
        slots: &grid,
        every,
    };
    let schools = school_reports(&scope, &wan, at, &results);
    if schools
        .iter()
        .all(|s| s.total.samples == 0 && s.total.rx_bytes.is_none())
    {
        ctx.notes.push(format!(
            "no WAN `interface` data in {} for these schools in this range \
             (is `schoolnet run` storing history in database `{}`?)",
            ctx.data().name(),
            ctx.source.db
        ));
    }
    let district = scope
        .district
        .as_ref()
        .map(|name| district_report(name, &schools, at, &results, bucket));
    let report = Report {
        every_s: every,
        percentile: p,
        schools,
        district,
    };
    ctx.print_notes_for_machines();
    match ctx.format {
        ReportFormat::Table => Ok(format::bandwidth_table(&report, &ctx)),
        ReportFormat::Csv => format::bandwidth_csv(&report),
        ReportFormat::Json => format::bandwidth_json(&report, &ctx),
    }
}

/// The schools asked for and their WAN interfaces. A school without a
/// router is an error on its own, a note within a district.
fn wan_scope(args: &BandwidthArgs, ctx: &mut Ctx) -> anyhow::Result<(Scope, scope::Wan)> {
    let scope = match (&args.school, &args.district) {
        (Some(s), _) => Scope::school(&ctx.inventory, s)?,
        (None, Some(d)) => Scope::district(&ctx.inventory, d)?,
        (None, None) => bail!("give --school ID or --district NAME"),
    };
    let wan = scope::wan(&ctx.inventory, &scope);
    if !wan.without_router.is_empty() {
        if scope.district.is_none() {
            bail!(
                "school {} has no router in the inventory ({}), so it has no WAN interface to report",
                wan.without_router[0],
                ctx.inventory_name
            );
        }
        ctx.notes.push(format!(
            "without a router in the inventory (no WAN): {}",
            wan.without_router.join(", ")
        ));
    }
    Ok((scope, wan))
}

/// The statements of one request, in the order the results are read:
/// per interval (volume, rates), for the range (volume, rates), and for a
/// district its aggregate rates (per interval, for the range); and the
/// bucket of that aggregate.
fn statements(
    ctx: &Ctx,
    scope: &Scope,
    wan: &scope::Wan,
    every: i64,
    p: f64,
) -> anyhow::Result<(Vec<String>, i64)> {
    let cond = scope.condition(&[&wan.condition]);
    let by_time = format!("time({every}s), \"school\" fill(none)");
    let mut statements = vec![
        volume(ctx, &cond, &by_time)?,
        rates(ctx, &cond, &by_time, p)?,
        volume(ctx, &cond, "\"school\"")?,
        rates(ctx, &cond, "\"school\"", p)?,
    ];
    let bucket = match ctx.data() {
        Data::Raw => every.min(5 * plan::MINUTE),
        d => d.resolution_s(),
    };
    if scope.district.is_some() {
        let outer = format!(" GROUP BY time({every}s) fill(none)");
        statements.push(district_rates(ctx, &cond, bucket, &outer, p)?);
        statements.push(district_rates(ctx, &cond, bucket, "", p)?);
    }
    Ok((statements, bucket))
}

/// Each school's intervals and total from the per-school results (0–3).
fn school_reports(
    scope: &Scope,
    wan: &scope::Wan,
    grid: Grid<'_>,
    results: &[Vec<Series>],
) -> Vec<SchoolReport> {
    let mut schools = Vec::new();
    for school in &scope.schools {
        let mut intervals: Vec<Interval> = grid
            .slots
            .iter()
            .map(|&(_, start, end)| Interval {
                start,
                end,
                stats: Stats::default(),
            })
            .collect();
        let mut total = Stats::default();
        for (i, apply) in [(0, volume_into as Apply), (1, rates_into)] {
            for (t, row) in rows(&results[i], &school.id) {
                if let Some(iv) = t.and_then(|t| intervals.get_mut(grid.index(t))) {
                    apply(&mut iv.stats, &row);
                }
            }
        }
        for (i, apply) in [(2, volume_into as Apply), (3, rates_into)] {
            for (_, row) in rows(&results[i], &school.id) {
                apply(&mut total, &row);
            }
        }
        schools.push(SchoolReport {
            school: school.id.to_string(),
            name: school.name.to_string(),
            district: school.district.to_string(),
            wan: wan.by_school.get(&*school.id).cloned().unwrap_or_default(),
            intervals,
            total,
        });
    }
    schools
}

/// The district's volumes (its schools' added up) and aggregate rates
/// (results 4 and 5).
fn district_report(
    name: &str,
    schools: &[SchoolReport],
    grid: Grid<'_>,
    results: &[Vec<Series>],
    bucket: i64,
) -> DistrictReport {
    let mut intervals: Vec<Interval> = grid
        .slots
        .iter()
        .enumerate()
        .map(|(i, &(_, start, end))| Interval {
            start,
            end,
            stats: add_volumes(schools.iter().map(|s| &s.intervals[i].stats)),
        })
        .collect();
    for (t, row) in rows(&results[4], "") {
        if let Some(iv) = t.and_then(|t| intervals.get_mut(grid.index(t))) {
            rates_into(&mut iv.stats, &row);
        }
    }
    let mut total = add_volumes(schools.iter().map(|s| &s.total));
    for (_, row) in rows(&results[5], "") {
        rates_into(&mut total, &row);
    }
    DistrictReport {
        district: name.to_owned(),
        schools: schools.len(),
        rate_bucket_s: bucket,
        intervals,
        total,
    }
}

type Apply = fn(&mut Stats, &Row<'_>);

/// The volume statement (see the module docs).
pub(super) fn volume(ctx: &Ctx, cond: &str, group: &str) -> anyhow::Result<String> {
    let m = ctx.from_clause("interface");
    let time = ctx.time_condition()?;
    Ok(match ctx.data() {
        Data::Raw => format!(
            "SELECT sum(\"rx\") AS \"rx_bytes\", sum(\"tx\") AS \"tx_bytes\" FROM \
             (SELECT non_negative_difference(\"rx_bytes\") AS \"rx\", \
             non_negative_difference(\"tx_bytes\") AS \"tx\" FROM {m} WHERE {cond} AND {time} \
             GROUP BY *) WHERE {time} GROUP BY {group}"
        ),
        _ => format!(
            "SELECT sum(\"rx_bytes_delta\") AS \"rx_bytes\", sum(\"tx_bytes_delta\") AS \"tx_bytes\" \
             FROM {m} WHERE {cond} AND {time} GROUP BY {group}"
        ),
    })
}

/// The rate fields: (rx samples, rx for max, tx samples, tx for max).
fn rate_fields(data: Data) -> [&'static str; 4] {
    match data {
        Data::Raw => ["rx_bps", "rx_bps", "tx_bps", "tx_bps"],
        _ => ["rx_bps_mean", "rx_bps_max", "tx_bps_mean", "tx_bps_max"],
    }
}

/// `mean`, `max`, `percentile` and `count` of `fields` (named like [`rate_fields`]).
fn stats_select(f: [&str; 4], p: f64) -> String {
    format!(
        "SELECT mean(\"{rx}\") AS \"rx_mean\", max(\"{rxm}\") AS \"rx_max\", \
         percentile(\"{rx}\", {p}) AS \"rx_p\", mean(\"{tx}\") AS \"tx_mean\", \
         max(\"{txm}\") AS \"tx_max\", percentile(\"{tx}\", {p}) AS \"tx_p\", \
         count(\"{rx}\") AS \"samples\"",
        rx = f[0],
        rxm = f[1],
        tx = f[2],
        txm = f[3]
    )
}

fn rates(ctx: &Ctx, cond: &str, group: &str, p: f64) -> anyhow::Result<String> {
    Ok(format!(
        "{} FROM {} WHERE {cond} AND {} GROUP BY {group}",
        stats_select(rate_fields(ctx.data()), p),
        ctx.from_clause("interface"),
        ctx.time_condition()?
    ))
}

/// The district's aggregate rate: per `bucket` the sum over its schools of
/// their mean rate; then mean, max and pN of those sums (`outer`: grouping).
fn district_rates(
    ctx: &Ctx,
    cond: &str,
    bucket: i64,
    outer: &str,
    p: f64,
) -> anyhow::Result<String> {
    let [rx, _, tx, _] = rate_fields(ctx.data());
    let time = ctx.time_condition()?;
    Ok(format!(
        "{} FROM (SELECT sum(\"rx\") AS \"rx\", sum(\"tx\") AS \"tx\" FROM \
         (SELECT mean(\"{rx}\") AS \"rx\", mean(\"{tx}\") AS \"tx\" FROM {m} WHERE {cond} AND {time} \
         GROUP BY time({bucket}s), \"school\" fill(none)) WHERE {time} GROUP BY time({bucket}s) fill(none)) \
         WHERE {time}{outer}",
        stats_select(["rx", "rx", "tx", "tx"], p),
        m = ctx.from_clause("interface"),
    ))
}

fn volume_into(s: &mut Stats, row: &Row<'_>) {
    s.rx_bytes = row.u64("rx_bytes");
    s.tx_bytes = row.u64("tx_bytes");
}

fn rates_into(s: &mut Stats, row: &Row<'_>) {
    s.rx_bps_mean = row.f64("rx_mean");
    s.rx_bps_max = row.f64("rx_max");
    s.rx_bps_p = row.f64("rx_p");
    s.tx_bps_mean = row.f64("tx_mean");
    s.tx_bps_max = row.f64("tx_max");
    s.tx_bps_p = row.f64("tx_p");
    s.samples = row.u64("samples").unwrap_or(0);
}

/// Volumes added up (`None` when none has any); rates left empty.
fn add_volumes<'a>(stats: impl Iterator<Item = &'a Stats>) -> Stats {
    let mut out = Stats::default();
    for s in stats {
        for (sum, v) in [
            (&mut out.rx_bytes, s.rx_bytes),
            (&mut out.tx_bytes, s.tx_bytes),
        ] {
            if let Some(v) = v {
                *sum = Some(sum.unwrap_or(0) + v);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volumes_add_up_and_missing_ones_stay_missing() {
        let a = Stats {
            rx_bytes: Some(5),
            ..Stats::default()
        };
        let b = Stats {
            rx_bytes: Some(7),
            tx_bytes: Some(1),
            ..Stats::default()
        };
        let s = add_volumes([&a, &b].into_iter());
        assert_eq!((s.rx_bytes, s.tx_bytes), (Some(12), Some(1)));
        assert_eq!(add_volumes([Stats::default()].iter()).rx_bytes, None);
    }
}
