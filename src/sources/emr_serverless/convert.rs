//! EMR Serverless job runs → [`PipelineRun`].
//!
//! A job run is one trace: its start is the submission (`createdAt`), its time to `startedAt`
//! (when it entered `RUNNING`) is the queue span, its end is `endedAt`. The resources it used
//! and was billed for are attributes and the source's own metrics.

use super::records::{EmrJobRun, Utilization};
use super::{
    ATTR_APPLICATION_ID, ATTR_ATTEMPT, ATTR_BILLED_MEMORY_GB_HOURS, ATTR_BILLED_STORAGE_GB_HOURS,
    ATTR_BILLED_VCPU_HOURS, ATTR_EXECUTION_DURATION, ATTR_EXECUTION_ROLE,
    ATTR_EXECUTION_TIMEOUT_MINUTES, ATTR_JOB_RUN_NAME, ATTR_JOB_RUN_STATE, ATTR_MEMORY_GB_HOURS,
    ATTR_MODE, ATTR_QUEUED_DURATION_MS, ATTR_RELEASE_LABEL, ATTR_STORAGE_GB_HOURS, ATTR_VCPU_HOURS,
    BILLED_MEMORY_GB_HOURS, BILLED_STORAGE_GB_HOURS, BILLED_VCPU_HOURS, MEMORY_GB_HOURS,
    STORAGE_GB_HOURS, VCPU_HOURS,
};
use crate::convert::{console_host, error_type_from_message, urlencode};
use crate::model::{
    truncate_message, Attr, Measure, MeasureKind, PipelineRun, RunError, RunPhase, RunResult,
    RunStatus, MAX_MESSAGE_BYTES,
};
use crate::semconv::MetricDef;

/// `error.type` of a run cancelled because it ran past its `executionTimeoutMinutes`.
pub const TIMEOUT_ERROR_TYPE: &str = "TIMEOUT";

/// Whether a `CANCELLED` run's `stateDetails` say it timed out (EMR Serverless cancels a run
/// that exceeds its execution timeout, and says so in `stateDetails`).
fn timed_out(details: Option<&str>) -> bool {
    details.is_some_and(|d| {
        let d = d.to_ascii_lowercase();
        d.contains("timed out") || d.contains("timeout")
    })
}

/// Maps a job run `state` (and, for `CANCELLED`, its details) to where the run stands.
///
/// An unknown state is in flight, so the run is re-read until it reaches a state the bridge
/// knows instead of being exported with a guessed result.
pub fn status(state: &str, details: Option<&str>) -> RunStatus {
    match state {
        "SUCCESS" => RunStatus::Ended(RunResult::Success),
        "FAILED" => RunStatus::Ended(RunResult::Failure),
        "CANCELLED" if timed_out(details) => RunStatus::Ended(RunResult::Timeout),
        "CANCELLED" => RunStatus::Ended(RunResult::Cancellation),
        "SUBMITTED" | "PENDING" | "SCHEDULED" | "QUEUED" => RunStatus::InFlight(RunPhase::Pending),
        "CANCELLING" => RunStatus::InFlight(RunPhase::Finalizing),
        _ => RunStatus::InFlight(RunPhase::Executing),
    }
}

/// Console page of a job run's application (its job runs list).
pub fn url(region: &str, application_id: &str) -> String {
    format!(
        "https://{}/emr/home?region={region}#/serverless-applications/{}",
        console_host(region),
        urlencode(application_id)
    )
}

/// Largest utilization figure taken as true (hours): past it a figure is bad data, and one
/// bad figure would stay in a cumulative counter for ever.
pub const MAX_FIGURE: f64 = 1.0e7;

/// A utilization figure fit for a span and a counter: a number from 0 to [`MAX_FIGURE`].
fn figure(v: Option<f64>) -> Option<f64> {
    v.filter(|v| (0.0..=MAX_FIGURE).contains(v))
}

