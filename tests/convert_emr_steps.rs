//! Snapshot tests of the EMR steps conversion: `ListSteps` / `DescribeStep` answers (fixtures
//! under `tests/fixtures/emr_steps/steps/`, described in its README) of the first cluster of
//! `clusters/list-clusters.json` → runs → spans; and that `ListClusters` answer → pipelines.

#[path = "common/spans.rs"]
mod spans_common;

use opentelemetry::trace::{SpanKind, Status};
use opentelemetry_sdk::trace::SpanData;
use pipeline_otel_bridge::convert::spans;
use pipeline_otel_bridge::model::{PipelineRun, RunPhase, RunResult, RunStatus};
use pipeline_otel_bridge::records::Millis;
use pipeline_otel_bridge::render::render_run;
use pipeline_otel_bridge::sources::emr_steps::records::{EmrCluster, EmrStep};
use pipeline_otel_bridge::sources::emr_steps::{convert, Inventory};
use serde::Deserialize;
use serde_json::{json, Value};
use spans_common::{describe, ms};

const ACCOUNT: &str = "123456789012";
const REGION: &str = "us-east-1";

/// A `ListSteps` answer (`Steps`), a `DescribeStep` answer (`Step`) or a `ListClusters` answer
/// (`Clusters`).
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Fixture {
    step: Option<EmrStep>,
    #[serde(default)]
    steps: Vec<EmrStep>,
    #[serde(default)]
    clusters: Vec<EmrCluster>,
}

fn load(path: &std::path::Path) -> Fixture {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn clusters() -> Vec<EmrCluster> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/emr_steps/clusters/list-clusters.json");
    load(&p).clusters
}

/// The cluster every step fixture belongs to (`nightly-sessionize`, `j-2AXXXXXXGAPLF`).
fn cluster() -> EmrCluster {
    clusters().remove(0)
}

/// What every converted step must satisfy, whatever the fixture.
fn check_invariants(step: &EmrStep, run: &PipelineRun, spans: &[SpanData]) {
    assert!(run.measures.is_empty());
    // Arguments past the first are never carried anywhere.
    let all = format!("{run:?}");
    if let Some(c) = &step.config {
        for a in c.args.iter().skip(1) {
            assert!(
                a.len() < 12 || !all.contains(a.as_str()),
                "argument {a} leaked"
            );
        }
    }
    assert!(!all.contains("NOT-A-REAL-SECRET"));
    let Some(result) = run.result() else {
        assert!(spans.is_empty(), "a step in flight exports nothing");
        return;
    };
    let root = &spans[0];
    assert_eq!(root.name, "RUN nightly-sessionize");
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
    assert_eq!(has("error.type"), result.is_error());
    if has("aws.emr.step.failure.reason") || has("aws.emr.step.failure.log_file") {
        assert!(result.is_error(), "failure details only on errors");
    }
    assert!(has("aws.emr.cluster.id") && has("aws.emr.cluster.name"));
    assert!(!has("error.message"));
}

#[test]
fn emr_steps_fixtures() {
    let cluster = cluster();
    insta::glob!("fixtures/emr_steps/steps/*.json", |path| {
        let f = load(path);
        let mut trees = String::new();
        let mut all = Vec::new();
        for s in f.step.iter().chain(&f.steps) {
            match convert::to_run(ACCOUNT, REGION, "nightly-sessionize", &cluster, s) {
                Some(run) => {
                    let spans = spans::to_spans(&run);
                    check_invariants(s, &run, &spans);
                    trees.push_str(&render_run(&run));
                    trees.push('\n');
                    all.push(json!({
                        "run_id": run.run_id,
                        "state": s.status.state,
                        "status": format!("{:?}", run.status),
                        "url": run.url,
                        "trace": describe(&spans),
                    }));
                }
                None => trees.push_str(&format!("(skipped {}: no timestamp)\n\n", s.id)),
            }
        }
        insta::assert_snapshot!("tree", trees);
        insta::assert_json_snapshot!("spans", all);
    });
}

