//! The intervals of a `bandwidth` report: `--every` aligned to the epoch
//! (UTC), clipped to the range, at most [`MAX_INTERVALS`] of them.

use anyhow::bail;
use chrono::{DateTime, TimeZone, Utc};

use super::plan;

/// More intervals than this is an error (choose a longer --every).
const MAX_INTERVALS: i64 = 10_000;

/// The intervals of the range, at most [`MAX_INTERVALS`].
pub(super) fn checked(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    every: i64,
) -> anyhow::Result<Vec<Slot>> {
    let grid = grid(from, to, every);
    if grid.len() as i64 > MAX_INTERVALS {
        bail!(
            "{} intervals of {}: too many, choose a longer --every (at most {MAX_INTERVALS})",
            grid.len(),
            plan::human_duration(every)
        );
    }
    Ok(grid)
}

/// One interval: (aligned start in seconds, start, end); see [`grid`].
pub(super) type Slot = (i64, DateTime<Utc>, DateTime<Utc>);

/// The intervals, and which one a result's time falls in.
#[derive(Clone, Copy)]
pub(super) struct Grid<'a> {
    pub slots: &'a [Slot],
    pub every: i64,
}

impl Grid<'_> {
    pub fn index(&self, t: i64) -> usize {
        let first_s = self.slots.first().map_or(0, |g| g.0);
        ((t - first_s) / self.every) as usize
    }
}

/// Intervals of `every` aligned to the epoch, clipped to `[from, to)`:
/// (aligned start in seconds, start, end).
fn grid(from: DateTime<Utc>, to: DateTime<Utc>, every: i64) -> Vec<Slot> {
    let at = |s: i64| Utc.timestamp_opt(s, 0).single().unwrap_or(from);
    let mut out = Vec::new();
    let mut t = from.timestamp().div_euclid(every) * every;
    while at(t) < to && (out.len() as i64) <= MAX_INTERVALS {
        out.push((t, at(t).max(from), at(t + every).min(to)));
        t += every;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grid_is_aligned_to_utc_and_clipped() {
        let from = Utc.with_ymd_and_hms(2026, 11, 1, 6, 0, 0).unwrap();
        let to = Utc.with_ymd_and_hms(2026, 11, 3, 12, 0, 0).unwrap();
        let g = grid(from, to, plan::DAY);
        assert_eq!(g.len(), 3);
        assert_eq!(g[0].1, from);
        assert_eq!(g[1].1, Utc.with_ymd_and_hms(2026, 11, 2, 0, 0, 0).unwrap());
        assert_eq!(g[2].2, to);
    }
}
