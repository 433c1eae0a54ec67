//! `schoolnet query top`: schools ranked over a range by
//! - `volume`: WAN bytes in + out (the same volume as `bandwidth`);
//! - `utilization`: the `--percentile` (then the mean) of the WAN's
//!   `utilization` samples (rate / contracted uplink; rollups: of the bucket
//!   means `utilization_mean`, max of `utilization_max`);
//! - `loss`: the mean of `probe.loss_ratio` over all probes of the school
//!   (rollups: of `loss_ratio_mean`).
//!
//! One InfluxQL statement grouped by `school`, then the table, CSV or JSON;
//! schools outside the scope's inventory are left out (named in a note).
//! Ties go to the lower id.

use std::collections::BTreeSet;

use serde::Serialize;

use super::format::{bytes, header, meta, notes, p_label, percent, to_json, UNITS_NOTE};
use super::plan::Data;
use super::rows::rows;
use super::scope::{self, Scope};
use super::{Ctx, TopArgs};
use crate::cli::ReportFormat;
use crate::influx_query::{render, Series};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum By {
    Volume,
    Utilization,
    Loss,
}

/// One school's numbers; only those of `--by` are filled.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TopRow {
    pub rank: usize,
    pub school: String,
    pub name: String,
    pub district: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rx_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tx_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// The `--percentile` (utilization only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub samples: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TopReport {
    pub by: By,
    pub percentile: f64,
    /// Schools of the scope (ranked ones are those with data).
    pub schools_in_scope: usize,
    pub rows: Vec<TopRow>,
}

/// `schoolnet query top …` → the text to print.
pub async fn run(args: TopArgs) -> anyhow::Result<String> {
    let mut ctx = Ctx::new(&args.common, &args.range, "7d", None)?;
    let scope = match &args.district {
        Some(d) => Scope::district(&ctx.inventory, d)?,
        None => Scope::all(&ctx.inventory),
    };
    let p = args.percentile;
    let statement = statement(&ctx, args.by, &scope, p)?;
    let results = ctx.query(&[statement]).await?;

    let (mut out, outside) = school_rows(&ctx, args.by, &scope, &results[0]);
    if !outside.is_empty() {
        let list: Vec<String> = outside.into_iter().collect();
        ctx.notes.push(format!(
            "data of {} school(s) not in the inventory is not ranked: {}",
            list.len(),
            list.join(", ")
        ));
    }
    rank(&mut out, args.by, args.n);
    if out.is_empty() {
        ctx.notes.push(format!(
            "no data in {} for this range (is `schoolnet run` storing history in database `{}`?)",
            ctx.data().name(),
            ctx.source.db
        ));
    }
    let report = TopReport {
        by: args.by,
        percentile: p,
        schools_in_scope: scope.schools.len(),
        rows: out,
    };
    ctx.print_notes_for_machines();
    match ctx.format {
        ReportFormat::Table => Ok(top_table(&report, &ctx, scope.district.as_deref())),
        ReportFormat::Csv => top_csv(&report),
        ReportFormat::Json => top_json(&report, &ctx),
    }
}

/// The one statement, grouped by `school`, that `by` ranks on.
fn statement(ctx: &Ctx, by: By, scope: &Scope, p: f64) -> anyhow::Result<String> {
    let wan = scope::wan(&ctx.inventory, scope);
    let time = ctx.time_condition()?;
    let raw = ctx.data() == Data::Raw;
    Ok(match by {
        By::Volume => {
            // The same volume statement as `bandwidth` (one interval).
            super::bandwidth::volume(ctx, &scope.condition(&[&wan.condition]), "\"school\"")?
        }
        By::Utilization => {
            let (u, umax) = if raw {
                ("utilization", "utilization")
            } else {
                ("utilization_mean", "utilization_max")
            };
            format!(
                "SELECT mean(\"{u}\") AS \"mean\", max(\"{umax}\") AS \"max\", \
                 percentile(\"{u}\", {p}) AS \"p\", count(\"{u}\") AS \"samples\" FROM {m} \
                 WHERE {cond} AND {time} GROUP BY \"school\"",
                m = ctx.from_clause("interface"),
                cond = scope.condition(&[&wan.condition]),
            )
        }
        By::Loss => {
            let (l, lmax) = if raw {
                ("loss_ratio", "loss_ratio")
            } else {
                ("loss_ratio_mean", "loss_ratio_max")
            };
            format!(
                "SELECT mean(\"{l}\") AS \"mean\", max(\"{lmax}\") AS \"max\", \
                 count(\"{l}\") AS \"samples\" FROM {m} WHERE {cond} GROUP BY \"school\"",
                m = ctx.from_clause("probe"),
                cond = scope.condition(&[&time]),
            )
        }
    })
}

