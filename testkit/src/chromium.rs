//! Headless Chromium (Debian package `chromium`) for browser tests: load a
//! page, let its scripts run, then dump the DOM or save a screenshot.
//!
//! Each call is one `chromium --headless` run with a fresh profile in a temp
//! dir (no state shared between runs or with a user's browser) and without
//! anything that talks to the internet on its own (component updates, sync,
//! background networking), so it works on an offline test machine. Runs are
//! bounded by [`Chromium::timeout`]: on timeout the browser is killed and the
//! test fails with its log tail. A missing `/usr/bin/chromium` fails the
//! test with the setup command, like every testkit server.
//!
//! Timing: `--virtual-time-budget=N` lets the page run N ms of virtual time
//! (timers fire early, waiting for network requests pauses the clock), then
//! Chromium dumps or captures. Give it enough for the page's first fetch;
//! a page polling every few seconds is captured after at most one more poll.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::{require_binary, ChildProcess};

/// The browser (Debian package `chromium`; a wrapper script that execs
/// `/usr/lib/chromium/chromium`).
pub const CHROMIUM_BIN: &str = "/usr/bin/chromium";

/// Runs headless Chromium; see the module docs. Cheap: holds only options.
///
/// ```no_run
/// # async fn example() {
/// use testkit::Chromium;
/// let chromium = Chromium::new();
/// let dom = chromium.dump_dom("http://127.0.0.1:9740/", 3_000).await;
/// assert!(dom.contains("data-school"));
/// chromium
///     .screenshot("http://127.0.0.1:9740/", "target/status.png".as_ref(), (1280, 900), 3_000)
///     .await;
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Chromium {
    timeout: Duration,
}

impl Chromium {
    /// Panics (failing the test, naming the setup command) if
    /// [`CHROMIUM_BIN`] is not installed. Timeout: 60 s per run (a cold
    /// start on a busy 2-core machine takes a few seconds).
    pub fn new() -> Chromium {
        require_binary(CHROMIUM_BIN, "chromium");
        Chromium {
            timeout: Duration::from_secs(60),
        }
    }

    /// How long one run may take before the browser is killed and the test
    /// fails.
    pub fn timeout(mut self, timeout: Duration) -> Chromium {
        self.timeout = timeout;
        self
    }

    /// The serialized DOM of `url` after `virtual_time_budget_ms` of virtual
    /// time (`--dump-dom`): what the page's scripts made of it, not the HTML
    /// the server sent.
    pub async fn dump_dom(&self, url: &str, virtual_time_budget_ms: u64) -> String {
        let run = self
            .run(
                url,
                &[
                    "--dump-dom".to_string(),
                    format!("--virtual-time-budget={virtual_time_budget_ms}"),
                ],
            )
            .await;
        let dom = run.process.stdout();
        assert!(
            dom.contains("<html"),
            "testkit: chromium --dump-dom {url} printed no document:\n{dom}\n{}",
            run.process.log_tail()
        );
        dom
    }

    /// Saves a PNG of `url` (viewport `window_size` = width, height in CSS
    /// pixels) to `path` after `virtual_time_budget_ms` of virtual time.
    /// Creates nothing but the file: its directory must exist.
    pub async fn screenshot(
        &self,
        url: &str,
        path: &Path,
        window_size: (u32, u32),
        virtual_time_budget_ms: u64,
    ) {
        let absolute = std::path::absolute(path).expect("testkit: screenshot path");
        let _ = std::fs::remove_file(&absolute);
        let (width, height) = window_size;
        let run = self
            .run(
                url,
                &[
                    format!("--screenshot={}", absolute.display()),
                    format!("--window-size={width},{height}"),
                    "--hide-scrollbars".to_string(),
                    format!("--virtual-time-budget={virtual_time_budget_ms}"),
                ],
            )
            .await;
        assert!(
            absolute.is_file(),
            "testkit: chromium --screenshot wrote no {}\n{}",
            absolute.display(),
            run.process.log_tail()
        );
    }

    /// One headless run with a fresh profile; returns once Chromium exited 0.
    async fn run(&self, url: &str, mode: &[String]) -> Run {
        let dir = tempfile::Builder::new()
            .prefix("testkit-chromium-")
            .tempdir()
            .expect("testkit: chromium temp dir");
        let profile: PathBuf = dir.path().join("profile");
        let mut process = ChildProcess::builder(CHROMIUM_BIN)
            .name("chromium")
            .log_dir(dir.path())
            // Its caches and NSS database go to the temp dir, not the
            // user's home.
            .env("HOME", dir.path())
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .args(mode)
            .arg(url)
            .spawn();
        let started = Instant::now();
        let status = loop {
            if let Some(status) = process.try_wait() {
                break status;
            }
            if started.elapsed() >= self.timeout {
                // Its renderer and helper processes exit with it.
                process.kill_now();
                panic!(
                    "testkit: chromium did not finish {url} within {:?} (killed); raise Chromium::timeout or check the page\n{}",
                    self.timeout,
                    process.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert!(
            status.success(),
            "testkit: chromium {mode:?} {url} failed ({status})\n{}",
            process.log_tail()
        );
        Run { process, _dir: dir }
    }
}

impl Default for Chromium {
    fn default() -> Chromium {
        Chromium::new()
    }
}

/// A finished run: the process (for its stdout and logs) and its temp dir,
/// which holds the logs and lives as long as they are read.
struct Run {
    process: ChildProcess,
    _dir: tempfile::TempDir,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A page whose script fills the DOM after a timer: the dump must show
    /// the result, so virtual time really ran.
    #[tokio::test]
    async fn dumps_the_dom_after_scripts_ran_and_takes_screenshots() {
        let dir = tempfile::tempdir().unwrap();
        let page = dir.path().join("page.html");
        std::fs::write(
            &page,
            "<!doctype html><html><body><p id=x>before</p><script>\
             setTimeout(() => { document.getElementById('x').textContent = 'after'; }, 1000);\
             </script></body></html>",
        )
        .unwrap();
        let url = format!("file://{}", page.display());
        let chromium = Chromium::new();
        let dom = chromium.dump_dom(&url, 2_000).await;
        assert!(dom.contains("<p id=\"x\">after</p>"), "{dom}");

        let png = dir.path().join("shot.png");
        chromium.screenshot(&url, &png, (320, 200), 2_000).await;
        let bytes = std::fs::read(&png).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "a PNG");
    }

    #[tokio::test]
    #[should_panic(expected = "within 1s (killed)")]
    async fn a_page_that_never_finishes_is_killed_at_the_timeout() {
        // A server that accepts and never answers: virtual time waits for
        // the request, so only the timeout ends the run.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        Chromium::new()
            .timeout(Duration::from_secs(1))
            .dump_dom(&url, 600_000)
            .await;
    }
}
