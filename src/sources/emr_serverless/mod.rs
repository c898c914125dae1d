//! EMR Serverless job runs: one trace per job run of an application, with its queue time as a
//! span and its resource utilization as attributes and metrics.
//!
//! A pipeline is an application, by name (applications sharing a name are one pipeline).
//! Calls per cycle: `ListApplications` every `discovery_interval` (50 per page); per
//! application `ListJobRuns` with `createdAtAfter` = the pipeline's listing floor (50 per
//! page, only the window's runs); `GetJobRun` once per run that ended since the last cycle
//! (start, end, utilization are not in the listing) and per awaited run the listing no longer
//! returns.

pub mod aws;
pub mod convert;
pub mod records;

use super::{scan, Connection, DetailsCache, PipelineScan, RunSource, Source, SourceSpec, Window};
use crate::aws::AwsError;
use crate::model::{PipelineKind, PipelineRef, PipelineRun};
use crate::records::Millis;
use crate::semconv::MetricDef;
use crate::state::Checkpoint;
use futures::future::BoxFuture;
use futures::FutureExt;
use records::{EmrApplication, EmrJobRun};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// `emr-serverless`, `cloud.platform` `aws_emr_serverless`.
pub const KIND: PipelineKind = PipelineKind::new("emr-serverless", "aws_emr_serverless");

/// The application id of the run (`ListJobRuns`/`GetJobRun` `applicationId`).
pub const ATTR_APPLICATION_ID: &str = "aws.emr_serverless.application.id";
/// The job run's own name (`name`, optional, not unique).
pub const ATTR_JOB_RUN_NAME: &str = "aws.emr_serverless.job_run.name";
/// The job run `state` as AWS names it.
pub const ATTR_JOB_RUN_STATE: &str = "aws.emr_serverless.job_run.state";
/// `BATCH` or `STREAMING`.
pub const ATTR_MODE: &str = "aws.emr_serverless.job_run.mode";
/// The attempt (1 for the first) the job run is at.
pub const ATTR_ATTEMPT: &str = "aws.emr_serverless.job_run.attempt";
/// The EMR release (`emr-7.1.0`).
pub const ATTR_RELEASE_LABEL: &str = "aws.emr_serverless.release_label";
/// The execution role ARN.
pub const ATTR_EXECUTION_ROLE: &str = "aws.emr_serverless.execution_role";
/// Milliseconds in the `QUEUED` state (`queuedDurationMilliseconds`).
pub const ATTR_QUEUED_DURATION_MS: &str = "aws.emr_serverless.job_run.queued_duration_ms";
/// Seconds of execution (`totalExecutionDurationSeconds`).
pub const ATTR_EXECUTION_DURATION: &str = "aws.emr_serverless.job_run.execution_duration";
/// `executionTimeoutMinutes`.
pub const ATTR_EXECUTION_TIMEOUT_MINUTES: &str =
    "aws.emr_serverless.job_run.execution_timeout_minutes";
/// `totalResourceUtilization.vCPUHour`.
pub const ATTR_VCPU_HOURS: &str = "aws.emr_serverless.utilization.vcpu_hours";
/// `totalResourceUtilization.memoryGBHour`.
pub const ATTR_MEMORY_GB_HOURS: &str = "aws.emr_serverless.utilization.memory_gb_hours";
/// `totalResourceUtilization.storageGBHour`.
pub const ATTR_STORAGE_GB_HOURS: &str = "aws.emr_serverless.utilization.storage_gb_hours";
/// `billedResourceUtilization.vCPUHour`.
pub const ATTR_BILLED_VCPU_HOURS: &str = "aws.emr_serverless.billed_utilization.vcpu_hours";
/// `billedResourceUtilization.memoryGBHour`.
pub const ATTR_BILLED_MEMORY_GB_HOURS: &str =
    "aws.emr_serverless.billed_utilization.memory_gb_hours";
/// `billedResourceUtilization.storageGBHour`.
pub const ATTR_BILLED_STORAGE_GB_HOURS: &str =
    "aws.emr_serverless.billed_utilization.storage_gb_hours";

