//! Prometheus exposition of the live state, built at scrape time.
//!
//! `LiveCollector` implements `prometheus::core::Collector`: each `collect()`
//! walks the inventory (schools, then their devices) and turns the current
//! health and the latest value of every series into `MetricFamily` values;
//! nothing is stored twice. Its metrics come out in inventory order.
//!
//! [`encode`] gathers it *alongside* the registry (the pipeline's metrics and
//! the exporter's own) and renders both with `prometheus::TextEncoder`.
//! Registering it in the registry would make `gather()` re-sort every live
//! metric by label values, which roughly doubles the scrape cost at national
//! scale; instead `LiveCollector::reservation` registers its descriptors
//! only, so a pipeline metric with a clashing name still fails at
//! registration rather than producing a broken scrape.
//!
//! The metric catalogue lives in [`spec`].

pub mod spec;

use std::collections::HashMap;
use std::sync::Arc;

use prometheus::core::{Collector, Desc};
use prometheus::proto::{Counter, Gauge, LabelPair, Metric, MetricFamily, MetricType};
use prometheus::{Registry, TextEncoder};

use crate::health::STATE_SERIES;
use crate::Live;
use collector::sample::Field;
use spec::{Kind, Spec};

/// Content type of [`encode`]'s output.
pub fn content_type() -> &'static str {
    // TextEncoder's format: "text/plain; version=0.0.4".
    prometheus::TEXT_FORMAT
}

/// Renders the live state, then everything registered in `registry`, as
/// Prometheus text.
pub fn encode(live: &dyn Collector, registry: &Registry) -> String {
    let mut families = live.collect();
    families.extend(registry.gather());
    let mut out = String::new();
    if let Err(e) = TextEncoder::new().encode_utf8(&families, &mut out) {
        // Only possible for an empty family; both sources prune those.
        tracing::error!(error = %e, "cannot encode metrics");
    }
    out
}

/// Builds the school, device and series families from the live state.
pub(crate) struct LiveCollector {
    live: Arc<Live>,
    descs: Vec<Desc>,
}

impl LiveCollector {
    pub(crate) fn new(live: Arc<Live>) -> LiveCollector {
        LiveCollector {
            live,
            descs: descs(),
        }
    }

    /// A collector with the same descriptors that collects nothing: register
    /// it to reserve the live families' names in a registry.
    pub(crate) fn reservation() -> impl Collector {
        Reservation(descs())
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
    spec::FIXED
        .into_iter()
        .chain(Field::ALL.iter().map(|&f| spec::field_spec(f).0))
}

impl Collector for LiveCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let live = &self.live;
        let now = live.clock.now();
        let (live_state, assessments) = live.assess_at(now);
        let inventory = live_state.inventory();
        // Index = position in all_specs(): FIXED, then Field::ALL order.
        let mut fams: Vec<MetricFamily> = all_specs().map(family).collect();
        let (fixed, field_fams) = fams.split_at_mut(spec::FIXED.len());
        let [info, school_up, school_state, school_seen, outage_started, outages, device_up, device_seen] =
            fixed
        else {
            unreachable!("FIXED has eight families");
        };
        let tracker = live.outages();
        for assessment in assessments {
            let school = &inventory.schools()[assessment.school];
            let (id, district) = (&*school.id, &*school.district);
            let school_labels = || vec![label("school", id), label("district", district)];
            info.mut_metric().push(gauge_metric(
                vec![
                    label("school", id),
                    label("name", &school.name),
                    label("district", district),
                    label("lat", &school.lat.to_string()),
                    label("lon", &school.lon.to_string()),
                    label("uplink_mbps", &school.uplink_mbps.to_string()),
                ],
                1.0,
            ));
            let h = assessment.health;
            school_up
                .mut_metric()
                .push(gauge_metric(school_labels(), bool01(h.up)));
            for (state, cause) in STATE_SERIES {
                let mut labels = school_labels();
                labels.push(label("state", state.as_str()));
                labels.push(label("cause", cause.map_or("", |c| c.as_str())));
                let on = h.state == state && h.cause == cause;
                school_state
                    .mut_metric()
                    .push(gauge_metric(labels, bool01(on)));
            }
            let since = tracker.open_since(assessment.school).unwrap_or(0.0);
            outage_started
                .mut_metric()
                .push(gauge_metric(school_labels(), since));
            let total = tracker.total(assessment.school) as f64;
            outages
                .mut_metric()
                .push(counter_metric(school_labels(), total));
            if let Some(t) = h.last_seen {
                school_seen
                    .mut_metric()
                    .push(gauge_metric(school_labels(), t));
            }
            for (slot, dh) in assessment.devices {
                let device = live_state.device(slot);
                let role_labels = || {
                    let mut l = school_labels();
                    l.push(label("device", &device.id));
                    l.push(label("role", device.role.as_str()));
                    l
                };
                device_up
                    .mut_metric()
                    .push(gauge_metric(role_labels(), bool01(dh.up)));
                if let Some(t) = dh.last_seen {
                    device_seen
                        .mut_metric()
                        .push(gauge_metric(role_labels(), t));
                }
                live_state.with_device(slot, |d| {
                    for (key, value) in d.series() {
                        let (spec, scale) = spec::field_spec(key.field);
                        let mut labels = school_labels();
                        labels.push(label("device", &device.id));
                        // The fourth label: `role` (system) or the key
                        // label (`interface`, `target`); none otherwise.
                        match spec.labels.get(3) {
                            Some(&"role") => labels.push(label("role", device.role.as_str())),
                            Some(&name) => {
                                labels.push(label(name, key.key.as_deref().unwrap_or("")))
                            }
                            None => {}
                        }
                        let v = value.as_f64() * scale;
                        let metric = match spec.kind {
                            Kind::Counter => counter_metric(labels, v),
                            Kind::Gauge => gauge_metric(labels, v),
                        };
                        field_fams[field_index(key.field)].mut_metric().push(metric);
                    }
                });
            }
        }
        // Families without metrics (no probe data yet, …) are not exposed.
        fams.retain(|f| !f.get_metric().is_empty());
        fams
    }
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

fn family(spec: Spec) -> MetricFamily {
    let mut mf = MetricFamily::default();
    mf.set_name(spec.name.to_string());
    mf.set_help(spec.help.to_string());
    mf.set_field_type(match spec.kind {
        Kind::Counter => MetricType::COUNTER,
        Kind::Gauge => MetricType::GAUGE,
    });
    mf
}

fn label(name: &str, value: &str) -> LabelPair {
    let mut l = LabelPair::default();
    l.set_name(name.to_string());
    l.set_value(value.to_string());
    l
}

fn gauge_metric(labels: Vec<LabelPair>, value: f64) -> Metric {
    let mut g = Gauge::default();
    g.set_value(value);
    let mut m = Metric::from_label(labels);
    m.set_gauge(g);
    m
}

fn counter_metric(labels: Vec<LabelPair>, value: f64) -> Metric {
    let mut c = Counter::default();
    c.set_value(value);
    let mut m = Metric::from_label(labels);
    m.set_counter(c);
    m
}

fn bool01(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}
