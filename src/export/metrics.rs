//! OTLP metrics: the collected metrics as the OTLP request, with the run-duration exemplars,
//! and the client that sends it.
//!
//! The SDK's data points cannot carry exemplars the bridge chooses (their fields are private,
//! and its own exemplar sampling needs an active span at the time of the measurement), so the
//! collected [`ResourceMetrics`] are converted here with opentelemetry-proto's transform — the
//! one `opentelemetry-otlp` uses — and each `cicd.pipeline.run.duration` histogram point gets
//! one exemplar: the latest run recorded into its series ([`Exemplars`]), pointing at that
//! run's root span. The request is then sent over gRPC (tonic) or HTTP/protobuf with the very
//! settings of the trace exporter: endpoint, headers (set on every request, as for traces),
//! timeout, CA certificate, gzip. One attempt per export: metrics are cumulative, and the next
//! cycle sends them again.

use super::{
    grpc_tls, http_client, read_ca, settings, ExportError, HeadersClient, MetadataInterceptor,
    Settings, Signal,
};
use crate::config::{Compression, OtlpConfig, Protocol};
use crate::errors::error_chain;
use crate::sanitize::Escaped;
use crate::semconv as sc;
use crate::telemetry::Exemplars;
use opentelemetry_proto::tonic::collector::metrics::v1::{
    metrics_service_client::MetricsServiceClient, ExportMetricsServiceRequest,
};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue};
use opentelemetry_proto::tonic::metrics::v1::{exemplar, metric, Exemplar};
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use prost::Message;
use tonic::codegen::CompressionEncoding;
use tonic::service::Interceptor;

/// The OTLP request for `rm`, each run-duration histogram point with the exemplar of its
/// series, if a run was recorded into it in this process.
pub fn request(rm: &ResourceMetrics, exemplars: &Exemplars) -> ExportMetricsServiceRequest {
    let mut req = ExportMetricsServiceRequest::from(rm);
    if exemplars.is_empty() {
        return req;
    }
    let metrics = req
        .resource_metrics
        .iter_mut()
        .flat_map(|r| r.scope_metrics.iter_mut())
        .flat_map(|s| s.metrics.iter_mut())
        .filter(|m| m.name == sc::RUN_DURATION.name);
    for m in metrics {
        let Some(metric::Data::Histogram(h)) = &mut m.data else {
            continue;
        };
        for p in &mut h.data_points {
            let key = Exemplars::series_key(
                p.attributes
                    .iter()
                    .map(|kv| (kv.key.as_str(), any_str(kv.value.as_ref()))),
            );
            if let Some(e) = exemplars.get(&key) {
                p.exemplars.push(Exemplar {
                    filtered_attributes: Vec::new(),
                    time_unix_nano: e.time_unix_nano,
                    span_id: e.span_id.to_vec(),
                    trace_id: e.trace_id.to_vec(),
                    value: Some(exemplar::Value::AsDouble(e.value)),
                });
            }
        }
    }
    req
}

/// An attribute value as the string the SDK's `Value::as_str` gives (the series' labels are
/// strings).
fn any_str(v: Option<&AnyValue>) -> String {
    match v.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        _ => String::new(),
    }
}

enum Transport {
    Grpc {
        client: MetricsServiceClient<tonic::transport::Channel>,
        metadata: MetadataInterceptor,
    },
    Http {
        client: HeadersClient,
        url: String,
        gzip: bool,
    },
}

/// Sends the metrics requests.
/// One metrics export request.
pub type Request = ExportMetricsServiceRequest;

pub struct MetricSender {
    transport: Transport,
    endpoint: String,
    secrets: Vec<String>,
}

impl MetricSender {
    pub fn new(cfg: &OtlpConfig) -> Result<Self, ExportError> {
        Self::with_env(cfg, &settings::process_env)
    }

