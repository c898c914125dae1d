//! Every attribute key and metric name the bridge emits, defined once.
//!
//! Keys from the OpenTelemetry semantic conventions (CI/CD, cloud, error) first, then the
//! project's own `pipeline_bridge.*` namespace. `docs/telemetry.md` lists them all; a test keeps
//! that file in step with this one.

// --- OpenTelemetry CI/CD conventions -------------------------------------------------------
pub const CICD_PIPELINE_NAME: &str = "cicd.pipeline.name";
pub const CICD_PIPELINE_RUN_ID: &str = "cicd.pipeline.run.id";
pub const CICD_PIPELINE_RUN_URL_FULL: &str = "cicd.pipeline.run.url.full";
pub const CICD_PIPELINE_RUN_STATE: &str = "cicd.pipeline.run.state";
pub const CICD_PIPELINE_RESULT: &str = "cicd.pipeline.result";
pub const CICD_PIPELINE_ACTION_NAME: &str = "cicd.pipeline.action.name";
pub const CICD_PIPELINE_TASK_NAME: &str = "cicd.pipeline.task.name";
pub const CICD_PIPELINE_TASK_RUN_ID: &str = "cicd.pipeline.task.run.id";
pub const CICD_PIPELINE_TASK_RUN_RESULT: &str = "cicd.pipeline.task.run.result";
pub const CICD_PIPELINE_TASK_RUN_URL_FULL: &str = "cicd.pipeline.task.run.url.full";
pub const CICD_SYSTEM_COMPONENT: &str = "cicd.system.component";
pub const ERROR_TYPE: &str = "error.type";

// --- cloud / resource --------------------------------------------------------------------
pub const SERVICE_NAME: &str = "service.name";
pub const SERVICE_INSTANCE_ID: &str = "service.instance.id";
pub const CLOUD_PROVIDER: &str = "cloud.provider";
pub const CLOUD_PLATFORM: &str = "cloud.platform";
pub const CLOUD_ACCOUNT_ID: &str = "cloud.account.id";
pub const CLOUD_REGION: &str = "cloud.region";
pub const CLOUD_RESOURCE_ID: &str = "cloud.resource_id";

// --- AWS service specifics on spans --------------------------------------------------------
pub const AWS_SFN_STATE_MACHINE_ARN: &str = "aws.step_functions.state_machine.arn";
pub const AWS_SFN_EXECUTION_STATUS: &str = "aws.step_functions.execution.status";
pub const AWS_SFN_REDRIVE_COUNT: &str = "aws.step_functions.execution.redrive_count";
pub const AWS_SFN_STATE_TYPE: &str = "aws.step_functions.state.type";
pub const AWS_SFN_TASK_RESOURCE: &str = "aws.step_functions.task.resource";
pub const AWS_SFN_TASK_RESOURCE_TYPE: &str = "aws.step_functions.task.resource_type";
pub const AWS_SFN_MAP_ITERATION_INDEX: &str = "aws.step_functions.map.iteration.index";
pub const AWS_SFN_TASK_ATTEMPT: &str = "aws.step_functions.task.attempt";
pub const AWS_SFN_MAP_RUN_ARN: &str = "aws.step_functions.map_run.arn";
/// On a Distributed Map span: 1 when its Map Run had more child executions than were read.
pub const AWS_SFN_MAP_RUN_TRUNCATED: &str = "aws.step_functions.map_run.truncated";
pub const AWS_GLUE_JOB_RUN_STATE: &str = "aws.glue.job_run.state";
pub const AWS_GLUE_ATTEMPT: &str = "aws.glue.job_run.attempt";
pub const AWS_GLUE_PREVIOUS_RUN_ID: &str = "aws.glue.job_run.previous_run_id";
pub const AWS_GLUE_TRIGGER_NAME: &str = "aws.glue.job_run.trigger_name";
pub const AWS_GLUE_WORKER_TYPE: &str = "aws.glue.worker_type";
pub const AWS_GLUE_NUMBER_OF_WORKERS: &str = "aws.glue.number_of_workers";
pub const AWS_GLUE_MAX_CAPACITY: &str = "aws.glue.max_capacity";
pub const AWS_GLUE_VERSION: &str = "aws.glue.version";
pub const AWS_GLUE_DPU_SECONDS: &str = "aws.glue.dpu_seconds";
pub const AWS_GLUE_EXECUTION_TIME: &str = "aws.glue.execution_time";
pub const AWS_GLUE_EXECUTION_CLASS: &str = "aws.glue.execution_class";
pub const AWS_GLUE_TIMEOUT_MINUTES: &str = "aws.glue.timeout_minutes";

