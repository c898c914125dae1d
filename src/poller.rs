//! The poll cycle: discover pipelines, read their runs, export the finished ones, then move
//! the checkpoints and count the runs.
//!
//! ```text
//! discover (cached) ─► per pipeline, concurrently: scan (sources/scan.rs) ─► as each scan completes:
//!   export its finished runs ─► next checkpoint (pure: acked → exported, not acked → pending)
//!   ─► commit staged checkpoints (at most every second, and at the end) ─► record metrics
//!   ─► export metrics
//! ```
//! One failing, slow or hanging pipeline never stops the cycle or holds back the others: every
//! AWS call is bounded by timeouts, and each pipeline's runs are exported as soon as its own
//! scan is done. Its error is logged and counted.

use crate::aws::{self, ApiCounts, AwsError, CallCounter};
use crate::config::{Config, ExpectationRules, Filters, NameFilter};
use crate::convert::spans;
use crate::export::{self, ExportError, MetricSender, MetricSink, TraceSender, TraceSink};
use crate::model::{PipelineRef, PipelineRun, RunPhase, RunResult, RunStatus};
use crate::records::Millis;
use crate::sanitize::Escaped;
use crate::semconv::component;
pub use crate::sources::PipelineScan;
use crate::sources::{Connection, DetailsCache, Source, Window};
use crate::state::{Checkpoint, CheckpointStore};
use crate::telemetry::Telemetry;
use futures::StreamExt;
use opentelemetry_sdk::Resource;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::{debug, info, warn};

/// Staged checkpoint changes are committed at most this often during a cycle (and at its end),
/// so a slow pipeline does not keep the others' acknowledged runs uncommitted.
const COMMIT_EVERY: Duration = Duration::from_secs(1);

/// On SIGTERM during a cycle, the cycle gets this long to finish before it is abandoned
/// (abandoning is safe: what was not committed is read and exported again on the next start).
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// The account of a region whose `sts:GetCallerIdentity` failed (`check` and `runs` go on with
/// it; `run` refuses to start, see [`require_accounts`]).
pub const UNKNOWN_ACCOUNT: &str = "unknown";

/// Fails when an account id could not be resolved: the account is part of every checkpoint
/// key, trace id and metric series, so polling as `unknown` would export every run again under
/// other ids and count it again under other labels.
pub fn require_accounts(sources: &[Arc<dyn Source>]) -> anyhow::Result<()> {
    if let Some(s) = sources.iter().find(|s| s.account() == UNKNOWN_ACCOUNT) {
        anyhow::bail!(
            "cannot resolve the AWS account id in {} (sts:GetCallerIdentity failed, see above); \
             not starting, as every checkpoint, trace id and metric series names the account",
            crate::sanitize::escape(s.region())
        );
    }
    Ok(())
}

/// Who counts the AWS calls of an account (first argument) and region.
pub type Observers = dyn Fn(&str, &str) -> Vec<Arc<dyn aws::ApiObserver>>;

/// One watched account, as connected: who it is, how it is reached, what is watched in it.
pub struct Account {
    /// Its id (from the role ARN, or `sts:GetCallerIdentity` for the ambient credentials).
    pub id: String,
    /// The config's name for it, if any.
    pub name: Option<String>,
    /// The role assumed in it (`None`: the ambient credentials).
    pub role_arn: Option<String>,
    /// Whether an ExternalId is sent with AssumeRole (its value is never shown).
    pub external_id: bool,
    /// The role's credentials, for `check` and the held failure (`None`: ambient).
    pub role: Option<Arc<aws::credentials::RoleCredentials>>,
    /// Per region: its AWS configuration and call counter (the sources' own).
    pub regions: Vec<(String, aws_config::SdkConfig, CallCounter)>,
    /// Its `include`/`exclude` patterns.
    pub filter: NameFilter,
}

impl Account {
    /// `name (id)` or the id, escaped.
    pub fn label(&self) -> String {
        match &self.name {
            Some(n) => format!("{} ({})", Escaped(n), Escaped(&self.id)),
            None => Escaped(&self.id).to_string(),
        }
    }
}

/// Everything the bridge watches: every account, and every enabled source in each of its
/// regions.
pub struct Estate {
    pub accounts: Vec<Account>,
    pub sources: Vec<Arc<dyn Source>>,
}

impl Estate {
    /// The per-account name filters, by account id.
    pub fn account_filters(&self) -> BTreeMap<String, NameFilter> {
        self.accounts
            .iter()
            .map(|a| (a.id.clone(), a.filter.clone()))
            .collect()
    }
}

/// The AWS configuration every account starts from: the ambient credentials, with the
/// config's endpoint, profile, retries and timeouts.
async fn base_config(cfg: &Config) -> aws_config::SdkConfig {
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
    // Every call is bounded: a silent endpoint costs one pipeline one cycle, never the daemon.
    let (connect, read, operation) = cfg.aws.timeouts();
    loader = loader.timeout_config(
        aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(connect)
            .read_timeout(read)
            .operation_attempt_timeout(read)
            .operation_timeout(operation)
            .build(),
    );
    if let Some(url) = &cfg.aws.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    if let Some(p) = &cfg.aws.profile {
        loader = loader.profile_name(p);
    }
    loader.load().await
}

/// The `[[accounts]]` entries, or the one implicit entry (the ambient credentials) when the
/// config lists none.
fn account_entries(cfg: &Config) -> Vec<crate::config::AccountConfig> {
    if cfg.accounts.is_empty() {
        vec![crate::config::AccountConfig {
            include: vec!["*".into()],
            ..Default::default()
        }]
    } else {
        cfg.accounts.clone()
    }
}

