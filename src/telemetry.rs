//! The bridge's metrics: pipeline metrics from finished runs and its own health.
//!
//! Instruments live in one [`SdkMeterProvider`] read by a [`ManualReader`]; the poller collects
//! and exports after each cycle, so `--once` exports exactly what the cycle saw and nothing is
//! sent from a background thread behind the checkpoint's back.

use crate::aws::{ApiObserver, Outcome};
use crate::model::{PipelineRef, PipelineRun, RunPhase, RunResult};
use crate::semconv::{self as sc, MetricDef};
use opentelemetry::metrics::{Counter, Histogram, Meter, MeterProvider as _};
use opentelemetry::KeyValue;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::reader::MetricReader;
use opentelemetry_sdk::metrics::{
    InstrumentKind, ManualReader, Pipeline, SdkMeterProvider, Temporality,
};
use opentelemetry_sdk::Resource;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

/// A `ManualReader` the poller keeps a handle to after giving it to the provider.
#[derive(Debug, Clone)]
struct SharedReader(Arc<ManualReader>);

impl MetricReader for SharedReader {
    fn register_pipeline(&self, pipeline: Weak<Pipeline>) {
        self.0.register_pipeline(pipeline)
    }
    fn collect(&self, rm: &mut ResourceMetrics) -> OTelSdkResult {
        self.0.collect(rm)
    }
    fn force_flush(&self) -> OTelSdkResult {
        self.0.force_flush()
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }
    fn temporality(&self, kind: InstrumentKind) -> Temporality {
        self.0.temporality(kind)
    }
}

type Labels = Vec<KeyValue>;

/// Gauge values the poller sets and the SDK reads at collection time.
#[derive(Debug, Default)]
struct Gauges {
    /// Runs in flight by (pipeline labels + state).
    active: BTreeMap<String, (Labels, i64)>,
    /// Last success (Unix seconds) by pipeline labels.
    last_success: BTreeMap<String, (Labels, f64)>,
    /// Configured SLA and success interval (seconds), by pipeline labels.
    sla: BTreeMap<String, (Labels, f64)>,
    max_interval: BTreeMap<String, (Labels, f64)>,
    /// Pipeline labels + team and project.
    info: BTreeMap<String, (Labels, f64)>,
    /// Single values: last completed cycle, pending runs, last commit.
    poll_last_success: Option<f64>,
    runs_pending: i64,
    last_commit: Option<f64>,
}

fn per_pipeline(m: &BTreeMap<String, (Labels, f64)>) -> Vec<(Labels, f64)> {
    m.values().cloned().collect()
}

fn single(v: Option<f64>) -> Vec<(Labels, f64)> {
    v.map(|v| (Vec::new(), v)).into_iter().collect()
}

/// All instruments.
#[derive(Clone)]
pub struct Telemetry {
    provider: SdkMeterProvider,
    reader: Arc<ManualReader>,
    run_duration: Histogram<f64>,
    run_errors: Counter<u64>,
    runs: Counter<u64>,
    sla_breaches: Counter<u64>,
    system_errors: Counter<u64>,
    task_duration: Histogram<f64>,
    dpu_usage: Counter<f64>,
    api_calls: Counter<u64>,
    cycle_duration: Histogram<f64>,
    export_failures: Counter<u64>,
    export_lag: Histogram<f64>,
    gauges: Arc<Mutex<Gauges>>,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Telemetry")
    }
}

fn hist(m: &Meter, d: MetricDef, buckets: &[f64]) -> Histogram<f64> {
    m.f64_histogram(d.name)
        .with_unit(d.unit)
        .with_description(d.description)
        .with_boundaries(buckets.to_vec())
        .build()
}

fn counter(m: &Meter, d: MetricDef) -> Counter<u64> {
    m.u64_counter(d.name)
        .with_unit(d.unit)
        .with_description(d.description)
        .build()
}

