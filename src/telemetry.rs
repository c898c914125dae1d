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

/// One latest-value metric's series: (pipeline key, labels key) → (labels, value).
type MeasureSeries = BTreeMap<(String, String), (Labels, f64)>;

/// Gauge values the poller sets and the SDK reads at collection time. Per-pipeline values are
/// keyed by [`PipelineRef::key`], so a pipeline has one series each (replaced, not added to,
/// when its labels change) and all of them go when it is no longer watched.
#[derive(Debug, Default)]
struct Gauges {
    /// Runs in flight by (pipeline key, state).
    active: BTreeMap<(String, &'static str), (Labels, i64)>,
    /// Last success (Unix seconds).
    last_success: BTreeMap<String, (Labels, f64)>,
    /// Last final failure (Unix seconds); its labels carry its `error.type`.
    last_failure: BTreeMap<String, (Labels, f64)>,
    /// Configured SLA and success interval (seconds).
    sla: BTreeMap<String, (Labels, f64)>,
    max_interval: BTreeMap<String, (Labels, f64)>,
    /// Pipeline labels + team, project and failure severity.
    info: BTreeMap<String, (Labels, f64)>,
    /// Single values: last completed cycle, pending runs, last commit, configured poll
    /// interval, process start.
    poll_last_success: Option<f64>,
    runs_pending: i64,
    last_commit: Option<f64>,
    poll_interval: Option<f64>,
    start_time: Option<f64>,
    /// Per (account, region): last cycle that read it (Unix s) and its watermark lag (s).
    account_success: BTreeMap<(String, String), f64>,
    account_lag: BTreeMap<(String, String), f64>,
    /// Deadline state set, next deadline and met time (replaced every cycle).
    deadline_state: Vec<(Labels, f64)>,
    deadline_next: Vec<(Labels, f64)>,
    deadline_met: Vec<(Labels, f64)>,
    /// Arrival state set, next deadline and last arrival (replaced every cycle).
    arrival_state: Vec<(Labels, f64)>,
    arrival_next: Vec<(Labels, f64)>,
    arrival_last: Vec<(Labels, f64)>,
    /// Sources' latest-value metrics: metric name → (pipeline key, labels key) → value.
    measures: BTreeMap<&'static str, MeasureSeries>,
}

fn per_pipeline(m: &BTreeMap<String, (Labels, f64)>) -> Vec<(Labels, f64)> {
    m.values().cloned().collect()
}

fn per_account(m: &BTreeMap<(String, String), f64>) -> Vec<(Labels, f64)> {
    m.iter()
        .map(|((a, r), v)| (account_labels(a, r), *v))
        .collect()
}

/// Labels of an account and region's own series.
fn account_labels(account: &str, region: &str) -> Labels {
    vec![
        KeyValue::new(sc::CLOUD_ACCOUNT_ID, account.to_string()),
        KeyValue::new(sc::CLOUD_REGION, region.to_string()),
    ]
}

fn single(v: Option<f64>) -> Vec<(Labels, f64)> {
    v.map(|v| (Vec::new(), v)).into_iter().collect()
}

/// One exemplar of the run-duration histogram: a run recorded into the series, pointing at the
/// root span of its trace (the deterministic ids of `docs/ids.md`).
#[derive(Debug, Clone, PartialEq)]
pub struct RunExemplar {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    /// The run's duration (seconds).
    pub value: f64,
    /// The run's end (Unix nanoseconds).
    pub time_unix_nano: u64,
}

/// The exemplars of the run-duration histogram: per series (its attributes), the latest run
/// recorded into it in this process. Totals restored from the checkpoint bring none.
#[derive(Debug, Clone, Default)]
pub struct Exemplars {
    by_series: BTreeMap<String, RunExemplar>,
}

impl Exemplars {
    /// The key of a series: its attributes, sorted, whatever order they come in.
    pub fn series_key<K: AsRef<str>, V: AsRef<str>>(
        attrs: impl IntoIterator<Item = (K, V)>,
    ) -> String {
        let mut pairs: Vec<String> = attrs
            .into_iter()
            .map(|(k, v)| format!("{}={}", k.as_ref(), v.as_ref()))
            .collect();
        pairs.sort();
        pairs.join("\u{1f}")
    }

    /// The exemplar of the series with this [`Exemplars::series_key`].
    pub fn get(&self, series_key: &str) -> Option<&RunExemplar> {
        self.by_series.get(series_key)
    }

    pub fn len(&self) -> usize {
        self.by_series.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_series.is_empty()
    }