/// How long a role that could not be assumed is not asked again: half a poll interval (so
/// each cycle tries once), between 1 s and 5 min.
pub fn role_failure_hold(poll_interval: Duration) -> Duration {
    (poll_interval / 2).clamp(Duration::from_secs(1), Duration::from_secs(300))
}

/// Connects every account of the config (or the ambient one), and every enabled source in
/// each of its regions. Role accounts need no AWS call here (their id is in the role ARN; the
/// role is assumed on first use, once per account, and renewed before it expires); the
/// ambient account's id is read once with `sts:GetCallerIdentity`.
pub async fn connect(cfg: &Config, observers: &Observers) -> anyhow::Result<Estate> {
    let base = base_config(cfg).await;
    let ambient_region = || {
        base.region().map(|r| r.to_string()).ok_or_else(|| {
            anyhow::anyhow!(
                "no AWS region: set AWS_REGION, a profile region, or `aws.regions` in the config"
            )
        })
    };
    let enabled = cfg
        .sources()
        .map_err(|(key, why)| anyhow::anyhow!("config key `{key}`: {why}"))?;
    let lookback_ms = i64::try_from(cfg.lookback.as_millis()).unwrap_or(i64::MAX);
    let (_, _, operation_timeout) = cfg.aws.timeouts();
    let mut estate = Estate {
        accounts: Vec::new(),
        sources: Vec::new(),
    };
    for (i, entry) in account_entries(cfg).into_iter().enumerate() {
        let regions: Vec<String> = if !entry.regions.is_empty() {
            entry.regions.clone()
        } else if !cfg.aws.regions.is_empty() {
            cfg.aws.regions.clone()
        } else {
            vec![ambient_region()?]
        };
        let first = regions[0].clone();
        let (id, sdk, role) = match (&entry.role_arn, entry.role_account()) {
            (Some(arn), Some(id)) => {
                let role = Arc::new(
                    aws::credentials::RoleCredentials::new(
                        &base,
                        arn,
                        entry.external_id.as_ref().map(|s| s.expose()),
                        entry.session_name(),
                        &first,
                        observers(id, &first),
                        role_failure_hold(cfg.poll_interval),
                        (cfg.aws.timeouts().0, cfg.aws.timeouts().1),
                    )
                    .await,
                );
                let sdk =
                    aws::credentials::account_sdk_config(&base, role.clone(), operation_timeout);
                (id.to_string(), sdk, Some(role))
            }
            (Some(arn), None) => anyhow::bail!(
                "accounts[{i}].role_arn: `{}` is not a role ARN",
                Escaped(arn)
            ),
            (None, _) => (
                ambient_account(&base, &first, observers).await,
                base.clone(),
                None,
            ),
        };
        if let Some(other) = estate.accounts.iter().find(|a| a.id == id) {
            anyhow::bail!(
                "account {} is listed twice: accounts[{i}] and {} (its runs would be exported twice)",
                Escaped(&id),
                other.label()
            );
        }
        let filter = entry
            .filter()
            .map_err(|(k, why)| anyhow::anyhow!("accounts[{i}].{k}: {why}"))?;
        let mut account = Account {
            id,
            name: entry.name.clone(),
            role_arn: entry.role_arn.clone(),
            external_id: entry.external_id.is_some(),
            role,
            regions: Vec::new(),
            filter,
        };
        for region in regions {
            let counter = CallCounter::new(observers(&account.id, &region));
            let sdk = sdk
                .to_builder()
                .region(aws_config::Region::new(region.clone()))
                .build();
            let conn = Connection {
                sdk: &sdk,
                counter: &counter,
                account: &account.id,
                region: &region,
                lookback_ms,
            };
            for spec in crate::sources::ALL {
                let on = enabled.get(spec.key).is_some_and(|c| c.enabled)
                    && (entry.sources.is_empty() || entry.sources.iter().any(|s| s == spec.key));
                if on {
                    estate.sources.push(Arc::from((spec.connect)(&conn)));
                }
            }
            account.regions.push((region, sdk, counter));
        }
        estate.accounts.push(account);
    }
    Ok(estate)
}

/// The ambient credentials' account id (`sts:GetCallerIdentity` once, in `region`), or
/// [`UNKNOWN_ACCOUNT`].
async fn ambient_account(
    base: &aws_config::SdkConfig,
    region: &str,
    observers: &Observers,
) -> String {
    let counts = Arc::new(ApiCounts::default());
    let sdk = base
        .to_builder()
        .region(aws_config::Region::new(region.to_string()))
        .build();
    let sts = aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::config::Builder::from(&sdk)
            .interceptor(CallCounter::new(vec![counts.clone()]))
            .build(),
    );
    let account = match sts.get_caller_identity().send().await {
        Ok(id) => id.account().unwrap_or(UNKNOWN_ACCOUNT).to_string(),
        Err(e) => {
            let e = AwsError::from_sdk("sts", "GetCallerIdentity", region, e);
            warn!(error = %Escaped(&e), "cannot resolve the AWS account id; using `unknown`");
            UNKNOWN_ACCOUNT.to_string()
        }
    };
    // Counted once the account is known, under it.
    let obs = observers(&account, region);
    for ((svc, op, outcome), n) in counts.snapshot() {
        for _ in 0..n {
            for o in &obs {
                o.record(&svc, &op, outcome);
            }
        }
    }
    account
}

/// Reads one pipeline's runs: new since `cutoff`, and every run `cp` awaits.
pub async fn scan(
    src: &dyn Source,
    pipeline: &PipelineRef,
    cp: &Checkpoint,
    cutoff: Millis,
    now: Millis,
    cache: Option<&DetailsCache>,
) -> Result<PipelineScan, AwsError> {
    src.scan(pipeline, cp, Window { cutoff, now }, cache).await
}

