//! [`PipelineRun`] → OpenTelemetry [`SpanData`], with deterministic ids.
//!
//! Root span `RUN {pipeline}` (SERVER) covers the run; each task is an INTERNAL child. Status is
//! Error for failure/timeout/error, Unset otherwise (semconv: an error that was retried or
//! caught does not mark the parent).

use crate::ids::RunKey;
use crate::model::{Attr, AttrValue, PipelineRun, RunError, RunLink, RunResult, TaskRun};
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

/// The trace a run's spans go in and its root span: its own trace, or the trace of the run
/// it belongs in ([`PipelineRun::parent`]).
pub fn trace_and_root(run: &PipelineRun) -> (opentelemetry::trace::TraceId, SpanId) {
    let key = run_key(run);
    let trace_id = run.parent.as_ref().map_or(key.trace_id(), |l| {
        let p = &l.pipeline;
        RunKey::new(p.kind, &p.account, &p.region, &p.name, &l.run_id, l.attempt).trace_id()
    });
    (trace_id, key.root_span_id())
}

/// The most spans one run produces: its root and the first `MAX_SPANS_PER_RUN - 1` steps in
/// tree order. The rest are counted in the root's `pipeline_bridge.spans.dropped`, so a run of
/// 100,000 steps still arrives (about 3 MB at most, under the default request limit).
pub const MAX_SPANS_PER_RUN: usize = 10_000;

/// Converts a finished run to its spans: the root first, then tasks depth first, at most
/// [`MAX_SPANS_PER_RUN`]. Returns no spans for a run still in flight (a run is exported once,
/// when it ends).
pub fn to_spans(run: &PipelineRun) -> Vec<SpanData> {
    to_spans_capped(run, MAX_SPANS_PER_RUN)
}

/// [`to_spans`] with at most `max_spans` spans (at least the root): steps past the cap are
/// left out — a prefix in tree order, so every kept span's parent is kept — and counted on the
/// root ([`sc::BRIDGE_SPANS_DROPPED`]).
pub fn to_spans_capped(run: &PipelineRun, max_spans: usize) -> Vec<SpanData> {
    let (Some(result), Some(end)) = (run.result(), run.end) else {
        return Vec::new();
    };
    let key = run_key(run);
    // A run that belongs in another run's trace (`PipelineRun::parent`) takes that trace's id
    // and hangs below its root; its own span ids stay its own.
    let parent_root = run.parent.as_ref().map(|l| {
        let p = &l.pipeline;
        RunKey::new(p.kind, &p.account, &p.region, &p.name, &l.run_id, l.attempt)
    });
    let trace_id = parent_root
        .as_ref()
        .map_or(key.trace_id(), |k| k.trace_id());
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
    if run.will_retry {
        attributes.push(KeyValue::new(sc::BRIDGE_RUN_WILL_RETRY, true));
    }
    let status = error_status(result, run.error.as_ref());
    attributes.extend(error_type(result, run.error.as_ref()));
    let mut links = Vec::new();
    if let (Some(prev), true) = (&run.previous_run_id, run.attempt > 0) {
        links.push(link(&RunLink {
            pipeline: run.pipeline.clone(),
            run_id: prev.clone(),
            attempt: run.attempt - 1,
            reason: "previous_attempt",
        }));
    }
    links.extend(run.links.iter().map(link));
    let mut span_links = SpanLinks::default();
    span_links.links = links;
    let spans = vec![SpanData {
        span_context: ctx(root_id),
        parent_span_id: parent_root
            .as_ref()
            .map_or(SpanId::INVALID, |k| k.root_span_id()),
        parent_span_is_remote: false,
        span_kind: if parent_root.is_some() {
            SpanKind::Internal
        } else {
            SpanKind::Server
        },
        name: Cow::Owned(format!("RUN {}", run.pipeline.name)),
        start_time: run.start.to_system_time(),
        end_time: end.max(run.start).to_system_time(),
        attributes,
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: span_links,
        status,
        instrumentation_scope: scope.clone(),
    }];
    let mut b = Builder {
        key: &key,
        trace_id,
        scope: &scope,
        url: run.url.as_deref(),
        max: max_spans.max(1),
        out: spans,
        dropped: 0,
    };
    if let Some(q) = run.queued_until.filter(|q| *q > run.start) {
        b.push_task(root_id, &queue_task(run, q.min(end)));
    }
    for task in &run.tasks {
        b.push_task(root_id, task);
    }
    let (mut spans, dropped) = (b.out, b.dropped);
    add_dropped(&mut spans, dropped);
    spans
}