pub const VCPU_HOURS: MetricDef = MetricDef {
    name: "pipeline_bridge.emr_serverless.vcpu_hours",
    unit: "{vcpu_hour}",
    description: "vCPU-hours used by finished EMR Serverless job runs (totalResourceUtilization).",
};
pub const MEMORY_GB_HOURS: MetricDef = MetricDef {
    name: "pipeline_bridge.emr_serverless.memory_gb_hours",
    unit: "{gb_hour}",
    description:
        "Memory GB-hours used by finished EMR Serverless job runs (totalResourceUtilization).",
};
pub const STORAGE_GB_HOURS: MetricDef = MetricDef {
    name: "pipeline_bridge.emr_serverless.storage_gb_hours",
    unit: "{gb_hour}",
    description:
        "Storage GB-hours used by finished EMR Serverless job runs (totalResourceUtilization).",
};
pub const BILLED_VCPU_HOURS: MetricDef = MetricDef {
    name: "pipeline_bridge.emr_serverless.billed_vcpu_hours",
    unit: "{vcpu_hour}",
    description:
        "vCPU-hours billed for finished EMR Serverless job runs (billedResourceUtilization).",
};
pub const BILLED_MEMORY_GB_HOURS: MetricDef = MetricDef {
    name: "pipeline_bridge.emr_serverless.billed_memory_gb_hours",
    unit: "{gb_hour}",
    description:
        "Memory GB-hours billed for finished EMR Serverless job runs (billedResourceUtilization).",
};
pub const BILLED_STORAGE_GB_HOURS: MetricDef = MetricDef {
    name: "pipeline_bridge.emr_serverless.billed_storage_gb_hours",
    unit: "{gb_hour}",
    description:
        "Storage GB-hours billed for finished EMR Serverless job runs (billedResourceUtilization).",
};

pub static SPEC: SourceSpec = SourceSpec {
    key: "emr_serverless",
    kind: KIND,
    component: "emr-serverless",
    watches: "EMR Serverless job runs",
    iam_actions: &[
        "emr-serverless:ListApplications",
        "emr-serverless:ListJobRuns",
        "emr-serverless:GetJobRun",
    ],
    tag_actions: &["emr-serverless:ListTagsForResource"],
    metrics: &[
        VCPU_HOURS,
        MEMORY_GB_HOURS,
        STORAGE_GB_HOURS,
        BILLED_VCPU_HOURS,
        BILLED_MEMORY_GB_HOURS,
        BILLED_STORAGE_GB_HOURS,
    ],
    connect: |c| Box::new(Applications::connect(c)),
};

/// An application (by name), with the ARN AWS gave it.
pub fn pipeline(account: &str, region: &str, name: &str, arn: &str) -> PipelineRef {
    PipelineRef::new(KIND, account, region, name, arn)
}

/// The EMR Serverless applications of one account and region.
pub struct Applications {
    client: aws_sdk_emrserverless::Client,
    account: String,
    region: String,
    /// Applications from the last discovery, by pipeline name (ids in id order).
    apps: Mutex<BTreeMap<String, Vec<EmrApplication>>>,
}

impl Applications {
    pub fn connect(c: &Connection<'_>) -> Self {
        Applications {
            client: aws_sdk_emrserverless::Client::from_conf(
                aws_sdk_emrserverless::config::Builder::from(c.sdk)
                    .interceptor(c.counter.clone())
                    .build(),
            ),
            account: c.account.to_string(),
            region: c.region.to_string(),
            apps: Mutex::default(),
        }
    }
}

/// Applications grouped by pipeline name, each group in id order (its first one gives the
/// pipeline's ARN).
pub fn by_name(apps: Vec<EmrApplication>) -> BTreeMap<String, Vec<EmrApplication>> {
    let mut m: BTreeMap<String, Vec<EmrApplication>> = BTreeMap::new();
    for a in apps {
        m.entry(a.pipeline_name().to_string()).or_default().push(a);
    }
    for v in m.values_mut() {
        v.sort_by(|a, b| a.id.cmp(&b.id));
        v.dedup_by(|a, b| a.id == b.id);
    }
    m
}