/// A pipeline to scan: its source, itself, its checkpoint.
type Job = (Arc<dyn Source + 'static>, PipelineRef, Checkpoint);

/// What one scan of the cycle hands over: the source's component, the pipeline, its
/// checkpoint before the scan, and the result.
type Scanned = (
    &'static str,
    PipelineRef,
    Checkpoint,
    Result<PipelineScan, AwsError>,
);

/// One scan of the cycle, owning what it reads (boxed: a `'static` future the scan driver
/// task can hold).
fn scan_job(
    (src, p, cp): Job,
    now: Millis,
    (lookback, rescan): (i64, i64),
    cache: Arc<DetailsCache>,
) -> futures::future::BoxFuture<'static, Scanned> {
    Box::pin(async move {
        let cutoff = cp.cutoff(now, lookback, rescan);
        let r = src
            .scan(&p, &cp, Window { cutoff, now }, Some(&cache))
            .await;
        (src.spec().component, p, cp, r)
    })
}

/// A pipeline's checkpoint after its scan, given the finished runs the collector acknowledged:
/// acknowledged runs are exported; every other finished run (export failed, details missing)
/// is pending, so no later listing can pass it by; in-flight runs are awaited; runs AWS forgot
/// are dropped; acknowledged runs are added to the pipeline's cumulative totals and move its
/// last success or last final failure (a failure AWS retries does not). Returns the
/// `error.type` metric label of each acknowledged run (capped per pipeline). Pure: the property
/// tests check it against a simulated AWS.
pub fn next_checkpoint(
    before: &Checkpoint,
    scan: &PipelineScan,
    acked: &HashSet<String>,
    now: Millis,
    lookback_ms: i64,
    rescan_ms: i64,
) -> (Checkpoint, HashMap<String, Option<String>>) {
    let mut cp = before.clone();
    let mut labels = HashMap::new();
    for run in &scan.finished {
        if acked.contains(&run.run_id) {
            let end = run.end.unwrap_or(run.start);
            let success = run.result() == Some(crate::model::RunResult::Success);
            cp.mark_exported(
                &run.run_id,
                run.attempt,
                run.start,
                end,
                success,
                now,
                rescan_ms,
            );
            let label = cp.totals.count(run, crate::semconv::DURATION_BUCKETS);
            if run.is_final_failure() {
                let et = label.as_deref().unwrap_or(crate::state::OTHER_ERROR_TYPE);
                cp.mark_final_failure(end, et, now);
            }
            labels.insert(run.run_id.clone(), label);
        } else {
            cp.mark_pending(&run.run_id, run.start);
        }
    }
    for run in &scan.in_flight {
        let phase = match run.status {
            RunStatus::InFlight(ph) => ph,
            RunStatus::Ended(_) => RunPhase::Executing,
        };
        cp.mark_in_flight(&run.run_id, run.start, phase.as_str(), now);
    }
    for (id, start) in &scan.retry {
        cp.mark_pending(id, *start);
    }
    for id in &scan.gone {
        cp.forget(id);
    }
    if cp.watermark.is_none() {
        // Nothing seen yet: pin the first cutoff so the lookback does not slide forward.
        // Clamped to now: with a lookback shorter than the rescan window it would lie ahead.
        cp.watermark = Some(
            now.0
                .saturating_sub(lookback_ms)
                .saturating_add(rescan_ms)
                .min(now.0),
        );
    }
    (cp, labels)
}

/// The discovered pipelines of one source (account and region), refreshed every
/// `discovery_interval`.
#[derive(Default)]
pub struct Discovery {
    pub pipelines: Vec<PipelineRef>,
    /// When the list was last read successfully.
    pub fetched: Option<Instant>,
}

/// Reads the source's pipelines into `d`; on failure `d` keeps its previous content.
pub async fn discover(src: &dyn Source, d: &mut Discovery) -> Result<(), AwsError> {
    d.pipelines = src.discover().await?;
    d.fetched = Some(Instant::now());
    Ok(())
}

/// The pipelines to poll of one source: names passing its filters.
pub fn targets(filters: &Filters, src: &dyn Source, d: &Discovery) -> Vec<PipelineRef> {
    let key = src.spec().key;
    d.pipelines
        .iter()
        .filter(|p| filters.matches_in(src.account(), key, &p.name))
        .cloned()
        .collect()
}

/// The outcome of one cycle.
#[derive(Debug, Default)]
pub struct CycleReport {
    /// Runs exported and checkpointed this cycle.
    pub exported: Vec<PipelineRun>,
    /// Finished runs whose export or checkpoint commit failed (retried next cycle).
    pub not_exported: Vec<PipelineRun>,
    pub in_flight: usize,
    pub pipelines: usize,
    /// Errors that skipped pipelines or runs (AWS), and failed commits.
    pub errors: Vec<String>,
    /// AWS errors among `errors`.
    pub aws_errors: usize,
    /// Pipelines whose scan (listing and reading their runs) succeeded this cycle.
    pub scans_ok: usize,
    pub trace_export_error: Option<String>,
    pub metric_export_error: Option<String>,
    pub commit_error: Option<String>,
    /// Per (account, region): pipeline scans that succeeded, and AWS reads (discoveries,
    /// scans, runs) that failed.
    pub by_account: BTreeMap<(String, String), (usize, usize)>,
}

impl CycleReport {
    fn read(&mut self, account: &str, region: &str, ok: bool) {
        let e = self
            .by_account
            .entry((account.to_string(), region.to_string()))
            .or_default();
        if ok {
            e.0 += 1;
        } else {
            e.1 += 1;
        }
    }

    /// Whether the cycle read AWS: some pipeline's scan succeeded, or nothing failed (no
    /// pipeline to read is no failure). A cycle in which every AWS read failed (expired
    /// credentials, no route to AWS) is not a successful poll: the bridge observes nothing,
    /// and `pipeline_bridge_poll_last_success_timestamp_seconds` must age
    /// (PipelineBridgeNotPolling). One pipeline denied among others readable still is.
    pub fn read_aws(&self) -> bool {
        self.scans_ok > 0 || self.aws_errors == 0
    }

