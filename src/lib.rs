//! `pipeline-otel-bridge` turns AWS pipeline runs (Glue job runs, Step Functions executions)
//! into OpenTelemetry: one trace per run attempt with a span per step, plus run metrics.
//!
//! # Data flow
//! ```text
//! aws/        SDK calls and paging only ──► records.rs (AWS wire-shaped structs)
//! convert/    records ──► model.rs (PipelineRun, TaskRun) ──► spans (pure, snapshot-tested)
//! errors.rs   error chains as one line, each cause once
//! config.rs   the TOML config: sources, OTLP, per-pipeline expectations ([[pipelines]])
//! source.rs   one trait per pipeline source (Glue job, state machine) and the one scan
//! poller.rs   per cycle: discover, scan each pipeline, export, commit checkpoints, count
//! export/     OTLP span and metric exporters (gRPC or HTTP, gzip, TLS, headers);
//!             prometheus.rs renders the same metrics as Prometheus text
//! state/      checkpoints behind `CheckpointStore` (local: redb file)
//! telemetry.rs  metric instruments, collected and exported once per cycle
//! render.rs   runs as trees in the terminal; sanitize.rs makes AWS text safe to print
//! serve.rs    optional HTTP endpoint: /metrics (Prometheus text), /healthz, /readyz
//! app.rs      the subcommands; main.rs parses arguments and logging only
//! semconv.rs  every attribute key and metric name; ids.rs the deterministic ids
//! ```
//! A run is exported once, when it ends; its checkpoint moves only after the collector
//! acknowledged its trace, and its metrics are recorded only after the checkpoint is committed,
//! so a run is never lost nor counted twice across restarts.
//!
//! Around the crate: `tests/` (fixtures and snapshots, `e2e.rs` against moto and a real OTLP
//! collector, `ops.rs` against real Prometheus, Alertmanager and vmagent), `testing/` (the moto
//! harness, seed scenarios, backend installers), `collector-config/`, `prometheus/`,
//! `grafana/`, `compose/` with `docker-compose.yml`, and `docs/`.

pub mod app;
pub mod aws;
pub mod config;
pub mod convert;
pub mod errors;
pub mod export;
pub mod ids;
pub mod model;
pub mod poller;
pub mod records;
pub mod render;
pub mod sanitize;
pub mod semconv;
pub mod serve;
pub mod source;
pub mod state;
pub mod telemetry;
