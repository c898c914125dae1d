//! Snapshot tests of the pure conversion: AWS responses (fixtures) → runs → spans.
//!
//! Each fixture under `tests/fixtures/{sfn,glue}/` is converted and its span tree and terminal
//! rendering compared with the snapshot under `tests/snapshots/`. A new fixture gets a new
//! snapshot (review it with `cargo insta review`).

mod common;

use common::fixtures::{GlueFixture, SfnFixture};
use common::spans::describe;
use opentelemetry::trace::{SpanKind, Status};
use opentelemetry_sdk::trace::SpanData;
use pipeline_otel_bridge::convert::spans;
use pipeline_otel_bridge::model::{PipelineRun, RunResult, RunStatus};
use pipeline_otel_bridge::render::render_run;
use pipeline_otel_bridge::sources::glue_job::records::GlueJobRun;
use pipeline_otel_bridge::sources::sfn::records::SfnExecution;
use pipeline_otel_bridge::sources::{glue_job::convert as glue, sfn::convert as sfn};
use serde_json::json;

const ACCOUNT: &str = "123456789012";
const REGION: &str = "us-east-1";

/// Structural checks every converted run must pass, whatever the fixture.
fn check_invariants(run: &PipelineRun, spans: &[SpanData]) {
    if run.end.is_none() {
        assert!(spans.is_empty(), "a run in flight exports nothing");
        return;
    }
    let root = &spans[0];
    assert_eq!(root.name, format!("RUN {}", run.pipeline.name));
    assert_eq!(root.span_kind, SpanKind::Server);
    assert!(root.end_time >= root.start_time);
    let ids: std::collections::HashSet<_> =
        spans.iter().map(|s| s.span_context.span_id()).collect();
    assert_eq!(ids.len(), spans.len(), "span ids are unique within a trace");
    for s in &spans[1..] {
        assert!(
            ids.contains(&s.parent_span_id),
            "{} has a parent in the trace",
            s.name
        );
        assert_eq!(s.span_kind, SpanKind::Internal);
        assert!(
            s.end_time >= s.start_time,
            "{} does not end before it starts",
            s.name
        );
        assert_eq!(s.span_context.trace_id(), root.span_context.trace_id());
    }
    let result = run.result().unwrap();
    assert_eq!(
        matches!(root.status, Status::Error { .. }),
        result.is_error()
    );
    let has_error_type = root
        .attributes
        .iter()
        .any(|kv| kv.key.as_str() == "error.type");
    assert_eq!(
        has_error_type,
        result.is_error(),
        "error.type only on failures"
    );
    // Every task span names a page of its own run (required by the conventions).
    if let Some(url) = &run.url {
        for s in &spans[1..] {
            assert!(
                s.attributes
                    .iter()
                    .any(|kv| kv.key.as_str() == "cicd.pipeline.task.run.url.full"
                        && kv.value.as_str() == url.as_str()),
                "{}: no cicd.pipeline.task.run.url.full",
                s.name
            );
        }
    }
    // Semantic conventions 1.44, on every span: an Error status comes with `error.type` and
    // a description that does not repeat it (the message alone); no deprecated
    // `error.message` attribute, no `exception` event.
    for s in spans {
        let attr = |k: &str| {
            s.attributes
                .iter()
                .find(|kv| kv.key.as_str() == k)
                .map(|kv| kv.value.as_str().into_owned())
        };
        assert!(attr("error.message").is_none(), "{}: error.message", s.name);
        assert!(
            s.events.iter().all(|e| e.name != "exception"),
            "{}: exception event",
            s.name
        );
        if let Status::Error { description } = &s.status {
            let et = attr("error.type").unwrap_or_else(|| panic!("{}: no error.type", s.name));
            assert!(!description.is_empty(), "{}: empty status", s.name);
            assert!(
                description == &et || !description.starts_with(&format!("{et}: ")),
                "{}: the status repeats error.type: {description}",
                s.name
            );
        }
    }
    // Same input, same ids.
    assert_eq!(
        spans::to_spans(run)
            .iter()
            .map(|s| s.span_context.span_id())
            .collect::<Vec<_>>(),
        spans
            .iter()
            .map(|s| s.span_context.span_id())
            .collect::<Vec<_>>()
    );
}