    pub fn export_ok(&self) -> bool {
        self.trace_export_error.is_none() && self.metric_export_error.is_none()
    }

    /// The process exit status for this cycle's outcome (documented in the README): 0 all
    /// well; 4 the checkpoint could not be committed; 1 an export was not acknowledged; 3 an
    /// AWS call failed (a pipeline or run was skipped). The most serious one wins.
    pub fn exit_code(&self) -> u8 {
        if self.commit_error.is_some() {
            4
        } else if !self.export_ok() {
            1
        } else if self.aws_errors > 0 {
            3
        } else {
            0
        }
    }
}

/// Checkpoint changes and acknowledged runs waiting for the next commit.
#[derive(Default)]
struct Staged {
    changes: Vec<(String, Checkpoint)>,
    /// Acknowledged runs with their `error.type` metric label.
    runs: Vec<(PipelineRun, Option<String>)>,
}

impl Staged {
    fn is_empty(&self) -> bool {
        self.changes.is_empty() && self.runs.is_empty()
    }
}

/// Aborts the task when dropped (a cycle abandoned at shutdown stops its scans).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The daemon's state between cycles.
pub struct Poller {
    cfg: Config,
    filters: Filters,
    expectations: ExpectationRules,
    /// Pipelines whose metric series were already exported at 0.
    initialized: std::collections::HashSet<String>,
    /// Every enabled source of every region.
    sources: Vec<Arc<dyn Source>>,
    /// Discovered pipelines, by index in `sources`.
    discovery: HashMap<usize, Discovery>,
    store: Box<dyn CheckpointStore>,
    checkpoints: BTreeMap<String, Checkpoint>,
    telemetry: Telemetry,
    traces: Box<dyn TraceSink>,
    metrics: Box<dyn MetricSink>,
    base_resource: Resource,
    api_counts: Arc<ApiCounts>,
    /// Details of finished runs not acknowledged yet, reused by the next cycles.
    details: Arc<DetailsCache>,
    /// Set when the collector was unreachable in this cycle: later pipelines do not try.
    collector_down: Option<String>,
    /// When this poller started: the health of what was never read counts from here.
    started: Millis,
    /// Per pipeline key: when its scan last succeeded.
    last_read: HashMap<String, Millis>,
    /// Per (account, region): the end of the last cycle that read it.
    account_read: BTreeMap<(String, String), Millis>,
    /// Sources (by index) whose last discovery failed, and when each last succeeded.
    discovery_failing: HashSet<usize>,
    discovered_at: HashMap<usize, Millis>,
    /// Per pipeline key: its resource tags, read with discovery when the config uses tags.
    tags: HashMap<String, (usize, BTreeMap<String, String>)>,
    /// `[[deadlines]]` and the recent successes they are evaluated against.
    deadlines: crate::deadlines::Deadlines,
    /// `[[arrivals]]`, connected ([`Poller::with_arrivals`]).
    arrivals: crate::arrivals::Arrivals,
}

impl Poller {
    /// `checkpoints`: what `store` holds (read once, when it was opened and checked). Exports
    /// over OTLP as `cfg.otlp` says.
    pub fn new(
        cfg: Config,
        sources: Vec<Arc<dyn Source>>,
        store: Box<dyn CheckpointStore>,
        checkpoints: BTreeMap<String, Checkpoint>,
        telemetry: Telemetry,
        api_counts: Arc<ApiCounts>,
    ) -> anyhow::Result<Self> {
        let traces = Box::new(TraceSender::new(&cfg.otlp)?);
        let metrics = Box::new(MetricSender::new(&cfg.otlp)?);
        Self::with_sinks(
            cfg,
            sources,
            (store, checkpoints),
            telemetry,
            api_counts,
            (traces, metrics),
        )
    }

    /// [`Poller::new`] with the exporters given: the seam the poller's unit tests use
    /// (`tests/poller.rs`).
    pub fn with_sinks(
        cfg: Config,
        sources: Vec<Arc<dyn Source>>,
        (store, checkpoints): (Box<dyn CheckpointStore>, BTreeMap<String, Checkpoint>),
        telemetry: Telemetry,
        api_counts: Arc<ApiCounts>,
        (traces, metrics): (Box<dyn TraceSink>, Box<dyn MetricSink>),
    ) -> anyhow::Result<Self> {
        let filters = cfg.filters()?;
        let expectations = cfg.expectations();
        let mut deadlines = crate::deadlines::Deadlines::from_config(&cfg);
        for (k, cp) in &checkpoints {
            if let Some(ls) = cp.last_success {
                deadlines.record_success(k, Millis(ls));
            }
        }
        let p = Poller {
            deadlines,
            arrivals: Default::default(),
            filters,
            expectations,
            initialized: Default::default(),
            sources,
            discovery: HashMap::new(),
            store,
            checkpoints,
            telemetry,
            traces,
            metrics,
            base_resource: export::base_resource(),
            api_counts,
            details: Default::default(),
            collector_down: None,
            started: Millis::now(),
            last_read: HashMap::new(),
            account_read: BTreeMap::new(),
            discovery_failing: HashSet::new(),
            discovered_at: HashMap::new(),
            tags: HashMap::new(),
            cfg,
        };
        p.publish_account_health(&[]);
        p.telemetry.set_poll_interval(p.cfg.poll_interval);
        p.publish_gauges(&[]);
        Ok(p)
    }

    /// Adds the accounts' own include/exclude patterns (by account id; see
    /// [`Estate::account_filters`]).
    pub fn with_account_filters(mut self, by_account: BTreeMap<String, NameFilter>) -> Self {
        self.filters.set_accounts(by_account);
        self
    }

