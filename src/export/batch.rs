//! Splits a pipeline's finished runs into OTLP trace requests of whole runs, each under a size
//! limit (`otlp.max_request_bytes`), so no receiver limit (the Collector's 4 MiB gRPC default,
//! HTTP body limits) refuses a backlog on every cycle.
//!
//! Sizes are exact, not estimated: each span is converted with opentelemetry-proto's own
//! transform — the one the exporter uses — and measured with prost's `encoded_len`. A request
//! is `ExportTraceServiceRequest { resource_spans: [{ resource, scope_spans: [{ scope, spans }] }] }`,
//! so its size is a fixed part (resource, scope, tags) plus each span's length-delimited size;
//! [`Sizer`] adds 8 bytes for the two enclosing length prefixes, which grow with the content.
//! The result is an upper bound of at most 8 bytes over the encoded request (tested over the
//! conversion fixtures in `tests/request_size.rs`). The limit applies to the uncompressed
//! message, as receivers check the decompressed size.

use crate::convert::spans;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_sdk::trace::SpanData;
use opentelemetry_sdk::Resource;
use prost::Message;

/// Default `otlp.max_request_bytes`: 3 MiB, safely under the 4 MiB that gRPC servers (the
/// OpenTelemetry Collector, tonic, grpcio) accept by default.
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 3 * 1024 * 1024;

/// The room the enclosing `ResourceSpans` and `ScopeSpans` length prefixes may grow by (from 1
/// byte each when empty to at most 5).
const LENGTH_PREFIX_GROWTH: usize = 8;

/// Room kept on a cut run's root for its `pipeline_bridge.spans.dropped` attribute: key,
/// varint value and tags, plus the growth of the span's length prefix (tested).
const DROPPED_COUNT_ROOM: usize = 64;

/// Measures OTLP trace requests of one resource.
pub struct Sizer {
    fixed: usize,
    scope: opentelemetry::InstrumentationScope,
}

impl Sizer {
    pub fn new(resource: &Resource) -> Sizer {
        let scope = spans::scope();
        let empty_scope = ScopeSpans {
            scope: Some((&scope, None).into()),
            schema_url: scope.schema_url().unwrap_or_default().to_owned(),
            spans: Vec::new(),
        };
        let r = ResourceAttributesWithSchema::from(resource);
        let request = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(opentelemetry_proto::tonic::resource::v1::Resource {
                    attributes: r.attributes.0,
                    dropped_attributes_count: 0,
                    entity_refs: Vec::new(),
                }),
                scope_spans: vec![empty_scope],
                schema_url: r.schema_url.unwrap_or_default(),
            }],
        };
        Sizer {
            fixed: request.encoded_len() + LENGTH_PREFIX_GROWTH,
            scope,
        }
    }

    /// The bytes of a request with no span (resource, the bridge's scope, tags).
    pub fn fixed(&self) -> usize {
        self.fixed
    }

    /// What one span adds to a request. A span of another scope than the bridge's (none today)
    /// is counted as opening a scope group of its own: an upper bound either way.
    pub fn span(&self, s: &SpanData) -> usize {
        let own = delimited(Span::from(s.clone()).encoded_len());
        if s.instrumentation_scope == self.scope {
            own
        } else {
            let other = ScopeSpans {
                scope: Some((&s.instrumentation_scope, None).into()),
                schema_url: s
                    .instrumentation_scope
                    .schema_url()
                    .unwrap_or_default()
                    .to_owned(),
                spans: Vec::new(),
            };
            own + delimited(other.encoded_len()) + LENGTH_PREFIX_GROWTH / 2
        }
    }
}

/// A message field's size on the wire: one tag byte (field numbers < 16), the length, the body.
fn delimited(len: usize) -> usize {
    1 + prost::length_delimiter_len(len) + len
}

/// Cuts one run's spans (from [`spans::to_spans`]) so that a request holding only this run
/// stays within `max` bytes: steps are dropped from the end in tree order and counted on the
/// root ([`spans::truncate`]). The root itself is always kept. Returns the run's size in a
/// request (without [`Sizer::fixed`]).
pub fn fit_run(sizer: &Sizer, spans: &mut Vec<SpanData>, max: usize) -> usize {
    let budget = max.saturating_sub(sizer.fixed);
    let sizes: Vec<usize> = spans.iter().map(|s| sizer.span(s)).collect();
    let total: usize = sizes.iter().sum();
    if total <= budget {
        return total;
    }
    // The longest prefix that fits, leaving room for the dropped count on the root (an i64
    // attribute: its key and at most 10 bytes of varint and tags).
    let room = DROPPED_COUNT_ROOM;
    let mut keep = 1;
    let mut used = sizes.first().copied().unwrap_or(0) + room;
    while keep < sizes.len() && used + sizes[keep] <= budget {
        used += sizes[keep];
        keep += 1;
    }
    spans::truncate(spans, keep);
    spans.iter().map(|s| sizer.span(s)).sum()
}

