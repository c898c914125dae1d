//! The poller's cycle without processes: a fake source (the real scan rules over runs held in
//! memory), a trace sink that acknowledges, refuses or is down as each test says, and an
//! in-memory checkpoint store whose commit can fail. Each test checks one rule of the cycle:
//!
//! - no checkpoint move without an acknowledgement (the run stays pending; nothing counted);
//! - a failed commit puts the runs back as pending: exported again with the same ids next
//!   cycle, counted once;
//! - a failed detail read is retried next cycle, and the watermark does not leave it behind;
//! - an awaited run AWS no longer knows is dropped from the checkpoint.
//!
//! The moto end-to-end tests (`tests/e2e.rs`, `tests/faults.rs`) check the same rules through
//! real processes; these run in milliseconds.

use futures::future::BoxFuture;
use futures::FutureExt;
use opentelemetry::trace::SpanKind;
use opentelemetry::Value;
use opentelemetry_sdk::trace::SpanData;
use opentelemetry_sdk::Resource;
use pipeline_otel_bridge::aws::{ApiCounts, AwsError};
use pipeline_otel_bridge::config::Config;
use pipeline_otel_bridge::export::{metrics, ExportError, MetricSink, TraceSink};
use pipeline_otel_bridge::model::{
    PipelineKind, PipelineRef, PipelineRun, RunPhase, RunResult, RunStatus,
};
use pipeline_otel_bridge::poller::{CycleReport, Poller};
use pipeline_otel_bridge::records::Millis;
use pipeline_otel_bridge::semconv as sc;
use pipeline_otel_bridge::sources::{
    scan, DetailsCache, PipelineScan, RunSource, Source, SourceSpec, Window,
};
use pipeline_otel_bridge::state::{Checkpoint, CheckpointStore, StateError};
use pipeline_otel_bridge::telemetry::Telemetry;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

const KIND: PipelineKind = PipelineKind::new("fake", "fake_platform");
static SPEC: SourceSpec = SourceSpec {
    key: "fake",
    kind: KIND,
    component: "fake",
    watches: "runs held in memory",
    iam_actions: &["fake:ListRuns"],
    tag_actions: &[],
    metrics: &[],
    connect: |_| unreachable!("built directly"),
};

/// One run as the fake AWS holds it.
#[derive(Clone, Debug)]
struct FakeRun {
    start: i64,
    /// `None` while in flight.
    end: Option<i64>,
    /// The next detail reads fail this many times.
    detail_failures: u32,
}

#[derive(Default)]
struct Aws {
    runs: BTreeMap<String, FakeRun>,
    /// Runs read by id (awaited runs the listing did not return).
    gets: Vec<String>,
    /// Every listing fails (a denied account).
    deny_list: bool,
}

/// A source with one pipeline whose runs live in `aws`.
struct FakeSource {
    pipeline: PipelineRef,
    aws: Arc<Mutex<Aws>>,
}

impl FakeSource {
    fn new(aws: Arc<Mutex<Aws>>) -> Self {
        Self::in_account(aws, "123456789012")
    }

    fn in_account(aws: Arc<Mutex<Aws>>, account: &str) -> Self {
        FakeSource {
            pipeline: PipelineRef::new(KIND, account, "eu-west-1", "etl", "arn:fake:etl"),
            aws,
        }
    }
}

struct Runs<'a> {
    p: &'a PipelineRef,
    aws: &'a Mutex<Aws>,
}

fn error(op: &'static str) -> AwsError {
    AwsError {
        service: "fake",
        operation: op,
        region: "eu-west-1".into(),
        code: "InternalServerException".into(),
        message: "injected".into(),
    }
}

