//! OTLP transport: builds the span and metric exporters from the config and the standard
//! `OTEL_EXPORTER_OTLP_*` variables, and sends spans grouped by resource.
//!
//! The settings are resolved here ([`settings`]), not by `opentelemetry-otlp`, and passed to
//! its builders explicitly, so a malformed variable is an error instead of vanishing. Headers
//! are the exception the crate does not allow to bypass — it always merges the headers
//! variable over explicit headers (and URL-decodes explicit HTTP headers) — so they are set
//! last on each request: by a tonic interceptor (gRPC) and by an HTTP client wrapper (HTTP),
//! which replace whatever the crate put under the same names. Endpoint passwords and header
//! values never reach a message: every error text is scrubbed ([`settings::scrub`]).
//!
//! Metrics are sent by the bridge's own client ([`metrics`]) over the same settings: the SDK's
//! data points cannot carry exemplars, so the collected metrics are converted to the OTLP
//! request here, and the run-duration points get theirs before it is sent.

pub mod batch;
pub mod metrics;
pub mod prometheus;
pub mod settings;

use crate::config::{Compression, OtlpConfig, Protocol};
use crate::errors::error_chain;
use crate::model::PipelineRef;
use crate::semconv as sc;
pub use metrics::MetricSender;
use opentelemetry::KeyValue;
use opentelemetry_otlp::{SpanExporter, WithExportConfig, WithHttpConfig, WithTonicConfig};
use opentelemetry_sdk::trace::{SpanData, SpanExporter as _};
use opentelemetry_sdk::Resource;
pub use settings::{redact_url, Settings};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
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

impl ExportError {
    /// The receiver answered and refused this request for its content — gRPC
    /// `InvalidArgument`, `OutOfRange` (tonic: message too large), `ResourceExhausted`
    /// (grpc-go, grpcio: message too large), HTTP 400 or 413 — rather than being unreachable,
    /// overloaded or slow: other requests may still go through.
    pub fn is_refusal(&self) -> bool {
        let ExportError::Send { message, .. } = self else {
            return false;
        };
        let grpc = ["InvalidArgument", "OutOfRange", "ResourceExhausted"]
            .iter()
            .any(|c| message.contains(&format!("gRPC code: {c}")));
        let http = ["400", "413"]
            .iter()
            .any(|c| message.contains(&format!("status code: {c}")));
        grpc || http
    }
}

/// The transport for one signal: config file first, then the signal's env var, then the
/// generic one, then gRPC (the OpenTelemetry default).
pub fn protocol(cfg: &OtlpConfig, signal: Signal) -> Result<Protocol, ExportError> {
    settings::protocol(cfg, signal, &settings::process_env)
}

/// Where a signal goes, for messages: the URL with its password hidden ([`redact_url`]).
pub fn endpoint_for_display(cfg: &OtlpConfig, signal: Signal) -> String {
    let env = &settings::process_env;
    let proto = settings::protocol(cfg, signal, env).unwrap_or(Protocol::Grpc);
    match settings::endpoint(cfg, signal, proto, env) {
        Ok(e) => redact_url(&e),
        Err(_) => "(invalid endpoint)".to_string(),
    }
}

/// The CA file for a signal: config, then the signal's env var, then the generic one.
pub fn certificate(cfg: &OtlpConfig, signal: Signal) -> Option<std::path::PathBuf> {
    settings::certificate(cfg, signal, &settings::process_env)
}

/// Reads the CA file, if any, and checks that it holds at least one PEM certificate that
/// parses — for both protocols, so a bad file fails when the exporter is built (and in
/// `check`), not at the first connection. Returns the PEM bytes and the certificates.
#[allow(clippy::type_complexity)]
fn read_ca(
    s: &Settings,
    signal: Signal,
) -> Result<Option<(Vec<u8>, Vec<reqwest::Certificate>)>, ExportError> {
    let Some(path) = &s.certificate else {
        return Ok(None);
    };
    let bad = |why: String| ExportError::Config {
        signal: signal.as_str(),
        message: format!("CA certificate {}: {why}", path.display()),
    };
    let pem = std::fs::read(path).map_err(|e| bad(format!("cannot read: {e}")))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|_| bad("is not a valid PEM file".into()))?;
    if certs.is_empty() {
        return Err(bad(
            "holds no `-----BEGIN CERTIFICATE-----` block (a PEM file is expected)".into(),
        ));
    }
    // Parsing the certificates themselves: a client trusting only them.
    reqwest::Client::builder()
        .tls_certs_only(certs.clone())
        .build()
        .map_err(|e| bad(format!("is not a usable certificate: {}", error_chain(&e))))?;
    Ok(Some((pem, certs)))
}

