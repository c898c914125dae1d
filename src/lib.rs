//! `pipeline-otel-bridge` turns AWS pipeline runs into OpenTelemetry: one trace per run attempt
//! with a span per step, plus run metrics. Each AWS service is a source of its own
//! (`sources/`); the poller, the CLI and the config are generic over them.
//!
//! # Data flow
//! ```text
//! sources/    one folder per AWS service behind the `Source` trait, and the registry (ALL):
//!   <name>/aws.rs      SDK calls and paging only ──► <name>/records.rs (wire-shaped structs)
//!   <name>/convert.rs  records ──► model.rs (PipelineRun, TaskRun): pure, snapshot-tested
//!   <name>/mod.rs      its SourceSpec (config key, kind, IAM actions) and discover/scan/probe
//!   scan.rs            the one scan every source uses (new, awaited, exported runs)
//! aws/        what sources share to reach AWS: call counting, AwsError, paging helpers
//! convert/    model ──► spans (pure, snapshot-tested); helpers for the sources' conversions
//! errors.rs   error chains as one line, each cause once
//! config.rs   the TOML config: the sources' tables, OTLP, per-pipeline expectations
//! poller.rs   per cycle: discover, scan each pipeline, export, commit checkpoints, count
//! export/     OTLP span and metric exporters (gRPC or HTTP, gzip, TLS, headers);
//!             prometheus.rs renders the same metrics as Prometheus text
//! state/      checkpoints behind `CheckpointStore` (local: redb file)
//! telemetry.rs  metric instruments, collected and exported once per cycle
//! render.rs   runs as trees in the terminal; sanitize.rs makes AWS text safe to print
//! schedule.rs deadlines ("by 06:00 Europe/Berlin on weekdays"): met, missed or pending, pure;
//!             not wired into the poller yet
//! serve.rs    optional HTTP endpoint: /metrics (Prometheus text), /healthz, /readyz
//! app.rs      the subcommands; main.rs parses arguments and logging only
//! semconv.rs  every attribute key and metric name; ids.rs the deterministic ids
//! ```
//!
//! # Adding a source
//! 1. A folder `src/sources/<name>/` shaped like `sources/glue_job/`:
//!    - `records.rs`: the API's records in their wire shape (`serde`, the API's JSON casing),
//!      so a fixture is an API answer as AWS sends it;
//!    - `aws.rs`: the SDK calls (paging, `AwsError::from_sdk`, `PageCutoff` for listings);
//!    - `convert.rs`: records → [`model::PipelineRun`] with its tasks, console link and
//!      attributes: pure, no SDK type, no clock;
//!    - `mod.rs`: its `KIND` (a name that never changes: it is in ids and state keys), its
//!      `SPEC` ([`sources::SourceSpec`]: config table, component, the IAM actions of every
//!      call it makes, `connect`), and a [`sources::Source`] whose `scan` builds a
//!      [`sources::RunSource`] and calls [`sources::scan::scan`], which holds the rules on new,
//!      awaited and exported runs.
//! 2. One line in [`sources::ALL`]. The config table, `[[pipelines]] kind`, `check`, `runs`,
//!    `run`, `trace-id --kind` and the `component` of its AWS faults follow from it.
//! 3. Fixtures under `tests/fixtures/<name>/` with snapshot tests, an end-to-end test against
//!    moto (`testing/`), the source's page in `docs/sources/`, and its kind in the alert
//!    rules' and dashboards' console links.
//!
//! A run is exported once, when it ends; its checkpoint moves only after the collector
//! acknowledged its trace, and its metrics are recorded only after the checkpoint is committed,
//! so a run is never lost nor counted twice across restarts.
//!
//! Around the crate: `tests/` (fixtures and snapshots, `e2e.rs` against moto and a real OTLP
//! collector, `ops.rs` against real Prometheus, Alertmanager and vmagent), `testing/` (the moto
//! harness, seed scenarios, backend installers), `collector-config/`, `prometheus/`,
//! `grafana/`, `compose/` with `docker-compose.yml`, and `docs/`.

pub mod app;
pub mod arrivals;
pub mod aws;
pub mod config;
pub mod convert;
pub mod deadlines;
pub mod errors;
pub mod export;
pub mod ids;
pub mod model;
pub mod poller;
pub mod records;
pub mod render;
pub mod sanitize;
pub mod schedule;
pub mod semconv;
pub mod serve;
pub mod sources;
pub mod state;
pub mod telemetry;
