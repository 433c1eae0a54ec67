//! `[spool]`: where the write-ahead log lives and how big it may grow.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::ConfigError;

/// Smallest accepted `segment_bytes` (tests use small segments; production
/// wants megabytes so that segment deletion is rare).
pub const MIN_SEGMENT_BYTES: u64 = 1024;
/// Largest accepted `segment_bytes`.
pub const MAX_SEGMENT_BYTES: u64 = 1 << 30;

/// What [`Spool::try_append`](super::Spool::try_append) does when the spool
/// already holds `max_bytes`.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Overflow {
    /// Refuse the record (`SpoolError::Full`); the async `append` waits until a
    /// sink acknowledgement frees a segment. Intake slows down, MQTT keeps the
    /// unacknowledged messages at the broker: nothing is lost.
    #[default]
    Block,
    /// Delete the oldest segment (whole segments, oldest first) and append.
    /// Every record a sink had not acknowledged is counted as dropped for that
    /// sink and logged.
    DropOldest,
}

/// `[spool]` settings.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SpoolConfig {
    /// Directory holding the segments and cursors; created if missing. Only
    /// one process may use it at a time (an exclusive `flock` on `dir/LOCK`).
    pub dir: PathBuf,
    /// Upper bound on the size of all segment files together, in bytes.
    /// At least twice `segment_bytes`.
    pub max_bytes: u64,
    /// A segment file is closed and a new one started when the next record
    /// would make it larger than this. Space is freed a whole segment at a time.
    pub segment_bytes: u64,
    /// `block` (default): intake waits for the sinks; `drop_oldest`: the
    /// oldest segment is deleted and its unsent records are counted as dropped.
    pub overflow: Overflow,
    /// fsync segments and cursors. `false` only survives a crash of the
    /// process, not of the machine (power loss loses up to the page cache).
    pub fsync: bool,
    /// A sink's acknowledgement is written to disk at most this long after it
    /// was made (sooner when it frees a segment). After a crash the records
    /// acknowledged in this window are replayed once more (duplicates are
    /// harmless: points carry device timestamps).
    pub cursor_persist_ms: u64,
}

impl Default for SpoolConfig {
    fn default() -> Self {
        SpoolConfig {
            dir: PathBuf::from("/var/lib/schoolnet/spool"),
            max_bytes: 1 << 30,
            segment_bytes: 16 << 20,
            overflow: Overflow::Block,
            fsync: true,
            cursor_persist_ms: 1_000,
        }
    }
}

impl SpoolConfig {
    /// A config with the defaults and this directory.
    pub fn with_dir(dir: impl Into<PathBuf>) -> SpoolConfig {
        SpoolConfig {
            dir: dir.into(),
            ..SpoolConfig::default()
        }
    }

    /// [`SpoolConfig::cursor_persist_ms`] as a duration.
    pub fn cursor_persist_interval(&self) -> Duration {
        Duration::from_millis(self.cursor_persist_ms)
    }

    /// Pure checks, keys named as in the TOML file (`spool.max_bytes`).
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.dir.as_os_str().is_empty() {
            return Err(ConfigError::invalid("spool.dir", "must not be empty"));
        }
        if !(MIN_SEGMENT_BYTES..=MAX_SEGMENT_BYTES).contains(&self.segment_bytes) {
            return Err(ConfigError::invalid(
                "spool.segment_bytes",
                format!("must be between {MIN_SEGMENT_BYTES} and {MAX_SEGMENT_BYTES}"),
            ));
        }
        if self.max_bytes < 2 * self.segment_bytes {
            return Err(ConfigError::invalid(
                "spool.max_bytes",
                format!(
                    "must be at least twice spool.segment_bytes ({}): space is freed a segment at a time",
                    2 * self.segment_bytes
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_parse_from_toml() {
        SpoolConfig::default().validate().unwrap();
        let c: SpoolConfig =
            toml::from_str("dir = \"/tmp/s\"\nmax_bytes = 1048576\nsegment_bytes = 65536\noverflow = \"drop_oldest\"\nfsync = false")
                .unwrap();
        assert_eq!(c.overflow, Overflow::DropOldest);
        assert_eq!(c.cursor_persist_ms, 1_000);
        c.validate().unwrap();
        assert!(toml::from_str::<SpoolConfig>("max_byte = 1").is_err());
    }

    #[test]
    fn validate_names_the_key() {
        let c = SpoolConfig {
            max_bytes: 1 << 20,
            segment_bytes: 1 << 20,
            ..SpoolConfig::default()
        };
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("spool.max_bytes"));
        let c = SpoolConfig {
            segment_bytes: 10,
            ..SpoolConfig::default()
        };
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("spool.segment_bytes"));
    }
}
