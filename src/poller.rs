//! The poll cycle: discover pipelines, read their runs, export the finished ones, then move
//! the checkpoints and count the runs.
//!
//! ```text
//! discover (cached) ─► per pipeline, concurrently: list runs since cutoff, re-read in-flight
//!        runs, fetch history of newly finished executions ─► convert (pure)
//!   ─► export spans per resource ─► on ack: commit checkpoints ─► record metrics ─► export metrics
//! ```
//! One failing pipeline or API never stops the cycle; its error is logged and counted.

use crate::aws::{self, ApiCounts, AwsError, CallCounter};
use crate::config::{Config, ExpectationRules, Filters};
use crate::convert::{glue as cglue, sfn as csfn, spans};
use crate::export::{self, ExportError, MetricSender, TraceSender};
use crate::model::{PipelineKind, PipelineRef, PipelineRun, RunPhase, RunStatus};
use crate::records::{GlueJob, Millis, SfnStateMachine};
use crate::semconv::component;
use crate::state::{Checkpoint, CheckpointStore};
use crate::telemetry::Telemetry;
use futures::StreamExt;
use opentelemetry_sdk::Resource;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;
use tracing::{debug, info, warn};

/// Phase recorded for a run that ended but could not be exported yet (not counted as active).
const FINISHED_NOT_EXPORTED: &str = "finished";

/// SDK clients of one account and region.
#[derive(Clone, Debug)]
pub struct RegionClients {
    pub region: String,
    pub account: String,
    pub glue: aws_sdk_glue::Client,
    pub sfn: aws_sdk_sfn::Client,
}

/// Builds clients for every configured region (or the ambient one) and resolves the account.
pub async fn connect(
    cfg: &Config,
    observers: &dyn Fn(&str) -> Vec<Arc<dyn aws::ApiObserver>>,
) -> anyhow::Result<Vec<RegionClients>> {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    // A throttled call is retried briefly and then left to the next cycle, so one throttled
    // pipeline cannot hold a cycle for long. AWS_MAX_ATTEMPTS / AWS_RETRY_MODE still win.
    if std::env::var_os("AWS_MAX_ATTEMPTS").is_none()
        && std::env::var_os("AWS_RETRY_MODE").is_none()
    {
        loader = loader.retry_config(
            aws_config::retry::RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(std::time::Duration::from_millis(500))
                .with_max_backoff(std::time::Duration::from_secs(5)),
        );
    }
    if let Some(url) = &cfg.aws.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    if let Some(p) = &cfg.aws.profile {
        loader = loader.profile_name(p);
    }
    let base = loader.load().await;
    let regions: Vec<String> = if cfg.aws.regions.is_empty() {
        vec![base.region().map(|r| r.to_string()).ok_or_else(|| {
            anyhow::anyhow!(
                "no AWS region: set AWS_REGION, a profile region, or `aws.regions` in the config"
            )
        })?]
    } else {
        cfg.aws.regions.clone()
    };
    let mut out = Vec::new();
    for region in regions {
        let counter = CallCounter::new(observers(&region));
        let sdk = base
            .to_builder()
            .region(aws_config::Region::new(region.clone()))
            .build();
        let sts = aws_sdk_sts::Client::from_conf(
            aws_sdk_sts::config::Builder::from(&sdk)
                .interceptor(counter.clone())
                .build(),
        );
        let account = match sts.get_caller_identity().send().await {
            Ok(id) => id.account().unwrap_or("unknown").to_string(),
            Err(e) => {
                let e = AwsError::from_sdk("sts", "GetCallerIdentity", &region, e);
                warn!(error = %e, "cannot resolve the AWS account id; using `unknown`");
                "unknown".to_string()
            }
        };
        out.push(RegionClients {
            glue: aws_sdk_glue::Client::from_conf(
                aws_sdk_glue::config::Builder::from(&sdk)
                    .interceptor(counter.clone())
                    .build(),
            ),
            sfn: aws_sdk_sfn::Client::from_conf(
                aws_sdk_sfn::config::Builder::from(&sdk)
                    .interceptor(counter)
                    .build(),
            ),
            region,
            account,
        });
    }
    Ok(out)
}