/// Sets the configured gRPC metadata on every request, replacing what the exporter added
/// under the same names (it merges the headers variable in after explicit metadata).
#[derive(Clone)]
struct MetadataInterceptor(
    Arc<
        Vec<(
            tonic::metadata::MetadataKey<tonic::metadata::Ascii>,
            tonic::metadata::MetadataValue<tonic::metadata::Ascii>,
        )>,
    >,
);

impl MetadataInterceptor {
    fn new(s: &Settings, signal: Signal) -> Result<Self, ExportError> {
        let mut md = Vec::new();
        for (k, v) in &s.headers {
            let bad = || ExportError::Config {
                signal: signal.as_str(),
                message: format!("header `{k}` is not valid gRPC metadata"),
            };
            let key = tonic::metadata::MetadataKey::from_bytes(k.as_bytes()).map_err(|_| bad())?;
            let mut val: tonic::metadata::MetadataValue<tonic::metadata::Ascii> =
                v.expose().parse().map_err(|_| bad())?;
            val.set_sensitive(true);
            md.push((key, val));
        }
        Ok(MetadataInterceptor(Arc::new(md)))
    }
}

impl tonic::service::Interceptor for MetadataInterceptor {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        for (k, v) in self.0.iter() {
            req.metadata_mut().insert(k.clone(), v.clone());
        }
        Ok(req)
    }
}

/// The HTTP client of the HTTP exporter: sets the configured headers on every request,
/// replacing what the exporter added under the same names (it URL-decodes explicit headers and
/// merges the headers variable over them).
struct HeadersClient {
    inner: reqwest::Client,
    headers: reqwest::header::HeaderMap,
}

impl std::fmt::Debug for HeadersClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Names only: values are secrets.
        f.debug_struct("HeadersClient")
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl HeadersClient {
    fn new(s: &Settings, signal: Signal, inner: reqwest::Client) -> Result<Self, ExportError> {
        let mut headers = reqwest::header::HeaderMap::new();
        for (k, v) in &s.headers {
            let bad = || ExportError::Config {
                signal: signal.as_str(),
                message: format!("header `{k}` is not a valid HTTP header"),
            };
            let name = reqwest::header::HeaderName::from_bytes(k.as_bytes()).map_err(|_| bad())?;
            let mut value =
                reqwest::header::HeaderValue::from_str(v.expose()).map_err(|_| bad())?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        Ok(HeadersClient { inner, headers })
    }
}

type HttpResult =
    Result<opentelemetry_http::Response<opentelemetry_http::Bytes>, opentelemetry_http::HttpError>;

// `HttpClient` is an `async_trait`; this is its expansion.
impl opentelemetry_http::HttpClient for HeadersClient {
    fn send_bytes<'life0, 'async_trait>(
        &'life0 self,
        mut request: opentelemetry_http::Request<opentelemetry_http::Bytes>,
    ) -> Pin<Box<dyn Future<Output = HttpResult> + Send + 'async_trait>>
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        for (k, v) in &self.headers {
            request.headers_mut().insert(k.clone(), v.clone());
        }
        self.inner.send_bytes(request)
    }
}

/// The TLS settings of a gRPC channel: for an `https://` endpoint, the webpki and system roots
/// (tonic trusts none by default) plus the configured CA; `None` for plain text.
fn grpc_tls(s: &Settings, ca_pem: Option<&[u8]>) -> Option<tonic::transport::ClientTlsConfig> {
    if !s.endpoint.to_ascii_lowercase().starts_with("https://") {
        return None;
    }
    let mut tls = tonic::transport::ClientTlsConfig::new().with_enabled_roots();
    if let Some(pem) = ca_pem {
        tls = tls.ca_certificate(tonic::transport::Certificate::from_pem(pem));
    }
    Some(tls)
}

