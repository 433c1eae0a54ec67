//! Serving the router: plain HTTP through `axum::serve`, HTTPS through a
//! rustls accept loop (tokio-rustls + hyper-util, both already in the
//! dependency tree through axum, rumqttc and reqwest, so no TLS server
//! framework is added).
//!
//! The TLS handshake runs in each connection's own task with a timeout, so
//! a client that stalls mid-handshake never blocks the accept loop. On
//! shutdown the listener closes, connections get HTTP/2 GOAWAY or finish
//! their current HTTP/1 request, and serving returns once they are done
//! (at most [`SHUTDOWN_GRACE`] later).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, warn};

/// Longest a client may take for its TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest shutdown waits for open connections.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Serves `router` on `listener` (HTTPS with `tls`, else HTTP) until
/// `shutdown` resolves, then lets open requests finish.
pub async fn serve(
    router: Router,
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    match tls {
        None => {
            axum::serve(listener, router)
                .with_graceful_shutdown(shutdown)
                .await
        }
        Some(config) => serve_tls(router, listener, config, shutdown).await,
    }
}

async fn serve_tls(
    router: Router,
    listener: TcpListener,
    config: Arc<rustls::ServerConfig>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let acceptor = TlsAcceptor::from(config);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: back off
                    // instead of spinning (what axum::serve does too).
                    warn!(error = %e, "exporter: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        // Taken before the task starts, so a shutdown during the handshake
        // is still seen by the connection.
        let watcher = graceful.watcher();
        let acceptor = acceptor.clone();
        let service = TowerToHyperService::new(router.clone());
        tokio::spawn(async move {
            let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => {
                    debug!(%peer, error = %e, "exporter: TLS handshake failed");
                    return;
                }
                Err(_) => {
                    debug!(%peer, "exporter: TLS handshake timed out");
                    return;
                }
            };
            let builder = auto::Builder::new(TokioExecutor::new());
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            if let Err(e) = watcher.watch(conn).await {
                debug!(%peer, error = %e, "exporter: connection closed with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        warn!(
            "exporter: connections still open {}s after shutdown; closing them",
            SHUTDOWN_GRACE.as_secs()
        );
    }
    Ok(())
}