// --- the project's own attributes ------------------------------------------------------------
pub const BRIDGE_PIPELINE_KIND: &str = "pipeline_bridge.pipeline.kind";
pub const BRIDGE_SLA: &str = "pipeline_bridge.sla";
pub const BRIDGE_SLA_BREACHED: &str = "pipeline_bridge.sla.breached";
/// On a root span: spans of the run left out by the per-run cap (`convert::spans`).
pub const BRIDGE_SPANS_DROPPED: &str = "pipeline_bridge.spans.dropped";
/// On a root span: the run failed and AWS will retry it (a Glue attempt below the job's
/// `MaxRetries`); set only when true.
pub const BRIDGE_RUN_WILL_RETRY: &str = "pipeline_bridge.run.will_retry";
pub const TEAM: &str = "team";
/// The owning team and project of a run's pipeline (`[ownership]` tags or `[[pipelines]]`), on
/// its resource and root span.
pub const OWNER_TEAM: &str = "pipeline_bridge.team";
pub const OWNER_PROJECT: &str = "pipeline_bridge.project";
pub const PROJECT: &str = "project";
/// On `pipeline_bridge.pipeline.info`: the configured `failure_severity` (`info`, `warning`,
/// `critical`; empty when not configured).
pub const FAILURE_SEVERITY: &str = "failure_severity";
pub const BRIDGE_TASK_TYPE: &str = "pipeline_bridge.task.type";
pub const AWS_SERVICE: &str = "aws.service";
pub const AWS_OPERATION: &str = "aws.operation";
pub const OUTCOME: &str = "outcome";
pub const SIGNAL: &str = "signal";
/// On the deadline metrics: the deadline's name (`[[deadlines]] name`, default
/// "by 06:00 Europe/Berlin weekdays").
pub const BRIDGE_DEADLINE: &str = "pipeline_bridge.deadline";
/// On `pipeline_bridge.deadline.state`: `previous` (the last deadline that passed) or `next`.
pub const PERIOD: &str = "period";
/// On the arrival metrics: the `[[arrivals]]` entry's name.
pub const BRIDGE_ARRIVAL: &str = "pipeline_bridge.arrival";
/// On the arrival metrics: the bucket listed.
pub const AWS_S3_BUCKET: &str = "aws.s3.bucket";
/// On `pipeline_bridge.deadline.state`: `met`, `missed`, `late` (previous only), `pending` (next only).
pub const STATE: &str = "state";

/// On `pipeline_bridge.errors`: the part of the bridge that failed (values in [`component`]).
pub const BRIDGE_COMPONENT: &str = "pipeline_bridge.component";

/// The values of `pipeline_bridge.component` for the bridge's own faults outside AWS. (AWS
/// faults are `cicd.system.errors`, with each source's `SourceSpec::component`.)
pub mod component {
    pub const EXPORTER: &str = "exporter";
    pub const STATE: &str = "state";
}

/// A metric the bridge emits: name, unit, description, in one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricDef {
    pub name: &'static str,
    pub unit: &'static str,
    pub description: &'static str,
}