/// Attributes of a pipeline on its metrics (never run ids).
pub fn pipeline_labels(p: &PipelineRef) -> Labels {
    vec![
        KeyValue::new(sc::CICD_PIPELINE_NAME, p.name.clone()),
        KeyValue::new(sc::BRIDGE_PIPELINE_KIND, p.kind.as_str()),
        KeyValue::new(sc::CLOUD_ACCOUNT_ID, p.account.clone()),
        KeyValue::new(sc::CLOUD_REGION, p.region.clone()),
    ]
}

fn key_of(labels: &Labels) -> String {
    labels
        .iter()
        .map(|kv| format!("{}={}", kv.key, kv.value))
        .collect::<Vec<_>>()
        .join("\u{1f}")
}

impl Telemetry {
    pub fn new(resource: Resource) -> Self {
        let reader = Arc::new(
            ManualReader::builder()
                .with_temporality(Temporality::Cumulative)
                .build(),
        );
        let provider = SdkMeterProvider::builder()
            .with_resource(resource)
            .with_reader(SharedReader(reader.clone()))
            .build();
        let m = provider.meter_with_scope(crate::convert::spans::scope());
        let gauges = Arc::new(Mutex::new(Gauges::default()));

        let g = gauges.clone();
        let _active = m
            .i64_observable_up_down_counter(sc::RUN_ACTIVE.name)
            .with_unit(sc::RUN_ACTIVE.unit)
            .with_description(sc::RUN_ACTIVE.description)
            .with_callback(move |obs| {
                if let Ok(g) = g.lock() {
                    for (labels, v) in g.active.values() {
                        obs.observe(*v, labels);
                    }
                }
            })
            .build();
        // Gauges read from `Gauges` at collection time: per-pipeline maps and single values.
        type Read = fn(&Gauges) -> Vec<(Labels, f64)>;
        let gauge_reads: [(MetricDef, Read); 7] = [
            (sc::LAST_SUCCESS, |g| per_pipeline(&g.last_success)),
            (sc::PIPELINE_SLA, |g| per_pipeline(&g.sla)),
            (sc::PIPELINE_MAX_SUCCESS_INTERVAL, |g| {
                per_pipeline(&g.max_interval)
            }),
            (sc::PIPELINE_INFO, |g| per_pipeline(&g.info)),
            (sc::POLL_LAST_SUCCESS, |g| single(g.poll_last_success)),
            (sc::CHECKPOINT_LAST_COMMIT, |g| single(g.last_commit)),
            (sc::RUNS_PENDING, |g| single(Some(g.runs_pending as f64))),
        ];
        for (def, read) in gauge_reads {
            let g = gauges.clone();
            let _ = m
                .f64_observable_gauge(def.name)
                .with_unit(def.unit)
                .with_description(def.description)
                .with_callback(move |obs| {
                    if let Ok(g) = g.lock() {
                        for (labels, v) in read(&g) {
                            obs.observe(v, &labels);
                        }
                    }
                })
                .build();
        }

        let export_failures = counter(&m, sc::EXPORT_FAILURES);
        for signal in ["traces", "metrics"] {
            // Start at 0 so that dashboards show the series and a first failure is an increase.
            export_failures.add(0, &[KeyValue::new(sc::SIGNAL, signal)]);
        }
        Telemetry {
            run_duration: hist(&m, sc::RUN_DURATION, sc::DURATION_BUCKETS),
            run_errors: counter(&m, sc::RUN_ERRORS),
            runs: counter(&m, sc::PIPELINE_RUNS),
            sla_breaches: counter(&m, sc::PIPELINE_SLA_BREACHES),
            system_errors: counter(&m, sc::SYSTEM_ERRORS),
            task_duration: hist(&m, sc::TASK_DURATION, sc::DURATION_BUCKETS),
            dpu_usage: m
                .f64_counter(sc::GLUE_DPU_USAGE.name)
                .with_unit(sc::GLUE_DPU_USAGE.unit)
                .with_description(sc::GLUE_DPU_USAGE.description)
                .build(),
            api_calls: counter(&m, sc::AWS_API_CALLS),
            cycle_duration: hist(&m, sc::POLL_CYCLE_DURATION, sc::FAST_BUCKETS),
            export_failures,
            export_lag: hist(&m, sc::EXPORT_LAG, sc::FAST_BUCKETS),
            gauges,
            provider,
            reader,
        }
    }

