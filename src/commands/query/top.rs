//! `schoolnet query top`: schools ranked over a range by
//! - `volume`: WAN bytes in + out (the same volume as `bandwidth`);
//! - `utilization`: the `--percentile` (then the mean) of the WAN's
//!   `utilization` samples (rate / contracted uplink; rollups: of the bucket
//!   means `utilization_mean`, max of `utilization_max`);
//! - `loss`: the mean of `probe.loss_ratio` over all probes of the school
//!   (rollups: of `loss_ratio_mean`).
//!
//! One InfluxQL statement grouped by `school`; schools outside the scope's
//! inventory are left out (named in a note). Ties go to the lower id.

use std::collections::BTreeSet;

use anyhow::Context;
use serde::Serialize;

use super::bandwidth::rows;
use super::plan::Data;
use super::scope::{self, Scope};
use super::{format, Ctx, TopArgs};
use crate::cli::ReportFormat;

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
    let mut ctx = Ctx::new(&args.common, &args.window, "7d", None)?;
    let scope = match &args.district {
        Some(d) => Scope::district(&ctx.inventory, d)?,
        None => Scope::all(&ctx.inventory),
    };
    let wan = scope::wan(&ctx.inventory, &scope);
    let time = ctx.time_condition()?;
    let p = args.percentile;
    let raw = ctx.data() == Data::Raw;
    let statement = match args.by {
        By::Volume => {
            // The same volume statement as `bandwidth` (one interval).
            super::bandwidth::volume(&ctx, &scope.condition(&[&wan.condition]), "\"school\"")?
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
    };
    let results = ctx.query(&[statement]).await.context("query top")?;

    let in_scope: BTreeSet<&str> = scope.schools.iter().map(|s| &*s.id).collect();
    let mut outside = BTreeSet::new();
    let mut out = Vec::new();
    for series in &results[0] {
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
            match args.by {
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
    if !outside.is_empty() {
        let list: Vec<String> = outside.into_iter().collect();
        ctx.notes.push(format!(
            "data of {} school(s) not in the inventory is not ranked: {}",
            list.len(),
            list.join(", ")
        ));
    }
    let key = |r: &TopRow| -> (f64, f64) {
        match args.by {
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
    out.truncate(args.n);
    for (i, r) in out.iter_mut().enumerate() {
        r.rank = i + 1;
    }
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
        ReportFormat::Table => Ok(format::top_table(&report, &ctx, scope.district.as_deref())),
        ReportFormat::Csv => format::top_csv(&report),
        ReportFormat::Json => format::top_json(&report, &ctx),
    }
}