/// A pipeline to poll, with its cached definition.
#[derive(Clone, Debug)]
pub enum Target {
    Glue(PipelineRef, Option<GlueJob>),
    Sfn(PipelineRef),
}

impl Target {
    pub fn pipeline(&self) -> &PipelineRef {
        match self {
            Target::Glue(p, _) | Target::Sfn(p) => p,
        }
    }
}

/// What one pipeline's poll found.
#[derive(Debug, Default)]
pub struct PipelineScan {
    /// Runs that ended and were not exported yet.
    pub finished: Vec<PipelineRun>,
    /// Runs still in flight.
    pub in_flight: Vec<PipelineRun>,
    /// In-flight runs AWS no longer returns (expired from its history).
    pub gone: Vec<String>,
    /// Finished runs whose details could not be fetched: kept in the checkpoint and re-read
    /// next cycle, so a moving watermark cannot leave them behind.
    pub retry: Vec<(String, Millis)>,
    /// Errors that skipped single runs (the rest of the scan stands).
    pub errors: Vec<AwsError>,
}

/// Reads one pipeline's runs since `cutoff`, re-reading the runs `cp` has in flight.
pub async fn scan(
    clients: &RegionClients,
    target: &Target,
    cp: &Checkpoint,
    cutoff: Millis,
) -> Result<PipelineScan, AwsError> {
    let mut out = PipelineScan::default();
    let region = clients.region.as_str();
    let account = clients.account.as_str();
    match target {
        Target::Glue(p, job) => {
            let mut runs = aws::glue::list_job_runs(&clients.glue, region, &p.name, cutoff).await?;
            for id in cp.in_flight.keys() {
                if runs.iter().any(|r| &r.id == id) {
                    continue;
                }
                match aws::glue::get_job_run(&clients.glue, region, &p.name, id).await {
                    Ok(Some(r)) => runs.push(r),
                    Ok(None) => out.gone.push(id.clone()),
                    Err(e) => out.errors.push(e),
                }
            }
            for r in &runs {
                let Some(run) = cglue::to_run(account, region, job.as_ref(), r) else {
                    continue;
                };
                classify(run, cp, cutoff, &mut out);
            }
        }
        Target::Sfn(p) => {
            let mut execs = aws::sfn::list_executions(&clients.sfn, region, &p.arn, cutoff).await?;
            for arn in cp.in_flight.keys() {
                if execs.iter().any(|e| &e.execution_arn == arn) {
                    continue;
                }
                match aws::sfn::describe_execution(&clients.sfn, region, arn).await {
                    Ok(Some(e)) => execs.push(e),
                    Ok(None) => out.gone.push(arn.clone()),
                    Err(e) => out.errors.push(e),
                }
            }
            for e in &execs {
                let Some(run) = csfn::to_run(account, region, &p.name, e, &[]) else {
                    continue;
                };
                let wanted = run.end.is_some()
                    && !cp.is_exported(&run.run_id)
                    && (run.start >= cutoff || cp.in_flight.contains_key(&run.run_id));
                if !wanted {
                    classify(run, cp, cutoff, &mut out);
                    continue;
                }
                // Newly finished: its error/cause (not in ListExecutions) and history, once.
                let detail = if e.error.is_none() && run.result().is_some_and(|r| r.is_error()) {
                    match aws::sfn::describe_execution(&clients.sfn, region, &e.execution_arn).await
                    {
                        Ok(Some(d)) => d,
                        Ok(None) => e.clone(),
                        Err(err) => {
                            out.errors.push(err);
                            out.retry.push((run.run_id.clone(), run.start));
                            continue;
                        }
                    }
                } else {
                    e.clone()
                };
                match aws::sfn::get_execution_history(&clients.sfn, region, &e.execution_arn).await
                {
                    Ok(history) => {
                        if let Some(run) = csfn::to_run(account, region, &p.name, &detail, &history)
                        {
                            classify(run, cp, cutoff, &mut out);
                        }
                    }
                    Err(err) => {
                        out.errors.push(err);
                        out.retry.push((run.run_id.clone(), run.start));
                    }
                }
            }
        }
    }
    Ok(out)
}