    /// Records a run whose trace the collector acknowledged and whose checkpoint is committed.
    pub fn record_run(&self, run: &PipelineRun, lag_secs: f64) {
        let Some(result) = run.result() else { return };
        let labels = pipeline_labels(&run.pipeline);
        let mut duration_labels = labels.clone();
        duration_labels.push(KeyValue::new(sc::CICD_PIPELINE_RESULT, result.as_str()));
        duration_labels.push(KeyValue::new(
            sc::CICD_PIPELINE_RUN_STATE,
            RunPhase::Executing.as_str(),
        ));
        if let Some(err) = &run.error {
            duration_labels.push(KeyValue::new(sc::ERROR_TYPE, err.error_type.clone()));
        }
        self.run_duration
            .record(run.duration_secs(), &duration_labels);
        let mut l = labels.clone();
        l.push(KeyValue::new(sc::CICD_PIPELINE_RESULT, result.as_str()));
        self.runs.add(1, &l);
        if run.sla_secs.is_some_and(|sla| run.duration_secs() > sla) {
            self.sla_breaches.add(1, &labels);
        }
        if result.is_error() {
            let err_type = run
                .error
                .as_ref()
                .map_or("_OTHER".to_string(), |e| e.error_type.clone());
            let mut l = labels.clone();
            l.push(KeyValue::new(sc::ERROR_TYPE, err_type));
            self.run_errors.add(1, &l);
        }
        if let Some(d) = run.dpu_seconds {
            self.dpu_usage.add(d, &labels);
        }
        for top in &run.tasks {
            for t in top.walk() {
                if t.kind == "TaskAttempt" || t.kind == "MapIteration" {
                    continue;
                }
                let mut l = labels.clone();
                l.push(KeyValue::new(sc::CICD_PIPELINE_TASK_NAME, t.name.clone()));
                l.push(KeyValue::new(
                    sc::CICD_PIPELINE_TASK_RUN_RESULT,
                    t.result.as_str(),
                ));
                l.push(KeyValue::new(sc::BRIDGE_TASK_TYPE, t.kind.clone()));
                self.task_duration.record(t.duration_secs(), &l);
            }
        }
        self.export_lag.record(lag_secs, &[]);
    }

    /// Sets the runs in flight: `(pipeline, state) → count`; pipelines absent read 0.
    pub fn set_active(
        &self,
        counts: &BTreeMap<(PipelineRef, RunPhase), i64>,
        known: &[PipelineRef],
    ) {
        let Ok(mut g) = self.gauges.lock() else {
            return;
        };
        // Zero every series ever seen, so a run that ended shows as 0, not as a stale 1.
        for (_, v) in g.active.values_mut() {
            *v = 0;
        }
        for p in known {
            for phase in [RunPhase::Pending, RunPhase::Executing, RunPhase::Finalizing] {
                let n = counts.get(&(p.clone(), phase)).copied().unwrap_or(0);
                let mut l = pipeline_labels(p);
                l.push(KeyValue::new(sc::CICD_PIPELINE_RUN_STATE, phase.as_str()));
                g.active.insert(key_of(&l), (l, n));
            }
        }
    }

