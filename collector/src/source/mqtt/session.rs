//! Noticing that the broker lost the collector's persistent session.
//!
//! With `clean_session = false` the broker keeps the collector's
//! subscriptions and queues its messages while it is away. A ConnAck with
//! `session_present = false` when the collector had a session means the
//! broker lost it (a crash before it saved its database, persistence off,
//! a session expiry, a different broker behind the address): whatever was
//! published while the collector had no session may be lost. That is a
//! WARN, `schoolnet_mqtt_sessions_lost_total` and the `MqttSessionLost`
//! alert.
//!
//! Within one process, "had a session" is known: an earlier ConnAck. Across
//! a restart of the collector it is remembered in the spool directory (if
//! `[spool]` is configured) in the file `mqtt-session`, which names the
//! client id and broker URL the session belongs to: a new client id or
//! broker is a first connection, not a loss. Without a spool, the first
//! connection after a start cannot tell a lost session from a new one and
//! says so at INFO.

use std::path::{Path, PathBuf};
use std::time::Instant;

use tracing::{info, warn};

/// The marker's file name in the spool directory.
pub(super) const MARKER_FILE: &str = "mqtt-session";

/// What a ConnAck means for the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Session {
    /// The broker kept the session: nothing was lost while away.
    Resumed,
    /// A session that did not exist before (first connection, or
    /// `clean_session = true`).
    New,
    /// A persistent session was expected and the broker had none.
    Lost,
}

/// Tracks whether the broker should have the collector's session.
#[derive(Debug)]
pub(super) struct SessionWatch {
    persistent: bool,
    /// A connection has had a persistent session that the broker should
    /// still hold.
    expected: bool,
    /// `<spool>/mqtt-session`, when a spool is configured.
    marker: Option<PathBuf>,
    /// The marker's content: which session this is.
    identity: String,
    /// This process has had a connection before the current one.
    connected_before: bool,
    /// Since when the collector has been without a connection (the last
    /// connection error): the most a lost session can cover in-process.
    away_since: Instant,
}

impl SessionWatch {
    /// `persistent` is `!clean_session`; `marker_dir` the spool directory.
    pub(super) fn new(
        persistent: bool,
        client_id: &str,
        url: &str,
        marker_dir: Option<&Path>,
    ) -> SessionWatch {
        let marker = marker_dir.map(|d| d.join(MARKER_FILE));
        let identity = format!("client_id {client_id}\nurl {url}\n");
        let expected = persistent
            && marker
                .as_deref()
                .and_then(|p| std::fs::read_to_string(p).ok())
                .is_some_and(|text| text == identity);
        if !persistent {
            // A clean session throws the broker's state away on purpose.
            if let Some(p) = &marker {
                let _ = std::fs::remove_file(p);
            }
        }
        SessionWatch {
            persistent,
            expected,
            marker,
            identity,
            away_since: Instant::now(),
            connected_before: false,
        }
    }

    /// The connection is gone; `was_connected`: it had been up until now
    /// (only the first error of an episode starts the time away).
    pub(super) fn disconnected(&mut self, was_connected: bool) {
        if was_connected {
            self.away_since = Instant::now();
        }
    }

    /// Classifies a ConnAck and logs what it means; from now on the broker
    /// holds a session (if persistent).
    pub(super) fn connected(&mut self, session_present: bool) -> Session {
        let session = if !self.persistent {
            Session::New
        } else if session_present {
            Session::Resumed
        } else if self.expected {
            Session::Lost
        } else {
            Session::New
        };
        match session {
            Session::Lost if self.connected_before => warn!(
                away_s = (self.away_since.elapsed().as_secs_f64() * 10.0).round() / 10.0,
                "MQTT session lost: the broker had no session for this collector although it \
                 kept a persistent one (broker crashed before saving, persistence off, session \
                 expired, or another broker): messages published while the collector had no \
                 session are lost, at most those of the away_s seconds since it was last \
                 connected; the session starts anew now"
            ),
            Session::Lost => warn!(
                "MQTT session lost: the broker had no session for this collector although the \
                 previous run kept a persistent one (its spool directory's mqtt-session file \
                 says so; broker crashed before saving, persistence \
                 off, session expired, or another broker): messages published while the \
                 collector had no session are lost, at most those since the previous run \
                 disconnected; the session starts anew now"
            ),
            Session::New if self.persistent && self.marker.is_none() => info!(
                "new MQTT session (no [spool]: a session lost while the collector was stopped \
                 cannot be told from a first start)"
            ),
            Session::New | Session::Resumed => {}
        }
        if self.persistent && !self.expected {
            self.expected = true;
            self.remember();
        }
        self.connected_before = true;
        session
    }

    /// Writes the marker (once per process): the next start expects the
    /// session.
    fn remember(&self) {
        let Some(path) = &self.marker else { return };
        if std::fs::read_to_string(path).is_ok_and(|t| t == self.identity) {
            return;
        }
        if let Err(e) = std::fs::write(path, &self.identity) {
            warn!(path = %path.display(), error = %e, "cannot remember the MQTT session in the spool directory: a session lost while the collector is stopped will not be noticed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn within_a_process_a_missing_session_after_one_existed_is_lost() {
        let mut w = SessionWatch::new(true, "c", "mqtt://b", None);
        assert_eq!(w.connected(false), Session::New);
        assert_eq!(w.connected(true), Session::Resumed);
        assert_eq!(w.connected(false), Session::Lost);
        assert_eq!(w.connected(true), Session::Resumed);
    }

    #[test]
    fn a_clean_session_is_never_lost() {
        let mut w = SessionWatch::new(false, "c", "mqtt://b", None);
        assert_eq!(w.connected(false), Session::New);
        assert_eq!(w.connected(false), Session::New);
    }

    #[test]
    fn the_spool_dir_remembers_the_session_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let mut first = SessionWatch::new(true, "c", "mqtt://b", Some(dir.path()));
        assert_eq!(first.connected(false), Session::New);
        let text = std::fs::read_to_string(dir.path().join(MARKER_FILE)).unwrap();
        assert_eq!(text, "client_id c\nurl mqtt://b\n");

        let mut restarted = SessionWatch::new(true, "c", "mqtt://b", Some(dir.path()));
        assert_eq!(restarted.connected(false), Session::Lost);

        // Another client id or broker is a first connection.
        let mut renamed = SessionWatch::new(true, "c2", "mqtt://b", Some(dir.path()));
        assert_eq!(renamed.connected(false), Session::New);
        let mut moved = SessionWatch::new(true, "c2", "mqtt://other", Some(dir.path()));
        assert_eq!(moved.connected(false), Session::New);

        // Switching to a clean session forgets it.
        SessionWatch::new(false, "c2", "mqtt://other", Some(dir.path()));
        assert!(!dir.path().join(MARKER_FILE).exists());
    }
}