    /// Keeps `e` for the series unless it holds a run that ended later (exemplars of one
    /// series must not go back in time: Prometheus refuses out-of-order exemplars).
    fn offer(&mut self, series_key: String, e: RunExemplar) {
        match self.by_series.get(&series_key) {
            Some(old) if old.time_unix_nano > e.time_unix_nano => {}
            _ => {
                self.by_series.insert(series_key, e);
            }
        }
    }
}

fn kv_key(labels: &Labels) -> String {
    Exemplars::series_key(labels.iter().map(|kv| (kv.key.as_str(), kv.value.as_str())))
}

/// All instruments.
#[derive(Clone)]
pub struct Telemetry {
    provider: SdkMeterProvider,
    reader: Arc<ManualReader>,
    run_duration: Histogram<f64>,
    run_errors: Counter<u64>,
    runs: Counter<u64>,
    deadline_missed: Counter<u64>,
    arrival_missed: Counter<u64>,
    sla_breaches: Counter<u64>,
    system_errors: Counter<u64>,
    bridge_errors: Counter<u64>,
    task_duration: Histogram<f64>,
    dpu_usage: Counter<f64>,
    api_calls: Counter<u64>,
    cycle_duration: Histogram<f64>,
    export_failures: Counter<u64>,
    export_lag: Histogram<f64>,
    gauges: Arc<Mutex<Gauges>>,
    exemplars: Arc<Mutex<Exemplars>>,
    meter: Meter,
    /// Sources' summed metrics, created on first use, by name.
    sums: Arc<Mutex<BTreeMap<&'static str, Counter<f64>>>>,
    /// Sources' latest-value metrics whose gauge is registered.
    lasts: Arc<Mutex<std::collections::BTreeSet<&'static str>>>,
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

/// Largest bucket count [`Telemetry::restore`] refills (a histogram is refilled value by value;
/// a count beyond this is taken as damage and skipped).
const MAX_RESTORED_PER_BUCKET: u64 = 10_000_000;

/// Labels of the run-duration histogram (no `error.type`: it is on the errors counter, and
/// each new exception class would add a series per bucket).
fn duration_labels(pipeline: &Labels, result: &str) -> Labels {
    let mut l = pipeline.clone();
    l.push(KeyValue::new(sc::CICD_PIPELINE_RESULT, result.to_string()));
    l.push(KeyValue::new(
        sc::CICD_PIPELINE_RUN_STATE,
        RunPhase::Executing.as_str(),
    ));
    l
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
        let gauges = Arc::new(Mutex::new(Gauges {
            start_time: Some(crate::records::Millis::now().0 as f64 / 1000.0),
            ..Gauges::default()
        }));

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
        let gauge_reads: [(MetricDef, Read); 18] = [
            (sc::ARRIVAL_STATE, |g| g.arrival_state.clone()),
            (sc::ARRIVAL_NEXT, |g| g.arrival_next.clone()),
            (sc::ARRIVAL_LAST, |g| g.arrival_last.clone()),
            (sc::DEADLINE_STATE, |g| g.deadline_state.clone()),
            (sc::DEADLINE_NEXT, |g| g.deadline_next.clone()),
            (sc::DEADLINE_MET_AT, |g| g.deadline_met.clone()),
            (sc::LAST_SUCCESS, |g| per_pipeline(&g.last_success)),
            (sc::LAST_FAILURE, |g| per_pipeline(&g.last_failure)),
            (sc::PIPELINE_SLA, |g| per_pipeline(&g.sla)),
            (sc::PIPELINE_MAX_SUCCESS_INTERVAL, |g| {
                per_pipeline(&g.max_interval)
            }),
            (sc::PIPELINE_INFO, |g| per_pipeline(&g.info)),
            (sc::POLL_LAST_SUCCESS, |g| single(g.poll_last_success)),
            (sc::ACCOUNT_POLL_LAST_SUCCESS, |g| {
                per_account(&g.account_success)
            }),
            (sc::ACCOUNT_WATERMARK_LAG, |g| per_account(&g.account_lag)),
            (sc::CHECKPOINT_LAST_COMMIT, |g| single(g.last_commit)),
            (sc::RUNS_PENDING, |g| single(Some(g.runs_pending as f64))),
            (sc::POLL_INTERVAL, |g| single(g.poll_interval)),
            (sc::START_TIME, |g| single(g.start_time)),
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

        let bridge_errors = counter(&m, sc::BRIDGE_ERRORS);
        for (component, error_type) in [
            (sc::component::EXPORTER, "export_failed"),
            (sc::component::STATE, "commit_failed"),
        ] {
            // At 0 from the start, like the export failures: a first fault is an increase.
            bridge_errors.add(
                0,
                &[
                    KeyValue::new(sc::BRIDGE_COMPONENT, component),
                    KeyValue::new(sc::ERROR_TYPE, error_type),
                ],
            );
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
            deadline_missed: counter(&m, sc::DEADLINE_MISSED),
            arrival_missed: counter(&m, sc::ARRIVAL_MISSED),
            sla_breaches: counter(&m, sc::PIPELINE_SLA_BREACHES),
            system_errors: counter(&m, sc::SYSTEM_ERRORS),
            bridge_errors,
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
            exemplars: Default::default(),
            meter: m,
            sums: Default::default(),
            lasts: Default::default(),
            provider,
            reader,
        }
    }

    /// Records a run whose trace the collector acknowledged and whose checkpoint is committed.
    /// `error_label` is its `error.type` metric label, capped per pipeline
    /// ([`crate::state::Totals::error_label`]).
    pub fn record_run(&self, run: &PipelineRun, lag_secs: f64, error_label: Option<&str>) {
        let (Some(result), Some(end)) = (run.result(), run.end) else {
            return;
        };
        let labels = pipeline_labels(&run.pipeline);
        let duration_labels = duration_labels(&labels, result.as_str());
        for (phase, secs) in run.phase_durations() {
            let mut l = labels.clone();
            l.push(KeyValue::new(sc::CICD_PIPELINE_RESULT, result.as_str()));
            l.push(KeyValue::new(sc::CICD_PIPELINE_RUN_STATE, phase.as_str()));
            self.run_duration.record(secs, &l);
        }
        let (trace_id, root_id) = crate::convert::spans::trace_and_root(run);
        if let Ok(mut ex) = self.exemplars.lock() {
            ex.offer(
                kv_key(&duration_labels),
                RunExemplar {
                    trace_id: trace_id.to_bytes(),
                    span_id: root_id.to_bytes(),
                    value: run.phase_durations().last().map_or(0.0, |(_, secs)| *secs),
                    time_unix_nano: u64::try_from(end.0.max(run.start.0))
                        .unwrap_or(0)
                        .saturating_mul(1_000_000),
                },
            );
        }
        let mut l = labels.clone();
        l.push(KeyValue::new(sc::CICD_PIPELINE_RESULT, result.as_str()));
        self.runs.add(1, &l);
        if run.breached_sla() {
            self.sla_breaches.add(1, &labels);
        }
        if result.is_error() {
            let mut l = labels.clone();
            l.push(KeyValue::new(
                sc::ERROR_TYPE,
                error_label
                    .unwrap_or(crate::state::OTHER_ERROR_TYPE)
                    .to_string(),
            ));
            self.run_errors.add(1, &l);
        }
        if let Some(d) = run.dpu_seconds {
            self.dpu_usage.add(d, &labels);
        }
        for m in &run.measures {
            if m.kind == crate::model::MeasureKind::Sum && m.value.is_finite() {
                let mut l = labels.clone();
                l.extend(m.labels.iter().map(|(k, v)| KeyValue::new(*k, v.clone())));
                self.sum(m.metric).add(m.value, &l);
            }
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

    /// Starts a pipeline's run counters and duration histogram from the totals committed by
    /// earlier processes (call once per process and pipeline, before recording its runs). The
    /// histogram gets each bucket's count back exactly, and its sum: each bucket is refilled
    /// with its mean, which lies inside the bucket.
    pub fn restore(&self, p: &PipelineRef, t: &crate::state::Totals) {
        let labels = pipeline_labels(p);
        for (result, n) in &t.runs {
            let mut l = labels.clone();
            l.push(KeyValue::new(sc::CICD_PIPELINE_RESULT, result.clone()));
            self.runs.add(*n, &l);
        }
        for (et, n) in &t.errors {
            let mut l = labels.clone();
            l.push(KeyValue::new(sc::ERROR_TYPE, et.clone()));
            self.run_errors.add(*n, &l);
        }
        if t.sla_breaches > 0 {
            self.sla_breaches.add(t.sla_breaches, &labels);
        }
        if t.dpu_seconds > 0.0 {
            self.dpu_usage.add(t.dpu_seconds, &labels);
        }
        for m in t
            .measures
            .values()
            .filter(|m| !m.last && m.value.is_finite())
        {
            let Some(def) = crate::sources::metric(&m.metric) else {
                continue; // a metric of a source this version does not have
            };
            let mut l = labels.clone();
            l.extend(
                m.labels
                    .iter()
                    .map(|(k, v)| KeyValue::new(k.clone(), v.clone())),
            );
            self.sum(def).add(m.value, &l);
        }
        for (result, h) in &t.pending {
            let mut l = labels.clone();
            l.push(KeyValue::new(sc::CICD_PIPELINE_RESULT, result.clone()));
            l.push(KeyValue::new(
                sc::CICD_PIPELINE_RUN_STATE,
                RunPhase::Pending.as_str(),
            ));
            self.refill(h, &l);
        }
        // Stored by result and error type (`result|type`): the histograms of one result are
        // refilled into its one series.
        for (key, h) in &t.durations {
            let result = key.split_once('|').map_or(key.as_str(), |(r, _)| r);
            self.refill(h, &duration_labels(&labels, result));
        }
    }

    /// Records a stored histogram into the duration histogram under `l`: each bucket's count
    /// exactly, each value the bucket's mean (which lies inside the bucket).
    fn refill(&self, h: &crate::state::Hist, l: &Labels) {
        let bounds = sc::DURATION_BUCKETS;
        for (i, (&c, &sum)) in h.counts.iter().zip(&h.sums).enumerate() {
            // A stored histogram is data from disk: more buckets than today's (an older or
            // newer version), a non-finite sum or an absurd count must not panic or hang.
            let mean = sum / c as f64;
            if c == 0 || c > MAX_RESTORED_PER_BUCKET || !mean.is_finite() {
                continue;
            }
            let lo = i
                .checked_sub(1)
                .and_then(|j| bounds.get(j))
                .map_or(f64::MIN, |b| b.next_up());
            let hi = bounds.get(i).copied().unwrap_or(f64::MAX).max(lo);
            let mean = mean.clamp(lo, hi);
            for _ in 0..c {
                self.run_duration.record(mean, l);
            }
        }
    }

    /// The counter of a source's summed metric.
    fn sum(&self, def: &'static MetricDef) -> Counter<f64> {
        let mut sums = self.sums.lock().unwrap_or_else(|e| e.into_inner());
        sums.entry(def.name)
            .or_insert_with(|| {
                self.meter
                    .f64_counter(def.name)
                    .with_unit(def.unit)
                    .with_description(def.description)
                    .build()
            })
            .clone()
    }

    /// Sets a pipeline's latest-value source metrics from its committed totals.
    pub fn set_measures(&self, p: &PipelineRef, t: &crate::state::Totals) {
        for m in t
            .measures
            .values()
            .filter(|m| m.last && m.value.is_finite())
        {
            let Some(def) = crate::sources::metric(&m.metric) else {
                continue;
            };
            self.register_last(def);
            let mut l = pipeline_labels(p);
            l.extend(
                m.labels
                    .iter()
                    .map(|(k, v)| KeyValue::new(k.clone(), v.clone())),
            );
            if let Ok(mut g) = self.gauges.lock() {
                g.measures
                    .entry(def.name)
                    .or_default()
                    .insert((p.key(), kv_key(&l)), (l, m.value));
            }
        }
    }

    /// Registers the gauge of a latest-value metric once; it reads `Gauges::measures`.
    fn register_last(&self, def: &'static MetricDef) {
        let mut lasts = self.lasts.lock().unwrap_or_else(|e| e.into_inner());
        if !lasts.insert(def.name) {
            return;
        }
        let g = self.gauges.clone();
        let name = def.name;
        let _ = self
            .meter
            .f64_observable_gauge(def.name)
            .with_unit(def.unit)
            .with_description(def.description)
            .with_callback(move |obs| {
                if let Ok(g) = g.lock() {
                    for (labels, v) in g.measures.get(name).into_iter().flat_map(|m| m.values()) {
                        obs.observe(*v, labels);
                    }
                }
            })
            .build();
    }

    /// Sets the runs in flight: `(pipeline, state) → count`, every state of every watched
    /// pipeline (0 when none); pipelines not in `known` lose their series.
    pub fn set_active(
        &self,
        counts: &BTreeMap<(PipelineRef, RunPhase), i64>,
        known: &[PipelineRef],
    ) {
        let Ok(mut g) = self.gauges.lock() else {
            return;
        };
        g.active.clear();
        for p in known {
            for phase in [RunPhase::Pending, RunPhase::Executing, RunPhase::Finalizing] {
                let n = counts.get(&(p.clone(), phase)).copied().unwrap_or(0);
                let mut l = pipeline_labels(p);
                l.push(KeyValue::new(sc::CICD_PIPELINE_RUN_STATE, phase.as_str()));
                g.active.insert((p.key(), phase.as_str()), (l, n));
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
        let key = p.key();
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
        info.push(KeyValue::new(
            sc::FAILURE_SEVERITY,
            e.failure_severity.map_or("", |s| s.as_str()),
        ));
        g.info.insert(key, (info, 1.0));
    }

    /// Drops every per-pipeline gauge series (info, SLA, success interval, last success, last
    /// failure, runs in flight) of pipelines not in `watched`: a pipeline that is no longer
    /// listed or no longer matches the config stops being reported, so its series go stale.
    /// Its counters and histograms stay (they are cumulative, and come back where they were
    /// if it is watched again).
    pub fn retain_pipelines(&self, watched: &[PipelineRef]) {
        let keep: std::collections::HashSet<String> = watched.iter().map(|p| p.key()).collect();
        let Ok(mut g) = self.gauges.lock() else {
            return;
        };
        let g = &mut *g;
        for m in [
            &mut g.info,
            &mut g.sla,
            &mut g.max_interval,
            &mut g.last_success,
            &mut g.last_failure,
        ] {
            m.retain(|k, _| keep.contains(k));
        }
        g.active.retain(|(k, _), _| keep.contains(k));
        for m in g.measures.values_mut() {
            m.retain(|(k, _), _| keep.contains(k));
        }
    }

    /// Records a completed cycle that read AWS and committed its checkpoint (Unix ms).
    pub fn set_poll_success(&self, at_ms: i64) {
        if let Ok(mut g) = self.gauges.lock() {
            g.poll_last_success = Some(at_ms as f64 / 1000.0);
        }
    }

    /// Sets an account and region's health: the last cycle that read it (Unix ms) and its
    /// watermark lag (s). Accounts not in `keep` lose their series.
    pub fn set_account_health(&self, health: &BTreeMap<(String, String), (i64, f64)>) {
        if let Ok(mut g) = self.gauges.lock() {
            g.account_success = health
                .iter()
                .map(|(k, (at, _))| (k.clone(), *at as f64 / 1000.0))
                .collect();
            g.account_lag = health
                .iter()
                .map(|(k, (_, lag))| (k.clone(), *lag))
                .collect();
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
            g.last_success
                .insert(p.key(), (pipeline_labels(p), end_ms as f64 / 1000.0));
        }
    }

    /// Sets a pipeline's last final failure (epoch ms) and its `error.type` label: the
    /// pipeline's one series, replacing one with another error type.
    pub fn set_last_failure(&self, p: &PipelineRef, end_ms: i64, error_type: &str) {
        if let Ok(mut g) = self.gauges.lock() {
            let mut l = pipeline_labels(p);
            l.push(KeyValue::new(sc::ERROR_TYPE, error_type.to_string()));
            g.last_failure.insert(p.key(), (l, end_ms as f64 / 1000.0));
        }
    }

    /// Publishes where every deadline stands (replacing the previous cycle's series) and counts
    /// the misses not counted yet.
    pub fn set_deadlines(&self, reports: &[crate::deadlines::DeadlineReport]) {
        use crate::schedule::DayStatus;
        let (mut state, mut next, mut met) = (Vec::new(), Vec::new(), Vec::new());
        for r in reports {
            let mut base = pipeline_labels(&r.pipeline);
            base.push(KeyValue::new(sc::BRIDGE_DEADLINE, r.label.clone()));
            self.deadline_missed.add(u64::from(r.newly_missed), &base);
            let ev = &r.evaluation;
            let periods: [(&str, Option<DayStatus>, &[&str]); 2] = [
                (
                    "previous",
                    ev.previous.map(|o| o.status),
                    &["met", "missed", "late"],
                ),
                ("next", Some(ev.next.status), &["met", "pending"]),
            ];
            for (period, status, states) in periods {
                let Some(status) = status else { continue };
                let current = match status {
                    DayStatus::Met { at } => {
                        let mut l = base.clone();
                        l.push(KeyValue::new(sc::PERIOD, period));
                        met.push((l, at.0 as f64 / 1000.0));
                        "met"
                    }
                    DayStatus::Missed if r.late_at.is_some() => "late",
                    DayStatus::Missed => "missed",
                    DayStatus::Pending => "pending",
                };
                for &s in states {
                    let mut l = base.clone();
                    l.push(KeyValue::new(sc::PERIOD, period));
                    l.push(KeyValue::new(sc::STATE, s));
                    state.push((l, f64::from(u8::from(s == current))));
                }
            }
            next.push((base, ev.next.deadline.0 as f64 / 1000.0));
        }
        if let Ok(mut g) = self.gauges.lock() {
            g.deadline_state = state;
            g.deadline_next = next;
            g.deadline_met = met;
        }
    }

    /// Publishes where every S3 arrival stands (replacing the previous cycle's series) and
    /// counts the misses not counted yet.
    pub fn set_arrivals(&self, reports: &[crate::arrivals::ArrivalReport]) {
        let (mut state, mut next, mut last) = (Vec::new(), Vec::new(), Vec::new());
        for r in reports {
            let mut base = vec![
                KeyValue::new(sc::BRIDGE_ARRIVAL, r.name.clone()),
                KeyValue::new(sc::AWS_S3_BUCKET, r.bucket.clone()),
                KeyValue::new(sc::CLOUD_ACCOUNT_ID, r.account.clone()),
                KeyValue::new(sc::CLOUD_REGION, r.region.clone()),
            ];
            if let Some(t) = &r.team {
                base.push(KeyValue::new(sc::TEAM, t.clone()));
            }
            if let Some(p) = &r.project {
                base.push(KeyValue::new(sc::PROJECT, p.clone()));
            }
            self.arrival_missed.add(u64::from(r.newly_missed), &base);
            let periods: [(&str, Option<&str>, &[&str]); 2] = [
                ("previous", r.previous, &["met", "missed", "late"]),
                ("next", Some(r.next), &["met", "pending"]),
            ];
            for (period, current, states) in periods {
                let Some(current) = current else { continue };
                for &s in states {
                    let mut l = base.clone();
                    l.push(KeyValue::new(sc::PERIOD, period));
                    l.push(KeyValue::new(sc::STATE, s));
                    state.push((l, f64::from(u8::from(s == current))));
                }
            }
            if let Some(at) = r.last_arrival {
                last.push((base.clone(), at.0 as f64 / 1000.0));
            }
            next.push((base, r.next_deadline.0 as f64 / 1000.0));
        }
        if let Ok(mut g) = self.gauges.lock() {
            g.arrival_state = state;
            g.arrival_next = next;
            g.arrival_last = last;
        }
    }

    /// Sets the configured poll interval.
    pub fn set_poll_interval(&self, d: Duration) {
        if let Ok(mut g) = self.gauges.lock() {
            g.poll_interval = Some(d.as_secs_f64());
        }
    }

    /// The run-duration exemplars: per series, the latest run recorded into it.
    pub fn exemplars(&self) -> Exemplars {
        self.exemplars.lock().map(|e| e.clone()).unwrap_or_default()
    }

    /// Counts a fault of the bridge outside AWS (`component`: [`sc::component`]).
    pub fn bridge_error(&self, component: &str, error_type: &str) {
        self.bridge_errors.add(
            1,
            &[
                KeyValue::new(sc::BRIDGE_COMPONENT, component.to_string()),
                KeyValue::new(sc::ERROR_TYPE, error_type.to_string()),
            ],
        );
    }

    /// Counts a failed AWS call of a source (`component`: its `SourceSpec::component`) in an
    /// account and region.
    pub fn system_error(&self, component: &str, error_type: &str, account: &str, region: &str) {
        self.system_errors.add(
            1,
            &[
                KeyValue::new(sc::CICD_SYSTEM_COMPONENT, component.to_string()),
                KeyValue::new(sc::ERROR_TYPE, error_type.to_string()),
                KeyValue::new(sc::CLOUD_ACCOUNT_ID, account.to_string()),
                KeyValue::new(sc::CLOUD_REGION, region.to_string()),
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

    /// An observer that counts AWS calls of one account and region.
    pub fn api_observer(&self, account: &str, region: &str) -> Arc<dyn ApiObserver> {
        Arc::new(RegionApiObserver {
            counter: self.api_calls.clone(),
            account: account.to_string(),
            region: region.to_string(),
        })
    }

    pub fn shutdown(&self) {
        let _ = self.provider.shutdown();
    }
}

struct RegionApiObserver {
    counter: Counter<u64>,
    account: String,
    region: String,
}

impl std::fmt::Debug for RegionApiObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RegionApiObserver({}/{})", self.account, self.region)
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
                KeyValue::new(sc::CLOUD_ACCOUNT_ID, self.account.clone()),
            ],
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{RunError, RunStatus};
    use crate::records::Millis;
    use crate::state::Totals;
    use std::collections::BTreeMap;

    fn run(i: u32) -> PipelineRun {
        let result = [
            RunResult::Success,
            RunResult::Failure,
            RunResult::Timeout,
            RunResult::Cancellation,
        ][i as usize % 4];
        let secs = [0.3, 4.0, 59.5, 61.25, 3599.0, 100_000.0, 250_000.0][i as usize % 7];
        PipelineRun {
            // Every third run reports its time in the queue: a third of its duration.
            queued_until: i
                .is_multiple_of(3)
                .then(|| Millis(1_000_000 + (secs * 333.0) as i64)),
            parent: None,
            links: Vec::new(),
            measures: Vec::new(),
            pipeline: crate::sources::glue_job::pipeline("123456789012", "eu-west-1", "job"),
            run_id: format!("jr_{i}"),
            attempt: 0,
            previous_run_id: None,
            aws_state: String::new(),
            status: RunStatus::Ended(result),
            start: Millis(1_000_000),
            end: Some(Millis(1_000_000 + (secs * 1000.0) as i64)),
            error: result.is_error().then(|| RunError {
                // 30 distinct types: past the per-pipeline cap.
                error_type: format!("com.example.Error{}", i % 30),
                message: "boom".into(),
            }),
            will_retry: false,
            dpu_seconds: Some(f64::from(i) * 0.5),
            url: None,
            sla_secs: Some(60.0),
            attributes: vec![],
            tasks: vec![],
        }
    }

    /// `name{labels}` → value, for the series of pipeline `job` (task series excluded: they are
    /// not persisted).
    fn series(t: &Telemetry) -> BTreeMap<String, f64> {
        let text = crate::export::prometheus::render(&t.collect().unwrap());
        text.lines()
            .filter(|l| l.contains("cicd_pipeline_name=\"job\"") && !l.contains("task"))
            .filter_map(|l| {
                let (k, v) = l.rsplit_once(' ')?;
                Some((k.to_string(), v.parse().ok()?))
            })
            .collect()
    }

    #[test]
    fn restored_totals_read_exactly_like_the_counts_they_came_from() {
        let p = crate::sources::glue_job::pipeline("123456789012", "eu-west-1", "job");
        let live = Telemetry::new(Resource::builder_empty().build());
        let mut totals = Totals::default();
        for i in 0..500 {
            let r = run(i);
            let label = totals.count(&r, sc::DURATION_BUCKETS);
            live.record_run(&r, 0.0, label.as_deref());
        }
        let restarted = Telemetry::new(Resource::builder_empty().build());
        restarted.restore(&p, &totals);
        let (a, b) = (series(&live), series(&restarted));
        assert!(a.len() > 40, "{a:?}");
        assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
        for (k, va) in &a {
            let vb = b[k];
            assert!(
                (va - vb).abs() <= 1e-9 * va.abs().max(1.0),
                "{k}: live {va} restored {vb}"
            );
        }
        // The cap: 20 error types per pipeline, the rest counted as _OTHER.
        let types: std::collections::BTreeSet<&str> = a
            .keys()
            .filter(|k| k.starts_with("cicd_pipeline_run_errors"))
            .filter_map(|k| k.split("error_type=\"").nth(1)?.split('"').next())
            .collect();
        assert_eq!(types.len(), 21, "{types:?}");
        assert!(types.contains("_OTHER"));
        // The duration histogram has one series per result, without `error_type`, live and
        // restored (the stored `result|type` histograms merge into it).
        let durations: Vec<&String> = a
            .keys()
            .filter(|k| k.starts_with("cicd_pipeline_run_duration_seconds_count"))
            .collect();
        // Per result and state: 4 results executing, and pending for the runs that queued.
        assert_eq!(durations.len(), 8, "{durations:?}");
        assert!(durations
            .iter()
            .any(|k| k.contains("cicd_pipeline_run_state=\"pending\"")));
        assert!(
            a.keys()
                .chain(b.keys())
                .filter(|k| k.starts_with("cicd_pipeline_run_duration"))
                .all(|k| !k.contains("error_type")),
            "{a:?}"
        );
        // SLA breaches: runs longer than the 60 s SLA, cancellations excepted.
        let breaches = (0..500)
            .map(run)
            .filter(|r| r.result() != Some(RunResult::Cancellation) && r.duration_secs() > 60.0)
            .count() as f64;
        let key = |m: &str| {
            a.keys()
                .find(|k| k.starts_with(m))
                .unwrap_or_else(|| panic!("{m}"))
                .clone()
        };
        assert_eq!(
            a[&key("pipeline_bridge_pipeline_sla_breaches_total")],
            breaches
        );
        assert_eq!(
            b[&key("pipeline_bridge_pipeline_sla_breaches_total")],
            breaches
        );
    }

    fn text(t: &Telemetry) -> String {
        crate::export::prometheus::render(&t.collect().unwrap())
    }

    /// The lines of series `name` (exactly: not its `_bucket` etc.).
    fn lines<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
        text.lines()
            .filter(|l| {
                l.strip_prefix(name)
                    .is_some_and(|r| r.starts_with(['{', ' ']))
            })
            .collect()
    }

    #[test]
    fn the_last_failure_is_one_series_per_pipeline_with_its_error_type() {
        let t = Telemetry::new(Resource::builder_empty().build());
        let p = crate::sources::glue_job::pipeline("123456789012", "eu-west-1", "job");
        let other = crate::sources::glue_job::pipeline("123456789012", "eu-west-1", "other");
        let name = "pipeline_bridge_pipeline_last_failure_timestamp_seconds";
        t.set_last_failure(&p, 1_000_000, "java.lang.OutOfMemoryError");
        t.set_last_failure(&other, 3_000_000, "TIMEOUT");
        let out = text(&t);
        let l = lines(&out, name);
        assert_eq!(l.len(), 2, "{out}");
        assert!(l.iter().any(|l| l.contains("cicd_pipeline_name=\"job\"")
            && l.contains("error_type=\"java.lang.OutOfMemoryError\"")
            && l.ends_with(" 1000")));
        // A newer failure of another type replaces the series: no stale second one.
        t.set_last_failure(&p, 2_000_000, "_OTHER");
        let out = text(&t);
        let l: Vec<&str> = lines(&out, name)
            .into_iter()
            .filter(|l| l.contains("cicd_pipeline_name=\"job\""))
            .collect();
        assert_eq!(l.len(), 1, "{out}");
        assert!(
            l[0].contains("error_type=\"_OTHER\"") && l[0].ends_with(" 2000"),
            "{out}"
        );
    }

    #[test]
    fn a_pipeline_no_longer_watched_loses_its_gauges_but_not_its_counters() {
        let t = Telemetry::new(Resource::builder_empty().build());
        let gone = crate::sources::glue_job::pipeline("123456789012", "eu-west-1", "gone");
        let kept = crate::sources::sfn::pipeline("123456789012", "eu-west-1", "kept", "arn:sm");
        let e = crate::config::Expectations {
            sla: Some(Duration::from_secs(60)),
            max_success_interval: Some(Duration::from_secs(3600)),
            team: Some("data".into()),
            project: None,
            failure_severity: Some(crate::config::FailureSeverity::Critical),
        };
        for p in [&gone, &kept] {
            t.set_pipeline(p, &e);
            t.set_last_success(p, 1_000);
            t.set_last_failure(p, 2_000, "E");
        }
        let mut counts = BTreeMap::new();
        counts.insert((gone.clone(), RunPhase::Executing), 1);
        t.set_active(&counts, &[gone.clone(), kept.clone()]);
        let gauges = [
            "pipeline_bridge_pipeline_info",
            "pipeline_bridge_pipeline_sla_seconds",
            "pipeline_bridge_pipeline_max_success_interval_seconds",
            "pipeline_bridge_pipeline_last_success_timestamp_seconds",
            "pipeline_bridge_pipeline_last_failure_timestamp_seconds",
            "cicd_pipeline_run_active",
        ];
        let of = |out: &str, name: &str, p: &str| {
            lines(out, name)
                .into_iter()
                .filter(|l| l.contains(&format!("cicd_pipeline_name=\"{p}\"")))
                .count()
        };
        let out = text(&t);
        for g in gauges {
            assert!(
                of(&out, g, "gone") > 0 && of(&out, g, "kept") > 0,
                "{g}: {out}"
            );
        }
        assert!(out.contains("failure_severity=\"critical\""), "{out}");

        // The next cycle watches only `kept`.
        t.retain_pipelines(std::slice::from_ref(&kept));
        t.set_active(&BTreeMap::new(), std::slice::from_ref(&kept));
        let out = text(&t);
        for g in gauges {
            assert_eq!(of(&out, g, "gone"), 0, "{g}: {out}");
            assert!(of(&out, g, "kept") > 0, "{g}: {out}");
        }
        assert_eq!(
            of(&out, "pipeline_bridge_pipeline_runs_total", "gone"),
            5,
            "counters stay: {out}"
        );
    }

    #[test]
    fn info_has_an_empty_failure_severity_when_none_is_configured() {
        let t = Telemetry::new(Resource::builder_empty().build());
        let p = crate::sources::glue_job::pipeline("1", "r", "job");
        t.set_pipeline(&p, &crate::config::Expectations::default());
        let out = text(&t);
        let info = lines(&out, "pipeline_bridge_pipeline_info");
        assert_eq!(info.len(), 1, "{out}");
        assert!(
            info[0].contains("failure_severity=\"\"") && info[0].contains("team=\"\""),
            "{out}"
        );
    }

    #[test]
    fn poll_interval_and_start_time_are_single_gauges() {
        let before = crate::records::Millis::now().0 as f64 / 1000.0;
        let t = Telemetry::new(Resource::builder_empty().build());
        let out = text(&t);
        let start = lines(&out, "pipeline_bridge_start_time_seconds");
        assert_eq!(start.len(), 1, "{out}");
        let v: f64 = start[0].rsplit_once(' ').unwrap().1.parse().unwrap();
        assert!(v >= before.floor() && v <= before + 60.0, "{v} vs {before}");
        assert!(lines(&out, "pipeline_bridge_poll_interval_seconds").is_empty());
        t.set_poll_interval(Duration::from_secs(90));
        let out = text(&t);
        assert_eq!(
            lines(&out, "pipeline_bridge_poll_interval_seconds"),
            ["pipeline_bridge_poll_interval_seconds 90"]
        );
    }

    #[test]
    fn each_duration_series_keeps_the_latest_run_as_its_exemplar() {
        let t = Telemetry::new(Resource::builder_empty().build());
        let mut a = run(0); // success
        a.run_id = "a".into();
        let mut b = run(4); // success, later end
        b.run_id = "b".into();
        b.end = Some(Millis(a.end.unwrap().0 + 10_000));
        let mut c = run(1); // failure
        c.run_id = "c".into();
        t.record_run(&b, 0.0, None);
        t.record_run(&a, 0.0, None); // exported later, ended earlier: not the exemplar
        t.record_run(&c, 0.0, Some("E"));
        let ex = t.exemplars();
        assert_eq!(ex.len(), 2);
        let key = |result: &str| {
            let mut l = pipeline_labels(&b.pipeline);
            l.push(KeyValue::new(sc::CICD_PIPELINE_RESULT, result.to_string()));
            l.push(KeyValue::new(sc::CICD_PIPELINE_RUN_STATE, "executing"));
            kv_key(&l)
        };
        let got = ex.get(&key("success")).unwrap();
        let k = crate::convert::spans::run_key(&b);
        assert_eq!(got.trace_id, k.trace_id().to_bytes());
        assert_eq!(got.span_id, k.root_span_id().to_bytes());
        assert_eq!(got.value, b.duration_secs());
        assert_eq!(got.time_unix_nano, b.end.unwrap().0 as u64 * 1_000_000);
        let got = ex.get(&key("failure")).unwrap();
        assert_eq!(
            got.trace_id,
            crate::convert::spans::run_key(&c).trace_id().to_bytes()
        );
        // Restored totals bring no exemplar.
        let restarted = Telemetry::new(Resource::builder_empty().build());
        let mut totals = Totals::default();
        totals.count(&a, sc::DURATION_BUCKETS);
        restarted.restore(&a.pipeline, &totals);
        assert!(restarted.exemplars().is_empty());
    }

    #[test]
    fn restoring_odd_stored_totals_does_not_panic() {
        let p = crate::sources::glue_job::pipeline("1", "r", "job");
        let t = Telemetry::new(Resource::builder_empty().build());
        let mut totals = Totals::default();
        let n = sc::DURATION_BUCKETS.len() + 5;
        let hist = |counts: Vec<u64>, sums: Vec<f64>| crate::state::Hist { counts, sums };
        totals
            .durations
            .insert("success|".into(), hist(vec![1; n], vec![5.0; n]));
        totals.durations.insert(
            "failure|X".into(),
            hist(vec![u64::MAX, 2, 1], vec![f64::NAN, f64::INFINITY, -3.0]),
        );
        totals
            .durations
            .insert("timeout".into(), hist(vec![3], vec![]));
        t.restore(&p, &totals);
        assert!(!series(&t).is_empty());
    }
}
