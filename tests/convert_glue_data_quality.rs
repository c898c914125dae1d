//! Snapshot tests of the Glue Data Quality conversion: `BatchGetDataQualityResult` answers
//! (fixtures under `tests/fixtures/glue_data_quality/`) → runs → spans, terminal trees and the
//! source's own measures. A new fixture gets a new snapshot (review it with `cargo insta
//! review`).

#[path = "common/spans.rs"]
mod spans_common;

use opentelemetry::trace::{SpanKind, Status};
use opentelemetry_sdk::trace::SpanData;
use pipeline_otel_bridge::convert::spans;
use pipeline_otel_bridge::ids::RunKey;
use pipeline_otel_bridge::model::{MeasureKind, PipelineRun, RunResult};
use pipeline_otel_bridge::render::render_run;
use pipeline_otel_bridge::sources::glue_data_quality::convert as dq;
use pipeline_otel_bridge::sources::glue_data_quality::records::DqResult;
use pipeline_otel_bridge::sources::{glue_job, metric};
use serde::Deserialize;
use serde_json::{json, Value};
use spans_common::describe;

const ACCOUNT: &str = "123456789012";
const REGION: &str = "us-east-1";

/// A `BatchGetDataQualityResult` answer.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct BatchGetFixture {
    results: Vec<DqResult>,
    #[allow(dead_code)]
    #[serde(default)]
    results_not_found: Vec<String>,
}

fn attr(span: &SpanData, k: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == k)
        .map(|kv| kv.value.as_str().into_owned())
}

/// What every converted result must satisfy, whatever the fixture.
fn check_invariants(r: &DqResult, run: &PipelineRun, spans: &[SpanData]) {
    assert!(run.end.is_some(), "a result is always a finished run");
    assert_eq!(
        spans.len(),
        1 + r.rule_results.len(),
        "the root and a span per rule"
    );
    let root = &spans[0];
    assert_eq!(root.name, format!("RUN {}", run.pipeline.name));
    assert!(root.end_time >= root.start_time);
    let result = run.result().unwrap();
    assert_eq!(
        matches!(root.status, Status::Error { .. }),
        result.is_error()
    );
    assert_eq!(attr(root, "error.type").is_some(), result.is_error());
    assert_eq!(
        attr(root, "cicd.pipeline.run.id").as_deref(),
        Some(run.run_id.as_str())
    );
    // In a job run's trace (below its root, INTERNAL) exactly when the result names a job run.
    let job_run = r
        .job_name
        .as_deref()
        .filter(|s| !s.is_empty())
        .and(r.job_run_id.as_deref())
        .filter(|s| !s.is_empty());
    match job_run {
        Some(id) => {
            let p = glue_job::pipeline(ACCOUNT, REGION, r.job_name.as_deref().unwrap());
            let key = RunKey::new(
                p.kind,
                &p.account,
                &p.region,
                &p.name,
                id,
                dq::job_run_attempt(id),
            );
            assert_eq!(root.span_kind, SpanKind::Internal);
            assert_eq!(root.span_context.trace_id(), key.trace_id());
            assert_eq!(root.parent_span_id, key.root_span_id());
        }
        None => {
            assert_eq!(root.span_kind, SpanKind::Server);
            assert_eq!(root.parent_span_id, opentelemetry::trace::SpanId::INVALID);
        }
    }
    let rules: Vec<&SpanData> = spans[1..].iter().collect();
    let failed = rules
        .iter()
        .filter(|s| attr(s, "cicd.pipeline.task.run.result").as_deref() == Some("failure"))
        .count();
    assert_eq!(
        attr(root, "aws.glue.data_quality.rules_failed"),
        Some(failed.to_string())
    );
    assert_eq!(result == RunResult::Failure, failed > 0);
    for s in rules {
        assert_eq!(s.parent_span_id, root.span_context.span_id());
        assert_eq!(s.span_kind, SpanKind::Internal);
        assert_eq!(
            s.start_time, root.start_time,
            "a rule covers the evaluation"
        );
        assert_eq!(s.end_time, root.end_time);
        let passed = attr(s, "cicd.pipeline.task.run.result").as_deref() == Some("success");
        assert_eq!(matches!(s.status, Status::Error { .. }), !passed);
    }
    for m in &run.measures {
        assert!(m.value.is_finite() && m.value >= 0.0, "{m:?}");
        assert!(
            metric(m.metric.name).is_some(),
            "{} is declared",
            m.metric.name
        );
    }
}

