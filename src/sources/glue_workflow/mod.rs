//! Glue workflows: one trace per workflow run, a span per job run and per crawl of its graph.
//!
//! Calls per cycle: `ListWorkflows` every `discovery_interval` (25 per page); per workflow
//! `GetWorkflowRuns` with the graph (newest first, 25 per page, stops at the cutoff), and
//! `GetWorkflowRun` per awaited run the listing no longer returns. A finished run's graph comes
//! with the listing: no call per finished run.
//!
//! A job run that a workflow started is also its own trace (the Glue job source), counted in
//! the job's metrics; the workflow's metrics count workflow runs. The workflow's span of the
//! job run links (`started`) to that trace, whose root links back (`started_by`) to the
//! workflow run's trace.

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
use records::GlueWorkflowRun;

/// `glue-workflow`, `cloud.platform` `aws_glue`.
pub const KIND: PipelineKind = PipelineKind::new("glue-workflow", "aws_glue");

/// The attempt of every workflow run: Glue does not retry a workflow run (resuming one gives
/// a run of its own).
pub const ATTEMPT: u32 = 0;

/// Root span: the run's `Status` as Glue gives it (`COMPLETED`, `STOPPED`, `ERROR`).
pub const AWS_GLUE_WORKFLOW_RUN_STATUS: &str = "aws.glue.workflow.run.status";
/// Root span: the workflow's run before this one.
pub const AWS_GLUE_WORKFLOW_PREVIOUS_RUN_ID: &str = "aws.glue.workflow.previous_run_id";
/// Root span: the run's statistics (`TotalActions`, …).
pub const AWS_GLUE_WORKFLOW_ACTIONS_TOTAL: &str = "aws.glue.workflow.actions.total";
pub const AWS_GLUE_WORKFLOW_ACTIONS_SUCCEEDED: &str = "aws.glue.workflow.actions.succeeded";
pub const AWS_GLUE_WORKFLOW_ACTIONS_FAILED: &str = "aws.glue.workflow.actions.failed";
pub const AWS_GLUE_WORKFLOW_ACTIONS_STOPPED: &str = "aws.glue.workflow.actions.stopped";
pub const AWS_GLUE_WORKFLOW_ACTIONS_TIMEOUT: &str = "aws.glue.workflow.actions.timeout";
pub const AWS_GLUE_WORKFLOW_ACTIONS_ERRORED: &str = "aws.glue.workflow.actions.errored";
pub const AWS_GLUE_WORKFLOW_ACTIONS_RUNNING: &str = "aws.glue.workflow.actions.running";
pub const AWS_GLUE_WORKFLOW_ACTIONS_WAITING: &str = "aws.glue.workflow.actions.waiting";
/// Task span: the graph node's type (`JOB`, `CRAWLER`).
pub const AWS_GLUE_WORKFLOW_NODE_TYPE: &str = "aws.glue.workflow.node.type";
/// Crawl span: the crawl's state (`SUCCEEDED`, `FAILED`, `CANCELLED`, …).
pub const AWS_GLUE_CRAWL_STATE: &str = "aws.glue.crawl.state";

pub static SPEC: SourceSpec = SourceSpec {
    key: "glue_workflows",
    kind: KIND,
    component: "glue_workflow",
    watches: "Glue workflow runs",
    iam_actions: &[
        "glue:ListWorkflows",
        "glue:GetWorkflowRuns",
        "glue:GetWorkflowRun",
    ],
    tag_actions: &["glue:GetTags"],
    metrics: &[],
    connect: |c| Box::new(GlueWorkflows::connect(c)),
};

/// A Glue workflow; its ARN is derived, as Glue's APIs do not return it.
pub fn pipeline(account: &str, region: &str, name: &str) -> PipelineRef {
    PipelineRef::new(
        KIND,
        account,
        region,
        name,
        &format!(
            "arn:{}:glue:{region}:{account}:workflow/{name}",
            partition(region)
        ),
    )
}

/// The Glue workflows of one account and region.
pub struct GlueWorkflows {
    client: aws_sdk_glue::Client,
    account: String,
    region: String,
}

impl GlueWorkflows {
    pub fn connect(c: &Connection<'_>) -> Self {
        GlueWorkflows {
            client: aws_sdk_glue::Client::from_conf(
                aws_sdk_glue::config::Builder::from(c.sdk)
                    .interceptor(c.counter.clone())
                    .build(),
            ),
            account: c.account.to_string(),
            region: c.region.to_string(),
        }
    }
}

impl Source for GlueWorkflows {
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
            let names = aws::list_workflows(&self.client, &self.region).await?;
            Ok(names
                .iter()
                .map(|n| pipeline(&self.account, &self.region, n))
                .collect())
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
            let src = WorkflowRuns {
                client: &self.client,
                account: &self.account,
                region: &self.region,
                name: &pipeline.name,
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

/// The runs of one Glue workflow.
pub struct WorkflowRuns<'a> {
    pub client: &'a aws_sdk_glue::Client,
    pub account: &'a str,
    pub region: &'a str,
    pub name: &'a str,
}

impl RunSource for WorkflowRuns<'_> {
    type Record = GlueWorkflowRun;

    async fn list(&self, since: Millis) -> Result<Vec<GlueWorkflowRun>, AwsError> {
        aws::list_workflow_runs(self.client, self.region, self.name, since).await
    }
    async fn get(&self, run_id: &str) -> Result<Option<GlueWorkflowRun>, AwsError> {
        aws::get_workflow_run(self.client, self.region, self.name, run_id).await
    }
    fn id<'r>(&self, rec: &'r GlueWorkflowRun) -> &'r str {
        &rec.workflow_run_id
    }
    fn to_run(&self, rec: &GlueWorkflowRun) -> Option<PipelineRun> {
        convert::to_run(self.account, self.region, self.name, rec)
    }
    /// The graph came with the listing: nothing more to read.
    async fn details(&self, rec: &GlueWorkflowRun) -> Result<Option<PipelineRun>, AwsError> {
        Ok(self.to_run(rec))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn derived_arns_use_the_region_partition() {
        assert_eq!(
            super::pipeline("1", "cn-north-1", "w").arn,
            "arn:aws-cn:glue:cn-north-1:1:workflow/w"
        );
        assert_eq!(
            super::pipeline("1", "us-east-1", "w").arn,
            "arn:aws:glue:us-east-1:1:workflow/w"
        );
    }
}
