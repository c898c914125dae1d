//! Step Functions executions of standard state machines: one trace per execution attempt
//! (redrive), a span per state, Map iteration and task attempt.
//!
//! Calls per cycle: `ListStateMachines` every `discovery_interval`; per state machine
//! `ListExecutions` (newest first, stops at the cutoff); per execution that ended since the
//! last cycle `GetExecutionHistory` once (and `DescribeExecution` for a failure's cause);
//! `DescribeExecution` per awaited execution the listing no longer returns. Express state
//! machines keep no history to read and are not polled.

pub mod aws;
pub mod convert;
pub mod records;

use super::{scan, Connection, DetailsCache, PipelineScan, RunSource, Source, SourceSpec, Window};
use crate::aws::AwsError;
use crate::model::{PipelineKind, PipelineRef, PipelineRun};
use crate::records::Millis;
use crate::state::Checkpoint;
use futures::future::BoxFuture;
use futures::FutureExt;
use records::SfnExecution;

/// `sfn`, `cloud.platform` `aws_step_functions`.
pub const KIND: PipelineKind = PipelineKind::new("sfn", "aws_step_functions");

pub static SPEC: SourceSpec = SourceSpec {
    key: "step_functions",
    kind: KIND,
    component: "stepfunctions",
    watches: "Step Functions executions",
    iam_actions: &[
        "states:ListStateMachines",
        "states:ListExecutions",
        "states:DescribeExecution",
        "states:GetExecutionHistory",
        "glue:GetJobRun",
    ],
    tag_actions: &["states:ListTagsForResource"],
    metrics: &[],
    connect: |c| Box::new(StateMachines::connect(c)),
};

/// A state machine.
pub fn pipeline(account: &str, region: &str, name: &str, arn: &str) -> PipelineRef {
    PipelineRef::new(KIND, account, region, name, arn)
}

/// The standard state machines of one account and region.
pub struct StateMachines {
    client: aws_sdk_sfn::Client,
    glue: aws_sdk_glue::Client,
    account: String,
    region: String,
}

impl StateMachines {
    pub fn connect(c: &Connection<'_>) -> Self {
        StateMachines {
            client: aws_sdk_sfn::Client::from_conf(
                aws_sdk_sfn::config::Builder::from(c.sdk)
                    .interceptor(c.counter.clone())
                    .build(),
            ),
            glue: aws_sdk_glue::Client::from_conf(
                aws_sdk_glue::config::Builder::from(c.sdk)
                    .interceptor(c.counter.clone())
                    .build(),
            ),
            account: c.account.to_string(),
            region: c.region.to_string(),
        }
    }
}

impl Source for StateMachines {
    fn spec(&self) -> &'static SourceSpec {
        &SPEC
    }
    fn account(&self) -> &str {
        &self.account
    }
    fn region(&self) -> &str {
        &self.region
    }

    /// Standard state machines; express ones keep no history to poll.
    fn discover(&self) -> BoxFuture<'_, Result<Vec<PipelineRef>, AwsError>> {
        async move {
            let sms = aws::list_state_machines(&self.client, &self.region).await?;
            Ok(sms
                .iter()
                .filter(|m| m.kind != "EXPRESS")
                .map(|m| pipeline(&self.account, &self.region, &m.name, &m.state_machine_arn))
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
            let src = Executions {
                client: &self.client,
                glue: &self.glue,
                account: &self.account,
                region: &self.region,
                name: &pipeline.name,
                arn: &pipeline.arn,
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

/// Most Glue job runs read by id per execution (tasks that only started them); past it they
/// stay links to their own traces.
pub const MAX_GLUE_READS: usize = 50;

/// Most Map Runs read per execution, and most child executions read per Map Run (one
/// `ListExecutions` page); past them the Map is marked `aws.step_functions.map_run.truncated`.
pub const MAX_MAP_RUNS: usize = 10;
pub const MAX_MAP_RUN_EXECUTIONS: usize = 1000;

/// The executions of one state machine.
pub struct Executions<'a> {
    pub client: &'a aws_sdk_sfn::Client,
    /// For the Glue job runs tasks started.
    pub glue: &'a aws_sdk_glue::Client,
    pub account: &'a str,
    pub region: &'a str,
    pub name: &'a str,
    pub arn: &'a str,
}

impl RunSource for Executions<'_> {
    type Record = SfnExecution;

    async fn list(&self, since: Millis) -> Result<Vec<SfnExecution>, AwsError> {
        aws::list_executions(self.client, self.region, self.arn, since).await
    }
    async fn get(&self, run_id: &str) -> Result<Option<SfnExecution>, AwsError> {
        aws::describe_execution(self.client, self.region, run_id).await
    }
    fn id<'r>(&self, rec: &'r SfnExecution) -> &'r str {
        &rec.execution_arn
    }
    fn to_run(&self, rec: &SfnExecution) -> Option<PipelineRun> {
        convert::to_run(self.account, self.region, self.name, rec, &[])
    }
    /// Error and cause (not in ListExecutions) for a failed execution, and the history, once.
    async fn details(&self, rec: &SfnExecution) -> Result<Option<PipelineRun>, AwsError> {
        let failed = self
            .to_run(rec)
            .and_then(|r| r.result())
            .is_some_and(|r| r.is_error());
        let described;
        let detail = if rec.error.is_none() && failed {
            described =
                aws::describe_execution(self.client, self.region, &rec.execution_arn).await?;
            described.as_ref().unwrap_or(rec)
        } else {
            rec
        };
        let arn = &rec.execution_arn;
        let mut history = aws::get_execution_history(self.client, self.region, arn, false).await?;
        // A task started a Glue job run or an execution: read the history again with its data,
        // which names the run (job name, run id, a `.sync` task's whole JobRun).
        if history.iter().any(convert::starts_runs) {
            history = aws::get_execution_history(self.client, self.region, arn, true).await?;
        }
        let Some(mut run) = convert::to_run(self.account, self.region, self.name, detail, &history)
        else {
            return Ok(None);
        };
        // Glue job runs a task only started (not `.sync`): read each once; one that has ended
        // becomes a child span like a `.sync` one, the others stay links to their traces.
        let mut records = Vec::new();
        for (job, id) in convert::started_glue_runs(&run)
            .into_iter()
            .take(MAX_GLUE_READS)
        {
            match crate::sources::glue_job::aws::get_job_run(self.glue, self.region, &job, &id)
                .await
            {
                Ok(Some(r)) => records.push(r.run),
                Ok(None) => {}
                // The execution is exported without it rather than held back.
                Err(e) => tracing::warn!(
                    error = %crate::sanitize::Escaped(&e),
                    "cannot read a Glue job run a task started"
                ),
            }
        }
        convert::attach_glue_runs(&mut run, self.account, self.region, &records);
        // A Distributed Map's child executions (their states are not read).
        for arn in convert::map_runs(&run).into_iter().take(MAX_MAP_RUNS) {
            let (execs, more) = aws::list_map_run_executions(
                self.client,
                self.region,
                &arn,
                MAX_MAP_RUN_EXECUTIONS,
            )
            .await?;
            convert::attach_map_run(&mut run, &arn, &execs, more);
        }
        Ok(Some(run))
    }
}
