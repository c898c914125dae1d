//! Span trees as plain data for the conversion snapshots (`tests/convert*.rs`).

use opentelemetry::trace::{SpanKind, Status};
use opentelemetry_sdk::trace::SpanData;
use serde_json::{json, Value};
use std::time::{SystemTime, UNIX_EPOCH};

pub fn ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

pub fn value(v: &opentelemetry::Value) -> Value {
    match v {
        opentelemetry::Value::I64(i) => json!(i),
        opentelemetry::Value::F64(f) => json!(f),
        opentelemetry::Value::Bool(b) => json!(b),
        other => json!(other.as_str()),
    }
}

/// A span tree as plain data: times relative to the root's start, ids kept (they are stable).
pub fn describe(spans: &[SpanData]) -> Value {
    let Some(root) = spans.first() else {
        return json!([]);
    };
    let t0 = ms(root.start_time);
    let list: Vec<Value> = spans
        .iter()
        .map(|s| {
            let attrs: serde_json::Map<String, Value> = s
                .attributes
                .iter()
                .map(|kv| (kv.key.to_string(), value(&kv.value)))
                .collect();
            let status = match &s.status {
                Status::Unset => json!("unset"),
                Status::Ok => json!("ok"),
                Status::Error { description } => json!({ "error": description }),
            };
            json!({
                "name": s.name,
                "kind": match s.span_kind { SpanKind::Server => "server", SpanKind::Internal => "internal", _ => "other" },
                "span_id": s.span_context.span_id().to_string(),
                "parent": s.parent_span_id.to_string(),
                "start_ms": ms(s.start_time) - t0,
                "duration_ms": ms(s.end_time) - ms(s.start_time),
                "status": status,
                "attributes": attrs,
                "events": s.events.iter().map(|e| json!({"name": e.name, "attributes": e.attributes.iter().map(|kv| (kv.key.to_string(), value(&kv.value))).collect::<serde_json::Map<_,_>>()})).collect::<Vec<_>>(),
                "links": s.links.iter().map(|l| json!({"trace_id": l.span_context.trace_id().to_string(), "span_id": l.span_context.span_id().to_string()})).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({ "trace_id": root.span_context.trace_id().to_string(), "spans": list })
}