    /// Whether tags are read: they name owners or filter pipelines.
    fn reads_tags(&self) -> bool {
        self.cfg.ownership.uses_tags() || self.filters.uses_tags()
    }

    /// What the config says of a pipeline, its owners from its tags (`[ownership]`) included.
    pub fn expect(&self, p: &PipelineRef) -> crate::config::Expectations {
        let mut e = self.expectations.for_pipeline(p.kind.as_str(), &p.name);
        let none = BTreeMap::new();
        let tags = self.tags.get(&p.key()).map_or(&none, |(_, t)| t);
        self.cfg.ownership.apply(&mut e, tags);
        e
    }

    /// Whether the pipelines of source `key` in `account` need their tags: owners come from
    /// tags, or that source's or account's filters use them; never for a source without tags.
    fn needs_tags(&self, src: &dyn Source) -> bool {
        !src.spec().tag_actions.is_empty()
            && (self.cfg.ownership.uses_tags()
                || self.filters.uses_tags_for(src.account(), src.spec().key))
    }

    /// Reads tags, `concurrency` at a time: of every pipeline of the sources just discovered
    /// (those their name filters let through; the tags of pipelines no longer listed are
    /// dropped), and of every other pipeline whose tags are not known yet (a read that failed
    /// is retried each cycle). A failure keeps the pipeline's previous tags and is counted like
    /// any failed read; a pipeline gone since its listing is dropped.
    async fn refresh_tags(&mut self, discovered: &[usize], report: &mut CycleReport) {
        let mut jobs = Vec::new();
        for (i, src) in self.sources.iter().enumerate() {
            let Some(d) = self.discovery.get(&i) else {
                continue;
            };
            if !self.needs_tags(src.as_ref()) {
                continue;
            }
            let fresh = discovered.contains(&i);
            if fresh {
                let listed: HashSet<String> = d.pipelines.iter().map(|p| p.key()).collect();
                self.tags
                    .retain(|k, (owner, _)| *owner != i || listed.contains(k));
            }
            for p in d.pipelines.iter() {
                if self
                    .filters
                    .matches_in(src.account(), src.spec().key, &p.name)
                    && (fresh || !self.tags.contains_key(&p.key()))
                {
                    jobs.push((i, src.clone(), p.clone()));
                }
            }
        }
        if jobs.is_empty() {
            return;
        }
        let results: Vec<_> =
            futures::stream::iter(jobs.into_iter().map(|(i, src, p)| async move {
                let r = src.tags(&p).await;
                (i, src, p, r)
            }))
            .buffer_unordered(self.cfg.concurrency)
            .collect()
            .await;
        for (i, src, p, r) in results {
            match r {
                Ok(t) => {
                    self.tags.insert(p.key(), (i, t));
                }
                Err(e) if e.is_not_found() => {
                    self.tags.remove(&p.key());
                }
                Err(e) => {
                    self.telemetry.system_error(
                        src.spec().component,
                        &e.error_type(),
                        &p.account,
                        &p.region,
                    );
                    warn!(pipeline = %Escaped(&p.name), account = %Escaped(&p.account), error = %Escaped(&e), "cannot read the pipeline's tags; keeping the previous ones (a pipeline whose tags were never read is not watched while tags filter it)");
                    report.errors.push(e.to_string());
                    report.aws_errors += 1;
                    report.read(&p.account, &p.region, false);
                }
            }
        }
    }

    /// Adds the S3 arrival expectations, checked once per cycle.
    pub fn with_arrivals(mut self, arrivals: crate::arrivals::Arrivals) -> Self {
        self.arrivals = arrivals;
        self
    }

    /// Every (account, region) a source watches.
    fn account_regions(&self) -> std::collections::BTreeSet<(String, String)> {
        self.sources
            .iter()
            .map(|s| (s.account().to_string(), s.region().to_string()))
            .collect()
    }

    /// Publishes each account and region's health: the last cycle that read it (the start
    /// until one did) and its watermark lag, the age of its stalest watched pipeline's last
    /// successful read.
    fn publish_account_health(&self, watched: &[PipelineRef]) {
        let now = Millis::now();
        let mut health: BTreeMap<(String, String), (i64, f64)> = self
            .account_regions()
            .into_iter()
            .map(|k| {
                let at = self.account_read.get(&k).copied().unwrap_or(self.started);
                (k, (at.0, 0.0))
            })
            .collect();
        let mut age = |account: &str, region: &str, read: Millis| {
            let lag = read.secs_until(now).max(0.0);
            if let Some(h) = health.get_mut(&(account.to_string(), region.to_string())) {
                h.1 = h.1.max(lag);
            }
        };
        for p in watched {
            let read = self
                .last_read
                .get(&p.key())
                .copied()
                .unwrap_or(self.started);
            age(&p.account, &p.region, read);
        }
        // A source whose pipeline list cannot be read (a refused role, a missing List
        // permission) lags since its list was last read.
        for i in &self.discovery_failing {
            if let Some(src) = self.sources.get(*i) {
                let read = self.discovered_at.get(i).copied().unwrap_or(self.started);
                age(src.account(), src.region(), read);
            }
        }
        self.telemetry.set_account_health(&health);
    }

    /// AWS calls so far, one line.
    pub fn api_summary(&self) -> String {
        self.api_counts.summary()
    }

