//! Glue job runs: one trace per job run attempt.
//!
//! Calls per cycle: `GetJobs` every `discovery_interval` (1000 jobs per page); per job
//! `GetJobRuns` (newest first, stops at the cutoff), and `GetJobRun` per awaited run the
//! listing no longer returns.

pub mod aws;
pub mod convert;
pub mod records;

use super::{scan, Connection, DetailsCache, PipelineScan, RunSource, Source, SourceSpec, Window};
use crate::aws::AwsError;
use crate::model::{partition, PipelineKind, PipelineRef, PipelineRun};
use crate::records::Millis;
use crate::state::Checkpoint;
use futures::future::BoxFuture;
use futures::FutureExt;
use records::{GlueJob, JobRunRecord};
use std::collections::HashMap;
use std::sync::Mutex;

/// `glue-job`, `cloud.platform` `aws_glue`.
pub const KIND: PipelineKind = PipelineKind::new("glue-job", "aws_glue");

pub static SPEC: SourceSpec = SourceSpec {
    key: "glue",
    kind: KIND,
    component: "glue",
    watches: "Glue job runs",
    iam_actions: &[
        "glue:GetJobs",
        "glue:GetJobRuns",
        "glue:GetJobRun",
        "glue:ListJobs",
    ],
    tag_actions: &["glue:GetTags"],
    metrics: &[crate::semconv::GLUE_DPU_USAGE],
    connect: |c| Box::new(GlueJobs::connect(c)),
};

/// A Glue job; its ARN is derived, as Glue's APIs do not return it.
pub fn pipeline(account: &str, region: &str, name: &str) -> PipelineRef {
    PipelineRef::new(
        KIND,
        account,
        region,
        name,
        &format!(
            "arn:{}:glue:{region}:{account}:job/{name}",
            partition(region)
        ),
    )
}

/// The Glue jobs of one account and region.
pub struct GlueJobs {
    client: aws_sdk_glue::Client,
    account: String,
    region: String,
    /// Job definitions from the last discovery (retries, capacity), by name.
    jobs: Mutex<HashMap<String, GlueJob>>,
}

impl GlueJobs {
    pub fn connect(c: &Connection<'_>) -> Self {
        GlueJobs {
            client: aws_sdk_glue::Client::from_conf(
                aws_sdk_glue::config::Builder::from(c.sdk)
                    .interceptor(c.counter.clone())
                    .build(),
            ),
            account: c.account.to_string(),
            region: c.region.to_string(),
            jobs: Mutex::default(),
        }
    }
}

impl Source for GlueJobs {
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
            let jobs = aws::list_jobs(&self.client, &self.region).await?;
            let out = jobs
                .iter()
                .map(|j| pipeline(&self.account, &self.region, &j.name))
                .collect();
            if let Ok(mut m) = self.jobs.lock() {
                *m = jobs.into_iter().map(|j| (j.name.clone(), j)).collect();
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
            let job = self
                .jobs
                .lock()
                .ok()
                .and_then(|m| m.get(&pipeline.name).cloned());
            let src = JobRuns {
                client: &self.client,
                account: &self.account,
                region: &self.region,
                name: &pipeline.name,
                job: job.as_ref(),
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
        crate::sources::glue_job::aws::get_tags(&self.client, &self.region, &pipeline.arn).boxed()
    }
}

/// The runs of one Glue job.
pub struct JobRuns<'a> {
    pub client: &'a aws_sdk_glue::Client,
    pub account: &'a str,
    pub region: &'a str,
    pub name: &'a str,
    pub job: Option<&'a GlueJob>,
}

impl RunSource for JobRuns<'_> {
    type Record = JobRunRecord;

    async fn list(&self, since: Millis) -> Result<Vec<JobRunRecord>, AwsError> {
        aws::list_job_runs(self.client, self.region, self.name, since).await
    }
    async fn get(&self, run_id: &str) -> Result<Option<JobRunRecord>, AwsError> {
        aws::get_job_run(self.client, self.region, self.name, run_id).await
    }
    fn id<'r>(&self, rec: &'r JobRunRecord) -> &'r str {
        &rec.run.id
    }
    fn to_run(&self, rec: &JobRunRecord) -> Option<PipelineRun> {
        convert::to_run_record(self.account, self.region, self.job, rec)
    }
    async fn details(&self, rec: &JobRunRecord) -> Result<Option<PipelineRun>, AwsError> {
        Ok(self.to_run(rec))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn derived_arns_use_the_region_partition() {
        for (region, part) in [
            ("eu-west-1", "aws"),
            ("cn-north-1", "aws-cn"),
            ("cn-northwest-1", "aws-cn"),
            ("us-gov-west-1", "aws-us-gov"),
            ("us-iso-east-1", "aws-iso"),
            ("us-isob-east-1", "aws-iso-b"),
            ("eu-isoe-west-1", "aws-iso-e"),
            ("us-isof-south-1", "aws-iso-f"),
        ] {
            assert_eq!(crate::model::partition(region), part, "{region}");
            assert_eq!(
                super::pipeline("1", region, "j").arn,
                format!("arn:{part}:glue:{region}:1:job/j")
            );
        }
    }
}
