//! What the bridge knows about a pipeline run, independent of AWS and of OpenTelemetry.
//!
//! Each source (`sources/*/convert.rs`) builds these from its records; `convert::spans` and the metrics
//! turn them into telemetry; `render` prints them for a person.

use crate::records::Millis;
use std::fmt;

/// Which kind of pipeline (which AWS service and resource) a run belongs to. Each source
/// defines its own (`sources/*/mod.rs`); the registry (`sources::kind`) parses the names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PipelineKind {
    name: &'static str,
    cloud_platform: &'static str,
}

impl PipelineKind {
    /// `name`: stable, used in ids, state keys, metric labels and the
    /// `pipeline_bridge.pipeline.kind` attribute, so it never changes once released.
    pub const fn new(name: &'static str, cloud_platform: &'static str) -> Self {
        PipelineKind {
            name,
            cloud_platform,
        }
    }

    /// Stable name used in ids, state keys and the `pipeline_bridge.pipeline.kind` attribute.
    pub fn as_str(self) -> &'static str {
        self.name
    }

    /// Value of `cloud.platform` on the trace resource (custom values are allowed by semconv).
    pub fn cloud_platform(self) -> &'static str {
        self.cloud_platform
    }
}

impl fmt::Display for PipelineKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

/// One pipeline (a Glue job, a state machine, …) in one account and region.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PipelineRef {
    pub kind: PipelineKind,
    pub account: String,
    pub region: String,
    pub name: String,
    /// The pipeline's ARN (`cloud.resource_id`).
    pub arn: String,
}

/// The AWS partition of a region, for ARNs the bridge derives: `aws-cn` (China), `aws-us-gov`
/// (GovCloud), the isolated partitions, `aws` for every other region.
pub fn partition(region: &str) -> &'static str {
    const PREFIXES: [(&str, &str); 6] = [
        ("cn-", "aws-cn"),
        ("us-gov-", "aws-us-gov"),
        ("us-isob-", "aws-iso-b"),
        ("us-isof-", "aws-iso-f"),
        ("eu-isoe-", "aws-iso-e"),
        ("us-iso-", "aws-iso"),
    ];
    PREFIXES
        .iter()
        .find(|(p, _)| region.starts_with(p))
        .map_or("aws", |(_, part)| part)
}

impl PipelineRef {
    pub fn new(kind: PipelineKind, account: &str, region: &str, name: &str, arn: &str) -> Self {
        PipelineRef {
            kind,
            account: account.to_string(),
            region: region.to_string(),
            name: name.to_string(),
            arn: arn.to_string(),
        }
    }

    /// Key of this pipeline's checkpoint: `{kind}|{account}|{region}|{name}`.
    pub fn key(&self) -> String {
        format!(
            "{}|{}|{}|{}",
            self.kind, self.account, self.region, self.name
        )
    }
}

/// `cicd.pipeline.result` / `cicd.pipeline.task.run.result`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RunResult {
    Success,
    Failure,
    Error,
    Timeout,
    Cancellation,
    Skip,
}

impl RunResult {
    pub fn as_str(self) -> &'static str {
        match self {
            RunResult::Success => "success",
            RunResult::Failure => "failure",
            RunResult::Error => "error",
            RunResult::Timeout => "timeout",
            RunResult::Cancellation => "cancellation",
            RunResult::Skip => "skip",
        }
    }

    /// Whether the span status is Error and the run counts in `cicd.pipeline.run.errors`.
    pub fn is_error(self) -> bool {
        matches!(
            self,
            RunResult::Failure | RunResult::Error | RunResult::Timeout
        )
    }
}

/// `cicd.pipeline.run.state` of a run still in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RunPhase {
    Pending,
    Executing,
    Finalizing,
}

impl RunPhase {
    pub fn as_str(self) -> &'static str {
        match self {
            RunPhase::Pending => "pending",
            RunPhase::Executing => "executing",
            RunPhase::Finalizing => "finalizing",
        }
    }
}

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    InFlight(RunPhase),
    Ended(RunResult),
}

/// Why a run or task failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunError {
    /// `error.type`: low cardinality (exception class, Step Functions error name, or state).
    pub error_type: String,
    /// The message as AWS gave it, cut to [`MAX_MESSAGE_BYTES`].
    pub message: String,
}

/// Longest error message carried on a span; AWS messages can be many kilobytes of stack trace.
pub const MAX_MESSAGE_BYTES: usize = 4096;

/// A typed attribute value, so the model does not depend on OpenTelemetry.
#[derive(Debug, Clone, PartialEq)]
pub enum AttrValue {
    Str(String),
    Int(i64),
    F64(f64),
}

/// A service-specific attribute of a run or task (key from [`crate::semconv`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Attr {
    pub key: &'static str,
    pub value: AttrValue,
}

impl Attr {
    pub fn str(key: &'static str, value: impl Into<String>) -> Self {
        Attr {
            key,
            value: AttrValue::Str(value.into()),
        }
    }
    pub fn int(key: &'static str, value: i64) -> Self {
        Attr {
            key,
            value: AttrValue::Int(value),
        }
    }
    pub fn f64(key: &'static str, value: f64) -> Self {
        Attr {
            key,
            value: AttrValue::F64(value),
        }
    }
}

