//! Where log lines go and how they look, decided once at start-up from
//! where stderr leads:
//!
//! - a terminal: coloured, with timestamps (unless `NO_COLOR` is set,
//!   <https://no-color.org>);
//! - systemd's journal (`JOURNAL_STREAM` names stderr's device and inode,
//!   as systemd sets it for `StandardError=journal`): no colour, no
//!   timestamp (journald stamps every line itself) and each line prefixed
//!   with its syslog priority (`<3>` error … `<7>` trace), which journald
//!   reads by default (`SyslogLevelPrefix=yes`), so `journalctl -p warning`
//!   shows warnings and errors only;
//! - anything else (a file, a pipe, a container's log): no colour codes,
//!   timestamps kept.
//!
//! `--log-format json` writes one JSON object per line whatever the target.

use std::fmt;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::{Format, Full, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

use crate::cli::LogFormat;

/// Where stderr leads, as far as log formatting cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Terminal { color: bool },
    Journal,
    Plain,
}

impl Target {
    /// Decides from the process's stderr and environment.
    pub fn detect() -> Target {
        let journal = std::env::var("JOURNAL_STREAM")
            .ok()
            .is_some_and(|v| stderr_is_journal(&v));
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Target::decide(journal, std::io::stderr().is_terminal(), no_color)
    }

    fn decide(journal: bool, terminal: bool, no_color: bool) -> Target {
        if journal {
            Target::Journal
        } else if terminal {
            Target::Terminal { color: !no_color }
        } else {
            Target::Plain
        }
    }
}

/// `JOURNAL_STREAM` is `<device>:<inode>` of the journal's socket; it is
/// inherited by children whose stderr goes elsewhere, so it counts only
/// when it names stderr itself.
#[cfg(unix)]
fn stderr_is_journal(value: &str) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Some((dev, ino)) = value.split_once(':') else {
        return false;
    };
    let (Ok(dev), Ok(ino)) = (dev.parse::<u64>(), ino.parse::<u64>()) else {
        return false;
    };
    std::fs::metadata("/proc/self/fd/2").is_ok_and(|m| m.dev() == dev && m.ino() == ino)
}

#[cfg(not(unix))]
fn stderr_is_journal(_: &str) -> bool {
    false
}

/// Installs the global subscriber. `RUST_LOG` filters (default `info`).
pub fn init(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,rumqttd=warn"));
    let target = Target::detect();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(matches!(target, Target::Terminal { color: true }));
    let quiet = tracing_subscriber::filter::filter_fn(|meta| {
        !(EMBEDDED_BROKER_MUTED.load(Ordering::Relaxed) && meta.target().starts_with("rumqttd"))
    });
    match (format, target) {
        (LogFormat::Json, _) => builder.json().finish().with(quiet).init(),
        (LogFormat::Text, Target::Journal) => builder
            .event_format(JournalFormat(Format::default().without_time()))
            .finish()
            .with(quiet)
            .init(),
        (LogFormat::Text, _) => builder.finish().with(quiet).init(),
    }
}

/// Set once the demo stops: its embedded broker (rumqttd) logs every
/// client's disconnect as an ERROR, which on a clean stop is no error at all.
static EMBEDDED_BROKER_MUTED: AtomicBool = AtomicBool::new(false);

/// Silences the embedded broker's log from now on (the demo calls this when
/// it begins to stop, before its clients disconnect).
pub fn mute_embedded_broker() {
    EMBEDDED_BROKER_MUTED.store(true, Ordering::Relaxed);
}

/// The default text line without a timestamp, behind its syslog priority.
struct JournalFormat(Format<Full, ()>);

impl<S, N> FormatEvent<S, N> for JournalFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        write!(writer, "<{}>", priority(*event.metadata().level()))?;
        self.0.format_event(ctx, writer, event)
    }
}

/// syslog(3) priorities: err 3, warning 4, info 6, debug 7.
fn priority(level: Level) -> u8 {
    match level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        Level::DEBUG | Level::TRACE => 7,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_target_follows_journal_then_terminal_then_no_color() {
        assert_eq!(Target::decide(true, true, false), Target::Journal);
        assert_eq!(
            Target::decide(false, true, false),
            Target::Terminal { color: true }
        );
        assert_eq!(
            Target::decide(false, true, true),
            Target::Terminal { color: false }
        );
        assert_eq!(Target::decide(false, false, false), Target::Plain);
    }

    #[test]
    fn journal_stream_counts_only_when_it_names_stderr() {
        assert!(!stderr_is_journal("not-a-pair"));
        assert!(!stderr_is_journal("1:2"));
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata("/proc/self/fd/2").unwrap();
        assert!(stderr_is_journal(&format!("{}:{}", m.dev(), m.ino())));
    }

    #[test]
    fn priorities_are_syslogs() {
        assert_eq!(priority(Level::ERROR), 3);
        assert_eq!(priority(Level::WARN), 4);
        assert_eq!(priority(Level::INFO), 6);
        assert_eq!(priority(Level::DEBUG), 7);
    }
}
