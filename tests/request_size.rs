//! The request sizes `export::batch` computes are exact upper bounds: over every conversion
//! fixture (and all of them in one request), the bound is at least the encoded size of the
//! request the exporter builds, and at most 8 bytes more.

mod common;

use common::fixtures::{texts, GlueFixture, SfnFixture};
use opentelemetry_sdk::trace::SpanData;
use pipeline_otel_bridge::convert::spans;
use pipeline_otel_bridge::export::batch::{encoded_request_len, Batches, Sizer};
use pipeline_otel_bridge::export::{base_resource, pipeline_resource};
use pipeline_otel_bridge::model::PipelineRun;
use pipeline_otel_bridge::sources::{glue_job::convert as glue, sfn::convert as sfn};
use std::path::Path;

fn runs() -> Vec<PipelineRun> {
    let mut out = Vec::new();
    for text in texts("sfn") {
        let f: SfnFixture = serde_json::from_str(&text).unwrap();
        let sm = sfn::state_machine_name(&f.execution.execution_arn).unwrap_or("unknown");
        out.extend(sfn::to_run(
            "123456789012",
            "us-east-1",
            sm,
            &f.execution,
            &f.events,
        ));
    }
    for text in texts("glue") {
        let f: GlueFixture = serde_json::from_str(&text).unwrap();
        out.extend(
            f.job_runs
                .iter()
                .filter_map(|r| glue::to_run("123456789012", "us-east-1", None, r)),
        );
    }
    out
}

#[test]
fn computed_request_sizes_bound_the_encoded_size_within_8_bytes() {
    let runs = runs();
    assert!(runs.len() > 20, "{} runs", runs.len());
    let mut all: Vec<SpanData> = Vec::new();
    for run in &runs {
        let res = pipeline_resource(&base_resource(), &run.pipeline);
        let sizer = Sizer::new(&res);
        let spans = spans::to_spans(run);
        if spans.is_empty() {
            continue; // in flight: nothing is sent
        }
        let bound = sizer.fixed() + spans.iter().map(|s| sizer.span(s)).sum::<usize>();
        let real = encoded_request_len(&res, spans.clone());
        assert!(
            real <= bound && bound <= real + 8,
            "{}: real {real}, bound {bound}",
            run.run_id
        );
        all.extend(spans);
    }
    // All fixtures in one request (length prefixes over 2 bytes), and through `Batches`.
    let res = pipeline_resource(&base_resource(), &runs[0].pipeline);
    let sizer = Sizer::new(&res);
    let bound = sizer.fixed() + all.iter().map(|s| sizer.span(s)).sum::<usize>();
    let real = encoded_request_len(&res, all.clone());
    assert!(real > 16_384, "{real}");
    assert!(
        real <= bound && bound <= real + 8,
        "real {real}, bound {bound}"
    );
    let input = runs.iter().map(|r| (r.run_id.clone(), spans::to_spans(r)));
    let mut n = 0;
    for b in Batches::new(&res, input, 64 * 1024) {
        let real = encoded_request_len(&res, b.spans.clone());
        assert!(real <= b.bytes && b.bytes <= 64 * 1024 && b.bytes <= real + 8);
        n += b.run_ids.len();
    }
    assert_eq!(n, runs.len());
}

#[test]
fn max_request_bytes_is_read_and_bounded() {
    use pipeline_otel_bridge::config::Config;
    let parse = |t: &str| Config::parse(t, Path::new("bridge.toml"));
    let c = parse("[otlp]\nmax_request_bytes = 1048576").unwrap();
    assert_eq!(c.otlp.max_request_bytes, Some(1_048_576));
    assert_eq!(parse("").unwrap().otlp.max_request_bytes, None);
    for ok in [65_536, 67_108_864] {
        assert!(
            parse(&format!("[otlp]\nmax_request_bytes = {ok}")).is_ok(),
            "{ok}"
        );
    }
    for bad in ["65535", "67108865", "0", "-1", "\"3MiB\""] {
        let err = parse(&format!("[otlp]\nmax_request_bytes = {bad}"))
            .err()
            .unwrap_or_else(|| panic!("{bad} accepted"))
            .to_string();
        assert!(err.contains("max_request_bytes"), "{bad}: {err}");
    }
}
