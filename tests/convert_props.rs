//! Property tests of the conversion over arbitrary AWS answers: whatever Glue or Step Functions
//! send (unknown states, missing or backwards timestamps, histories with dangling or forward
//! `previousEventId`s, events out of order, huge or negative numbers, hostile names), the
//! conversion never panics, and every run it produces becomes well-formed spans: exactly one
//! root, every parent present in the same trace, ids non-zero, end ≥ start.

use opentelemetry::trace::{SpanId, TraceId};
use opentelemetry_sdk::trace::SpanData;
use pipeline_otel_bridge::convert::spans;
use pipeline_otel_bridge::records::Millis;
use pipeline_otel_bridge::sources::glue_job::records::{GlueJob, GlueJobRun};
use pipeline_otel_bridge::sources::sfn::records::{HistoryEvent, SfnExecution};
use pipeline_otel_bridge::sources::{glue_job::convert as glue, sfn::convert as sfn};
use proptest::prelude::*;
use std::collections::HashSet;

const T0: i64 = 1_700_000_000_000;

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9_.-]{0,12}",
        Just(String::new()),
        Just("java.lang.OutOfMemoryError: Java heap space".to_string()),
        Just("\u{1b}[2J\u{1b}]0;t\u{7}\n\u{202e}x".to_string()),
        ".{0,40}",
    ]
}

fn millis() -> impl Strategy<Value = Option<Millis>> {
    prop_oneof![
        1 => Just(None),
        6 => (-3_600_000i64..3_600_000).prop_map(|d| Some(Millis(T0 + d))),
        1 => prop_oneof![Just(i64::MIN), Just(i64::MIN / 4), Just(0i64), Just(i64::MAX / 4), Just(i64::MAX)].prop_map(|v| Some(Millis(v))),
    ]
}

fn glue_state() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("SUCCEEDED"),
        Just("FAILED"),
        Just("TIMEOUT"),
        Just("ERROR"),
        Just("STOPPED"),
        Just("RUNNING"),
        Just("EXPIRED"),
        Just("WAITING"),
        Just("SOMETHING_NEW"),
    ]
    .prop_map(str::to_string)
}

prop_compose! {
    fn glue_run()(
        id in "jr_[0-9a-f]{0,8}",
        attempt in prop_oneof![Just(0i32), Just(1), Just(-1), Just(i32::MAX)],
        previous in proptest::option::of("jr_[0-9a-f]{4}"),
        state in glue_state(),
        started in millis(), completed in millis(), modified in millis(),
        error in proptest::option::of(text()),
        exec in proptest::option::of(prop_oneof![Just(-5i32), 0i32..100_000, Just(i32::MAX)]),
        cap in proptest::option::of(prop_oneof![Just(f64::NAN), Just(-1.0), 0.0f64..100.0, Just(f64::INFINITY)]),
        workers in proptest::option::of(prop_oneof![Just(-1i32), 0i32..100, Just(i32::MAX)]),
        worker_type in proptest::option::of(prop_oneof![Just("G.1X".to_string()), text()]),
        dpu in proptest::option::of(prop_oneof![Just(f64::NAN), 0.0f64..1e6, Just(-3.0)]),
    ) -> GlueJobRun {
        GlueJobRun {
            id, attempt, previous_run_id: previous, trigger_name: None, job_name: "job".into(),
            started_on: started, last_modified_on: modified, completed_on: completed,
            job_run_state: state, error_message: error, execution_time: exec, timeout: None,
            max_capacity: cap, worker_type, number_of_workers: workers, glue_version: None,
            dpu_seconds: dpu, execution_class: None,
        }
    }
}

fn event_kind() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("ExecutionStarted"),
        Just("ExecutionSucceeded"),
        Just("ExecutionFailed"),
        Just("ExecutionAborted"),
        Just("TaskStateEntered"),
        Just("TaskStateExited"),
        Just("TaskScheduled"),
        Just("TaskStarted"),
        Just("TaskSucceeded"),
        Just("TaskFailed"),
        Just("TaskTimedOut"),
        Just("TaskStateAborted"),
        Just("PassStateEntered"),
        Just("PassStateExited"),
        Just("MapStateEntered"),
        Just("MapStateStarted"),
        Just("MapIterationStarted"),
        Just("MapIterationSucceeded"),
        Just("MapIterationFailed"),
        Just("MapStateSucceeded"),
        Just("MapStateExited"),
        Just("ParallelStateEntered"),
        Just("ParallelStateStarted"),
        Just("ParallelStateSucceeded"),
        Just("ParallelStateExited"),
        Just("WaitStateEntered"),
        Just("WaitStateExited"),
        Just("FailStateEntered"),
        Just("LambdaFunctionScheduled"),
        Just("LambdaFunctionFailed"),
        Just("SomethingAwsAddsLater"),
    ]
    .prop_map(str::to_string)
}

