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
//! of the school and its devices ([`Labels`]). Lines go into 64 KB pieces
//! ([`ChunkedText`]), never one growing buffer.

use std::borrow::Cow;

use bytes::Bytes;

use super::catalogue::{Kind, Spec};
use super::chunks::ChunkedText;

/// One family's sample lines, in the order they are added.
pub(super) struct FamilyText {
    spec: Spec,
    lines: ChunkedText,
}

impl FamilyText {
    pub(super) fn new(spec: Spec) -> FamilyText {
        FamilyText {
            spec,
            lines: ChunkedText::default(),
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
        out.start_line();
        out.push_str(self.spec.name);
        // No labels: `name value`, as the encoder writes it.
        if labels.0.is_empty() && extra.is_none() {
            out.push_byte(b' ');
        } else {
            out.push_byte(b'{');
            out.push_str(&labels.0);
            if let Some((name, v)) = extra {
                if !labels.0.is_empty() {
                    out.push_byte(b',');
                }
                out.push_str(name);
                out.push_str("=\"");
                out.push_str(&escaped(v, true));
                out.push_byte(b'"');
            }
            out.push_str("} ");
        }
        out.push_f64(value);
        out.push_byte(b'\n');
    }

    /// The family (header, then its lines) as pieces of text; none if it
    /// has no samples, as the encoder never shows an empty family.
    pub(super) fn finish(self) -> Vec<Bytes> {
        if self.lines.is_empty() {
            return Vec::new();
        }
        let Spec {
            name, help, kind, ..
        } = self.spec;
        let mut header = String::with_capacity(name.len() * 2 + help.len() + 32);
        if !help.is_empty() {
            header.push_str("# HELP ");
            header.push_str(name);
            header.push(' ');
            header.push_str(&escaped(help, false));
            header.push('\n');
        }
        header.push_str("# TYPE ");
        header.push_str(name);
        header.push_str(match kind {
            Kind::Counter => " counter\n",
            Kind::Gauge => " gauge\n",
        });
        let mut pieces = vec![Bytes::from(header)];
        pieces.extend(self.lines.finish());
        pieces
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
        self.0.push_str(name);
        self.0.push_str("=\"");
        self.0.push_str(&escaped(value, true));
        self.0.push('"');
    }
}

/// The encoder's escaping: `\` and newline, and `"` in label values.
/// Borrowed when there is nothing to escape (nearly always).
fn escaped(v: &str, quote: bool) -> Cow<'_, str> {
    let special = |b: u8| b == b'\\' || b == b'\n' || (quote && b == b'"');
    if !v.bytes().any(special) {
        return Cow::Borrowed(v);
    }
    let mut out = String::with_capacity(v.len() + 8);
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quote => out.push_str("\\\""),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
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
        let got = String::from_utf8(ours.finish().concat()).unwrap();
        assert_eq!(got, expected);
    }

    #[test]
    fn empty_family_writes_nothing() {
        assert!(FamilyText::new(super::super::catalogue::SCHOOL_UP)
            .finish()
            .is_empty());
    }
}