    /// Publishes what the config says about a watched pipeline, and starts its run counters at
    /// 0 so that a first failure is an increase Prometheus can see.
    pub fn set_pipeline(&self, p: &PipelineRef, e: &crate::config::Expectations) {
        let labels = pipeline_labels(p);
        for r in [
            RunResult::Success,
            RunResult::Failure,
            RunResult::Timeout,
            RunResult::Error,
            RunResult::Cancellation,
        ] {
            let mut l = labels.clone();
            l.push(KeyValue::new(sc::CICD_PIPELINE_RESULT, r.as_str()));
            self.runs.add(0, &l);
        }
        if e.sla.is_some() {
            self.sla_breaches.add(0, &labels);
        }
        let Ok(mut g) = self.gauges.lock() else {
            return;
        };
        let key = key_of(&labels);
        match e.sla {
            Some(d) => g.sla.insert(key.clone(), (labels.clone(), d.as_secs_f64())),
            None => g.sla.remove(&key),
        };
        match e.max_success_interval {
            Some(d) => g
                .max_interval
                .insert(key.clone(), (labels.clone(), d.as_secs_f64())),
            None => g.max_interval.remove(&key),
        };
        let mut info = labels;
        info.push(KeyValue::new(sc::TEAM, e.team.clone().unwrap_or_default()));
        info.push(KeyValue::new(
            sc::PROJECT,
            e.project.clone().unwrap_or_default(),
        ));
        g.info.insert(key, (info, 1.0));
    }

    /// Records a completed cycle whose exports were acknowledged (Unix ms).
    pub fn set_poll_success(&self, at_ms: i64) {
        if let Ok(mut g) = self.gauges.lock() {
            g.poll_last_success = Some(at_ms as f64 / 1000.0);
        }
    }

    /// Records a successful checkpoint commit (Unix ms).
    pub fn set_commit(&self, at_ms: i64) {
        if let Ok(mut g) = self.gauges.lock() {
            g.last_commit = Some(at_ms as f64 / 1000.0);
        }
    }

    /// Sets the number of finished runs awaiting an acknowledged export.
    pub fn set_pending(&self, n: usize) {
        if let Ok(mut g) = self.gauges.lock() {
            g.runs_pending = n as i64;
        }
    }

    /// Sets a pipeline's last success (epoch ms).
    pub fn set_last_success(&self, p: &PipelineRef, end_ms: i64) {
        if let Ok(mut g) = self.gauges.lock() {
            let l = pipeline_labels(p);
            g.last_success
                .insert(key_of(&l), (l, end_ms as f64 / 1000.0));
        }
    }

    /// Counts a fault of the bridge itself.
    pub fn system_error(&self, component: &str, error_type: &str) {
        self.system_errors.add(
            1,
            &[
                KeyValue::new(sc::CICD_SYSTEM_COMPONENT, component.to_string()),
                KeyValue::new(sc::ERROR_TYPE, error_type.to_string()),
            ],
        );
    }

    pub fn export_failed(&self, signal: &str) {
        self.export_failures
            .add(1, &[KeyValue::new(sc::SIGNAL, signal.to_string())]);
    }

    pub fn cycle_done(&self, secs: f64, ok: bool) {
        self.cycle_duration.record(
            secs,
            &[KeyValue::new(
                sc::OUTCOME,
                if ok { "success" } else { "error" },
            )],
        );
    }

    /// Collects the current cumulative values for export.
    pub fn collect(&self) -> Result<ResourceMetrics, String> {
        let mut rm = ResourceMetrics::default();
        self.reader.collect(&mut rm).map_err(|e| e.to_string())?;
        Ok(rm)
    }

    /// An observer that counts AWS calls of one region.
    pub fn api_observer(&self, region: &str) -> Arc<dyn ApiObserver> {
        Arc::new(RegionApiObserver {
            counter: self.api_calls.clone(),
            region: region.to_string(),
        })
    }

    pub fn shutdown(&self) {
        let _ = self.provider.shutdown();
    }
}

struct RegionApiObserver {
    counter: Counter<u64>,
    region: String,
}

impl std::fmt::Debug for RegionApiObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RegionApiObserver({})", self.region)
    }
}

impl ApiObserver for RegionApiObserver {
    fn record(&self, service: &str, operation: &str, outcome: Outcome) {
        self.counter.add(
            1,
            &[
                KeyValue::new(sc::AWS_SERVICE, service.to_string()),
                KeyValue::new(sc::AWS_OPERATION, operation.to_string()),
                KeyValue::new(sc::OUTCOME, outcome.as_str()),
                KeyValue::new(sc::CLOUD_REGION, self.region.clone()),
            ],
        );
    }
}