impl RunSource for Runs<'_> {
    type Record = (String, FakeRun);

    async fn list(&self, since: Millis) -> Result<Vec<Self::Record>, AwsError> {
        let aws = self.aws.lock().unwrap();
        if aws.deny_list {
            return Err(AwsError {
                code: "AccessDeniedException".into(),
                ..error("ListRuns")
            });
        }
        Ok(aws
            .runs
            .iter()
            .filter(|(_, r)| r.start >= since.0)
            .map(|(id, r)| (id.clone(), r.clone()))
            .collect())
    }
    async fn get(&self, run_id: &str) -> Result<Option<Self::Record>, AwsError> {
        let mut aws = self.aws.lock().unwrap();
        aws.gets.push(run_id.to_string());
        Ok(aws
            .runs
            .get(run_id)
            .map(|r| (run_id.to_string(), r.clone())))
    }
    fn id<'r>(&self, rec: &'r Self::Record) -> &'r str {
        &rec.0
    }
    fn to_run(&self, (id, r): &Self::Record) -> Option<PipelineRun> {
        Some(PipelineRun {
            queued_until: None,
            parent: None,
            links: Vec::new(),
            measures: Vec::new(),
            pipeline: self.p.clone(),
            run_id: id.clone(),
            attempt: 0,
            previous_run_id: None,
            aws_state: if r.end.is_some() {
                "SUCCEEDED"
            } else {
                "RUNNING"
            }
            .into(),
            status: match r.end {
                Some(_) => RunStatus::Ended(RunResult::Success),
                None => RunStatus::InFlight(RunPhase::Executing),
            },
            start: Millis(r.start),
            end: r.end.map(Millis),
            error: None,
            will_retry: false,
            dpu_seconds: None,
            url: None,
            sla_secs: None,
            attributes: Vec::new(),
            tasks: Vec::new(),
        })
    }
    async fn details(&self, rec: &Self::Record) -> Result<Option<PipelineRun>, AwsError> {
        {
            let mut aws = self.aws.lock().unwrap();
            let r = aws.runs.get_mut(&rec.0).expect("listed run");
            if r.detail_failures > 0 {
                r.detail_failures -= 1;
                return Err(error("GetRunDetails"));
            }
        }
        Ok(self.to_run(rec))
    }
}

impl Source for FakeSource {
    fn spec(&self) -> &'static SourceSpec {
        &SPEC
    }
    fn account(&self) -> &str {
        &self.pipeline.account
    }
    fn region(&self) -> &str {
        &self.pipeline.region
    }
    fn discover(&self) -> BoxFuture<'_, Result<Vec<PipelineRef>, AwsError>> {
        futures::future::ready(Ok(vec![self.pipeline.clone()])).boxed()
    }
    fn scan<'a>(
        &'a self,
        pipeline: &'a PipelineRef,
        cp: &'a Checkpoint,
        w: Window,
        cache: Option<&'a DetailsCache>,
    ) -> BoxFuture<'a, Result<PipelineScan, AwsError>> {
        async move {
            let src = Runs {
                p: pipeline,
                aws: &self.aws,
            };
            scan::scan(&src, cp, w.cutoff, w.now, cache).await
        }
        .boxed()
    }
    fn probe(&self) -> BoxFuture<'_, Result<(), AwsError>> {
        futures::future::ready(Ok(())).boxed()
    }
}

/// How the fake collector answers.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Collector {
    Ack,
    /// Answers, refuses the request (HTTP 400).
    Refuse,
    /// Does not answer.
    Down,
}

#[derive(Default)]
struct Received {
    /// Run ids of the root spans of every request, acknowledged or not.
    offered: Vec<String>,
    /// Run ids of the root spans of acknowledged requests.
    acked: Vec<String>,
}

struct FakeTraces {
    mode: Arc<Mutex<Collector>>,
    received: Arc<Mutex<Received>>,
}

fn root_run_ids(spans: &[SpanData]) -> Vec<String> {
    spans
        .iter()
        .filter(|s| s.span_kind == SpanKind::Server)
        .filter_map(|s| {
            s.attributes
                .iter()
                .find(|kv| kv.key.as_str() == sc::CICD_PIPELINE_RUN_ID)
                .map(|kv| match &kv.value {
                    Value::String(v) => v.to_string(),
                    other => other.to_string(),
                })
        })
        .collect()
}

