use reqwest::header::{HeaderMap, HeaderValue};

use super::*;

fn now() -> SystemTime {
    // Sun, 06 Nov 1994 08:49:37 GMT
    UNIX_EPOCH + Duration::from_secs(784_111_777)
}

fn class(status: u16, headers: &[(&str, &str)], body: &str) -> Result<(), WriteError> {
    let mut map = HeaderMap::new();
    for (k, v) in headers {
        map.insert(
            reqwest::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    classify(StatusCode::from_u16(status).unwrap(), &map, body, now())
}

#[test]
fn success_codes_are_ok() {
    for s in [200, 201, 204] {
        assert_eq!(class(s, &[], ""), Ok(()));
    }
}

#[test]
fn server_errors_are_retryable() {
    for s in [500, 502, 504, 507] {
        let e = class(s, &[], r#"{"error":"timeout"}"#).unwrap_err();
        assert!(matches!(e, WriteError::Retryable { .. }), "{s}: {e:?}");
        assert!(e.is_retryable());
        assert_eq!(e.class(), "retryable");
    }
    // 503 without Retry-After: overloaded but gives no hint, our backoff applies.
    assert!(matches!(
        class(503, &[], "").unwrap_err(),
        WriteError::Retryable { .. }
    ));
}

#[test]
fn throttling_honours_retry_after() {
    assert_eq!(
        class(429, &[("retry-after", "7")], "").unwrap_err(),
        WriteError::Throttled {
            status: 429,
            retry_after: Some(Duration::from_secs(7))
        }
    );
    assert_eq!(
        class(429, &[], "").unwrap_err(),
        WriteError::Throttled {
            status: 429,
            retry_after: None
        }
    );
    assert_eq!(
        class(503, &[("Retry-After", "Sun, 06 Nov 1994 08:50:07 GMT")], "").unwrap_err(),
        WriteError::Throttled {
            status: 503,
            retry_after: Some(Duration::from_secs(30))
        }
    );
    let e = class(429, &[("retry-after", "soon")], "").unwrap_err();
    assert_eq!(
        e,
        WriteError::Throttled {
            status: 429,
            retry_after: None
        }
    );
    assert!(e.is_retryable());
    assert_eq!(e.class(), "throttled");
}

#[test]
fn too_large_splits() {
    let e = class(413, &[], r#"{"error":"Request Entity Too Large"}"#).unwrap_err();
    assert_eq!(e, WriteError::TooLarge);
    assert!(!e.is_retryable());
    assert_eq!(e.class(), "split");
}

#[test]
fn auth_and_missing_database_are_retried_as_misconfigured() {
    for s in [401, 403, 404, 501] {
        let e = class(s, &[], r#"{"error":"database not found: \"x\""}"#).unwrap_err();
        assert_eq!(
            e,
            WriteError::Misconfigured {
                status: s,
                body: "database not found: \"x\"".into()
            }
        );
        assert!(e.is_retryable());
    }
}

#[test]
fn bad_data_is_rejected_with_the_server_message() {
    let body = r#"{"error":"partial write: field type conflict: input field \"x\" on measurement \"f\" is type integer, already exists as type float dropped=2"}"#;
    let e = class(400, &[], body).unwrap_err();
    let WriteError::Rejected {
        status,
        body,
        dropped,
    } = &e
    else {
        panic!("{e:?}")
    };
    assert_eq!((*status, *dropped), (400, Some(2)));
    assert!(
        body.starts_with("partial write: field type conflict"),
        "{body}"
    );
    assert!(!e.is_retryable());
    assert_eq!(e.class(), "rejected");

    // InfluxDB 2.x style body, and a plain-text one.
    let e = class(
        422,
        &[],
        r#"{"code":"unprocessable entity","message":"points beyond retention"}"#,
    );
    assert_eq!(
        e.unwrap_err(),
        WriteError::Rejected {
            status: 422,
            body: "points beyond retention".into(),
            dropped: None
        }
    );
    let e = class(400, &[], "  unable to parse 'x'\n");
    assert_eq!(
        e.unwrap_err(),
        WriteError::Rejected {
            status: 400,
            body: "unable to parse 'x'".into(),
            dropped: None
        }
    );
    // Empty body: the X-Influxdb-Error header speaks instead.
    let e = class(400, &[("x-influxdb-error", "bad timestamp")], "");
    assert_eq!(
        e.unwrap_err(),
        WriteError::Rejected {
            status: 400,
            body: "bad timestamp".into(),
            dropped: None
        }
    );
}

#[test]
fn long_bodies_are_cut() {
    let e = class(400, &[], &"ü".repeat(5000)).unwrap_err();
    let WriteError::Rejected { body, .. } = e else {
        panic!()
    };
    assert_eq!(body.chars().count(), BODY_EXCERPT_CHARS + 1);
    assert!(body.ends_with('…'));
}

#[test]
fn retry_after_forms() {
    let at = |s| parse_retry_after(s, now());
    assert_eq!(at("0"), Some(Duration::ZERO));
    assert_eq!(at(" 120 "), Some(Duration::from_secs(120)));
    assert_eq!(at("1.5"), Some(Duration::from_millis(1500)));
    assert_eq!(at("-1"), None);
    assert_eq!(at("Sun, 06 Nov 1994 08:49:37 GMT"), Some(Duration::ZERO));
    assert_eq!(at("Sat, 05 Nov 1994 08:49:37 GMT"), Some(Duration::ZERO));
    assert_eq!(
        at("Mon, 07 Nov 1994 08:49:37 GMT"),
        Some(Duration::from_secs(86_400))
    );
    assert_eq!(at("Sunday, 06-Nov-94 08:49:37 GMT"), None);
    assert_eq!(at("Sun, 06 Nov 1994 25:49:37 GMT"), None);
    assert_eq!(
        parse_imf_fixdate("Thu, 01 Jan 1970 00:00:00 GMT"),
        Some(UNIX_EPOCH)
    );
    assert_eq!(
        parse_imf_fixdate("Tue, 29 Feb 2028 12:00:00 GMT"),
        Some(UNIX_EPOCH + Duration::from_secs(1_835_438_400))
    );
}

#[test]
fn every_class_is_a_result_label_created_at_startup() {
    let errors = [
        WriteError::Retryable {
            reason: String::new(),
        },
        WriteError::Throttled {
            status: 429,
            retry_after: None,
        },
        WriteError::TooLarge,
        WriteError::Rejected {
            status: 400,
            body: String::new(),
            dropped: None,
        },
        WriteError::Misconfigured {
            status: 401,
            body: String::new(),
        },
        WriteError::Setup(String::new()),
    ];
    for e in errors {
        assert!(WriteError::RESULTS.contains(&e.class()), "{}", e.class());
    }
    assert_eq!(WriteError::RESULTS.len(), 7, "ok + one per variant");
}
