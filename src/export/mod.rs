//! OTLP transport: builds the span and metric exporters from the config and the standard
//! `OTEL_EXPORTER_OTLP_*` variables, and sends spans grouped by resource.

pub mod prometheus;

use crate::config::{Compression, OtlpConfig, Protocol};
use crate::model::PipelineRef;
use crate::semconv as sc;
use opentelemetry::KeyValue;
use opentelemetry_otlp::{
    MetricExporter, SpanExporter, WithExportConfig, WithHttpConfig, WithTonicConfig,
};
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::trace::{SpanData, SpanExporter as _};
use opentelemetry_sdk::Resource;
use std::collections::HashMap;
use std::time::Duration;

/// Default `service.name` when neither `OTEL_SERVICE_NAME` nor `OTEL_RESOURCE_ATTRIBUTES` set one.
pub const DEFAULT_SERVICE_NAME: &str = "pipeline-otel-bridge";

/// Signals, for per-signal settings and error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Traces,
    Metrics,
}

impl Signal {
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Traces => "traces",
            Signal::Metrics => "metrics",
        }
    }
    fn env_suffix(self) -> &'static str {
        match self {
            Signal::Traces => "TRACES",
            Signal::Metrics => "METRICS",
        }
    }
    fn path(self) -> &'static str {
        match self {
            Signal::Traces => "/v1/traces",
            Signal::Metrics => "/v1/metrics",
        }
    }
}

/// An export that was not acknowledged.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("invalid OTLP {signal} exporter configuration: {message}")]
    Config {
        signal: &'static str,
        message: String,
    },
    #[error("OTLP {signal} export to {endpoint} failed: {message}")]
    Send {
        signal: &'static str,
        endpoint: String,
        message: String,
    },
}

/// The transport for one signal: config file first, then the signal's env var, then the
/// generic one, then gRPC (the OpenTelemetry default).
pub fn protocol(cfg: &OtlpConfig, signal: Signal) -> Result<Protocol, ExportError> {
    if let Some(p) = cfg.protocol {
        return Ok(p);
    }
    for var in [
        format!("OTEL_EXPORTER_OTLP_{}_PROTOCOL", signal.env_suffix()),
        "OTEL_EXPORTER_OTLP_PROTOCOL".to_string(),
    ] {
        if let Ok(v) = std::env::var(&var) {
            return Protocol::parse(&v).ok_or_else(|| ExportError::Config {
                signal: signal.as_str(),
                message: format!("{var}=`{v}`: expected `grpc` or `http/protobuf`"),
            });
        }
    }
    Ok(Protocol::Grpc)
}

/// Where a signal goes, for messages (no credentials are part of it).
pub fn endpoint_for_display(cfg: &OtlpConfig, signal: Signal) -> String {
    let proto = protocol(cfg, signal).unwrap_or(Protocol::Grpc);
    if let Some(e) = &cfg.endpoint {
        return match proto {
            Protocol::Grpc => e.clone(),
            Protocol::HttpProtobuf => format!("{}{}", e.trim_end_matches('/'), signal.path()),
        };
    }
    if let Ok(e) = std::env::var(format!(
        "OTEL_EXPORTER_OTLP_{}_ENDPOINT",
        signal.env_suffix()
    )) {
        return e;
    }
    if let Ok(e) = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT") {
        return match proto {
            Protocol::Grpc => e,
            Protocol::HttpProtobuf => format!("{}{}", e.trim_end_matches('/'), signal.path()),
        };
    }
    match proto {
        Protocol::Grpc => "http://localhost:4317".to_string(),
        Protocol::HttpProtobuf => format!("http://localhost:4318{}", signal.path()),
    }
}

/// The CA file for a signal: config, then the signal's env var, then the generic one.
pub fn certificate(cfg: &OtlpConfig, signal: Signal) -> Option<std::path::PathBuf> {
    cfg.certificate.clone().or_else(|| {
        [
            format!("OTEL_EXPORTER_OTLP_{}_CERTIFICATE", signal.env_suffix()),
            "OTEL_EXPORTER_OTLP_CERTIFICATE".to_string(),
        ]
        .iter()
        .find_map(|v| std::env::var_os(v).filter(|x| !x.is_empty()))
        .map(Into::into)
    })
}

