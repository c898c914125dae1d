//! Snapshot tests of the EMR Serverless conversion: `GetJobRun` / `ListJobRuns` answers
//! (fixtures under `tests/fixtures/emr_serverless/`, described in its README) → runs → spans.

#[path = "common/spans.rs"]
mod spans_common;

use opentelemetry::trace::{SpanKind, Status};
use opentelemetry_sdk::trace::SpanData;
use pipeline_otel_bridge::convert::spans;
use pipeline_otel_bridge::model::{MeasureKind, PipelineRun, RunPhase, RunResult, RunStatus};
use pipeline_otel_bridge::render::render_run;
use pipeline_otel_bridge::sources::emr_serverless::convert;
use pipeline_otel_bridge::sources::emr_serverless::records::EmrJobRun;
use serde::Deserialize;
use serde_json::{json, Value};
use spans_common::{describe, ms};

const ACCOUNT: &str = "123456789012";
const REGION: &str = "us-east-1";
const APP: &str = "nightly-sessionize";
const APP_ARN: &str =
    "arn:aws:emr-serverless:us-east-1:123456789012:/applications/00fkr3oqnl8f6g09";

/// A `GetJobRun` answer (`jobRun`) or a `ListJobRuns` answer (`jobRuns`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Fixture {
    job_run: Option<EmrJobRun>,
    #[serde(default)]
    job_runs: Vec<EmrJobRun>,
}

/// What every converted run must satisfy, whatever the fixture.
fn check_invariants(run: &PipelineRun, spans: &[SpanData]) {
    let Some(result) = run.result() else {
        assert!(spans.is_empty(), "a run in flight exports nothing");
        assert!(run.measures.is_empty(), "a run in flight measures nothing");
        return;
    };
    let root = &spans[0];
    assert_eq!(root.name, format!("RUN {APP}"));
    assert_eq!(root.span_kind, SpanKind::Server);
    assert!(root.end_time >= root.start_time);
    for s in &spans[1..] {
        assert_eq!(s.parent_span_id, root.span_context.span_id());
        assert!(s.start_time >= root.start_time && s.end_time <= root.end_time);
    }
    assert_eq!(
        matches!(root.status, Status::Error { .. }),
        result.is_error()
    );
    let has = |k: &str| root.attributes.iter().any(|kv| kv.key.as_str() == k);
    assert_eq!(
        has("error.type"),
        result.is_error(),
        "error.type only on failures"
    );
    assert!(!has("error.message"));
    for m in &run.measures {
        assert!(m.value.is_finite() && m.value >= 0.0, "{m:?}");
        assert_eq!(m.kind, MeasureKind::Sum);
        assert!(m.labels.is_empty(), "no labels beyond the pipeline's");
    }
}

