//! Snapshot tests of the Glue crawler conversion: `ListCrawls` answers (fixtures under
//! `tests/fixtures/glue_crawler/`) → runs → spans, terminal trees and the source's own
//! measures. A new fixture gets a new snapshot (review it with `cargo insta review`).

#[path = "common/spans.rs"]
mod spans_common;

use opentelemetry::trace::{SpanKind, Status};
use opentelemetry_sdk::trace::SpanData;
use pipeline_otel_bridge::convert::spans;
use pipeline_otel_bridge::model::{PipelineRun, RunResult};
use pipeline_otel_bridge::render::render_run;
use pipeline_otel_bridge::sources::glue_crawler::convert as crawler;
use pipeline_otel_bridge::sources::glue_crawler::records::{GlueCrawl, GlueCrawler};
use serde::Deserialize;
use serde_json::{json, Value};
use spans_common::describe;

const ACCOUNT: &str = "123456789012";
const REGION: &str = "us-east-1";

/// A `ListCrawls` request's crawler and its answer, with the crawler's `GetCrawlers` entry
/// when the fixture has one.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CrawlFixture {
    crawler_name: String,
    #[serde(default)]
    crawler: Option<GlueCrawler>,
    crawls: Vec<GlueCrawl>,
}

/// What every converted crawl must satisfy, whatever the fixture.
fn check_invariants(run: &PipelineRun, spans: &[SpanData]) {
    if run.end.is_none() {
        assert!(spans.is_empty(), "a crawl in flight exports nothing");
        assert!(
            run.measures.is_empty(),
            "a crawl in flight measures nothing"
        );
        return;
    }
    assert_eq!(spans.len(), 1, "a crawl has no steps: one span");
    let root = &spans[0];
    assert_eq!(root.name, format!("RUN {}", run.pipeline.name));
    assert_eq!(root.span_kind, SpanKind::Server);
    assert!(root.end_time >= root.start_time);
    let result = run.result().unwrap();
    assert_eq!(
        matches!(root.status, Status::Error { .. }),
        result.is_error()
    );
    let attr = |k: &str| {
        root.attributes
            .iter()
            .find(|kv| kv.key.as_str() == k)
            .map(|kv| kv.value.as_str().into_owned())
    };
    assert_eq!(attr("error.type").is_some(), result.is_error());
    assert_eq!(
        attr("cicd.pipeline.run.id").as_deref(),
        Some(run.run_id.as_str())
    );
    assert!(attr("error.message").is_none());
    if let Status::Error { description } = &root.status {
        assert!(!description.is_empty(), "empty status");
    }
    assert!(run
        .url
        .as_deref()
        .is_some_and(|u| u.starts_with("https://us-east-1.console.aws.amazon.com/glue/")));
    for m in &run.measures {
        assert!(m.value.is_finite() && m.value >= 0.0, "{m:?}");
    }
}

#[test]
fn glue_crawler_fixtures() {
    insta::glob!("fixtures/glue_crawler/*.json", |path| {
        let f: CrawlFixture = serde_json::from_str(&std::fs::read_to_string(path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut trees = String::new();
        let mut all = Vec::new();
        for c in &f.crawls {
            match crawler::to_run(ACCOUNT, REGION, &f.crawler_name, f.crawler.as_ref(), c) {
                Some(run) => {
                    let spans = spans::to_spans(&run);
                    check_invariants(&run, &spans);
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
                        "state": c.state,
                        "result": run.result().map(RunResult::as_str),
                        "error": run.error.as_ref().map(|e| json!({"type": e.error_type, "message_bytes": e.message.len()})),
                        "measures": measures,
                        "trace": describe(&spans),
                    }));
                }
                None => trees.push_str(&format!(
                    "(skipped {:?}: no id or no timestamp)\n\n",
                    c.crawl_id
                )),
            }
        }
        insta::assert_snapshot!("tree", trees);
        insta::assert_json_snapshot!("runs", all);
    });
}

fn crawl(state: &str, msg: Option<&str>) -> GlueCrawl {
    serde_json::from_value(json!({
        "CrawlId": "c-1", "State": state, "StartTime": 1700000000.0, "EndTime": 1700000060.5,
        "ErrorMessage": msg, "DPUHour": 0.25, "LogGroup": "/aws-glue/crawlers", "LogStream": "c"
    }))
    .unwrap()
}

#[test]
fn result_mapping_covers_every_documented_state() {
    let cases = [
        ("COMPLETED", Some(RunResult::Success)),
        ("FAILED", Some(RunResult::Failure)),
        ("STOPPED", Some(RunResult::Cancellation)),
        ("RUNNING", None),
        ("STOPPING", None),
        ("", None),
        ("NEW_STATE_FROM_THE_FUTURE", None),
    ];
    for (state, want) in cases {
        let run = crawler::to_run(ACCOUNT, REGION, "c", None, &crawl(state, None)).unwrap();
        assert_eq!(run.result(), want, "{state}");
        assert_eq!(run.end.is_none(), want.is_none(), "{state}");
        assert_eq!(spans::to_spans(&run).is_empty(), want.is_none(), "{state}");
    }
}

#[test]
fn error_type_is_the_exception_class_else_the_state() {
    let cases = [
        (
            "com.amazonaws.services.s3.model.AmazonS3Exception: Access Denied",
            "com.amazonaws.services.s3.model.AmazonS3Exception",
        ),
        ("Internal Service Exception", "FAILED"),
        ("", "FAILED"),
    ];
    for (msg, want) in cases {
        let run = crawler::to_run(ACCOUNT, REGION, "c", None, &crawl("FAILED", Some(msg))).unwrap();
        let err = run.error.expect("a failed crawl has an error");
        assert_eq!(err.error_type, want, "{msg}");
        assert_eq!(err.message, msg);
    }
    let stopped = crawler::to_run(ACCOUNT, REGION, "c", None, &crawl("STOPPED", None)).unwrap();
    assert_eq!(stopped.error, None, "a cancellation is no error");
}

#[test]
fn measures_are_dpu_hours_and_six_catalog_changes() {
    let run = crawler::to_run(ACCOUNT, REGION, "c", None, &crawl("COMPLETED", None)).unwrap();
    let names: Vec<(&str, f64, usize)> = run
        .measures
        .iter()
        .map(|m| (m.metric.name, m.value, m.labels.len()))
        .collect();
    assert_eq!(
        names[0],
        ("pipeline_bridge.glue.crawler.dpu_usage", 0.25, 0)
    );
    assert_eq!(names.len(), 7);
    assert!(names[1..].iter().all(|(n, v, l)| *n
        == "pipeline_bridge.glue.crawler.catalog_changes"
        && *v == 0.0
        && *l == 2));
    for m in &run.measures {
        assert!(
            pipeline_otel_bridge::sources::metric(m.metric.name).is_some(),
            "{} is declared in the source's SourceSpec",
            m.metric.name
        );
    }
}