    /// Refreshes the pipeline lists that are due, `concurrency` at a time, so a slow or
    /// silent account or region holds up no other's.
    async fn refresh_discovery(&mut self, report: &mut CycleReport) {
        let interval = self.cfg.discovery_interval;
        let due: Vec<(usize, Arc<dyn Source>)> = (self.sources.iter().enumerate())
            .filter(|(i, _)| {
                self.discovery
                    .get(i)
                    .and_then(|d| d.fetched)
                    .is_none_or(|t| t.elapsed() >= interval)
            })
            .map(|(i, s)| (i, s.clone()))
            .collect();
        let results: Vec<_> = futures::stream::iter(due.into_iter().map(|(i, src)| async move {
            let r = src.discover().await;
            (i, src, r)
        }))
        .buffer_unordered(self.cfg.concurrency)
        .collect()
        .await;
        let mut discovered = Vec::new();
        for (i, src, r) in results {
            let d = self.discovery.entry(i).or_default();
            match r {
                // A listing alone does not make the account read: its scans say.
                Ok(pipelines) => {
                    d.pipelines = pipelines;
                    d.fetched = Some(Instant::now());
                    self.discovery_failing.remove(&i);
                    self.discovered_at.insert(i, Millis::now());
                    discovered.push(i);
                }
                Err(e) => {
                    self.discovery_failing.insert(i);
                    self.telemetry.system_error(
                        src.spec().component,
                        &e.error_type(),
                        src.account(),
                        src.region(),
                    );
                    warn!(error = %Escaped(&e), account = %Escaped(src.account()), region = %Escaped(src.region()), source = src.spec().key, "discovery failed; keeping the previous list");
                    report.errors.push(e.to_string());
                    report.aws_errors += 1;
                    report.read(src.account(), src.region(), false);
                }
            }
        }
        if self.reads_tags() {
            self.refresh_tags(&discovered, report).await;
        }
    }

    fn targets(&self) -> Vec<(Arc<dyn Source>, PipelineRef)> {
        self.sources
            .iter()
            .enumerate()
            .filter_map(|(i, src)| Some((src, self.discovery.get(&i)?)))
            .flat_map(|(src, d)| {
                targets(&self.filters, src.as_ref(), d)
                    .into_iter()
                    .map(move |p| (src.clone(), p))
            })
            .filter(|(src, p)| {
                // Tag filters apply to sources with tags; a pipeline whose tags they need but
                // were never read is not watched until they are (its tag read is retried each
                // cycle): watching it could export what the filters exclude.
                if src.spec().tag_actions.is_empty()
                    || !self.filters.uses_tags_for(src.account(), src.spec().key)
                {
                    return true;
                }
                match self.tags.get(&p.key()) {
                    Some((_, tags)) => self.filters.tags_match(src.account(), src.spec().key, tags),
                    None => false,
                }
            })
            .collect()
    }

    /// Runs one full cycle at wall-clock `now`.
    pub async fn cycle(&mut self, now: Millis) -> CycleReport {
        let started = Instant::now();
        let mut report = CycleReport::default();
        self.collector_down = None;
        self.refresh_discovery(&mut report).await;
        let targets = self.targets();
        report.pipelines = targets.len();
        let watched: Vec<PipelineRef> = targets.iter().map(|(_, p)| p.clone()).collect();
        let lookback = i64::try_from(self.cfg.lookback.as_millis()).unwrap_or(i64::MAX);
        let rescan = i64::try_from(self.cfg.rescan_window.as_millis()).unwrap_or(i64::MAX);

        // New pipelines get their counters exported before any run is counted, so that a
        // first run (or a first-start backfill) is an increase Prometheus can see: at 0, or at
        // the totals committed by earlier processes, so that counts continue across restarts.
        let mut fresh = false;
        for p in &watched {
            if self.initialized.insert(p.key()) {
                let e = self.expect(p);
                self.telemetry.set_pipeline(p, &e);
                if let Some(cp) = self.checkpoints.get(&p.key()) {
                    self.telemetry.restore(p, &cp.totals);
                }
                fresh = true;
            }
        }
        if fresh {
            let _ = self.export_metrics().await;
        }

        // Each scan owns what it reads, so results can be handled (exported, staged) while the
        // other scans are still running.
        // Futures do nothing until polled: at most `concurrency` run at a time below.
        let jobs: Vec<_> = targets
            .into_iter()
            .map(|(src, p)| {
                let cp = self.checkpoints.get(&p.key()).cloned().unwrap_or_default();
                scan_job((src, p, cp), now, (lookback, rescan), self.details.clone())
            })
            .collect();
        // The scans run in a task of their own and hand over each result as it completes,
        // so they go on while results are exported, and the loop below commits what is
        // staged every COMMIT_EVERY even while a slow scan keeps the others' company.
        let (tx, mut rx) = tokio::sync::mpsc::channel(self.cfg.concurrency);
        let concurrency = self.cfg.concurrency;
        let _driver = AbortOnDrop(tokio::spawn(async move {
            let mut scans = futures::stream::iter(jobs).buffer_unordered(concurrency);
            while let Some(r) = scans.next().await {
                if tx.send(r).await.is_err() {
                    break;
                }
            }
        }));
        let mut staged = Staged::default();
        let mut last_commit = Instant::now();
        loop {
            let next = if staged.is_empty() {
                rx.recv().await
            } else {
                let due = tokio::time::Instant::from_std(last_commit + COMMIT_EVERY);
                tokio::select! {
                    r = rx.recv() => r,
                    _ = tokio::time::sleep_until(due) => {
                        self.commit(&mut staged, &mut report);
                        last_commit = Instant::now();
                        continue;
                    }
                }
            };
            let Some((component, p, before, r)) = next else {
                break;
            };
            self.handle_scan(
                component,
                &p,
                &before,
                r,
                now,
                (lookback, rescan),
                &mut staged,
                &mut report,
            )
            .await;
            if last_commit.elapsed() >= COMMIT_EVERY {
                self.commit(&mut staged, &mut report);
                last_commit = Instant::now();
            }
        }
        self.commit(&mut staged, &mut report);

        report.in_flight = self.checkpoints.values().map(|c| c.in_flight.len()).sum();
        self.publish_gauges(&watched);
        // Deadlines as of the cycle's start: every run that had ended by then and was listed
        // is read and committed above.
        let deadlines = self.deadlines.evaluate(&watched, now);
        self.telemetry.set_deadlines(&deadlines);
        if !self.arrivals.is_empty() {
            let telemetry = self.telemetry.clone();
            let arrivals = self
                .arrivals
                .check(now, |a, e| {
                    telemetry.system_error(
                        crate::arrivals::COMPONENT,
                        &e.error_type(),
                        &a.account,
                        &a.region,
                    );
                    report.errors.push(e.to_string());
                    report.aws_errors += 1;
                })
                .await;
            self.telemetry.set_arrivals(&arrivals);
        }
        // An account and region was read when one of its pipelines was read or nothing of it
        // failed (the whole cycle's rule, per account): a listing that works while every
        // pipeline's read is denied is not a read.
        let end = Millis::now();
        for k in self.account_regions() {
            let (ok, failed) = report.by_account.get(&k).copied().unwrap_or_default();
            if ok > 0 || failed == 0 {
                self.account_read.insert(k, end);
            }
        }
        let keys: HashSet<String> = watched.iter().map(|p| p.key()).collect();
        self.last_read.retain(|k, _| keys.contains(k));
        self.publish_account_health(&watched);
        let pending: usize = self.checkpoints.values().map(|c| c.pending.len()).sum();
        let uncommitted = report
            .not_exported
            .iter()
            .filter(|r| {
                !self
                    .checkpoints
                    .get(&r.pipeline.key())
                    .is_some_and(|c| c.pending.contains_key(&r.run_id))
            })
            .count();
        self.telemetry.set_pending(pending + uncommitted);
        // A successful poll read AWS and committed what it read. A trace export the collector
        // did not acknowledge is not a failed poll (the runs stay pending, nothing is lost):
        // that is PipelineBridgeExportFailing, and a collector outage must not also page as
        // the bridge not polling.
        if report.read_aws() && report.commit_error.is_none() {
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
            pending = pending + uncommitted,
            in_flight = report.in_flight,
            errors = report.errors.len(),
            took_ms = started.elapsed().as_millis() as u64,
            aws_calls = %self.api_counts.summary(),
            "poll cycle done"
        );
        report
    }

