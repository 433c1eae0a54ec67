//! `status` format: device will / status topics.
//!
//! Accepts, after trimming whitespace and trailing NULs, case-insensitively:
//!
//! | online | offline | source |
//! |---|---|---|
//! | `online` | `offline` | Tasmota `LWT` |
//! | `ready`, `init`, `alert`, `sleeping` | `lost`, `disconnected` | Homie `$state` |
//! | `1`, `true`, `up` | `0`, `false`, `down` | generic |
//!
//! The device is the topic variable `device`. Anything else, an empty or
//! non-UTF-8 payload included, is a `parse_error` naming the value.

use super::common::{self, echo, reject};
use crate::decode::{DecodeContext, Decoded, StatusReport};
use crate::reject::{Reject, RejectReason};

const ONLINE: [&str; 8] = [
    "online", "ready", "init", "alert", "sleeping", "1", "true", "up",
];
const OFFLINE: [&str; 6] = ["offline", "lost", "disconnected", "0", "false", "down"];

pub fn decode<'a>(ctx: DecodeContext<'a>, payload: &[u8]) -> Result<Decoded<'a>, Reject> {
    let device = common::topic_var(&ctx, "device", "device")?;
    let text = common::text(payload)?;
    let is = |words: &[&str]| words.iter().any(|w| w.eq_ignore_ascii_case(text));
    let online = if is(&ONLINE) {
        true
    } else if is(&OFFLINE) {
        false
    } else {
        return Err(reject(
            RejectReason::ParseError,
            format!(
                "unknown status `{}` (expected online/offline or a Homie $state)",
                echo(text)
            ),
        ));
    };
    Ok(Decoded::Status(StatusReport {
        device: device.into(),
        online,
    }))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::route::TopicVars;
    use crate::sample::CounterWidth;

    fn run(payload: &[u8]) -> Result<Decoded<'static>, Reject> {
        let vars = TopicVars::from_pairs([("device", "rtr-001")]);
        decode(
            DecodeContext {
                vars: &vars,
                counter_width: CounterWidth::Bits64,
            },
            payload,
        )
        .map(Decoded::into_owned)
    }

    fn status(online: bool) -> Decoded<'static> {
        Decoded::Status(StatusReport {
            device: "rtr-001".into(),
            online,
        })
    }

    #[test]
    fn tasmota_homie_and_generic_words() {
        for p in [
            "Online",
            "online",
            "ready",
            "init",
            "alert",
            "sleeping",
            "1",
            "TRUE",
            "up",
            " Online\n",
        ] {
            assert_eq!(run(p.as_bytes()).unwrap(), status(true), "{p}");
        }
        for p in [
            "Offline",
            "lost",
            "disconnected",
            "0",
            "false",
            "Down",
            "offline\0",
        ] {
            assert_eq!(run(p.as_bytes()).unwrap(), status(false), "{p}");
        }
    }

    #[test]
    fn unknown_words_are_named() {
        let e = run(b"maybe").unwrap_err();
        assert_eq!(e.reason, RejectReason::ParseError);
        assert!(e.detail.contains("`maybe`"), "{e}");
        // Truncated and huge payloads: named, but the echo is bounded.
        assert_eq!(run(b"Onl").unwrap_err().reason, RejectReason::ParseError);
        let huge = "x".repeat(10_000);
        assert!(run(huge.as_bytes()).unwrap_err().detail.len() < 200);
    }

    #[test]
    fn empty_and_non_utf8_payloads() {
        assert_eq!(run(b"").unwrap_err().detail, "empty payload");
        assert_eq!(run(b" \0").unwrap_err().reason, RejectReason::ParseError);
        assert_eq!(
            run(b"\xffonline").unwrap_err().reason,
            RejectReason::ParseError
        );
    }

    #[test]
    fn device_comes_from_the_topic() {
        let vars = TopicVars::default();
        let ctx = DecodeContext {
            vars: &vars,
            counter_width: CounterWidth::Bits64,
        };
        let e = decode(ctx, b"online").unwrap_err();
        assert_eq!(e.reason, RejectReason::ParseError);
        assert!(e.detail.contains("no device"), "{e}");
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(payload in proptest::collection::vec(any::<u8>(), 0..128)) {
            match run(&payload) {
                Ok(Decoded::Status(s)) => prop_assert_eq!(s.device, "rtr-001"),
                Ok(other) => prop_assert!(false, "{:?}", other),
                Err(e) => prop_assert!(e.detail.chars().count() < 200),
            }
        }
    }
}
