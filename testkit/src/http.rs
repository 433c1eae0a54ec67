use std::time::Duration;

use anyhow::{bail, Context};
use reqwest::{Client, Method, Url};
use serde_json::Value;

use crate::server::Probe;

/// An HTTP client for loopback servers: no proxy, bounded timeouts.
pub(crate) fn client() -> Client {
    Client::builder()
        .no_proxy()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(60))
        .build()
        .expect("testkit: build reqwest client")
}

/// [`client`] that also trusts the PEM CA certificate(s) in `ca`.
pub(crate) fn client_trusting(ca: &std::path::Path) -> Client {
    let pem = std::fs::read(ca).unwrap_or_else(|e| panic!("testkit: read {}: {e}", ca.display()));
    let certs = reqwest::Certificate::from_pem_bundle(&pem)
        .unwrap_or_else(|e| panic!("testkit: {}: {e}", ca.display()));
    Client::builder()
        .no_proxy()
        .tls_certs_merge(certs)
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(60))
        .build()
        .expect("testkit: build reqwest client")
}

/// `base` + `path` with URL-encoded query parameters.
pub(crate) fn url(base: &str, path: &str, params: &[(&str, &str)]) -> Url {
    Url::parse_with_params(&format!("{base}{path}"), params)
        .unwrap_or_else(|e| panic!("testkit: bad url {base}{path}: {e}"))
}

/// Sends a request and returns (status, body text); errors only on
/// transport failure.
pub(crate) async fn send(
    client: &Client,
    method: Method,
    url: Url,
    body: Option<String>,
) -> anyhow::Result<(u16, String)> {
    let what = format!("{method} {url}");
    let mut req = client.request(method, url);
    if let Some(body) = body {
        req = req.body(body);
    }
    let resp = req.send().await.with_context(|| what.clone())?;
    let status = resp.status().as_u16();
    let text = resp.text().await.with_context(|| what.clone())?;
    Ok((status, text))
}

/// [`send`] for a request that must get through: panics with
/// `testkit: <what>: <error>` on a transport failure.
pub(crate) async fn must_send(
    client: &Client,
    method: Method,
    url: Url,
    body: Option<String>,
    what: &str,
) -> (u16, String) {
    send(client, method, url, body)
        .await
        .unwrap_or_else(|e| panic!("testkit: {what}: {e:#}"))
}

/// Prometheus-style API (`{"status":"success","data":...}`): returns `data`.
pub(crate) async fn prom_api(client: &Client, url: Url) -> anyhow::Result<Value> {
    let what = url.to_string();
    let (status, text) = send(client, Method::GET, url, None).await?;
    let body: Value = serde_json::from_str(&text).with_context(|| {
        format!(
            "GET {what}: HTTP {status}, body is not JSON: {}",
            truncate(&text)
        )
    })?;
    if status != 200 || body["status"] != "success" {
        bail!("GET {what}: HTTP {status}: {}", truncate(&text));
    }
    Ok(body["data"].clone())
}

/// A readiness probe: `GET url` answers 200 with a body that passes `ok`.
pub(crate) fn probe_body(client: &Client, url: Url, ok: fn(&str) -> bool) -> Probe {
    let client = client.clone();
    Box::pin(async move {
        match client.get(url).send().await {
            Ok(resp) if resp.status().as_u16() == 200 => resp.text().await.is_ok_and(|t| ok(&t)),
            _ => false,
        }
    })
}

/// `try_query`, `query` and `query_f64` for a server with `client` and `url`
/// fields that answers the Prometheus query API (Prometheus itself and
/// VictoriaMetrics), written once.
macro_rules! prom_query_methods {
    ($server:ident, $what:literal) => {
        impl $server {
            /// Instant PromQL query; returns `data.result`.
            pub async fn try_query(&self, promql: &str) -> anyhow::Result<serde_json::Value> {
                let url = $crate::http::url(&self.url, "/api/v1/query", &[("query", promql)]);
                Ok($crate::http::prom_api(&self.client, url).await?["result"].clone())
            }

            /// [`Self::try_query`], panicking on error.
            pub async fn query(&self, promql: &str) -> serde_json::Value {
                self.try_query(promql)
                    .await
                    .unwrap_or_else(|e| panic!("testkit: {} query: {e:#}", $what))
            }

            /// The first sample's value of [`Self::query`], if any.
            pub async fn query_f64(&self, promql: &str) -> Option<f64> {
                $crate::http::first_value(&self.query(promql).await)
            }
        }
    };
}
pub(crate) use prom_query_methods;

/// The first sample's value of a Prometheus/VictoriaMetrics query result
/// (`data.result`, as returned by `query`): for vector and scalar results,
/// and the last point of the first series of a matrix.
pub fn first_value(result: &Value) -> Option<f64> {
    let sample = match result {
        Value::Array(items) if items.len() == 2 && items[1].is_string() => result,
        Value::Array(items) => {
            let first = items.first()?;
            if let Some(values) = first.get("values").and_then(Value::as_array) {
                values.last()?
            } else {
                first.get("value")?
            }
        }
        _ => return None,
    };
    sample.get(1)?.as_str()?.parse().ok()
}

pub(crate) fn truncate(s: &str) -> String {
    const MAX: usize = 2000;
    if s.len() <= MAX {
        s.to_string()
    } else {
        let mut end = MAX;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}... ({} bytes)", &s[..end], s.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn first_value_of_vector_scalar_matrix() {
        let vector = json!([{"metric": {}, "value": [1.0, "2.5"]}]);
        assert_eq!(first_value(&vector), Some(2.5));
        let scalar = json!([1.0, "3"]);
        assert_eq!(first_value(&scalar), Some(3.0));
        let matrix = json!([{"metric": {}, "values": [[1.0, "1"], [2.0, "4"]]}]);
        assert_eq!(first_value(&matrix), Some(4.0));
        assert_eq!(first_value(&json!([])), None);
    }
}