    /// Exports one pipeline's finished runs and stages its next checkpoint.
    #[allow(clippy::too_many_arguments)]
    async fn handle_scan(
        &mut self,
        component: &'static str,
        pipeline: &PipelineRef,
        before: &Checkpoint,
        r: Result<PipelineScan, AwsError>,
        now: Millis,
        (lookback, rescan): (i64, i64),
        staged: &mut Staged,
        report: &mut CycleReport,
    ) {
        let name = &pipeline.name;
        let (account, region) = (pipeline.account.as_str(), pipeline.region.as_str());
        let mut s = match r {
            Ok(s) => {
                report.scans_ok += 1;
                report.read(account, region, true);
                self.last_read.insert(pipeline.key(), Millis::now());
                s
            }
            Err(e) => {
                self.telemetry
                    .system_error(component, &e.error_type(), account, region);
                warn!(pipeline = %Escaped(name), account = %Escaped(account), region = %Escaped(region), error = %Escaped(&e), "pipeline skipped this cycle");
                report.errors.push(e.to_string());
                report.aws_errors += 1;
                report.read(account, region, false);
                return;
            }
        };
        for e in &s.errors {
            report.read(account, region, false);
            self.telemetry
                .system_error(component, &e.error_type(), account, region);
            warn!(pipeline = %Escaped(name), error = %Escaped(&e), "skipped a run this cycle");
            report.errors.push(e.to_string());
            report.aws_errors += 1;
        }
        for id in &s.future {
            warn!(pipeline = %Escaped(name), run_id = %Escaped(id), "run starts in the future (clock skew or bad data); exported, but the checkpoint does not move past now");
        }
        let e = self.expect(pipeline);
        for run in &mut s.finished {
            run.sla_secs = e.sla.map(|d| d.as_secs_f64());
            // A run exported again (from the details cache) gets its owners once, as they are now.
            run.attributes.retain(|a| {
                a.key != crate::semconv::OWNER_TEAM && a.key != crate::semconv::OWNER_PROJECT
            });
            for (k, v) in [
                (crate::semconv::OWNER_TEAM, &e.team),
                (crate::semconv::OWNER_PROJECT, &e.project),
            ] {
                if let Some(v) = v {
                    run.attributes.push(crate::model::Attr::str(k, v.clone()));
                }
            }
        }
        // Requests of whole runs under `otlp.max_request_bytes` (export/batch.rs); a run is
        // acknowledged with its batch. After a refusal of one request (too large, invalid) the
        // later batches are still sent; after any other failure (unreachable, overloaded, time
        // out) the pipeline's remaining batches wait for the next cycle.
        let mut acked = HashSet::new();
        if self.collector_down.is_some() && !s.finished.is_empty() {
            // The collector did not answer earlier in this cycle: the runs wait (pending) for
            // the next cycle rather than each pipeline timing out against it again.
            debug!(pipeline = %Escaped(name), runs = s.finished.len(), "collector unreachable this cycle; runs stay pending");
        } else if let Some(first) = s.finished.first() {
            let resource = export::owned_resource(
                &self.base_resource,
                &first.pipeline,
                e.team.as_deref(),
                e.project.as_deref(),
            );
            let max = (self.cfg.otlp.max_request_bytes)
                .unwrap_or(export::batch::DEFAULT_MAX_REQUEST_BYTES);
            let runs = (s.finished.iter()).map(|r| (r.run_id.clone(), spans::to_spans(r)));
            for batch in export::batch::Batches::new(&resource, runs, max) {
                let (ids, bytes, n) = (batch.run_ids, batch.bytes, batch.spans.len());
                let sent = Instant::now();
                let r = self.traces.send(&resource, batch.spans).await;
                let took_ms = sent.elapsed().as_millis() as u64;
                debug!(pipeline = %name, runs = ids.len(), spans = n, bytes, took_ms, ok = r.is_ok(), "trace batch sent");
                match r {
                    Ok(()) => acked.extend(ids),
                    Err(e) => {
                        self.telemetry.export_failed("traces");
                        self.telemetry
                            .bridge_error(component::EXPORTER, "export_failed");
                        let refused = e.is_refusal();
                        warn!(pipeline = %Escaped(name), error = %Escaped(&e), runs = ids.len(), bytes, refused, "trace export failed; the runs stay pending and are retried next cycle");
                        report.trace_export_error.get_or_insert(e.to_string());
                        if !refused {
                            // Unreachable, unavailable or too slow: no other pipeline tries
                            // it again this cycle.
                            self.collector_down = Some(e.to_string());
                            break;
                        }
                    }
                }
            }
        }
        let (cp, mut labels) = next_checkpoint(before, &s, &acked, now, lookback, rescan);
        let (done, not): (Vec<_>, Vec<_>) = s
            .finished
            .into_iter()
            .partition(|r| acked.contains(&r.run_id));
        for r in &done {
            self.details.remove(r);
        }
        for r in &not {
            self.details.put(r);
        }
        report.not_exported.extend(not);
        staged.runs.extend(done.into_iter().map(|r| {
            let label = labels.remove(&r.run_id).flatten();
            (r, label)
        }));
        if &cp != before {
            staged.changes.push((pipeline.key(), cp));
        }
    }