    /// Like [`MetricSender::new`], reading variables from `env`. Connects lazily: a collector
    /// that is down now is no error here.
    pub fn with_env(cfg: &OtlpConfig, env: settings::Lookup) -> Result<Self, ExportError> {
        let signal = Signal::Metrics;
        let s = Settings::resolve(cfg, signal, env)?;
        let ca = read_ca(&s, signal)?;
        let gzip = cfg.compression == Some(Compression::Gzip);
        let bad = |what: &str, e: &dyn std::error::Error| ExportError::Config {
            signal: signal.as_str(),
            message: settings::scrub(&format!("{what}: {}", error_chain(e)), &s.secrets()),
        };
        let transport = match s.protocol {
            Protocol::Grpc => {
                let mut ep = tonic::transport::Endpoint::from_shared(s.endpoint.clone())
                    .map_err(|e| bad("endpoint", &e))?
                    .timeout(s.timeout);
                if let Some(tls) = grpc_tls(&s, ca.as_ref().map(|(pem, _)| pem.as_slice())) {
                    ep = ep.tls_config(tls).map_err(|e| bad("TLS", &e))?;
                }
                let mut client = MetricsServiceClient::new(ep.connect_lazy());
                if gzip {
                    client = client
                        .send_compressed(CompressionEncoding::Gzip)
                        .accept_compressed(CompressionEncoding::Gzip);
                }
                Transport::Grpc {
                    client,
                    metadata: MetadataInterceptor::new(&s, signal)?,
                }
            }
            Protocol::HttpProtobuf => {
                let inner = http_client(&s, signal, ca.map(|(_, certs)| certs))?;
                Transport::Http {
                    client: HeadersClient::new(&s, signal, inner)?,
                    url: s.endpoint.clone(),
                    gzip,
                }
            }
        };
        Ok(MetricSender {
            transport,
            endpoint: super::redact_url(&s.endpoint),
            secrets: s.secrets(),
        })
    }

    /// Sends one request; `Ok` once the collector acknowledged it.
    pub async fn send(&self, request: ExportMetricsServiceRequest) -> Result<(), ExportError> {
        let fail = |message: String| ExportError::Send {
            signal: "metrics",
            endpoint: self.endpoint.clone(),
            message: settings::scrub(&message, &self.secrets),
        };
        match &self.transport {
            Transport::Grpc { client, metadata } => {
                let (md, ext, ()) = metadata
                    .clone()
                    .call(tonic::Request::new(()))
                    .map_err(|s| fail(format!("gRPC code: {:?}", s.code())))?
                    .into_parts();
                let req = tonic::Request::from_parts(md, ext, request);
                let response = client.clone().export(req).await.map_err(|s| {
                    // The status message is the server's text (it may echo a header); only
                    // locally made errors (connect, TLS) say more, through their source.
                    let cause = std::error::Error::source(&s)
                        .map(|e| format!(": {}", error_chain(e)))
                        .unwrap_or_default();
                    fail(format!(
                        "metrics export failed with gRPC code: {:?}{cause}",
                        s.code()
                    ))
                })?;
                if let Some(p) = response.into_inner().partial_success {
                    if p.rejected_data_points > 0 {
                        tracing::warn!(
                            rejected = p.rejected_data_points,
                            message = %Escaped(&p.error_message),
                            "the collector rejected some metric data points"
                        );
                    }
                }
                Ok(())
            }
            Transport::Http { client, url, gzip } => {
                use opentelemetry_http::HttpClient;
                let body = request.encode_to_vec();
                let mut b = opentelemetry_http::Request::post(url.as_str())
                    .header("content-type", "application/x-protobuf");
                let body = if *gzip {
                    b = b.header("content-encoding", "gzip");
                    gzip_bytes(&body).map_err(|e| fail(format!("gzip: {e}")))?
                } else {
                    body
                };
                let req = b
                    .body(opentelemetry_http::Bytes::from(body))
                    .map_err(|e| fail(format!("HTTP request: {}", error_chain(&e))))?;
                let response = client.send_bytes(req).await.map_err(|e| {
                    fail(format!(
                        "HTTP export failed: network error: {}",
                        error_chain(&*e)
                    ))
                })?;
                if !response.status().is_success() {
                    return Err(fail(format!(
                        "HTTP export failed with status code: {}",
                        response.status().as_u16()
                    )));
                }
                Ok(())
            }
        }
    }
}

