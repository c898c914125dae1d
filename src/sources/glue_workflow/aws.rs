//! AWS Glue: workflows and their runs (with their graphs).

use super::records::{
    Crawl, CrawlerNodeDetails, GlueWorkflowRun, JobNodeDetails, WorkflowGraph, WorkflowNode,
    WorkflowRunStatistics,
};
use crate::aws::{millis, next_token, AwsError, PageCutoff};
use crate::records::Millis;
use crate::sources::glue_job::aws::job_run;
use aws_sdk_glue::types::{Node, WorkflowRun};
use aws_sdk_glue::Client;

const SERVICE: &str = "glue";

/// Runs per `GetWorkflowRuns` page. Each run carries its graph (every node with its job runs
/// and crawls), so pages are kept small; paging stops at the cutoff anyway.
pub const RUNS_PER_PAGE: i32 = 25;

/// Every workflow name (`ListWorkflows`, 25 per page, the API's maximum).
pub async fn list_workflows(client: &Client, region: &str) -> Result<Vec<String>, AwsError> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let page = client
            .list_workflows()
            .max_results(25)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(SERVICE, "ListWorkflows", region, e))?;
        out.extend(page.workflows().iter().filter(|w| !w.is_empty()).cloned());
        token = next_token(page.next_token());
        if token.is_none() {
            return Ok(out);
        }
    }
}

/// Runs of a workflow started at or after `cutoff` (plus whatever older ones share their
/// pages), with their graphs.
pub async fn list_workflow_runs(
    client: &Client,
    region: &str,
    workflow: &str,
    cutoff: Millis,
) -> Result<Vec<GlueWorkflowRun>, AwsError> {
    let mut out = Vec::new();
    let mut token = None;
    let mut stop = PageCutoff::new();
    loop {
        let page = client
            .get_workflow_runs()
            .name(workflow)
            .include_graph(true)
            .max_results(RUNS_PER_PAGE)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(SERVICE, "GetWorkflowRuns", region, e))?;
        let runs: Vec<GlueWorkflowRun> = page.runs().iter().map(workflow_run).collect();
        stop.observe(runs.iter().filter_map(|r| r.started_on), cutoff);
        out.extend(runs);
        token = next_token(page.next_token());
        if token.is_none() || stop.can_stop() {
            return Ok(out);
        }
    }
}

/// One run by id, with its graph; `None` when Glue no longer knows it.
pub async fn get_workflow_run(
    client: &Client,
    region: &str,
    workflow: &str,
    run_id: &str,
) -> Result<Option<GlueWorkflowRun>, AwsError> {
    match client
        .get_workflow_run()
        .name(workflow)
        .run_id(run_id)
        .include_graph(true)
        .send()
        .await
    {
        Ok(r) => Ok(r.run().map(workflow_run)),
        Err(e) => {
            let e = AwsError::from_sdk(SERVICE, "GetWorkflowRun", region, e);
            if e.is_not_found() {
                Ok(None)
            } else {
                Err(e)
            }
        }
    }
}

/// Cheapest call that proves read access (`ListWorkflows`, one result).
pub async fn probe(client: &Client, region: &str) -> Result<(), AwsError> {
    client
        .list_workflows()
        .max_results(1)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| AwsError::from_sdk(SERVICE, "ListWorkflows", region, e))
}

fn workflow_run(r: &WorkflowRun) -> GlueWorkflowRun {
    GlueWorkflowRun {
        name: r.name().unwrap_or_default().to_string(),
        workflow_run_id: r.workflow_run_id().unwrap_or_default().to_string(),
        previous_run_id: r.previous_run_id().map(str::to_string),
        started_on: r.started_on().map(millis),
        completed_on: r.completed_on().map(millis),
        status: r
            .status()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        error_message: r.error_message().map(str::to_string),
        statistics: r.statistics().map(|s| WorkflowRunStatistics {
            total_actions: Some(s.total_actions()),
            timeout_actions: Some(s.timeout_actions()),
            failed_actions: Some(s.failed_actions()),
            stopped_actions: Some(s.stopped_actions()),
            succeeded_actions: Some(s.succeeded_actions()),
            running_actions: Some(s.running_actions()),
            errored_actions: Some(s.errored_actions()),
            waiting_actions: Some(s.waiting_actions()),
        }),
        graph: r.graph().map(|g| WorkflowGraph {
            nodes: g.nodes().iter().map(node).collect(),
        }),
    }
}

fn node(n: &Node) -> WorkflowNode {
    WorkflowNode {
        node_type: n
            .r#type()
            .map(|t| t.as_str().to_string())
            .unwrap_or_default(),
        name: n.name().unwrap_or_default().to_string(),
        unique_id: n.unique_id().unwrap_or_default().to_string(),
        job_details: n.job_details().map(|d| JobNodeDetails {
            job_runs: d.job_runs().iter().map(job_run).collect(),
        }),
        crawler_details: n.crawler_details().map(|d| CrawlerNodeDetails {
            crawls: d
                .crawls()
                .iter()
                .map(|c| Crawl {
                    state: c
                        .state()
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_default(),
                    started_on: c.started_on().map(millis),
                    completed_on: c.completed_on().map(millis),
                    error_message: c.error_message().map(str::to_string),
                    log_group: c.log_group().map(str::to_string),
                    log_stream: c.log_stream().map(str::to_string),
                })
                .collect(),
        }),
    }
}
