//! Glue workflow runs → [`PipelineRun`], with a task per job run and per crawl of its graph.
//!
//! Glue reports a workflow run whose actions failed as `COMPLETED`; its statistics (and its
//! graph) say how its actions ended, so the result is decided from them:
//!
//! | `Status` | actions | result | `error.type` |
//! |---|---|---|---|
//! | `COMPLETED` | any failed | failure | `ActionsFailed` |
//! | `COMPLETED` | none failed, any errored | error | `ActionsErrored` |
//! | `COMPLETED` | none failed or errored, any timed out | timeout | `ActionsTimedOut` |
//! | `COMPLETED` | only succeeded and stopped, some stopped | cancellation | — |
//! | `COMPLETED` | all succeeded | success | — |
//! | `STOPPED` | | cancellation | — |
//! | `ERROR` | | error | `ConcurrentRunsExceeded` (the one documented message), else `ERROR` |
//! | `RUNNING`, `STOPPING`, anything else | | in flight | |
//!
//! The failing action's own error type (an exception class) is on its task span and on the job
//! run's own trace; the workflow's `error.type` stays one of three values, so the workflow's
//! `cicd.pipeline.run.errors` has a bounded set of series.

use super::records::{Crawl, GlueWorkflowRun, WorkflowNode, WorkflowRunStatistics};
use super::{
    AWS_GLUE_CRAWL_STATE, AWS_GLUE_WORKFLOW_ACTIONS_ERRORED, AWS_GLUE_WORKFLOW_ACTIONS_FAILED,
    AWS_GLUE_WORKFLOW_ACTIONS_RUNNING, AWS_GLUE_WORKFLOW_ACTIONS_STOPPED,
    AWS_GLUE_WORKFLOW_ACTIONS_SUCCEEDED, AWS_GLUE_WORKFLOW_ACTIONS_TIMEOUT,
    AWS_GLUE_WORKFLOW_ACTIONS_TOTAL, AWS_GLUE_WORKFLOW_ACTIONS_WAITING,
    AWS_GLUE_WORKFLOW_NODE_TYPE, AWS_GLUE_WORKFLOW_PREVIOUS_RUN_ID, AWS_GLUE_WORKFLOW_RUN_STATUS,
};
use crate::convert::{console_host, error_type_from_message, urlencode};
use crate::model::{
    truncate_message, Attr, PipelineRun, RunError, RunLink, RunPhase, RunResult, RunStatus,
    TaskRun, MAX_MESSAGE_BYTES,
};
use crate::records::Millis;
use crate::semconv as sc;
use crate::sources::glue_job;
use std::collections::HashSet;

/// Where a workflow run stands from its `Status` alone (a `COMPLETED` run is then judged by
/// its actions, [`to_run`]). Unknown statuses count as in flight: re-read, never guessed.
pub fn status(s: &str) -> RunStatus {
    match s {
        "COMPLETED" => RunStatus::Ended(RunResult::Success),
        "STOPPED" => RunStatus::Ended(RunResult::Cancellation),
        "ERROR" => RunStatus::Ended(RunResult::Error),
        "STOPPING" => RunStatus::InFlight(RunPhase::Finalizing),
        _ => RunStatus::InFlight(RunPhase::Executing),
    }
}

/// Where a crawl stands. Unknown states count as in flight.
pub fn crawl_status(s: &str) -> RunStatus {
    match s {
        "SUCCEEDED" => RunStatus::Ended(RunResult::Success),
        "FAILED" => RunStatus::Ended(RunResult::Failure),
        "ERROR" => RunStatus::Ended(RunResult::Error),
        "CANCELLED" => RunStatus::Ended(RunResult::Cancellation),
        "CANCELLING" => RunStatus::InFlight(RunPhase::Finalizing),
        _ => RunStatus::InFlight(RunPhase::Executing),
    }
}

/// The workflow's page in the Glue console (its run history; Glue has no page per run).
pub fn console_url(region: &str, workflow: &str) -> String {
    format!(
        "https://{}/glue/home?region={region}#/v2/etl-configuration/workflows/view/{}",
        console_host(region),
        urlencode(workflow)
    )
}

