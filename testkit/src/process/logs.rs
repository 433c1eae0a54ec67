//! Reading a [`ChildProcess`]'s logs (stdout, stderr and the files the
//! program writes itself): contents, tails, [`LogMark`]s and waiting for a
//! line.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::ChildProcess;

/// How many lines of each log [`ChildProcess::log_tail`] shows.
const TAIL_LINES: usize = 40;
/// How much of the end of each log file is read for a tail.
const TAIL_BYTES: u64 = 64 * 1024;

/// Byte offsets of a child's logs at one moment; see
/// [`ChildProcess::wait_for_line_after`].
#[derive(Clone, Debug, Default)]
pub struct LogMark {
    offsets: BTreeMap<PathBuf, u64>,
}

impl LogMark {
    /// The current ends of `paths` (0 for missing files).
    pub(crate) fn of_paths<'a>(paths: impl IntoIterator<Item = &'a PathBuf>) -> LogMark {
        LogMark {
            offsets: paths
                .into_iter()
                .map(|p| {
                    (
                        p.clone(),
                        std::fs::metadata(p).map(|m| m.len()).unwrap_or(0),
                    )
                })
                .collect(),
        }
    }
}

impl ChildProcess {
    /// Everything the child wrote to stdout so far.
    pub fn stdout(&self) -> String {
        read_lossy(&self.stdout_path)
    }

    /// Everything the child wrote to stderr so far.
    pub fn stderr(&self) -> String {
        read_lossy(&self.stderr_path)
    }

    fn logs(&self) -> impl Iterator<Item = &PathBuf> {
        [&self.stderr_path, &self.stdout_path]
            .into_iter()
            .chain(self.extra_logs.iter())
    }

    /// The last lines of stderr, stdout and the extra logs, labelled, plus
    /// the exit status if the child has exited.
    pub fn log_tail(&self) -> String {
        let mut out = String::new();
        if let Some(status) = self.status {
            out.push_str(&format!(
                "[{} (pid {}) exited: {status}]\n",
                self.name,
                self.pid()
            ));
        }
        for path in self.logs() {
            out.push_str(&tail_of_file(path, TAIL_LINES));
        }
        out
    }

    /// The current end of every log, for [`Self::wait_for_line_after`].
    pub fn log_mark(&self) -> LogMark {
        LogMark::of_paths(self.logs())
    }

    /// Number of log lines (stderr, stdout, extra logs) containing `pattern`.
    pub fn count_lines(&self, pattern: &str) -> usize {
        self.logs()
            .map(|p| {
                read_lossy(p)
                    .lines()
                    .filter(|l| l.contains(pattern))
                    .count()
            })
            .sum()
    }

    /// Waits until a line containing `pattern` (plain substring) appears in
    /// stderr, stdout or an extra log, and returns that line. Panics with
    /// the log tail on timeout or if the child exits first.
    pub async fn wait_for_line(&mut self, pattern: &str, timeout: Duration) -> String {
        self.wait_for_line_after(&LogMark::default(), pattern, timeout)
            .await
    }

    /// Like [`Self::wait_for_line`], but only looks at what was written
    /// after `mark` (from [`Self::log_mark`]).
    pub async fn wait_for_line_after(
        &mut self,
        mark: &LogMark,
        pattern: &str,
        timeout: Duration,
    ) -> String {
        let start = Instant::now();
        loop {
            let exited = self.try_wait();
            if let Some(line) = self.find_line_after(mark, pattern) {
                return line;
            }
            if let Some(status) = exited {
                panic!(
                    "testkit: {} exited ({status}) before logging a line containing {pattern:?}\n{}",
                    self.name,
                    self.log_tail()
                );
            }
            if start.elapsed() >= timeout {
                panic!(
                    "testkit: timed out after {timeout:?} waiting for {} to log a line containing {pattern:?}\n{}",
                    self.name,
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// The first line after `mark` that contains `pattern`.
    pub fn find_line_after(&self, mark: &LogMark, pattern: &str) -> Option<String> {
        for path in self.logs() {
            let from = mark.offsets.get(path).copied().unwrap_or(0);
            let text = read_from(path, from);
            if let Some(line) = text.lines().find(|l| l.contains(pattern)) {
                return Some(line.to_string());
            }
        }
        None
    }

    /// Everything written to any log after `mark`.
    pub(crate) fn text_after(&self, mark: &LogMark) -> String {
        self.logs()
            .map(|p| read_from(p, mark.offsets.get(p).copied().unwrap_or(0)))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Where a child named `name` with logs in `dir` writes stdout and stderr.
pub(crate) fn log_paths(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    (
        dir.join(format!("{name}.stdout.log")),
        dir.join(format!("{name}.stderr.log")),
    )
}

pub(crate) fn read_lossy(path: &Path) -> String {
    read_from(path, 0)
}

fn read_from(path: &Path, offset: u64) -> String {
    let mut buf = Vec::new();
    if let Ok(mut f) = File::open(path) {
        if f.seek(SeekFrom::Start(offset)).is_ok() {
            let _ = f.read_to_end(&mut buf);
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// `--- path (last N lines) ---` followed by the lines; empty logs say so.
pub(crate) fn tail_of_file(path: &Path, lines: usize) -> String {
    let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let text = read_from(path, len.saturating_sub(TAIL_BYTES));
    let all: Vec<&str> = text.lines().collect();
    let shown = &all[all.len().saturating_sub(lines)..];
    if shown.is_empty() {
        return format!("--- {} (empty) ---\n", path.display());
    }
    let mut out = format!("--- {} (last {} lines) ---\n", path.display(), shown.len());
    for line in shown {
        out.push_str(line);
        out.push('\n');
    }
    out
}
