//! HTTP basic auth against the bcrypt hashes of the web config, on every
//! route (`/healthz` and `/readyz` too, as the Prometheus exporter-toolkit
//! does: liveness probes send the header like Prometheus does).
//!
//! - bcrypt runs on the blocking pool, at most [`MAX_CONCURRENT_VERIFIES`]
//!   at a time, so a flood of bad passwords costs bounded CPU and never
//!   stalls the async workers;
//! - a successful check is remembered as a keyed 64-bit hash of
//!   (user, password) (SipHash with a per-process random key; the password
//!   itself is never stored), so a scrape every 15 s does not pay for bcrypt
//!   each time;
//! - an unknown user is checked against a dummy hash of the same cost, so
//!   response time does not reveal which user names exist;
//! - nothing here logs a credential: failures are answered with 401 and
//!   `WWW-Authenticate: Basic`, and logged at debug level without the user.

use std::collections::{BTreeMap, HashSet};
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use tokio::sync::Semaphore;

/// bcrypt checks running at once (each takes ~50–250 ms of one core).
pub const MAX_CONCURRENT_VERIFIES: usize = 2;
/// Remembered successful logins before the memory is cleared.
const CACHE_LIMIT: usize = 256;

/// The users and what the checks share.
#[derive(Clone)]
pub struct BasicAuth {
    inner: Arc<Inner>,
}

struct Inner {
    users: BTreeMap<String, String>,
    dummy_hash: String,
    verified: Mutex<HashSet<u64>>,
    hasher: std::collections::hash_map::RandomState,
    permits: Semaphore,
}

impl BasicAuth {
    /// `users`: name → bcrypt hash (checked by the web config loader).
    pub fn new(users: BTreeMap<String, String>) -> BasicAuth {
        let cost = users
            .values()
            .filter_map(|h| h.parse::<bcrypt::HashParts>().ok())
            .map(|p| p.get_cost())
            .max()
            .unwrap_or(bcrypt::DEFAULT_COST);
        let dummy_hash = bcrypt::hash("schoolnet: no such user", cost)
            .unwrap_or_else(|_| users.values().next().cloned().unwrap_or_default());
        BasicAuth {
            inner: Arc::new(Inner {
                users,
                dummy_hash,
                verified: Mutex::new(HashSet::new()),
                hasher: Default::default(),
                permits: Semaphore::new(MAX_CONCURRENT_VERIFIES),
            }),
        }
    }

    /// Whether `headers` carry the credentials of a configured user.
    pub async fn check(&self, headers: &HeaderMap) -> bool {
        let Some((user, password)) = credentials(headers) else {
            return false;
        };
        let key = self.key(&user, &password);
        if self.verified().contains(&key) {
            return true;
        }
        let Ok(_permit) = self.inner.permits.acquire().await else {
            return false;
        };
        let inner = self.inner.clone();
        let ok = tokio::task::spawn_blocking(move || {
            let (hash, known) = match inner.users.get(&user) {
                Some(h) => (h.as_str(), true),
                None => (inner.dummy_hash.as_str(), false),
            };
            bcrypt::verify(password.as_bytes(), hash).unwrap_or(false) && known
        })
        .await
        .unwrap_or(false);
        if ok {
            let mut cache = self.verified();
            if cache.len() >= CACHE_LIMIT {
                cache.clear();
            }
            cache.insert(key);
        }
        ok
    }

    fn key(&self, user: &str, password: &str) -> u64 {
        // Length-prefixed, so no two (user, password) pairs share a key.
        let mut h = self.inner.hasher.build_hasher();
        h.write_usize(user.len());
        h.write(user.as_bytes());
        h.write(password.as_bytes());
        h.finish()
    }

    fn verified(&self) -> std::sync::MutexGuard<'_, HashSet<u64>> {
        self.inner
            .verified
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }
}

/// `Authorization: Basic base64(user:password)`, decoded.
fn credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// The axum middleware: 401 unless [`BasicAuth::check`] passes.
pub async fn require(State(auth): State<BasicAuth>, request: Request, next: Next) -> Response {
    if auth.check(request.headers()).await {
        return next.run(request).await;
    }
    tracing::debug!(path = %request.uri().path(), "unauthorized request");
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Basic realm=\"schoolnet\"")],
        "Unauthorized\n",
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user: &str, password: &str) -> HeaderMap {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            format!("Basic {token}").parse().unwrap(),
        );
        h
    }

    fn auth() -> BasicAuth {
        let hash = bcrypt::hash("s3cret: pass", 4).unwrap();
        BasicAuth::new(BTreeMap::from([("prometheus".to_string(), hash)]))
    }

    #[tokio::test]
    async fn right_user_and_password_pass_everything_else_fails() {
        let a = auth();
        assert!(a.check(&basic("prometheus", "s3cret: pass")).await);
        // Twice: the second is answered from the cache.
        assert!(a.check(&basic("prometheus", "s3cret: pass")).await);
        assert!(!a.check(&basic("prometheus", "wrong")).await);
        assert!(!a.check(&basic("nobody", "s3cret: pass")).await);
        assert!(!a.check(&HeaderMap::new()).await);
        let mut bearer = HeaderMap::new();
        bearer.insert(header::AUTHORIZATION, "Bearer abc".parse().unwrap());
        assert!(!a.check(&bearer).await);
        let mut garbage = HeaderMap::new();
        garbage.insert(header::AUTHORIZATION, "Basic !!!".parse().unwrap());
        assert!(!a.check(&garbage).await);
    }

    #[test]
    fn passwords_may_contain_colons() {
        assert_eq!(
            credentials(&basic("u", "a:b")),
            Some(("u".into(), "a:b".into()))
        );
    }
}
