//! Glue job runs → [`PipelineRun`].

use super::records::{GlueJob, GlueJobRun, JobRunRecord, WorkflowArguments};
use crate::convert::{console_host, error_type_from_message, urlencode};
use crate::model::{
    truncate_message, Attr, PipelineRun, RunError, RunLink, RunPhase, RunResult, RunStatus,
    MAX_MESSAGE_BYTES,
};
use crate::records::Millis;
use crate::semconv as sc;

/// Maps a Glue `JobRunState` to where the run stands.
///
/// An unknown state is treated as in flight, so the run is re-read until it reaches a state the
/// bridge knows instead of being exported with a guessed result.
pub fn status(state: &str) -> RunStatus {
    match state {
        "SUCCEEDED" => RunStatus::Ended(RunResult::Success),
        "FAILED" => RunStatus::Ended(RunResult::Failure),
        "TIMEOUT" | "EXPIRED" => RunStatus::Ended(RunResult::Timeout),
        "ERROR" => RunStatus::Ended(RunResult::Error),
        "STOPPED" => RunStatus::Ended(RunResult::Cancellation),
        "STARTING" | "WAITING" => RunStatus::InFlight(RunPhase::Pending),
        "STOPPING" => RunStatus::InFlight(RunPhase::Finalizing),
        _ => RunStatus::InFlight(RunPhase::Executing),
    }
}

/// DPUs per worker by worker type (AWS Glue pricing page).
fn dpu_per_worker(worker_type: &str) -> Option<f64> {
    Some(match worker_type {
        "G.025X" => 0.25,
        "G.1X" | "Standard" => 1.0,
        "G.2X" | "Z.2X" => 2.0,
        "G.4X" => 4.0,
        "G.8X" => 8.0,
        "G.12X" => 12.0,
        "G.16X" => 16.0,
        _ => return None,
    })
}

/// DPU-seconds of a run: `DPUSeconds` when Glue reports it (auto-scaling and Flex runs), else
/// execution time × capacity, as the Glue console computes it.
pub fn dpu_seconds(run: &GlueJobRun) -> Option<f64> {
    if let Some(d) = run.dpu_seconds {
        return Some(d);
    }
    let exec = f64::from(run.execution_time?);
    if let Some(cap) = run.max_capacity {
        return Some(exec * cap);
    }
    let per = dpu_per_worker(run.worker_type.as_deref()?)?;
    Some(exec * per * f64::from(run.number_of_workers?))
}

/// Converts one job run. `job` fills in what the run omits (worker type, workers).
/// Returns `None` for a run without any timestamp, which cannot be placed in time.
pub fn to_run(
    account: &str,
    region: &str,
    job: Option<&GlueJob>,
    run: &GlueJobRun,
) -> Option<PipelineRun> {
    let job_name = if run.job_name.is_empty() {
        job.map(|j| j.name.as_str()).unwrap_or_default()
    } else {
        run.job_name.as_str()
    };
    let start = run.started_on.or(run.last_modified_on)?;
    let status = status(&run.job_run_state);
    let end = match status {
        RunStatus::InFlight(_) => None,
        // A run without CompletedOn still ended: fall back to its last change, then to its
        // execution time; an end before the start is clamped (zero-length span).
        RunStatus::Ended(_) => Some(
            run.completed_on
                .or(run.last_modified_on)
                .unwrap_or(Millis(start.0.saturating_add(
                    i64::from(run.execution_time.unwrap_or(0)).saturating_mul(1000),
                )))
                .max(start),
        ),
    };
    let error = match status {
        RunStatus::Ended(r) if r.is_error() => Some(RunError {
            error_type: run
                .error_message
                .as_deref()
                .and_then(error_type_from_message)
                .unwrap_or_else(|| state_or_other(&run.job_run_state)),
            message: truncate_message(
                run.error_message.as_deref().unwrap_or_default(),
                MAX_MESSAGE_BYTES,
            ),
        }),
        _ => None,
    };

    let will_retry = will_retry(job, run);

    let worker_type = run
        .worker_type
        .clone()
        .or_else(|| job.and_then(|j| j.worker_type.clone()));
    let workers = run
        .number_of_workers
        .or_else(|| job.and_then(|j| j.number_of_workers));
    let mut filled = run.clone();
    filled.worker_type = worker_type.clone();
    filled.number_of_workers = workers;
    let dpu = match status {
        RunStatus::Ended(_) => dpu_seconds(&filled),
        RunStatus::InFlight(_) => None,
    };

    let mut attributes = vec![
        Attr::str(sc::AWS_GLUE_JOB_RUN_STATE, run.job_run_state.clone()),
        Attr::int(sc::AWS_GLUE_ATTEMPT, i64::from(run.attempt)),
    ];
    let opt_str = |key, v: &Option<String>| v.as_ref().map(|v| Attr::str(key, v.clone()));
    attributes.extend(opt_str(sc::AWS_GLUE_PREVIOUS_RUN_ID, &run.previous_run_id));
    attributes.extend(opt_str(sc::AWS_GLUE_TRIGGER_NAME, &run.trigger_name));
    attributes.extend(opt_str(sc::AWS_GLUE_WORKER_TYPE, &worker_type));
    attributes.extend(workers.map(|w| Attr::int(sc::AWS_GLUE_NUMBER_OF_WORKERS, i64::from(w))));
    attributes.extend(
        run.max_capacity
            .map(|c| Attr::f64(sc::AWS_GLUE_MAX_CAPACITY, c)),
    );
    attributes.extend(opt_str(
        sc::AWS_GLUE_VERSION,
        &run.glue_version
            .clone()
            .or_else(|| job.and_then(|j| j.glue_version.clone())),
    ));
    attributes.extend(dpu.map(|d| Attr::f64(sc::AWS_GLUE_DPU_SECONDS, d)));
    if status != RunStatus::InFlight(RunPhase::Pending) {
        attributes.extend(
            run.execution_time
                .map(|t| Attr::int(sc::AWS_GLUE_EXECUTION_TIME, i64::from(t))),
        );
    }
    attributes.extend(opt_str(sc::AWS_GLUE_EXECUTION_CLASS, &run.execution_class));
    attributes.extend(
        run.timeout
            .map(|t| Attr::int(sc::AWS_GLUE_TIMEOUT_MINUTES, i64::from(t))),
    );

    Some(PipelineRun {
        queued_until: queued_until(start, end, run.execution_time),
        parent: None,
        links: Vec::new(),
        measures: Vec::new(),
        pipeline: super::pipeline(account, region, job_name),
        run_id: run.id.clone(),
        attempt: run.attempt.max(0) as u32,
        previous_run_id: run.previous_run_id.clone(),
        aws_state: run.job_run_state.clone(),
        status,
        start,
        end,
        error,
        will_retry,
        dpu_seconds: dpu,
        sla_secs: None,
        url: Some(format!(
            "https://{}/gluestudio/home?region={region}#/job/{}/run/{}",
            console_host(region),
            urlencode(job_name),
            urlencode(&run.id)
        )),
        attributes,
        tasks: Vec::new(),
    })
}

