//! The arguments several commands share, defined once so that they read the
//! same everywhere:
//! - [`ConfigArgs`]: `-c/--config FILE`, or `SCHOOLNET_CONFIG`, for every
//!   command that reads the config (the command line wins over the
//!   environment: [`ConfigArgs::from_env`]);
//! - [`InfluxArgs`]: `--influx-*`, where `query` and `availability` read
//!   history without a config;
//! - [`TimeRangeArgs`]: `--last`, `--from/--to`, `--month` of `query` and
//!   `availability`, resolved to `[from, to)` by [`TimeRangeArgs::resolve`].

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
use clap::Args;

use crate::cli::ApiArg;
use crate::influx_query::{instant, month, Connection};

/// The environment variable naming the config file.
pub const CONFIG_ENV: &str = "SCHOOLNET_CONFIG";

/// How the time range is given; part of `query --help` and
/// `availability --help` (a macro so both can `concat!` it).
macro_rules! time_range_help {
    () => {
        "\
Time range: one of
  --last DURATION [--to DATE]   the DURATION before --to (default: now): 30d, 12h, 2w, 1h30m
  --from DATE [--to DATE]       [--from, --to), --to exclusive, default now
  --month YYYY-MM               a calendar month in UTC: 2026-01 = [2026-01-01, 2026-02-01)
DATE is YYYY-MM-DD (00:00 UTC) or RFC 3339 (2026-01-15T08:00:00+04:00). A range reaching past
now ends now (a note says so); one starting in the future, or with --from not before --to, is
an error."
    };
}
pub(crate) use time_range_help;

/// `-c/--config FILE` or `SCHOOLNET_CONFIG`.
#[derive(Debug, Clone, Default, Args)]
pub struct ConfigArgs {
    /// Config file (TOML; every key in docs/configuration.md).
    #[arg(short = 'c', long = "config", env = CONFIG_ENV, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Whether `config` came from `SCHOOLNET_CONFIG` rather than the command
    /// line (set after parsing, by `cli::main`): flags given on the command
    /// line win over it.
    #[arg(skip)]
    pub from_env: bool,
}

impl ConfigArgs {
    pub fn path(&self) -> Option<&Path> {
        self.config.as_deref()
    }

    /// `-c FILE` or `SCHOOLNET_CONFIG=FILE`, for messages.
    pub fn describe(&self) -> String {
        match (&self.config, self.from_env) {
            (None, _) => "no config".into(),
            (Some(p), true) => format!("{CONFIG_ENV}={}", p.display()),
            (Some(p), false) => format!("-c {}", p.display()),
        }
    }
}

/// Where to read history without a config.
#[derive(Debug, Clone, Default, Args)]
pub struct InfluxArgs {
    /// InfluxDB base URL, e.g. http://127.0.0.1:8086, instead of a config (the
    /// built-in sample inventory is used).
    #[arg(long, value_name = "URL")]
    pub influx_url: Option<String>,
    /// With --influx-url. v1: with --influx-username, Basic auth; v2: the token as
    /// `Authorization: Token`. [default: v2]
    #[arg(long, value_enum, requires = "influx_url")]
    pub influx_api: Option<ApiArg>,
    /// With --influx-url: the v1 database, or the v2 bucket (queried through its
    /// v1 DBRP mapping). [default: schoolnet]
    #[arg(long, value_name = "NAME", requires = "influx_url")]
    pub influx_db: Option<String>,
    /// With --influx-url: v1 username; the password comes from SCHOOLNET_INFLUX_TOKEN.
    #[arg(long, value_name = "NAME", requires = "influx_url")]
    pub influx_username: Option<String>,
}