/// The utilization figures with their attribute keys and metrics.
fn figures(
    u: Option<&Utilization>,
    keys: [&'static str; 3],
    metrics: [&'static MetricDef; 3],
) -> Vec<(&'static str, &'static MetricDef, f64)> {
    let Some(u) = u else { return Vec::new() };
    [u.vcpu_hour, u.memory_gb_hour, u.storage_gb_hour]
        .into_iter()
        .zip(keys.into_iter().zip(metrics))
        .filter_map(|(v, (k, m))| figure(v).map(|v| (k, m, v)))
        .collect()
}

/// Converts one job run of the application `app_name` (ARN `app_arn`). Returns `None` for a
/// run without any timestamp, which cannot be placed in time.
pub fn to_run(
    account: &str,
    region: &str,
    app_name: &str,
    app_arn: &str,
    run: &EmrJobRun,
) -> Option<PipelineRun> {
    let start = run
        .created_at
        .or(run.attempt_created_at)
        .or(run.started_at)
        .or(run.updated_at)?;
    let details = run.state_details.as_deref().filter(|d| !d.is_empty());
    let status = status(&run.state, details);
    let end = match status {
        RunStatus::InFlight(_) => None,
        // No endedAt (a summary, or odd data): the last update stands in; an end before the
        // start is clamped (zero-length span).
        RunStatus::Ended(_) => Some(
            run.ended_at
                .filter(|e| *e >= start)
                .or(run.updated_at)
                .unwrap_or(start)
                .max(start),
        ),
    };
    let queued_until = run.started_at.filter(|s| *s > start);
    let error = match status {
        RunStatus::Ended(r) if r.is_error() => Some(RunError {
            error_type: if r == RunResult::Timeout {
                TIMEOUT_ERROR_TYPE.to_string()
            } else {
                details
                    .and_then(error_type_from_message)
                    .unwrap_or_else(|| state_or_other(&run.state))
            },
            message: truncate_message(details.unwrap_or_default(), MAX_MESSAGE_BYTES),
        }),
        _ => None,
    };

    let application_id = if run.application_id.is_empty() {
        app_arn.rsplit('/').next().unwrap_or_default()
    } else {
        run.application_id.as_str()
    };
    let mut attributes = vec![
        Attr::str(ATTR_APPLICATION_ID, application_id),
        Attr::str(ATTR_JOB_RUN_STATE, run.state.clone()),
    ];
    let opt_str = |key, v: &Option<String>| {
        v.as_ref()
            .filter(|v| !v.is_empty())
            .map(|v| Attr::str(key, v.clone()))
    };
    attributes.extend(opt_str(ATTR_JOB_RUN_NAME, &run.name));
    attributes.extend(opt_str(ATTR_RELEASE_LABEL, &run.release_label));
    attributes.extend(opt_str(ATTR_EXECUTION_ROLE, &run.execution_role));
    attributes.extend(opt_str(ATTR_MODE, &run.mode));
    attributes.extend(run.attempt.map(|a| Attr::int(ATTR_ATTEMPT, i64::from(a))));
    attributes.extend(
        run.queued_duration_milliseconds
            .filter(|q| *q >= 0)
            .map(|q| Attr::int(ATTR_QUEUED_DURATION_MS, q)),
    );
    attributes.extend(
        run.total_execution_duration_seconds
            .filter(|d| *d >= 0)
            .map(|d| Attr::int(ATTR_EXECUTION_DURATION, i64::from(d))),
    );
    attributes.extend(
        run.execution_timeout_minutes
            .map(|t| Attr::int(ATTR_EXECUTION_TIMEOUT_MINUTES, t)),
    );

    let mut measures = Vec::new();
    if let RunStatus::Ended(_) = status {
        let used = figures(
            run.total_resource_utilization.as_ref(),
            [ATTR_VCPU_HOURS, ATTR_MEMORY_GB_HOURS, ATTR_STORAGE_GB_HOURS],
            [&VCPU_HOURS, &MEMORY_GB_HOURS, &STORAGE_GB_HOURS],
        );
        let paid = figures(
            run.billed_resource_utilization.as_ref(),
            [
                ATTR_BILLED_VCPU_HOURS,
                ATTR_BILLED_MEMORY_GB_HOURS,
                ATTR_BILLED_STORAGE_GB_HOURS,
            ],
            [
                &BILLED_VCPU_HOURS,
                &BILLED_MEMORY_GB_HOURS,
                &BILLED_STORAGE_GB_HOURS,
            ],
        );
        for (key, metric, value) in used.into_iter().chain(paid) {
            attributes.push(Attr::f64(key, value));
            measures.push(Measure {
                metric,
                kind: MeasureKind::Sum,
                value,
                labels: Vec::new(),
            });
        }
    }

    Some(PipelineRun {
        parent: None,
        pipeline: super::pipeline(account, region, app_name, app_arn),
        run_id: run.job_run_id.clone(),
        // One trace per job run: its retries (a retry policy's attempts) are inside it, and
        // the attempt number is an attribute.
        attempt: 0,
        previous_run_id: None,
        aws_state: run.state.clone(),
        status,
        start,
        end,
        error,
        will_retry: false,
        dpu_seconds: None,
        url: Some(url(region, application_id)),
        sla_secs: None,
        queued_until,
        links: Vec::new(),
        measures,
        attributes,
        tasks: Vec::new(),
    })
}

fn state_or_other(state: &str) -> String {
    if state.is_empty() {
        "_OTHER".to_string()
    } else {
        state.to_string()
    }
}
