//! One render for scrapes that come together, and how long it is kept.
//!
//! A national `/metrics` page costs a fraction of a CPU-second and tens of
//! MB to render. Scrapes that arrive while a render is running (a
//! Prometheus HA pair, a curl next to Prometheus) wait for it and get the
//! same page (single flight). Scrapes never run renders side by side, so
//! memory holds at most one render.
//!
//! A render is kept in one form only: gzipped, whatever the scrape that
//! asked for it accepts. The text is compressed as soon as it is written,
//! each 64 KB piece freed once it is deflated, and the heap is handed back
//! to the OS right after (`malloc_trim`): between scrapes, and right after
//! one, the process holds the gzip (a tenth of the text), never the text.
//! Prometheus asks for gzip and gets those pieces as they are; a scrape
//! that does not take gzip gets the text inflated from them as it reads
//! ([`super::body::GunzipBody`]), so one render answers both kinds.
//!
//! After it finishes, a render still answers scrapes for as long again as it
//! took, at most [`MAX_SHARE_AFTER`] (1 s): what a scrape is answered with
//! then started at most twice the render time (or the render time plus 1 s)
//! before the scrape arrived. At the sample's 216 schools that is about a
//! millisecond, so a poller sees new data as soon as it would without
//! sharing; at 30,000 schools a few tenths of a second. Then the render is
//! dropped (its pieces live on only while a response still sends them),
//! and the freed heap is handed back to the OS again.
//!
//! `schoolnet_exporter_renders_total` counts renders,
//! `schoolnet_exporter_scrape_shared_total` scrapes answered by a render
//! made for another scrape.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use prometheus::IntCounter;

use super::gzip;
use crate::render::Exposition;

/// Longest a finished render keeps answering new scrapes.
pub const MAX_SHARE_AFTER: Duration = Duration::from_secs(1);

/// The latest render, while it may still answer scrapes.
pub(crate) struct SharedRender {
    latest: tokio::sync::Mutex<Option<Arc<Rendered>>>,
    renders: IntCounter,
    shared: IntCounter,
}

/// One render: its page gzipped, and the length of the text.
pub(crate) struct Rendered {
    started: Instant,
    finished: Instant,
    gzip: Exposition,
    text_len: usize,
}

impl Rendered {
    /// Renders with `render` and gzips the text, freeing it piece by piece
    /// (a blocking call: run it on the blocking pool).
    fn make(render: impl FnOnce() -> Exposition) -> Rendered {
        let started = Instant::now();
        let text = render();
        let text_len = text.len();
        let gzip = gzip::compress(text.into_chunks());
        Rendered {
            started,
            finished: Instant::now(),
            gzip,
            text_len,
        }
    }

    /// Whether a scrape that arrived at `arrived` may be answered with this
    /// render: it arrived before the render finished (or no later after it
    /// than the render took, at most [`MAX_SHARE_AFTER`]).
    fn answers(&self, arrived: Instant) -> bool {
        arrived <= self.expires()
    }

    fn expires(&self) -> Instant {
        let took = self.finished.saturating_duration_since(self.started);
        self.finished + took.min(MAX_SHARE_AFTER)
    }

    /// The page gzipped, in its pieces (shared, not copied).
    pub(crate) fn gzip(&self) -> Exposition {
        self.gzip.clone()
    }

    /// Bytes of the page as text.
    pub(crate) fn text_len(&self) -> usize {
        self.text_len
    }
}

impl Drop for Rendered {
    /// Hands the freed heap back to the OS (after the pages are freed;
    /// pieces still held by a response are freed when it finishes).
    fn drop(&mut self) {
        let pages = std::mem::take(&mut self.gzip);
        let release = move || {
            drop(pages);
            trim_heap();
        };
        // Off the async workers when there are any: the trim walks the heap.
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => drop(rt.spawn_blocking(release)),
            Err(_) => release(),
        }
    }
}

/// Returns free heap pages to the OS: glibc keeps what a render freed in
/// its per-thread arenas otherwise, and the RSS ratchets up with every
/// blocking thread that ever rendered. A no-op elsewhere.
pub(crate) fn trim_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only inspects and releases glibc's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

impl SharedRender {
    pub(crate) fn new(renders: IntCounter, shared: IntCounter) -> SharedRender {
        SharedRender {
            latest: tokio::sync::Mutex::new(None),
            renders,
            shared,
        }
    }

    /// The render that answers a scrape which arrived at `arrived`: the
    /// latest one if it may ([`Rendered::answers`]), else a new one made by
    /// `render` on the blocking pool. Call from a spawned task: a scrape
    /// whose client goes away must not abandon a render others wait for.
    pub(crate) async fn get(
        self: &Arc<Self>,
        arrived: Instant,
        render: impl FnOnce() -> Exposition + Send + 'static,
    ) -> Result<Arc<Rendered>, tokio::task::JoinError> {
        // Held while rendering: that is the single flight.
        let mut latest = self.latest.lock().await;
        if let Some(r) = latest.as_ref().filter(|r| r.answers(arrived)) {
            self.shared.inc();
            return Ok(r.clone());
        }
        // The old render goes before the new one is made: never two.
        *latest = None;
        let rendered = tokio::task::spawn_blocking(move || {
            let rendered = Rendered::make(render);
            // The text's pieces are free now: hand them back before the
            // page goes out (a few milliseconds), so that when a scraper
            // has its page the RSS is the RSS before plus the gzip, not
            // plus the text (with the trim beside the send, the first
            // reading after a render was sometimes 1.22x).
            trim_heap();
            rendered
        })
        .await?;
        let rendered = Arc::new(rendered);
        self.renders.inc();
        *latest = Some(rendered.clone());
        drop(latest);
        self.expire(Arc::downgrade(&rendered), rendered.expires());
        Ok(rendered)
    }

