//! The HTTP server's routes (axum):
//!
//! | route | answer |
//! |---|---|
//! | `GET /metrics` | Prometheus text exposition (`text/plain; version=0.0.4`), gzipped when `Accept-Encoding` allows ([`gzip`]) |
//! | `GET /healthz` | 200 `ok` while the process serves requests |
//! | `GET /readyz` | 200 when connected to the MQTT broker, else 503 with the reason |
//! | `GET /api/schools` | JSON array of every inventory school with health and devices ([`api::SchoolView`]) |
//! | `GET /api/schools/{id}` | one of those schools; 404 when the inventory has no such id |
//! | `GET /api/status` | every school in compact rows, for the status page ([`api::StatusView`]) |
//! | `GET /api/dead-letters` | JSON `{capacity, total, entries}` of recent rejects, newest first |
//! | `GET /` | a self-contained status page polling `/api/schools` |
//! | `POST /-/reload` | re-read the config file (as SIGHUP); 403 unless `exporter.enable_reload` |
//!
//! Rendering walks the whole live state, so `/metrics` and `/api/schools`
//! run on the blocking pool instead of stalling the async workers. The
//! large answers (`/metrics`, `/api/schools`, `/api/status`) are gzipped
//! when the client accepts it. Scrapes that come together share one render,
//! which is kept gzipped ([`scrape`]); the gzip is sent in its pieces, or
//! inflated piece by piece for a client that does not take it ([`body`]).
//!
//! Optional TLS and basic auth on every route come from
//! `exporter.web_config_file` ([`web_config`], [`auth`], [`serve`]).

pub mod api;
pub mod auth;
mod body;
pub mod gzip;
mod page;
pub mod scrape;
pub mod serve;
pub mod web_config;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;

use crate::Exporter;

/// All routes, with `exporter` as state.
pub fn router(exporter: Exporter) -> Router {
    Router::new()
        .route("/", get(status_page))
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/api/schools", get(schools))
        .route("/api/schools/{id}", get(school))
        .route("/api/status", get(status))
        .route("/api/dead-letters", get(dead_letters))
        .route("/api/outages", get(outages))
        .route("/-/reload", post(reload))
        .with_state(exporter)
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Response> {
    tokio::task::spawn_blocking(f).await.map_err(|e| {
        tracing::error!(error = %e, "exporter render task failed");
        (StatusCode::INTERNAL_SERVER_ERROR, "render failed\n").into_response()
    })
}

async fn metrics(State(exporter): State<Exporter>, headers: HeaderMap) -> Response {
    let gzipped = gzip::accepted(&headers);
    let arrived = std::time::Instant::now();
    // A task of its own: a scrape whose client hangs up mid-render must
    // not abandon the render that other scrapes wait for.
    let rendered = tokio::spawn(async move { exporter.shared_render(arrived).await });
    let rendered = match rendered.await {
        Ok(Ok(rendered)) => rendered,
        Ok(Err(e)) | Err(e) => {
            tracing::error!(error = %e, "exporter render task failed");
            return (StatusCode::INTERNAL_SERVER_ERROR, "render failed\n").into_response();
        }
    };
    // The render keeps the page gzipped only ([`scrape`]): sent as it is,
    // or inflated as the client reads.
    let body = if gzipped {
        axum::body::Body::new(body::PiecesBody::new(rendered.gzip()))
    } else {
        axum::body::Body::new(body::GunzipBody::new(rendered.gzip(), rendered.text_len()))
    };
    drop(rendered);
    if gzipped {
        (
            [
                (header::CONTENT_TYPE, crate::render::content_type()),
                (header::CONTENT_ENCODING, "gzip"),
            ],
            body,
        )
            .into_response()
    } else {
        (
            [(header::CONTENT_TYPE, crate::render::content_type())],
            body,
        )
            .into_response()
    }
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(exporter): State<Exporter>) -> Response {
    match exporter.readiness() {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {reason}\n"),
        )
            .into_response(),
    }
}

async fn schools(State(exporter): State<Exporter>, headers: HeaderMap) -> Response {
    json_maybe_gzipped(&headers, move || exporter.schools()).await
}

async fn school(
    State(exporter): State<Exporter>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Response {
    match blocking(move || exporter.school(&id).ok_or(id)).await {
        Ok(Ok(school)) => no_store(Json(school)),
        Ok(Err(id)) => (
            StatusCode::NOT_FOUND,
            format!("no school {id:?} in the inventory\n"),
        )
            .into_response(),
        Err(r) => r,
    }
}

async fn status(State(exporter): State<Exporter>, headers: HeaderMap) -> Response {
    json_maybe_gzipped(&headers, move || exporter.status()).await
}

/// `view()` as JSON, rendered on the blocking pool, gzipped when accepted.
async fn json_maybe_gzipped<T: serde::Serialize>(
    headers: &HeaderMap,
    view: impl FnOnce() -> T + Send + 'static,
) -> Response {
    let gzipped = gzip::accepted(headers);
    let body = blocking(move || {
        let json = Bytes::from(serde_json::to_vec(&view()).expect("views serialize"));
        if gzipped {
            gzip::compress(vec![json]).into_chunks().concat()
        } else {
            Vec::from(json)
        }
    })
    .await;
    let body = match body {
        Ok(body) => body,
        Err(r) => return r,
    };
    let json = (header::CONTENT_TYPE, "application/json");
    if gzipped {
        no_store(([json, (header::CONTENT_ENCODING, "gzip")], body))
    } else {
        no_store(([json], body))
    }
}

async fn dead_letters(State(exporter): State<Exporter>) -> Response {
    let dl = exporter.dead_letters();
    no_store(Json(api::DeadLettersView {
        capacity: dl.capacity(),
        total: dl.total(),
        entries: dl.snapshot(),
    }))
}

async fn outages(State(exporter): State<Exporter>) -> Response {
    match blocking(move || exporter.outages()).await {
        Ok((open, recent)) => no_store(Json(api::OutagesView { open, recent })),
        Err(r) => r,
    }
}

async fn reload(State(exporter): State<Exporter>) -> Response {
    match exporter.request_reload().await {
        Ok(Ok(summary)) => (StatusCode::OK, format!("{summary}\n")).into_response(),
        Ok(Err(refused)) => (StatusCode::BAD_REQUEST, format!("{refused}\n")).into_response(),
        Err(why) => (StatusCode::FORBIDDEN, format!("{why}\n")).into_response(),
    }
}

async fn status_page() -> Html<&'static str> {
    Html(page::STATUS_PAGE)
}

fn no_store(body: impl IntoResponse) -> Response {
    ([(header::CACHE_CONTROL, "no-store")], body).into_response()
}
