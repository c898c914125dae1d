//! AWS Step Functions: state machines, executions and execution histories.

use super::records::{HistoryEvent, SfnExecution, SfnStateMachine};
use crate::aws::{millis, next_token, AwsError, PageCutoff};
use crate::records::Millis;
use aws_sdk_sfn::types::HistoryEvent as SdkEvent;
use aws_sdk_sfn::Client;

const SERVICE: &str = "stepfunctions";

/// Every state machine (`ListStateMachines`, 1000 per page).
pub async fn list_state_machines(
    client: &Client,
    region: &str,
) -> Result<Vec<SfnStateMachine>, AwsError> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let page = client
            .list_state_machines()
            .max_results(1000)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(SERVICE, "ListStateMachines", region, e))?;
        out.extend(page.state_machines().iter().map(|m| SfnStateMachine {
            state_machine_arn: m.state_machine_arn().to_string(),
            name: m.name().to_string(),
            kind: m.r#type().as_str().to_string(),
        }));
        token = next_token(page.next_token());
        if token.is_none() {
            return Ok(out);
        }
    }
}

/// Executions started at or after `cutoff` (plus older ones sharing their pages).
pub async fn list_executions(
    client: &Client,
    region: &str,
    state_machine_arn: &str,
    cutoff: Millis,
) -> Result<Vec<SfnExecution>, AwsError> {
    let mut out = Vec::new();
    let mut token = None;
    let mut stop = PageCutoff::new();
    loop {
        let page = client
            .list_executions()
            .state_machine_arn(state_machine_arn)
            .max_results(1000)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(SERVICE, "ListExecutions", region, e))?;
        let execs: Vec<SfnExecution> = page
            .executions()
            .iter()
            .map(|e| SfnExecution {
                execution_arn: e.execution_arn().to_string(),
                state_machine_arn: e.state_machine_arn().to_string(),
                name: e.name().to_string(),
                status: e.status().as_str().to_string(),
                start_date: Some(millis(e.start_date())),
                stop_date: e.stop_date().map(millis),
                error: None,
                cause: None,
                redrive_count: e.redrive_count(),
            })
            .collect();
        stop.observe(execs.iter().filter_map(|e| e.start_date), cutoff);
        out.extend(execs);
        token = next_token(page.next_token());
        if token.is_none() || stop.can_stop() {
            return Ok(out);
        }
    }
}

/// One execution with its error and cause; `None` when it no longer exists.
pub async fn describe_execution(
    client: &Client,
    region: &str,
    execution_arn: &str,
) -> Result<Option<SfnExecution>, AwsError> {
    match client
        .describe_execution()
        .execution_arn(execution_arn)
        .send()
        .await
    {
        Ok(d) => Ok(Some(SfnExecution {
            execution_arn: d.execution_arn().to_string(),
            state_machine_arn: d.state_machine_arn().to_string(),
            name: d.name().unwrap_or_default().to_string(),
            status: d.status().as_str().to_string(),
            start_date: Some(millis(d.start_date())),
            stop_date: d.stop_date().map(millis),
            error: d.error().map(str::to_string),
            cause: d.cause().map(str::to_string),
            redrive_count: d.redrive_count(),
        })),
        Err(e) => {
            let e = AwsError::from_sdk(SERVICE, "DescribeExecution", region, e);
            if e.is_not_found() {
                Ok(None)
            } else {
                Err(e)
            }
        }
    }
}

/// The whole history of an execution, without input/output data (1000 events per page).
pub async fn get_execution_history(
    client: &Client,
    region: &str,
    execution_arn: &str,
) -> Result<Vec<HistoryEvent>, AwsError> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let page = client
            .get_execution_history()
            .execution_arn(execution_arn)
            .max_results(1000)
            .include_execution_data(false)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(SERVICE, "GetExecutionHistory", region, e))?;
        out.extend(page.events().iter().map(event));
        token = next_token(page.next_token());
        if token.is_none() {
            return Ok(out);
        }
    }
}

/// Cheapest call that proves read access (`ListStateMachines`, one result).
pub async fn probe(client: &Client, region: &str) -> Result<(), AwsError> {
    client
        .list_state_machines()
        .max_results(1)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| AwsError::from_sdk(SERVICE, "ListStateMachines", region, e))
}