impl TraceSink for FakeTraces {
    fn send<'a>(
        &'a mut self,
        _resource: &'a Resource,
        spans: Vec<SpanData>,
    ) -> BoxFuture<'a, Result<(), ExportError>> {
        let ids = root_run_ids(&spans);
        let mode = *self.mode.lock().unwrap();
        let mut rec = self.received.lock().unwrap();
        rec.offered.extend(ids.iter().cloned());
        let r = match mode {
            Collector::Ack => {
                rec.acked.extend(ids);
                Ok(())
            }
            Collector::Refuse => Err(ExportError::Send {
                signal: "traces",
                endpoint: "fake".into(),
                message: "status code: 400".into(),
            }),
            Collector::Down => Err(ExportError::Send {
                signal: "traces",
                endpoint: "fake".into(),
                message: "connection refused".into(),
            }),
        };
        futures::future::ready(r).boxed()
    }
}

struct NoMetrics;

impl MetricSink for NoMetrics {
    fn send(&self, _request: metrics::Request) -> BoxFuture<'_, Result<(), ExportError>> {
        futures::future::ready(Ok(())).boxed()
    }
}

/// Checkpoints in memory; the next `fail_commits` commits fail.
#[derive(Clone, Default)]
struct MemStore {
    data: Arc<Mutex<BTreeMap<String, Checkpoint>>>,
    fail_commits: Arc<Mutex<u32>>,
}

impl CheckpointStore for MemStore {
    fn load_all(&self) -> Result<BTreeMap<String, Checkpoint>, StateError> {
        Ok(self.data.lock().unwrap().clone())
    }
    fn commit(&self, changes: &[(String, Checkpoint)]) -> Result<(), StateError> {
        let mut fail = self.fail_commits.lock().unwrap();
        if *fail > 0 {
            *fail -= 1;
            return Err(StateError {
                path: "memory".into(),
                message: "disk full (injected)".into(),
            });
        }
        let mut data = self.data.lock().unwrap();
        for (k, cp) in changes {
            data.insert(k.clone(), cp.clone());
        }
        Ok(())
    }
}

struct Harness {
    poller: Poller,
    telemetry: Telemetry,
    aws: Arc<Mutex<Aws>>,
    collector: Arc<Mutex<Collector>>,
    received: Arc<Mutex<Received>>,
    store: MemStore,
    key: String,
}

const MIN: i64 = 60_000;

impl Harness {
    fn new(runs: &[(&str, FakeRun)]) -> Self {
        let aws = Arc::new(Mutex::new(Aws {
            runs: runs
                .iter()
                .map(|(id, r)| (id.to_string(), r.clone()))
                .collect(),
            ..Aws::default()
        }));
        let src = FakeSource::new(aws.clone());
        let key = src.pipeline.key();
        let collector = Arc::new(Mutex::new(Collector::Ack));
        let received = Arc::new(Mutex::new(Received::default()));
        let store = MemStore::default();
        let telemetry = Telemetry::new(Resource::builder_empty().build());
        let cfg = Config {
            lookback: std::time::Duration::from_secs(24 * 3600),
            rescan_window: std::time::Duration::from_secs(3600),
            ..Config::default()
        };
        let poller = Poller::with_sinks(
            cfg,
            vec![Arc::new(src) as Arc<dyn Source>],
            (Box::new(store.clone()), BTreeMap::new()),
            telemetry.clone(),
            Arc::new(ApiCounts::default()),
            (
                Box::new(FakeTraces {
                    mode: collector.clone(),
                    received: received.clone(),
                }),
                Box::new(NoMetrics),
            ),
        )
        .expect("poller");
        Harness {
            poller,
            telemetry,
            aws,
            collector,
            received,
            store,
            key,
        }
    }

    async fn cycle(&mut self, now: i64) -> CycleReport {
        self.poller.cycle(Millis(now)).await
    }

    fn committed(&self) -> Checkpoint {
        self.store
            .data
            .lock()
            .unwrap()
            .get(&self.key)
            .cloned()
            .unwrap_or_default()
    }