#[test]
fn sfn_fixtures() {
    insta::glob!("fixtures/sfn/*.json", |path| {
        let f: SfnFixture = serde_json::from_str(&std::fs::read_to_string(path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let sm = sfn::state_machine_name(&f.execution.execution_arn).unwrap_or("unknown");
        let run = sfn::to_run(ACCOUNT, REGION, sm, &f.execution, &f.events).expect("run");
        let spans = spans::to_spans(&run);
        check_invariants(&run, &spans);
        insta::assert_snapshot!("tree", render_run(&run));
        insta::assert_json_snapshot!("spans", describe(&spans));
    });
}

#[test]
fn glue_fixtures() {
    insta::glob!("fixtures/glue/*.json", |path| {
        let f: GlueFixture = serde_json::from_str(&std::fs::read_to_string(path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut trees = String::new();
        let mut all = Vec::new();
        for r in &f.job_runs {
            match glue::to_run(ACCOUNT, REGION, None, r) {
                Some(run) => {
                    let spans = spans::to_spans(&run);
                    check_invariants(&run, &spans);
                    trees.push_str(&render_run(&run));
                    trees.push('\n');
                    all.push(json!({"run_id": run.run_id, "state": r.job_run_state, "trace": describe(&spans)}));
                }
                None => {
                    trees.push_str(&format!("(skipped {}: no timestamp)\n\n", r.id));
                }
            }
        }
        insta::assert_snapshot!("tree", trees);
        insta::assert_json_snapshot!("spans", all);
    });
}

fn glue_run(state: &str, msg: Option<&str>) -> GlueJobRun {
    serde_json::from_value(json!({
        "Id": "jr_1", "JobName": "j", "JobRunState": state, "StartedOn": 1700000000.0,
        "CompletedOn": 1700000060.5, "ErrorMessage": msg, "ExecutionTime": 60,
        "WorkerType": "G.2X", "NumberOfWorkers": 3
    }))
    .unwrap()
}

#[test]
fn glue_result_mapping_follows_the_table() {
    let cases = [
        ("SUCCEEDED", Some(RunResult::Success)),
        ("FAILED", Some(RunResult::Failure)),
        ("TIMEOUT", Some(RunResult::Timeout)),
        ("ERROR", Some(RunResult::Error)),
        ("STOPPED", Some(RunResult::Cancellation)),
        ("RUNNING", None),
        ("STARTING", None),
        ("STOPPING", None),
        ("NEW_STATE_FROM_THE_FUTURE", None),
    ];
    for (state, want) in cases {
        let run = glue::to_run(ACCOUNT, REGION, None, &glue_run(state, None)).unwrap();
        assert_eq!(run.result(), want, "{state}");
        let spans = spans::to_spans(&run);
        assert_eq!(spans.is_empty(), want.is_none(), "{state}");
    }
}

#[test]
fn glue_dpu_seconds_from_workers_when_not_reported() {
    let run = glue::to_run(ACCOUNT, REGION, None, &glue_run("SUCCEEDED", None)).unwrap();
    assert_eq!(run.dpu_seconds, Some(60.0 * 2.0 * 3.0));
    assert_eq!(run.duration_secs(), 60.5);
}

#[test]
fn huge_glue_error_message_is_cut() {
    let msg = "java.lang.IllegalStateException: ".to_string()
        + &"at org.example.Frame(Frame.java:1)\n".repeat(2000);
    let run = glue::to_run(ACCOUNT, REGION, None, &glue_run("FAILED", Some(&msg))).unwrap();
    let err = run.error.unwrap();
    assert_eq!(err.error_type, "java.lang.IllegalStateException");
    assert!(err.message.len() < 4200, "{}", err.message.len());
    assert!(err.message.ends_with("bytes]"));
}

#[test]
fn sfn_in_flight_has_no_spans() {
    let exec: SfnExecution = serde_json::from_value(json!({
        "executionArn": "arn:aws:states:us-east-1:1:execution:sm:e1",
        "stateMachineArn": "arn:aws:states:us-east-1:1:stateMachine:sm",
        "name": "e1", "status": "RUNNING", "startDate": 1700000000.0
    }))
    .unwrap();
    let run = sfn::to_run(ACCOUNT, REGION, "sm", &exec, &[]).unwrap();
    assert_eq!(
        run.status,
        RunStatus::InFlight(pipeline_otel_bridge::model::RunPhase::Executing)
    );
    assert!(spans::to_spans(&run).is_empty());
}

#[test]
fn glue_retry_links_to_previous_attempt() {
    let mut r = glue_run("SUCCEEDED", None);
    r.attempt = 1;
    r.previous_run_id = Some("jr_0".into());
    let run = glue::to_run(ACCOUNT, REGION, None, &r).unwrap();
    let root = &spans::to_spans(&run)[0];
    let prev = pipeline_otel_bridge::ids::RunKey::new(
        pipeline_otel_bridge::sources::glue_job::KIND,
        ACCOUNT,
        REGION,
        "j",
        "jr_0",
        0,
    );
    assert_eq!(root.links.len(), 1);
    assert_eq!(root.links[0].span_context.trace_id(), prev.trace_id());
    assert_eq!(root.links[0].span_context.span_id(), prev.root_span_id());
    assert_ne!(
        root.span_context.trace_id(),
        prev.trace_id(),
        "each attempt is its own trace"
    );
}

#[test]
fn a_failed_glue_attempt_below_max_retries_will_be_retried() {
    use pipeline_otel_bridge::sources::glue_job::records::GlueJob;
    let job = |max_retries| GlueJob {
        name: "j".into(),
        max_retries,
        ..Default::default()
    };
    let will_retry_attr = |run: &PipelineRun| {
        spans::to_spans(run)[0]
            .attributes
            .iter()
            .find(|kv| kv.key.as_str() == "pipeline_bridge.run.will_retry")
            .map(|kv| kv.value.clone())
    };
    // (state, attempt, MaxRetries) → Glue runs it again?
    for (state, attempt, max, want) in [
        ("FAILED", 0, Some(1), true),
        ("FAILED", 1, Some(2), true),
        ("FAILED", 1, Some(1), false), // the last attempt
        ("FAILED", 0, Some(0), false),
        ("FAILED", 0, None, false),     // job definition unknown
        ("TIMEOUT", 0, Some(3), false), // Glue does not retry a time-out
        ("ERROR", 0, Some(3), false),
        ("STOPPED", 0, Some(3), false),
        ("SUCCEEDED", 0, Some(3), false),
        ("RUNNING", 0, Some(3), false),
    ] {
        let mut r = glue_run(state, Some("java.lang.OutOfMemoryError: heap"));
        r.attempt = attempt;
        let j = job(max);
        let run = glue::to_run(ACCOUNT, REGION, Some(&j), &r).unwrap();
        assert_eq!(run.will_retry, want, "{state} attempt {attempt} of {max:?}");
        if run.result().is_some() {
            let attr = will_retry_attr(&run);
            assert_eq!(
                attr,
                want.then_some(opentelemetry::Value::Bool(true)),
                "{state} attempt {attempt} of {max:?}"
            );
            assert_eq!(
                run.is_final_failure(),
                !want && run.result().unwrap().is_error()
            );
        }
        if want {
            // Still a failure: status Error, counted as such.
            assert_eq!(run.result(), Some(RunResult::Failure));
            assert!(matches!(
                spans::to_spans(&run)[0].status,
                Status::Error { .. }
            ));
        }
    }
    // Without a job definition (the `runs` view of a single run) nothing is assumed.
    let r = glue_run("FAILED", None);
    assert!(!glue::to_run(ACCOUNT, REGION, None, &r).unwrap().will_retry);
}

/// Tasks that start other runs point at those runs' own traces: a Glue job run only started
/// (`glue:startJobRun`) and a child execution (`states:startExecution.sync:2`). A started Glue
/// run read by id afterwards becomes the task's child span, with its own id, result, error and
/// DPU-seconds.
#[test]
fn tasks_link_to_the_runs_they_started() {
    use pipeline_otel_bridge::ids::RunKey;
    use pipeline_otel_bridge::sources::{glue_job, sfn as sfn_source};
    let load = |name: &str| -> SfnFixture {
        let p = format!("{}/tests/fixtures/sfn/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
    };
    let root_of = |kind, pipeline: &str, run_id: &str| {
        let k = RunKey::new(kind, ACCOUNT, REGION, pipeline, run_id, 0);
        (k.trace_id(), k.root_span_id())
    };
    let job_run = "jr_11111111111111111111111111111111111111111111111111111111111111aa";

    let f = load("glue-task-started.json");
    let mut run = sfn::to_run(ACCOUNT, REGION, "orders-kickoff", &f.execution, &f.events).unwrap();
    let task = &run.tasks[0];
    assert_eq!(task.name, "RunOrdersEtl");
    assert!(
        task.children.is_empty(),
        "no record of the run: no child span"
    );
    let spans = spans::to_spans(&run);
    let task_span = spans.iter().find(|s| s.name == "RunOrdersEtl").unwrap();
    let links: Vec<_> = task_span
        .links
        .iter()
        .map(|l| (l.span_context.trace_id(), l.span_context.span_id()))
        .collect();
    assert_eq!(links, [root_of(glue_job::KIND, "orders-etl", job_run)]);
    assert_eq!(
        sfn::started_glue_runs(&run),
        [("orders-etl".to_string(), job_run.to_string())]
    );

    // The run read by id: failed, with its message and DPU-seconds.
    let mut rec = glue_run(
        "FAILED",
        Some("Container killed: java.lang.OutOfMemoryError: Java heap space"),
    );
    rec.id = job_run.to_string();
    rec.job_name = "orders-etl".to_string();
    rec.dpu_seconds = Some(42.5);
    sfn::attach_glue_runs(&mut run, ACCOUNT, REGION, &[rec.clone()]);
    let task = &run.tasks[0];
    assert!(task.links.is_empty(), "the link moved to the child");
    let child = &task.children[0];
    assert_eq!(
        (child.kind.as_str(), child.run_id.as_str()),
        ("GlueJobRun", job_run)
    );
    assert_eq!(child.result, RunResult::Failure);
    assert_eq!(
        child.error.as_ref().map(|e| e.error_type.as_str()),
        Some("java.lang.OutOfMemoryError")
    );
    assert!(child
        .attributes
        .iter()
        .any(|a| a.key == "aws.glue.dpu_seconds" && format!("{:?}", a.value).contains("42.5")));
    let spans = spans::to_spans(&run);
    check_invariants(&run, &spans);
    let child_span = spans.iter().find(|s| s.name == "orders-etl").unwrap();
    assert_eq!(child_span.links.links.len(), 1);
    // Attaching again adds nothing.
    sfn::attach_glue_runs(&mut run, ACCOUNT, REGION, &[rec]);
    assert_eq!(run.tasks[0].children.len(), 1);

    let f = load("start-execution-sync.json");
    let run = sfn::to_run(ACCOUNT, REGION, "nightly-parent", &f.execution, &f.events).unwrap();
    let spans = spans::to_spans(&run);
    let task_span = spans.iter().find(|s| s.name == "RunChild").unwrap();
    let links: Vec<_> = task_span
        .links
        .iter()
        .map(|l| (l.span_context.trace_id(), l.span_context.span_id()))
        .collect();
    let child = "arn:aws:states:us-east-1:123456789012:execution:orders-etl-pipeline:from-parent-2024-06-01";
    assert_eq!(
        links,
        [root_of(sfn_source::KIND, "orders-etl-pipeline", child)]
    );
    assert!(sfn::started_glue_runs(&run).is_empty());
}

/// A redrive between the listing (attempt 0 ended) and the history read: the history runs
/// ahead, yet attempt 0 holds only what ran before the redrive, and attempt 1 only what ran
/// after it, starting at the redrive and linked to attempt 0.
#[test]
fn each_redrive_attempt_holds_only_its_own_states() {
    let p = format!(
        "{}/tests/fixtures/sfn/redriven.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let f: SfnFixture = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
    let names = |run: &PipelineRun| -> Vec<String> {
        run.tasks
            .iter()
            .map(|t| format!("{} {}", t.name, t.result.as_str()))
            .collect()
    };
    let mut first = f.execution.clone();
    first.redrive_count = Some(0);
    first.status = "FAILED".into();
    first.stop_date = Some(pipeline_otel_bridge::records::Millis(1_717_228_901_251));
    let a0 = sfn::to_run(ACCOUNT, REGION, "orders-etl-pipeline", &first, &f.events).unwrap();
    assert_eq!(a0.attempt, 0);
    assert_eq!(names(&a0), ["Prepare success", "RunOrdersEtl failure"]);
    assert!(a0.previous_run_id.is_none());
    let a1 = sfn::to_run(
        ACCOUNT,
        REGION,
        "orders-etl-pipeline",
        &f.execution,
        &f.events,
    )
    .unwrap();
    assert_eq!(a1.attempt, 1);
    assert_eq!(names(&a1), ["RunOrdersEtl success", "Done success"]);
    assert_eq!(a1.start.0, 1_717_236_105_118, "starts at the redrive");
    assert_eq!(
        a1.previous_run_id.as_deref(),
        Some(f.execution.execution_arn.as_str())
    );
    let spans = spans::to_spans(&a1);
    assert_eq!(spans[0].links.links.len(), 1, "linked to attempt 0");
    assert_ne!(
        spans[0].span_context.trace_id(),
        spans::to_spans(&a0)[0].span_context.trace_id()
    );
}

/// A Distributed Map: the Map span names its Map Run; the Map Run's child executions, read
/// by Map Run, become its child spans with their own names, ids, times and results (one still
/// running when the parent ended is cancelled), and a Map Run with more than were read says so.
#[test]
fn a_distributed_maps_child_executions_are_its_children() {
    use pipeline_otel_bridge::records::Millis;
    let p = format!(
        "{}/tests/fixtures/sfn/distributed-map.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let f: SfnFixture = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
    let mut run = sfn::to_run(ACCOUNT, REGION, "file-fanout", &f.execution, &f.events).unwrap();
    let map_run = "arn:aws:states:us-east-1:123456789012:mapRun:file-fanout/ProcessFiles:6b2f1c1e-8a4d-4e0b-9c5a-2f3e4d5c6b7a";
    assert_eq!(sfn::map_runs(&run), [map_run]);
    let child = |name: &str, status: &str, start: i64, stop: Option<i64>| SfnExecution {
        execution_arn: format!("{map_run}:{name}"),
        state_machine_arn:
            "arn:aws:states:us-east-1:123456789012:stateMachine:file-fanout/ProcessFiles".into(),
        name: name.into(),
        status: status.into(),
        start_date: Some(Millis(start)),
        stop_date: stop.map(Millis),
        ..SfnExecution::default()
    };
    let t0 = 1_717_225_200_000;
    let execs = [
        child("file-1", "SUCCEEDED", t0 + 400, Some(t0 + 30_000)),
        child("file-2", "FAILED", t0 + 500, Some(t0 + 60_000)),
        child("file-3", "RUNNING", t0 + 600, None),
    ];
    sfn::attach_map_run(&mut run, map_run, &execs, true);
    let map = &run.tasks[0];
    assert_eq!(map.kind, "Map");
    let got: Vec<_> = map
        .children
        .iter()
        .map(|c| {
            (
                c.name.as_str(),
                c.kind.as_str(),
                c.result.as_str(),
                c.run_id.ends_with(&c.name),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("file-1", "MapRunExecution", "success", true),
            ("file-2", "MapRunExecution", "failure", true),
            ("file-3", "MapRunExecution", "cancellation", true),
        ]
    );
    assert_eq!(
        map.children[2].end, map.end,
        "still running: ends with the Map"
    );
    assert!(map
        .attributes
        .iter()
        .any(|a| a.key == "aws.step_functions.map_run.truncated"));
    let spans = spans::to_spans(&run);
    check_invariants(&run, &spans);
    assert_eq!(spans.len(), 2 + 3);
    // Attached once only.
    sfn::attach_map_run(&mut run, map_run, &execs, false);
    assert_eq!(run.tasks[0].children.len(), 3);
}
