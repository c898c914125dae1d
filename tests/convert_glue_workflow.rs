//! Snapshot tests of the Glue workflow conversion: `GetWorkflowRuns` answers (fixtures under
//! `tests/fixtures/glue_workflow/`, described in its README) → runs → spans, and the links
//! between a workflow run's trace and the traces of the job runs it started.

use opentelemetry::trace::{SpanKind, Status};
use opentelemetry_sdk::trace::SpanData;
use pipeline_otel_bridge::convert::spans;
use pipeline_otel_bridge::ids::RunKey;
use pipeline_otel_bridge::model::{PipelineRun, RunPhase, RunResult, RunStatus};
use pipeline_otel_bridge::render::render_run;
use pipeline_otel_bridge::sources::glue_job::{self, records::JobRunRecord};
use pipeline_otel_bridge::sources::glue_workflow::{self, convert, records::GlueWorkflowRun};
use serde::Deserialize;
use serde_json::{json, Value};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

const ACCOUNT: &str = "123456789012";
const REGION: &str = "us-east-1";

/// A `GetWorkflowRuns` answer.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RunsFixture {
    runs: Vec<GlueWorkflowRun>,
}

/// A `GetJobRuns` answer, with each run's arguments.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct JobRunsFixture {
    job_runs: Vec<JobRunRecord>,
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/glue_workflow")
            .join(name),
    )
    .unwrap()
}

fn runs(name: &str) -> Vec<GlueWorkflowRun> {
    serde_json::from_str::<RunsFixture>(&fixture(name))
        .unwrap()
        .runs
}

fn ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

fn value(v: &opentelemetry::Value) -> Value {
    match v {
        opentelemetry::Value::I64(i) => json!(i),
        opentelemetry::Value::F64(f) => json!(f),
        opentelemetry::Value::Bool(b) => json!(b),
        other => json!(other.as_str()),
    }
}

/// A span tree as plain data: times relative to the root's start, ids kept (they are stable).
fn describe(spans: &[SpanData]) -> Value {
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
            let links: Vec<Value> = s
                .links
                .iter()
                .map(|l| {
                    json!({
                        "trace_id": l.span_context.trace_id().to_string(),
                        "span_id": l.span_context.span_id().to_string(),
                        "attributes": l.attributes.iter().map(|kv| (kv.key.to_string(), value(&kv.value))).collect::<serde_json::Map<_, _>>(),
                    })
                })
                .collect();
            json!({
                "name": s.name,
                "kind": match s.span_kind { SpanKind::Server => "server", SpanKind::Internal => "internal", _ => "other" },
                "span_id": s.span_context.span_id().to_string(),
                "parent": s.parent_span_id.to_string(),
                "start_ms": ms(s.start_time) - t0,
                "duration_ms": ms(s.end_time) - ms(s.start_time),
                "status": status,
                "attributes": attrs,
                "links": links,
            })
        })
        .collect();
    json!({ "trace_id": root.span_context.trace_id().to_string(), "spans": list })
}

/// What every converted run must satisfy, whatever the fixture.
fn check_invariants(run: &PipelineRun, spans: &[SpanData]) {
    let Some(result) = run.result() else {
        assert!(spans.is_empty(), "a run in flight exports nothing");
        assert!(run.tasks.is_empty());
        return;
    };
    let root = &spans[0];
    assert_eq!(root.name, format!("RUN {}", run.pipeline.name));
    assert_eq!(root.span_kind, SpanKind::Server);
    assert!(root.end_time >= root.start_time);
    let ids: std::collections::HashSet<_> =
        spans.iter().map(|s| s.span_context.span_id()).collect();
    assert_eq!(ids.len(), spans.len(), "span ids are unique within a trace");
    for s in &spans[1..] {
        assert_eq!(s.parent_span_id, root.span_context.span_id());
        assert_eq!(s.span_kind, SpanKind::Internal);
        assert!(s.end_time >= s.start_time, "{}", s.name);
    }
    assert_eq!(
        matches!(root.status, Status::Error { .. }),
        result.is_error()
    );
    let error_type = root
        .attributes
        .iter()
        .find(|kv| kv.key.as_str() == "error.type");
    assert_eq!(error_type.is_some(), result.is_error());
    assert!(run.url.as_deref().unwrap().starts_with(
        "https://us-east-1.console.aws.amazon.com/glue/home?region=us-east-1#/v2/etl-configuration/workflows/view/"
    ));
}

