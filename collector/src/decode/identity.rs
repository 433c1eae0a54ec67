//! Whose message it is: the topic variables a route captured (the device
//! id, usually) and the rule that a payload naming a device may only name
//! the topic's own (`identity_mismatch` otherwise).

use std::fmt::Display;

use crate::decode::detail::{echo, reject};
use crate::decode::DecodeContext;
use crate::reject::{Reject, RejectReason};

/// A topic variable that must be present (the device id, usually).
pub(super) fn topic_var<'a>(
    ctx: &DecodeContext<'a>,
    name: &str,
    role: &str,
) -> Result<&'a str, Reject> {
    match ctx.vars.get(name) {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(reject(
            RejectReason::ParseError,
            format!("no {role}: topic variable `{}` missing", echo(name)),
        )),
    }
}

/// The topic's `{device}` variable, when the route has one and it is set.
pub(super) fn topic_device<'a>(ctx: &DecodeContext<'a>) -> Option<&'a str> {
    ctx.vars.get("device").filter(|d| !d.is_empty())
}

/// `Ok` unless the payload names (`claimed`, read from `source`) another
/// device than the topic (`topic`): a device may only report for itself.
/// Both ids are echoed bounded, so a hostile id cannot flood the logs.
pub(super) fn same_device(topic: &str, claimed: &str, source: &dyn Display) -> Result<(), Reject> {
    if claimed == topic {
        return Ok(());
    }
    Err(reject(
        RejectReason::IdentityMismatch,
        format!(
            "payload names device `{}` ({source}) but the topic names `{}`",
            echo(claimed),
            echo(topic)
        ),
    ))
}