/// The HTTP client of a signal: its timeout, and the configured CA besides the usual roots.
fn http_client(
    s: &Settings,
    signal: Signal,
    certs: Option<Vec<reqwest::Certificate>>,
) -> Result<reqwest::Client, ExportError> {
    let mut client = reqwest::Client::builder().timeout(s.timeout);
    if let Some(certs) = certs {
        client = client.tls_certs_merge(certs);
    }
    client.build().map_err(|e| ExportError::Config {
        signal: signal.as_str(),
        message: format!("HTTP client: {}", error_chain(&e)),
    })
}

macro_rules! configure {
    ($builder:expr, $s:expr, $cfg:expr, $signal:expr) => {{
        let s: &Settings = $s;
        let cfg: &OtlpConfig = $cfg;
        let signal: Signal = $signal;
        let ca = read_ca(s, signal)?;
        match s.protocol {
            Protocol::Grpc => {
                let mut b = $builder
                    .with_tonic()
                    .with_endpoint(s.endpoint.clone())
                    .with_timeout(s.timeout)
                    .with_interceptor(MetadataInterceptor::new(s, signal)?);
                if let Some(tls) = grpc_tls(s, ca.as_ref().map(|(pem, _)| pem.as_slice())) {
                    b = b.with_tls_config(tls);
                }
                if cfg.compression == Some(Compression::Gzip) {
                    b = b.with_compression(opentelemetry_otlp::Compression::Gzip);
                }
                b.build()
            }
            Protocol::HttpProtobuf => {
                let client = http_client(s, signal, ca.map(|(_, certs)| certs))?;
                let mut b = $builder
                    .with_http()
                    .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                    .with_endpoint(s.endpoint.clone())
                    .with_timeout(s.timeout)
                    .with_http_client(HeadersClient::new(s, signal, client)?);
                if cfg.compression == Some(Compression::Gzip) {
                    b = b.with_compression(opentelemetry_otlp::Compression::Gzip);
                }
                b.build()
            }
        }
        .map_err(|e| ExportError::Config {
            signal: signal.as_str(),
            message: settings::scrub(&error_chain(&e), &s.secrets()),
        })
    }};
}

/// This process's `service.instance.id`, set once by `run` ([`set_service_instance`]).
static SERVICE_INSTANCE: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Sets `service.instance.id` for every resource built afterwards (unless
/// `OTEL_RESOURCE_ATTRIBUTES` names one): an id derived from the host name and the state
/// directory ([`instance_id`]), so two bridges never write the same series while a restarted
/// one continues its own.
pub fn set_service_instance(id: String) {
    let _ = SERVICE_INSTANCE.set(id);
}

/// A stable instance id (UUID form, version 8: name-based on SHA-256) for a host and a state
/// directory.
pub fn instance_id(host: &str, state_dir: &str) -> String {
    use sha2::{Digest, Sha256};
    let h = Sha256::digest(format!("pipeline-otel-bridge|{host}|{state_dir}").as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&h[..16]);
    b[6] = (b[6] & 0x0f) | 0x80; // version 8
    b[8] = (b[8] & 0x3f) | 0x80; // RFC 9562 variant
    let x: String = b.iter().map(|v| format!("{v:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &x[..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..]
    )
}

/// The base resource: `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_SERVICE_NAME`, else
/// [`DEFAULT_SERVICE_NAME`], plus `cloud.provider=aws` and `service.instance.id`.
pub fn base_resource() -> Resource {
    let env_names_service = std::env::var("OTEL_SERVICE_NAME").is_ok_and(|v| !v.is_empty())
        || std::env::var("OTEL_RESOURCE_ATTRIBUTES").is_ok_and(|v| {
            v.split(',')
                .any(|kv| kv.trim_start().starts_with("service.name="))
        });
    let env_names_instance = std::env::var("OTEL_RESOURCE_ATTRIBUTES").is_ok_and(|v| {
        v.split(',')
            .any(|kv| kv.trim_start().starts_with("service.instance.id="))
    });
    let mut b = Resource::builder().with_attribute(KeyValue::new(sc::CLOUD_PROVIDER, "aws"));
    if !env_names_service {
        b = b.with_service_name(DEFAULT_SERVICE_NAME);
    }
    if let (false, Some(id)) = (env_names_instance, SERVICE_INSTANCE.get()) {
        b = b.with_attribute(KeyValue::new(sc::SERVICE_INSTANCE_ID, id.clone()));
    }
    b.build()
}

/// The resource of a pipeline's spans: the base plus account, region, platform and the
/// pipeline's name.
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
            KeyValue::new(sc::CICD_PIPELINE_NAME, p.name.clone()),
        ])
        .build()
}