    /// The value of the Prometheus series whose line starts with `prefix` (0 when absent).
    fn metric(&self, prefix: &str) -> f64 {
        let text = pipeline_otel_bridge::export::prometheus::render(
            &self.telemetry.collect().expect("metrics"),
        );
        text.lines()
            .filter(|l| l.starts_with(prefix))
            .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
            .sum()
    }

    fn set_collector(&self, c: Collector) {
        *self.collector.lock().unwrap() = c;
    }

    fn acked(&self, id: &str) -> usize {
        let r = self.received.lock().unwrap();
        r.acked.iter().filter(|x| *x == id).count()
    }

    fn offered(&self, id: &str) -> usize {
        let r = self.received.lock().unwrap();
        r.offered.iter().filter(|x| *x == id).count()
    }
}

const T0: i64 = 1_800_000_000_000;

fn ended(start: i64, end: i64) -> FakeRun {
    FakeRun {
        start,
        end: Some(end),
        detail_failures: 0,
    }
}

fn ids(r: &CycleReport, exported: bool) -> Vec<String> {
    let runs = if exported {
        &r.exported
    } else {
        &r.not_exported
    };
    runs.iter().map(|r| r.run_id.clone()).collect()
}

#[tokio::test]
async fn no_checkpoint_move_without_an_acknowledgement() {
    for refusal in [Collector::Refuse, Collector::Down] {
        let mut h = Harness::new(&[("r1", ended(T0 - 10 * MIN, T0 - 5 * MIN))]);
        h.set_collector(refusal);
        let r = h.cycle(T0).await;
        assert_eq!(ids(&r, true), Vec::<String>::new(), "{refusal:?}");
        assert_eq!(ids(&r, false), ["r1"], "{refusal:?}");
        assert!(r.trace_export_error.is_some());
        let cp = h.committed();
        assert!(
            !cp.is_exported("r1", 0),
            "{refusal:?}: moved without an ack"
        );
        assert!(cp.pending.contains_key("r1"), "{refusal:?}: not pending");
        assert!(
            cp.totals.runs.is_empty(),
            "{refusal:?}: counted without an ack"
        );
        assert_eq!(h.offered("r1"), 1);
        // The bridge's own fault, not an AWS one.
        let exporter = "pipeline_bridge_errors_total{error_type=\"export_failed\",pipeline_bridge_component=\"exporter\"}";
        assert_eq!(h.metric(exporter), 1.0, "{refusal:?}");
        assert_eq!(h.metric("cicd_system_errors_total"), 0.0);

        h.set_collector(Collector::Ack);
        let r = h.cycle(T0 + MIN).await;
        assert_eq!(ids(&r, true), ["r1"], "{refusal:?}");
        let cp = h.committed();
        assert!(cp.is_exported("r1", 0) && cp.pending.is_empty());
        assert_eq!(cp.totals.runs.get("success"), Some(&1));

        let r = h.cycle(T0 + 2 * MIN).await;
        assert!(r.exported.is_empty() && r.not_exported.is_empty());
        assert_eq!(h.acked("r1"), 1, "{refusal:?}: delivered twice");
        assert_eq!(h.committed().totals.runs.get("success"), Some(&1));
    }
}

#[tokio::test]
async fn a_failed_commit_puts_the_runs_back_as_pending() {
    let mut h = Harness::new(&[
        ("r1", ended(T0 - 10 * MIN, T0 - 5 * MIN)),
        ("r2", ended(T0 - 9 * MIN, T0 - 4 * MIN)),
    ]);
    *h.store.fail_commits.lock().unwrap() = 1;
    let r = h.cycle(T0).await;
    assert!(r.commit_error.is_some());
    assert!(r.exported.is_empty(), "counted though not committed");
    let mut not = ids(&r, false);
    not.sort();
    assert_eq!(not, ["r1", "r2"]);
    assert_eq!(
        h.committed(),
        Checkpoint::default(),
        "a failed commit wrote"
    );
    let state = "pipeline_bridge_errors_total{error_type=\"commit_failed\",pipeline_bridge_component=\"state\"}";
    assert_eq!(h.metric(state), 1.0);
    assert_eq!((h.acked("r1"), h.acked("r2")), (1, 1));

    let r = h.cycle(T0 + MIN).await;
    assert!(r.commit_error.is_none());
    let mut done = ids(&r, true);
    done.sort();
    assert_eq!(
        done,
        ["r1", "r2"],
        "not exported again after the failed commit"
    );
    // Delivered twice (same ids: the backend de-duplicates), counted once.
    assert_eq!((h.acked("r1"), h.acked("r2")), (2, 2));
    assert_eq!(h.committed().totals.runs.get("success"), Some(&2));
    let r = h.cycle(T0 + 2 * MIN).await;
    assert!(r.exported.is_empty());
    assert_eq!(h.committed().totals.runs.get("success"), Some(&2));
}