#[test]
fn emr_serverless_fixtures() {
    insta::glob!("fixtures/emr_serverless/*.json", |path| {
        let f: Fixture = serde_json::from_str(&std::fs::read_to_string(path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut trees = String::new();
        let mut all = Vec::new();
        for r in f.job_run.iter().chain(&f.job_runs) {
            match convert::to_run(ACCOUNT, REGION, APP, APP_ARN, r) {
                Some(run) => {
                    let spans = spans::to_spans(&run);
                    check_invariants(&run, &spans);
                    trees.push_str(&render_run(&run));
                    trees.push('\n');
                    let measures: Vec<Value> = run
                        .measures
                        .iter()
                        .map(|m| json!({"metric": m.metric.name, "value": m.value}))
                        .collect();
                    all.push(json!({
                        "run_id": run.run_id,
                        "state": r.state,
                        "status": format!("{:?}", run.status),
                        "url": run.url,
                        "measures": measures,
                        "trace": describe(&spans),
                    }));
                }
                None => trees.push_str(&format!("(skipped {}: no timestamp)\n\n", r.job_run_id)),
            }
        }
        insta::assert_snapshot!("tree", trees);
        insta::assert_json_snapshot!("spans", all);
    });
}

fn run(state: &str, details: Option<&str>) -> EmrJobRun {
    serde_json::from_value(json!({
        "applicationId": "00fkr3oqnl8f6g09", "jobRunId": "00fkr4a9lqsc7h0a", "state": state,
        "stateDetails": details, "createdAt": 1717200000.0, "startedAt": 1717200030.0,
        "endedAt": 1717200090.5, "updatedAt": 1717200090.5,
        "totalResourceUtilization": {"vCPUHour": 0.5, "memoryGBHour": 2.0, "storageGBHour": 10.0}
    }))
    .unwrap()
}

#[test]
fn every_documented_state_is_mapped() {
    use RunPhase::*;
    use RunResult::*;
    let cases = [
        ("SUBMITTED", None, RunStatus::InFlight(Pending)),
        ("PENDING", None, RunStatus::InFlight(Pending)),
        ("SCHEDULED", None, RunStatus::InFlight(Pending)),
        ("QUEUED", None, RunStatus::InFlight(Pending)),
        ("RUNNING", None, RunStatus::InFlight(Executing)),
        ("CANCELLING", None, RunStatus::InFlight(Finalizing)),
        ("SUCCESS", None, RunStatus::Ended(Success)),
        ("FAILED", Some("boom"), RunStatus::Ended(Failure)),
        (
            "CANCELLED",
            Some("Job run cancelled by user."),
            RunStatus::Ended(Cancellation),
        ),
        ("CANCELLED", None, RunStatus::Ended(Cancellation)),
        (
            "CANCELLED",
            Some("Job run timed out."),
            RunStatus::Ended(Timeout),
        ),
        (
            "A_STATE_FROM_THE_FUTURE",
            None,
            RunStatus::InFlight(Executing),
        ),
        ("", None, RunStatus::InFlight(Executing)),
    ];
    for (state, details, want) in cases {
        let r = convert::to_run(ACCOUNT, REGION, APP, APP_ARN, &run(state, details)).unwrap();
        assert_eq!(r.status, want, "{state} {details:?}");
        assert_eq!(spans::to_spans(&r).is_empty(), r.end.is_none(), "{state}");
        // Utilization is counted once the run ended, never while in flight.
        assert_eq!(
            r.measures.len(),
            if r.end.is_some() { 3 } else { 0 },
            "{state}"
        );
    }
}

#[test]
fn queue_time_is_the_pending_part_of_the_duration() {
    let r = convert::to_run(ACCOUNT, REGION, APP, APP_ARN, &run("SUCCESS", None)).unwrap();
    assert_eq!(r.duration_secs(), 90.5);
    assert_eq!(
        r.phase_durations(),
        vec![(RunPhase::Pending, 30.0), (RunPhase::Executing, 60.5)]
    );
    let spans = spans::to_spans(&r);
    assert_eq!(spans.len(), 2);
    assert_eq!(spans[1].name, "queued");
    assert_eq!(ms(spans[1].end_time) - ms(spans[1].start_time), 30_000);
}

#[test]
fn failure_types_are_low_cardinality() {
    let et = |state: &str, details: Option<&str>| {
        convert::to_run(ACCOUNT, REGION, APP, APP_ARN, &run(state, details))
            .unwrap()
            .error
            .map(|e| e.error_type)
    };
    assert_eq!(
        et("FAILED", Some("Job failed. ExitCode: 1. Last few exceptions: java.io.FileNotFoundException: s3://b/k (No such file)")).as_deref(),
        Some("java.io.FileNotFoundException")
    );
    assert_eq!(
        et(
            "FAILED",
            Some("Job failed, capacity exhausted (run 00fa1b)")
        )
        .as_deref(),
        Some("FAILED")
    );
    assert_eq!(et("FAILED", None).as_deref(), Some("FAILED"));
    assert_eq!(
        et("CANCELLED", Some("Job run timed out.")).as_deref(),
        Some("TIMEOUT")
    );
    assert_eq!(et("CANCELLED", Some("Job run cancelled by user.")), None);
    assert_eq!(
        et("SUCCESS", Some("java.lang.Error in a success note")),
        None
    );
}

#[test]
fn huge_state_details_are_cut() {
    let msg = "java.lang.IllegalStateException: ".to_string() + &"at a.B(C.java:1)\n".repeat(3000);
    let r = convert::to_run(ACCOUNT, REGION, APP, APP_ARN, &run("FAILED", Some(&msg))).unwrap();
    let e = r.error.unwrap();
    assert_eq!(e.error_type, "java.lang.IllegalStateException");
    assert!(e.message.len() < 4200 && e.message.ends_with("bytes]"));
}
