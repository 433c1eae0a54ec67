//! Degraded modes of the spool made visible: a *full episode* starts when
//! an append does not fit (at `max_bytes`, or the filesystem answered
//! ENOSPC/EDQUOT) and ends when the spool has had room for a while; intake
//! is *blocked* while appends are refused. Each episode logs one WARN when
//! it starts (with the cause and what the overflow policy does about it)
//! and one when it clears (how long, time blocked, records dropped), and
//! shows in [`SpoolStatus`](super::SpoolStatus) for the gauges.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::{Overflow, SpoolConfig, State};

/// An episode clears only after this long without hitting the limit, so
/// `drop_oldest` dropping a segment now and then, or a disk hovering at
/// full, is one episode and not a WARN pair per segment.
pub const CLEARS_AFTER: Duration = Duration::from_secs(10);

/// What the spool ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FullCause {
    /// The segments reached `spool.max_bytes`.
    MaxBytes,
    /// The filesystem refused a write (ENOSPC or EDQUOT) before `max_bytes`.
    Disk,
}

impl FullCause {
    /// The `cause` label of `schoolnet_spool_full`.
    pub fn as_str(self) -> &'static str {
        match self {
            FullCause::MaxBytes => "max_bytes",
            FullCause::Disk => "disk",
        }
    }

    pub const ALL: [FullCause; 2] = [FullCause::MaxBytes, FullCause::Disk];
}

/// Episode bookkeeping, part of the spool's locked state.
#[derive(Debug)]
pub(super) struct Episodes {
    full: Option<Full>,
    blocked_since: Option<Instant>,
    blocked_before: Duration,
    pub(super) clears_after: Duration,
}

#[derive(Debug)]
struct Full {
    cause: FullCause,
    since: Instant,
    last_hit: Instant,
    dropped_at_start: u64,
    blocked_at_start: Duration,
}

impl Default for Episodes {
    fn default() -> Self {
        Episodes {
            full: None,
            blocked_since: None,
            blocked_before: Duration::ZERO,
            clears_after: CLEARS_AFTER,
        }
    }
}

impl Episodes {
    /// The cause of the current episode, if any.
    pub fn full(&self) -> Option<FullCause> {
        self.full.as_ref().map(|f| f.cause)
    }

    pub fn blocked(&self) -> bool {
        self.blocked_since.is_some()
    }

    /// Time intake spent blocked since the spool was opened.
    pub fn blocked_total(&self) -> Duration {
        self.blocked_before + self.blocked_since.map_or(Duration::ZERO, |t| t.elapsed())
    }
}

fn dropped(st: &State) -> u64 {
    st.sinks.iter().map(|s| s.dropped).sum()
}

/// The limit was hit (`detail`: the OS error for [`FullCause::Disk`]).
pub(super) fn hit(cfg: &SpoolConfig, st: &mut State, cause: FullCause, detail: &str) {
    let now = Instant::now();
    if let Some(f) = &mut st.episodes.full {
        f.last_hit = now;
        if f.cause != cause {
            tracing::info!(dir = %cfg.dir.display(), from = f.cause.as_str(), to = cause.as_str(), "spool still full, now by another limit");
            f.cause = cause;
        }
        return;
    }
    let policy = match cfg.overflow {
        Overflow::Block => {
            "overflow = block: intake waits (the broker keeps the unacknowledged messages, nothing is lost) until the sinks free a segment"
        }
        Overflow::DropOldest => {
            "overflow = drop_oldest: the oldest unsent records are dropped to make room and counted in schoolnet_spool_dropped_records_total (if nothing is left to drop, intake waits)"
        }
    };
    let (bytes, max_bytes) = (st.bytes, cfg.max_bytes);
    match cause {
        FullCause::MaxBytes => tracing::warn!(
            dir = %cfg.dir.display(), bytes, max_bytes, cause = cause.as_str(),
            "spool full: it holds spool.max_bytes; {policy}"
        ),
        FullCause::Disk => tracing::warn!(
            dir = %cfg.dir.display(), bytes, max_bytes, cause = cause.as_str(), error = detail,
            "spool full: its filesystem has no space left before spool.max_bytes; handled like a full spool, {policy}"
        ),
    }
    st.episodes.full = Some(Full {
        cause,
        since: now,
        last_hit: now,
        dropped_at_start: dropped(st),
        blocked_at_start: st.episodes.blocked_total(),
    });
}

/// An append was refused: intake waits.
pub(super) fn refused(st: &mut State) {
    st.episodes.blocked_since.get_or_insert_with(Instant::now);
}

/// An append was accepted: intake flows.
pub(super) fn accepted(cfg: &SpoolConfig, st: &mut State) {
    if let Some(t) = st.episodes.blocked_since.take() {
        st.episodes.blocked_before += t.elapsed();
    }
    if st.episodes.full.is_some() {
        maybe_clear(cfg, st);
    }
}

/// Ends the episode when the limit has not been hit for
/// [`CLEARS_AFTER`], nothing waits for the disk, intake is not blocked and
/// (at `max_bytes`) the sinks have freed room for two segments.
pub(super) fn maybe_clear(cfg: &SpoolConfig, st: &mut State) {
    let Some(f) = &st.episodes.full else { return };
    let room = (2 * cfg.segment_bytes).min(cfg.max_bytes / 2);
    let clear = f.last_hit.elapsed() >= st.episodes.clears_after
        && st.episodes.blocked_since.is_none()
        && st.unplaced.is_empty()
        && (f.cause == FullCause::Disk || st.bytes + room <= cfg.max_bytes);
    if !clear {
        return;
    }
    let f = st.episodes.full.take().expect("checked");
    let blocked = st.episodes.blocked_total() - f.blocked_at_start;
    tracing::warn!(
        dir = %cfg.dir.display(), cause = f.cause.as_str(),
        full_for_s = f.since.elapsed().as_secs_f64(),
        blocked_s = blocked.as_secs_f64(),
        dropped_records = dropped(st) - f.dropped_at_start,
        bytes = st.bytes, max_bytes = cfg.max_bytes,
        "spool no longer full: appends fit again"
    );
}