#[test]
fn glue_data_quality_fixtures() {
    insta::glob!("fixtures/glue_data_quality/*.json", |path| {
        let f: BatchGetFixture = serde_json::from_str(&std::fs::read_to_string(path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut trees = String::new();
        let mut all = Vec::new();
        for r in &f.results {
            let ruleset = r.ruleset_name.as_deref().unwrap_or("unnamed");
            match dq::to_run(ACCOUNT, REGION, ruleset, r) {
                Some(run) => {
                    let spans = spans::to_spans(&run);
                    check_invariants(r, &run, &spans);
                    trees.push_str(&render_run(&run));
                    trees.push('\n');
                    let measures: Vec<Value> = run
                        .measures
                        .iter()
                        .map(|m| {
                            json!({
                                "metric": m.metric.name,
                                "kind": format!("{:?}", m.kind),
                                "value": m.value,
                                "labels": m.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>(),
                            })
                        })
                        .collect();
                    all.push(json!({
                        "run_id": run.run_id,
                        "result": run.result().map(RunResult::as_str),
                        "error": run.error.as_ref().map(|e| json!({"type": e.error_type, "message": e.message})),
                        "parent": run.parent.as_ref().map(|l| json!({"pipeline": l.pipeline.key(), "run_id": l.run_id, "attempt": l.attempt, "reason": l.reason})),
                        "url": run.url,
                        "measures": measures,
                        "trace": describe(&spans),
                    }));
                }
                None => trees.push_str(&format!(
                    "(skipped {:?}: no id or no timestamp)\n\n",
                    r.result_id
                )),
            }
        }
        insta::assert_snapshot!("tree", trees);
        insta::assert_json_snapshot!("runs", all);
    });
}

/// Rules (name, outcome, message), the run's result and its error (type, message).
type Case<'a> = (
    &'a [(&'a str, &'a str, Option<&'a str>)],
    RunResult,
    Option<(&'a str, &'a str)>,
);

/// A measure: metric, kind, value, labels.
type MeasureRow<'a> = (&'a str, MeasureKind, f64, Vec<(&'a str, String)>);

fn result(rules: &[(&str, &str, Option<&str>)]) -> DqResult {
    serde_json::from_value(json!({
        "ResultId": "dqresult-1", "Score": 0.5, "RulesetName": "rs", "StartedOn": 1700000000.0,
        "CompletedOn": 1700000060.5,
        "DataSource": {"GlueTable": {"DatabaseName": "db", "TableName": "t"}},
        "RuleResults": rules.iter().map(|(n, r, m)| json!({"Name": n, "Result": r, "EvaluationMessage": m})).collect::<Vec<_>>(),
    }))
    .unwrap()
}

#[test]
fn the_run_fails_on_a_failed_rule_and_errs_on_an_errored_one() {
    let cases: [Case; 5] = [
        (&[("Rule_1", "PASS", None)], RunResult::Success, None),
        (&[], RunResult::Success, None),
        (
            &[
                ("Rule_1", "PASS", None),
                (
                    "Rule_2",
                    "FAIL",
                    Some("Value: 0.9 does not meet the constraint requirement!"),
                ),
            ],
            RunResult::Failure,
            Some(("RulesFailed", "1 of 2 rules failed: Rule_2")),
        ),
        (
            &[
                ("Rule_1", "ERROR", Some("no column")),
                ("Rule_2", "PASS", None),
            ],
            RunResult::Error,
            Some(("RuleErrors", "1 of 2 rules could not be evaluated: Rule_1")),
        ),
        (
            &[
                ("Rule_1", "ERROR", Some("no column")),
                ("Rule_2", "FAIL", None),
                ("Rule_3", "FAIL", None),
            ],
            RunResult::Failure,
            Some(("RulesFailed", "2 of 3 rules failed: Rule_2, Rule_3")),
        ),
    ];
    for (rules, want, err) in cases {
        let run = dq::to_run(ACCOUNT, REGION, "rs", &result(rules)).unwrap();
        assert_eq!(run.result(), Some(want), "{rules:?}");
        assert_eq!(
            run.error
                .as_ref()
                .map(|e| (e.error_type.as_str(), e.message.as_str())),
            err,
            "{rules:?}"
        );
        for (task, (name, r, msg)) in run.tasks.iter().zip(rules) {
            assert_eq!(task.name, *name);
            assert_eq!(task.result, dq::rule_result(Some(r)));
            assert_eq!(
                task.error.as_ref().map(|e| e.message.as_str()),
                msg.or((*r != "PASS").then_some(""))
            );
        }
    }
}

#[test]
fn measures_are_the_score_and_the_failed_rules_by_table() {
    let run = dq::to_run(
        ACCOUNT,
        REGION,
        "rs",
        &result(&[
            ("Rule_1", "FAIL", None),
            ("Rule_2", "FAIL", None),
            ("Rule_3", "ERROR", None),
        ]),
    )
    .unwrap();
    let got: Vec<MeasureRow> = run
        .measures
        .iter()
        .map(|m| (m.metric.name, m.kind, m.value, m.labels.clone()))
        .collect();
    let table = vec![("aws.glue.data_quality.table", "db.t".to_string())];
    assert_eq!(
        got,
        vec![
            (
                "pipeline_bridge.glue.data_quality.rules_failed",
                MeasureKind::Sum,
                2.0,
                table.clone()
            ),
            (
                "pipeline_bridge.glue.data_quality.score",
                MeasureKind::Last,
                0.5,
                table
            ),
        ]
    );
}