/// How many actions ended badly, by kind.
#[derive(Debug, Default, Clone, Copy)]
struct Bad {
    failed: i64,
    errored: i64,
    timed_out: i64,
    stopped: i64,
}

/// Converts one workflow run. `workflow` names the pipeline when the record does not.
/// Returns `None` for a run without a start time, which cannot be placed in time.
pub fn to_run(
    account: &str,
    region: &str,
    workflow: &str,
    run: &GlueWorkflowRun,
) -> Option<PipelineRun> {
    let name = if run.name.is_empty() {
        workflow
    } else {
        run.name.as_str()
    };
    let start = run.started_on?;
    let mut status = status(&run.status);
    let (tasks, finals) = match status {
        RunStatus::Ended(_) => build_tasks(account, region, run, start),
        RunStatus::InFlight(_) => (Vec::new(), Vec::new()),
    };
    // No CompletedOn (or one before the start): the last action's end stands in.
    let end = match status {
        RunStatus::InFlight(_) => None,
        RunStatus::Ended(_) => Some(
            run.completed_on
                .filter(|c| *c >= start)
                .or_else(|| tasks.iter().map(|t| t.end).max())
                .unwrap_or(start)
                .max(start),
        ),
    };
    let mut error = None;
    match status {
        RunStatus::Ended(RunResult::Success) => {
            let bad = bad_actions(run.statistics.as_ref(), &finals);
            let (result, error_type, what) = if bad.failed > 0 {
                (RunResult::Failure, "ActionsFailed", "failed")
            } else if bad.errored > 0 {
                (RunResult::Error, "ActionsErrored", "errored")
            } else if bad.timed_out > 0 {
                (RunResult::Timeout, "ActionsTimedOut", "timed out")
            } else if bad.stopped > 0 {
                (RunResult::Cancellation, "", "")
            } else {
                (RunResult::Success, "", "")
            };
            status = RunStatus::Ended(result);
            if result.is_error() {
                error = Some(RunError {
                    error_type: error_type.to_string(),
                    message: truncate_message(
                        &summary(&bad, run, &tasks, finals.len(), what),
                        MAX_MESSAGE_BYTES,
                    ),
                });
            }
        }
        RunStatus::Ended(RunResult::Error) => {
            let msg = run.error_message.clone().unwrap_or_default();
            let error_type = error_type_from_message(&msg).unwrap_or_else(|| {
                if msg.starts_with("Concurrent runs exceeded") {
                    "ConcurrentRunsExceeded".to_string()
                } else {
                    "ERROR".to_string()
                }
            });
            error = Some(RunError {
                error_type,
                message: truncate_message(&msg, MAX_MESSAGE_BYTES),
            });
        }
        _ => {}
    }

    let mut attributes = vec![Attr::str(AWS_GLUE_WORKFLOW_RUN_STATUS, run.status.clone())];
    if let Some(prev) = run.previous_run_id.as_ref().filter(|p| !p.is_empty()) {
        attributes.push(Attr::str(AWS_GLUE_WORKFLOW_PREVIOUS_RUN_ID, prev.clone()));
    }
    if let Some(s) = &run.statistics {
        for (key, v) in [
            (AWS_GLUE_WORKFLOW_ACTIONS_TOTAL, s.total_actions),
            (AWS_GLUE_WORKFLOW_ACTIONS_SUCCEEDED, s.succeeded_actions),
            (AWS_GLUE_WORKFLOW_ACTIONS_FAILED, s.failed_actions),
            (AWS_GLUE_WORKFLOW_ACTIONS_STOPPED, s.stopped_actions),
            (AWS_GLUE_WORKFLOW_ACTIONS_TIMEOUT, s.timeout_actions),
            (AWS_GLUE_WORKFLOW_ACTIONS_ERRORED, s.errored_actions),
            (AWS_GLUE_WORKFLOW_ACTIONS_RUNNING, s.running_actions),
            (AWS_GLUE_WORKFLOW_ACTIONS_WAITING, s.waiting_actions),
        ] {
            attributes.extend(v.map(|v| Attr::int(key, i64::from(v))));
        }
    }

    Some(PipelineRun {
        queued_until: None,
        parent: None,
        links: Vec::new(),
        measures: Vec::new(),
        pipeline: super::pipeline(account, region, name),
        run_id: run.workflow_run_id.clone(),
        attempt: super::ATTEMPT,
        // A workflow's PreviousRunId is its run before this one, not an attempt it retries:
        // an attribute, not a `previous_attempt` link.
        previous_run_id: None,
        aws_state: run.status.clone(),
        status,
        start,
        end,
        error,
        will_retry: false,
        dpu_seconds: None,
        sla_secs: None,
        url: Some(console_url(region, name)),
        attributes,
        tasks,
    })
}