#[test]
fn clusters_become_one_pipeline_per_name() {
    let mut inv = Inventory::default();
    let (active, ended): (Vec<_>, Vec<_>) =
        clusters().into_iter().partition(|c| !c.is_terminated());
    inv.merge(active, ended, Millis(1_717_290_000_000));
    let pipelines: Vec<Value> = inv
        .pipelines(ACCOUNT, REGION)
        .iter()
        .map(|p| {
            let ids: Vec<String> = inv.clusters_of(&p.name).into_iter().map(|c| c.id).collect();
            json!({"name": p.name, "arn": p.arn, "kind": p.kind.as_str(), "clusters": ids})
        })
        .collect();
    insta::assert_json_snapshot!("pipelines", pipelines);
}

fn step(state: &str, failure: Value) -> EmrStep {
    serde_json::from_value(json!({
        "Id": "s-0A1B2C3D4E5F6", "Name": "sessionize",
        "Config": {"Jar": "command-runner.jar", "Args": ["spark-submit", "s3://b/k.py"]},
        "ActionOnFailure": "CONTINUE",
        "Status": {"State": state, "FailureDetails": failure,
            "Timeline": {"CreationDateTime": 1717200000.0, "StartDateTime": 1717200030.0,
                "EndDateTime": 1717200090.5}}
    }))
    .unwrap()
}

fn run(state: &str, failure: Value) -> PipelineRun {
    convert::to_run(
        ACCOUNT,
        REGION,
        "nightly-sessionize",
        &cluster(),
        &step(state, failure),
    )
    .unwrap()
}

#[test]
fn every_documented_state_is_mapped() {
    use RunPhase::*;
    use RunResult::*;
    let cases = [
        ("PENDING", RunStatus::InFlight(Pending)),
        ("CANCEL_PENDING", RunStatus::InFlight(Finalizing)),
        ("RUNNING", RunStatus::InFlight(Executing)),
        ("COMPLETED", RunStatus::Ended(Success)),
        ("CANCELLED", RunStatus::Ended(Cancellation)),
        ("FAILED", RunStatus::Ended(Failure)),
        ("INTERRUPTED", RunStatus::Ended(Error)),
        ("A_STATE_FROM_THE_FUTURE", RunStatus::InFlight(Executing)),
        ("", RunStatus::InFlight(Executing)),
    ];
    for (state, want) in cases {
        let r = run(state, Value::Null);
        assert_eq!(r.status, want, "{state}");
        assert_eq!(spans::to_spans(&r).is_empty(), r.end.is_none(), "{state}");
    }
}

#[test]
fn queue_time_is_the_pending_part_of_the_duration() {
    let r = run("COMPLETED", Value::Null);
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
    let et = |state: &str, f: Value| run(state, f).error.map(|e| (e.error_type, e.message));
    assert_eq!(
        et(
            "FAILED",
            json!({"Reason": "Unknown Error.", "Message": "Exception in thread \"main\" java.io.FileNotFoundException: s3://b/k"})
        ),
        Some((
            "java.io.FileNotFoundException".into(),
            "Exception in thread \"main\" java.io.FileNotFoundException: s3://b/k".into()
        ))
    );
    assert_eq!(
        et("FAILED", json!({"Reason": "Step failed with exitCode 1."})),
        Some(("FAILED".into(), "Step failed with exitCode 1.".into())),
        "free text is never an error.type"
    );
    assert_eq!(
        et("FAILED", Value::Null),
        Some(("FAILED".into(), String::new()))
    );
    assert_eq!(et("INTERRUPTED", Value::Null).unwrap().0, "INTERRUPTED");
    assert_eq!(et("CANCELLED", json!({"Reason": "java.lang.Error"})), None);
    assert_eq!(et("COMPLETED", json!({"Message": "java.lang.Error"})), None);
}

#[test]
fn the_console_link_is_the_steps_cluster() {
    let r = run("COMPLETED", Value::Null);
    assert_eq!(
        r.url.as_deref(),
        Some("https://us-east-1.console.aws.amazon.com/emr/home?region=us-east-1#/clusterDetails/j-2AXXXXXXGAPLF")
    );
    assert_eq!(
        convert::url("cn-north-1", "j-1"),
        "https://cn-north-1.console.amazonaws.cn/emr/home?region=cn-north-1#/clusterDetails/j-1"
    );
}