/// Drops the spans past the first `keep` (at least the root) of one run's spans, as returned
/// by [`to_spans`], adding their number to the root's [`sc::BRIDGE_SPANS_DROPPED`]. Returns
/// how many were dropped.
pub fn truncate(spans: &mut Vec<SpanData>, keep: usize) -> usize {
    let keep = keep.max(1);
    let n = spans.len().saturating_sub(keep);
    spans.truncate(keep);
    add_dropped(spans, n);
    n
}

/// Adds `n` to the dropped-span count on the root (the first span).
fn add_dropped(spans: &mut [SpanData], n: usize) {
    let Some(root) = spans.first_mut().filter(|_| n > 0) else {
        return;
    };
    let n = i64::try_from(n).unwrap_or(i64::MAX);
    let attrs = &mut root.attributes;
    match attrs
        .iter_mut()
        .find(|kv| kv.key.as_str() == sc::BRIDGE_SPANS_DROPPED)
    {
        Some(kv) => {
            let before = match kv.value {
                Value::I64(v) => v,
                _ => 0,
            };
            kv.value = Value::I64(before.saturating_add(n));
        }
        None => attrs.push(KeyValue::new(sc::BRIDGE_SPANS_DROPPED, n)),
    }
}

/// The task spans of one run, up to `max` spans in all.
struct Builder<'a> {
    key: &'a RunKey,
    trace_id: opentelemetry::trace::TraceId,
    scope: &'a InstrumentationScope,
    /// The run's console page: also each task's `cicd.pipeline.task.run.url.full` (required by
    /// the conventions; AWS has no page of its own per state, the execution's page shows them).
    url: Option<&'a str>,
    max: usize,
    out: Vec<SpanData>,
    dropped: usize,
}

impl Builder<'_> {
    fn push_task(&mut self, parent: SpanId, task: &TaskRun) {
        if self.out.len() >= self.max {
            self.dropped = self.dropped.saturating_add(count(task));
            return;
        }
        let (key, scope) = (self.key, self.scope);
        let span_id = key.task_span_id(&task.run_id);
        let mut attributes = vec![
            KeyValue::new(sc::CICD_PIPELINE_TASK_NAME, task.name.clone()),
            KeyValue::new(sc::CICD_PIPELINE_TASK_RUN_ID, task.run_id.clone()),
            KeyValue::new(sc::CICD_PIPELINE_TASK_RUN_RESULT, task.result.as_str()),
        ];
        if let Some(url) = self.url {
            attributes.push(KeyValue::new(
                sc::CICD_PIPELINE_TASK_RUN_URL_FULL,
                url.to_string(),
            ));
        }
        attributes.extend(task.attributes.iter().map(to_kv));
        attributes.extend(error_type(task.result, task.error.as_ref()));
        let status = error_status(task.result, task.error.as_ref());
        self.out.push(SpanData {
            span_context: SpanContext::new(
                self.trace_id,
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
            events: SpanEvents::default(),
            links: {
                let mut l = SpanLinks::default();
                l.links = task.links.iter().map(link).collect();
                l
            },
            status,
            instrumentation_scope: scope.clone(),
        });
        for c in &task.children {
            self.push_task(span_id, c);
        }
    }
}

/// The span of a run's time in its queue (`cicd.pipeline.run.state` `pending`), from its start
/// to `until`.
fn queue_task(run: &PipelineRun, until: crate::records::Millis) -> TaskRun {
    TaskRun {
        name: QUEUE_TASK.to_string(),
        run_id: QUEUE_TASK.to_string(),
        kind: "Queue".to_string(),
        start: run.start,
        end: until,
        result: RunResult::Success,
        error: None,
        attributes: vec![Attr::str(
            sc::CICD_PIPELINE_RUN_STATE,
            crate::model::RunPhase::Pending.as_str(),
        )],
        links: Vec::new(),
        children: Vec::new(),
    }
}

/// Name and task run id of the queue span.
pub const QUEUE_TASK: &str = "queued";

/// A link to the root span of another run's trace.
fn link(l: &RunLink) -> Link {
    let p = &l.pipeline;
    let key = RunKey::new(p.kind, &p.account, &p.region, &p.name, &l.run_id, l.attempt);
    Link::new(
        SpanContext::new(
            key.trace_id(),
            key.root_span_id(),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        ),
        vec![KeyValue::new("link.reason", l.reason)],
        0,
    )
}

/// A task and all its descendants.
fn count(task: &TaskRun) -> usize {
    task.children
        .iter()
        .fold(1usize, |n, c| n.saturating_add(count(c)))
}