fn event(e: &SdkEvent) -> HistoryEvent {
    let mut out = HistoryEvent {
        id: e.id(),
        previous_event_id: e.previous_event_id(),
        timestamp: millis(e.timestamp()),
        kind: e.r#type().as_str().to_string(),
        ..HistoryEvent::default()
    };
    let s = |v: &str| Some(v.to_string());
    let o = |v: Option<&str>| v.map(str::to_string);
    if let Some(d) = e.state_entered_event_details() {
        out.name = s(d.name());
    } else if let Some(d) = e.state_exited_event_details() {
        out.name = s(d.name());
    } else if let Some(d) = e
        .map_iteration_started_event_details()
        .or(e.map_iteration_succeeded_event_details())
        .or(e.map_iteration_failed_event_details())
        .or(e.map_iteration_aborted_event_details())
    {
        out.name = o(d.name());
        out.index = Some(i64::from(d.index()));
    } else if let Some(d) = e.task_scheduled_event_details() {
        (out.resource_type, out.resource) = (s(d.resource_type()), s(d.resource()));
    } else if let Some(d) = e.task_started_event_details() {
        (out.resource_type, out.resource) = (s(d.resource_type()), s(d.resource()));
    } else if let Some(d) = e.task_submitted_event_details() {
        (out.resource_type, out.resource) = (s(d.resource_type()), s(d.resource()));
    } else if let Some(d) = e.task_succeeded_event_details() {
        (out.resource_type, out.resource) = (s(d.resource_type()), s(d.resource()));
    } else if let Some(d) = e.task_failed_event_details() {
        (out.resource_type, out.resource) = (s(d.resource_type()), s(d.resource()));
        (out.error, out.cause) = (o(d.error()), o(d.cause()));
    } else if let Some(d) = e.task_timed_out_event_details() {
        (out.resource_type, out.resource) = (s(d.resource_type()), s(d.resource()));
        (out.error, out.cause) = (o(d.error()), o(d.cause()));
    } else if let Some(d) = e.task_start_failed_event_details() {
        (out.resource_type, out.resource) = (s(d.resource_type()), s(d.resource()));
        (out.error, out.cause) = (o(d.error()), o(d.cause()));
    } else if let Some(d) = e.task_submit_failed_event_details() {
        (out.resource_type, out.resource) = (s(d.resource_type()), s(d.resource()));
        (out.error, out.cause) = (o(d.error()), o(d.cause()));
    } else if let Some(d) = e.lambda_function_scheduled_event_details() {
        (out.resource_type, out.resource) = (s("lambda"), s(d.resource()));
    } else if let Some(d) = e.lambda_function_failed_event_details() {
        (out.error, out.cause) = (o(d.error()), o(d.cause()));
    } else if let Some(d) = e.lambda_function_timed_out_event_details() {
        (out.error, out.cause) = (o(d.error()), o(d.cause()));
    } else if let Some(d) = e.lambda_function_schedule_failed_event_details() {
        (out.error, out.cause) = (o(d.error()), o(d.cause()));
    } else if let Some(d) = e.lambda_function_start_failed_event_details() {
        (out.error, out.cause) = (o(d.error()), o(d.cause()));
    } else if let Some(d) = e.activity_scheduled_event_details() {
        (out.resource_type, out.resource) = (s("activity"), s(d.resource()));
    } else if let Some(d) = e.activity_failed_event_details() {
        (out.error, out.cause) = (o(d.error()), o(d.cause()));
    } else if let Some(d) = e.activity_timed_out_event_details() {
        (out.error, out.cause) = (o(d.error()), o(d.cause()));
    } else if let Some(d) = e.activity_schedule_failed_event_details() {
        (out.error, out.cause) = (o(d.error()), o(d.cause()));
    } else if let Some(d) = e.execution_failed_event_details() {
        (out.error, out.cause) = (o(d.error()), o(d.cause()));
    } else if let Some(d) = e.execution_timed_out_event_details() {
        (out.error, out.cause) = (o(d.error()), o(d.cause()));
    } else if let Some(d) = e.execution_aborted_event_details() {
        (out.error, out.cause) = (o(d.error()), o(d.cause()));
    } else if let Some(d) = e.map_run_failed_event_details() {
        (out.error, out.cause) = (o(d.error()), o(d.cause()));
    }
    out
}