#[tokio::test]
async fn a_failed_detail_read_is_retried_and_not_left_behind() {
    let mut h = Harness::new(&[
        (
            "old",
            FakeRun {
                detail_failures: 2,
                ..ended(T0 - 10 * MIN, T0 - 5 * MIN)
            },
        ),
        ("new", ended(T0 - 3 * MIN, T0 - 2 * MIN)),
    ]);
    let r = h.cycle(T0).await;
    assert_eq!(ids(&r, true), ["new"]);
    assert_eq!(r.aws_errors, 1);
    // An AWS fault, counted under the source's component.
    let aws = "cicd_system_errors_total{cicd_system_component=\"fake\",cloud_account_id=\"123456789012\",cloud_region=\"eu-west-1\",error_type=\"InternalServerException\"}";
    assert_eq!(h.metric(aws), 1.0);
    let cp = h.committed();
    assert!(
        cp.pending.contains_key("old"),
        "a failed detail read is not pending"
    );
    assert!(cp.is_exported("new", 0));

    // Still failing: stays pending; then it is read and exported, once.
    let r = h.cycle(T0 + MIN).await;
    assert!(r.exported.is_empty() && r.aws_errors == 1);
    assert!(h.committed().pending.contains_key("old"));
    let r = h.cycle(T0 + 2 * MIN).await;
    assert_eq!(ids(&r, true), ["old"]);
    let cp = h.committed();
    assert!(cp.pending.is_empty() && cp.is_exported("old", 0));
    assert_eq!(cp.totals.runs.get("success"), Some(&2));
    assert_eq!((h.acked("old"), h.acked("new")), (1, 1));
}

#[tokio::test]
async fn a_run_aws_no_longer_knows_is_dropped() {
    let mut h = Harness::new(&[(
        "long",
        FakeRun {
            start: T0 - 10 * MIN,
            end: None,
            detail_failures: 0,
        },
    )]);
    let r = h.cycle(T0).await;
    assert_eq!(r.in_flight, 1);
    assert!(h.committed().in_flight.contains_key("long"));

    // AWS forgets it (expired from its history): the listing no longer returns it, a read by
    // id finds nothing, and the checkpoint stops awaiting it.
    h.aws.lock().unwrap().runs.clear();
    let r = h.cycle(T0 + MIN).await;
    assert_eq!(r.in_flight, 0);
    assert!(r.exported.is_empty() && r.errors.is_empty());
    let cp = h.committed();
    assert!(!cp.in_flight.contains_key("long") && !cp.pending.contains_key("long"));
    assert_eq!(h.aws.lock().unwrap().gets, ["long"]);
    // And it is not read again.
    h.cycle(T0 + 2 * MIN).await;
    assert_eq!(h.aws.lock().unwrap().gets, ["long"]);
    assert_eq!(h.offered("long"), 0);
}

/// The value of a series of `metric` whose labels include `account` (None when absent).
fn account_metric(telemetry: &Telemetry, metric: &str, account: &str) -> Option<f64> {
    let text = pipeline_otel_bridge::export::prometheus::render(&telemetry.collect().unwrap());
    text.lines()
        .filter(|l| l.starts_with(metric) && l.contains(&format!("cloud_account_id=\"{account}\"")))
        .find_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
}