/// A row per school of the scope in the answer (unranked), and the ids of
/// schools in the answer but not in the scope's inventory.
fn school_rows(
    ctx: &Ctx,
    by: By,
    scope: &Scope,
    answer: &[Series],
) -> (Vec<TopRow>, BTreeSet<String>) {
    let in_scope: BTreeSet<&str> = scope.schools.iter().map(|s| &*s.id).collect();
    let mut outside = BTreeSet::new();
    let mut out = Vec::new();
    for series in answer {
        let id = series.tag("school").unwrap_or_default();
        if !in_scope.contains(id) {
            outside.insert(id.to_string());
            continue;
        }
        let school = ctx.inventory.school(id).expect("in scope");
        let one = [series.clone()];
        for (_, row) in rows(&one, "") {
            let mut r = TopRow {
                school: id.to_string(),
                name: school.name.to_string(),
                district: school.district.to_string(),
                ..TopRow::default()
            };
            match by {
                By::Volume => {
                    r.rx_bytes = row.u64("rx_bytes");
                    r.tx_bytes = row.u64("tx_bytes");
                    r.total_bytes = match (r.rx_bytes, r.tx_bytes) {
                        (None, None) => None,
                        (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
                    };
                }
                By::Utilization | By::Loss => {
                    r.mean = row.f64("mean");
                    r.max = row.f64("max");
                    r.p = row.f64("p");
                    r.samples = row.u64("samples");
                }
            }
            out.push(r);
        }
    }
    (out, outside)
}

/// Sorts by `by` (highest first, ties to the lower id), keeps the top `n`
/// and numbers them.
fn rank(out: &mut Vec<TopRow>, by: By, n: usize) {
    let key = |r: &TopRow| -> (f64, f64) {
        match by {
            By::Volume => (r.total_bytes.unwrap_or(0) as f64, 0.0),
            By::Utilization => (r.p.unwrap_or(f64::MIN), r.mean.unwrap_or(f64::MIN)),
            By::Loss => (r.mean.unwrap_or(f64::MIN), r.max.unwrap_or(f64::MIN)),
        }
    };
    out.sort_by(|a, b| {
        key(b)
            .partial_cmp(&key(a))
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| a.school.cmp(&b.school))
    });
    out.truncate(n);
    for (i, r) in out.iter_mut().enumerate() {
        r.rank = i + 1;
    }
}

fn top_table(report: &TopReport, ctx: &Ctx, district: Option<&str>) -> String {
    let mut out = String::new();
    let what = match report.by {
        By::Volume => "WAN volume (in + out)".to_string(),
        By::Utilization => format!(
            "WAN utilization ({}, then mean)",
            p_label(report.percentile)
        ),
        By::Loss => "mean probe loss".to_string(),
    };
    let among = district.map_or(format!("all {} schools", report.schools_in_scope), |d| {
        format!("{} schools of {d}", report.schools_in_scope)
    });
    header(
        &mut out,
        format!("Top {} by {what}, among {among}", report.rows.len()),
        ctx,
    );
    match report.by {
        By::Volume => out.push_str(&format!(
            "IN = rx (download), OUT = tx (upload) on the WAN\n{UNITS_NOTE}\n"
        )),
        By::Utilization => out.push_str(&format!(
            "utilization = WAN rate / contracted uplink; {}, MEAN and MAX of {}\n",
            p_label(report.percentile),
            ctx.data().rate_samples().replace("rates", "utilization")
        )),
        By::Loss => out.push_str("loss = probe loss ratio, over all probes of the school\n"),
    }
    notes(&mut out, ctx);
    let head: &[&str] = match report.by {
        By::Volume => &["RANK", "SCHOOL", "NAME", "DISTRICT", "IN", "OUT", "TOTAL"],
        By::Utilization => &[
            "RANK", "SCHOOL", "NAME", "DISTRICT", "P", "MEAN", "MAX", "SAMPLES",
        ],
        By::Loss => &[
            "RANK",
            "SCHOOL",
            "NAME",
            "DISTRICT",
            "MEAN LOSS",
            "MAX",
            "SAMPLES",
        ],
    };
    let mut rows = vec![head.iter().map(|s| s.to_string()).collect::<Vec<_>>()];
    if report.by == By::Utilization {
        rows[0][4] = p_label(report.percentile);
    }
    for r in &report.rows {
        let mut row = vec![
            r.rank.to_string(),
            r.school.clone(),
            r.name.clone(),
            r.district.clone(),
        ];
        let samples = r.samples.map_or("-".into(), |s| s.to_string());
        match report.by {
            By::Volume => row.extend([bytes(r.rx_bytes), bytes(r.tx_bytes), bytes(r.total_bytes)]),
            By::Utilization => row.extend([
                percent(r.p, 1),
                percent(r.mean, 1),
                percent(r.max, 1),
                samples,
            ]),
            By::Loss => row.extend([percent(r.mean, 2), percent(r.max, 1), samples]),
        }
        rows.push(row);
    }
    let right: Vec<bool> = (0..head.len()).map(|i| i == 0 || i >= 4).collect();
    render(&mut out, &rows, &right, None);
    out
}

fn top_csv(report: &TopReport) -> anyhow::Result<String> {
    let mut w = ::csv::Writer::from_writer(Vec::new());
    let pl = format!("p{}", report.percentile);
    w.write_record([
        "rank",
        "school",
        "name",
        "district",
        "rx_bytes",
        "tx_bytes",
        "total_bytes",
        "mean",
        "max",
        &pl,
        "samples",
    ])?;
    let opt = |v: Option<f64>| v.map_or(String::new(), |v| v.to_string());
    let optu = |v: Option<u64>| v.map_or(String::new(), |v| v.to_string());
    for r in &report.rows {
        w.write_record([
            r.rank.to_string(),
            r.school.clone(),
            r.name.clone(),
            r.district.clone(),
            optu(r.rx_bytes),
            optu(r.tx_bytes),
            optu(r.total_bytes),
            opt(r.mean),
            opt(r.max),
            opt(r.p),
            optu(r.samples),
        ])?;
    }
    Ok(String::from_utf8(w.into_inner()?)?)
}

fn top_json(report: &TopReport, ctx: &Ctx) -> anyhow::Result<String> {
    to_json(meta("top", ctx), report)
}
