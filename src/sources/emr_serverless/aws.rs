//! EMR Serverless: applications and job runs.

use super::records::{EmrApplication, EmrJobRun, Utilization};
use crate::aws::{millis, next_token, AwsError};
use crate::records::Millis;
use aws_sdk_emrserverless::types::{
    ApplicationSummary, JobRun, JobRunSummary, ResourceUtilization, TotalResourceUtilization,
};
use aws_sdk_emrserverless::Client;
use aws_smithy_types::DateTime;

const SERVICE: &str = "emr-serverless";
/// The APIs' largest page (`maxResults` 1–50).
const PAGE: i32 = 50;

/// Every application (`ListApplications`, 50 per page).
pub async fn list_applications(
    client: &Client,
    region: &str,
) -> Result<Vec<EmrApplication>, AwsError> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = client
            .list_applications()
            .max_results(PAGE)
            .set_next_token(token.clone())
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(SERVICE, "ListApplications", region, e))?;
        out.extend(page.applications().iter().map(application));
        let next = next_token(page.next_token());
        // A token handed back unchanged would page forever.
        if next.is_none() || next == token {
            return Ok(out);
        }
        token = next;
    }
}

/// Job runs of an application created after `since` (the API filters; every page is read).
/// An application deleted since discovery has no runs (`ResourceNotFoundException`).
pub async fn list_job_runs(
    client: &Client,
    region: &str,
    application_id: &str,
    since: Millis,
) -> Result<Vec<EmrJobRun>, AwsError> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    // `createdAtAfter` may be exclusive: a second earlier keeps a run created at `since`.
    let after = DateTime::from_millis(since.0.saturating_sub(1000));
    loop {
        let page = match client
            .list_job_runs()
            .application_id(application_id)
            .created_at_after(after)
            .max_results(PAGE)
            .set_next_token(token.clone())
            .send()
            .await
        {
            Ok(p) => p,
            Err(e) => {
                let e = AwsError::from_sdk(SERVICE, "ListJobRuns", region, e);
                return if e.is_not_found() && token.is_none() {
                    Ok(out)
                } else {
                    Err(e)
                };
            }
        };
        out.extend(page.job_runs().iter().map(job_run_summary));
        let next = next_token(page.next_token());
        if next.is_none() || next == token {
            return Ok(out);
        }
        token = next;
    }
}

/// One job run by id, in full (start, end, utilization); `None` when the application or the
/// run is unknown.
pub async fn get_job_run(
    client: &Client,
    region: &str,
    application_id: &str,
    run_id: &str,
) -> Result<Option<EmrJobRun>, AwsError> {
    match client
        .get_job_run()
        .application_id(application_id)
        .job_run_id(run_id)
        .send()
        .await
    {
        Ok(r) => Ok(r.job_run().map(job_run)),
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

/// Cheapest call that proves read access (`ListApplications`, one result).
pub async fn probe(client: &Client, region: &str) -> Result<(), AwsError> {
    client
        .list_applications()
        .max_results(1)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| AwsError::from_sdk(SERVICE, "ListApplications", region, e))
}

/// A time the SDK filled in for a missing required field (the epoch) is no time.
fn time(t: &DateTime) -> Option<Millis> {
    (t.secs() != 0 || t.subsec_nanos() != 0).then(|| millis(t))
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

fn application(a: &ApplicationSummary) -> EmrApplication {
    EmrApplication {
        id: a.id().to_string(),
        name: a.name().map(str::to_string),
        arn: a.arn().to_string(),
        release_label: a.release_label().to_string(),
        kind: a.r#type().to_string(),
        state: a.state().as_str().to_string(),
    }
}

fn job_run_summary(r: &JobRunSummary) -> EmrJobRun {
    EmrJobRun {
        application_id: r.application_id().to_string(),
        job_run_id: r.id().to_string(),
        name: r.name().map(str::to_string),
        arn: r.arn().to_string(),
        created_by: non_empty(r.created_by()),
        created_at: time(r.created_at()),
        updated_at: time(r.updated_at()),
        execution_role: non_empty(r.execution_role()),
        state: r.state().as_str().to_string(),
        state_details: non_empty(r.state_details()),
        release_label: non_empty(r.release_label()),
        mode: r.mode().map(|m| m.as_str().to_string()),
        attempt: r.attempt(),
        attempt_created_at: r.attempt_created_at().and_then(time),
        attempt_updated_at: r.attempt_updated_at().and_then(time),
        ..EmrJobRun::default()
    }
}

fn total(u: &TotalResourceUtilization) -> Utilization {
    Utilization {
        vcpu_hour: u.v_cpu_hour(),
        memory_gb_hour: u.memory_gb_hour(),
        storage_gb_hour: u.storage_gb_hour(),
    }
}

fn billed(u: &ResourceUtilization) -> Utilization {
    Utilization {
        vcpu_hour: u.v_cpu_hour(),
        memory_gb_hour: u.memory_gb_hour(),
        storage_gb_hour: u.storage_gb_hour(),
    }
}

fn job_run(r: &JobRun) -> EmrJobRun {
    EmrJobRun {
        application_id: r.application_id().to_string(),
        job_run_id: r.job_run_id().to_string(),
        name: r.name().map(str::to_string),
        arn: r.arn().to_string(),
        created_by: non_empty(r.created_by()),
        created_at: time(r.created_at()),
        updated_at: time(r.updated_at()),
        execution_role: non_empty(r.execution_role()),
        state: r.state().as_str().to_string(),
        state_details: non_empty(r.state_details()),
        release_label: non_empty(r.release_label()),
        mode: r.mode().map(|m| m.as_str().to_string()),
        attempt: r.attempt(),
        attempt_created_at: r.attempt_created_at().and_then(time),
        attempt_updated_at: r.attempt_updated_at().and_then(time),
        started_at: r.started_at().and_then(time),
        ended_at: r.ended_at().and_then(time),
        queued_duration_milliseconds: r.queued_duration_milliseconds(),
        total_execution_duration_seconds: r.total_execution_duration_seconds(),
        execution_timeout_minutes: r.execution_timeout_minutes(),
        total_resource_utilization: r.total_resource_utilization().map(total),
        billed_resource_utilization: r.billed_resource_utilization().map(billed),
    }
}

/// An application's tags.
pub async fn tags(
    client: &Client,
    region: &str,
    arn: &str,
) -> Result<std::collections::BTreeMap<String, String>, AwsError> {
    let out = client
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(SERVICE, "ListTagsForResource", region, e))?;
    Ok(out.tags.unwrap_or_default().into_iter().collect())
}
