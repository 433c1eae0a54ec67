//! Prometheus exposition of the live state, built at scrape time.
//!
//! `LiveCollector::render` walks the inventory (schools, then their
//! devices) and writes the current health and the latest value of every
//! series as Prometheus text ([`text`]); nothing is stored twice. Its
//! families come out in catalogue order, their samples in inventory order.
//!
//! [`encode`] writes them, then the registry's families (the pipeline's
//! metrics and the exporter's own) through `prometheus::TextEncoder`. The
//! live families are not a registered collector: `gather()` would re-sort
//! every live metric by label values, and building the encoder's
//! `MetricFamily` form first cost most of a national-scale scrape's time
//! and memory. Instead `LiveCollector::reservation` registers their
//! descriptors only, so a pipeline metric with a clashing name still fails
//! at registration rather than producing a broken scrape.
//!
//! Labels that are also InfluxDB tags (school, district, device, interface,
//! target) are written as InfluxDB stores them
//! (`collector::line_protocol::stored_tag_value`): the line-protocol encoder
//! cannot keep every backslash and control character, so `/metrics` shows
//! the same substitute and a value round-trips identically between the two.
//!
//! The text is written in 64 KB pieces ([`chunks`]) and handed out as an
//! [`Exposition`] of them: never one growing buffer, never copied into one.
//!
//! The metric catalogue lives in [`catalogue`], with what each detail
//! level (`[exporter] detail`) exports.

pub mod catalogue;
pub(crate) mod chunks;
mod text;

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{Registry, TextEncoder};

use collector::config::Detail;
use collector::inventory::Role;
use collector::line_protocol::stored_tag_value as tag;

use crate::health::STATE_SERIES;
use crate::Live;
use catalogue::Spec;
pub use chunks::Exposition;
use collector::sample::Field;
use text::{FamilyText, Labels};

/// Content type of [`encode`]'s output.
pub fn content_type() -> &'static str {
    // TextEncoder's format: "text/plain; version=0.0.4".
    prometheus::TEXT_FORMAT
}

/// Renders the live state, then everything registered in `registry`, as
/// Prometheus text.
pub(crate) fn encode(live: &LiveCollector, registry: &Registry) -> Exposition {
    let mut out = live.render();
    let mut rest = String::new();
    if let Err(e) = TextEncoder::new().encode_utf8(&registry.gather(), &mut rest) {
        // Only possible for an empty family; the registry prunes those.
        tracing::error!(error = %e, "cannot encode metrics");
    }
    out.extend([Bytes::from(rest)]);
    out
}

/// Writes the school, device and series families of the live state.
pub(crate) struct LiveCollector {
    live: Arc<Live>,
    detail: Detail,
}

impl LiveCollector {
    pub(crate) fn new(live: Arc<Live>, detail: Detail) -> LiveCollector {
        LiveCollector { live, detail }
    }

    /// A collector with the live families' descriptors that collects
    /// nothing: register it to reserve their names in a registry.
    pub(crate) fn reservation() -> impl Collector {
        Reservation(descs())
    }

