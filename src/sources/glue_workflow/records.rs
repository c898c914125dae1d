//! Glue workflow run records in their wire shape (`GetWorkflowRuns` / `GetWorkflowRun` with
//! `IncludeGraph`, PascalCase JSON).

use crate::records::Millis;
use crate::sources::glue_job::records::GlueJobRun;
use serde::Deserialize;

/// One workflow run (`GetWorkflowRuns` / `GetWorkflowRun`), the fields the bridge uses.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct GlueWorkflowRun {
    /// The workflow's name.
    pub name: String,
    pub workflow_run_id: String,
    /// The workflow's run before this one (not a retry of it).
    pub previous_run_id: Option<String>,
    pub started_on: Option<Millis>,
    pub completed_on: Option<Millis>,
    /// `RUNNING`, `COMPLETED`, `STOPPING`, `STOPPED`, `ERROR`.
    pub status: String,
    /// Only set with `ERROR` ("Concurrent runs exceeded for workflow: …").
    pub error_message: Option<String>,
    pub statistics: Option<WorkflowRunStatistics>,
    pub graph: Option<WorkflowGraph>,
}

/// Counts of the run's actions (job runs and crawls) by state.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct WorkflowRunStatistics {
    pub total_actions: Option<i32>,
    pub timeout_actions: Option<i32>,
    pub failed_actions: Option<i32>,
    pub stopped_actions: Option<i32>,
    pub succeeded_actions: Option<i32>,
    pub running_actions: Option<i32>,
    pub errored_actions: Option<i32>,
    pub waiting_actions: Option<i32>,
}

/// The run's graph: its triggers, jobs and crawlers, with what ran.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct WorkflowGraph {
    pub nodes: Vec<WorkflowNode>,
}

/// One node of the graph: `JOB`, `CRAWLER` or `TRIGGER`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct WorkflowNode {
    #[serde(rename = "Type")]
    pub node_type: String,
    pub name: String,
    pub unique_id: String,
    pub job_details: Option<JobNodeDetails>,
    pub crawler_details: Option<CrawlerNodeDetails>,
}

/// The job runs of a `JOB` node in this workflow run (full `JobRun` records).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct JobNodeDetails {
    pub job_runs: Vec<GlueJobRun>,
}

/// The crawls of a `CRAWLER` node in this workflow run.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CrawlerNodeDetails {
    pub crawls: Vec<Crawl>,
}

/// One crawl. Glue gives no crawl id here (only `ListCrawls` does).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Crawl {
    /// `RUNNING`, `CANCELLING`, `CANCELLED`, `SUCCEEDED`, `FAILED`, `ERROR`.
    pub state: String,
    pub started_on: Option<Millis>,
    pub completed_on: Option<Millis>,
    pub error_message: Option<String>,
    pub log_group: Option<String>,
    pub log_stream: Option<String>,
}
