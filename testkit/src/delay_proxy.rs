//! A slow server on demand: a TCP proxy on a free loopback port that passes
//! requests to a real upstream at once and delivers every byte the upstream
//! answers `delay` after it arrived. Concurrent requests (one per
//! connection, as HTTP/1.1 clients send them) overlap exactly as they would
//! against a server that takes `delay` to answer each, which is what the
//! InfluxDB writer's concurrency tests and benchmarks need.
//!
//! It counts connections with a request outstanding (bytes sent upstream
//! and no answer delivered yet), so a test can see how many writes a client
//! really had in flight.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// Delays the responses of `upstream`; stops (all connections closed) when
/// dropped.
pub struct DelayProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: tokio::task::JoinHandle<()>,
}

#[derive(Default)]
struct Shared {
    delay_us: AtomicU64,
    busy: AtomicUsize,
    max_busy: AtomicUsize,
    requests: AtomicU64,
}

impl DelayProxy {
    /// Listens on `127.0.0.1:0` (the kernel picks a free port, so no race)
    /// and forwards each connection to `upstream`.
    pub async fn start(upstream: SocketAddr, delay: Duration) -> DelayProxy {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap_or_else(|e| panic!("testkit: delay proxy cannot bind 127.0.0.1:0: {e}"));
        let addr = listener.local_addr().expect("testkit: proxy local_addr");
        let shared = Arc::new(Shared::default());
        shared
            .delay_us
            .store(delay.as_micros() as u64, Ordering::Relaxed);
        let accept = tokio::spawn(accept_loop(listener, upstream, Arc::clone(&shared)));
        DelayProxy {
            addr,
            shared,
            accept,
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Changes the delay for bytes the upstream sends from now on.
    pub fn set_delay(&self, delay: Duration) {
        self.shared
            .delay_us
            .store(delay.as_micros() as u64, Ordering::Relaxed);
    }

    /// The most connections that had a request outstanding at once.
    pub fn max_concurrent_requests(&self) -> usize {
        self.shared.max_busy.load(Ordering::Relaxed)
    }

    /// Requests started (client bytes arriving on an idle connection).
    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::Relaxed)
    }
}

impl Drop for DelayProxy {
    fn drop(&mut self) {
        // Aborting the accept loop drops its JoinSet, which aborts every
        // connection's tasks and closes their sockets.
        self.accept.abort();
    }
}

async fn accept_loop(listener: TcpListener, upstream: SocketAddr, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((client, _)) = accepted else { continue };
                connections.spawn(proxy_connection(client, upstream, Arc::clone(&shared)));
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Client → upstream at once; upstream → client through a queue that
/// releases each chunk `delay` after it was read.
async fn proxy_connection(client: TcpStream, upstream: SocketAddr, shared: Arc<Shared>) {
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (mut client_rd, mut client_wr) = client.into_split();
    let (mut server_rd, mut server_wr) = server.into_split();
    let busy = Arc::new(std::sync::atomic::AtomicBool::new(false));

    let requests = {
        let (shared, busy) = (Arc::clone(&shared), Arc::clone(&busy));
        async move {
            let mut buf = vec![0u8; 64 << 10];
            loop {
                let n = match client_rd.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                if !busy.swap(true, Ordering::SeqCst) {
                    shared.requests.fetch_add(1, Ordering::Relaxed);
                    let now = shared.busy.fetch_add(1, Ordering::SeqCst) + 1;
                    shared.max_busy.fetch_max(now, Ordering::SeqCst);
                }
                if server_wr.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
            let _ = server_wr.shutdown().await;
        }
    };
    let (tx, mut rx) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let responses = {
        let shared = Arc::clone(&shared);
        async move {
            let mut buf = vec![0u8; 64 << 10];
            loop {
                let n = match server_rd.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                let delay = Duration::from_micros(shared.delay_us.load(Ordering::Relaxed));
                if tx
                    .send((Instant::now() + delay, buf[..n].to_vec()))
                    .is_err()
                {
                    break;
                }
            }
        }
    };
    let delivery = {
        let (shared, busy) = (Arc::clone(&shared), Arc::clone(&busy));
        async move {
            while let Some((at, bytes)) = rx.recv().await {
                tokio::time::sleep_until(at).await;
                if busy.swap(false, Ordering::SeqCst) {
                    shared.busy.fetch_sub(1, Ordering::SeqCst);
                }
                if client_wr.write_all(&bytes).await.is_err() {
                    break;
                }
            }
            let _ = client_wr.shutdown().await;
        }
    };
    tokio::join!(requests, responses, delivery);
    if busy.swap(false, Ordering::SeqCst) {
        shared.busy.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An echo server behind the proxy: the answer comes `delay` late, and
    /// three connections asking at once are all answered after one delay.
    #[tokio::test]
    async fn answers_are_late_by_the_delay_and_overlap() {
        let echo = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let upstream = echo.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (mut s, _) = echo.accept().await.unwrap();
                tokio::spawn(async move {
                    let mut buf = [0u8; 16];
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        let delay = Duration::from_millis(300);
        let proxy = DelayProxy::start(upstream, delay).await;
        let t0 = std::time::Instant::now();
        let mut clients = JoinSet::new();
        for i in 0..3u8 {
            let addr = proxy.addr();
            clients.spawn(async move {
                let mut c = TcpStream::connect(addr).await.unwrap();
                c.write_all(&[i]).await.unwrap();
                let mut b = [0u8; 1];
                c.read_exact(&mut b).await.unwrap();
                b[0]
            });
        }
        let mut got = clients.join_all().await;
        got.sort();
        let took = t0.elapsed();
        assert_eq!(got, [0, 1, 2]);
        assert!(took >= delay, "{took:?}");
        assert!(took < delay * 2, "answers overlap: {took:?}");
        assert_eq!(proxy.max_concurrent_requests(), 3);
        assert_eq!(proxy.requests(), 3);
    }
}