/// [`pipeline_resource`] with the pipeline's owners (`pipeline_bridge.team`/`.project`), when
/// it has them.
pub fn owned_resource(
    base: &Resource,
    p: &PipelineRef,
    team: Option<&str>,
    project: Option<&str>,
) -> Resource {
    let r = pipeline_resource(base, p);
    let owners: Vec<KeyValue> = [(sc::OWNER_TEAM, team), (sc::OWNER_PROJECT, project)]
        .into_iter()
        .filter_map(|(k, v)| Some(KeyValue::new(k, v?.to_string())))
        .collect();
    if owners.is_empty() {
        return r;
    }
    Resource::builder_empty()
        .with_attributes(r.iter().map(|(k, v)| KeyValue::new(k.clone(), v.clone())))
        .with_attributes(owners)
        .build()
}

/// Sends spans, one request per resource; returns only once the collector acknowledged all.
pub struct TraceSender {
    exporter: SpanExporter,
    endpoint: String,
    secrets: Vec<String>,
}

impl TraceSender {
    pub fn new(cfg: &OtlpConfig) -> Result<Self, ExportError> {
        Self::with_env(cfg, &settings::process_env)
    }

    /// Like [`TraceSender::new`], reading variables from `env`.
    pub fn with_env(cfg: &OtlpConfig, env: settings::Lookup) -> Result<Self, ExportError> {
        let s = Settings::resolve(cfg, Signal::Traces, env)?;
        let exporter: SpanExporter = configure!(SpanExporter::builder(), &s, cfg, Signal::Traces)?;
        Ok(TraceSender {
            exporter,
            endpoint: redact_url(&s.endpoint),
            secrets: s.secrets(),
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
                message: settings::scrub(&error_chain(&e), &self.secrets),
            })
    }
}

/// Where the poller sends trace batches: [`TraceSender`] (OTLP), or a test double that
/// acknowledges, refuses or fails as a test needs.
pub trait TraceSink: Send {
    /// Exports one batch of spans that share a resource; `Ok` once the receiver acknowledged.
    fn send<'a>(
        &'a mut self,
        resource: &'a Resource,
        spans: Vec<SpanData>,
    ) -> futures::future::BoxFuture<'a, Result<(), ExportError>>;
}

impl TraceSink for TraceSender {
    fn send<'a>(
        &'a mut self,
        resource: &'a Resource,
        spans: Vec<SpanData>,
    ) -> futures::future::BoxFuture<'a, Result<(), ExportError>> {
        Box::pin(TraceSender::send(self, resource, spans))
    }
}

/// Where the poller sends its metrics: [`MetricSender`] (OTLP), or a test double.
pub trait MetricSink: Send + Sync {
    fn send(
        &self,
        request: metrics::Request,
    ) -> futures::future::BoxFuture<'_, Result<(), ExportError>>;
}

impl MetricSink for MetricSender {
    fn send(
        &self,
        request: metrics::Request,
    ) -> futures::future::BoxFuture<'_, Result<(), ExportError>> {
        Box::pin(MetricSender::send(self, request))
    }
}