fn read_ca(cfg: &OtlpConfig, signal: Signal) -> Result<Option<Vec<u8>>, ExportError> {
    let Some(path) = certificate(cfg, signal) else {
        return Ok(None);
    };
    std::fs::read(&path)
        .map(Some)
        .map_err(|e| ExportError::Config {
            signal: signal.as_str(),
            message: format!("cannot read CA certificate {}: {e}", path.display()),
        })
}

/// Timeout for a signal: config, then env (ms), then 10 s.
fn timeout(cfg: &OtlpConfig, signal: Signal) -> Duration {
    cfg.timeout
        .or_else(|| {
            [
                format!("OTEL_EXPORTER_OTLP_{}_TIMEOUT", signal.env_suffix()),
                "OTEL_EXPORTER_OTLP_TIMEOUT".to_string(),
            ]
            .iter()
            .find_map(|v| std::env::var(v).ok()?.trim().parse::<u64>().ok())
            .map(Duration::from_millis)
        })
        .unwrap_or(DEFAULT_TIMEOUT)
}

macro_rules! configure {
    ($builder:expr, $cfg:expr, $signal:expr) => {{
        let cfg: &OtlpConfig = $cfg;
        let signal: Signal = $signal;
        match protocol(cfg, signal)? {
            Protocol::Grpc => {
                let mut b = $builder.with_tonic();
                if let Some(e) = &cfg.endpoint {
                    b = b.with_endpoint(e.clone());
                }
                // tonic trusts no roots by default: give https endpoints the webpki and system
                // roots, plus the configured CA.
                if endpoint_for_display(cfg, signal).starts_with("https://") {
                    let mut tls = tonic::transport::ClientTlsConfig::new().with_enabled_roots();
                    if let Some(pem) = read_ca(cfg, signal)? {
                        tls = tls.ca_certificate(tonic::transport::Certificate::from_pem(pem));
                    }
                    b = b.with_tls_config(tls);
                }
                if let Some(t) = cfg.timeout {
                    b = b.with_timeout(t);
                }
                if cfg.compression == Some(Compression::Gzip) {
                    b = b.with_compression(opentelemetry_otlp::Compression::Gzip);
                }
                if !cfg.headers.is_empty() {
                    let mut md = tonic::metadata::MetadataMap::new();
                    for (k, v) in &cfg.headers {
                        let key = tonic::metadata::MetadataKey::from_bytes(
                            k.to_ascii_lowercase().as_bytes(),
                        )
                        .map_err(|_| ExportError::Config {
                            signal: signal.as_str(),
                            message: format!("otlp.headers: bad header name `{k}`"),
                        })?;
                        let val = v.expose().parse().map_err(|_| ExportError::Config {
                            signal: signal.as_str(),
                            message: format!(
                                "otlp.headers: value of `{k}` is not a valid header value"
                            ),
                        })?;
                        md.insert(key, val);
                    }
                    b = b.with_metadata(md);
                }
                b.build()
            }
            Protocol::HttpProtobuf => {
                let mut b = $builder
                    .with_http()
                    .with_protocol(opentelemetry_otlp::Protocol::HttpBinary);
                if let Some(e) = &cfg.endpoint {
                    b = b.with_endpoint(format!("{}{}", e.trim_end_matches('/'), signal.path()));
                }
                if let Some(pem) = read_ca(cfg, signal)? {
                    let bad = |e: reqwest::Error| ExportError::Config {
                        signal: signal.as_str(),
                        message: format!("CA certificate: {e}"),
                    };
                    let client = reqwest::Client::builder()
                        .add_root_certificate(reqwest::Certificate::from_pem(&pem).map_err(bad)?)
                        .timeout(timeout(cfg, signal))
                        .build()
                        .map_err(bad)?;
                    b = b.with_http_client(client);
                }
                if let Some(t) = cfg.timeout {
                    b = b.with_timeout(t);
                }
                if cfg.compression == Some(Compression::Gzip) {
                    b = b.with_compression(opentelemetry_otlp::Compression::Gzip);
                }
                if !cfg.headers.is_empty() {
                    b = b.with_headers(
                        cfg.headers
                            .iter()
                            .map(|(k, v)| (k.clone(), v.expose().to_string()))
                            .collect::<HashMap<_, _>>(),
                    );
                }
                b.build()
            }
        }
        .map_err(|e| ExportError::Config {
            signal: signal.as_str(),
            message: e.to_string(),
        })
    }};
}