/// One request: whole runs, their ids, and its size bound in bytes.
#[derive(Debug, Default)]
pub struct Batch {
    pub run_ids: Vec<String>,
    pub spans: Vec<SpanData>,
    pub bytes: usize,
}

/// Groups runs (`(run id, spans)`, in order) into [`Batch`]es of at most `max` bytes each: a
/// run goes whole into the current batch if it fits, else it starts the next one. A run larger
/// than `max` on its own is first cut by [`fit_run`]. Lazy: one batch's spans in memory at a
/// time besides the input.
pub struct Batches<I> {
    runs: I,
    sizer: Sizer,
    max: usize,
    carried: Option<(String, Vec<SpanData>, usize)>,
}

impl<I: Iterator<Item = (String, Vec<SpanData>)>> Batches<I> {
    pub fn new(resource: &Resource, runs: I, max: usize) -> Self {
        Batches {
            runs,
            sizer: Sizer::new(resource),
            max,
            carried: None,
        }
    }
}

impl<I: Iterator<Item = (String, Vec<SpanData>)>> Iterator for Batches<I> {
    type Item = Batch;

    fn next(&mut self) -> Option<Batch> {
        let mut batch = Batch {
            bytes: self.sizer.fixed,
            ..Batch::default()
        };
        loop {
            let next = self.carried.take().or_else(|| {
                let (id, mut spans) = self.runs.next()?;
                let size = fit_run(&self.sizer, &mut spans, self.max);
                Some((id, spans, size))
            });
            let Some((id, spans, size)) = next else { break };
            if !batch.run_ids.is_empty() && batch.bytes + size > self.max {
                self.carried = Some((id, spans, size));
                break;
            }
            batch.bytes += size;
            batch.run_ids.push(id);
            batch.spans.extend(spans);
        }
        (!batch.run_ids.is_empty()).then_some(batch)
    }
}