/// The status of a span (semantic conventions 1.44): Error for a failure, timeout or error,
/// with the error's message alone as its description (the type is `error.type`), or the type
/// when AWS gave no message; Unset otherwise. No `error.message` attribute and no `exception`
/// event: both are deprecated, and an AWS error (`States.Timeout`, a Glue state) is no
/// exception.
fn error_status(result: RunResult, err: Option<&RunError>) -> Status {
    if !result.is_error() {
        return Status::Unset;
    }
    let description = match err {
        Some(e) if !e.message.is_empty() => e.message.clone(),
        Some(e) => e.error_type.clone(),
        None => result.as_str().to_string(),
    };
    Status::error(description)
}

/// `error.type` of a span whose status is Error: the error's type, or, when AWS named none (a
/// task that timed out), the result (`timeout`, `failure`, `error`).
fn error_type(result: RunResult, err: Option<&RunError>) -> Option<KeyValue> {
    match err {
        Some(e) => Some(KeyValue::new(sc::ERROR_TYPE, e.error_type.clone())),
        None if result.is_error() => Some(KeyValue::new(sc::ERROR_TYPE, result.as_str())),
        None => None,
    }
}

fn to_kv(a: &Attr) -> KeyValue {
    let v = match &a.value {
        AttrValue::Str(s) => Value::from(s.clone()),
        AttrValue::Int(i) => Value::I64(*i),
        AttrValue::F64(f) => Value::F64(*f),
    };
    KeyValue::new(a.key, v)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::RunStatus;
    use crate::records::Millis;
    use std::collections::HashSet;

    fn task(name: String, start: i64, children: Vec<TaskRun>) -> TaskRun {
        TaskRun {
            links: Vec::new(),
            run_id: name.clone(),
            name,
            kind: "Task".into(),
            start: Millis(start),
            end: Millis(start + 1_000),
            result: RunResult::Success,
            error: None,
            attributes: Vec::new(),
            children,
        }
    }

    /// A run of 1 + 2 × `iterations` tasks: a Map whose iterations each hold one task.
    pub(crate) fn huge_run(iterations: usize) -> PipelineRun {
        let t0 = 1_700_000_000_000;
        let its = (0..iterations)
            .map(|i| {
                let s = t0 + i as i64;
                task(
                    format!("Items[{i}]"),
                    s,
                    vec![task(format!("Load#{i}"), s, vec![])],
                )
            })
            .collect();
        PipelineRun {
            queued_until: None,
            parent: None,
            links: Vec::new(),
            measures: Vec::new(),
            pipeline: crate::sources::sfn::pipeline("1", "us-east-1", "big", "arn:sm:big"),
            run_id: "arn:exec:big:1".into(),
            attempt: 0,
            previous_run_id: None,
            aws_state: "SUCCEEDED".into(),
            status: RunStatus::Ended(RunResult::Success),
            start: Millis(t0),
            end: Some(Millis(t0 + 3_600_000)),
            error: None,
            will_retry: false,
            dpu_seconds: None,
            url: None,
            sla_secs: None,
            attributes: Vec::new(),
            tasks: vec![task("Items".into(), t0, its)],
        }
    }

    pub(crate) fn dropped(root: &SpanData) -> Option<i64> {
        root.attributes
            .iter()
            .find(|kv| kv.key.as_str() == sc::BRIDGE_SPANS_DROPPED)
            .map(|kv| match kv.value {
                Value::I64(v) => v,
                _ => -1,
            })
    }

    fn check_tree(spans: &[SpanData]) {
        let ids: HashSet<_> = spans.iter().map(|s| s.span_context.span_id()).collect();
        assert_eq!(ids.len(), spans.len());
        assert_eq!(spans[0].parent_span_id, SpanId::INVALID);
        for s in spans {
            assert!(s.end_time >= s.start_time, "{}", s.name);
        }
        for s in &spans[1..] {
            assert!(
                ids.contains(&s.parent_span_id),
                "{} lost its parent",
                s.name
            );
        }
    }

    #[test]
    fn a_run_of_100_000_tasks_is_capped_with_parents_kept_and_the_rest_counted() {
        let run = huge_run(50_000); // 100,001 tasks
        let spans = to_spans(&run);
        assert_eq!(spans.len(), MAX_SPANS_PER_RUN);
        check_tree(&spans);
        let total = 1 + 100_001;
        assert_eq!(dropped(&spans[0]), Some((total - MAX_SPANS_PER_RUN) as i64));
        // The kept steps are the first ones in tree order: the Map, then iterations with
        // their task.
        assert_eq!(spans[1].name, "Items");
        assert_eq!(spans[2].name, "Items[0]");
        assert_eq!(spans[3].name, "Load#0");
    }

    #[test]
    fn queue_time_is_a_span_and_links_point_at_the_other_runs_roots() {
        let mut run = huge_run(1);
        let start = run.start;
        run.queued_until = Some(Millis(start.0 + 60_000));
        let other = crate::sources::glue_job::pipeline("1", "us-east-1", "load");
        let to = |reason| crate::model::RunLink {
            pipeline: other.clone(),
            run_id: "jr_1".into(),
            attempt: 0,
            reason,
        };
        run.links.push(to("started_by"));
        run.tasks[0].links.push(to("started"));
        let spans = to_spans(&run);
        check_tree(&spans);
        let queue = spans
            .iter()
            .find(|s| s.name == QUEUE_TASK)
            .expect("queue span");
        assert_eq!(queue.parent_span_id, spans[0].span_context.span_id());
        assert_eq!(queue.start_time, start.to_system_time());
        assert_eq!(queue.end_time, Millis(start.0 + 60_000).to_system_time());
        assert!(queue
            .attributes
            .iter()
            .any(|kv| kv.key.as_str() == sc::CICD_PIPELINE_RUN_STATE
                && kv.value.as_str() == "pending"));
        let target = RunKey::new(other.kind, "1", "us-east-1", "load", "jr_1", 0);
        for (span, reason) in [(&spans[0], "started_by"), (&spans[2], "started")] {
            let l = &span.links.links;
            assert_eq!(l.len(), 1, "{}", span.name);
            assert_eq!(l[0].span_context.trace_id(), target.trace_id());
            assert_eq!(l[0].span_context.span_id(), target.root_span_id());
            assert_eq!(l[0].attributes[0].value.as_str(), reason);
        }
        // A queue that ends before the start (bad data) is no span.
        run.queued_until = Some(Millis(start.0 - 1));
        assert!(to_spans(&run).iter().all(|s| s.name != QUEUE_TASK));
    }

    #[test]
    fn a_run_with_a_parent_sits_below_the_parents_root_in_its_trace() {
        let mut run = huge_run(2);
        let job = crate::sources::glue_job::pipeline("1", "us-east-1", "load");
        run.parent = Some(crate::model::RunLink {
            pipeline: job.clone(),
            run_id: "jr_1".into(),
            attempt: 0,
            reason: "evaluated_in",
        });
        let spans = to_spans(&run);
        let parent = RunKey::new(job.kind, "1", "us-east-1", "load", "jr_1", 0);
        assert_eq!(spans[0].parent_span_id, parent.root_span_id());
        assert_eq!(spans[0].span_kind, SpanKind::Internal);
        assert_eq!(
            spans[0].span_context.span_id(),
            run_key(&run).root_span_id()
        );
        assert!(spans
            .iter()
            .all(|s| s.span_context.trace_id() == parent.trace_id()));
        assert_eq!(
            trace_and_root(&run),
            (parent.trace_id(), run_key(&run).root_span_id())
        );
        // Without a parent: a trace of its own, a SERVER root.
        run.parent = None;
        let spans = to_spans(&run);
        assert_eq!(spans[0].parent_span_id, SpanId::INVALID);
        assert_eq!(spans[0].span_kind, SpanKind::Server);
        assert!(spans
            .iter()
            .all(|s| s.span_context.trace_id() == run_key(&run).trace_id()));
    }

    #[test]
    fn a_run_under_the_cap_has_no_dropped_count() {
        let run = huge_run(10);
        let spans = to_spans(&run);
        assert_eq!(spans.len(), 22);
        assert_eq!(dropped(&spans[0]), None);
        // The cap at exactly the span count drops nothing.
        assert_eq!(dropped(&to_spans_capped(&run, 22)[0]), None);
        assert_eq!(dropped(&to_spans_capped(&run, 21)[0]), Some(1));
    }

    #[test]
    fn truncating_keeps_a_prefix_and_adds_to_the_count() {
        let run = huge_run(100);
        let mut spans = to_spans_capped(&run, 150); // 201 + 1 spans, 52 dropped
        assert_eq!(dropped(&spans[0]), Some(52));
        assert_eq!(truncate(&mut spans, 100), 50);
        assert_eq!(spans.len(), 100);
        assert_eq!(dropped(&spans[0]), Some(102));
        check_tree(&spans);
        // Never below the root, never on nothing.
        assert_eq!(truncate(&mut spans, 0), 99);
        assert_eq!(spans.len(), 1);
        assert_eq!(dropped(&spans[0]), Some(201));
        let mut none = Vec::new();
        assert_eq!(truncate(&mut none, 0), 0);
        // A cap of 0 still yields the root.
        assert_eq!(to_spans_capped(&run, 0).len(), 1);
    }
}
