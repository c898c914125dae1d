//! Glue job records in their wire shape (`GetJobs`, `GetJobRuns`, PascalCase JSON).

use crate::records::Millis;
use serde::Deserialize;

/// A Glue job definition (`GetJobs`), the fields the bridge uses.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct GlueJob {
    pub name: String,
    pub worker_type: Option<String>,
    pub number_of_workers: Option<i32>,
    pub max_capacity: Option<f64>,
    pub glue_version: Option<String>,
    /// Minutes.
    pub timeout: Option<i32>,
    /// How many times Glue retries a run that fails (`FAILED`; not `TIMEOUT` or `ERROR`).
    pub max_retries: Option<i32>,
}

/// One Glue job run attempt (`GetJobRuns` / `GetJobRun`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct GlueJobRun {
    pub id: String,
    pub attempt: i32,
    pub previous_run_id: Option<String>,
    pub trigger_name: Option<String>,
    pub job_name: String,
    pub started_on: Option<Millis>,
    pub last_modified_on: Option<Millis>,
    pub completed_on: Option<Millis>,
    pub job_run_state: String,
    pub error_message: Option<String>,
    /// Seconds the run consumed resources.
    pub execution_time: Option<i32>,
    /// Minutes.
    pub timeout: Option<i32>,
    pub max_capacity: Option<f64>,
    pub worker_type: Option<String>,
    pub number_of_workers: Option<i32>,
    pub glue_version: Option<String>,
    #[serde(rename = "DPUSeconds")]
    pub dpu_seconds: Option<f64>,
    pub execution_class: Option<String>,
}

/// A job run as `GetJobRuns` / `GetJobRun` list it, with what the bridge reads from its
/// `Arguments`: the workflow run that started it, if any.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct JobRunRecord {
    #[serde(flatten)]
    pub run: GlueJobRun,
    #[serde(rename = "Arguments", default)]
    pub arguments: WorkflowArguments,
}

/// The arguments Glue adds to a job run that a workflow started (`--WORKFLOW_NAME`,
/// `--WORKFLOW_RUN_ID`, as a job script reads them with `getResolvedOptions`); every other
/// argument is left out.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct WorkflowArguments {
    #[serde(rename = "--WORKFLOW_NAME")]
    pub workflow_name: Option<String>,
    #[serde(rename = "--WORKFLOW_RUN_ID")]
    pub workflow_run_id: Option<String>,
}
