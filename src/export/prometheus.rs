//! Collected metrics → Prometheus text exposition format, named as the OpenTelemetry
//! Collector's Prometheus exporters name them (`docs/prometheus-names.md`), so dashboards and
//! rules work the same whether Prometheus scrapes the bridge or receives from a Collector.

use opentelemetry::{KeyValue, Value};
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, Metric, MetricData, ResourceMetrics};
use std::fmt::Write;

/// A metric or label name with every character outside `[a-zA-Z0-9_:]` replaced by `_`.
fn sanitize(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, '_');
    }
    s
}

/// The unit suffix the Collector appends (`s` → `_seconds`); annotations in braces add none.
fn unit_suffix(unit: &str) -> &'static str {
    match unit {
        "s" => "_seconds",
        "ms" => "_milliseconds",
        "By" => "_bytes",
        "1" => "_ratio",
        _ => "",
    }
}

fn base_name(m: &Metric) -> String {
    let mut n = sanitize(m.name());
    let suffix = unit_suffix(m.unit());
    if !suffix.is_empty() && !n.ends_with(suffix) {
        n.push_str(suffix);
    }
    n
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn value_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.as_str().to_string(),
        other => other.to_string(),
    }
}

fn labels<'a>(attrs: impl Iterator<Item = &'a KeyValue>, extra: Option<(&str, String)>) -> String {
    let mut pairs: Vec<(String, String)> = attrs
        .map(|kv| (sanitize(kv.key.as_str()), value_str(&kv.value)))
        .collect();
    if let Some((k, v)) = extra {
        pairs.push((k.to_string(), v));
    }
    pairs.sort();
    if pairs.is_empty() {
        return String::new();
    }
    let inner: Vec<String> = pairs
        .into_iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(&v)))
        .collect();
    format!("{{{}}}", inner.join(","))
}

fn num(v: f64) -> String {
    if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        format!("{v}")
    }
}

fn write_data<T: Copy + ToF64>(out: &mut String, name: &str, help: &str, data: &MetricData<T>) {
    match data {
        MetricData::Gauge(g) => {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
            for p in g.data_points() {
                let _ = writeln!(
                    out,
                    "{name}{} {}",
                    labels(p.attributes(), None),
                    num(p.value().to_f64())
                );
            }
        }
        MetricData::Sum(s) => {
            let (n, ty) = if s.is_monotonic() {
                (format!("{name}_total"), "counter")
            } else {
                (name.to_string(), "gauge")
            };
            let _ = writeln!(out, "# HELP {n} {help}\n# TYPE {n} {ty}");
            for p in s.data_points() {
                let _ = writeln!(
                    out,
                    "{n}{} {}",
                    labels(p.attributes(), None),
                    num(p.value().to_f64())
                );
            }
        }
        MetricData::Histogram(h) => {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
            for p in h.data_points() {
                let mut cumulative = 0u64;
                let bounds: Vec<f64> = p.bounds().collect();
                let counts: Vec<u64> = p.bucket_counts().collect();
                for (i, c) in counts.iter().enumerate() {
                    cumulative += c;
                    let le = bounds.get(i).copied().unwrap_or(f64::INFINITY);
                    let _ = writeln!(
                        out,
                        "{name}_bucket{} {cumulative}",
                        labels(p.attributes(), Some(("le", num(le))))
                    );
                }
                let l = labels(p.attributes(), None);
                let _ = writeln!(out, "{name}_sum{l} {}", num(p.sum().to_f64()));
                let _ = writeln!(out, "{name}_count{l} {}", p.count());
            }
        }
        // The bridge defines no exponential histograms.
        MetricData::ExponentialHistogram(_) => {}
    }
}

/// Renders everything collected, plus `target_info` carrying the resource attributes.
pub fn render(rm: &ResourceMetrics) -> String {
    let mut out = String::new();
    let res: Vec<KeyValue> = rm
        .resource()
        .iter()
        .map(|(k, v)| KeyValue::new(k.clone(), v.clone()))
        .collect();
    let _ = writeln!(
        out,
        "# HELP target_info Target metadata\n# TYPE target_info gauge"
    );
    let _ = writeln!(out, "target_info{} 1", labels(res.iter(), None));
    for sm in rm.scope_metrics() {
        for m in sm.metrics() {
            let name = base_name(m);
            let help = m.description().replace('\n', " ");
            match m.data() {
                AggregatedMetrics::F64(d) => write_data(&mut out, &name, &help, d),
                AggregatedMetrics::U64(d) => write_data(&mut out, &name, &help, d),
                AggregatedMetrics::I64(d) => write_data(&mut out, &name, &help, d),
            }
        }
    }
    out
}

/// The number types the SDK aggregates, as the float the text format writes.
trait ToF64 {
    fn to_f64(self) -> f64;
}
impl ToF64 for f64 {
    fn to_f64(self) -> f64 {
        self
    }
}
impl ToF64 for u64 {
    fn to_f64(self) -> f64 {
        self as f64
    }
}
impl ToF64 for i64 {
    fn to_f64(self) -> f64 {
        self as f64
    }
}