/// Default export timeout when neither config nor env set one.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_ids_are_stable_per_host_and_state_dir_and_differ_otherwise() {
        let a = instance_id("host-a", "/var/lib/bridge");
        assert_eq!(a, instance_id("host-a", "/var/lib/bridge"));
        assert_ne!(a, instance_id("host-b", "/var/lib/bridge"));
        assert_ne!(a, instance_id("host-a", "/var/lib/bridge-2"));
        let parts: Vec<&str> = a.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(parts[2].starts_with('8'), "version 8: {a}");
        assert!(
            matches!(&parts[3][..1], "8" | "9" | "a" | "b"),
            "variant: {a}"
        );
        assert!(a.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
    }
    use crate::config::{Config, Secret};
    use opentelemetry::trace::{
        SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
    };
    use opentelemetry::InstrumentationScope;
    use opentelemetry_sdk::trace::{SpanEvents, SpanLinks};
    use std::borrow::Cow;
    use std::path::Path;
    use std::time::SystemTime;

    fn otlp(toml_text: &str) -> OtlpConfig {
        Config::parse(toml_text, Path::new("bridge.toml"))
            .unwrap()
            .otlp
    }

    fn one_span() -> SpanData {
        SpanData {
            span_context: SpanContext::new(
                TraceId::from_bytes([1; 16]),
                SpanId::from_bytes([2; 8]),
                TraceFlags::SAMPLED,
                false,
                TraceState::default(),
            ),
            parent_span_id: SpanId::INVALID,
            parent_span_is_remote: false,
            span_kind: SpanKind::Server,
            name: Cow::Borrowed("RUN test"),
            start_time: SystemTime::UNIX_EPOCH,
            end_time: SystemTime::UNIX_EPOCH,
            attributes: Vec::new(),
            dropped_attributes_count: 0,
            events: SpanEvents::default(),
            links: SpanLinks::default(),
            status: Status::Unset,
            instrumentation_scope: InstrumentationScope::builder("test").build(),
        }
    }

    #[test]
    fn a_refused_request_is_told_from_an_unreachable_collector() {
        let send = |message: &str| ExportError::Send {
            signal: "traces",
            endpoint: "http://c:4317".into(),
            message: message.into(),
        };
        for m in [
            "Operation failed: TonicTracesClient export failed with gRPC code: OutOfRange",
            "TonicTracesClient export failed with gRPC code: ResourceExhausted",
            "TonicTracesClient export failed with gRPC code: InvalidArgument",
            "HTTP export failed with status code: 413",
            "HTTP export failed with status code: 400",
        ] {
            assert!(send(m).is_refusal(), "{m}");
        }
        for m in [
            "TonicTracesClient export failed with gRPC code: Unavailable: connection refused",
            "TonicTracesClient export failed with gRPC code: DeadlineExceeded",
            "HTTP export failed with status code: 503",
            "HTTP export failed with status code: 429",
            "HTTP export failed: network error",
        ] {
            assert!(!send(m).is_refusal(), "{m}");
        }
        let cfg = ExportError::Config {
            signal: "traces",
            message: "gRPC code: OutOfRange".into(),
        };
        assert!(!cfg.is_refusal());
    }

    #[test]
    fn displayed_endpoint_hides_the_url_password() {
        for proto in ["grpc", "http/protobuf"] {
            let cfg = otlp(&format!(
                "[otlp]\nendpoint = \"http://u:hunter2@collector:4317\"\nprotocol = \"{proto}\""
            ));
            let shown = endpoint_for_display(&cfg, Signal::Traces);
            assert!(!shown.contains("hunter2"), "{shown}");
            assert!(shown.starts_with("http://u:***@collector:4317"), "{shown}");
        }
    }

    #[tokio::test]
    async fn an_export_failure_does_not_show_the_url_password() {
        for proto in ["grpc", "http/protobuf"] {
            let cfg = otlp(&format!(
                "[otlp]\nendpoint = \"http://u:hunter2@127.0.0.1:1\"\nprotocol = \"{proto}\"\n\
                 timeout = \"2s\""
            ));
            let mut sender = TraceSender::with_env(&cfg, &|_| None).unwrap();
            let err = sender
                .send(&base_resource(), vec![one_span()])
                .await
                .unwrap_err()
                .to_string();
            assert!(!err.contains("hunter2"), "{proto}: {err}");
            assert!(err.contains("127.0.0.1:1"), "{proto}: {err}");
        }
    }

    /// A one-request HTTP server on loopback: returns its base URL and a handle giving the
    /// request head it received (lower-cased).
    fn capture_one_request() -> (String, std::thread::JoinHandle<String>) {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let handle = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            let head_end = loop {
                let n = conn.read(&mut chunk).unwrap();
                assert!(n > 0, "connection closed before the request head");
                buf.extend_from_slice(&chunk[..n]);
                if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    break i + 4;
                }
            };
            let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map(|v| v.trim().parse().unwrap())
                .unwrap_or(0);
            while buf.len() < head_end + len {
                let n = conn.read(&mut chunk).unwrap();
                assert!(n > 0);
                buf.extend_from_slice(&chunk[..n]);
            }
            conn.write_all(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\n\
                  content-length: 0\r\nconnection: close\r\n\r\n",
            )
            .unwrap();
            head
        });
        (url, handle)
    }

    #[tokio::test]
    async fn config_header_values_are_sent_literally_over_http() {
        let (url, head) = capture_one_request();
        let cfg = otlp(&format!(
            "[otlp]\nendpoint = \"{url}\"\nprotocol = \"http/protobuf\"\n\
             [otlp.headers]\nx-token = \"a%41b\"\nx-raw = \"c%zz\"\nX-Upper = \"v\""
        ));
        let mut sender = TraceSender::with_env(&cfg, &|_| None).unwrap();
        sender
            .send(&base_resource(), vec![one_span()])
            .await
            .unwrap();
        let head = head.join().unwrap();
        assert!(head.starts_with("post /v1/traces "), "{head}");
        assert!(head.contains("\r\nx-token: a%41b\r\n"), "{head}");
        assert!(head.contains("\r\nx-raw: c%zz\r\n"), "{head}");
        assert!(head.contains("\r\nx-upper: v\r\n"), "{head}");
    }

    #[tokio::test]
    async fn metrics_over_http_carry_the_config_headers_and_gzip() {
        let (url, head) = capture_one_request();
        let cfg = otlp(&format!(
            "[otlp]\nendpoint = \"{url}\"\nprotocol = \"http/protobuf\"\ncompression = \"gzip\"\n\
             [otlp.headers]\nx-token = \"a%41b\""
        ));
        let sender = MetricSender::with_env(&cfg, &|_| None).unwrap();
        let t = crate::telemetry::Telemetry::new(base_resource());
        let req = metrics::request(&t.collect().unwrap(), &t.exemplars());
        sender.send(req).await.unwrap();
        let head = head.join().unwrap();
        assert!(head.starts_with("post /v1/metrics "), "{head}");
        assert!(head.contains("\r\nx-token: a%41b\r\n"), "{head}");
        assert!(head.contains("\r\ncontent-encoding: gzip\r\n"), "{head}");
        assert!(
            head.contains("\r\ncontent-type: application/x-protobuf\r\n"),
            "{head}"
        );
    }

    #[tokio::test]
    async fn a_metrics_export_failure_does_not_show_the_url_password() {
        for proto in ["grpc", "http/protobuf"] {
            let cfg = otlp(&format!(
                "[otlp]\nendpoint = \"http://u:hunter2@127.0.0.1:1\"\nprotocol = \"{proto}\"\n\
                 timeout = \"2s\""
            ));
            let sender = MetricSender::with_env(&cfg, &|_| None).unwrap();
            let t = crate::telemetry::Telemetry::new(base_resource());
            let req = metrics::request(&t.collect().unwrap(), &t.exemplars());
            let err = sender.send(req).await.unwrap_err().to_string();
            assert!(!err.contains("hunter2"), "{proto}: {err}");
            assert!(err.contains("127.0.0.1:1"), "{proto}: {err}");
        }
    }

    fn settings_with_header(protocol: Protocol, k: &str, v: &str) -> Settings {
        let mut cfg = OtlpConfig {
            protocol: Some(protocol),
            ..Default::default()
        };
        cfg.headers.insert(k.into(), Secret(v.into()));
        Settings::resolve(&cfg, Signal::Traces, &|_| None).unwrap()
    }

    #[test]
    fn grpc_metadata_replaces_what_the_exporter_merged_from_the_environment() {
        use tonic::service::Interceptor;
        let s = settings_with_header(Protocol::Grpc, "X-Key", "from-file");
        let mut i = MetadataInterceptor::new(&s, Signal::Traces).unwrap();
        // What opentelemetry-otlp's own interceptor leaves: explicit metadata, then the
        // headers variable's value appended.
        let mut req = tonic::Request::new(());
        req.metadata_mut()
            .append("x-key", "from-file".parse().unwrap());
        req.metadata_mut()
            .append("x-key", "from-env".parse().unwrap());
        req.metadata_mut()
            .append("x-other", "kept".parse().unwrap());
        let req = i.call(req).unwrap();
        let got: Vec<_> = req.metadata().get_all("x-key").iter().collect();
        assert_eq!(got, ["from-file"]);
        assert_eq!(req.metadata().get("x-other").unwrap(), "kept");
    }

    #[tokio::test]
    async fn http_headers_replace_what_the_exporter_set_from_the_environment() {
        use opentelemetry_http::HttpClient;
        let (url, head) = capture_one_request();
        let s = settings_with_header(Protocol::HttpProtobuf, "x-key", "a%41");
        let client = HeadersClient::new(&s, Signal::Traces, reqwest::Client::new()).unwrap();
        assert!(!format!("{client:?}").contains("a%41"));
        let req = opentelemetry_http::Request::post(format!("{url}/v1/traces"))
            .header("x-key", "decoded-or-from-env")
            .body(opentelemetry_http::Bytes::from_static(b"x"))
            .unwrap();
        client.send_bytes(req).await.unwrap();
        let head = head.join().unwrap();
        assert!(head.contains("\r\nx-key: a%41\r\n"), "{head}");
        assert!(!head.contains("decoded-or-from-env"), "{head}");
    }

    #[test]
    fn a_header_value_with_a_newline_is_an_error_on_both_protocols() {
        for proto in [Protocol::Grpc, Protocol::HttpProtobuf] {
            let mut cfg = OtlpConfig {
                protocol: Some(proto),
                endpoint: Some("http://127.0.0.1:4317".into()),
                ..Default::default()
            };
            cfg.headers
                .insert("x-api-key".into(), Secret("hun\nter2".into()));
            let err = TraceSender::with_env(&cfg, &|_| None)
                .err()
                .map(|e| e.to_string());
            let err = err.unwrap_or_else(|| panic!("{proto:?}: accepted"));
            assert!(err.contains("x-api-key"), "{err}");
            assert!(!err.contains("hun"), "{err}");
        }
    }

    #[tokio::test]
    async fn a_ca_file_that_is_not_pem_is_an_error_on_both_protocols() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        for (content, why) in [
            ("not a certificate\n", "no `-----BEGIN CERTIFICATE-----`"),
            (
                "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
                "no `",
            ),
            (
                "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
                "PEM",
            ),
            (
                "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
                "usable",
            ),
        ] {
            std::fs::write(&ca, content).unwrap();
            for (proto, endpoint) in [
                (Protocol::Grpc, "https://collector:4317"),
                (Protocol::Grpc, "http://collector:4317"),
                (Protocol::HttpProtobuf, "https://collector:4318"),
            ] {
                let cfg = OtlpConfig {
                    protocol: Some(proto),
                    endpoint: Some(endpoint.into()),
                    certificate: Some(ca.clone()),
                    ..Default::default()
                };
                let err = TraceSender::with_env(&cfg, &|_| None)
                    .err()
                    .map(|e| e.to_string());
                let err = err.unwrap_or_else(|| panic!("{proto:?} {endpoint}: accepted"));
                assert!(err.contains(&ca.display().to_string()), "{err}");
                assert!(err.contains(why), "{err}");
            }
        }
        std::fs::remove_file(&ca).unwrap();
        let cfg = OtlpConfig {
            certificate: Some(ca.clone()),
            ..Default::default()
        };
        let err = TraceSender::with_env(&cfg, &|_| None)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("cannot read") && err.contains(&ca.display().to_string()));
    }

    #[test]
    fn a_zero_timeout_or_empty_endpoint_in_the_file_is_an_error() {
        let err = Config::parse("[otlp]\ntimeout = \"0s\"", Path::new("bridge.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("otlp.timeout"), "{err}");
        let err = Config::parse("[otlp]\nendpoint = \"\"", Path::new("bridge.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("otlp.endpoint") && err.contains("empty"),
            "{err}"
        );
        let err = Config::parse(
            "[otlp]\nendpoint = \"u:hunter2@collector:4317\"",
            Path::new("bridge.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("otlp.endpoint") && err.contains("http://"),
            "{err}"
        );
        assert!(!err.contains("hunter2"), "{err}");
    }
}