fn gzip_bytes(data: &[u8]) -> std::io::Result<Vec<u8>> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data)?;
    enc.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{PipelineRun, RunError, RunResult, RunStatus};
    use crate::records::Millis;
    use crate::telemetry::Telemetry;
    use opentelemetry_proto::tonic::metrics::v1::HistogramDataPoint;

    fn run(name: &str, id: &str, result: RunResult, end_s: i64) -> PipelineRun {
        PipelineRun {
            queued_until: None,
            parent: None,
            links: Vec::new(),
            measures: Vec::new(),
            pipeline: crate::sources::glue_job::pipeline("123456789012", "eu-west-1", name),
            run_id: id.into(),
            attempt: 0,
            previous_run_id: None,
            aws_state: String::new(),
            status: RunStatus::Ended(result),
            start: Millis(1_700_000_000_000),
            end: Some(Millis(1_700_000_000_000 + end_s * 1000)),
            error: result.is_error().then(|| RunError {
                error_type: "E".into(),
                message: String::new(),
            }),
            will_retry: false,
            dpu_seconds: None,
            url: None,
            sla_secs: None,
            attributes: vec![],
            tasks: vec![],
        }
    }

    fn attr(p: &HistogramDataPoint, key: &str) -> String {
        let v = p.attributes.iter().find(|kv| kv.key == key);
        any_str(v.and_then(|kv| kv.value.as_ref()))
    }

    /// The run-duration points of `req`, by (pipeline, result).
    fn duration_points(req: &ExportMetricsServiceRequest) -> Vec<HistogramDataPoint> {
        req.resource_metrics
            .iter()
            .flat_map(|r| &r.scope_metrics)
            .flat_map(|s| &s.metrics)
            .filter(|m| m.name == sc::RUN_DURATION.name)
            .flat_map(|m| match &m.data {
                Some(metric::Data::Histogram(h)) => h.data_points.clone(),
                _ => Vec::new(),
            })
            .collect()
    }

    #[test]
    fn each_run_duration_point_carries_the_latest_run_of_its_series() {
        let t = Telemetry::new(opentelemetry_sdk::Resource::builder_empty().build());
        let first = run("orders", "jr_1", RunResult::Success, 30);
        let latest = run("orders", "jr_2", RunResult::Success, 90);
        let failed = run("orders", "jr_3", RunResult::Failure, 10);
        for r in [&first, &latest, &failed] {
            t.record_run(r, 0.0, r.error.as_ref().map(|e| e.error_type.as_str()));
        }
        // Another pipeline's totals restored from a checkpoint: a point without exemplar.
        let restored = run("restored", "jr_9", RunResult::Success, 5);
        let mut totals = crate::state::Totals::default();
        totals.count(&restored, sc::DURATION_BUCKETS);
        t.restore(&restored.pipeline, &totals);

        let req = request(&t.collect().unwrap(), &t.exemplars());
        // What the collector receives: the encoded request, decoded.
        let req = ExportMetricsServiceRequest::decode(req.encode_to_vec().as_slice()).unwrap();
        let points = duration_points(&req);
        assert_eq!(points.len(), 3, "{points:?}");
        for p in &points {
            let (name, result) = (
                attr(p, sc::CICD_PIPELINE_NAME),
                attr(p, sc::CICD_PIPELINE_RESULT),
            );
            let want = match (name.as_str(), result.as_str()) {
                ("orders", "success") => Some(&latest),
                ("orders", "failure") => Some(&failed),
                ("restored", "success") => None,
                other => panic!("unexpected series {other:?}"),
            };
            let Some(want) = want else {
                assert!(p.exemplars.is_empty(), "{p:?}");
                continue;
            };
            assert_eq!(p.exemplars.len(), 1, "{p:?}");
            let e = &p.exemplars[0];
            let key = crate::convert::spans::run_key(want);
            assert_eq!(e.trace_id, key.trace_id().to_bytes().to_vec());
            assert_eq!(e.span_id, key.root_span_id().to_bytes().to_vec());
            assert_eq!(
                e.value,
                Some(exemplar::Value::AsDouble(want.duration_secs()))
            );
            assert_eq!(
                e.time_unix_nano,
                want.end.unwrap().0 as u64 * 1_000_000,
                "the run's end"
            );
        }
        // No other metric gets exemplars.
        let others = req
            .resource_metrics
            .iter()
            .flat_map(|r| &r.scope_metrics)
            .flat_map(|s| &s.metrics)
            .filter(|m| m.name != sc::RUN_DURATION.name)
            .filter_map(|m| match &m.data {
                Some(metric::Data::Histogram(h)) => Some(h),
                _ => None,
            })
            .flat_map(|h| &h.data_points)
            .filter(|p| !p.exemplars.is_empty())
            .count();
        assert_eq!(others, 0);
    }

    #[test]
    fn without_runs_the_request_is_the_plain_conversion() {
        let t = Telemetry::new(opentelemetry_sdk::Resource::builder_empty().build());
        let rm = t.collect().unwrap();
        assert_eq!(
            request(&rm, &t.exemplars()),
            ExportMetricsServiceRequest::from(&rm)
        );
    }
}