pub const RUN_DURATION: MetricDef = MetricDef {
    name: "cicd.pipeline.run.duration",
    unit: "s",
    description: "Duration of finished pipeline runs, from start to end.",
};
pub const RUN_ERRORS: MetricDef = MetricDef {
    name: "cicd.pipeline.run.errors",
    unit: "{error}",
    description: "Runs that ended in failure, timeout or error.",
};
pub const RUN_ACTIVE: MetricDef = MetricDef {
    name: "cicd.pipeline.run.active",
    unit: "{run}",
    description: "Runs in flight, by state.",
};
pub const SYSTEM_ERRORS: MetricDef = MetricDef {
    name: "cicd.system.errors",
    unit: "{error}",
    description: "Failed AWS calls of the pipeline services the bridge reads, by component (the source: glue, stepfunctions, …) and error type.",
};
pub const BRIDGE_ERRORS: MetricDef = MetricDef {
    name: "pipeline_bridge.errors",
    unit: "{error}",
    description: "The bridge's own faults outside AWS (OTLP exporter, checkpoint store), by component and error type.",
};
pub const TASK_DURATION: MetricDef = MetricDef {
    name: "pipeline_bridge.task.duration",
    unit: "s",
    description: "Duration of the steps of finished runs (Step Functions states).",
};
pub const GLUE_DPU_USAGE: MetricDef = MetricDef {
    name: "pipeline_bridge.glue.dpu_usage",
    unit: "{dpu_second}",
    description: "DPU-seconds consumed by finished Glue job runs.",
};
pub const LAST_SUCCESS: MetricDef = MetricDef {
    name: "pipeline_bridge.pipeline.last_success.timestamp",
    unit: "s",
    description: "End time (Unix seconds) of the pipeline's latest successful run.",
};
pub const LAST_FAILURE: MetricDef = MetricDef {
    name: "pipeline_bridge.pipeline.last_failure.timestamp",
    unit: "s",
    description: "End time (Unix seconds) of the pipeline's latest run that ended in failure, timeout or error and that AWS does not retry, with its error type.",
};
pub const AWS_API_CALLS: MetricDef = MetricDef {
    name: "pipeline_bridge.aws.api.calls",
    unit: "{call}",
    description: "AWS API requests (each attempt) by service, operation and outcome (success, throttled, error).",
};
pub const POLL_CYCLE_DURATION: MetricDef = MetricDef {
    name: "pipeline_bridge.poll.cycle.duration",
    unit: "s",
    description: "Duration of one poll cycle over all sources.",
};
pub const EXPORT_FAILURES: MetricDef = MetricDef {
    name: "pipeline_bridge.export.failures",
    unit: "{failure}",
    description: "OTLP exports that were not acknowledged, by signal.",
};
pub const EXPORT_LAG: MetricDef = MetricDef {
    name: "pipeline_bridge.export.lag",
    unit: "s",
    description: "Time from a run's end to the collector's acknowledgement of its trace.",
};

pub const PIPELINE_RUNS: MetricDef = MetricDef {
    name: "pipeline_bridge.pipeline.runs",
    unit: "{run}",
    description: "Finished runs by result; every result is exported at 0 from discovery on.",
};
pub const PIPELINE_SLA_BREACHES: MetricDef = MetricDef {
    name: "pipeline_bridge.pipeline.sla_breaches",
    unit: "{run}",
    description: "Finished runs that took longer than the pipeline's SLA; starts at 0 for pipelines with an SLA.",
};
pub const PIPELINE_SLA: MetricDef = MetricDef {
    name: "pipeline_bridge.pipeline.sla",
    unit: "s",
    description: "Maximum run duration configured for the pipeline.",
};
pub const PIPELINE_MAX_SUCCESS_INTERVAL: MetricDef = MetricDef {
    name: "pipeline_bridge.pipeline.max_success_interval",
    unit: "s",
    description: "Maximum time between successful runs configured for the pipeline.",
};
pub const PIPELINE_INFO: MetricDef = MetricDef {
    name: "pipeline_bridge.pipeline.info",
    unit: "",
    description: "1 for every watched pipeline, with its team, project and failure severity.",
};
pub const POLL_LAST_SUCCESS: MetricDef = MetricDef {
    name: "pipeline_bridge.poll.last_success.timestamp",
    unit: "s",
    description: "Unix time at which the last poll cycle completed having read AWS (some pipeline, or nothing failed) and committed its checkpoint.",
};
pub const ACCOUNT_POLL_LAST_SUCCESS: MetricDef = MetricDef {
    name: "pipeline_bridge.account.poll.last_success.timestamp",
    unit: "s",
    description: "Unix time of the end of the last poll cycle that read this account and region (one of its pipelines was read, or nothing in it failed); the bridge's start until then.",
};
pub const ACCOUNT_WATERMARK_LAG: MetricDef = MetricDef {
    name: "pipeline_bridge.account.watermark.lag",
    unit: "s",
    description: "Seconds since the stalest watched pipeline of this account and region was last read successfully (0 when every one was read in the last cycle).",
};
pub const RUNS_PENDING: MetricDef = MetricDef {
    name: "pipeline_bridge.runs.pending",
    unit: "{run}",
    description: "Finished runs whose export is not acknowledged yet.",
};
pub const CHECKPOINT_LAST_COMMIT: MetricDef = MetricDef {
    name: "pipeline_bridge.checkpoint.last_commit.timestamp",
    unit: "s",
    description: "Unix time of the last successful checkpoint commit.",
};
pub const DEADLINE_STATE: MetricDef = MetricDef {
    name: "pipeline_bridge.deadline.state",
    unit: "",
    description: "State set per pipeline and deadline: for the previous deadline met, missed or late (missed, and a success came after it), for the next one met or pending; 1 for the current state, 0 for the other.",
};
pub const DEADLINE_NEXT: MetricDef = MetricDef {
    name: "pipeline_bridge.deadline.next.timestamp",
    unit: "s",
    description: "Unix time of the pipeline's next deadline.",
};
pub const DEADLINE_MET_AT: MetricDef = MetricDef {
    name: "pipeline_bridge.deadline.met.timestamp",
    unit: "s",
    description: "End time (Unix seconds) of the first successful run that met the deadline, by period; absent while not met.",
};
pub const DEADLINE_MISSED: MetricDef = MetricDef {
    name: "pipeline_bridge.deadline.missed",
    unit: "{deadline}",
    description:
        "Deadlines that passed without a successful run, each counted once per bridge process.",
};
pub const ARRIVAL_STATE: MetricDef = MetricDef {
    name: "pipeline_bridge.arrival.state",
    unit: "",
    description: "State set per S3 arrival expectation: for the previous deadline met, missed or late (an object came after it), for the next one met or pending; 1 for the current state, 0 for the others.",
};
pub const ARRIVAL_NEXT: MetricDef = MetricDef {
    name: "pipeline_bridge.arrival.next.timestamp",
    unit: "s",
    description: "Unix time of the arrival's next deadline.",
};
pub const ARRIVAL_LAST: MetricDef = MetricDef {
    name: "pipeline_bridge.arrival.last.timestamp",
    unit: "s",
    description: "Newest LastModified (Unix seconds) seen under the prefix of the previous or next deadline's date; absent while nothing was seen.",
};
pub const ARRIVAL_MISSED: MetricDef = MetricDef {
    name: "pipeline_bridge.arrival.missed",
    unit: "{deadline}",
    description: "Arrival deadlines that passed without an object in their window, each counted once per bridge process.",
};