impl InfluxArgs {
    /// The connection of a reading command: the config, or `--influx-*`.
    /// `--influx-url` on the command line wins over `SCHOOLNET_CONFIG` (with
    /// a note); with `-c` it is an error, as the two say different things.
    pub fn connection<'a>(
        &'a self,
        config: &'a ConfigArgs,
        notes: &mut Vec<String>,
    ) -> anyhow::Result<Connection<'a>> {
        let config_path = match (config.path(), &self.influx_url) {
            (Some(path), Some(_)) if config.from_env => {
                notes.push(format!(
                    "{CONFIG_ENV}={} is not used: --influx-url was given",
                    path.display()
                ));
                None
            }
            (Some(_), Some(_)) => bail!(
                "-c/--config and --influx-url are alternatives (the config's [influx] says where \
                 InfluxDB is): give one of them"
            ),
            (path, _) => path,
        };
        if config_path.is_none() && self.influx_url.is_none() {
            bail!(
                "where is the history? Give -c/--config FILE (or set {CONFIG_ENV}), or \
                 --influx-url URL"
            );
        }
        Ok(Connection {
            config: config_path,
            url: self.influx_url.as_deref(),
            api: self.influx_api.unwrap_or(ApiArg::V2),
            db: self.influx_db.as_deref().unwrap_or("schoolnet"),
            username: self.influx_username.as_deref(),
        })
    }
}

/// `--last`, `--from/--to`, `--month`: at most one of `--last`, `--from`,
/// `--month`; `--to` ends a `--last` or `--from` range.
#[derive(Debug, Clone, Default, Args)]
pub struct TimeRangeArgs {
    /// The range of this length ending at --to (default: now): 30d, 12h, 2w, 1h30m.
    #[arg(long, value_name = "DURATION", group = "range")]
    pub last: Option<String>,
    /// Start of the range (inclusive): YYYY-MM-DD (00:00 UTC) or RFC 3339.
    #[arg(long, value_name = "DATE", group = "range")]
    pub from: Option<String>,
    /// End of the range (exclusive), with --from or --last: YYYY-MM-DD or RFC 3339. Default: now.
    #[arg(
        long,
        value_name = "DATE",
        requires = "range",
        conflicts_with = "month"
    )]
    pub to: Option<String>,
    /// A calendar month (UTC): 2026-01 = 2026-01-01 up to 2026-02-01.
    #[arg(long, value_name = "YYYY-MM", group = "range")]
    pub month: Option<String>,
}

impl TimeRangeArgs {
    /// `[from, to)`; without any flag, `--last default_last`. `to` is capped
    /// at `now` with a note.
    pub fn resolve(
        &self,
        default_last: &str,
        now: DateTime<Utc>,
        notes: &mut Vec<String>,
    ) -> anyhow::Result<(DateTime<Utc>, DateTime<Utc>)> {
        let to = || -> anyhow::Result<DateTime<Utc>> {
            match &self.to {
                Some(t) => instant(t).with_context(|| format!("--to `{t}`")),
                None => Ok(now),
            }
        };
        let (from, to) = match (&self.month, &self.from, &self.last) {
            (Some(m), None, None) if self.to.is_none() => month(m)?,
            (None, Some(f), None) => (instant(f).with_context(|| format!("--from `{f}`"))?, to()?),
            (None, None, last) => {
                let text = last.as_deref().unwrap_or(default_last);
                let secs = parse_duration(text).context("--last")?;
                let to = to()?;
                (to - chrono::Duration::seconds(secs), to)
            }
            _ => bail!("give one of --last DURATION, --from DATE [--to DATE] or --month YYYY-MM"),
        };
        if from >= now {
            bail!(
                "bad time range: it starts in the future ({}); nothing to report yet",
                from.to_rfc3339()
            );
        }
        if from >= to {
            bail!(
                "bad time range: --from {} is not before --to {} (--to is exclusive)",
                from.to_rfc3339(),
                to.to_rfc3339()
            );
        }
        if to > now {
            notes.push(format!(
                "the range ends in the future; it is cut at now ({})",
                now.format("%Y-%m-%d %H:%M:%S UTC")
            ));
            return Ok((from, now));
        }
        Ok((from, to))
    }
}