    /// The live families as Prometheus text.
    pub(crate) fn render(&self) -> Exposition {
        let live = &self.live;
        let now = live.clock.now();
        let (live_state, assessments) = live.assess_at(now);
        let inventory = live_state.inventory();
        // Index = position in all_specs(): FIXED, then Field::ALL order.
        let mut fams: Vec<FamilyText> = all_specs().map(FamilyText::new).collect();
        let (fixed, field_fams) = fams.split_at_mut(catalogue::FIXED.len());
        let [info, school_up, school_state, school_seen, outage_started, outages, device_up, device_seen, device_parent, grace] =
            fixed
        else {
            unreachable!("FIXED has ten families");
        };
        grace.sample(&Labels::default(), bool01(live.policy.in_grace(now)));
        let full = self.detail == Detail::Full;
        // Index as `field_fams`: whether this level exports the field.
        let exported: Vec<bool> = Field::ALL
            .iter()
            .map(|&f| catalogue::exported(f, self.detail))
            .collect();
        let tracker = live.outages();
        for assessment in assessments {
            let school = &inventory.schools()[assessment.school];
            let mut school_labels = Labels::default();
            // Tag-derived labels carry the value InfluxDB stores for the
            // same tag, so a series reads the same in both places.
            let (school_id, district) = (tag(&school.id), tag(&school.district));
            school_labels.push("school", &school_id);
            school_labels.push("district", &district);
            let mut info_labels = Labels::default();
            info_labels.push("school", &school_id);
            info_labels.push("name", &school.name);
            info_labels.push("district", &district);
            info_labels.push("lat", &school.lat.to_string());
            info_labels.push("lon", &school.lon.to_string());
            info_labels.push("uplink_mbps", &school.uplink_mbps.to_string());
            info.sample(&info_labels, 1.0);
            let h = assessment.health;
            school_up.sample(&school_labels, bool01(h.up));
            // Standard: the current state only (one series per school,
            // a new one on each transition); full: one-hot over all nine.
            for (state, cause) in STATE_SERIES {
                let on = h.state == state && h.cause == cause;
                if on || full {
                    let labels = school_labels
                        .with("state", state.as_str())
                        .with("cause", cause.map_or("", |c| c.as_str()));
                    school_state.sample(&labels, bool01(on));
                }
            }
            let since = tracker.open_since(assessment.school).unwrap_or(0.0);
            outage_started.sample(&school_labels, since);
            outages.sample(&school_labels, tracker.total(assessment.school) as f64);
            if let Some(t) = h.last_seen {
                school_seen.sample(&school_labels, t);
            }
            for (slot, dh) in assessment.devices {
                let device = live_state.device(slot);
                let device_labels = school_labels.with("device", &tag(&device.id));
                let role_labels = device_labels.with("role", device.role.as_str());
                device_up.sample(&role_labels, bool01(dh.up));
                // Standard: OLTs only, for UpstreamDown (an OLT never heard
                // from); the school's own last_seen covers its devices.
                if let Some(t) = dh.last_seen.filter(|_| full || device.role == Role::Olt) {
                    device_seen.sample(&role_labels, t);
                }
                // Only a shared upstream parent (an OLT, or another
                // school's device): what UpstreamDown names the schools
                // behind; a school's own chain (router → its ONT) would
                // double the family at national scale for nothing.
                let shared_parent = device
                    .parent
                    .as_deref()
                    .and_then(|p| inventory.device(p))
                    .filter(|p| p.role == Role::Olt || p.school.id != device.school.id);
                if let Some(parent) = shared_parent {
                    device_parent.sample(&device_labels.with("parent", &tag(&parent.id)), 1.0);
                }
                live_state.with_device(slot, |d| {
                    for (key, value) in d.series() {
                        let index = field_index(key.field);
                        if !exported[index] {
                            continue;
                        }
                        let (spec, scale) = catalogue::field_spec(key.field);
                        let v = value.as_f64() * scale;
                        let family = &mut field_fams[index];
                        // The fourth label: `role` (system) or the key
                        // label (`interface`, `target`); none otherwise.
                        match spec.labels.get(3) {
                            Some(&"role") => family.sample(&role_labels, v),
                            Some(&name) => family.sample_with(
                                &device_labels,
                                (name, &tag(key.key.as_deref().unwrap_or(""))),
                                v,
                            ),
                            None => family.sample(&device_labels, v),
                        }
                    }
                });
            }
        }
        drop(tracker);
        // Families without samples (no probe data yet, …) are not exposed.
        Exposition::new(fams.into_iter().flat_map(FamilyText::finish).collect())
    }
}

struct Reservation(Vec<Desc>);

impl Collector for Reservation {
    fn desc(&self) -> Vec<&Desc> {
        self.0.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        Vec::new()
    }
}

fn descs() -> Vec<Desc> {
    all_specs()
        .map(|s| {
            let labels = s.labels.iter().map(|l| l.to_string()).collect();
            Desc::new(s.name.into(), s.help.into(), labels, HashMap::new())
                .expect("valid metric spec")
        })
        .collect()
}

fn all_specs() -> impl Iterator<Item = Spec> {
    catalogue::FIXED
        .into_iter()
        .chain(Field::ALL.iter().map(|&f| catalogue::field_spec(f).0))
}

/// Position of `field` in `Field::ALL` (its declaration order, so normally
/// the discriminant; searched if that ever stops holding).
fn field_index(field: Field) -> usize {
    let i = field as usize;
    if Field::ALL.get(i) == Some(&field) {
        i
    } else {
        Field::ALL
            .iter()
            .position(|&f| f == field)
            .expect("Field::ALL lists every field")
    }
}

fn bool01(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}