pub const POLL_INTERVAL: MetricDef = MetricDef {
    name: "pipeline_bridge.poll.interval",
    unit: "s",
    description: "The configured time between the starts of two poll cycles.",
};
pub const START_TIME: MetricDef = MetricDef {
    name: "pipeline_bridge.start_time",
    unit: "s",
    description: "Unix time at which the bridge process started.",
};

/// Every metric, for documentation and the docs test.
pub const ALL_METRICS: &[MetricDef] = &[
    RUN_DURATION,
    RUN_ERRORS,
    RUN_ACTIVE,
    SYSTEM_ERRORS,
    BRIDGE_ERRORS,
    TASK_DURATION,
    GLUE_DPU_USAGE,
    LAST_SUCCESS,
    LAST_FAILURE,
    AWS_API_CALLS,
    POLL_CYCLE_DURATION,
    EXPORT_FAILURES,
    EXPORT_LAG,
    PIPELINE_RUNS,
    PIPELINE_SLA,
    PIPELINE_SLA_BREACHES,
    PIPELINE_MAX_SUCCESS_INTERVAL,
    PIPELINE_INFO,
    POLL_LAST_SUCCESS,
    ACCOUNT_POLL_LAST_SUCCESS,
    ACCOUNT_WATERMARK_LAG,
    RUNS_PENDING,
    CHECKPOINT_LAST_COMMIT,
    POLL_INTERVAL,
    START_TIME,
    DEADLINE_STATE,
    DEADLINE_NEXT,
    DEADLINE_MET_AT,
    DEADLINE_MISSED,
    ARRIVAL_STATE,
    ARRIVAL_NEXT,
    ARRIVAL_LAST,
    ARRIVAL_MISSED,
];

/// Histogram bucket bounds for run and step durations: one second up to two days.
pub const DURATION_BUCKETS: &[f64] = &[
    1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 10800.0,
    21600.0, 43200.0, 86400.0, 172800.0,
];

/// Bucket bounds for poll-cycle duration and export lag (sub-second to an hour).
pub const FAST_BUCKETS: &[f64] = &[
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0,
];
