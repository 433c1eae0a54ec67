//! gzip for `/metrics` when the scraper asks for it (Prometheus always
//! does): the exposition is repetitive text that gzip at its fastest level
//! shrinks about sixteen times (the 216-school page: 937 KB → 58 KB), which
//! is what crosses the network and what a TLS proxy has to encrypt.

use std::io::Write;

use axum::http::HeaderMap;
use flate2::write::GzEncoder;
use flate2::Compression;

/// Whether `Accept-Encoding` accepts gzip (`gzip` or `*`, not with `q=0`).
pub fn accepted(headers: &HeaderMap) -> bool {
    headers
        .get_all(axum::http::header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let coding = parts.next().unwrap_or_default();
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q == 0.0)
            });
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
        })
}

/// `text` gzipped at the fastest level: a scrape wants it soon more than
/// small (level 1 is within a few per cent of the default's size here).
pub fn compress(text: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(text.len() / 8), Compression::fast());
    encoder
        .write_all(text)
        .and_then(|()| encoder.finish())
        .expect("writing to a Vec cannot fail")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            axum::http::header::ACCEPT_ENCODING,
            HeaderValue::from_str(value).unwrap(),
        );
        h
    }

    #[test]
    fn accept_encoding_is_read_as_http_says() {
        assert!(accepted(&headers("gzip")));
        assert!(accepted(&headers("deflate, gzip;q=0.5")));
        assert!(accepted(&headers("GZIP")));
        assert!(accepted(&headers("*")));
        assert!(!accepted(&headers("gzip;q=0")));
        assert!(!accepted(&headers("identity")));
        assert!(!accepted(&HeaderMap::new()));
    }

    #[test]
    fn compressed_text_comes_back_unchanged() {
        let text = "schoolnet_school_up{school=\"NX-001\"} 1\n".repeat(1000);
        let gz = compress(text.as_bytes());
        assert!(gz.len() < text.len() / 10);
        let mut back = String::new();
        use std::io::Read;
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_string(&mut back)
            .unwrap();
        assert_eq!(back, text);
    }
}