/// Failed, errored, timed-out and stopped actions: the statistics' counts, or, where the graph
/// shows more, the graph's (each action counted by its latest job run or crawl, so an attempt
/// that failed and was retried to success is no failed action).
fn bad_actions(stats: Option<&WorkflowRunStatistics>, finals: &[RunResult]) -> Bad {
    let count = |r: RunResult| finals.iter().filter(|f| **f == r).count() as i64;
    let s = stats.cloned().unwrap_or_default();
    let stat = |v: Option<i32>| i64::from(v.unwrap_or(0).max(0));
    Bad {
        failed: stat(s.failed_actions).max(count(RunResult::Failure)),
        errored: stat(s.errored_actions).max(count(RunResult::Error)),
        timed_out: stat(s.timeout_actions).max(count(RunResult::Timeout)),
        stopped: stat(s.stopped_actions).max(count(RunResult::Cancellation)),
    }
}

/// "1 of 3 actions failed; first: orders-etl: java.lang.OutOfMemoryError: …".
fn summary(
    bad: &Bad,
    run: &GlueWorkflowRun,
    tasks: &[TaskRun],
    actions: usize,
    what: &str,
) -> String {
    let n = match what {
        "failed" => bad.failed,
        "errored" => bad.errored,
        _ => bad.timed_out,
    };
    let total = run
        .statistics
        .as_ref()
        .and_then(|s| s.total_actions)
        .map(i64::from)
        .filter(|t| *t > 0)
        .unwrap_or(actions as i64)
        .max(n);
    let mut msg = format!("{n} of {total} actions {what}");
    // The earliest action that ended badly is the likeliest cause of the rest.
    if let Some(t) = tasks
        .iter()
        .filter(|t| t.result.is_error())
        .min_by_key(|t| (t.start, t.end))
    {
        msg.push_str(&format!("; first: {}", t.name));
        if let Some(e) = t.error.as_ref().filter(|e| !e.message.is_empty()) {
            msg.push_str(&format!(": {}", e.message));
        }
    }
    msg
}

/// One task per job run and per crawl in the graph, in start order, and the result of each
/// action (job or crawler node) that ran: that of its latest job run or crawl. Trigger nodes
/// are not steps. An action still in flight when the run ended is closed at the run's end as a
/// cancellation (its AWS state stays on it).
fn build_tasks(
    account: &str,
    region: &str,
    run: &GlueWorkflowRun,
    start: Millis,
) -> (Vec<TaskRun>, Vec<RunResult>) {
    let run_end = run.completed_on.filter(|c| *c >= start);
    let mut tasks = Vec::new();
    let mut finals = Vec::new();
    for node in run.graph.iter().flat_map(|g| g.nodes.iter()) {
        let node_tasks = match node.node_type.as_str() {
            "JOB" => job_tasks(account, region, node, run_end),
            "CRAWLER" => crawl_tasks(node, run_end),
            _ => continue,
        };
        finals.extend(
            node_tasks
                .iter()
                .max_by_key(|t| (t.start, t.end))
                .map(|t| t.result),
        );
        tasks.extend(node_tasks);
    }
    tasks.sort_by(|a, b| (a.start, &a.name, &a.run_id).cmp(&(b.start, &b.name, &b.run_id)));
    // Task run ids must be unique within the run (they make the span ids).
    let mut seen = HashSet::new();
    for t in &mut tasks {
        let base = t.run_id.clone();
        let mut n = 1;
        while !seen.insert(t.run_id.clone()) {
            n += 1;
            t.run_id = format!("{base}#{n}");
        }
    }
    (tasks, finals)
}