/// [`to_run`], linked to the workflow run that started the job run, if one did
/// ([`started_by`]).
pub fn to_run_record(
    account: &str,
    region: &str,
    job: Option<&GlueJob>,
    rec: &JobRunRecord,
) -> Option<PipelineRun> {
    let mut run = to_run(account, region, job, &rec.run)?;
    run.links
        .extend(started_by(account, region, &rec.arguments));
    Some(run)
}

/// The link (`started_by`) to the root of the workflow run's trace that started a job run,
/// from the `--WORKFLOW_NAME` and `--WORKFLOW_RUN_ID` arguments Glue gives such a run.
pub fn started_by(account: &str, region: &str, args: &WorkflowArguments) -> Option<RunLink> {
    let name = args.workflow_name.as_deref().filter(|s| !s.is_empty())?;
    let run_id = args.workflow_run_id.as_deref().filter(|s| !s.is_empty())?;
    Some(RunLink {
        pipeline: crate::sources::glue_workflow::pipeline(account, region, name),
        run_id: run_id.to_string(),
        attempt: crate::sources::glue_workflow::ATTEMPT,
        reason: "started_by",
    })
}

/// Whether Glue will run this failed attempt again: Glue retries a run that ends `FAILED`
/// (not `TIMEOUT`, `ERROR` or `STOPPED`) while its attempt number (0 for the first run) is
/// below the job's `MaxRetries`.
pub fn will_retry(job: Option<&GlueJob>, run: &GlueJobRun) -> bool {
    run.job_run_state == "FAILED"
        && job
            .and_then(|j| j.max_retries)
            .is_some_and(|max| run.attempt >= 0 && run.attempt < max)
}

fn state_or_other(state: &str) -> String {
    if state.is_empty() {
        "_OTHER".to_string()
    } else {
        state.to_string()
    }
}

/// When an ended run began executing, as far as Glue tells: Glue gives no such time, but
/// `ExecutionTime` is the seconds the run used resources, so the rest of its duration was
/// spent starting and waiting (`STARTING`, `WAITING`). A gap under 2 s (whole-second rounding)
/// is no queue.
pub fn queued_until(
    start: Millis,
    end: Option<Millis>,
    execution_time: Option<i32>,
) -> Option<Millis> {
    let end = end?;
    let exec_ms = i64::from(execution_time.filter(|t| *t > 0)?).saturating_mul(1000);
    let q = Millis(end.0.saturating_sub(exec_ms));
    (q.0.saturating_sub(start.0) >= 2000).then_some(q)
}

#[cfg(test)]
mod queue_tests {
    use super::*;

    #[test]
    fn the_time_not_spent_executing_is_the_queue() {
        let (s, e) = (Millis(1_000_000), Some(Millis(1_100_000)));
        assert_eq!(queued_until(s, e, Some(60)), Some(Millis(1_040_000)));
        assert_eq!(queued_until(s, e, Some(99)), None, "under 2 s: rounding");
        assert_eq!(queued_until(s, e, Some(98)), Some(Millis(1_002_000)));
        assert_eq!(queued_until(s, e, Some(150)), None, "longer than the run");
        assert_eq!(queued_until(s, e, Some(0)), None);
        assert_eq!(queued_until(s, e, None), None);
        assert_eq!(queued_until(s, None, Some(60)), None, "in flight");
        assert_eq!(queued_until(s, e, Some(i32::MAX)), None);
    }
}