#[test]
fn glue_workflow_fixtures() {
    insta::glob!("fixtures/glue_workflow/*.json", |path| {
        let f: RunsFixture = serde_json::from_str(&std::fs::read_to_string(path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut trees = String::new();
        let mut all = Vec::new();
        for r in &f.runs {
            match convert::to_run(ACCOUNT, REGION, "from-the-listing", r) {
                Some(run) => {
                    let spans = spans::to_spans(&run);
                    check_invariants(&run, &spans);
                    trees.push_str(&render_run(&run));
                    trees.push('\n');
                    all.push(json!({
                        "run_id": run.run_id,
                        "status": r.status,
                        "result": run.result().map(|r| r.as_str()),
                        "error": run.error.as_ref().map(|e| json!({"type": e.error_type, "message": e.message})),
                        "trace": describe(&spans),
                    }));
                }
                None => trees.push_str(&format!("(skipped {}: no start)\n\n", r.workflow_run_id)),
            }
        }
        insta::assert_snapshot!("tree", trees);
        insta::assert_json_snapshot!("spans", all);
    });
}

#[test]
fn workflow_statuses_and_actions_decide_the_result() {
    let one = |status: &str, stats: Value| -> Option<RunResult> {
        let r: GlueWorkflowRun = serde_json::from_value(json!({
            "Name": "w", "WorkflowRunId": "wr_1", "Status": status,
            "StartedOn": 1_700_000_000.0, "CompletedOn": 1_700_000_100.0, "Statistics": stats,
        }))
        .unwrap();
        convert::to_run(ACCOUNT, REGION, "w", &r).unwrap().result()
    };
    let s = |failed: i32, errored: i32, timeout: i32, stopped: i32| {
        json!({"TotalActions": 4, "FailedActions": failed, "ErroredActions": errored,
               "TimeoutActions": timeout, "StoppedActions": stopped})
    };
    let cases = [
        ("COMPLETED", s(0, 0, 0, 0), Some(RunResult::Success)),
        ("COMPLETED", s(1, 1, 1, 1), Some(RunResult::Failure)),
        ("COMPLETED", s(0, 1, 1, 1), Some(RunResult::Error)),
        ("COMPLETED", s(0, 0, 1, 1), Some(RunResult::Timeout)),
        ("COMPLETED", s(0, 0, 0, 1), Some(RunResult::Cancellation)),
        ("COMPLETED", json!(null), Some(RunResult::Success)),
        ("STOPPED", s(1, 0, 0, 0), Some(RunResult::Cancellation)),
        ("ERROR", json!(null), Some(RunResult::Error)),
        ("RUNNING", s(1, 0, 0, 0), None),
        ("STOPPING", s(0, 0, 0, 0), None),
        ("SOMETHING_NEW", s(0, 0, 0, 0), None),
        ("", json!(null), None),
    ];
    for (status, stats, want) in cases {
        assert_eq!(one(status, stats.clone()), want, "{status} {stats}");
    }
    assert_eq!(
        convert::status("STOPPING"),
        RunStatus::InFlight(RunPhase::Finalizing)
    );
    for (state, want) in [
        ("SUCCEEDED", Some(RunResult::Success)),
        ("FAILED", Some(RunResult::Failure)),
        ("ERROR", Some(RunResult::Error)),
        ("CANCELLED", Some(RunResult::Cancellation)),
        ("CANCELLING", None),
        ("RUNNING", None),
        ("NEW", None),
    ] {
        let got = match convert::crawl_status(state) {
            RunStatus::Ended(r) => Some(r),
            RunStatus::InFlight(_) => None,
        };
        assert_eq!(got, want, "{state}");
    }
}

fn root_key(run: &PipelineRun) -> RunKey {
    spans::run_key(run)
}

/// The workflow's span of a job run links to the job run's own trace, and that trace's root
/// links back to the workflow run's trace.
#[test]
fn workflow_and_job_traces_link_both_ways() {
    let wf = convert::to_run(
        ACCOUNT,
        REGION,
        "nightly-orders",
        &runs("completed-job-failed.json")[0],
    )
    .unwrap();
    let wf_spans = spans::to_spans(&wf);
    let jobs: JobRunsFixture =
        serde_json::from_str(&fixture("job_runs/started-by-workflow.json")).unwrap();
    let job = glue_job::convert::to_run_record(ACCOUNT, REGION, None, &jobs.job_runs[0]).unwrap();
    let job_spans = spans::to_spans(&job);

    // workflow → job: the task span of that job run links to the job trace's root.
    let task = wf_spans
        .iter()
        .find(|s| {
            s.attributes.iter().any(|kv| {
                kv.key.as_str() == "cicd.pipeline.task.run.id" && kv.value.as_str() == job.run_id
            })
        })
        .expect("a span for the job run");
    assert_eq!(task.links.len(), 1);
    let link = &task.links[0];
    assert_eq!(
        link.span_context.trace_id(),
        job_spans[0].span_context.trace_id()
    );
    assert_eq!(
        link.span_context.span_id(),
        job_spans[0].span_context.span_id()
    );
    assert_eq!(link.attributes[0].value.as_str(), "started");
    assert_eq!(root_key(&job).trace_id(), link.span_context.trace_id());

    // job → workflow: the job run's root links to the workflow run's root.
    assert_eq!(job_spans[0].links.len(), 1);
    let back = &job_spans[0].links[0];
    assert_eq!(
        back.span_context.trace_id(),
        wf_spans[0].span_context.trace_id()
    );
    assert_eq!(
        back.span_context.span_id(),
        wf_spans[0].span_context.span_id()
    );
    assert_eq!(back.attributes[0].value.as_str(), "started_by");
    assert_eq!(job.pipeline.kind, glue_job::KIND);
    assert_eq!(wf.pipeline.kind, glue_workflow::KIND);
}

/// Job runs as `GetJobRuns` lists them: one a workflow started (linked), one started by hand
/// and one with only half of the workflow's arguments (not linked).
#[test]
fn job_runs_started_by_a_workflow() {
    let jobs: JobRunsFixture =
        serde_json::from_str(&fixture("job_runs/started-by-workflow.json")).unwrap();
    let mut all = Vec::new();
    for rec in &jobs.job_runs {
        let run = glue_job::convert::to_run_record(ACCOUNT, REGION, None, rec).unwrap();
        // The link is all the workflow arguments add: the rest is the plain conversion.
        let mut plain = run.clone();
        plain.links.clear();
        assert_eq!(
            Some(plain),
            glue_job::convert::to_run(ACCOUNT, REGION, None, &rec.run)
        );
        all.push(json!({"run_id": run.run_id, "trace": describe(&spans::to_spans(&run))}));
    }
    let linked: Vec<usize> = all
        .iter()
        .map(|r| r["trace"]["spans"][0]["links"].as_array().unwrap().len())
        .collect();
    assert_eq!(linked, [1, 0, 0]);
    insta::assert_json_snapshot!("job_runs_started_by_a_workflow", all);
}
