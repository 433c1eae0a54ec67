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

use crate::decode::detail::{echo, reject};
use crate::decode::{identity, payload};
use crate::decode::{DecodeContext, Decoded, StatusReport};
use crate::reject::{Reject, RejectReason};

const ONLINE: [&str; 8] = [
    "online", "ready", "init", "alert", "sleeping", "1", "true", "up",
];
const OFFLINE: [&str; 6] = ["offline", "lost", "disconnected", "0", "false", "down"];

pub fn decode<'a>(ctx: DecodeContext<'a>, payload: &[u8]) -> Result<Decoded<'a>, Reject> {
    let device = identity::topic_var(&ctx, "device", "device")?;
    let text = payload::text(payload)?;
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
mod tests;
