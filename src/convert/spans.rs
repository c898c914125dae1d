//! [`PipelineRun`] → OpenTelemetry [`SpanData`], with deterministic ids.
//!
//! Root span `RUN {pipeline}` (SERVER) covers the run; each task is an INTERNAL child. Status is
//! Error for failure/timeout/error, Unset otherwise (semconv: an error that was retried or
//! caught does not mark the parent).

use crate::ids::RunKey;
use crate::model::{Attr, AttrValue, PipelineRun, RunError, RunResult, TaskRun};
use crate::semconv as sc;
use opentelemetry::trace::{Link, SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceState};
use opentelemetry::{InstrumentationScope, KeyValue, Value};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};
use std::borrow::Cow;

/// Instrumentation scope of every span the bridge emits.
pub fn scope() -> InstrumentationScope {
    InstrumentationScope::builder("pipeline-otel-bridge")
        .with_version(env!("CARGO_PKG_VERSION"))
        .build()
}

/// The identity of a run's trace.
pub fn run_key(run: &PipelineRun) -> RunKey {
    let p = &run.pipeline;
    RunKey::new(
        p.kind,
        &p.account,
        &p.region,
        &p.name,
        &run.run_id,
        run.attempt,
    )
}

/// Converts a finished run to its spans: the root first, then tasks depth first.
/// Returns no spans for a run still in flight (a run is exported once, when it ends).
pub fn to_spans(run: &PipelineRun) -> Vec<SpanData> {
    let (Some(result), Some(end)) = (run.result(), run.end) else {
        return Vec::new();
    };
    let key = run_key(run);
    let trace_id = key.trace_id();
    let root_id = key.root_span_id();
    let scope = scope();
    let ctx = |span_id| {
        SpanContext::new(
            trace_id,
            span_id,
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        )
    };

    let mut attributes = vec![
        KeyValue::new(sc::CICD_PIPELINE_NAME, run.pipeline.name.clone()),
        KeyValue::new(sc::CICD_PIPELINE_RUN_ID, run.run_id.clone()),
        KeyValue::new(sc::CICD_PIPELINE_RESULT, result.as_str()),
        KeyValue::new(sc::CICD_PIPELINE_ACTION_NAME, "RUN"),
        KeyValue::new(sc::CLOUD_RESOURCE_ID, run.pipeline.arn.clone()),
    ];
    if let Some(url) = &run.url {
        attributes.push(KeyValue::new(sc::CICD_PIPELINE_RUN_URL_FULL, url.clone()));
    }
    attributes.extend(run.attributes.iter().map(to_kv));
    if let Some(sla) = run.sla_secs {
        attributes.push(KeyValue::new(sc::BRIDGE_SLA, sla));
        attributes.push(KeyValue::new(
            sc::BRIDGE_SLA_BREACHED,
            run.duration_secs() > sla,
        ));
    }
    let (status, events) = error_parts(result, run.error.as_ref(), end);
    if let Some(err) = &run.error {
        attributes.push(KeyValue::new(sc::ERROR_TYPE, err.error_type.clone()));
        if !err.message.is_empty() {
            attributes.push(KeyValue::new(sc::ERROR_MESSAGE, err.message.clone()));
        }
    }
    let mut links = Vec::new();
    if let (Some(prev), true) = (&run.previous_run_id, run.attempt > 0) {
        let p = &run.pipeline;
        let prev_key = RunKey::new(
            p.kind,
            &p.account,
            &p.region,
            &p.name,
            prev,
            run.attempt - 1,
        );
        links.push(Link::new(
            SpanContext::new(
                prev_key.trace_id(),
                prev_key.root_span_id(),
                TraceFlags::SAMPLED,
                false,
                TraceState::default(),
            ),
            vec![KeyValue::new("link.reason", "previous_attempt")],
            0,
        ));
    }
    let mut span_links = SpanLinks::default();
    span_links.links = links;
    let mut spans = vec![SpanData {
        span_context: ctx(root_id),
        parent_span_id: SpanId::INVALID,
        parent_span_is_remote: false,
        span_kind: SpanKind::Server,
        name: Cow::Owned(format!("RUN {}", run.pipeline.name)),
        start_time: run.start.to_system_time(),
        end_time: end.max(run.start).to_system_time(),
        attributes,
        dropped_attributes_count: 0,
        events,
        links: span_links,
        status,
        instrumentation_scope: scope.clone(),
    }];
    for task in &run.tasks {
        push_task(&key, root_id, task, &scope, &mut spans);
    }
    spans
}

fn push_task(
    key: &RunKey,
    parent: SpanId,
    task: &TaskRun,
    scope: &InstrumentationScope,
    out: &mut Vec<SpanData>,
) {
    let span_id = key.task_span_id(&task.run_id);
    let mut attributes = vec![
        KeyValue::new(sc::CICD_PIPELINE_TASK_NAME, task.name.clone()),
        KeyValue::new(sc::CICD_PIPELINE_TASK_RUN_ID, task.run_id.clone()),
        KeyValue::new(sc::CICD_PIPELINE_TASK_RUN_RESULT, task.result.as_str()),
    ];
    attributes.extend(task.attributes.iter().map(to_kv));
    if let Some(err) = &task.error {
        attributes.push(KeyValue::new(sc::ERROR_TYPE, err.error_type.clone()));
        if !err.message.is_empty() {
            attributes.push(KeyValue::new(sc::ERROR_MESSAGE, err.message.clone()));
        }
    }
    let (status, events) = error_parts(task.result, task.error.as_ref(), task.end);
    out.push(SpanData {
        span_context: SpanContext::new(
            key.trace_id(),
            span_id,
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        ),
        parent_span_id: parent,
        parent_span_is_remote: false,
        span_kind: SpanKind::Internal,
        name: Cow::Owned(task.name.clone()),
        start_time: task.start.to_system_time(),
        end_time: task.end.max(task.start).to_system_time(),
        attributes,
        dropped_attributes_count: 0,
        events,
        links: SpanLinks::default(),
        status,
        instrumentation_scope: scope.clone(),
    });
    for c in &task.children {
        push_task(key, span_id, c, scope, out);
    }
}

/// Status and the `exception` event of a span.
fn error_parts(
    result: RunResult,
    err: Option<&RunError>,
    at: crate::records::Millis,
) -> (Status, SpanEvents) {
    if !result.is_error() {
        return (Status::Unset, SpanEvents::default());
    }
    let description = err
        .map(|e| {
            if e.message.is_empty() {
                e.error_type.clone()
            } else {
                format!("{}: {}", e.error_type, e.message)
            }
        })
        .unwrap_or_else(|| result.as_str().to_string());
    let mut events = SpanEvents::default();
    if let Some(e) = err {
        events.events.push(opentelemetry::trace::Event::new(
            sc::EXCEPTION_EVENT,
            at.to_system_time(),
            vec![
                KeyValue::new(sc::EXCEPTION_TYPE, e.error_type.clone()),
                KeyValue::new(sc::EXCEPTION_MESSAGE, e.message.clone()),
            ],
            0,
        ));
    }
    (Status::error(description), events)
}

fn to_kv(a: &Attr) -> KeyValue {
    let v = match &a.value {
        AttrValue::Str(s) => Value::from(s.clone()),
        AttrValue::Int(i) => Value::I64(*i),
        AttrValue::F64(f) => Value::F64(*f),
    };
    KeyValue::new(a.key, v)
}