/// The base resource: `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_SERVICE_NAME`, else
/// [`DEFAULT_SERVICE_NAME`], plus `cloud.provider=aws`.
pub fn base_resource() -> Resource {
    let env_names_service = std::env::var("OTEL_SERVICE_NAME").is_ok_and(|v| !v.is_empty())
        || std::env::var("OTEL_RESOURCE_ATTRIBUTES").is_ok_and(|v| {
            v.split(',')
                .any(|kv| kv.trim_start().starts_with("service.name="))
        });
    let mut b = Resource::builder().with_attribute(KeyValue::new(sc::CLOUD_PROVIDER, "aws"));
    if !env_names_service {
        b = b.with_service_name(DEFAULT_SERVICE_NAME);
    }
    b.build()
}

/// The resource of a pipeline's spans: the base plus account, region and platform.
pub fn pipeline_resource(base: &Resource, p: &PipelineRef) -> Resource {
    Resource::builder_empty()
        .with_attributes(
            base.iter()
                .map(|(k, v)| KeyValue::new(k.clone(), v.clone())),
        )
        .with_attributes([
            KeyValue::new(sc::CLOUD_ACCOUNT_ID, p.account.clone()),
            KeyValue::new(sc::CLOUD_REGION, p.region.clone()),
            KeyValue::new(sc::CLOUD_PLATFORM, p.kind.cloud_platform()),
        ])
        .build()
}

/// Sends spans, one request per resource; returns only once the collector acknowledged all.
pub struct TraceSender {
    exporter: SpanExporter,
    endpoint: String,
}

impl TraceSender {
    pub fn new(cfg: &OtlpConfig) -> Result<Self, ExportError> {
        let exporter: SpanExporter = configure!(SpanExporter::builder(), cfg, Signal::Traces)?;
        Ok(TraceSender {
            exporter,
            endpoint: endpoint_for_display(cfg, Signal::Traces),
        })
    }

    /// Exports one batch of spans that share a resource.
    pub async fn send(
        &mut self,
        resource: &Resource,
        spans: Vec<SpanData>,
    ) -> Result<(), ExportError> {
        if spans.is_empty() {
            return Ok(());
        }
        self.exporter.set_resource(resource);
        self.exporter
            .export(spans)
            .await
            .map_err(|e| ExportError::Send {
                signal: "traces",
                endpoint: self.endpoint.clone(),
                message: e.to_string(),
            })
    }
}

/// Sends collected metrics.
pub struct MetricSender {
    exporter: MetricExporter,
    endpoint: String,
}

impl MetricSender {
    pub fn new(cfg: &OtlpConfig) -> Result<Self, ExportError> {
        let b = MetricExporter::builder();
        let exporter: MetricExporter = configure!(b, cfg, Signal::Metrics)?;
        Ok(MetricSender {
            exporter,
            endpoint: endpoint_for_display(cfg, Signal::Metrics),
        })
    }

    pub async fn send(&self, metrics: &ResourceMetrics) -> Result<(), ExportError> {
        self.exporter
            .export(metrics)
            .await
            .map_err(|e| ExportError::Send {
                signal: "metrics",
                endpoint: self.endpoint.clone(),
                message: e.to_string(),
            })
    }
}

/// Default export timeout when neither config nor env set one.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