fn job_tasks(
    account: &str,
    region: &str,
    node: &WorkflowNode,
    run_end: Option<Millis>,
) -> Vec<TaskRun> {
    let mut out = Vec::new();
    for jr in node.job_details.iter().flat_map(|d| d.job_runs.iter()) {
        let mut jr = jr.clone();
        if jr.job_name.is_empty() {
            jr.job_name = node.name.clone();
        }
        // The job run as its own trace shows it; without any timestamp it cannot be placed.
        let Some(job) = glue_job::convert::to_run(account, region, None, &jr) else {
            continue;
        };
        let (result, end) = match (job.status, job.end) {
            (RunStatus::Ended(r), Some(end)) => (r, end),
            _ => (
                RunResult::Cancellation,
                run_end.unwrap_or(job.start).max(job.start),
            ),
        };
        let run_id = if jr.id.is_empty() {
            node.unique_id.clone()
        } else {
            jr.id.clone()
        };
        let mut attributes = vec![
            Attr::str(AWS_GLUE_WORKFLOW_NODE_TYPE, "JOB"),
            Attr::str(sc::AWS_GLUE_JOB_RUN_STATE, jr.job_run_state.clone()),
            Attr::int(sc::AWS_GLUE_ATTEMPT, i64::from(jr.attempt)),
        ];
        attributes.extend(
            job.dpu_seconds
                .map(|d| Attr::f64(sc::AWS_GLUE_DPU_SECONDS, d)),
        );
        let links = if jr.id.is_empty() {
            Vec::new()
        } else {
            vec![RunLink {
                pipeline: job.pipeline.clone(),
                run_id: jr.id.clone(),
                attempt: job.attempt,
                reason: "started",
            }]
        };
        out.push(TaskRun {
            name: job.pipeline.name.clone(),
            run_id,
            kind: "JOB".to_string(),
            start: job.start,
            end,
            result,
            error: if result.is_error() { job.error } else { None },
            attributes,
            links,
            children: Vec::new(),
        });
    }
    out
}

fn crawl_tasks(node: &WorkflowNode, run_end: Option<Millis>) -> Vec<TaskRun> {
    let mut out = Vec::new();
    for c in node.crawler_details.iter().flat_map(|d| d.crawls.iter()) {
        let Some(start) = c.started_on else { continue };
        out.push(crawl_task(node, c, start, run_end));
    }
    out
}

fn crawl_task(node: &WorkflowNode, c: &Crawl, start: Millis, run_end: Option<Millis>) -> TaskRun {
    let (result, end) = match crawl_status(&c.state) {
        RunStatus::Ended(r) => (r, c.completed_on.or(run_end).unwrap_or(start).max(start)),
        RunStatus::InFlight(_) => (RunResult::Cancellation, run_end.unwrap_or(start).max(start)),
    };
    let error = result.is_error().then(|| {
        let msg = c.error_message.clone().unwrap_or_default();
        RunError {
            error_type: error_type_from_message(&msg).unwrap_or_else(|| {
                if c.state.is_empty() {
                    "_OTHER".to_string()
                } else {
                    c.state.clone()
                }
            }),
            message: truncate_message(&msg, MAX_MESSAGE_BYTES),
        }
    });
    TaskRun {
        name: node.name.clone(),
        // Glue names no crawl id in a workflow's graph: the crawler and the crawl's start
        // identify it within the run.
        run_id: format!("{}@{}", node.name, start.0),
        kind: "CRAWLER".to_string(),
        start,
        end,
        result,
        error,
        attributes: vec![
            Attr::str(AWS_GLUE_WORKFLOW_NODE_TYPE, "CRAWLER"),
            Attr::str(AWS_GLUE_CRAWL_STATE, c.state.clone()),
        ],
        links: Vec::new(),
        children: Vec::new(),
    }
}