/// Invariant: an account whose reads fail holds back no other account's runs, and only its own
/// health ages: its last read stays at the bridge's start and its watermark lag grows, while
/// the other account's last read is this cycle and its lag is 0. An account's own exclude
/// patterns keep its pipelines out, and only its.
#[tokio::test]
async fn a_denied_account_holds_back_no_other_and_only_its_health_ages() {
    let run = |id: &str| (id.to_string(), ended(T0 - 10 * MIN, T0 - 5 * MIN));
    let good = Arc::new(Mutex::new(Aws {
        runs: [run("good-1")].into_iter().collect(),
        ..Aws::default()
    }));
    let denied = Arc::new(Mutex::new(Aws {
        runs: [run("denied-1")].into_iter().collect(),
        deny_list: true,
        ..Aws::default()
    }));
    let filtered = Arc::new(Mutex::new(Aws {
        runs: [run("filtered-1")].into_iter().collect(),
        ..Aws::default()
    }));
    let received = Arc::new(Mutex::new(Received::default()));
    let telemetry = Telemetry::new(Resource::builder_empty().build());
    let sources: Vec<Arc<dyn Source>> = vec![
        Arc::new(FakeSource::in_account(good.clone(), "111111111111")),
        Arc::new(FakeSource::in_account(denied.clone(), "222222222222")),
        Arc::new(FakeSource::in_account(filtered, "333333333333")),
    ];
    let exclude_etl = Config::parse(
        "[[accounts]]\nrole_arn = \"arn:aws:iam::333333333333:role/r\"\nexclude = [\"etl\"]\n",
        std::path::Path::new("t.toml"),
    )
    .unwrap()
    .accounts[0]
        .filter()
        .unwrap();
    let mut poller = Poller::with_sinks(
        Config::default(),
        sources,
        (Box::new(MemStore::default()), BTreeMap::new()),
        telemetry.clone(),
        Arc::new(ApiCounts::default()),
        (
            Box::new(FakeTraces {
                mode: Arc::new(Mutex::new(Collector::Ack)),
                received: received.clone(),
            }),
            Box::new(NoMetrics),
        ),
    )
    .unwrap()
    .with_account_filters(
        [("333333333333".to_string(), exclude_etl)]
            .into_iter()
            .collect(),
    );
    tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    let r = poller.cycle(Millis(T0)).await;
    assert_eq!(ids(&r, true), ["good-1"], "{:?}", r.errors);
    assert_eq!(r.aws_errors, 1);
    assert_eq!(r.pipelines, 2, "the excluded pipeline is not watched");
    let last = |a: &str| {
        account_metric(
            &telemetry,
            "pipeline_bridge_account_poll_last_success_timestamp_seconds",
            a,
        )
        .unwrap_or_else(|| panic!("no health for {a}"))
    };
    let lag = |a: &str| {
        account_metric(
            &telemetry,
            "pipeline_bridge_account_watermark_lag_seconds",
            a,
        )
        .unwrap()
    };
    assert!(
        last("111111111111") >= last("222222222222") + 0.03,
        "{} {}",
        last("111111111111"),
        last("222222222222")
    );
    assert!(lag("111111111111") < 1.0, "{}", lag("111111111111"));
    assert!(lag("222222222222") >= 0.03, "{}", lag("222222222222"));
    // An account with nothing watched in it read fine.
    assert!(last("333333333333") >= last("111111111111"));
    assert!(lag("333333333333") < 1.0);
    // The denied account's failures are counted under it.
    let errors = account_metric(&telemetry, "cicd_system_errors_total", "222222222222");
    assert_eq!(errors, Some(1.0));
    assert_eq!(
        account_metric(&telemetry, "cicd_system_errors_total", "111111111111"),
        None
    );

    // Access comes back: its run is exported and its health is current again.
    denied.lock().unwrap().deny_list = false;
    let r = poller.cycle(Millis(T0 + MIN)).await;
    assert_eq!(ids(&r, true), ["denied-1"]);
    assert!(lag("222222222222") < 1.0);
    assert!(last("222222222222") >= last("111111111111"));
    assert_eq!(good.lock().unwrap().gets.len(), 0);
}