    /// Drops `rendered` from the slot at `at` (unless a newer one took it).
    fn expire(self: &Arc<Self>, rendered: Weak<Rendered>, at: Instant) {
        let me = Arc::downgrade(self);
        tokio::spawn(async move {
            tokio::time::sleep_until(at.into()).await;
            let Some(me) = me.upgrade() else { return };
            let mut latest = me.latest.lock().await;
            if latest
                .as_ref()
                .is_some_and(|r| std::ptr::eq(Arc::as_ptr(r), rendered.as_ptr()))
            {
                *latest = None;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn shared() -> Arc<SharedRender> {
        Arc::new(SharedRender::new(
            IntCounter::new("r", "r").unwrap(),
            IntCounter::new("s", "s").unwrap(),
        ))
    }

    /// The text of a render, from the gzip it keeps.
    fn text(r: &Rendered) -> String {
        use std::io::Read as _;
        let mut out = String::new();
        flate2::read::GzDecoder::new(&r.gzip().chunks().concat()[..])
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out.len(), r.text_len());
        out
    }

    /// A render that takes `ms` and counts itself.
    fn slow(count: &Arc<AtomicUsize>, ms: u64) -> impl FnOnce() -> Exposition + Send + 'static {
        let count = count.clone();
        move || {
            let n = count.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(ms));
            Exposition::new(vec![bytes::Bytes::from(format!("render {n}\n"))])
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn scrapes_during_a_render_share_it() {
        let s = shared();
        let count = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let (s, render) = (s.clone(), slow(&count, 300));
                tokio::spawn(async move { s.get(Instant::now(), render).await.unwrap() })
            })
            .collect();
        let mut pages = Vec::new();
        for t in tasks {
            pages.push(text(&t.await.unwrap()));
        }
        assert_eq!(count.load(Ordering::SeqCst), 1);
        assert!(pages.iter().all(|p| p == "render 0\n"), "{pages:?}");
        assert_eq!((s.renders.get(), s.shared.get()), (1, 3));
    }

    #[tokio::test]
    async fn a_scrape_after_the_window_renders_anew() {
        let s = shared();
        let count = Arc::new(AtomicUsize::new(0));
        let first = s.get(Instant::now(), slow(&count, 20)).await.unwrap();
        // Within as long again as the render took: shared.
        let soon = s.get(first.finished, slow(&count, 20)).await.unwrap();
        assert!(Arc::ptr_eq(&first, &soon));
        let late = first.expires() + Duration::from_millis(1);
        tokio::time::sleep_until(late.into()).await;
        let again = s.get(Instant::now(), slow(&count, 20)).await.unwrap();
        assert_eq!(text(&again), "render 1\n");
        assert_eq!((s.renders.get(), s.shared.get()), (2, 1));
    }

    #[tokio::test]
    async fn an_expired_render_is_dropped() {
        let s = shared();
        let count = Arc::new(AtomicUsize::new(0));
        let weak = Arc::downgrade(&s.get(Instant::now(), slow(&count, 5)).await.unwrap());
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(s.latest.lock().await.is_none());
        assert!(weak.upgrade().is_none());
    }

    #[test]
    fn the_window_after_a_render_is_as_long_as_it_took_at_most_a_second() {
        let t0 = Instant::now();
        let r = |took_ms| Rendered {
            started: t0,
            finished: t0 + Duration::from_millis(took_ms),
            gzip: Exposition::default(),
            text_len: 0,
        };
        assert_eq!(r(2).expires(), t0 + Duration::from_millis(4));
        assert_eq!(r(400).expires(), t0 + Duration::from_millis(800));
        assert_eq!(r(3000).expires(), t0 + Duration::from_millis(4000));
        assert!(r(400).answers(t0 + Duration::from_millis(800)));
        assert!(!r(400).answers(t0 + Duration::from_millis(801)));
    }

    /// A piece of text that counts its release.
    struct Tracked(Vec<u8>, Arc<AtomicUsize>);

    impl AsRef<[u8]> for Tracked {
        fn as_ref(&self) -> &[u8] {
            &self.0
        }
    }

    impl Drop for Tracked {
        fn drop(&mut self) {
            self.1.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_render_keeps_the_gzip_only_and_frees_the_text() {
        let line = |i: usize| format!("schoolnet_school_up{{school=\"S{i:05}\"}} {}\n", i % 2);
        let text: String = (0..50_000).map(line).collect();
        let freed = Arc::new(AtomicUsize::new(0));
        let pieces: Vec<bytes::Bytes> = text
            .as_bytes()
            .chunks(60_000)
            .map(|c| bytes::Bytes::from_owner(Tracked(c.to_vec(), freed.clone())))
            .collect();
        let count = pieces.len();
        let rendered = Rendered::make(|| Exposition::new(pieces));
        assert_eq!(
            freed.load(Ordering::SeqCst),
            count,
            "every piece of text is freed"
        );
        assert_eq!(rendered.text_len(), text.len());
        assert!(rendered.gzip().len() * 10 < text.len());
        assert!(
            self::text(&rendered) == text,
            "the gzip is the text byte for byte"
        );
    }
}