prop_compose! {
    fn event(n: i64)(
        prev in prop_oneof![4 => 0..n.max(1), 1 => Just(-1i64), 1 => n..n + 5],
        dt in prop_oneof![6 => 0i64..600_000, 1 => -600_000i64..0],
        kind in event_kind(),
        name in proptest::option::of(prop_oneof!["[A-C]", text()]),
        index in proptest::option::of(prop_oneof![0i64..4, Just(-1), Just(i64::MAX)]),
        error in proptest::option::of(text()),
    ) -> (i64, i64, String, Option<String>, Option<i64>, Option<String>) {
        (prev, dt, kind, name, index, error)
    }
}

fn history() -> impl Strategy<Value = Vec<HistoryEvent>> {
    (0usize..60)
        .prop_flat_map(|n| (0..n).map(|i| event(i as i64 + 1)).collect::<Vec<_>>())
        .prop_map(|evs| {
            evs.into_iter()
                .enumerate()
                .map(|(i, (prev, dt, kind, name, index, error))| HistoryEvent {
                    id: i as i64 + 1,
                    previous_event_id: prev,
                    timestamp: Millis(T0 + dt * (i as i64 % 5)),
                    kind,
                    name,
                    index,
                    resource: None,
                    resource_type: None,
                    error: error.clone(),
                    cause: error,
                    started: None,
                    map_run_arn: None,
                })
                .collect()
        })
}

prop_compose! {
    fn execution()(
        status in prop_oneof![Just("SUCCEEDED"), Just("FAILED"), Just("TIMED_OUT"), Just("ABORTED"),
                              Just("RUNNING"), Just("PENDING_REDRIVE"), Just("NEW_STATUS")],
        start in millis(), stop in millis(),
        error in proptest::option::of(text()), cause in proptest::option::of(text()),
        redrive in proptest::option::of(prop_oneof![Just(-1i32), 0i32..3, Just(i32::MAX)]),
        name in text(),
    ) -> SfnExecution {
        SfnExecution {
            execution_arn: format!("arn:aws:states:us-east-1:123456789012:execution:sm:{name}"),
            state_machine_arn: "arn:aws:states:us-east-1:123456789012:stateMachine:sm".into(),
            name, status: status.to_string(), start_date: start, stop_date: stop,
            error, cause, redrive_count: redrive,
        }
    }
}

fn well_formed(spans: &[SpanData]) -> Result<(), TestCaseError> {
    if spans.is_empty() {
        return Ok(());
    }
    let ids: HashSet<SpanId> = spans.iter().map(|s| s.span_context.span_id()).collect();
    prop_assert_eq!(ids.len(), spans.len(), "span ids are unique");
    let trace = spans[0].span_context.trace_id();
    prop_assert_ne!(trace, TraceId::INVALID);
    let mut roots = 0;
    for s in spans {
        prop_assert_eq!(s.span_context.trace_id(), trace, "one trace per run");
        prop_assert_ne!(s.span_context.span_id(), SpanId::INVALID);
        prop_assert!(s.end_time >= s.start_time, "{}: end before start", s.name);
        if s.parent_span_id == SpanId::INVALID {
            roots += 1;
        } else {
            prop_assert!(
                ids.contains(&s.parent_span_id),
                "{}: parent missing",
                s.name
            );
        }
    }
    prop_assert_eq!(roots, 1, "exactly one root");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn any_glue_answer_converts_without_panic_into_well_formed_spans(
        run in glue_run(),
        job in proptest::option::of(Just(GlueJob { name: "job".into(), worker_type: Some("G.2X".into()), number_of_workers: Some(3), ..Default::default() })),
    ) {
        if let Some(r) = glue::to_run("123456789012", "us-east-1", job.as_ref(), &run) {
            prop_assert!(r.end.is_none_or(|e| e >= r.start), "run ends before it starts");
            let _ = pipeline_otel_bridge::render::render_run(&r);
            well_formed(&spans::to_spans(&r))?;
        }
    }

    #[test]
    fn any_step_functions_answer_converts_without_panic_into_well_formed_spans(
        exec in execution(),
        history in history(),
    ) {
        if let Some(r) = sfn::to_run("123456789012", "us-east-1", "sm", &exec, &history) {
            prop_assert!(r.end.is_none_or(|e| e >= r.start), "run ends before it starts");
            let _ = pipeline_otel_bridge::render::render_run(&r);
            well_formed(&spans::to_spans(&r))?;
            well_formed(&spans::to_spans_capped(&r, 3))?;
        }
    }
}