fn classify(run: PipelineRun, cp: &Checkpoint, cutoff: Millis, out: &mut PipelineScan) {
    let tracked = cp.in_flight.contains_key(&run.run_id);
    if run.start < cutoff && !tracked {
        return; // older than the window and not awaited: handled by an earlier cycle
    }
    match run.status {
        RunStatus::InFlight(_) => out.in_flight.push(run),
        RunStatus::Ended(_) if !cp.is_exported(&run.run_id) => out.finished.push(run),
        RunStatus::Ended(_) => {}
    }
}

/// Discovered pipelines of one region, refreshed every `discovery_interval`.
#[derive(Default)]
pub struct Discovery {
    pub glue_jobs: Vec<GlueJob>,
    pub state_machines: Vec<SfnStateMachine>,
    /// When both lists were last read successfully.
    pub fetched: Option<Instant>,
}

/// Reads the job and state machine lists of the enabled sources into `d`; a list that fails
/// keeps its previous content. Returns the errors.
pub async fn discover(cfg: &Config, rc: &RegionClients, d: &mut Discovery) -> Vec<AwsError> {
    let mut errors = Vec::new();
    if cfg.glue.enabled {
        match aws::glue::list_jobs(&rc.glue, &rc.region).await {
            Ok(jobs) => d.glue_jobs = jobs,
            Err(e) => errors.push(e),
        }
    }
    if cfg.step_functions.enabled {
        match aws::sfn::list_state_machines(&rc.sfn, &rc.region).await {
            Ok(sms) => d.state_machines = sms,
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        d.fetched = Some(Instant::now());
    }
    errors
}

/// The pipelines to poll in one region: enabled sources, names passing the filters. Express
/// state machines are left out: they keep no history to poll.
pub fn targets(cfg: &Config, filters: &Filters, rc: &RegionClients, d: &Discovery) -> Vec<Target> {
    let mut out = Vec::new();
    if cfg.glue.enabled {
        out.extend(
            d.glue_jobs
                .iter()
                .filter(|j| filters.glue.matches(&j.name))
                .map(|j| {
                    Target::Glue(
                        PipelineRef::glue_job(&rc.account, &rc.region, &j.name),
                        Some(j.clone()),
                    )
                }),
        );
    }
    if cfg.step_functions.enabled {
        out.extend(
            d.state_machines
                .iter()
                .filter(|m| m.kind != "EXPRESS" && filters.step_functions.matches(&m.name))
                .map(|m| {
                    Target::Sfn(PipelineRef::state_machine(
                        &rc.account,
                        &rc.region,
                        &m.name,
                        &m.state_machine_arn,
                    ))
                }),
        );
    }
    out
}

/// The outcome of one cycle.
#[derive(Debug, Default)]
pub struct CycleReport {
    /// Runs exported and checkpointed this cycle.
    pub exported: Vec<PipelineRun>,
    /// Finished runs whose export failed (retried next cycle).
    pub not_exported: Vec<PipelineRun>,
    pub in_flight: usize,
    pub pipelines: usize,
    /// Errors that skipped pipelines or runs.
    pub errors: Vec<String>,
    pub trace_export_error: Option<String>,
    pub metric_export_error: Option<String>,
}

impl CycleReport {
    pub fn export_ok(&self) -> bool {
        self.trace_export_error.is_none() && self.metric_export_error.is_none()
    }
}

/// The daemon's state between cycles.
pub struct Poller {
    cfg: Config,
    filters: Filters,
    expectations: ExpectationRules,
    /// Pipelines whose metric series were already exported at 0.
    initialized: std::collections::HashSet<String>,
    regions: Vec<RegionClients>,
    discovery: HashMap<String, Discovery>,
    store: Box<dyn CheckpointStore>,
    checkpoints: BTreeMap<String, Checkpoint>,
    telemetry: Telemetry,
    traces: TraceSender,
    metrics: MetricSender,
    base_resource: Resource,
    api_counts: Arc<ApiCounts>,
}

impl Poller {
    pub fn new(
        cfg: Config,
        regions: Vec<RegionClients>,
        store: Box<dyn CheckpointStore>,
        telemetry: Telemetry,
        api_counts: Arc<ApiCounts>,
    ) -> anyhow::Result<Self> {
        let filters = cfg.filters()?;
        let expectations = cfg.expectations();
        let checkpoints = store.load_all()?;
        let traces = TraceSender::new(&cfg.otlp)?;
        let metrics = MetricSender::new(&cfg.otlp)?;
        let p = Poller {
            filters,
            expectations,
            initialized: Default::default(),
            regions,
            discovery: HashMap::new(),
            store,
            checkpoints,
            telemetry,
            traces,
            metrics,
            base_resource: export::base_resource(),
            api_counts,
            cfg,
        };
        p.publish_gauges(&[]);
        Ok(p)
    }

    /// AWS calls so far, one line.
    pub fn api_summary(&self) -> String {
        self.api_counts.summary()
    }

    async fn refresh_discovery(&mut self, errors: &mut Vec<String>) {
        for rc in &self.regions {
            let d = self.discovery.entry(rc.region.clone()).or_default();
            if d.fetched
                .is_some_and(|t| t.elapsed() < self.cfg.discovery_interval)
            {
                continue;
            }
            for e in discover(&self.cfg, rc, d).await {
                let comp = if e.service == "glue" {
                    component::GLUE
                } else {
                    component::STEP_FUNCTIONS
                };
                self.telemetry.system_error(comp, &e.error_type());
                warn!(error = %e, account = %rc.account, "discovery failed; keeping the previous list");
                errors.push(e.to_string());
            }
        }
    }

    fn targets(&self) -> Vec<(RegionClients, Target)> {
        self.regions
            .iter()
            .filter_map(|rc| Some((rc, self.discovery.get(&rc.region)?)))
            .flat_map(|(rc, d)| {
                targets(&self.cfg, &self.filters, rc, d)
                    .into_iter()
                    .map(move |t| (rc.clone(), t))
            })
            .collect()
    }

    /// Runs one full cycle at wall-clock `now`.
    pub async fn cycle(&mut self, now: Millis) -> CycleReport {
        let started = Instant::now();
        let mut report = CycleReport::default();
        self.refresh_discovery(&mut report.errors).await;
        let targets = self.targets();
        report.pipelines = targets.len();
        let watched: Vec<PipelineRef> = targets.iter().map(|(_, t)| t.pipeline().clone()).collect();
        let lookback = self.cfg.lookback.as_millis() as i64;
        let rescan = self.cfg.rescan_window.as_millis() as i64;

        let mut scans: Vec<(Target, Result<PipelineScan, AwsError>)> = {
            let checkpoints = &self.checkpoints;
            futures::stream::iter(targets)
                .map(|(rc, t)| async move {
                    let cp = checkpoints
                        .get(&t.pipeline().key())
                        .cloned()
                        .unwrap_or_default();
                    let cutoff = cp.cutoff(now, lookback, rescan);
                    let r = scan(&rc, &t, &cp, cutoff).await;
                    (t, r)
                })
                .buffer_unordered(self.cfg.concurrency)
                .collect()
                .await
        };

        // New pipelines get their counters exported at 0 before any run is counted, so that a
        // first run (or a first-start backfill) is an increase Prometheus can see.
        let mut fresh = false;
        for p in &watched {
            if self.initialized.insert(p.key()) {
                let e = self.expectations.for_pipeline(p.kind.as_str(), &p.name);
                self.telemetry.set_pipeline(p, &e);
                fresh = true;
            }
        }
        if fresh {
            let _ = self.export_metrics().await;
        }

        for (_, r) in scans.iter_mut() {
            for run in r.iter_mut().flat_map(|s| s.finished.iter_mut()) {
                let p = &run.pipeline;
                let e = self.expectations.for_pipeline(p.kind.as_str(), &p.name);
                run.sla_secs = e.sla.map(|d| d.as_secs_f64());
            }
        }

        // Export finished runs grouped by resource (account, region, kind).
        let mut groups: BTreeMap<(String, String, PipelineKind), Vec<&PipelineRun>> =
            BTreeMap::new();
        for (t, r) in &scans {
            match r {
                Ok(s) => {
                    for e in &s.errors {
                        self.count_aws_error(e);
                        warn!(pipeline = %t.pipeline().name, error = %e, "skipped a run this cycle");
                        report.errors.push(e.to_string());
                    }
                    for run in &s.finished {
                        let p = &run.pipeline;
                        groups
                            .entry((p.account.clone(), p.region.clone(), p.kind))
                            .or_default()
                            .push(run);
                    }
                }
                Err(e) => {
                    self.count_aws_error(e);
                    warn!(pipeline = %t.pipeline().name, error = %e, "pipeline skipped this cycle");
                    report.errors.push(e.to_string());
                }
            }
        }
        let mut acked: HashMap<String, bool> = HashMap::new(); // pipeline key → all its runs acked
        for runs in groups.values() {
            let resource = export::pipeline_resource(&self.base_resource, &runs[0].pipeline);
            let spans: Vec<_> = runs.iter().flat_map(|r| spans::to_spans(r)).collect();
            let ok = match self.traces.send(&resource, spans).await {
                Ok(()) => true,
                Err(e) => {
                    self.telemetry.export_failed("traces");
                    self.telemetry
                        .system_error(component::EXPORTER, "export_failed");
                    warn!(error = %e, runs = runs.len(), "trace export failed; the runs stay pending and are retried next cycle");
                    report.trace_export_error.get_or_insert(e.to_string());
                    false
                }
            };
            for r in runs {
                let k = r.pipeline.key();
                let prev = acked.get(&k).copied().unwrap_or(true);
                acked.insert(k, prev && ok);
            }
        }

        // Move checkpoints: only for pipelines whose finished runs were all acknowledged.
        let mut changes = Vec::new();
        let mut to_record = Vec::new();
        for (t, r) in scans {
            let Ok(s) = r else { continue };
            let key = t.pipeline().key();
            let before = self.checkpoints.get(&key).cloned().unwrap_or_default();
            let mut cp = before.clone();
            if acked.get(&key).copied().unwrap_or(true) {
                for run in &s.finished {
                    let end = run.end.unwrap_or(run.start);
                    let success = run.result() == Some(crate::model::RunResult::Success);
                    cp.mark_exported(&run.run_id, run.start, end, success, rescan);
                }
                to_record.extend(s.finished);
            } else {
                report.not_exported.extend(s.finished);
            }
            for run in &s.in_flight {
                let phase = match run.status {
                    RunStatus::InFlight(ph) => ph,
                    RunStatus::Ended(_) => RunPhase::Executing,
                };
                cp.mark_in_flight(&run.run_id, run.start, phase.as_str());
            }
            for (id, start) in &s.retry {
                cp.mark_in_flight(id, *start, FINISHED_NOT_EXPORTED);
            }
            for id in &s.gone {
                warn!(pipeline = %t.pipeline().name, run_id = %id, "in-flight run no longer listed by AWS; forgetting it");
                cp.in_flight.remove(id);
            }
            if cp.watermark.is_none() {
                // Nothing seen yet: pin the first cutoff so the lookback does not slide forward.
                cp.watermark = Some(now.0 - lookback + rescan);
            }
            if cp != before {
                changes.push((key, cp));
            }
        }
        match self.store.commit(&changes) {
            Ok(()) => {
                self.telemetry.set_commit(Millis::now().0);
                for (k, cp) in changes {
                    self.checkpoints.insert(k, cp);
                }
                let ack_time = Millis::now();
                for run in &to_record {
                    let lag = run.end.map_or(0.0, |e| e.secs_until(ack_time));
                    self.telemetry.record_run(run, lag);
                }
                report.exported = to_record;
            }
            Err(e) => {
                self.telemetry
                    .system_error(component::STATE, "commit_failed");
                warn!(error = %e, "checkpoint commit failed; the runs will be exported again (same ids) next cycle");
                report.errors.push(e.to_string());
                report.not_exported.extend(to_record);
            }
        }
        report.in_flight = self
            .checkpoints
            .values()
            .flat_map(|c| c.in_flight.values())
            .filter(|r| r.phase != FINISHED_NOT_EXPORTED)
            .count();
        self.publish_gauges(&watched);

        let awaiting = self
            .checkpoints
            .values()
            .flat_map(|c| c.in_flight.values())
            .filter(|r| r.phase == FINISHED_NOT_EXPORTED)
            .count();
        self.telemetry
            .set_pending(report.not_exported.len() + awaiting);
        if report.trace_export_error.is_none() {
            self.telemetry.set_poll_success(Millis::now().0);
        }
        let ok = report.errors.is_empty() && report.trace_export_error.is_none();
        self.telemetry
            .cycle_done(started.elapsed().as_secs_f64(), ok);
        if let Err(e) = self.export_metrics().await {
            report.metric_export_error = Some(e.to_string());
        }
        info!(
            pipelines = report.pipelines,
            exported = report.exported.len(),
            pending = report.not_exported.len(),
            in_flight = report.in_flight,
            errors = report.errors.len(),
            took_ms = started.elapsed().as_millis() as u64,
            aws_calls = %self.api_counts.summary(),
            "poll cycle done"
        );
        report
    }

    fn count_aws_error(&self, e: &AwsError) {
        let comp = match e.service {
            "glue" => component::GLUE,
            "stepfunctions" => component::STEP_FUNCTIONS,
            _ => component::STS,
        };
        self.telemetry.system_error(comp, &e.error_type());
    }

    fn publish_gauges(&self, known: &[PipelineRef]) {
        for p in known {
            let e = self.expectations.for_pipeline(p.kind.as_str(), &p.name);
            self.telemetry.set_pipeline(p, &e);
        }
        let mut counts: BTreeMap<(PipelineRef, RunPhase), i64> = BTreeMap::new();
        let by_key: HashMap<String, &PipelineRef> = known.iter().map(|p| (p.key(), p)).collect();
        for (k, cp) in &self.checkpoints {
            let Some(p) = by_key.get(k) else { continue };
            for r in cp
                .in_flight
                .values()
                .filter(|r| r.phase != FINISHED_NOT_EXPORTED)
            {
                let phase = match r.phase.as_str() {
                    "pending" => RunPhase::Pending,
                    "finalizing" => RunPhase::Finalizing,
                    _ => RunPhase::Executing,
                };
                *counts.entry(((*p).clone(), phase)).or_default() += 1;
            }
            if let Some(ls) = cp.last_success {
                self.telemetry.set_last_success(p, ls);
            }
        }
        self.telemetry.set_active(&counts, known);
    }

    /// Collects and exports the metrics; failures are counted and logged.
    pub async fn export_metrics(&self) -> Result<(), ExportError> {
        let rm = match self.telemetry.collect() {
            Ok(rm) => rm,
            Err(e) => {
                warn!(error = %e, "metric collection failed");
                return Ok(());
            }
        };
        let r = self.metrics.send(&rm).await;
        if let Err(e) = &r {
            self.telemetry.export_failed("metrics");
            warn!(error = %e, "metric export failed");
        } else {
            debug!("metrics exported");
        }
        r
    }

    /// Polls every `poll_interval` until `shutdown` resolves or `max_cycles` ran;
    /// `on_cycle` sees each report.
    pub async fn run(
        &mut self,
        shutdown: impl std::future::Future<Output = ()>,
        max_cycles: Option<u64>,
        mut on_cycle: impl FnMut(&CycleReport),
    ) {
        let mut done = 0u64;
        tokio::pin!(shutdown);
        let mut tick = tokio::time::interval(self.cfg.poll_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                _ = tick.tick() => {}
            }
            let report = self.cycle(Millis::now()).await;
            on_cycle(&report);
            done += 1;
            if max_cycles.is_some_and(|m| done >= m) {
                break;
            }
        }
        info!("shutting down");
    }
}