/// The exact encoded size of the request the exporter builds from `spans` (for tests and
/// benchmarks: it converts every span).
pub fn encoded_request_len(resource: &Resource, spans: Vec<SpanData>) -> usize {
    let r = ResourceAttributesWithSchema::from(resource);
    ExportTraceServiceRequest {
        resource_spans:
            opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope(
                spans, &r,
            ),
    }
    .encoded_len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::spans::{to_spans, to_spans_capped};
    use crate::model::{PipelineRun, RunResult, RunStatus, TaskRun};
    use crate::records::Millis;
    use opentelemetry::KeyValue;

    fn resource() -> Resource {
        crate::export::pipeline_resource(
            &crate::export::base_resource(),
            &crate::sources::sfn::pipeline("123456789012", "us-east-1", "big", "arn:sm:big"),
        )
    }

    /// A run with `n` steps, each `pad` bytes of error message.
    fn run(id: usize, n: usize, pad: usize) -> PipelineRun {
        let t0 = 1_700_000_000_000 + id as i64;
        let tasks = (0..n)
            .map(|i| TaskRun {
                links: Vec::new(),
                name: format!("Step{i}"),
                run_id: format!("{i}"),
                kind: "Task".into(),
                start: Millis(t0),
                end: Millis(t0 + 5),
                result: RunResult::Failure,
                error: Some(crate::model::RunError {
                    error_type: "E".into(),
                    message: "x".repeat(pad),
                }),
                attributes: Vec::new(),
                children: Vec::new(),
            })
            .collect();
        PipelineRun {
            queued_until: None,
            parent: None,
            links: Vec::new(),
            measures: Vec::new(),
            pipeline: crate::sources::sfn::pipeline(
                "123456789012",
                "us-east-1",
                "big",
                "arn:sm:big",
            ),
            run_id: format!("arn:exec:big:{id}"),
            attempt: 0,
            previous_run_id: None,
            aws_state: "SUCCEEDED".into(),
            status: RunStatus::Ended(RunResult::Success),
            start: Millis(t0),
            end: Some(Millis(t0 + 10)),
            error: None,
            will_retry: false,
            dpu_seconds: None,
            url: None,
            sla_secs: None,
            attributes: Vec::new(),
            tasks,
        }
    }

    fn dropped(s: &SpanData) -> Option<i64> {
        s.attributes
            .iter()
            .find(|kv| kv.key.as_str() == crate::semconv::BRIDGE_SPANS_DROPPED)
            .and_then(|kv| match kv.value {
                opentelemetry::Value::I64(v) => Some(v),
                _ => None,
            })
    }

    #[test]
    fn batches_hold_whole_runs_under_the_limit_and_lose_none() {
        let res = resource();
        let max = 64 * 1024;
        let runs: Vec<_> = (0..300).map(|i| run(i, i % 7, 300)).collect();
        let input = runs.iter().map(|r| (r.run_id.clone(), to_spans(r)));
        let batches: Vec<Batch> = Batches::new(&res, input, max).collect();
        assert!(batches.len() > 5, "{} batches", batches.len());
        let mut ids = Vec::new();
        for b in batches {
            let real = encoded_request_len(&res, b.spans.clone());
            assert!(
                real <= b.bytes && b.bytes <= real + 8,
                "{real} vs {}",
                b.bytes
            );
            assert!(b.bytes <= max);
            // Whole runs: every span of the batch belongs to one of its runs, all of them.
            let roots = b
                .spans
                .iter()
                .filter(|s| s.parent_span_id.to_string() == "0000000000000000")
                .count();
            assert_eq!(roots, b.run_ids.len());
            assert!(b.spans.iter().all(|s| dropped(s).is_none()));
            ids.extend(b.run_ids);
        }
        let want: Vec<_> = runs.iter().map(|r| r.run_id.clone()).collect();
        assert_eq!(ids, want, "every run once, in order");
    }

    #[test]
    fn a_run_larger_than_the_limit_is_cut_to_fit_alone() {
        let res = resource();
        let max = 64 * 1024;
        // 2,000 steps of ~1 KiB: ~2 MB, then a small run.
        let big = run(1, 2_000, 1_000);
        let small = run(2, 3, 10);
        let input = [&big, &small]
            .into_iter()
            .map(|r| (r.run_id.clone(), to_spans(r)));
        let batches: Vec<Batch> = Batches::new(&res, input, max).collect();
        let ids: Vec<_> = batches.iter().flat_map(|b| b.run_ids.clone()).collect();
        assert_eq!(ids, [big.run_id.clone(), small.run_id.clone()]);
        for b in &batches {
            let real = encoded_request_len(&res, b.spans.clone());
            assert!(real <= b.bytes && b.bytes <= max, "{real} {}", b.bytes);
        }
        let b = &batches[0];
        assert!(
            b.bytes > max - 2_000,
            "cut no more than needed: {}",
            b.bytes
        );
        let big_kept = b
            .spans
            .iter()
            .filter(|s| s.span_context.trace_id() == b.spans[0].span_context.trace_id())
            .count() as i64;
        assert!(big_kept > 10 && big_kept < 100, "{big_kept}");
        assert_eq!(dropped(&b.spans[0]), Some(2_001 - big_kept));
        let small_spans = batches.iter().flat_map(|b| &b.spans).count() as i64 - big_kept;
        assert_eq!(small_spans, 4, "the small run is whole");
    }

    #[test]
    fn a_capped_run_of_100_000_steps_fits_one_default_request() {
        let res = resource();
        let huge = crate::convert::spans::tests::huge_run(50_000);
        let mut spans = to_spans(&huge);
        let sizer = Sizer::new(&res);
        let size = fit_run(&sizer, &mut spans, DEFAULT_MAX_REQUEST_BYTES);
        assert_eq!(
            spans.len(),
            spans::MAX_SPANS_PER_RUN,
            "cut by count, not by size"
        );
        assert!(sizer.fixed() + size <= DEFAULT_MAX_REQUEST_BYTES);
        assert!(encoded_request_len(&res, spans) <= DEFAULT_MAX_REQUEST_BYTES);
    }

    #[test]
    fn the_dropped_count_attribute_fits_the_room_left_for_it() {
        let mut spans = to_spans_capped(&run(1, 3, 0), 1);
        let before = Span::from(spans[0].clone()).encoded_len();
        spans[0].attributes.retain(|kv| dropped_key(kv).is_none());
        let without = Span::from(spans[0].clone()).encoded_len();
        spans[0].attributes.push(KeyValue::new(
            crate::semconv::BRIDGE_SPANS_DROPPED,
            i64::MAX,
        ));
        let with_max = Span::from(spans[0].clone()).encoded_len();
        assert!(before > without);
        // + 2: the span's own length prefix may grow.
        assert!(with_max - without + 2 <= DROPPED_COUNT_ROOM);
    }

    fn dropped_key(kv: &KeyValue) -> Option<()> {
        (kv.key.as_str() == crate::semconv::BRIDGE_SPANS_DROPPED).then_some(())
    }

    #[test]
    fn a_span_of_another_scope_is_counted_with_its_own_group() {
        let res = resource();
        let mut spans = to_spans(&run(1, 2, 10));
        spans[2].instrumentation_scope = opentelemetry::InstrumentationScope::builder("other")
            .with_version("9")
            .build();
        let sizer = Sizer::new(&res);
        let bound = sizer.fixed() + spans.iter().map(|s| sizer.span(s)).sum::<usize>();
        let real = encoded_request_len(&res, spans);
        assert!(real <= bound && bound <= real + 16, "{real} vs {bound}");
    }
}