impl Source for Applications {
    fn spec(&self) -> &'static SourceSpec {
        &SPEC
    }
    fn account(&self) -> &str {
        &self.account
    }
    fn region(&self) -> &str {
        &self.region
    }

    fn discover(&self) -> BoxFuture<'_, Result<Vec<PipelineRef>, AwsError>> {
        async move {
            let apps = by_name(aws::list_applications(&self.client, &self.region).await?);
            let out = apps
                .iter()
                .filter_map(|(name, v)| {
                    let first = v.first()?;
                    Some(pipeline(&self.account, &self.region, name, &first.arn))
                })
                .collect();
            if let Ok(mut m) = self.apps.lock() {
                *m = apps;
            }
            Ok(out)
        }
        .boxed()
    }

    fn scan<'a>(
        &'a self,
        pipeline: &'a PipelineRef,
        cp: &'a Checkpoint,
        w: Window,
        cache: Option<&'a DetailsCache>,
    ) -> BoxFuture<'a, Result<PipelineScan, AwsError>> {
        async move {
            let ids: Vec<String> = self
                .apps
                .lock()
                .ok()
                .and_then(|m| m.get(&pipeline.name).cloned())
                .unwrap_or_default()
                .into_iter()
                .map(|a| a.id)
                .collect();
            let src = JobRuns {
                client: &self.client,
                account: &self.account,
                region: &self.region,
                name: &pipeline.name,
                arn: &pipeline.arn,
                application_ids: &ids,
            };
            scan::scan(&src, cp, w.cutoff, w.now, cache).await
        }
        .boxed()
    }

    fn probe(&self) -> BoxFuture<'_, Result<(), AwsError>> {
        aws::probe(&self.client, &self.region).boxed()
    }

    fn tags<'a>(
        &'a self,
        pipeline: &'a PipelineRef,
    ) -> BoxFuture<'a, Result<std::collections::BTreeMap<String, String>, AwsError>> {
        aws::tags(&self.client, &self.region, &pipeline.arn).boxed()
    }
}

/// A job run as read, and whether it came from `GetJobRun` (complete: no second read needed).
#[derive(Debug, Clone)]
pub struct Listed {
    pub run: EmrJobRun,
    pub full: bool,
}

/// The job runs of one pipeline (its applications of one name).
pub struct JobRuns<'a> {
    pub client: &'a aws_sdk_emrserverless::Client,
    pub account: &'a str,
    pub region: &'a str,
    pub name: &'a str,
    pub arn: &'a str,
    pub application_ids: &'a [String],
}

impl RunSource for JobRuns<'_> {
    type Record = Listed;

    async fn list(&self, since: Millis) -> Result<Vec<Listed>, AwsError> {
        let mut out = Vec::new();
        for app in self.application_ids {
            let runs = aws::list_job_runs(self.client, self.region, app, since).await?;
            out.extend(runs.into_iter().map(|run| Listed { run, full: false }));
        }
        Ok(out)
    }
    async fn get(&self, run_id: &str) -> Result<Option<Listed>, AwsError> {
        for app in self.application_ids {
            if let Some(run) = aws::get_job_run(self.client, self.region, app, run_id).await? {
                return Ok(Some(Listed { run, full: true }));
            }
        }
        Ok(None)
    }
    fn id<'r>(&self, rec: &'r Listed) -> &'r str {
        &rec.run.job_run_id
    }
    fn to_run(&self, rec: &Listed) -> Option<PipelineRun> {
        convert::to_run(self.account, self.region, self.name, self.arn, &rec.run)
    }
    /// Start of execution, end and utilization (not in `ListJobRuns`), read once.
    async fn details(&self, rec: &Listed) -> Result<Option<PipelineRun>, AwsError> {
        if rec.full {
            return Ok(self.to_run(rec));
        }
        let app = if rec.run.application_id.is_empty() {
            self.application_ids.first().map(String::as_str)
        } else {
            Some(rec.run.application_id.as_str())
        };
        let Some(app) = app else {
            return Ok(self.to_run(rec));
        };
        match aws::get_job_run(self.client, self.region, app, &rec.run.job_run_id).await? {
            Some(run) => Ok(convert::to_run(
                self.account,
                self.region,
                self.name,
                self.arn,
                &run,
            )),
            // Listed a moment ago, gone now: what the listing said stands.
            None => Ok(self.to_run(rec)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(id: &str, name: Option<&str>) -> EmrApplication {
        EmrApplication {
            id: id.into(),
            name: name.map(str::to_string),
            arn: format!("arn:aws:emr-serverless:us-east-1:1:/applications/{id}"),
            ..Default::default()
        }
    }

    #[test]
    fn applications_of_one_name_are_one_pipeline() {
        let m = by_name(vec![
            app("00b", Some("etl")),
            app("00a", Some("etl")),
            app("00c", None),
            app("00d", Some("")),
            app("00a", Some("etl")),
        ]);
        let ids = |n: &str| m[n].iter().map(|a| a.id.as_str()).collect::<Vec<_>>();
        assert_eq!(ids("etl"), ["00a", "00b"], "id order, each once");
        assert_eq!(ids("00c"), ["00c"], "a nameless application goes by its id");
        assert_eq!(ids("00d"), ["00d"]);
        assert_eq!(m.len(), 3);
    }
}
