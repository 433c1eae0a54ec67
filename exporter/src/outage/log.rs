//! The log lines of school transitions, for the operator reading the
//! journal: a school going down (with its cause), staying down for another
//! cause, recovering (with how long it was down), becoming degraded and
//! recovering from that, all at INFO.
//!
//! One failure behind a shared device takes many schools with it in the
//! same assessment (an OLT and its schools, a district's uplink): those are
//! grouped into one line per district, state and cause, listing the first
//! few school ids, instead of one line per school.

use std::collections::BTreeMap;

use tracing::info;

/// From this many schools of one district changing the same way in one
/// assessment, they are logged as one line.
pub const GROUP_FROM: usize = 3;
/// School ids listed in a grouped line.
const IDS_SHOWN: usize = 5;

/// What happened to one school in one assessment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Change {
    /// An outage opened: `down_for_s` since its start (its last sign of
    /// life, for a silent school).
    Down {
        cause: &'static str,
        down_for_s: f64,
    },
    /// Still down, for `cause` now instead of `from`; down `down_for_s`
    /// so far (the outage goes on).
    CauseChanged {
        from: &'static str,
        cause: &'static str,
        down_for_s: f64,
    },
    /// The outage closed after `duration_s`; `cause` covered most of it.
    Recovered {
        cause: &'static str,
        duration_s: f64,
    },
    Degraded {
        cause: &'static str,
    },
    /// No longer degraded after `duration_s` (up, or down: then a `Down`
    /// follows in the same assessment).
    NoLongerDegraded {
        duration_s: f64,
    },
}

impl Change {
    /// The grouping key besides the district: what and why.
    fn kind(&self) -> (&'static str, &'static str) {
        match self {
            Change::Down { cause, .. } => ("down", cause),
            Change::CauseChanged { cause, .. } => ("still down, now", cause),
            Change::Recovered { cause, .. } => ("recovered", cause),
            Change::Degraded { cause } => ("degraded", cause),
            Change::NoLongerDegraded { .. } => ("no longer degraded", ""),
        }
    }
}

/// One school's change, with what the log names it by.
#[derive(Debug, Clone)]
pub struct Transition<'a> {
    pub school: &'a str,
    pub name: &'a str,
    pub district: &'a str,
    pub change: Change,
}

/// Logs one assessment's transitions: grouped per district, kind and
/// cause from [`GROUP_FROM`] schools on, else one line per school.
pub fn log(transitions: &[Transition<'_>]) {
    let mut groups: BTreeMap<(&str, (&str, &str)), Vec<&Transition<'_>>> = BTreeMap::new();
    for t in transitions {
        groups
            .entry((t.district, t.change.kind()))
            .or_default()
            .push(t);
    }
    for ((district, (what, cause)), members) in groups {
        if members.len() >= GROUP_FROM {
            let longest = members
                .iter()
                .map(|t| match t.change {
                    Change::Down { down_for_s: d, .. }
                    | Change::CauseChanged { down_for_s: d, .. }
                    | Change::Recovered { duration_s: d, .. }
                    | Change::NoLongerDegraded { duration_s: d } => d,
                    Change::Degraded { .. } => 0.0,
                })
                .fold(0.0, f64::max);
            info!(
                district,
                cause,
                schools = members.len(),
                ids = %listed(&members),
                longest = %human(longest),
                "{} schools in {district} {what}{}",
                members.len(),
                if cause.is_empty() { String::new() } else { format!(": {cause}") }
            );
            continue;
        }
        for t in members {
            one(t);
        }
    }
}

fn one(t: &Transition<'_>) {
    let (school, name, district) = (t.school, t.name, t.district);
    match t.change {
        Change::Down { cause, down_for_s } => info!(
            school, name, district, cause, since = %human(down_for_s),
            "school {school} down: {cause}"
        ),
        Change::CauseChanged {
            from,
            cause,
            down_for_s,
        } => info!(
            school, name, district, cause, from, since = %human(down_for_s),
            "school {school} still down, now {cause} (was {from})"
        ),
        Change::Recovered { cause, duration_s } => info!(
            school, name, district, cause, after = %human(duration_s),
            "school {school} recovered after {}", human(duration_s)
        ),
        Change::Degraded { cause } => info!(
            school,
            name, district, cause, "school {school} degraded: {cause}"
        ),
        Change::NoLongerDegraded { duration_s } => info!(
            school, name, district, after = %human(duration_s),
            "school {school} no longer degraded after {}", human(duration_s)
        ),
    }
}

fn listed(members: &[&Transition<'_>]) -> String {
    let mut ids: Vec<&str> = members.iter().take(IDS_SHOWN).map(|t| t.school).collect();
    if members.len() > IDS_SHOWN {
        ids.push("…");
    }
    ids.join(",")
}

/// `2h03m`, `4m07s`, `12s`: how long, for a person.
pub fn human(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_a_person_would_say_them() {
        assert_eq!(human(0.4), "0s");
        assert_eq!(human(59.0), "59s");
        assert_eq!(human(247.0), "4m07s");
        assert_eq!(human(7380.0), "2h03m");
    }

    #[test]
    fn a_change_of_cause_is_grouped_by_its_new_cause_and_counts_how_long_down() {
        let c = Change::CauseChanged {
            from: "stale",
            cause: "upstream_down",
            down_for_s: 39.0,
        };
        assert_eq!(c.kind(), ("still down, now", "upstream_down"));
        let down = Change::Down {
            cause: "upstream_down",
            down_for_s: 31.0,
        };
        assert_ne!(c.kind(), down.kind(), "not logged as a new outage");
    }

    #[test]
    fn a_districts_schools_going_down_together_are_one_group() {
        let t = |school: &'static str, district: &'static str, cause| Transition {
            school,
            name: "n",
            district,
            change: Change::Down {
                cause,
                down_for_s: 30.0,
            },
        };
        let list = [
            t("a", "Julfa", "upstream_down"),
            t("b", "Julfa", "upstream_down"),
            t("c", "Julfa", "upstream_down"),
            t("d", "Julfa", "stale"),
            t("e", "Babek", "upstream_down"),
        ];
        let mut groups: BTreeMap<(&str, (&str, &str)), usize> = BTreeMap::new();
        for x in &list {
            *groups.entry((x.district, x.change.kind())).or_default() += 1;
        }
        assert_eq!(groups[&("Julfa", ("down", "upstream_down"))], 3);
        assert_eq!(groups.len(), 3);
        let members: Vec<&Transition> = list.iter().collect();
        assert_eq!(listed(&members), "a,b,c,d,e");
        let six: Vec<Transition> = (0..6).map(|_| t("x", "J", "stale")).collect();
        let six: Vec<&Transition> = six.iter().collect();
        assert_eq!(listed(&six), "x,x,x,x,x,…");
    }
}