/// One run attempt of a pipeline.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineRun {
    pub pipeline: PipelineRef,
    /// Glue JobRunId; Step Functions execution ARN.
    pub run_id: String,
    /// Glue `Attempt`; Step Functions redrive count.
    pub attempt: u32,
    /// The run id of the attempt this one retries (Glue `PreviousRunId`).
    pub previous_run_id: Option<String>,
    /// The state as AWS names it (`SUCCEEDED`, `TIMED_OUT`, …).
    pub aws_state: String,
    pub status: RunStatus,
    pub start: Millis,
    /// Set once the run ended; never before `start`.
    pub end: Option<Millis>,
    pub error: Option<RunError>,
    /// The run failed and AWS will run it again by itself (a Glue attempt below the job's
    /// `MaxRetries`): it is counted as a failure, but it is not the pipeline's latest final
    /// failure.
    pub will_retry: bool,
    /// Glue DPU-seconds consumed, when known.
    pub dpu_seconds: Option<f64>,
    /// Console page of the run.
    pub url: Option<String>,
    /// The pipeline's SLA in seconds, when configured (set by the poller, not by conversion).
    pub sla_secs: Option<f64>,
    /// When the run left its queue and began executing (EMR Serverless `SCHEDULED` →
    /// `RUNNING`, Glue `STARTING`/`WAITING` → `RUNNING`), when known: the time from `start` to
    /// it is a span of its own and the `pending` part of `cicd.pipeline.run.duration`.
    pub queued_until: Option<Millis>,
    /// Other runs' traces this one is linked to (a workflow's job run, a parent execution).
    pub links: Vec<RunLink>,
    /// The run whose trace this one belongs in: its root span is then a child of that run's
    /// root, in that run's trace (a Data Quality evaluation inside the Glue job run that ran
    /// it). `None`: a trace of its own.
    pub parent: Option<RunLink>,
    /// What the run consumed or produced, as the source's own metrics.
    pub measures: Vec<Measure>,
    pub attributes: Vec<Attr>,
    pub tasks: Vec<TaskRun>,
}

/// A link from a span to another run's trace (its root span).
#[derive(Debug, Clone, PartialEq)]
pub struct RunLink {
    pub pipeline: PipelineRef,
    pub run_id: String,
    pub attempt: u32,
    /// `link.reason`: why (`previous_attempt`, `started_by`, `started`, …).
    pub reason: &'static str,
}

/// One value of a source's own metric for a finished run.
#[derive(Debug, Clone, PartialEq)]
pub struct Measure {
    pub metric: &'static crate::semconv::MetricDef,
    pub kind: MeasureKind,
    pub value: f64,
    /// Labels besides the pipeline's (low cardinality: a table, a ruleset, never a run id).
    pub labels: Vec<(&'static str, String)>,
}

/// How a measure adds up per pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeasureKind {
    /// Summed over runs (a counter: DPU-hours, rules failed).
    Sum,
    /// The latest run's value (a gauge: a data quality score).
    Last,
}

impl PipelineRun {
    /// The result, if the run has ended.
    pub fn result(&self) -> Option<RunResult> {
        match self.status {
            RunStatus::Ended(r) => Some(r),
            RunStatus::InFlight(_) => None,
        }
    }

    /// Seconds from start to end (0 while in flight).
    pub fn duration_secs(&self) -> f64 {
        self.end.map_or(0.0, |e| self.start.secs_until(e))
    }

    /// Whether the run counts as an SLA breach: it ended, not cancelled, after longer than its
    /// SLA (a run stopped on purpose is no breach, however long it ran).
    pub fn breached_sla(&self) -> bool {
        self.result().is_some_and(|r| r != RunResult::Cancellation)
            && self.sla_secs.is_some_and(|sla| self.duration_secs() > sla)
    }

    /// Its duration by state: `pending` (start to [`PipelineRun::queued_until`]) and
    /// `executing` (from there, or from the start, to the end). Empty while in flight.
    pub fn phase_durations(&self) -> Vec<(RunPhase, f64)> {
        let Some(end) = self.end else {
            return Vec::new();
        };
        match self.queued_until.filter(|q| *q > self.start) {
            Some(q) => {
                let q = q.min(end);
                vec![
                    (RunPhase::Pending, self.start.secs_until(q)),
                    (RunPhase::Executing, q.secs_until(end)),
                ]
            }
            None => vec![(RunPhase::Executing, self.duration_secs())],
        }
    }

    /// Whether the run is a final failure: it ended in failure, timeout or error and AWS will
    /// not retry it.
    pub fn is_final_failure(&self) -> bool {
        self.result().is_some_and(RunResult::is_error) && !self.will_retry
    }
}

/// One step of a run: a state entered, a Map iteration, or one attempt of a task.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskRun {
    /// `cicd.pipeline.task.name`.
    pub name: String,
    /// `cicd.pipeline.task.run.id`, unique within the run (derived from history event ids).
    pub run_id: String,
    /// `Task`, `Map`, `Parallel`, `MapIteration`, `TaskAttempt`, …
    pub kind: String,
    pub start: Millis,
    pub end: Millis,
    pub result: RunResult,
    pub error: Option<RunError>,
    pub attributes: Vec<Attr>,
    /// Other runs' traces the step is linked to (the execution or job run it started).
    pub links: Vec<RunLink>,
    pub children: Vec<TaskRun>,
}

impl TaskRun {
    /// Seconds from start to end.
    pub fn duration_secs(&self) -> f64 {
        self.start.secs_until(self.end)
    }

    /// This task and all below it, depth first.
    pub fn walk(&self) -> Vec<&TaskRun> {
        let mut out = vec![self];
        for c in &self.children {
            out.extend(c.walk());
        }
        out
    }
}

/// Cuts `s` to at most `max` bytes on a char boundary, marking the cut.
pub fn truncate_message(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… [truncated {} bytes]", &s[..end], s.len() - end)
}
