//! Prometheus text format 0.0.4, written straight from the live state.
//!
//! Byte for byte what `prometheus::TextEncoder` writes for the same
//! families (`# HELP` with `\` and newline escaped, `# TYPE`, then one line
//! per sample: labels in order with `\`, newline and `"` escaped, the value
//! as Rust's `f64` `Display`, no timestamp), without building a
//! `MetricFamily` per family first: at 30,000 schools that intermediate
//! form was 1.2M `Metric`s with 5 M label `String`s, most of the render's
//! time and four fifths of its peak memory.
//!
//! A school's labels are escaped once and shared as a prefix by every line
//! of the school and its devices ([`Labels`]).

use std::fmt::Write as _;

use super::catalogue::{Kind, Spec};

/// One family's sample lines, in the order they are added.
pub(super) struct FamilyText {
    spec: Spec,
    lines: String,
}

impl FamilyText {
    pub(super) fn new(spec: Spec) -> FamilyText {
        FamilyText {
            spec,
            lines: String::new(),
        }
    }

    /// Adds `name{<labels>} value`.
    pub(super) fn sample(&mut self, labels: &Labels, value: f64) {
        self.line(labels, None, value);
    }

    /// Adds `name{<labels>,<extra>} value` (one more label, not kept).
    pub(super) fn sample_with(&mut self, labels: &Labels, extra: (&str, &str), value: f64) {
        self.line(labels, Some(extra), value);
    }

    fn line(&mut self, labels: &Labels, extra: Option<(&str, &str)>, value: f64) {
        let out = &mut self.lines;
        out.push_str(self.spec.name);
        // No labels: `name value`, as the encoder writes it.
        if labels.0.is_empty() && extra.is_none() {
            out.push(' ');
        } else {
            out.push('{');
            out.push_str(&labels.0);
            if let Some((name, v)) = extra {
                if !labels.0.is_empty() {
                    out.push(',');
                }
                push_pair(name, v, out);
            }
            out.push_str("} ");
        }
        // `{}` of f64 is what the encoder writes (`value.to_string()`).
        let _ = write!(out, "{value}");
        out.push('\n');
    }

    /// Appends the family (header and lines) to `out`; nothing if it has no
    /// samples, as the encoder never shows an empty family.
    pub(super) fn finish(self, out: &mut String) {
        if self.lines.is_empty() {
            return;
        }
        let Spec {
            name, help, kind, ..
        } = self.spec;
        if !help.is_empty() {
            out.push_str("# HELP ");
            out.push_str(name);
            out.push(' ');
            escape(help, false, out);
            out.push('\n');
        }
        out.push_str("# TYPE ");
        out.push_str(name);
        out.push_str(match kind {
            Kind::Counter => " counter\n",
            Kind::Gauge => " gauge\n",
        });
        out.push_str(&self.lines);
    }

    /// Bytes this family will add to the output (header aside).
    pub(super) fn len(&self) -> usize {
        self.lines.len()
    }
}

/// Label pairs already rendered: `a="x",b="y"` (values escaped).
#[derive(Clone, Default)]
pub(super) struct Labels(String);

impl Labels {
    /// These labels followed by `name="value"`.
    pub(super) fn with(&self, name: &str, value: &str) -> Labels {
        let mut l = Labels(String::with_capacity(
            self.0.len() + name.len() + value.len() + 4,
        ));
        l.0.push_str(&self.0);
        l.push(name, value);
        l
    }

    /// Appends `name="value"`.
    pub(super) fn push(&mut self, name: &str, value: &str) {
        if !self.0.is_empty() {
            self.0.push(',');
        }
        push_pair(name, value, &mut self.0);
    }
}

/// `name="value"`, the value escaped.
fn push_pair(name: &str, value: &str, out: &mut String) {
    out.push_str(name);
    out.push_str("=\"");
    escape(value, true, out);
    out.push('"');
}

/// The encoder's escaping: `\` and newline, and `"` in label values.
fn escape(v: &str, quote: bool, out: &mut String) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quote => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus::proto::{Gauge, LabelPair, Metric, MetricFamily, MetricType};

    /// The same family through `TextEncoder` and through `FamilyText`.
    #[test]
    fn matches_the_text_encoder() {
        let spec = Spec {
            name: "x_total",
            help: "Help with \\ backslash\nand \"quotes\".",
            kind: Kind::Gauge,
            labels: &["a", "b"],
        };
        let values = [
            0.0,
            1.0,
            -2.5,
            1e21,
            1.5e-7,
            f64::NAN,
            f64::INFINITY,
            123456789012.0,
        ];
        let label_values = ["plain", "q\"uote\\back\nline", "ünï", ""];

        let mut mf = MetricFamily::default();
        mf.set_name(spec.name.into());
        mf.set_help(spec.help.into());
        mf.set_field_type(MetricType::GAUGE);
        let mut ours = FamilyText::new(spec);
        for (i, v) in values.iter().enumerate() {
            let b = label_values[i % label_values.len()];
            let pair = |n: &str, v: &str| {
                let mut l = LabelPair::default();
                l.set_name(n.into());
                l.set_value(v.into());
                l
            };
            let mut g = Gauge::default();
            g.set_value(*v);
            let mut m = Metric::from_label(vec![pair("a", "s"), pair("b", b)]);
            m.set_gauge(g);
            mf.mut_metric().push(m);
            if i % 2 == 0 {
                ours.sample(&Labels::default().with("a", "s").with("b", b), *v);
            } else {
                ours.sample_with(&Labels::default().with("a", "s"), ("b", b), *v);
            }
        }
        let mut expected = String::new();
        prometheus::TextEncoder::new()
            .encode_utf8(&[mf], &mut expected)
            .unwrap();
        let mut got = String::new();
        ours.finish(&mut got);
        assert_eq!(got, expected);
    }

    #[test]
    fn empty_family_writes_nothing() {
        let mut out = String::new();
        FamilyText::new(super::super::catalogue::SCHOOL_UP).finish(&mut out);
        assert!(out.is_empty());
    }
}
