//! AWS Glue: job definitions and job runs.

use super::records::{GlueJob, GlueJobRun, JobRunRecord, WorkflowArguments};
use crate::aws::{millis, next_token, AwsError, PageCutoff};
use crate::records::Millis;
use aws_sdk_glue::types::{Job, JobRun};
use aws_sdk_glue::Client;

const SERVICE: &str = "glue";

/// Every job definition (`GetJobs`, 1000 per page).
pub async fn list_jobs(client: &Client, region: &str) -> Result<Vec<GlueJob>, AwsError> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let page = client
            .get_jobs()
            .max_results(1000)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(SERVICE, "GetJobs", region, e))?;
        out.extend(page.jobs().iter().map(job));
        token = next_token(page.next_token());
        if token.is_none() {
            return Ok(out);
        }
    }
}

/// Runs of a job started at or after `cutoff` (plus whatever older ones share their pages).
pub async fn list_job_runs(
    client: &Client,
    region: &str,
    job_name: &str,
    cutoff: Millis,
) -> Result<Vec<JobRunRecord>, AwsError> {
    let mut out = Vec::new();
    let mut token = None;
    let mut stop = PageCutoff::new();
    loop {
        let page = client
            .get_job_runs()
            .job_name(job_name)
            .max_results(200)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(SERVICE, "GetJobRuns", region, e))?;
        let runs: Vec<JobRunRecord> = page.job_runs().iter().map(job_run_record).collect();
        stop.observe(runs.iter().filter_map(|r| r.run.started_on), cutoff);
        out.extend(runs);
        token = next_token(page.next_token());
        if token.is_none() || stop.can_stop() {
            return Ok(out);
        }
    }
}

/// One run by id; `None` when Glue no longer knows it.
pub async fn get_job_run(
    client: &Client,
    region: &str,
    job_name: &str,
    run_id: &str,
) -> Result<Option<JobRunRecord>, AwsError> {
    match client
        .get_job_run()
        .job_name(job_name)
        .run_id(run_id)
        .send()
        .await
    {
        Ok(r) => Ok(r.job_run().map(job_run_record)),
        Err(e) => {
            let e = AwsError::from_sdk(SERVICE, "GetJobRun", region, e);
            if e.is_not_found() {
                Ok(None)
            } else {
                Err(e)
            }
        }
    }
}

/// Cheapest call that proves read access (`ListJobs`, one result).
pub async fn probe(client: &Client, region: &str) -> Result<(), AwsError> {
    client
        .list_jobs()
        .max_results(1)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| AwsError::from_sdk(SERVICE, "ListJobs", region, e))
}

fn job(j: &Job) -> GlueJob {
    GlueJob {
        name: j.name().unwrap_or_default().to_string(),
        worker_type: j.worker_type().map(|w| w.as_str().to_string()),
        number_of_workers: j.number_of_workers(),
        max_capacity: j.max_capacity(),
        glue_version: j.glue_version().map(str::to_string),
        timeout: j.timeout(),
        max_retries: Some(j.max_retries()),
    }
}

/// A job run with the workflow arguments Glue gave it.
fn job_run_record(r: &JobRun) -> JobRunRecord {
    let arg = |k: &str| r.arguments().and_then(|a| a.get(k)).cloned();
    JobRunRecord {
        run: job_run(r),
        arguments: WorkflowArguments {
            workflow_name: arg("--WORKFLOW_NAME"),
            workflow_run_id: arg("--WORKFLOW_RUN_ID"),
        },
    }
}

/// An SDK job run as its record (also the job runs of a workflow run's graph).
pub fn job_run(r: &JobRun) -> GlueJobRun {
    GlueJobRun {
        id: r.id().unwrap_or_default().to_string(),
        attempt: r.attempt(),
        previous_run_id: r.previous_run_id().map(str::to_string),
        trigger_name: r.trigger_name().map(str::to_string),
        job_name: r.job_name().unwrap_or_default().to_string(),
        started_on: r.started_on().map(millis),
        last_modified_on: r.last_modified_on().map(millis),
        completed_on: r.completed_on().map(millis),
        job_run_state: r
            .job_run_state()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        error_message: r.error_message().map(str::to_string),
        execution_time: Some(r.execution_time()),
        timeout: r.timeout(),
        max_capacity: r.max_capacity(),
        worker_type: r.worker_type().map(|w| w.as_str().to_string()),
        number_of_workers: r.number_of_workers(),
        glue_version: r.glue_version().map(str::to_string),
        dpu_seconds: r.dpu_seconds(),
        execution_class: r.execution_class().map(|c| c.as_str().to_string()),
    }
}

/// A Glue resource's tags (a job, workflow, crawler or Data Quality ruleset, by ARN).
pub async fn get_tags(
    client: &Client,
    region: &str,
    arn: &str,
) -> Result<std::collections::BTreeMap<String, String>, AwsError> {
    let out = client
        .get_tags()
        .resource_arn(arn)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(SERVICE, "GetTags", region, e))?;
    Ok(out.tags.unwrap_or_default().into_iter().collect())
}