    /// Commits the staged checkpoints; on success the staged runs count, on failure they are
    /// read and exported again (same ids) next cycle.
    fn commit(&mut self, staged: &mut Staged, report: &mut CycleReport) {
        let changes = std::mem::take(&mut staged.changes);
        let runs = std::mem::take(&mut staged.runs);
        match self.store.commit(&changes) {
            Ok(()) => {
                if !changes.is_empty() {
                    self.telemetry.set_commit(Millis::now().0);
                }
                for (k, cp) in changes {
                    self.checkpoints.insert(k, cp);
                }
                let ack_time = Millis::now();
                for (run, label) in &runs {
                    if let (RunStatus::Ended(RunResult::Success), Some(end)) = (run.status, run.end)
                    {
                        self.deadlines.record_success(&run.pipeline.key(), end);
                    }
                    let lag = run.end.map_or(0.0, |e| e.secs_until(ack_time));
                    self.telemetry.record_run(run, lag, label.as_deref());
                }
                report.exported.extend(runs.into_iter().map(|(r, _)| r));
            }
            Err(e) => {
                self.telemetry
                    .bridge_error(component::STATE, "commit_failed");
                warn!(error = %Escaped(&e), "checkpoint commit failed; the runs will be exported again (same ids) next cycle");
                report.errors.push(e.to_string());
                report.commit_error.get_or_insert(e.to_string());
                report.not_exported.extend(runs.into_iter().map(|(r, _)| r));
            }
        }
    }

    /// Publishes the per-pipeline gauges of the watched pipelines (`known`) from the committed
    /// checkpoints; pipelines no longer watched lose theirs.
    fn publish_gauges(&self, known: &[PipelineRef]) {
        self.telemetry.retain_pipelines(known);
        for p in known {
            let e = self.expect(p);
            self.telemetry.set_pipeline(p, &e);
        }
        let mut counts: BTreeMap<(PipelineRef, RunPhase), i64> = BTreeMap::new();
        let by_key: HashMap<String, &PipelineRef> = known.iter().map(|p| (p.key(), p)).collect();
        for (k, cp) in &self.checkpoints {
            let Some(p) = by_key.get(k) else { continue };
            for r in cp.in_flight.values() {
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
            self.telemetry.set_measures(p, &cp.totals);
            if let Some(lf) = &cp.last_failure {
                self.telemetry
                    .set_last_failure(p, lf.end_ms, &lf.error_type);
            }
        }
        self.telemetry.set_active(&counts, known);
    }

    /// Collects and exports the metrics; failures are counted and logged.
    pub async fn export_metrics(&self) -> Result<(), ExportError> {
        let rm = match self.telemetry.collect() {
            Ok(rm) => rm,
            Err(e) => {
                warn!(error = %Escaped(&e), "metric collection failed");
                return Ok(());
            }
        };
        let request = export::metrics::request(&rm, &self.telemetry.exemplars());
        let r = self.metrics.send(request).await;
        if let Err(e) = &r {
            self.telemetry.export_failed("metrics");
            warn!(error = %Escaped(&e), "metric export failed");
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
            // A signal during a cycle gives it SHUTDOWN_GRACE to finish; then it is dropped,
            // which is safe: nothing uncommitted is lost, it is read again on the next start.
            let mut stopping = false;
            let report = {
                let cycle = self.cycle(Millis::now());
                tokio::pin!(cycle);
                tokio::select! {
                    r = &mut cycle => Some(r),
                    _ = &mut shutdown => {
                        stopping = true;
                        info!(grace_secs = SHUTDOWN_GRACE.as_secs(), "shutdown requested during a cycle; letting it finish");
                        let r = tokio::time::timeout(SHUTDOWN_GRACE, &mut cycle).await.ok();
                        if r.is_none() {
                            warn!("cycle abandoned at shutdown; its uncommitted runs are exported again on the next start");
                        }
                        r
                    }
                }
            };
            if let Some(report) = &report {
                on_cycle(report);
            }
            done += 1;
            if stopping || max_cycles.is_some_and(|m| done >= m) {
                break;
            }
        }
        info!("shutting down");
    }
}
