//! From device verdicts to school verdicts: which devices speak for a
//! school, darkness propagated up the fiber tree, and `upstream_down`.

use std::collections::HashMap;

use collector::inventory::Role;

use super::{device_verdicts, Cause, Health, HealthPolicy, SchoolAssessment, State};
use crate::state::LiveState;

/// Children a device needs before its subtree going dark marks it down.
const MIN_CHILDREN_TO_INFER: usize = 2;

/// Assesses every inventory school, in inventory order, at `now`.
pub fn assess(state: &LiveState, policy: &HealthPolicy, now: f64) -> Vec<SchoolAssessment> {
    let inventory = state.inventory();
    let mut devices = device_verdicts(state, policy, now);
    let (dark, children) = darkness(state, &devices);
    // A shared parent whose whole subtree is dark is down, whether or not it
    // reports itself: that is what makes one OLT page instead of forty
    // schools. A lone child is no evidence about its parent (one dead router
    // says nothing about its ONT), hence the minimum.
    for (slot, health) in devices.iter_mut().enumerate() {
        if dark[slot] && children[slot] >= MIN_CHILDREN_TO_INFER && health.state != State::Down {
            *health = policy.verdict(State::Down, Some(Cause::Stale), health.last_seen, now);
        }
    }
    let slot_of: HashMap<&str, usize> = inventory
        .devices()
        .iter()
        .enumerate()
        .map(|(i, d)| (&*d.id, i))
        .collect();

    (0..inventory.schools().len())
        .map(|school| {
            let slots = state.school_devices(school);
            let members: Vec<usize> = if slots.iter().any(|&s| state.device(s).role != Role::Olt) {
                slots
                    .iter()
                    .copied()
                    .filter(|&s| state.device(s).role != Role::Olt)
                    .collect()
            } else {
                slots.to_vec()
            };
            let routers: Vec<usize> = members
                .iter()
                .copied()
                .filter(|&s| state.device(s).role == Role::Router)
                .collect();
            let judged = if routers.is_empty() {
                &members
            } else {
                &routers
            };
            let last_seen = members
                .iter()
                .filter_map(|&s| devices[s].last_seen)
                .reduce(f64::max);

            let reporting = judged
                .iter()
                .any(|&s| matches!(devices[s].state, State::Up | State::Degraded));
            let (state_, cause) = if reporting {
                match members
                    .iter()
                    .find(|&&s| devices[s].state == State::Degraded)
                {
                    Some(&s) => (State::Degraded, devices[s].cause),
                    None => (State::Up, None),
                }
            } else if judged.iter().any(|&s| devices[s].state == State::Down) {
                let upstream = judged
                    .iter()
                    .any(|&s| upstream_is_down(state, &slot_of, &devices, s, school));
                let cause = if upstream {
                    Cause::UpstreamDown
                } else {
                    [Cause::LwtOffline, Cause::LinkDown, Cause::Stale]
                        .into_iter()
                        .find(|c| judged.iter().any(|&s| devices[s].cause == Some(*c)))
                        .unwrap_or(Cause::Stale)
                };
                (State::Down, Some(cause))
            } else {
                (State::Unknown, None)
            };
            // A down school was last seen when the devices it is judged by
            // were, even if its ONT still reports: its outage starts there
            // (for every cause), not when the silence was noticed.
            let last_seen = if state_ == State::Down {
                judged
                    .iter()
                    .filter_map(|&s| devices[s].last_seen)
                    .reduce(f64::max)
                    .or(last_seen)
            } else {
                last_seen
            };
            SchoolAssessment {
                school,
                health: policy.verdict(state_, cause, last_seen, now),
                devices: slots.iter().map(|&s| (s, devices[s])).collect(),
            }
        })
        .collect()
}

/// Whether a device outside `school` on the path from `slot` to the root (an
/// OLT, or any shared upstream device) is down, by its own verdict or
/// inferred from its subtree.
fn upstream_is_down(
    state: &LiveState,
    slot_of: &HashMap<&str, usize>,
    devices: &[Health],
    slot: usize,
    school: usize,
) -> bool {
    let school_id = &state.inventory().schools()[school].id;
    let mut current = state.device(slot);
    // Bounded walk: the inventory forbids dangling parents, not cycles.
    for _ in 0..16 {
        let Some(parent) = current.parent.as_deref().and_then(|p| slot_of.get(p)) else {
            return false;
        };
        let parent_info = state.device(*parent);
        let shared = parent_info.role == Role::Olt || parent_info.school.id != *school_id;
        if shared && devices[*parent].state == State::Down {
            return true;
        }
        current = parent_info;
    }
    false
}

/// `dark[slot]`: the device is down, or it has children and all are dark;
/// with the number of children of each device.
fn darkness(state: &LiveState, devices: &[Health]) -> (Vec<bool>, Vec<usize>) {
    let inventory = state.inventory();
    let index: HashMap<&str, usize> = inventory
        .devices()
        .iter()
        .enumerate()
        .map(|(i, d)| (&*d.id, i))
        .collect();
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); devices.len()];
    for (i, d) in inventory.devices().iter().enumerate() {
        if let Some(&p) = d.parent.as_deref().and_then(|p| index.get(p)) {
            children[p].push(i);
        }
    }
    let mut memo: Vec<Option<bool>> = vec![None; devices.len()];
    let dark = (0..devices.len())
        .map(|slot| is_dark(slot, devices, &children, &mut memo, 0))
        .collect();
    (dark, children.iter().map(Vec::len).collect())
}

fn is_dark(
    slot: usize,
    devices: &[Health],
    children: &[Vec<usize>],
    memo: &mut [Option<bool>],
    depth: usize,
) -> bool {
    if let Some(d) = memo[slot] {
        return d;
    }
    let own = devices[slot].state == State::Down;
    let kids = &children[slot];
    let inferred = depth < 16
        && !kids.is_empty()
        && kids
            .iter()
            .all(|&c| is_dark(c, devices, children, memo, depth + 1));
    let dark = own || inferred;
    memo[slot] = Some(dark);
    dark
}