/// `30d`, `1h`, `90s`, `1h30m`, `2w`: a sum of integers with a unit (s, m,
/// h, d, w) → seconds (> 0).
pub fn parse_duration(s: &str) -> anyhow::Result<i64> {
    let bad = || anyhow::anyhow!("`{s}`: expected a duration like 30d, 12h, 5m, 90s or 1h30m");
    let mut total: i64 = 0;
    let mut digits = String::new();
    for c in s.trim().chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 7 * 86_400,
            _ => return Err(bad()),
        };
        let n: i64 = digits.parse().map_err(|_| bad())?;
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
        digits.clear();
    }
    if !digits.is_empty() || total <= 0 {
        return Err(bad());
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn range(
        last: Option<&str>,
        from: Option<&str>,
        to: Option<&str>,
        m: Option<&str>,
    ) -> TimeRangeArgs {
        TimeRangeArgs {
            last: last.map(Into::into),
            from: from.map(Into::into),
            to: to.map(Into::into),
            month: m.map(Into::into),
        }
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("30d").unwrap(), 30 * 86_400);
        assert_eq!(parse_duration("1h30m").unwrap(), 90 * 60);
        assert_eq!(parse_duration("2w").unwrap(), 14 * 86_400);
        for bad in ["", "5", "d", "1x", "0s", "-1h", "1.5h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn each_form_gives_its_range() {
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 9, 7, 30).unwrap();
        let mut notes = Vec::new();
        let r = |a: TimeRangeArgs, notes: &mut Vec<String>| a.resolve("30d", now, notes);
        let (f, t) = r(range(None, None, None, None), &mut notes).unwrap();
        assert_eq!((t, (t - f).num_days()), (now, 30));
        let (f, t) = r(range(Some("12h"), None, None, None), &mut notes).unwrap();
        assert_eq!((t, (t - f).num_hours()), (now, 12));
        let (f, t) = r(
            range(Some("7d"), None, Some("2026-11-08"), None),
            &mut notes,
        )
        .unwrap();
        assert_eq!(
            (f, t),
            (utc("2026-11-01T00:00:00Z"), utc("2026-11-08T00:00:00Z"))
        );
        let (f, t) = r(range(None, None, None, Some("2026-10")), &mut notes).unwrap();
        assert_eq!(
            (f, t),
            (utc("2026-10-01T00:00:00Z"), utc("2026-11-01T00:00:00Z"))
        );
        let (f, t) = r(
            range(None, Some("2026-11-01T04:00:00+04:00"), None, None),
            &mut notes,
        )
        .unwrap();
        assert_eq!((f, t), (utc("2026-11-01T00:00:00Z"), now));
        assert!(notes.is_empty(), "{notes:?}");
        // The current month ends in the future: cut at now, with a note.
        let (_, t) = r(range(None, None, None, Some("2026-11")), &mut notes).unwrap();
        assert_eq!(t, now);
        assert_eq!(notes.len(), 1);
    }

    #[test]
    fn bad_ranges_say_which_flag_is_wrong() {
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 9, 7, 30).unwrap();
        let e = |a: TimeRangeArgs| a.resolve("30d", now, &mut Vec::new()).unwrap_err();
        let msg = format!(
            "{:#}",
            e(range(None, Some("2026-11-02"), Some("2026-11-01"), None))
        );
        assert!(msg.contains("is not before --to"), "{msg}");
        let msg = format!("{:#}", e(range(None, Some("yesterday"), None, None)));
        assert!(msg.starts_with("--from `yesterday`"), "{msg}");
        let msg = format!("{:#}", e(range(None, None, Some("soon"), None)));
        assert!(msg.starts_with("--to `soon`"), "{msg}");
        let msg = format!("{:#}", e(range(Some("5 days"), None, None, None)));
        assert!(msg.starts_with("--last: `5 days`"), "{msg}");
        let msg = format!("{:#}", e(range(None, None, None, Some("2026-13"))));
        assert!(msg.starts_with("--month `2026-13`"), "{msg}");
        let msg = format!("{:#}", e(range(None, Some("2027-01-01"), None, None)));
        assert!(msg.contains("starts in the future"), "{msg}");
        // clap keeps these apart; a caller building the struct by hand too.
        let msg = format!("{:#}", e(range(Some("1d"), None, None, Some("2026-10"))));
        assert!(msg.contains("give one of"), "{msg}");
    }
}
